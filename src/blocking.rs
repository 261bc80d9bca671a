//! The blocking driver over [`embedded_io`] 0.7.
//!
//! A thin loop: all decisions are made by [`Exchange`] and [`Client`]. The
//! async driver is the same code (see `src/driver.rs`) with `.await`.
//!
//! ```no_run
//! use embedded_io_adapters::std::FromStd;
//! use embedded_oauth2::{Client, ClientAuth, ClientId, ClientSecret, Config, Instant, TokenEndpoint};
//! let config = Config::new(
//!     TokenEndpoint::parse_allow_http("http://127.0.0.1:8080/token")?,
//!     ClientId::new("device")?,
//!     ClientAuth::Basic(ClientSecret::<32>::new("secret")?),
//! );
//! let start = std::time::Instant::now();
//! let mut client: Client<_, 32, 1024, 64> =
//!     Client::new(config, move || Instant::from_millis(start.elapsed().as_millis() as u64));
//! let mut connect = |ep: &TokenEndpoint| -> Result<_, std::io::Error> {
//!     Ok(FromStd::new(std::net::TcpStream::connect((ep.host(), ep.port()))?))
//! };
//! let mut work = [0u8; 2048];
//! let token = client.token(&mut connect, &mut work)?;
//! # let _ = token;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// Opens a connection (TCP, TLS over TCP, …) to the token endpoint.
///
/// Implemented for closures `FnMut(&TokenEndpoint) -> Result<S, S::Error>`.
/// The connection may borrow from the connector (e.g. TLS record buffers).
///
/// ```no_run
/// use embedded_io_adapters::std::FromStd;
/// use embedded_oauth2::TokenEndpoint;
/// let mut connect = |ep: &TokenEndpoint| -> Result<_, std::io::Error> {
///     Ok(FromStd::new(std::net::TcpStream::connect((ep.host(), ep.port()))?))
/// };
/// # fn check<K: embedded_oauth2::blocking::Connect>(_: &mut K) {}
/// # check(&mut connect);
/// ```
pub trait Connect {
    /// The error of connecting and of the connection.
    type Error: embedded_io::Error;
    /// The connection.
    type Connection<'c>: Read + Write + ErrorType<Error = Self::Error>
    where
        Self: 'c;
    /// Connects to the endpoint's host and port (and verifies the server's
    /// certificate for `https`: that is the connector's job).
    fn connect(
        &mut self,
        endpoint: &TokenEndpoint<'_>,
    ) -> Result<Self::Connection<'_>, Self::Error>;

    /// Ends a connection once its exchange is done (e.g. sends TLS
    /// close_notify). The default drops it. The client calls it after
    /// every exchange, whatever its outcome, and ignores its error: the
    /// server may already have closed its side.
    fn close<'c>(connection: Self::Connection<'c>) -> Result<(), Self::Error>
    where
        Self: 'c,
    {
        drop(connection);
        Ok(())
    }

    /// Called once the connection is closed, with the connector free again:
    /// e.g. the TLS connector wipes its record buffers (they held the
    /// decrypted response, the token). The default does nothing.
    fn release(&mut self) {}
}

impl<F, S> Connect for F
where
    F: FnMut(&TokenEndpoint<'_>) -> Result<S, S::Error>,
    S: Read + Write,
{
    type Error = S::Error;
    type Connection<'c>
        = S
    where
        Self: 'c;
    fn connect(&mut self, endpoint: &TokenEndpoint<'_>) -> Result<S, S::Error> {
        self(endpoint)
    }
}

crate::driver::driver! {
    io: embedded_io,
    fn_kind: FnMut,
    names: { token: token_with, fetch: fetch_with, call: call_with, fetch_into: fetch_into, revoke: revoke_with },
    await: [],
    maybe_async: [],
    vis: pub(crate),
    presign: crate::client::Presign,
}

use crate::client::NoSigner;

mod resource {
    crate::resource::resource_driver! {
        connect: super::Connect,
        await: [],
        maybe_async: [],
    }
}
pub use resource::request;

#[cfg(feature = "discovery")]
mod discovery {
    crate::discovery::discovery_driver! {
        connect: super::Connect,
        await: [],
        maybe_async: [],
    }
}
#[cfg(feature = "discovery")]
#[cfg_attr(docsrs, doc(cfg(feature = "discovery")))]
pub use discovery::{discover, fetch_resource_metadata};

impl<
    C: Clock,
    const N: usize,
    const T: usize,
    const S: usize,
    R: crate::Random,
    W: crate::WallClock,
> Client<'_, C, N, T, S, R, W>
{
    /// The cached token while it is fresh; otherwise fetches a new
    /// one over a connection from `connector`, using `buf` as work
    /// space (request, response and parsing; see "Sizing the buffers"
    /// below).
    ///
    /// When the renewal of a still-valid token fails, the error is
    /// returned and the old token stays available through
    /// [`Client::cached`]; while the client then backs off, this
    /// returns the old token without touching the network. With no
    /// valid token and no attempt allowed yet it returns
    /// [`Error::Backoff`] (or, after a permanent failure, that
    /// failure again: see [`Client::reset_backoff`]). Whenever `buf`
    /// was used it is zeroized before this returns.
    ///
    /// # Sizing the buffers
    ///
    /// All memory is yours:
    ///
    /// | what | type / argument | size it to |
    /// | --- | --- | --- |
    /// | client secret | `ClientSecret<N>` | the secret's length (Keycloak 32, Auth0 64) |
    /// | access token | `Token<T, S>` / `Client<_, N, T, S>`: `T` | the longest token your server issues: opaque tokens 32–64 bytes, JWTs 800–2000 bytes |
    /// | granted scope | `S` | the scope string the server echoes (0 if you do not care: a longer one is then an error, so give some room) |
    /// | work buffer | `buf` | **response head + body + unescaped token + scope**; the request must also fit, but it is wiped before the response is read into the same buffer. `head + 2 × body` always suffices. |
    ///
    /// For a 1 KiB JWT in a Keycloak-style response (≈600-byte head,
    /// ≈1.6 KiB body) 4 KiB of work buffer is enough. Running out is
    /// never a panic or a cut token: it is [`Error::Capacity`], whose
    /// `needed` is the size that would have worked (a lower bound only
    /// when the server frames the body by closing the connection).
    /// The reader's limits ([`Limits`](crate::Limits)): head 4096 bytes,
    /// body 16384 bytes, 24 header fields, JSON nesting 8 levels.
    pub fn token<K: Connect>(
        &mut self,
        connector: &mut K,
        buf: &mut [u8],
    ) -> Result<&Token<T, S>, Error<K::Error>> {
        self.token_with(connector, buf, &NoSigner)
    }

    /// Fetches a new token now, whatever the cache holds and whatever
    /// the backoff says (an explicit request of the caller). The
    /// outcome still counts for the backoff. `buf` is zeroized
    /// before this returns.
    pub fn fetch<K: Connect>(
        &mut self,
        connector: &mut K,
        buf: &mut [u8],
    ) -> Result<&Token<T, S>, Error<K::Error>> {
        self.fetch_with(connector, buf, &NoSigner)
    }

    /// Uses the token at a resource server through `attempt`, which
    /// sends the request (e.g. with
    /// [`Token::write_authorization_header`]) and tells whether the
    /// token was refused ([`Attempt::rejects_token`]). `attempt` gets
    /// the connector too, so the service's connection can come from
    /// the same one (e.g. [`TlsConnector::open`](crate::tls::TlsConnector)
    /// with its record buffers) while the client is not using it.
    ///
    /// On a refusal the cached token is dropped, a new one fetched and
    /// the request retried **once**; a second refusal is
    /// [`CallError::Rejected`], never a loop, and refusals back off
    /// like failed fetches until a token is accepted again. When a
    /// due renewal fails but the cached token is still valid, the
    /// call goes ahead with the cached token.
    pub fn call<K: Connect, Rv, X>(
        &mut self,
        connector: &mut K,
        buf: &mut [u8],
        attempt: impl FnMut(&mut K, &Token<T, S>) -> Result<Attempt<Rv>, X>,
    ) -> Result<Rv, CallError<K::Error, X>> {
        self.call_with(connector, buf, &NoSigner, attempt)
    }

    /// Revokes the cached token (RFC 7009): sends it to the revocation
    /// endpoint ([`Config::with_revocation_endpoint`](crate::Config::with_revocation_endpoint))
    /// with the client's authentication and, when the server confirms
    /// (any 2xx), wipes it, so the next [`Client::token`] fetches a new
    /// one. With no token cached it does nothing. On an error the token
    /// is kept (call again, or [`Client::invalidate`] to drop it anyway).
    /// For a decommissioned or re-keyed device. `buf` is zeroized before
    /// this returns. Feature `revocation`.
    #[cfg(feature = "revocation")]
    pub fn revoke<K: Connect>(
        &mut self,
        connector: &mut K,
        buf: &mut [u8],
    ) -> Result<(), Error<K::Error>> {
        self.revoke_with(connector, buf)
    }
}
