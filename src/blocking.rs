//! The blocking driver over [`embedded_io`] 0.7.
//!
//! A thin loop: all decisions are made by [`Exchange`] and [`Client`].

use embedded_io::{Error as _, ErrorKind, ErrorType, Read, Write};

use crate::client::{Attempt, CallError, Client, Next, after_attempt, wipe};
use crate::credentials::TokenEndpoint;
use crate::error::Error;
use crate::exchange::Exchange;
use crate::response::TokenResponse;
use crate::time::Clock;
use crate::token::Token;

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

/// Runs one exchange over an open stream: writes the request, reads the
/// response, parses it. `Interrupted` is retried; other transport errors are
/// returned intact.
///
/// Note for `std` hosts: embedded-io 0.7 maps `std::io::ErrorKind::WouldBlock`
/// (what socket read/write timeouts produce on Unix) to `ErrorKind::Other`;
/// the original `std::io::Error` is still inside [`Error::Transport`].
pub fn run<'w, S: Read + Write>(
    stream: &mut S,
    mut ex: Exchange<'w>,
) -> Result<TokenResponse<'w>, Error<S::Error>> {
    while !ex.to_send().is_empty() {
        match stream.write(ex.to_send()) {
            Ok(0) => return Err(Error::WriteZero),
            Ok(n) => ex.sent(n),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Transport(e)),
        }
    }
    stream.flush().map_err(Error::Transport)?;
    loop {
        let dst = ex.recv_buf().map_err(Error::widen)?;
        let n = match stream.read(dst) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Transport(e)),
        };
        if ex.received(n).map_err(Error::widen)? {
            break;
        }
    }
    ex.finish().map_err(Error::widen)
}

impl<C: Clock, const N: usize, const T: usize, const S: usize> Client<'_, C, N, T, S> {
    /// The cached token while it is fresh; otherwise fetches a new one over a
    /// connection from `connector`, using `buf` as work space (request,
    /// response and parsing; see the README for sizing).
    ///
    /// When the renewal of a still-valid token fails, the error is returned
    /// and the old token stays available through [`Client::cached`].
    /// `buf` is zeroized before this returns.
    pub fn token<K: Connect>(
        &mut self,
        connector: &mut K,
        buf: &mut [u8],
    ) -> Result<&Token<T, S>, Error<K::Error>> {
        if !self.needs_fetch() {
            return Ok(self.current());
        }
        self.fetch(connector, buf)
    }

    /// Fetches a new token now, whatever the cache holds.
    pub fn fetch<K: Connect>(
        &mut self,
        connector: &mut K,
        buf: &mut [u8],
    ) -> Result<&Token<T, S>, Error<K::Error>> {
        let result = self.fetch_into(connector, buf);
        wipe(buf);
        result?;
        Ok(self.current())
    }

    /// Uses the token at a resource server through `attempt`, which sends the
    /// request (e.g. with [`Token::write_authorization_header`]) and tells
    /// whether the token was refused ([`Attempt::rejects_token`]). On a
    /// refusal the cached token is invalidated, a new one fetched and the
    /// request retried **once**; a second refusal is [`CallError::Rejected`],
    /// never a loop.
    ///
    /// ```no_run
    /// # use embedded_oauth2::{Attempt, CallError, Client, Token};
    /// # fn demo<C: embedded_oauth2::Clock, K: embedded_oauth2::blocking::Connect>(
    /// #     client: &mut Client<'_, C>, connector: &mut K, work: &mut [u8],
    /// #     get: impl Fn(&Token) -> Result<(u16, Vec<u8>), std::io::Error>,
    /// # ) -> Result<Vec<u8>, CallError<K::Error, std::io::Error>> {
    /// let receipt = client.call(connector, work, |token| {
    ///     let (status, body) = get(token)?; // GET /receipts/42 with Authorization: Bearer …
    ///     Ok(if Attempt::<()>::rejects_token(status) { Attempt::TokenRejected } else { Attempt::Done(body) })
    /// })?;
    /// # Ok(receipt) }
    /// ```
    pub fn call<K: Connect, R, X>(
        &mut self,
        connector: &mut K,
        buf: &mut [u8],
        mut attempt: impl FnMut(&Token<T, S>) -> Result<Attempt<R>, X>,
    ) -> Result<R, CallError<K::Error, X>> {
        let mut retried = false;
        loop {
            let token = if retried {
                self.fetch(connector, buf)
            } else {
                self.token(connector, buf)
            }
            .map_err(CallError::Token)?;
            match after_attempt(attempt(token).map_err(CallError::Resource)?, retried) {
                Next::Return(r) => return Ok(r),
                Next::GiveUp => return Err(CallError::Rejected),
                Next::RenewAndRetry => {
                    self.invalidate();
                    retried = true;
                }
            }
        }
    }

    fn fetch_into<K: Connect>(
        &mut self,
        connector: &mut K,
        buf: &mut [u8],
    ) -> Result<(), Error<K::Error>> {
        let (ex, started) = self.begin(buf).map_err(Error::widen)?;
        let mut conn = connector
            .connect(self.config().endpoint())
            .map_err(Error::Transport)?;
        let resp = run(&mut conn, ex)?;
        self.complete(&resp, started).map_err(Error::widen)?;
        Ok(())
    }
}
