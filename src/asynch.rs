//! The async driver over [`embedded_io_async`] 0.7 (embassy-net 0.9,
//! embedded-tls 0.19, reqwless 0.14 use it). Enabled by the `async` feature.
//!
//! It is the blocking driver's code with `.await` (both come from one macro
//! in `src/driver.rs`), so the two cannot drift apart. The methods carry an
//! `_async` suffix: [`Client::token_async`](crate::Client::token_async),
//! [`Client::fetch_async`](crate::Client::fetch_async),
//! [`Client::call_async`](crate::Client::call_async).
//!
//! ## Sharing one cache between tasks
//!
//! Put the [`Client`] behind an async mutex (e.g.
//! `embassy_sync::mutex::Mutex<NoopRawMutex, Client<..>>`) and hold the lock
//! across `token_async`: the first task to find the token due fetches; the
//! others wait on the lock and then get the fresh token from the cache, so
//! there are never two refreshes in flight. The crate itself depends on no
//! executor and no mutex implementation.
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
}

crate::driver::driver! {
    io: embedded_io_async,
    fn_kind: AsyncFnMut,
    names: { token: token_async, fetch: fetch_async, call: call_async, fetch_into: fetch_into_async },
    await: [.await],
    maybe_async: [async],
}
