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
    buf: &'w mut [u8],
    request_len: usize,
    sent: usize,
    reader: ResponseReader,
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
            buf,
            request_len,
            sent: 0,
            reader: ResponseReader::new(limits),
            dpop: config.dpop_requested(),
        })
    }

    /// The request bytes not yet sent (empty once all are sent).
    pub fn to_send(&self) -> &[u8] {
        self.buf
            .get(self.sent..self.request_len)
            .unwrap_or_default()
    }

    /// Reports that the transport accepted `n` more request bytes.
    pub fn sent(&mut self, n: usize) {
        self.sent = self.sent.saturating_add(n).min(self.request_len);
        if self.sent == self.request_len {
            self.buf.get_mut(..self.request_len).map(crate::bytes::wipe);
        }
    }

    /// Where the next read of the response goes.
    ///
    /// An error page that does not fit is reported as the HTTP status it
    /// came with, not as a capacity problem of a token response.
    pub fn recv_buf(&mut self) -> Result<&mut [u8], Error> {
        self.reader.spare_or_status(self.buf)
    }

    /// Reports `n` bytes read into [`Exchange::recv_buf`] (`0`: the peer
    /// closed). `true` when the response is complete. A redirect is refused as
    /// soon as its head arrives.
    pub fn received(&mut self, n: usize) -> Result<bool, Error> {
        self.reader.advance_no_redirect(self.buf, n)
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
        let ok = self.reader.is_complete()
            && self
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
        let buf = core::mem::take(&mut self.buf);
        let head = self
            .reader
            .head()
            .copied()
            .ok_or(HttpError::UnexpectedEof)?;
        if !self.reader.is_complete() {
            return Err(HttpError::UnexpectedEof.into());
        }
        let range = self.reader.body_range();
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
        crate::bytes::wipe(self.buf);
    }
}
