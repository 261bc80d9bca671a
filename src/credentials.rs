//! Client identity, secret, token endpoint and request parameters.

use core::fmt;

use crate::error::ConfigError;

/// Rejects values that could break out of the HTTP framing.
pub(crate) fn check_no_controls(s: &str) -> Result<(), ConfigError> {
    if s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        Err(ConfigError::ControlCharacter)
    } else {
        Ok(())
    }
}

/// The client identifier issued at registration
/// ([RFC 6749 §2.2](https://www.rfc-editor.org/rfc/rfc6749#section-2.2)).
///
/// Not secret. Any printable characters are allowed; they are encoded as
/// RFC 6749 §2.3.1 requires where they are sent.
///
/// ```
/// use embedded_oauth2::ClientId;
/// assert_eq!(ClientId::new("s6BhdRkqt3")?.as_str(), "s6BhdRkqt3");
/// assert!(ClientId::new("").is_err());
/// assert!(ClientId::new("a\r\nb").is_err());
/// # Ok::<(), embedded_oauth2::error::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClientId<'a>(&'a str);

impl<'a> ClientId<'a> {
    /// Checks and wraps a client id: not empty, no control characters.
    pub fn new(id: &'a str) -> Result<Self, ConfigError> {
        if id.is_empty() {
            return Err(ConfigError::EmptyClientId);
        }
        check_no_controls(id)?;
        Ok(Self(id))
    }

    /// The id.
    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

/// The client secret
/// ([RFC 6749 §2.3.1](https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1)),
/// stored in `N` bytes the caller sizes.
///
/// Its `Debug` is redacted, it has no `Display` or `defmt::Format`, and its
/// bytes are zeroized when it is dropped.
///
/// ```
/// use embedded_oauth2::ClientSecret;
/// let s = ClientSecret::<32>::new("gX1fBat3bV")?;
/// assert_eq!(format!("{s:?}"), "ClientSecret(<redacted>)");
/// assert_eq!(s.expose_secret(), "gX1fBat3bV");
/// assert!(ClientSecret::<4>::new("too long").is_err());
/// # Ok::<(), embedded_oauth2::error::ConfigError>(())
/// ```
pub struct ClientSecret<const N: usize = 64> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> ClientSecret<N> {
    /// Copies the secret. Control characters and a secret longer than `N`
    /// bytes are refused.
    pub fn new(secret: &str) -> Result<Self, ConfigError> {
        check_no_controls(secret)?;
        let mut bytes = [0u8; N];
        let Some(dst) = bytes.get_mut(..secret.len()) else {
            return Err(ConfigError::SecretTooLong {
                needed: secret.len(),
                capacity: N,
            });
        };
        dst.copy_from_slice(secret.as_bytes());
        Ok(Self {
            bytes,
            len: secret.len(),
        })
    }

    /// The secret itself. Named so that every use stands out in review.
    pub fn expose_secret(&self) -> &str {
        let b = self.bytes.get(..self.len).unwrap_or_default();
        core::str::from_utf8(b).unwrap_or_default()
    }
}

impl<const N: usize> Drop for ClientSecret<N> {
    fn drop(&mut self) {
        crate::bytes::wipe(&mut self.bytes);
        self.len = 0;
    }
}

impl<const N: usize> fmt::Debug for ClientSecret<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

/// How the client proves its identity to the token endpoint.
///
/// ```
/// use embedded_oauth2::{ClientAuth, ClientSecret};
/// let auth = ClientAuth::Basic(ClientSecret::<32>::new("s3cr3t")?);
/// assert_eq!(auth.method_name(), "client_secret_basic");
/// assert!(!format!("{auth:?}").contains("s3cr3t"));
/// # Ok::<(), embedded_oauth2::error::ConfigError>(())
/// ```
#[non_exhaustive]
pub enum ClientAuth<const N: usize = 64> {
    /// `client_secret_basic`: HTTP Basic with id and secret
    /// form-urlencoded before base64, as
    /// [RFC 6749 §2.3.1](https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1)
    /// requires. The default choice.
    Basic(ClientSecret<N>),
    /// HTTP Basic **without** the §2.3.1 form-urlencoding, for servers known
    /// to break on it. Identical to [`ClientAuth::Basic`] when id and secret
    /// hold only unreserved characters.
    BasicUnencoded(ClientSecret<N>),
    /// `client_secret_post`: `client_id` and `client_secret` in the body.
    Post(ClientSecret<N>),
    /// The secret, sent the way the server turns out to accept, as
    /// golang/oauth2's `AuthStyleAutoDetect` does: first
    /// [`AuthStyle::Basic`] (RFC 6749 §2.3.1, form-urlencoded), and only
    /// when the server answers `invalid_client`, [`AuthStyle::BasicUnencoded`]
    /// and then [`AuthStyle::Post`], each at most once per fetch. The first
    /// style that gets a token is kept for the client's lifetime
    /// ([`Client::auth_style`](crate::Client::auth_style)); any other error
    /// never falls back. (Servers disagree on Basic credentials with
    /// reserved characters: some decode them as the RFC says, some only
    /// `%XX`, some not at all.) The HTTP helpers for firmware with its own
    /// HTTP client ([`crate::http`]) send the first style.
    Auto(ClientSecret<N>),
    /// Only `client_id` in the body: authentication happens elsewhere, e.g.
    /// mutual-TLS client authentication
    /// ([RFC 8705](https://www.rfc-editor.org/rfc/rfc8705)).
    ClientIdOnly,
    /// `client_secret_jwt`: an HS256 assertion keyed with the secret
    /// ([RFC 7523 §2.2](https://www.rfc-editor.org/rfc/rfc7523#section-2.2)).
    /// Needs [`Config::with_assertion`]. Feature `client-secret-jwt`.
    #[cfg(feature = "client-secret-jwt")]
    SecretJwt(ClientSecret<N>),
    /// `private_key_jwt`: an ES256 assertion signed by the
    /// [`Es256Signer`](crate::assertion::Es256Signer) given with
    /// [`Config::with_assertion`]. Feature `private-key-jwt`.
    #[cfg(feature = "private-key-jwt")]
    PrivateKeyJwt,
}

/// How a client secret is presented (see [`ClientAuth::Auto`]).
///
/// ```
/// use embedded_oauth2::AuthStyle;
/// assert_eq!(AuthStyle::Basic.next(), Some(AuthStyle::BasicUnencoded));
/// assert_eq!(AuthStyle::Post.next(), None);
/// assert_eq!(AuthStyle::from_u8(AuthStyle::Post.as_u8()), Some(AuthStyle::Post));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AuthStyle {
    /// `client_secret_basic`, id and secret form-urlencoded (RFC 6749
    /// §2.3.1), as [`ClientAuth::Basic`].
    #[default]
    Basic,
    /// HTTP Basic without the form-urlencoding, as
    /// [`ClientAuth::BasicUnencoded`].
    BasicUnencoded,
    /// `client_secret_post`, as [`ClientAuth::Post`].
    Post,
}

impl AuthStyle {
    /// The style [`ClientAuth::Auto`] tries after this one.
    pub const fn next(self) -> Option<Self> {
        match self {
            Self::Basic => Some(Self::BasicUnencoded),
            Self::BasicUnencoded => Some(Self::Post),
            Self::Post => None,
        }
    }

    /// A stable one-byte code (1, 2, 3), for a stored record.
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::Basic => 1,
            Self::BasicUnencoded => 2,
            Self::Post => 3,
        }
    }

    /// The style of [`AuthStyle::as_u8`]'s code.
    pub const fn from_u8(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Basic),
            2 => Some(Self::BasicUnencoded),
            3 => Some(Self::Post),
            _ => None,
        }
    }
}

impl<const N: usize> ClientAuth<N> {
    /// Whether the method sends an `Authorization: Basic` header
    /// ([`ClientAuth::Auto`]: with its first style).
    pub fn uses_basic(&self) -> bool {
        self.secret_style(AuthStyle::Basic)
            .is_some_and(|(_, s)| s != AuthStyle::Post)
    }

    /// The secret and the style it is sent in, `auto` standing for what
    /// [`ClientAuth::Auto`] tries now; `None` for the methods without a
    /// shared secret sent as is.
    #[inline]
    pub(crate) fn secret_style(&self, auto: AuthStyle) -> Option<(&ClientSecret<N>, AuthStyle)> {
        match self {
            Self::Basic(s) => Some((s, AuthStyle::Basic)),
            Self::BasicUnencoded(s) => Some((s, AuthStyle::BasicUnencoded)),
            Self::Post(s) => Some((s, AuthStyle::Post)),
            Self::Auto(s) => Some((s, auto)),
            _ => None,
        }
    }

    /// Whether the method sends a signed client assertion (RFC 7523).
    #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
    pub(crate) fn signs(&self) -> bool {
        match self {
            #[cfg(feature = "client-secret-jwt")]
            Self::SecretJwt(_) => true,
            #[cfg(feature = "private-key-jwt")]
            Self::PrivateKeyJwt => true,
            _ => false,
        }
    }

    /// The registered name of the method (`token_endpoint_auth_method`).
    pub fn method_name(&self) -> &'static str {
        match self {
            Self::Basic(_) | Self::BasicUnencoded(_) | Self::Auto(_) => "client_secret_basic",
            Self::Post(_) => "client_secret_post",
            Self::ClientIdOnly => "tls_client_auth",
            #[cfg(feature = "client-secret-jwt")]
            Self::SecretJwt(_) => "client_secret_jwt",
            #[cfg(feature = "private-key-jwt")]
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

impl<const N: usize> fmt::Debug for ClientAuth<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic(_) => f.write_str("Basic(<redacted>)"),
            Self::BasicUnencoded(_) => f.write_str("BasicUnencoded(<redacted>)"),
            Self::Post(_) => f.write_str("Post(<redacted>)"),
            Self::Auto(_) => f.write_str("Auto(<redacted>)"),
            Self::ClientIdOnly => f.write_str("ClientIdOnly"),
            #[cfg(feature = "client-secret-jwt")]
            Self::SecretJwt(_) => f.write_str("SecretJwt(<redacted>)"),
            #[cfg(feature = "private-key-jwt")]
            Self::PrivateKeyJwt => f.write_str("PrivateKeyJwt"),
        }
    }
}

/// The token endpoint, parsed from `https://host[:port]/path[?query]`
/// ([RFC 6749 §3.2](https://www.rfc-editor.org/rfc/rfc6749#section-3.2)).
///
/// `http://` is refused unless [`TokenEndpoint::parse_allow_http`] is used
/// (loopback tests): the grant sends a secret and returns a bearer token, so
/// it needs TLS.
///
/// ```
/// use embedded_oauth2::{TokenEndpoint};
/// use embedded_oauth2::error::ConfigError;
/// let e = TokenEndpoint::parse("https://auth.example.com:8443/realms/x/token")?;
/// assert_eq!((e.host(), e.port(), e.path()), ("auth.example.com", 8443, "/realms/x/token"));
/// assert!(e.is_https());
/// assert_eq!(TokenEndpoint::parse("http://127.0.0.1/token"), Err(ConfigError::InsecureScheme));
/// assert_eq!(TokenEndpoint::parse("https://u:p@host/token"), Err(ConfigError::UrlUserinfo));
/// # Ok::<(), ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TokenEndpoint<'a> {
    url: &'a str,
    host: &'a str,
    port: u16,
    path: &'a str,
    https: bool,
}

impl<'a> TokenEndpoint<'a> {
    /// Parses an `https://` URL.
    pub fn parse(url: &'a str) -> Result<Self, ConfigError> {
        Self::parse_inner(url, false)
    }

    /// Parses an `https://` or `http://` URL. Use plain HTTP only on
    /// loopback or in tests.
    pub fn parse_allow_http(url: &'a str) -> Result<Self, ConfigError> {
        Self::parse_inner(url, true)
    }

    fn parse_inner(url: &'a str, allow_http: bool) -> Result<Self, ConfigError> {
        check_no_controls(url)?;
        if url.bytes().any(|b| b == b' ' || b >= 0x80) {
            return Err(ConfigError::InvalidUrl);
        }
        let (https, rest) = if let Some(r) = strip_prefix_ci(url, "https://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(url, "http://") {
            if !allow_http {
                return Err(ConfigError::InsecureScheme);
            }
            (false, r)
        } else {
            return Err(ConfigError::InvalidUrl);
        };
        if find_byte(rest, |b| b == b'#').is_some() {
            return Err(ConfigError::UrlFragment);
        }
        let split = find_byte(rest, |b| b == b'/' || b == b'?').unwrap_or(rest.len());
        let (authority, path) = rest
            .split_at_checked(split)
            .ok_or(ConfigError::InvalidUrl)?;
        if find_byte(authority, |b| b == b'@').is_some() {
            return Err(ConfigError::UrlUserinfo);
        }
        let path = if path.is_empty() { "/" } else { path };
        if path.as_bytes().first() == Some(&b'?') {
            // "https://host?x" has an empty path; keep the request target valid.
            return Err(ConfigError::InvalidUrl);
        }
        let (host, port) = split_host_port(authority, if https { 443 } else { 80 })?;
        if host.is_empty() {
            return Err(ConfigError::InvalidUrl);
        }
        Ok(Self {
            url,
            host,
            port,
            path,
            https,
        })
    }

    /// The whole URL as given (used e.g. as a JWT audience).
    pub fn url(&self) -> &'a str {
        self.url
    }

    /// The host name or IP literal (IPv6 without brackets).
    pub fn host(&self) -> &'a str {
        self.host
    }

    /// The port (443 or 80 unless given).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The request target: path and query.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// Whether the port is the scheme's default (then `Host` omits it).
    /// The `Host` header's value: the host (an IPv6 address in brackets),
    /// and the port unless it is the scheme's default.
    pub(crate) fn write_host(&self, s: &mut crate::encode::Sink<'_>) {
        let v6 = self.host.bytes().any(|b| b == b':');
        if v6 {
            s.put(b"[");
        }
        s.put_str(self.host);
        if v6 {
            s.put(b"]");
        }
        if !self.default_port() {
            s.put(b":");
            crate::encode::Out::put_decimal(s, u64::from(self.port));
        }
    }

    pub(crate) fn default_port(&self) -> bool {
        self.port == if self.https { 443 } else { 80 }
    }
}

/// The index of the first byte of `s` that `f` accepts.
fn find_byte(s: &str, f: impl Fn(u8) -> bool) -> Option<usize> {
    s.bytes().position(f)
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

fn split_host_port(authority: &str, default: u16) -> Result<(&str, u16), ConfigError> {
    // Bytes, not `char` patterns: all of it is ASCII (checked by the caller),
    // and the `str` searchers cost flash.
    let (host, port) = if authority.as_bytes().first() == Some(&b'[') {
        let v6 = authority.get(1..).unwrap_or_default();
        let end = find_byte(v6, |b| b == b']').ok_or(ConfigError::InvalidUrl)?;
        let host = v6.get(..end).ok_or(ConfigError::InvalidUrl)?;
        let after = v6.get(end + 1..).unwrap_or_default();
        let port = match after.as_bytes().first() {
            Some(b':') => after.get(1..),
            None => None,
            Some(_) => return Err(ConfigError::InvalidUrl),
        };
        if !host
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(ConfigError::InvalidUrl);
        }
        (host, port)
    } else {
        match find_byte(authority, |b| b == b':') {
            Some(i) => (
                authority.get(..i).unwrap_or_default(),
                authority.get(i + 1..),
            ),
            None => (authority, None),
        }
    };
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':'))
    {
        return Err(ConfigError::InvalidUrl);
    }
    let port = match port {
        None => default,
        Some(p) => {
            // Digits only, at most five (no run of leading zeros); empty
            // fails the parse.
            if p.len() > 5 {
                return Err(ConfigError::InvalidPort);
            }
            match crate::bytes::parse_u64(p.as_bytes()).map(u16::try_from) {
                Some(Ok(n)) if n != 0 => n,
                _ => return Err(ConfigError::InvalidPort),
            }
        }
    };
    Ok((host, port))
}

/// Checks a space-delimited scope list
/// ([RFC 6749 §3.3](https://www.rfc-editor.org/rfc/rfc6749#section-3.3)):
/// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub(crate) fn valid_scope(s: &str) -> bool {
    // One pass: a space must follow a token (so none leads, none doubles),
    // and the list must end with a token.
    let mut after_space = true;
    for &b in s.as_bytes() {
        if b == b' ' {
            if after_space {
                return false;
            }
            after_space = true;
        } else if matches!(b, 0x21..=0x7e) && b != b'"' && b != b'\\' {
            after_space = false;
        } else {
            return false;
        }
    }
    !after_space
}

/// Parameter names the client sets itself; extra parameters may not use them.
const RESERVED: &[&str] = &[
    "grant_type",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "scope",
    "audience",
    "resource",
];

/// Everything the client sends: endpoint, identity, authentication and the
/// request parameters.
///
/// Values are checked when set; a value that could corrupt the request
/// (CR/LF, NUL, other controls) is refused here, not discovered on the wire.
///
/// ```
/// use embedded_oauth2::{ClientAuth, ClientId, ClientSecret, Config, TokenEndpoint};
/// let config = Config::new(
///     TokenEndpoint::parse("https://as.example/token")?,
///     ClientId::new("device-42")?,
///     ClientAuth::Post(ClientSecret::<32>::new("s3cr3t")?),
/// )
/// .with_scope("read write")?
/// .with_audience("https://api.example")?
/// .with_resources(&["https://receipts.example/"])?
/// .with_extra_params(&[("tenant", "acme")])?;
/// assert_eq!(config.scope(), Some("read write"));
/// # Ok::<(), embedded_oauth2::error::ConfigError>(())
/// ```
#[derive(Debug)]
pub struct Config<'a, const N: usize = 64> {
    pub(crate) endpoint: TokenEndpoint<'a>,
    pub(crate) client_id: ClientId<'a>,
    pub(crate) auth: ClientAuth<N>,
    pub(crate) scope: Option<&'a str>,
    pub(crate) audience: Option<&'a str>,
    pub(crate) resources: &'a [&'a str],
    pub(crate) extra: &'a [(&'a str, &'a str)],
    #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
    pub(crate) assertion: Option<crate::auth::jwt::Assertion<'a>>,
    #[cfg(feature = "dpop")]
    pub(crate) dpop: Option<crate::auth::dpop::Dpop<'a>>,
    #[cfg(feature = "revocation")]
    pub(crate) revocation: Option<TokenEndpoint<'a>>,
    pub(crate) tls_certificate: Option<&'a [u8]>,
}

impl<'a, const N: usize> Config<'a, N> {
    /// A configuration with no scope, audience, resource or extra parameter.
    pub fn new(endpoint: TokenEndpoint<'a>, client_id: ClientId<'a>, auth: ClientAuth<N>) -> Self {
        Self {
            endpoint,
            client_id,
            auth,
            scope: None,
            audience: None,
            resources: &[],
            extra: &[],
            #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
            assertion: None,
            #[cfg(feature = "dpop")]
            dpop: None,
            #[cfg(feature = "revocation")]
            revocation: None,
            tls_certificate: None,
        }
    }

    /// Names the client certificate (DER) the TLS layer presents for
    /// mutual-TLS client authentication and certificate-bound tokens
    /// ([RFC 8705](https://www.rfc-editor.org/rfc/rfc8705)): nothing is
    /// sent differently, but it is part of the configuration's fingerprint
    /// ([`Client::config_fingerprint`](crate::Client::config_fingerprint)),
    /// so a token bound to another certificate (after the device's
    /// certificate was renewed) is not restored from a
    /// [`persist`](crate::persist) record.
    ///
    /// ```
    /// use embedded_oauth2::{Client, ClientAuth, ClientId, Config, Instant, TokenEndpoint};
    /// static CERT: &[u8] = &[0x30, 0x03, 1, 2, 3]; // the device's certificate
    /// let config = || {
    ///     Config::<0>::new(
    ///         TokenEndpoint::parse("https://as.example/token").unwrap(),
    ///         ClientId::new("dev").unwrap(),
    ///         ClientAuth::ClientIdOnly,
    ///     )
    /// };
    /// let plain: Client<_, 0> = Client::new(config(), || Instant::ZERO);
    /// let bound: Client<_, 0> =
    ///     Client::new(config().with_tls_client_certificate(CERT), || Instant::ZERO);
    /// assert_ne!(plain.config_fingerprint(), bound.config_fingerprint());
    /// ```
    pub fn with_tls_client_certificate(mut self, certificate: &'a [u8]) -> Self {
        self.tls_certificate = Some(certificate);
        self
    }

    /// The Unix time of the wall clock that dates this configuration's
    /// signed requests (a DPoP proof's, else a client assertion's `iat`);
    /// `None` when none is signed or the time is unknown.
    #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
    pub(crate) fn signing_unix_time(&self) -> Option<u64> {
        #[cfg(feature = "dpop")]
        if let Some(d) = &self.dpop {
            return d.wall_clock.unix_time();
        }
        if let Some(a) = &self.assertion
            && self.auth.signs()
        {
            return a.wall_clock.unix_time();
        }
        None
    }

    /// The revocation endpoint (RFC 7009) [`Client::revoke`](crate::Client::revoke)
    /// sends the cached token to, with the same client authentication as
    /// token requests. Feature `revocation`.
    ///
    /// ```
    /// use embedded_oauth2::{ClientAuth, ClientId, ClientSecret, Config, TokenEndpoint};
    /// let config = Config::new(
    ///     TokenEndpoint::parse("https://as.example/token")?,
    ///     ClientId::new("device-7")?,
    ///     ClientAuth::Basic(ClientSecret::<16>::new("s3cr3t")?),
    /// )
    /// .with_revocation_endpoint(TokenEndpoint::parse("https://as.example/revoke")?);
    /// # Ok::<(), embedded_oauth2::error::ConfigError>(())
    /// ```
    #[cfg(feature = "revocation")]
    pub fn with_revocation_endpoint(mut self, endpoint: TokenEndpoint<'a>) -> Self {
        self.revocation = Some(endpoint);
        self
    }

    /// Sends a DPoP proof with every token request (RFC 9449): the token
    /// is then bound to the key, and only a `DPoP` token is accepted.
    #[cfg(feature = "dpop")]
    pub fn with_dpop(mut self, dpop: crate::auth::dpop::Dpop<'a>) -> Self {
        self.dpop = Some(dpop);
        self
    }

    /// The revocation endpoint, when configured.
    #[cfg(feature = "revocation")]
    pub(crate) fn revocation_endpoint(&self) -> Option<TokenEndpoint<'a>> {
        self.revocation
    }

    /// Whether the token requests carry a DPoP proof.
    pub(crate) fn dpop_requested(&self) -> bool {
        #[cfg(feature = "dpop")]
        return self.dpop.is_some();
        #[cfg(not(feature = "dpop"))]
        false
    }

    /// Sets what a signed client assertion needs (wall clock, `jti` source,
    /// audience, lifetime, and for `private_key_jwt` the signer).
    #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
    pub fn with_assertion(mut self, assertion: crate::auth::jwt::Assertion<'a>) -> Self {
        self.assertion = Some(assertion);
        self
    }

    /// Requests these scopes (space-delimited, RFC 6749 §3.3).
    pub fn with_scope(mut self, scope: &'a str) -> Result<Self, ConfigError> {
        check_no_controls(scope)?;
        if !valid_scope(scope) {
            return Err(ConfigError::InvalidScope);
        }
        self.scope = Some(scope);
        Ok(self)
    }

    /// Sends `audience` (used by Auth0, Okta and others to pick the API).
    pub fn with_audience(mut self, audience: &'a str) -> Result<Self, ConfigError> {
        check_no_controls(audience)?;
        self.audience = Some(audience);
        Ok(self)
    }

    /// Sends one `resource` parameter per value
    /// ([RFC 8707](https://www.rfc-editor.org/rfc/rfc8707#section-2)): each
    /// must be an absolute URI without a fragment.
    pub fn with_resources(mut self, resources: &'a [&'a str]) -> Result<Self, ConfigError> {
        for r in resources {
            check_no_controls(r)?;
            let scheme_ok = r.split_once(':').is_some_and(|(s, rest)| {
                !s.is_empty()
                    && s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
                    && !rest.is_empty()
            });
            if !scheme_ok || r.contains('#') || r.contains(' ') {
                return Err(ConfigError::InvalidResource);
            }
        }
        self.resources = resources;
        Ok(self)
    }

    /// Sends additional form parameters verbatim (form-urlencoded). Names the
    /// client sets itself (`grant_type`, `client_id`, `scope`, …) are refused.
    pub fn with_extra_params(
        mut self,
        params: &'a [(&'a str, &'a str)],
    ) -> Result<Self, ConfigError> {
        for (k, v) in params {
            check_no_controls(k)?;
            check_no_controls(v)?;
            if k.is_empty() || RESERVED.contains(k) {
                return Err(ConfigError::ReservedParameter);
            }
        }
        self.extra = params;
        Ok(self)
    }

    /// The token endpoint.
    pub fn endpoint(&self) -> &TokenEndpoint<'a> {
        &self.endpoint
    }

    /// The client id.
    pub fn client_id(&self) -> ClientId<'a> {
        self.client_id
    }

    /// The authentication method.
    pub fn auth(&self) -> &ClientAuth<N> {
        &self.auth
    }

    /// The requested scope, if any.
    pub fn scope(&self) -> Option<&'a str> {
        self.scope
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the URL's authority and port may be: IPv6 literals with or
    /// without a port (IPv4-mapped too), nothing after `]` but a port, and
    /// a port of at most five digits without sign.
    #[test]
    fn endpoint_hosts_and_ports() {
        let e = TokenEndpoint::parse("https://[::1]/t").unwrap();
        assert_eq!((e.host(), e.port()), ("::1", 443));
        let e = TokenEndpoint::parse("https://[::ffff:127.0.0.1]:8443/t").unwrap();
        assert_eq!((e.host(), e.port()), ("::ffff:127.0.0.1", 8443));
        assert_eq!(
            TokenEndpoint::parse("https://[::1]x/t"),
            Err(ConfigError::InvalidUrl)
        );
        assert_eq!(
            TokenEndpoint::parse("https://h:65535/").unwrap().port(),
            65535
        );
        for bad in ["https://h:+80/", "https://h:000080/", "https://h:8a/"] {
            assert_eq!(
                TokenEndpoint::parse(bad),
                Err(ConfigError::InvalidPort),
                "{bad}"
            );
        }
    }

    #[test]
    fn method_names_are_the_registered_ones() {
        let s = || ClientSecret::<8>::new("s").unwrap();
        assert_eq!(ClientAuth::Basic(s()).method_name(), "client_secret_basic");
        assert_eq!(
            ClientAuth::BasicUnencoded(s()).method_name(),
            "client_secret_basic"
        );
        assert_eq!(ClientAuth::Post(s()).method_name(), "client_secret_post");
        assert_eq!(
            ClientAuth::<8>::ClientIdOnly.method_name(),
            "tls_client_auth"
        );
        #[cfg(feature = "client-secret-jwt")]
        assert_eq!(
            ClientAuth::SecretJwt(s()).method_name(),
            "client_secret_jwt"
        );
        #[cfg(feature = "private-key-jwt")]
        assert_eq!(
            ClientAuth::<8>::PrivateKeyJwt.method_name(),
            "private_key_jwt"
        );
    }

    /// `AuthStyle`'s one-byte codes round-trip; other bytes are no style;
    /// `next` walks Basic → BasicUnencoded → Post → none.
    #[test]
    fn auth_style_codes_and_order() {
        for (style, code) in [
            (AuthStyle::Basic, 1),
            (AuthStyle::BasicUnencoded, 2),
            (AuthStyle::Post, 3),
        ] {
            assert_eq!(style.as_u8(), code);
            assert_eq!(AuthStyle::from_u8(code), Some(style));
        }
        for other in [0, 4, 0xFF] {
            assert_eq!(AuthStyle::from_u8(other), None);
        }
        assert_eq!(AuthStyle::Basic.next(), Some(AuthStyle::BasicUnencoded));
        assert_eq!(AuthStyle::BasicUnencoded.next(), Some(AuthStyle::Post));
        assert_eq!(AuthStyle::Post.next(), None);
    }

    /// `uses_basic`: the two Basic methods and `Auto` (whose first style is
    /// Basic); none of the others.
    #[test]
    fn uses_basic_is_the_header_methods() {
        let s = || ClientSecret::<8>::new("s").unwrap();
        assert!(ClientAuth::Basic(s()).uses_basic());
        assert!(ClientAuth::BasicUnencoded(s()).uses_basic());
        assert!(ClientAuth::Auto(s()).uses_basic());
        assert!(!ClientAuth::Post(s()).uses_basic());
        assert!(!ClientAuth::<8>::ClientIdOnly.uses_basic());
    }

    /// A resource is an absolute URI: a scheme (a letter, then letters,
    /// digits, `+ - .`), a colon and something after it, no fragment.
    #[test]
    fn resources_need_a_scheme_and_a_rest() {
        let config = || {
            Config::new(
                TokenEndpoint::parse("https://h/").unwrap(),
                ClientId::new("c").unwrap(),
                ClientAuth::<8>::ClientIdOnly,
            )
        };
        for good in [&["https://api.example"][..], &["urn:x", "a+b-c.d:e"]] {
            assert!(config().with_resources(good).is_ok(), "{good:?}");
        }
        for bad in [
            "1http:x",
            ":x",
            "h_t:x",
            "urn:",
            "nocolon",
            "https://a#f",
            "a b:c",
        ] {
            assert!(
                matches!(
                    config().with_resources(&[bad]),
                    Err(ConfigError::InvalidResource)
                ),
                "{bad}"
            );
        }
        let c = config().with_scope("read write").unwrap();
        assert_eq!(c.scope(), Some("read write"));
        assert_eq!(config().scope(), None);
    }

    #[test]
    fn endpoint_parsing() {
        let e = TokenEndpoint::parse("https://h/").unwrap();
        assert_eq!((e.host(), e.port(), e.path()), ("h", 443, "/"));
        let e = TokenEndpoint::parse("HTTPS://h").unwrap();
        assert_eq!(e.path(), "/");
        let e = TokenEndpoint::parse("https://[::1]:8443/t?x=1").unwrap();
        assert_eq!((e.host(), e.port(), e.path()), ("::1", 8443, "/t?x=1"));
        let e = TokenEndpoint::parse_allow_http("http://127.0.0.1:3000/token").unwrap();
        assert_eq!(
            (e.host(), e.port(), e.is_https()),
            ("127.0.0.1", 3000, false)
        );
        assert_eq!(
            TokenEndpoint::parse("ftp://h/"),
            Err(ConfigError::InvalidUrl)
        );
        assert_eq!(
            TokenEndpoint::parse("https://h:0/"),
            Err(ConfigError::InvalidPort)
        );
        assert_eq!(
            TokenEndpoint::parse("https://h:65536/"),
            Err(ConfigError::InvalidPort)
        );
        assert_eq!(
            TokenEndpoint::parse("https://h:/"),
            Err(ConfigError::InvalidPort)
        );
        assert_eq!(
            TokenEndpoint::parse("https://h/t#f"),
            Err(ConfigError::UrlFragment)
        );
        assert_eq!(
            TokenEndpoint::parse("https:///t"),
            Err(ConfigError::InvalidUrl)
        );
        assert_eq!(
            TokenEndpoint::parse("https://h/t\r\nX: y"),
            Err(ConfigError::ControlCharacter)
        );
        assert_eq!(
            TokenEndpoint::parse("https://h/a b"),
            Err(ConfigError::InvalidUrl)
        );
        assert_eq!(
            TokenEndpoint::parse("https://h\0/"),
            Err(ConfigError::ControlCharacter)
        );
        assert_eq!(
            TokenEndpoint::parse("https://[::1/"),
            Err(ConfigError::InvalidUrl)
        );
    }

    #[test]
    fn scope_syntax() {
        assert!(valid_scope("a b:c"));
        assert!(!valid_scope("a  b"));
        assert!(!valid_scope(""));
        assert!(!valid_scope("a\"b"));
        assert!(!valid_scope("a\\b"));
        // The same answers as the RFC's grammar read literally.
        let reference = |s: &str| {
            s.split(' ').all(|t| {
                !t.is_empty()
                    && t.bytes().all(|b| {
                        b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
                    })
            })
        };
        let alphabet = [" ", "a", "!", "\"", "~", "\u{7f}", "é", "\t"];
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    let s = std::format!("{a}{b}{c}");
                    assert_eq!(valid_scope(&s), reference(&s), "{s:?}");
                    assert_eq!(valid_scope(&s[..a.len()]), reference(a), "{a:?}");
                }
            }
        }
    }

    #[test]
    fn config_validation() {
        let mk = || {
            Config::<8>::new(
                TokenEndpoint::parse("https://h/t").unwrap(),
                ClientId::new("id").unwrap(),
                ClientAuth::ClientIdOnly,
            )
        };
        assert_eq!(
            mk().with_scope("a\nb").unwrap_err(),
            ConfigError::ControlCharacter
        );
        assert_eq!(
            mk().with_audience("x\0").unwrap_err(),
            ConfigError::ControlCharacter
        );
        assert_eq!(
            mk().with_resources(&["not a uri"]).unwrap_err(),
            ConfigError::InvalidResource
        );
        assert_eq!(
            mk().with_resources(&["https://x/#f"]).unwrap_err(),
            ConfigError::InvalidResource
        );
        assert_eq!(
            mk().with_extra_params(&[("scope", "x")]).unwrap_err(),
            ConfigError::ReservedParameter
        );
        assert_eq!(
            mk().with_extra_params(&[("k", "v\r\n")]).unwrap_err(),
            ConfigError::ControlCharacter
        );
        assert!(
            mk().with_resources(&["urn:example:r", "https://a/b"])
                .is_ok()
        );
        assert_eq!(
            ClientSecret::<2>::new("abc").err(),
            Some(ConfigError::SecretTooLong {
                needed: 3,
                capacity: 2
            })
        );
    }
}
