//! Requests to the services the token is for (resource servers): the
//! request written with the token, the answer read with the crate's
//! HTTP/1.1 reader, and classified for [`Client::call`](crate::Client::call)
//! ([`ResourceResponse::attempt`]). The drivers run it:
//! [`blocking::request`](crate::blocking::request) and
//! [`asynch::request`](crate::asynch::request) (which write, **flush**, read
//! and close); firmware with its own HTTP client uses
//! [`ResourceExchange`] or only [`encode_resource_request`].
//!
//! ```
//! use embedded_oauth2::http::{ResourceRequest, ResourceUrl, encode_resource_request};
//! use embedded_oauth2::Token;
//!
//! let url = ResourceUrl::parse("https://receipts.example/v1/receipts/2026-0042?format=pdf")?;
//! # let token: Token<64, 0> = Token::default();
//! let mut buf = [0u8; 512];
//! let n = encode_resource_request(&ResourceRequest::get(&url), &token, &mut buf)?;
//! assert!(buf[..n].starts_with(b"GET /v1/receipts/2026-0042?format=pdf HTTP/1.1\r\nHost: receipts.example\r\n"));
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

use core::fmt;
use core::ops::Range;

use crate::client::Attempt;
use crate::credentials::TokenEndpoint;
use crate::encode::{Out, Sink};
use crate::error::{Buffer, ConfigError, Error, HttpError};
use crate::exchange::Wire;
use crate::reader::{Limits, ResponseHead};
use crate::response::TokenType;
use crate::token::{BearerHeader, Token};

/// A resource server's URL: `https://host[:port]/path[?query]` (or
/// `http://` with [`ResourceUrl::parse_allow_http`], for loopback tests),
/// parsed as strictly as the token endpoint's.
///
/// ```
/// use embedded_oauth2::http::ResourceUrl;
/// let url = ResourceUrl::parse("https://api.example:8443/v1/items?x=1")?;
/// assert_eq!((url.host(), url.port(), url.path()), ("api.example", 8443, "/v1/items?x=1"));
/// assert!(ResourceUrl::parse("http://api.example/").is_err());
/// # Ok::<(), embedded_oauth2::error::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ResourceUrl<'a>(TokenEndpoint<'a>);

impl<'a> ResourceUrl<'a> {
    /// Parses an `https://` URL.
    pub fn parse(url: &'a str) -> Result<Self, ConfigError> {
        TokenEndpoint::parse(url).map(Self)
    }

    /// Parses an `https://` or `http://` URL. Use plain HTTP only on
    /// loopback or in tests.
    pub fn parse_allow_http(url: &'a str) -> Result<Self, ConfigError> {
        TokenEndpoint::parse_allow_http(url).map(Self)
    }

    /// The URL as given.
    pub fn url(&self) -> &'a str {
        self.0.url()
    }

    /// The host (without brackets for IPv6).
    pub fn host(&self) -> &'a str {
        self.0.host()
    }

    /// The port (443 / 80 when not given).
    pub fn port(&self) -> u16 {
        self.0.port()
    }

    /// The request target: path and query (`/` when empty).
    pub fn path(&self) -> &'a str {
        self.0.path()
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.0.is_https()
    }

    /// Where a connector connects (the connectors take endpoints).
    pub fn endpoint(&self) -> &TokenEndpoint<'a> {
        &self.0
    }
}

/// The request method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
}

impl Method {
    /// The method's token, e.g. `"GET"`.
    ///
    /// ```
    /// assert_eq!(embedded_oauth2::http::Method::Patch.as_str(), "PATCH");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

/// One request to a resource server: method, URL, an optional body and,
/// for a DPoP-bound token, the request's proof (RFC 9449 §7). The token is
/// given when it is written ([`encode_resource_request`]).
///
/// ```
/// use embedded_oauth2::http::{Method, ResourceRequest, ResourceUrl};
/// let url = ResourceUrl::parse("https://telemetry.example/v1/readings")?;
/// let req = ResourceRequest::new(Method::Post, &url)
///     .with_body("application/json", br#"{"t":21.5}"#)?;
/// assert_eq!(req.method(), Method::Post);
/// # Ok::<(), embedded_oauth2::error::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ResourceRequest<'a> {
    method: Method,
    url: &'a ResourceUrl<'a>,
    body: Option<(&'a str, &'a [u8])>,
    dpop_proof: Option<&'a str>,
}

impl<'a> ResourceRequest<'a> {
    /// `method` of `url`, without a body.
    pub fn new(method: Method, url: &'a ResourceUrl<'a>) -> Self {
        Self {
            method,
            url,
            body: None,
            dpop_proof: None,
        }
    }

    /// `GET url`.
    pub fn get(url: &'a ResourceUrl<'a>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A body of `content_type` (visible ASCII and spaces, e.g.
    /// `application/json`), sent with its `Content-Length`.
    pub fn with_body(mut self, content_type: &'a str, body: &'a [u8]) -> Result<Self, ConfigError> {
        if content_type.is_empty()
            || !content_type
                .bytes()
                .all(|b| b == b' ' || b.is_ascii_graphic())
        {
            return Err(ConfigError::InvalidHeaderValue);
        }
        self.body = Some((content_type, body));
        Ok(self)
    }

    /// The `DPoP` header's proof for this request (made for its method and
    /// URL and the token, e.g. with `Dpop::write_resource_proof`); a
    /// base64url JWS.
    pub fn with_dpop_proof(mut self, proof: &'a str) -> Result<Self, ConfigError> {
        if proof.is_empty()
            || !proof
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(ConfigError::InvalidHeaderValue);
        }
        self.dpop_proof = Some(proof);
        Ok(self)
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The URL.
    pub fn url(&self) -> &'a ResourceUrl<'a> {
        self.url
    }
}

/// What a resource request's `Authorization` header carries: a [`Token`]
/// (`Bearer <token>`, or `DPoP <token>` for a DPoP-bound one), or a whole
/// header value handed over from the task that owns the client (a
/// [`BearerHeader`], or text such as `"Bearer eyJ…"`: visible ASCII and
/// spaces, checked when the request is written). Its `Debug` shows no
/// secret.
///
/// ```
/// use embedded_oauth2::http::Authorization;
/// let value = "Bearer eyJhbGciOi";
/// let auth = Authorization::from(value);
/// assert_eq!(format!("{auth:?}"), "Authorization(<redacted>)");
/// ```
#[derive(Clone, Copy)]
pub enum Authorization<'a> {
    /// The token, with its type's scheme.
    Token {
        /// `Bearer` or `DPoP`.
        token_type: TokenType,
        /// The access token.
        token: &'a str,
    },
    /// A whole header value.
    Value(&'a str),
}

impl fmt::Debug for Authorization<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authorization(<redacted>)")
    }
}

impl<'a, const T: usize, const S: usize> From<&'a Token<T, S>> for Authorization<'a> {
    fn from(token: &'a Token<T, S>) -> Self {
        Self::Token {
            token_type: token.token_type(),
            token: token.expose_secret(),
        }
    }
}

impl<'a, const N: usize> From<&'a BearerHeader<N>> for Authorization<'a> {
    fn from(header: &'a BearerHeader<N>) -> Self {
        Self::Value(header.as_str())
    }
}

impl<'a> From<&'a str> for Authorization<'a> {
    fn from(value: &'a str) -> Self {
        Self::Value(value)
    }
}

impl Authorization<'_> {
    fn write(&self, s: &mut Sink<'_>) -> Result<(), ConfigError> {
        match *self {
            Self::Token { token_type, token } => {
                s.put(match token_type {
                    TokenType::Dpop => b"DPoP ",
                    TokenType::Bearer => b"Bearer ",
                });
                s.put_str(token);
            }
            Self::Value(v) => {
                if v.is_empty() || !v.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
                    return Err(ConfigError::InvalidHeaderValue);
                }
                s.put_str(v);
            }
        }
        Ok(())
    }
}

/// Writes `request` with `authorization` in its `Authorization` header (a
/// [`Token`], `&Token` converts) into `buf`; its length. The request holds
/// the token: wipe `buf` once it is sent ([`ResourceExchange`] does). The
/// request asks the server to close the connection after its answer.
pub fn encode_resource_request<'t>(
    request: &ResourceRequest<'_>,
    authorization: impl Into<Authorization<'t>>,
    buf: &mut [u8],
) -> Result<usize, Error> {
    let authorization = authorization.into();
    let mut s = Sink::new(buf);
    s.put_str(request.method.as_str());
    s.put(b" ");
    s.put_str(request.url.path());
    s.put(b" HTTP/1.1\r\nHost: ");
    request.url.endpoint().write_host(&mut s);
    s.put(b"\r\nAuthorization: ");
    authorization.write(&mut s)?;
    if let Some(proof) = request.dpop_proof {
        s.put(b"\r\nDPoP: ");
        s.put_str(proof);
    }
    if let Some((content_type, body)) = request.body {
        s.put(b"\r\nContent-Type: ");
        s.put_str(content_type);
        s.put(b"\r\nContent-Length: ");
        s.put_decimal(u64::try_from(body.len()).unwrap_or(u64::MAX));
    } else if matches!(request.method, Method::Post | Method::Put | Method::Patch) {
        s.put(b"\r\nContent-Length: 0");
    }
    s.put(b"\r\nAccept: */*\r\nUser-Agent: ");
    s.put_str(crate::request::USER_AGENT);
    s.put(b"\r\nConnection: close\r\n\r\n");
    if let Some((_, body)) = request.body {
        s.put(body);
    }
    Ok(s.finish(Buffer::Request)?)
}

/// A resource server's answer: its status, head and where its body is in
/// the buffer the exchange used.
///
/// A status other than 2xx counts whatever happens to the page that came
/// with it: when the page does not fit, or the connection breaks inside
/// it, the answer is its status with the part of the body that arrived
/// ([`ResourceResponse::is_truncated`]), so a 401 stays a 401 (and renews
/// the token) behind a 100 KB error page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceResponse {
    /// The status code.
    pub status: u16,
    head: ResponseHead,
    body: Range<usize>,
    truncated: bool,
}

impl ResourceResponse {
    /// The body, in the buffer the exchange used.
    pub fn body<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        buf.get(self.body.clone()).unwrap_or_default()
    }

    /// Where the body is in that buffer.
    pub fn body_range(&self) -> Range<usize> {
        self.body.clone()
    }

    /// The head (`WWW-Authenticate`, `Retry-After`, `DPoP-Nonce`).
    pub fn head(&self) -> &ResponseHead {
        &self.head
    }

    /// Whether the body was cut short (an error page longer than the
    /// buffer; never a 2xx, whose body must fit).
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// The answer as [`Client::call`](crate::Client::call) wants it: a 401
    /// asking for the service's DPoP nonce is
    /// [`Attempt::UseDpopNonce`], another 401
    /// [`Attempt::TokenRejected`], anything else [`Attempt::Done`].
    ///
    /// ```
    /// use embedded_oauth2::Attempt;
    /// use embedded_oauth2::http::ResourceResponse;
    /// # fn check(r: ResourceResponse) {
    /// match r.attempt() {
    ///     Attempt::Done(answer) => { /* any status but 401 */ }
    ///     _ => { /* the client renews the token (or sends the nonce) and retries once */ }
    /// }
    /// # }
    /// ```
    pub fn attempt(self) -> Attempt<Self> {
        #[cfg(feature = "dpop")]
        if crate::auth::dpop::asks_for_nonce(
            self.status,
            self.head
                .www_authenticate
                .as_ref()
                .map_or(&[][..], |t| t.as_str().as_bytes()),
        ) {
            return Attempt::UseDpopNonce;
        }
        if Attempt::<()>::rejects_token(self.status) {
            Attempt::TokenRejected
        } else {
            Attempt::Done(self)
        }
    }
}

/// One request to a resource server over a connection you run (sans-IO):
/// send [`ResourceExchange::to_send`], then read into
/// [`ResourceExchange::recv_buf`] until [`ResourceExchange::received`] says
/// the answer is complete, then [`ResourceExchange::finish`]; when reading
/// fails, [`ResourceExchange::cut_short`]. The request
/// (it holds the token) is wiped from the buffer once sent, or when the
/// exchange is dropped unsent; the answer then fills the buffer from its
/// start.
pub struct ResourceExchange<'w> {
    wire: Wire<'w>,
    truncated: bool,
}

impl<'w> ResourceExchange<'w> {
    /// Writes the request into `buf`; the answer is read into the same
    /// buffer, within `limits`.
    pub fn new<'t>(
        request: &ResourceRequest<'_>,
        authorization: impl Into<Authorization<'t>>,
        buf: &'w mut [u8],
        limits: Limits,
    ) -> Result<Self, Error> {
        let request_len = match encode_resource_request(request, authorization, buf) {
            Ok(n) => n,
            Err(e) => {
                crate::bytes::wipe(buf);
                return Err(e);
            }
        };
        Ok(Self {
            wire: Wire::new(buf, request_len, limits),
            truncated: false,
        })
    }

    /// The request bytes not yet sent.
    pub fn to_send(&self) -> &[u8] {
        self.wire.to_send()
    }

    /// Reports that the transport accepted `n` more request bytes; once
    /// all are, the request is wiped.
    pub fn sent(&mut self, n: usize) {
        self.wire.sent(n);
    }

    /// Where the next read of the answer goes (a full buffer is
    /// [`Error::Capacity`]: for an answer other than 2xx, see
    /// [`ResourceExchange::cut_short`]).
    pub fn recv_buf(&mut self) -> Result<&mut [u8], Error> {
        self.wire.reader.spare(self.wire.buf)
    }

    /// Reports `n` bytes read into [`ResourceExchange::recv_buf`] (`0`: the
    /// peer closed); `true` when the answer is complete.
    pub fn received(&mut self, n: usize) -> Result<bool, Error> {
        self.wire.reader.advance(self.wire.buf, n)
    }

    /// After reading failed (any error: the buffer or the reader's limit
    /// too small for the page, the connection reset or closed inside it, a
    /// bad chunk): the answer anyway when its head said a status other
    /// than 2xx. That status is the answer — a 401 stays a 401 (and renews
    /// the token) behind a 100 KB error page or a broken one — with the
    /// part of the page that arrived ([`ResourceResponse::is_truncated`]).
    /// `None` before the head, and for a 2xx (whose body the caller wants
    /// whole).
    pub fn cut_short(&mut self) -> Option<ResourceResponse> {
        let status = self.wire.reader.head()?.status;
        if (200..300).contains(&status) {
            return None;
        }
        self.truncated = true;
        self.finish().ok()
    }

    /// The answer: complete, or an error status whose page did not fit.
    pub fn finish(&self) -> Result<ResourceResponse, Error> {
        let reader = &self.wire.reader;
        let head = *reader.head().ok_or(HttpError::UnexpectedEof)?;
        if !self.truncated && !reader.is_complete() {
            return Err(HttpError::UnexpectedEof.into());
        }
        let body = if reader.is_complete() {
            reader.body_range()
        } else {
            reader.partial_body_range()
        };
        let end = body.end.min(self.wire.buf.len());
        Ok(ResourceResponse {
            status: head.status,
            head,
            body: body.start.min(end)..end,
            truncated: self.truncated,
        })
    }
}

impl Drop for ResourceExchange<'_> {
    /// A request abandoned before it was all sent still holds the token.
    fn drop(&mut self) {
        self.wire.wipe_unsent();
    }
}

impl fmt::Debug for ResourceExchange<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceExchange")
            .field("request_len", &self.wire.progress().1)
            .field("sent", &self.wire.progress().0)
            .field("head", &self.wire.reader.head())
            .finish_non_exhaustive()
    }
}

impl crate::exchange::Pump for ResourceExchange<'_> {
    fn to_send(&self) -> &[u8] {
        ResourceExchange::to_send(self)
    }
    fn sent(&mut self, n: usize) {
        ResourceExchange::sent(self, n);
    }
    fn recv_buf(&mut self) -> Result<&mut [u8], Error> {
        ResourceExchange::recv_buf(self)
    }
    fn received(&mut self, n: usize) -> Result<bool, Error> {
        ResourceExchange::received(self, n)
    }
}

/// The drivers' `request`, written once (blocking and async).
macro_rules! resource_driver {
    (
        connect: $connect:path,
        await: [$($await:tt)*],
        maybe_async: [$($async:ident)?],
    ) => {
        use crate::error::Error;
        use crate::reader::Limits;
        use crate::resource::{Authorization, ResourceExchange, ResourceRequest, ResourceResponse};

        /// Sends `request` to its resource server with `authorization` (a
        /// `&Token`, or a header value handed over from the token's owner:
        /// [`Authorization`]) and reads the answer into `buf` (the request
        /// first: it must fit too):
        /// connects through `connector` (verifying the server, for the TLS
        /// connector), writes the request, **flushes** it, reads the whole
        /// answer with the crate's HTTP/1.1 reader (any framing), closes the
        /// connection and releases the connector. The answer's body is in
        /// `buf` ([`ResourceResponse::body`]); an error status counts
        /// whatever the size of its page. Inside [`Client::call`](crate::Client::call):
        /// `.map(ResourceResponse::attempt)`.
        pub $($async)? fn request<'t, K: $connect>(
            connector: &mut K,
            request: &ResourceRequest<'_>,
            authorization: impl Into<Authorization<'t>>,
            buf: &mut [u8],
        ) -> Result<ResourceResponse, Error<K::Error>> {
            let mut ex = ResourceExchange::new(request, authorization, buf, Limits::new())
                .map_err(Error::widen)?;
            let r = super::exchange_once(connector, request.url().endpoint(), &mut ex) $($await)*;
            match r {
                Ok(()) => ex.finish().map_err(Error::widen),
                // An error status counts whatever happened to its page.
                Err(e) => ex.cut_short().ok_or(e),
            }
        }
    };
}

pub(crate) use resource_driver;
