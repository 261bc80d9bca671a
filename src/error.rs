//! The crate's one error type and its per-layer parts.

use core::fmt;

use core::time::Duration;

pub use crate::text::Text;

/// Everything that can go wrong while obtaining a token.
///
/// Generic over the transport's error `E`, which is kept intact in
/// [`Error::Transport`]. The sans-IO core uses `Error<Infallible>` (the
/// default); [`Error::widen`] turns it into any `Error<E>`.
///
/// ```
/// use embedded_oauth2::{Error, ErrorCode};
/// # fn fetch() -> Result<(), Error<std::io::Error>> { Ok(()) }
/// match fetch() {
///     Ok(()) => {}
///     Err(Error::OAuth(e)) if e.code == ErrorCode::InvalidClient => { /* re-provision */ }
///     Err(Error::Transport(io)) => { let _kind = io.kind(); /* retry later */ }
///     Err(other) => { let _ = other; }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error<E = core::convert::Infallible> {
    /// The transport (connector, TCP, TLS) failed; its own error is kept.
    Transport(E),
    /// The transport accepted zero bytes of the request.
    WriteZero,
    /// A configuration value was refused (at construction).
    Config(ConfigError),
    /// A caller-sized buffer or capacity was too small.
    Capacity(CapacityError),
    /// The HTTP response was malformed, too large, or not usable.
    Http(HttpError),
    /// The response body was not an acceptable token response.
    Response(ResponseError),
    /// The authorization server refused the request
    /// ([RFC 6749 §5.2](https://www.rfc-editor.org/rfc/rfc6749#section-5.2)).
    OAuth(OAuthError),
    /// A signed client assertion needs the wall-clock time, and the
    /// [`WallClock`](crate::WallClock) does not know it yet.
    NoWallClock,
    /// The [`Es256Signer`](crate::assertion::Es256Signer) failed.
    Sign,
    /// No attempt was made: after earlier failures the client waits until
    /// this instant of its clock (exponential backoff, `Retry-After`). See
    /// [`Client::next_attempt`](crate::Client::next_attempt).
    Backoff(crate::time::Instant),
    /// No attempt was made, and nothing failed: the last fetch was too
    /// recent ([`RefreshPolicy::min_interval`](crate::RefreshPolicy::min_interval),
    /// which a token that expires on arrival meets), and the client has no
    /// valid token to hand out until [`Wait::until`].
    HeldBack(Wait),
    /// The exchange (request and response, after the connection was opened)
    /// ran past the client's fetch deadline
    /// ([`Client::with_fetch_timeout`](crate::Client::with_fetch_timeout)):
    /// a server that sends a byte now and then cannot hold the device.
    Timeout,
    /// A metadata document may not be used (feature `discovery`).
    #[cfg(feature = "discovery")]
    Discovery(DiscoveryError),
}

/// A metadata document that parsed as JSON but may not be used (feature
/// `discovery`; also [`discovery::DiscoveryError`](crate::discovery::DiscoveryError)).
#[cfg(feature = "discovery")]
#[cfg_attr(docsrs, doc(cfg(feature = "discovery")))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The document has no `issuer`.
    MissingIssuer,
    /// The document's `issuer` is not exactly the issuer it was fetched for
    /// (RFC 8414 §3.3): a mix-up or an impostor; nothing of it is used.
    IssuerMismatch,
    /// The document has no `token_endpoint`.
    MissingTokenEndpoint,
    /// An endpoint URL in the document (or the authorization server a
    /// resource names) is not usable: not `https://` while plain HTTP was
    /// not allowed ([`ConfigError::InsecureScheme`]), or not a URL this
    /// crate can connect to.
    Endpoint(ConfigError),
    /// The protected resource metadata has no `resource`.
    MissingResource,
    /// The protected resource metadata's `resource` is not exactly the URL
    /// the client called (RFC 9728 §3.3); nothing of it is used.
    ResourceMismatch,
}

#[cfg(feature = "discovery")]
impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingIssuer => f.write_str("the metadata has no issuer"),
            Self::IssuerMismatch => {
                f.write_str("the metadata's issuer is not the issuer it was fetched for")
            }
            Self::MissingTokenEndpoint => f.write_str("the metadata has no token_endpoint"),
            Self::Endpoint(e) => write!(f, "an endpoint in the metadata is not usable: {e}"),
            Self::MissingResource => f.write_str("the resource metadata has no resource"),
            Self::ResourceMismatch => {
                f.write_str("the resource metadata's resource is not the URL that was called")
            }
        }
    }
}

#[cfg(feature = "discovery")]
impl core::error::Error for DiscoveryError {}

#[cfg(feature = "discovery")]
impl<E> From<DiscoveryError> for Error<E> {
    fn from(e: DiscoveryError) -> Self {
        Error::Discovery(e)
    }
}

impl Error {
    /// Converts a transport-free error into an error of any transport type.
    pub fn widen<E>(self) -> Error<E> {
        match self {
            Error::Transport(never) => match never {},
            Error::WriteZero => Error::WriteZero,
            Error::Config(e) => Error::Config(e),
            Error::Capacity(e) => Error::Capacity(e),
            Error::Http(e) => Error::Http(e),
            Error::Response(e) => Error::Response(e),
            Error::OAuth(e) => Error::OAuth(e),
            Error::NoWallClock => Error::NoWallClock,
            Error::Sign => Error::Sign,
            Error::Backoff(t) => Error::Backoff(t),
            Error::HeldBack(w) => Error::HeldBack(w),
            Error::Timeout => Error::Timeout,
            #[cfg(feature = "discovery")]
            Error::Discovery(e) => Error::Discovery(e),
        }
    }
}

impl<E> Error<E> {
    /// The same error without the transport's (which is not kept).
    pub(crate) fn without_transport(&self) -> Option<Error> {
        Some(match self {
            Error::Transport(_) => return None,
            Error::WriteZero => Error::WriteZero,
            Error::Config(e) => Error::Config(*e),
            Error::Capacity(e) => Error::Capacity(*e),
            Error::Http(e) => Error::Http(*e),
            Error::Response(e) => Error::Response(*e),
            Error::OAuth(e) => Error::OAuth(*e),
            Error::NoWallClock => Error::NoWallClock,
            Error::Sign => Error::Sign,
            Error::Backoff(t) => Error::Backoff(*t),
            Error::HeldBack(w) => Error::HeldBack(*w),
            Error::Timeout => Error::Timeout,
            #[cfg(feature = "discovery")]
            Error::Discovery(e) => Error::Discovery(*e),
        })
    }

    /// The OAuth error response, when the server sent one.
    pub fn oauth(&self) -> Option<&OAuthError> {
        match self {
            Error::OAuth(e) => Some(e),
            _ => None,
        }
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Transport(e) => write!(f, "transport error: {e}"),
            Error::WriteZero => f.write_str("transport accepted no bytes of the request"),
            Error::Config(e) => write!(f, "invalid configuration: {e}"),
            Error::Capacity(e) => e.fmt(f),
            Error::Http(e) => write!(f, "HTTP: {e}"),
            Error::Response(e) => write!(f, "token response: {e}"),
            Error::OAuth(e) => e.fmt(f),
            Error::NoWallClock => {
                f.write_str("the wall-clock time is not known yet; a client assertion needs it")
            }
            Error::Sign => f.write_str("signing the client assertion failed"),
            Error::Backoff(t) => write!(
                f,
                "backing off after failures: next attempt at {} ms on the client's clock",
                t.as_millis()
            ),
            Error::HeldBack(w) => write!(
                f,
                "no valid token, and the last fetch was too recent (min_interval): next fetch {w}"
            ),
            Error::Timeout => f.write_str("the exchange ran past the fetch deadline"),
            #[cfg(feature = "discovery")]
            Error::Discovery(e) => write!(f, "discovery: {e}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for Error<E> {}

/// When the client goes to the network again on its own: the instant on
/// its clock, and how long that was from the moment the error was made
/// (what `Display` says: `in 6000 ms (at 20173 ms)`).
///
/// ```
/// use core::time::Duration;
/// use embedded_oauth2::Instant;
/// use embedded_oauth2::error::Wait;
/// let w = Wait::new(Instant::from_millis(20_173), Instant::from_millis(14_173));
/// assert_eq!(w.remaining, Duration::from_secs(6));
/// assert_eq!(w.to_string(), "in 6000 ms (at 20173 ms)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Wait {
    /// The instant of the next attempt, on the client's clock.
    pub until: crate::time::Instant,
    /// How long from when the error was made.
    pub remaining: core::time::Duration,
}

impl Wait {
    /// The wait until `until`, seen at `now`.
    pub fn new(until: crate::time::Instant, now: crate::time::Instant) -> Self {
        Self {
            until,
            remaining: until.saturating_duration_since(now),
        }
    }
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "in {} ms (at {} ms)",
            crate::time::duration_millis(self.remaining),
            self.until.as_millis()
        )
    }
}

impl<E> From<ConfigError> for Error<E> {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}
impl<E> From<CapacityError> for Error<E> {
    fn from(e: CapacityError) -> Self {
        Error::Capacity(e)
    }
}
impl<E> From<HttpError> for Error<E> {
    fn from(e: HttpError) -> Self {
        Error::Http(e)
    }
}
impl<E> From<ResponseError> for Error<E> {
    fn from(e: ResponseError) -> Self {
        Error::Response(e)
    }
}
impl<E> From<OAuthError> for Error<E> {
    fn from(e: OAuthError) -> Self {
        Error::OAuth(e)
    }
}

/// A configuration value refused at construction, before anything reaches the
/// wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConfigError {
    /// The client id is empty.
    EmptyClientId,
    /// A value holds CR, LF, NUL or another control character.
    ControlCharacter,
    /// A header value of a resource request is empty or has characters its
    /// header may not carry (a content type outside visible ASCII and
    /// spaces, a DPoP proof outside base64url and dots).
    InvalidHeaderValue,
    /// The token endpoint URL is not `https://host[:port]/path`.
    InvalidUrl,
    /// The URL scheme is `http://` and plain HTTP was not explicitly allowed.
    InsecureScheme,
    /// The URL carries userinfo (`user@host`); credentials never travel in a URL.
    UrlUserinfo,
    /// The URL carries a `#fragment`.
    UrlFragment,
    /// The port is not a number in 1..=65535.
    InvalidPort,
    /// A scope token is empty or holds characters outside RFC 6749 §3.3.
    InvalidScope,
    /// A `resource` is not an absolute URI without fragment (RFC 8707 §2).
    InvalidResource,
    /// An extra parameter name is empty or is one this crate sets itself.
    ReservedParameter,
    /// A signed-assertion method was chosen without
    /// [`Config::with_assertion`](crate::Config::with_assertion) (or, for
    /// `private_key_jwt`, without a signer).
    MissingAssertion,
    /// The signing key is not usable.
    InvalidKey,
    /// [`Client::revoke`](crate::Client::revoke) without
    /// `Config::with_revocation_endpoint`.
    NoRevocationEndpoint,
    /// The client secret is longer than the capacity chosen for it.
    SecretTooLong {
        /// Bytes the secret needs.
        needed: usize,
        /// The `ClientSecret` capacity.
        capacity: usize,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyClientId => f.write_str("the client id is empty"),
            Self::ControlCharacter => {
                f.write_str("a value contains a control character (CR, LF, NUL, ...)")
            }
            Self::InvalidUrl => {
                f.write_str("the token endpoint is not an absolute https://host[:port]/path URL")
            }
            Self::InsecureScheme => f.write_str(
                "http:// token endpoints are refused unless plain HTTP is explicitly allowed",
            ),
            Self::UrlUserinfo => {
                f.write_str("the URL contains userinfo; credentials must not travel in a URL")
            }
            Self::UrlFragment => f.write_str("the URL contains a fragment"),
            Self::InvalidPort => f.write_str("the URL port is not in 1..=65535"),
            Self::InvalidScope => {
                f.write_str("a scope token is empty or contains characters RFC 6749 §3.3 forbids")
            }
            Self::InvalidResource => {
                f.write_str("a resource is not an absolute URI without fragment (RFC 8707)")
            }
            Self::InvalidHeaderValue => {
                f.write_str("a header value is empty or has characters its header may not carry")
            }
            Self::ReservedParameter => {
                f.write_str("an extra parameter name is empty or reserved by the client")
            }
            Self::NoRevocationEndpoint => {
                f.write_str("revocation needs Config::with_revocation_endpoint")
            }
            Self::MissingAssertion => f.write_str("a signed-assertion method needs Config::with_assertion (and a signer for private_key_jwt)"),
            Self::InvalidKey => f.write_str("the signing key is not usable"),
            Self::SecretTooLong { needed, capacity } => {
                write!(
                    f,
                    "the client secret needs {needed} bytes but its capacity is {capacity}"
                )
            }
        }
    }
}

impl core::error::Error for ConfigError {}

/// Which caller-sized storage ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Buffer {
    /// The work buffer, while encoding the request.
    Request,
    /// The work buffer, while receiving the response (head and body).
    Response,
    /// The work buffer, while unescaping and staging the token response.
    Parse,
    /// The access-token capacity `T` of [`Token`](crate::Token).
    AccessToken,
    /// The scope capacity `S` of [`Token`](crate::Token).
    Scope,
    /// An output buffer given to a helper (e.g. for an `Authorization` value).
    Output,
    /// The `DPoP-Nonce` the client keeps
    /// ([`MAX_DPOP_NONCE`](crate::dpop::MAX_DPOP_NONCE) bytes).
    #[cfg(feature = "dpop")]
    DpopNonce,
    /// The buffer given to [`Client::export_token`](crate::Client::export_token)
    /// for the token record.
    Record,
    /// The space for the URLs kept of a metadata document (feature
    /// `discovery`): what [`parse_metadata`](crate::discovery::parse_metadata)
    /// is given, or the work buffer behind the response.
    #[cfg(feature = "discovery")]
    Metadata,
}

/// A caller-sized buffer or capacity was too small.
///
/// `needed` is the total size that would have sufficed. When the response is
/// framed by the connection closing its length is unknown in advance, and
/// `needed` is a lower bound (`exact == false`).
///
/// ```
/// use embedded_oauth2::{ClientAuth, ClientId, Config, Error, TokenEndpoint};
/// use embedded_oauth2::http::encode_request;
/// let config = Config::<0>::new(
///     TokenEndpoint::parse("https://as.example/token")?,
///     ClientId::new("device-1")?,
///     ClientAuth::ClientIdOnly,
/// );
/// match encode_request(&config, &mut [0u8; 16]) {
///     Err(Error::Capacity(c)) => assert!(c.needed > 16 && c.exact),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct CapacityError {
    /// What ran out.
    pub buffer: Buffer,
    /// Bytes needed (a lower bound unless `exact`).
    pub needed: usize,
    /// Bytes that were available.
    pub available: usize,
    /// Whether `needed` is exact.
    pub exact: bool,
}

impl CapacityError {
    /// `buffer` held `available` bytes and `needed` (exactly, or at least)
    /// were needed: for glue code that reports capacity the crate's way.
    ///
    /// ```
    /// use embedded_oauth2::error::{Buffer, CapacityError};
    /// let e = CapacityError::new(Buffer::Response, 900, 512, true);
    /// assert_eq!((e.needed, e.available), (900, 512));
    /// ```
    pub const fn new(buffer: Buffer, needed: usize, available: usize, exact: bool) -> Self {
        Self {
            buffer,
            needed,
            available,
            exact,
        }
    }
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.buffer {
            Buffer::Request => "request buffer",
            Buffer::Response => "response buffer",
            Buffer::Parse => "buffer for parsing the response",
            Buffer::AccessToken => "access token capacity",
            Buffer::Scope => "scope capacity",
            Buffer::Output => "output buffer",
            #[cfg(feature = "dpop")]
            Buffer::DpopNonce => "DPoP nonce capacity",
            Buffer::Record => "token record buffer",
            #[cfg(feature = "discovery")]
            Buffer::Metadata => "buffer for the metadata's URLs",
        };
        let bound = if self.exact { "" } else { "at least " };
        write!(
            f,
            "{what} too small: {bound}{} bytes needed, {} available",
            self.needed, self.available
        )
    }
}

impl core::error::Error for CapacityError {}

/// The HTTP response could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HttpError {
    /// The response head is not valid HTTP/1.x.
    Malformed,
    /// More header fields than the reader was sized for.
    TooManyHeaders {
        /// The header-count limit.
        limit: usize,
    },
    /// The response head is longer than the configured limit.
    HeadTooLarge {
        /// The header-bytes limit.
        limit: usize,
    },
    /// The body is longer than the configured limit.
    BodyTooLarge {
        /// The body-bytes limit.
        limit: usize,
    },
    /// `Content-Length` is not a number, or several disagree.
    InvalidContentLength,
    /// A `Transfer-Encoding` other than `chunked` (alone, last).
    UnsupportedTransferEncoding,
    /// A chunk-size line or chunk framing is malformed.
    InvalidChunk,
    /// The connection closed before the response was complete.
    UnexpectedEof,
    /// A redirect (3xx); redirects are never followed for token requests.
    Redirect {
        /// The status code.
        status: u16,
    },
    /// `101 Switching Protocols`, or an error status without an OAuth
    /// error body (a 500 page, a 503 from a proxy, a 429).
    UnexpectedStatus {
        /// The status code.
        status: u16,
        /// The server's `Retry-After`, if it sent one.
        retry_after: Option<RetryAfter>,
    },
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed => f.write_str("malformed response head"),
            Self::TooManyHeaders { limit } => write!(f, "more than {limit} header fields"),
            Self::HeadTooLarge { limit } => write!(f, "response head larger than {limit} bytes"),
            Self::BodyTooLarge { limit } => write!(f, "response body larger than {limit} bytes"),
            Self::InvalidContentLength => f.write_str("invalid or conflicting Content-Length"),
            Self::UnsupportedTransferEncoding => f.write_str("unsupported Transfer-Encoding"),
            Self::InvalidChunk => f.write_str("malformed chunked encoding"),
            Self::UnexpectedEof => {
                f.write_str("connection closed before the response was complete")
            }
            Self::Redirect { status } => {
                write!(f, "redirect ({status}) not followed for a token request")
            }
            Self::UnexpectedStatus { status, .. } => {
                write!(f, "unexpected HTTP status {status} without an OAuth error")
            }
        }
    }
}

impl core::error::Error for HttpError {}

/// The body of a successful response is not an acceptable token response
/// ([RFC 6749 §5.1](https://www.rfc-editor.org/rfc/rfc6749#section-5.1)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ResponseError {
    /// Not a JSON object, or malformed JSON.
    Json,
    /// JSON nested deeper than [`MAX_JSON_DEPTH`](crate::http::MAX_JSON_DEPTH).
    TooDeep,
    /// A member the client reads appears twice.
    DuplicateMember,
    /// A member the client reads has the wrong JSON type.
    WrongType,
    /// `access_token` is missing.
    MissingAccessToken,
    /// `access_token` is empty.
    EmptyAccessToken,
    /// `access_token` holds characters other than visible ASCII (`%x21-7E`;
    /// RFC 6750's `b64token` is a subset), e.g. CR/LF or spaces, so it could
    /// inject into a header.
    InvalidAccessToken,
    /// `token_type` is missing.
    MissingTokenType,
    /// A `token_type` this client does not understand (RFC 6749 §7.1).
    UnsupportedTokenType,
    /// `expires_in` is negative, zero, not an integer, or absurdly large.
    InvalidExpiresIn,
    /// `scope` holds characters outside RFC 6749 §3.3.
    InvalidScope,
    /// A DPoP token request was answered with a `Bearer` token: the token
    /// would not be bound to the client's key (RFC 9449 §5), so it is
    /// refused.
    BearerForDpop,
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Json => "body is not a valid JSON object",
            Self::TooDeep => "JSON nested too deeply",
            Self::DuplicateMember => "a member appears twice",
            Self::WrongType => "a member has the wrong JSON type",
            Self::MissingAccessToken => "access_token is missing",
            Self::EmptyAccessToken => "access_token is empty",
            Self::InvalidAccessToken => {
                "access_token contains characters not allowed in a bearer token"
            }
            Self::MissingTokenType => "token_type is missing",
            Self::UnsupportedTokenType => "token_type is not one this client understands",
            Self::BearerForDpop => "a DPoP request was answered with a Bearer token",
            Self::InvalidExpiresIn => "expires_in is not a positive number of seconds",
            Self::InvalidScope => "scope contains characters RFC 6749 forbids",
        })
    }
}

impl core::error::Error for ResponseError {}

/// The `error` code of an OAuth error response
/// ([RFC 6749 §5.2](https://www.rfc-editor.org/rfc/rfc6749#section-5.2),
/// `invalid_target` from [RFC 8707 §2](https://www.rfc-editor.org/rfc/rfc8707#section-2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_request`
    InvalidRequest,
    /// `invalid_client`: authentication failed.
    InvalidClient,
    /// `invalid_grant`
    InvalidGrant,
    /// `unauthorized_client`
    UnauthorizedClient,
    /// `unsupported_grant_type`
    UnsupportedGrantType,
    /// `invalid_scope`
    InvalidScope,
    /// `invalid_target` (RFC 8707)
    InvalidTarget,
    /// `temporarily_unavailable`
    TemporarilyUnavailable,
    /// `server_error`
    ServerError,
    /// `invalid_dpop_proof` (RFC 9449 §12.2): the DPoP proof was refused.
    InvalidDpopProof,
    /// `use_dpop_nonce` (RFC 9449 §8): the server wants its nonce in the
    /// proof. The client sends the request again at once with the nonce
    /// (once per fetch); later it is transient, as the next attempt carries
    /// the server's newest nonce.
    UseDpopNonce,
    /// Any other code (kept, truncated to 24 bytes; the whole code is in
    /// [`ErrorDetails`]).
    Extension(Text<24>),
}

impl ErrorCode {
    /// Maps an `error` member to a code.
    pub fn parse(code: &str) -> Self {
        Self::parse_bytes(code.as_bytes())
    }

    /// [`ErrorCode::parse`] of bytes (an extension code that is not UTF-8
    /// is kept as [`Text`] keeps any text).
    #[inline(never)]
    pub(crate) fn parse_bytes(code: &[u8]) -> Self {
        const KNOWN: [ErrorCode; 11] = [
            ErrorCode::InvalidRequest,
            ErrorCode::InvalidClient,
            ErrorCode::InvalidGrant,
            ErrorCode::UnauthorizedClient,
            ErrorCode::UnsupportedGrantType,
            ErrorCode::InvalidScope,
            ErrorCode::InvalidTarget,
            ErrorCode::TemporarilyUnavailable,
            ErrorCode::ServerError,
            ErrorCode::InvalidDpopProof,
            ErrorCode::UseDpopNonce,
        ];
        KNOWN
            .iter()
            .find(|k| k.as_str().as_bytes() == code)
            .copied()
            .unwrap_or_else(|| Self::Extension(Text::from_bytes_lossy(code)))
    }

    /// The code as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::ServerError => "server_error",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::Extension(t) => t.as_str(),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error response from the authorization server
/// ([RFC 6749 §5.2](https://www.rfc-editor.org/rfc/rfc6749#section-5.2)):
/// what a program decides on. The free text that goes with it (description,
/// URI, `WWW-Authenticate`) is in [`ErrorDetails`], kept by the client
/// ([`Client::error_details`](crate::Client::error_details)) rather than in
/// every `Result` on the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct OAuthError {
    /// The HTTP status (400 or 401 normally; 200 when a server puts an error
    /// object in a success response).
    pub status: u16,
    /// The `error` member.
    pub code: ErrorCode,
    /// The server's `Retry-After`, if sent (e.g. with 503
    /// `temporarily_unavailable`).
    pub retry_after: Option<RetryAfter>,
}

impl OAuthError {
    /// An error response with this status and code, and the server's
    /// `Retry-After` when it sent one.
    ///
    /// ```
    /// use embedded_oauth2::{ErrorCode};
    /// use embedded_oauth2::error::OAuthError;
    /// let e = OAuthError::new(401, ErrorCode::InvalidClient, None);
    /// assert_eq!(e.code, ErrorCode::InvalidClient);
    /// ```
    pub const fn new(status: u16, code: ErrorCode, retry_after: Option<RetryAfter>) -> Self {
        Self {
            status,
            code,
            retry_after,
        }
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "authorization server refused the request (HTTP {}): {}",
            self.status, self.code
        )
    }
}

/// The free-text parts of an OAuth error response, copied (truncated safely
/// when long, control characters replaced) so they outlive the work buffer.
///
/// The client keeps the last one ([`Client::error_details`](crate::Client::error_details));
/// firmware with its own HTTP client gets it from [`ErrorDetails::parse`].
///
/// ```
/// use embedded_oauth2::error::ErrorDetails;
/// let d = ErrorDetails::parse(
///     Some(b"Basic realm=\"as\""),
///     br#"{"error":"invalid_client","error_description":"bad secret","error_uri":"https://as/e"}"#,
/// );
/// assert_eq!(d.description.unwrap().as_str(), "bad secret");
/// assert_eq!(d.uri.unwrap().as_str(), "https://as/e");
/// assert_eq!(d.www_authenticate.unwrap().as_str(), "Basic realm=\"as\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct ErrorDetails {
    /// The `error` member as sent (truncated to 48 bytes).
    pub code: Option<Text<48>>,
    /// `error_description`, if sent.
    pub description: Option<Text<96>>,
    /// `error_uri`, if sent.
    pub uri: Option<Text<64>>,
    /// The `WWW-Authenticate` header, if sent (with 401 `invalid_client`);
    /// a long one is kept as its scheme and `error` parameter.
    pub www_authenticate: Option<Text<64>>,
    /// The latest `DPoP-Nonce` a response carried (RFC 9449 §8), with an
    /// error or a token; kept until a newer one comes (feature `dpop`). One
    /// longer than [`MAX_DPOP_NONCE`](crate::dpop::MAX_DPOP_NONCE) is not
    /// kept, and drops the one before it.
    /// Not free text: [`ErrorDetails::is_empty`] does not look at it.
    #[cfg(feature = "dpop")]
    pub dpop_nonce: Option<crate::nonce::DpopNonce>,
    /// The last response brought that nonce.
    #[cfg(feature = "dpop")]
    pub(crate) dpop_nonce_new: bool,
}

impl ErrorDetails {
    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.code.is_none()
            && self.description.is_none()
            && self.uri.is_none()
            && self.www_authenticate.is_none()
    }
}

impl fmt::Display for ErrorDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        for (name, value) in [
            ("error", self.code.as_ref().map(|t| t.as_str())),
            (
                "error_description",
                self.description.as_ref().map(|t| t.as_str()),
            ),
            ("error_uri", self.uri.as_ref().map(|t| t.as_str())),
            (
                "WWW-Authenticate",
                self.www_authenticate.as_ref().map(|t| t.as_str()),
            ),
        ] {
            if let Some(v) = value {
                write!(f, "{sep}{name}: {v}")?;
                sep = "; ";
            }
        }
        Ok(())
    }
}

impl core::error::Error for OAuthError {}

// ---- Retrying --------------------------------------------------------------

/// Whether a failure can go away by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Retry {
    /// Worth another attempt later: I/O, 5xx, 429, `temporarily_unavailable`,
    /// a garbled response (a captive portal, a broken proxy), a wall clock
    /// not yet set.
    Transient,
    /// Retrying the same request cannot help (`invalid_client`,
    /// `unauthorized_client`, `invalid_scope`, `unsupported_grant_type`, a
    /// configuration or capacity error): the client does not retry it on
    /// its own until [`Client::reset_backoff`](crate::Client::reset_backoff).
    /// (A capacity error is the exception: it depends on the buffer the
    /// caller passes, so the client backs off instead of blocking.)
    Permanent,
}

/// A server's `Retry-After`
/// ([RFC 9110 §10.2.3](https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RetryAfter {
    /// `Retry-After: 120`.
    Seconds(u32),
    /// `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`, as UNIX seconds; turned
    /// into a delay only when a [`WallClock`](crate::WallClock) is known.
    At(u64),
}

impl RetryAfter {
    /// The delay it asks for, given the wall-clock time (needed for dates).
    pub fn delay(&self, unix_now: Option<u64>) -> Option<Duration> {
        match *self {
            RetryAfter::Seconds(s) => Some(Duration::from_secs(u64::from(s))),
            RetryAfter::At(at) => unix_now.map(|now| Duration::from_secs(at.saturating_sub(now))),
        }
    }
}

impl<E> Error<E> {
    /// Whether retrying later can help.
    ///
    /// ```
    /// use embedded_oauth2::{Error};
    /// use embedded_oauth2::error::{HttpError, Retry};
    /// let e: Error = HttpError::UnexpectedStatus { status: 503, retry_after: None }.into();
    /// assert_eq!(e.retry(), Retry::Transient);
    /// let e: Error = HttpError::UnexpectedStatus { status: 404, retry_after: None }.into();
    /// assert_eq!(e.retry(), Retry::Permanent);
    /// ```
    pub fn retry(&self) -> Retry {
        match self {
            Error::Transport(_)
            | Error::WriteZero
            | Error::NoWallClock
            | Error::Sign
            | Error::Backoff(_)
            | Error::HeldBack(_)
            | Error::Timeout => Retry::Transient,
            // A server that does not bind tokens to the key will not start
            // on the next attempt: a configuration to fix.
            Error::Response(ResponseError::BearerForDpop) => Retry::Permanent,
            Error::Response(_) => Retry::Transient,
            Error::Http(h) => match h {
                HttpError::UnexpectedStatus { status, .. } => {
                    if *status >= 500 || *status == 429 || *status == 408 {
                        Retry::Transient
                    } else {
                        Retry::Permanent
                    }
                }
                // A redirect is how captive portals answer.
                _ => Retry::Transient,
            },
            Error::OAuth(o) => match o.code {
                ErrorCode::TemporarilyUnavailable
                | ErrorCode::ServerError
                | ErrorCode::UseDpopNonce => Retry::Transient,
                _ if o.status >= 500 || o.status == 429 => Retry::Transient,
                _ => Retry::Permanent,
            },
            Error::Config(_) | Error::Capacity(_) => Retry::Permanent,
            // A server whose metadata does not hold up: a configuration
            // to fix.
            #[cfg(feature = "discovery")]
            Error::Discovery(_) => Retry::Permanent,
        }
    }

    /// The server's `Retry-After`, when the failure carried one.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        match self {
            Error::Http(HttpError::UnexpectedStatus { retry_after, .. }) => *retry_after,
            Error::OAuth(o) => o.retry_after,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::string::{String, ToString};
    use std::vec::Vec;

    /// Every message is non-empty and says something different.
    fn distinct(messages: Vec<String>) {
        let n = messages.len();
        assert!(messages.iter().all(|m| !m.is_empty()), "{messages:?}");
        let set: BTreeSet<_> = messages.into_iter().collect();
        assert_eq!(set.len(), n, "{set:?}");
    }

    #[test]
    fn config_errors_each_say_what_is_wrong() {
        use ConfigError::*;
        let all = [
            EmptyClientId,
            ControlCharacter,
            InvalidUrl,
            InsecureScheme,
            UrlUserinfo,
            UrlFragment,
            InvalidPort,
            InvalidScope,
            InvalidResource,
            ReservedParameter,
            MissingAssertion,
            InvalidKey,
            SecretTooLong {
                needed: 70,
                capacity: 64,
            },
        ];
        distinct(all.iter().map(ToString::to_string).collect());
        assert!(
            SecretTooLong {
                needed: 70,
                capacity: 64
            }
            .to_string()
            .contains("70")
        );
    }

    #[test]
    fn http_errors_each_say_what_is_wrong() {
        use HttpError::*;
        let all = [
            Malformed,
            TooManyHeaders { limit: 16 },
            HeadTooLarge { limit: 1024 },
            BodyTooLarge { limit: 4096 },
            InvalidContentLength,
            UnsupportedTransferEncoding,
            InvalidChunk,
            UnexpectedEof,
            Redirect { status: 302 },
            UnexpectedStatus {
                status: 503,
                retry_after: None,
            },
        ];
        distinct(all.iter().map(ToString::to_string).collect());
        assert_eq!(
            TooManyHeaders { limit: 16 }.to_string(),
            "more than 16 header fields"
        );
        assert!(Redirect { status: 302 }.to_string().contains("302"));
    }

    #[test]
    fn response_errors_and_codes_each_say_what_is_wrong() {
        use ResponseError::*;
        let all = [
            Json,
            TooDeep,
            DuplicateMember,
            WrongType,
            MissingAccessToken,
            EmptyAccessToken,
            InvalidAccessToken,
            MissingTokenType,
            UnsupportedTokenType,
            InvalidExpiresIn,
            InvalidScope,
            BearerForDpop,
        ];
        distinct(all.iter().map(ToString::to_string).collect());
        assert_eq!(Json.to_string(), "body is not a valid JSON object");
        for code in [
            "invalid_request",
            "invalid_client",
            "invalid_grant",
            "unauthorized_client",
            "unsupported_grant_type",
            "invalid_scope",
            "invalid_target",
            "temporarily_unavailable",
            "server_error",
            "invalid_dpop_proof",
            "use_dpop_nonce",
            "device_locked",
        ] {
            assert_eq!(ErrorCode::parse(code).to_string(), code);
            let known = !matches!(ErrorCode::parse(code), ErrorCode::Extension(_));
            assert_eq!(known, code != "device_locked", "{code}");
        }
    }

    #[test]
    fn error_details_are_empty_only_without_any_part() {
        let none = ErrorDetails::default();
        assert!(none.is_empty());
        assert_eq!(none.to_string(), "");
        let parts = [
            ErrorDetails {
                code: Some(Text::from_str_lossy("invalid_client")),
                ..none
            },
            ErrorDetails {
                description: Some(Text::from_str_lossy("bad secret")),
                ..none
            },
            ErrorDetails {
                uri: Some(Text::from_str_lossy("https://as/e")),
                ..none
            },
            ErrorDetails {
                www_authenticate: Some(Text::from_str_lossy("Basic")),
                ..none
            },
        ];
        for d in &parts {
            assert!(!d.is_empty(), "{d:?}");
        }
        let all = ErrorDetails {
            code: parts[0].code,
            description: parts[1].description,
            uri: parts[2].uri,
            www_authenticate: parts[3].www_authenticate,
            ..none
        };
        assert_eq!(
            all.to_string(),
            "error: invalid_client; error_description: bad secret; \
             error_uri: https://as/e; WWW-Authenticate: Basic"
        );
        assert_eq!(parts[1].to_string(), "error_description: bad secret");
    }
}
