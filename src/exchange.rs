//! The sans-IO token exchange: one request out, one response in.

use crate::credentials::Config;
use crate::error::{Error, ErrorDetails, HttpError};
use crate::reader::{Limits, ResponseReader};
use crate::response::{TokenResponse, parse_response};

/// One token request/response over a caller-owned work buffer, with no I/O.
///
/// A driver writes [`Exchange::to_send`] to its transport, reports progress
/// with [`Exchange::sent`], then reads into [`Exchange::recv_buf`] and reports
/// with [`Exchange::received`] until it returns `true`, and calls
/// [`Exchange::finish`]. The [`blocking`](crate::blocking) driver is exactly
/// that loop; an async driver or a vendor stack runs the same one.
///
/// The request bytes (which hold the client's credentials) are zeroized as
/// soon as they have all been sent.
///
/// ```
/// use embedded_oauth2::{ClientAuth, ClientId, ClientSecret, Config, Limits, TokenEndpoint};
/// use embedded_oauth2::http::Exchange;
/// let config = Config::new(
///     TokenEndpoint::parse("https://as.example/token")?,
///     ClientId::new("dev")?,
///     ClientAuth::Basic(ClientSecret::<16>::new("pw")?),
/// );
/// let mut buf = [0u8; 1024];
/// let mut ex = Exchange::new(&config, &mut buf, Limits::new())?;
/// let n = ex.to_send().len();
/// ex.sent(n); // the transport took it all
/// let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"access_token\":\"abc\",\"token_type\":\"Bearer\",\"x\":1}";
/// let dst = ex.recv_buf()?;
/// dst[..reply.len()].copy_from_slice(reply);
/// assert!(ex.received(reply.len())?);
/// let token = ex.finish()?;
/// assert_eq!(token.access_token, "abc");
/// # Ok::<(), embedded_oauth2::Error>(())
/// ```
pub struct Exchange<'w> {
    wire: Wire<'w>,
    /// The request carried a DPoP proof: the token must be a DPoP one.
    dpop: bool,
}

impl<'w> Exchange<'w> {
    /// Encodes the request for `config` into `buf`.
    pub fn new<const N: usize>(
        config: &Config<'_, N>,
        buf: &'w mut [u8],
        limits: Limits,
    ) -> Result<Self, Error> {
        Self::with_draw(config, buf, limits, None, Default::default())
    }

    /// [`Exchange::new`] with the per-request values drawn beforehand.
    pub(crate) fn with_draw<const N: usize>(
        config: &Config<'_, N>,
        buf: &'w mut [u8],
        limits: Limits,
        draw: Option<crate::authn::Draw>,
        extras: crate::request::Extras<'_>,
    ) -> Result<Self, Error> {
        let request_len = match crate::request::encode_request_with(config, buf, draw, extras) {
            Ok(n) => n,
            Err(e) => {
                crate::bytes::wipe(buf);
                return Err(e);
            }
        };
        Ok(Self {
            wire: Wire::new(buf, request_len, limits),
            dpop: config.dpop_requested(),
        })
    }

    /// The request bytes not yet sent (empty once all are sent).
    pub fn to_send(&self) -> &[u8] {
        self.wire.to_send()
    }

    /// Reports that the transport accepted `n` more request bytes.
    pub fn sent(&mut self, n: usize) {
        self.wire.sent(n);
    }

    /// Where the next read of the response goes.
    ///
    /// An error page that does not fit is reported as the HTTP status it
    /// came with, not as a capacity problem of a token response.
    pub fn recv_buf(&mut self) -> Result<&mut [u8], Error> {
        self.wire.reader.spare_or_status(self.wire.buf)
    }

    /// Reports `n` bytes read into [`Exchange::recv_buf`] (`0`: the peer
    /// closed). `true` when the response is complete. A redirect is refused as
    /// soon as its head arrives.
    pub fn received(&mut self, n: usize) -> Result<bool, Error> {
        self.wire.reader.advance_no_redirect(self.wire.buf, n)
    }

    /// Parses the complete response. The token borrows the work buffer; the
    /// caller zeroizes it once the token is stored.
    pub fn finish(self) -> Result<TokenResponse<'w>, Error> {
        self.finish_inner(None)
    }

    /// As [`Exchange::finish`], keeping the free text of an error response
    /// (description, URI, `WWW-Authenticate`) in `details`.
    pub fn finish_with_details(
        self,
        details: &mut ErrorDetails,
    ) -> Result<TokenResponse<'w>, Error> {
        // The latest DPoP nonce stays until a response brings a newer one.
        #[cfg(feature = "dpop")]
        let nonce = details.dpop_nonce;
        *details = ErrorDetails::default();
        #[cfg(feature = "dpop")]
        {
            details.dpop_nonce = nonce;
        }
        self.finish_inner(Some(details))
    }

    /// Ends a revocation exchange (RFC 7009 §2.2): any 2xx is success
    /// (the body is not read); otherwise the error response, as
    /// [`Exchange::finish_with_details`] reads it.
    #[cfg(feature = "revocation")]
    pub fn finish_revocation(self, details: &mut ErrorDetails) -> Result<(), Error> {
        let ok = self.wire.reader.is_complete()
            && self
                .wire
                .reader
                .head()
                .is_some_and(|h| (200..300).contains(&h.status));
        if ok {
            return Ok(());
        }
        self.finish_with_details(details).map(drop)
    }

    fn finish_inner(
        mut self,
        details: Option<&mut ErrorDetails>,
    ) -> Result<TokenResponse<'w>, Error> {
        let buf = core::mem::take(&mut self.wire.buf);
        let head = self
            .wire
            .reader
            .head()
            .copied()
            .ok_or(HttpError::UnexpectedEof)?;
        if !self.wire.reader.is_complete() {
            return Err(HttpError::UnexpectedEof.into());
        }
        let range = self.wire.reader.body_range();
        let end = range.end.min(buf.len());
        let (front, work) = buf.split_at_mut(end);
        let offset = range.end;
        let body = front.get(range).unwrap_or_default();
        // Capacity is reported for the whole work buffer, not the part of it
        // left after the response.
        let mut details = details;
        // A nonce too long to keep is never kept (the next request goes
        // without one, and the server can ask again); it is reported once,
        // with the response that asked for it.
        #[cfg(feature = "dpop")]
        let mut unusable_nonce = None;
        if let Some(d) = details.as_deref_mut() {
            d.www_authenticate = head.www_authenticate;
            #[cfg(feature = "dpop")]
            if let Some(nonce) = head.dpop_nonce {
                match nonce.get() {
                    Ok(_) => {
                        d.dpop_nonce = Some(nonce);
                        d.dpop_nonce_new = true;
                    }
                    Err(len) => {
                        d.dpop_nonce = None;
                        unusable_nonce = Some(len);
                    }
                }
            }
        }
        let parsed =
            parse_response(head.status, body, work, details, self.dpop).map_err(|e| match e {
                Error::Capacity(mut c) => {
                    c.needed = c.needed.saturating_add(offset);
                    c.available = c.available.saturating_add(offset);
                    Error::Capacity(c)
                }
                // The server's Retry-After travels with its error.
                Error::Http(HttpError::UnexpectedStatus { status, .. }) => {
                    Error::Http(HttpError::UnexpectedStatus {
                        status,
                        retry_after: head.retry_after,
                    })
                }
                Error::OAuth(mut o) => {
                    o.retry_after = head.retry_after;
                    Error::OAuth(o)
                }
                other => other,
            });
        #[cfg(feature = "dpop")]
        let parsed = match (parsed, unusable_nonce) {
            (Err(Error::OAuth(o)), Some(len)) if o.code == crate::ErrorCode::UseDpopNonce => {
                Err(crate::auth::dpop::nonce_too_long(len))
            }
            (parsed, _) => parsed,
        };
        parsed
    }
}

/// What the drivers' one write-then-read loop needs of an exchange (the
/// token exchange, a discovery request): written once in `driver.rs`.
pub(crate) trait Pump {
    fn to_send(&self) -> &[u8];
    fn sent(&mut self, n: usize);
    fn recv_buf(&mut self) -> Result<&mut [u8], Error>;
    fn received(&mut self, n: usize) -> Result<bool, Error>;
}

impl Pump for Exchange<'_> {
    fn to_send(&self) -> &[u8] {
        Exchange::to_send(self)
    }
    fn sent(&mut self, n: usize) {
        Exchange::sent(self, n);
    }
    fn recv_buf(&mut self) -> Result<&mut [u8], Error> {
        Exchange::recv_buf(self)
    }
    fn received(&mut self, n: usize) -> Result<bool, Error> {
        Exchange::received(self, n)
    }
}

impl<P: Pump + ?Sized> Pump for &mut P {
    fn to_send(&self) -> &[u8] {
        P::to_send(self)
    }
    fn sent(&mut self, n: usize) {
        P::sent(self, n);
    }
    fn recv_buf(&mut self) -> Result<&mut [u8], Error> {
        P::recv_buf(self)
    }
    fn received(&mut self, n: usize) -> Result<bool, Error> {
        P::received(self, n)
    }
}

impl Drop for Exchange<'_> {
    /// An exchange abandoned before [`Exchange::finish`] (a write error, a
    /// timeout, a dropped future) wipes the work buffer: it holds the
    /// credentials or part of a token.
    fn drop(&mut self) {
        crate::bytes::wipe(self.wire.buf);
    }
}

/// What every sans-IO exchange (the token's, a discovery `GET`, a resource
/// request) keeps of its work buffer: the request written at its start and
/// how much of it the transport took, then the answer read into the same
/// buffer by `reader`. The request is wiped once all of it is sent; an
/// exchange dropped before calls [`Wire::wipe_unsent`] (or, as the token
/// exchange does, wipes the whole buffer).
pub(crate) struct Wire<'w> {
    pub(crate) buf: &'w mut [u8],
    request_len: usize,
    sent: usize,
    pub(crate) reader: ResponseReader,
}

impl<'w> Wire<'w> {
    /// A request of `request_len` bytes at the start of `buf`.
    pub(crate) fn new(buf: &'w mut [u8], request_len: usize, limits: Limits) -> Self {
        Self {
            buf,
            request_len,
            sent: 0,
            reader: ResponseReader::new(limits),
        }
    }

    /// The request bytes not yet sent (empty once all are).
    pub(crate) fn to_send(&self) -> &[u8] {
        self.buf
            .get(self.sent..self.request_len)
            .unwrap_or_default()
    }

    /// The transport took `n` more bytes; once it has them all, the request
    /// is wiped.
    pub(crate) fn sent(&mut self, n: usize) {
        self.sent = self.sent.saturating_add(n).min(self.request_len);
        if self.sent == self.request_len {
            self.wipe_request();
        }
    }

    /// `(sent, request_len)`, for `Debug`.
    pub(crate) fn progress(&self) -> (usize, usize) {
        (self.sent, self.request_len)
    }

    /// Wipes the request if the transport has not taken all of it (for an
    /// exchange dropped before: the request may hold a token).
    pub(crate) fn wipe_unsent(&mut self) {
        if self.sent < self.request_len {
            self.wipe_request();
        }
    }

    fn wipe_request(&mut self) {
        self.buf.get_mut(..self.request_len).map(crate::bytes::wipe);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_sent_in_parts_then_wiped() {
        let mut buf = *b"GET / HTTP/1.1\r\n\r\n........";
        let mut wire = Wire::new(&mut buf, 18, Limits::new());
        assert_eq!(wire.to_send(), b"GET / HTTP/1.1\r\n\r\n");
        wire.sent(4);
        assert_eq!(wire.to_send(), b"/ HTTP/1.1\r\n\r\n");
        assert_eq!(wire.progress(), (4, 18));
        // More than is left counts as what is left.
        wire.sent(100);
        assert_eq!(wire.to_send(), b"");
        assert_eq!(wire.progress(), (18, 18));
        assert_eq!(&wire.buf[..18], &[0u8; 18]);
        assert_eq!(&wire.buf[18..], b"........");
    }

    #[test]
    fn an_unsent_request_is_wiped_and_a_sent_one_leaves_the_answer() {
        let mut buf = *b"GET /r Authorization: Bearer t0k3n ..";
        let mut wire = Wire::new(&mut buf, 34, Limits::new());
        wire.sent(10);
        wire.wipe_unsent();
        assert_eq!(&buf[..34], &[0u8; 34]);
        assert_eq!(&buf[34..], b" ..");

        // Sent, then the answer read into the buffer's start: the wipe
        // leaves the answer alone.
        let mut buf = *b"GET /r Authorization: Bearer t0k3n ..";
        let mut wire = Wire::new(&mut buf, 34, Limits::new());
        wire.sent(34);
        wire.buf[..8].copy_from_slice(b"HTTP/1.1");
        wire.wipe_unsent();
        assert_eq!(&buf[..8], b"HTTP/1.1");
    }
}
