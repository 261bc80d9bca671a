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
    names: { token: token, fetch: fetch, call: call, fetch_into: fetch_into },
    await: [],
    maybe_async: [],
    vis: pub,
}
