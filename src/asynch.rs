//! The async driver over [`embedded_io_async`] 0.7 (embassy-net 0.9,
//! embedded-tls 0.19, reqwless 0.14 use it). Enabled by the `async` feature.
//!
//! It is the blocking driver's code with `.await` (both come from one macro
//! in `src/driver.rs`), so the two cannot drift apart. The methods have the
//! blocking ones' names on the client's async side, [`Asynch`]:
//! `client.asynch().token(&mut connector, &mut buf).await`, and likewise
//! `fetch` and `call`.
//!
//! ## One token task
//!
//! Several tasks need the token; one of them owns the `Client`:
//!
//! * the **token task** calls `client.asynch().token(..)`, publishes
//!   `token.bearer::<N>()` (a `BearerHeader`: the
//!   `Authorization` value with its expiry, wiped when dropped) in an
//!   `embassy_sync::blocking_mutex::Mutex<_, RefCell<Option<BearerHeader<N>>>>`,
//!   and sleeps until the renewal is due (or `Error::Backoff(t)` says how
//!   long to wait);
//! * every **other task** copies the snapshot inside `lock(|s| ..)` —
//!   never across an await — checks `is_valid(now)`, uses it and drops
//!   (wipes) its copy. It never waits for a TLS handshake: while the token
//!   task renews, the still-valid token is what it reads.
//!
//! Only the token task fetches, so two refreshes never run at once. A task
//! whose request is refused (401) tells the token task (an
//! `embassy_sync::signal::Signal`), which calls `client.invalidate()`.
//! `examples/async_shared_cache.rs` runs the pattern; `tests/token_task.rs`
//! shows a reader served while a slow renewal is in flight. (Holding an
//! async mutex across `token()` instead makes every task wait for the
//! handshake of a renewal it does not need.)
//!
//! The crate itself depends on no executor and no mutex implementation.
//!
//! ```
//! # use embedded_oauth2::{asynch::Connect, TokenEndpoint};
//! // Any embedded-io-async stream works; here a type that implements the trait.
//! struct Tcp; // e.g. wraps embassy_net::tcp::TcpSocket
//! # impl embedded_io_async::ErrorType for Tcp { type Error = core::convert::Infallible; }
//! # impl embedded_io_async::Read for Tcp { async fn read(&mut self, _: &mut [u8]) -> Result<usize, Self::Error> { Ok(0) } }
//! # impl embedded_io_async::Write for Tcp {
//! #     async fn write(&mut self, b: &[u8]) -> Result<usize, Self::Error> { Ok(b.len()) }
//! #     async fn flush(&mut self) -> Result<(), Self::Error> { Ok(()) }
//! # }
//! struct Connector;
//! impl Connect for Connector {
//!     type Error = core::convert::Infallible;
//!     type Connection<'c> = Tcp;
//!     async fn connect(&mut self, _ep: &TokenEndpoint<'_>) -> Result<Tcp, Self::Error> {
//!         Ok(Tcp) // resolve, connect, TLS handshake...
//!     }
//! }
//! ```

/// Opens a connection to the token endpoint, asynchronously.
///
/// The connection may borrow from the connector (socket or TLS buffers).
#[allow(async_fn_in_trait)]
pub trait Connect {
    /// The error of connecting and of the connection.
    type Error: embedded_io_async::Error;
    /// The connection.
    type Connection<'c>: Read + Write + ErrorType<Error = Self::Error>
    where
        Self: 'c;
    /// Connects to the endpoint's host and port (and verifies the server's
    /// certificate for `https`: that is the connector's job).
    async fn connect(
        &mut self,
        endpoint: &TokenEndpoint<'_>,
    ) -> Result<Self::Connection<'_>, Self::Error>;

    /// Ends a connection once its exchange is done (e.g. sends TLS
    /// close_notify). The default drops it. The client calls it after
    /// every exchange, whatever its outcome, and ignores its error: the
    /// server may already have closed its side.
    async fn close<'c>(connection: Self::Connection<'c>) -> Result<(), Self::Error>
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

crate::driver::driver! {
    io: embedded_io_async,
    fn_kind: AsyncFnMut,
    names: { token: token_async, fetch: fetch_async, call: call_async, fetch_into: fetch_into_async, revoke: revoke_async },
    await: [.await],
    maybe_async: [async],
    vis: pub(crate),
    presign: crate::asynch::PresignAsync,
}

pub use crate::client::NoSigner;

mod resource {
    crate::resource::resource_driver! {
        connect: super::Connect,
        await: [.await],
        maybe_async: [async],
    }
}
pub use resource::request;

#[cfg(feature = "discovery")]
mod discovery {
    crate::discovery::discovery_driver! {
        connect: super::Connect,
        await: [.await],
        maybe_async: [async],
    }
}
#[cfg(feature = "discovery")]
#[cfg_attr(docsrs, doc(cfg(feature = "discovery")))]
pub use discovery::{discover, fetch_resource_metadata};

/// An assertion signer the async driver awaits.
#[cfg_attr(not(feature = "private-key-jwt"), allow(dead_code))]
pub(crate) trait PresignAsync {
    fn wanted(&self) -> bool;
    async fn sign(&self, input: &[u8]) -> Result<[u8; 64], ()>;
    /// Whether it signs the DPoP proofs of the token requests.
    #[cfg_attr(not(feature = "dpop"), allow(dead_code))]
    fn wanted_dpop(&self) -> bool {
        false
    }
    #[cfg_attr(not(feature = "dpop"), allow(dead_code))]
    async fn sign_dpop(&self, _: &[u8]) -> Result<[u8; 64], ()> {
        Err(())
    }
}

/// An assertion signer (or none) and an async DPoP signer: what
/// [`Asynch::dpop_signed_by`] gives the driver.
#[cfg(feature = "dpop")]
pub struct WithDpop<'d, G, D>(G, &'d D);

#[cfg(feature = "dpop")]
impl<G: PresignAsync, D: crate::auth::jwt::Es256SignerAsync> PresignAsync for WithDpop<'_, G, D> {
    fn wanted(&self) -> bool {
        self.0.wanted()
    }
    async fn sign(&self, input: &[u8]) -> Result<[u8; 64], ()> {
        self.0.sign(input).await
    }
    fn wanted_dpop(&self) -> bool {
        true
    }
    async fn sign_dpop(&self, input: &[u8]) -> Result<[u8; 64], ()> {
        self.1.sign(input).await.map_err(drop)
    }
}

impl<'c, T, G> Asynch<'c, T, G> {
    /// Signs the DPoP proofs of the token requests with an async signer (a
    /// secure element on an async bus; feature `dpop`): the executor runs
    /// other tasks while it signs. Its key is the configuration's
    /// [`DpopKey`](crate::dpop::DpopKey) (made with
    /// [`DpopKey::from_public`](crate::dpop::DpopKey::from_public) when
    /// only the async signer holds it). Combines with
    /// [`Asynch::signed_by`] for the assertion.
    #[cfg(feature = "dpop")]
    pub fn dpop_signed_by<'d, D: crate::auth::jwt::Es256SignerAsync>(
        self,
        signer: &'d D,
    ) -> Asynch<'c, T, WithDpop<'d, G, D>> {
        Asynch(self.0, WithDpop(self.1, signer))
    }
}

impl PresignAsync for crate::client::NoSigner {
    fn wanted(&self) -> bool {
        false
    }
    async fn sign(&self, _: &[u8]) -> Result<[u8; 64], ()> {
        Err(())
    }
}

/// A secure element's async ES256 signer, for `private_key_jwt`.
#[cfg(feature = "private-key-jwt")]
pub struct Signer<'s, S>(&'s S);

#[cfg(feature = "private-key-jwt")]
impl<S: crate::auth::jwt::Es256SignerAsync> PresignAsync for Signer<'_, S> {
    fn wanted(&self) -> bool {
        true
    }
    async fn sign(&self, input: &[u8]) -> Result<[u8; 64], ()> {
        self.0.sign(input).await.map_err(drop)
    }
}

/// The async side of a value: [`Client::asynch`](crate::Client::asynch)
/// (and, with feature `tls`, `TlsConnector::asynch`) hands it out; its
/// methods have the blocking ones' names (`token`, `fetch`, `call`,
/// `open`) and take it by value, so `client.asynch().token(..).await`
/// returns a token that borrows the client.
pub struct Asynch<'c, T, G = crate::client::NoSigner>(pub(crate) &'c mut T, pub(crate) G);

impl<'a, C, const N: usize, const T: usize, const S: usize, R, W>
    crate::Client<'a, C, N, T, S, R, W>
{
    /// The async driver of this client (feature `async`): the same
    /// decisions as [`Client::token`](crate::Client::token) and friends,
    /// over an async [`Connect`].
    pub fn asynch(&mut self) -> Asynch<'_, Self> {
        Asynch(self, crate::client::NoSigner)
    }
}

#[cfg(feature = "private-key-jwt")]
impl<'c, 'a, C, const N: usize, const T: usize, const S: usize, R, W>
    Asynch<'c, crate::Client<'a, C, N, T, S, R, W>>
{
    /// Signs `private_key_jwt` assertions with `signer`, awaited: a secure
    /// element on an async bus signs while the executor runs other tasks
    /// (the configuration's `Assertion` needs no signer then).
    ///
    /// ```no_run
    /// # use embedded_oauth2::assertion::{Es256SignerAsync, SignError};
    /// # struct Se;
    /// # impl Es256SignerAsync for Se {
    /// #     async fn sign(&self, _: &[u8]) -> Result<[u8; 64], SignError> { Ok([0; 64]) }
    /// # }
    /// # async fn f(
    /// #     client: &mut embedded_oauth2::Client<'_, fn() -> embedded_oauth2::Instant>,
    /// #     tls: &mut impl embedded_oauth2::asynch::Connect,
    /// #     se: &Se,
    /// # ) {
    /// let mut work = [0u8; 2048];
    /// let token = client.asynch().signed_by(se).token(tls, &mut work).await;
    /// # }
    /// ```
    pub fn signed_by<'s, G: crate::auth::jwt::Es256SignerAsync>(
        self,
        signer: &'s G,
    ) -> Asynch<'c, crate::Client<'a, C, N, T, S, R, W>, Signer<'s, G>> {
        Asynch(self.0, Signer(signer))
    }
}

#[allow(private_bounds)]
impl<'c, 'a, C, const N: usize, const T: usize, const S: usize, R, W, G>
    Asynch<'c, crate::Client<'a, C, N, T, S, R, W>, G>
where
    C: crate::Clock,
    R: crate::Random,
    W: crate::WallClock,
    G: PresignAsync,
{
    /// [`Client::token`](crate::Client::token), asynchronously.
    pub async fn token<K: Connect>(
        self,
        connector: &mut K,
        buf: &mut [u8],
    ) -> Result<&'c crate::Token<T, S>, crate::Error<K::Error>> {
        self.0.token_async(connector, buf, &self.1).await
    }

    /// [`Client::fetch`](crate::Client::fetch), asynchronously.
    pub async fn fetch<K: Connect>(
        self,
        connector: &mut K,
        buf: &mut [u8],
    ) -> Result<&'c crate::Token<T, S>, crate::Error<K::Error>> {
        self.0.fetch_async(connector, buf, &self.1).await
    }

    /// [`Client::call`](crate::Client::call), asynchronously: `attempt` is
    /// an async closure, written `async |connector, token| { … }` (a
    /// closure returning `async move { … }` does not satisfy
    /// `AsyncFnMut` for every borrow and fails to compile with "AsyncFnMut
    /// is not general enough").
    ///
    /// ```
    /// # #[cfg(feature = "async")] {
    /// use embedded_oauth2::asynch::request;
    /// use embedded_oauth2::http::{ResourceRequest, ResourceResponse, ResourceUrl};
    /// # use embedded_oauth2::{Client, ClientAuth, ClientId, ClientSecret, Config, Instant, TokenEndpoint};
    /// # async fn demo<K: embedded_oauth2::asynch::Connect>(tls: &mut K) -> Result<(), embedded_oauth2::CallError<K::Error, embedded_oauth2::Error<K::Error>>> {
    /// # let config = Config::new(TokenEndpoint::parse("https://as.example/token").unwrap(),
    /// #     ClientId::new("c").unwrap(), ClientAuth::Basic(ClientSecret::<64>::new("s").unwrap()));
    /// # let mut client: Client<_> = Client::new(config, || Instant::from_secs(0));
    /// let url = ResourceUrl::parse("https://receipts.example/v1/receipts/42").unwrap();
    /// let (mut work, mut body) = ([0u8; 2048], [0u8; 2048]);
    /// let answer = client
    ///     .asynch()
    ///     .call(tls, &mut work, async |tls, token| {
    ///         request(tls, &ResourceRequest::get(&url), token, &mut body)
    ///             .await
    ///             .map(ResourceResponse::attempt)
    ///     })
    ///     .await?;
    /// let receipt = answer.body(&body); // the status: `answer.status`
    /// # let _ = receipt;
    /// # Ok(())
    /// # }
    /// # }
    /// ```
    pub async fn call<K: Connect, Rv, X>(
        self,
        connector: &mut K,
        buf: &mut [u8],
        attempt: impl AsyncFnMut(&mut K, &crate::Token<T, S>) -> Result<crate::Attempt<Rv>, X>,
    ) -> Result<Rv, crate::CallError<K::Error, X>> {
        self.0.call_async(connector, buf, &self.1, attempt).await
    }

    /// [`Client::revoke`](crate::Client::revoke), asynchronously.
    #[cfg(feature = "revocation")]
    pub async fn revoke<K: Connect>(
        self,
        connector: &mut K,
        buf: &mut [u8],
    ) -> Result<(), crate::Error<K::Error>> {
        self.0.revoke_async(connector, buf).await
    }
}
