//! Discovery (feature `discovery`): a device that knows only its issuer
//! finds the token endpoint itself.
//!
//! * Authorization server metadata
//!   ([RFC 8414](https://www.rfc-editor.org/rfc/rfc8414)), or the same
//!   document as OpenID Connect Discovery serves it
//!   (`/.well-known/openid-configuration`): [`Issuer`], [`WellKnown`],
//!   [`metadata_url`], [`encode_metadata_request`], [`parse_metadata`] →
//!   [`Metadata`].
//! * Protected resource metadata
//!   ([RFC 9728](https://www.rfc-editor.org/rfc/rfc9728)): the URL a
//!   resource server names in `WWW-Authenticate: Bearer
//!   resource_metadata="…"` ([`resource_metadata_url`]), and the document
//!   there ([`parse_resource_metadata`] → [`ResourceMetadata`]).
//! * [`Discovery`], the sans-IO GET exchange the drivers
//!   ([`blocking::discover`](crate::blocking::discover),
//!   [`blocking::fetch_resource_metadata`](crate::blocking::fetch_resource_metadata)
//!   and their async twins) run.
//!
//! The HTTP framing is the crate's
//! [`ResponseReader`](crate::http::ResponseReader), the JSON the crate's one
//! scanner; nothing here allocates, and every string kept is copied into
//! a caller's buffer whose exact need a [`CapacityError`] reports.

use crate::credentials::TokenEndpoint;
use crate::encode::Sink;
use crate::error::{Buffer, CapacityError, ConfigError, Error, HttpError, ResponseError};
use crate::exchange::Wire;
use crate::json::{Lit, Value, scan, skip_ws, string_at, unescape};
use crate::reader::Limits;

use crate::request::USER_AGENT;

// ---- Errors ---------------------------------------------------------------

pub use crate::error::DiscoveryError;

// ---- Where the documents are -----------------------------------------------

/// An authorization server's issuer identifier (RFC 8414 §2): an `https`
/// URL without query or fragment. Discovery starts here; the metadata's
/// `issuer` must then equal it byte for byte.
///
/// ```
/// use embedded_oauth2::discovery::{Issuer, WellKnown, metadata_url};
/// let issuer = Issuer::parse("https://as.example/tenant1")?;
/// let mut buf = [0u8; 96];
/// assert_eq!(
///     metadata_url(&issuer, WellKnown::OAuthAuthorizationServer, &mut buf)?,
///     "https://as.example/.well-known/oauth-authorization-server/tenant1"
/// );
/// assert_eq!(
///     metadata_url(&issuer, WellKnown::OpenIdConfiguration, &mut buf)?,
///     "https://as.example/tenant1/.well-known/openid-configuration"
/// );
/// # Ok::<(), embedded_oauth2::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Issuer<'a> {
    endpoint: TokenEndpoint<'a>,
    /// `scheme://authority`: the URL up to its path.
    origin_len: usize,
    allow_http: bool,
}

impl<'a> Issuer<'a> {
    /// Parses an `https://` issuer. Endpoints in its metadata must be
    /// `https://` too.
    pub fn parse(url: &'a str) -> Result<Self, ConfigError> {
        Self::parse_inner(url, false)
    }

    /// Parses an `https://` or `http://` issuer, and allows `http://`
    /// endpoints in its metadata. Use plain HTTP only on loopback or in
    /// tests.
    pub fn parse_allow_http(url: &'a str) -> Result<Self, ConfigError> {
        Self::parse_inner(url, true)
    }

    fn parse_inner(url: &'a str, allow_http: bool) -> Result<Self, ConfigError> {
        let endpoint = if allow_http {
            TokenEndpoint::parse_allow_http(url)?
        } else {
            TokenEndpoint::parse(url)?
        };
        // RFC 8414 §2: no query, no fragment (the fragment is refused above).
        if url.bytes().any(|b| b == b'?') {
            return Err(ConfigError::InvalidUrl);
        }
        let after_scheme = if endpoint.is_https() { 8 } else { 7 };
        let origin_len = url
            .bytes()
            .skip(after_scheme)
            .position(|b| b == b'/')
            .map_or(url.len(), |p| p.saturating_add(after_scheme));
        Ok(Self {
            endpoint,
            origin_len,
            allow_http,
        })
    }

    /// The issuer as given.
    pub fn as_str(&self) -> &'a str {
        self.endpoint.url()
    }

    /// The host and port to connect to (what the drivers pass to
    /// [`Connect::connect`](crate::blocking::Connect::connect)).
    pub fn endpoint(&self) -> &TokenEndpoint<'a> {
        &self.endpoint
    }

    /// Whether `http://` endpoints are accepted in its metadata.
    pub fn allows_http(&self) -> bool {
        self.allow_http
    }

    /// The path without a terminating `/` (empty for the root).
    fn trimmed_path(&self) -> &'a str {
        let p = self.endpoint.path();
        p.strip_suffix('/').unwrap_or(p)
    }

    fn origin(&self) -> &'a str {
        self.as_str().get(..self.origin_len).unwrap_or_default()
    }
}

/// Which well-known document of an issuer to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WellKnown {
    /// RFC 8414 §3.1: `/.well-known/oauth-authorization-server` inserted
    /// between the host and the issuer's path.
    OAuthAuthorizationServer,
    /// OpenID Connect Discovery 1.0 §4: `/.well-known/openid-configuration`
    /// appended to the issuer (what oidc-provider, Keycloak, Auth0, … serve).
    OpenIdConfiguration,
}

const OAUTH_AS: &str = "/.well-known/oauth-authorization-server";
const OPENID: &str = "/.well-known/openid-configuration";

/// The request target of the metadata document: `(before, path, after)`.
fn target<'a>(issuer: &Issuer<'a>, kind: WellKnown) -> [&'a str; 3] {
    match kind {
        WellKnown::OAuthAuthorizationServer => [OAUTH_AS, issuer.trimmed_path(), ""],
        WellKnown::OpenIdConfiguration => ["", issuer.trimmed_path(), OPENID],
    }
}

/// The URL of an issuer's metadata document, written into `buf`.
/// A short `buf` gives [`Error::Capacity`] with the exact size.
pub fn metadata_url<'b>(
    issuer: &Issuer<'_>,
    kind: WellKnown,
    buf: &'b mut [u8],
) -> Result<&'b str, Error> {
    let mut s = Sink::new(buf);
    s.put_str(issuer.origin());
    for part in target(issuer, kind) {
        s.put_str(part);
    }
    let n = s.finish(Buffer::Output)?;
    Ok(buf
        .get(..n)
        .and_then(|b| core::str::from_utf8(b).ok())
        .unwrap_or_default())
}

fn write_get(s: &mut Sink<'_>, ep: &TokenEndpoint<'_>, target: [&str; 3]) {
    s.put(b"GET ");
    for part in target {
        s.put_str(part);
    }
    s.put(b" HTTP/1.1\r\nHost: ");
    ep.write_host(s);
    s.put(b"\r\nAccept: application/json\r\nUser-Agent: ");
    s.put_str(USER_AGENT);
    s.put(b"\r\nConnection: close\r\n\r\n");
}

/// Writes the `GET` of an issuer's metadata document into `buf` (for
/// firmware with its own HTTP client); its length. Nothing secret is in it.
///
/// ```
/// use embedded_oauth2::discovery::{Issuer, WellKnown, encode_metadata_request};
/// let issuer = Issuer::parse("https://as.example:8443")?;
/// let mut buf = [0u8; 256];
/// let n = encode_metadata_request(&issuer, WellKnown::OpenIdConfiguration, &mut buf)?;
/// assert!(buf[..n].starts_with(
///     b"GET /.well-known/openid-configuration HTTP/1.1\r\nHost: as.example:8443\r\n"
/// ));
/// # Ok::<(), embedded_oauth2::Error>(())
/// ```
pub fn encode_metadata_request(
    issuer: &Issuer<'_>,
    kind: WellKnown,
    buf: &mut [u8],
) -> Result<usize, Error> {
    let mut s = Sink::new(buf);
    write_get(&mut s, issuer.endpoint(), target(issuer, kind));
    Ok(s.finish(Buffer::Request)?)
}

/// Writes the `GET` of the document at `url` (e.g. the protected resource
/// metadata a `WWW-Authenticate` challenge named) into `buf`; its length.
pub fn encode_get(url: &TokenEndpoint<'_>, buf: &mut [u8]) -> Result<usize, Error> {
    let mut s = Sink::new(buf);
    write_get(&mut s, url, ["", url.path(), ""]);
    Ok(s.finish(Buffer::Request)?)
}

// ---- Authorization server metadata ------------------------------------------

/// The client authentication methods an authorization server lists in
/// `token_endpoint_auth_methods_supported`, as far as this crate knows them
/// (others are ignored). Absent from the document, it is
/// `client_secret_basic` alone (RFC 8414 §2).
///
/// ```
/// use embedded_oauth2::discovery::AuthMethods;
/// let m = AuthMethods::CLIENT_SECRET_BASIC.union(AuthMethods::PRIVATE_KEY_JWT);
/// assert!(m.contains(AuthMethods::PRIVATE_KEY_JWT));
/// assert!(m.supports("client_secret_basic"));
/// assert!(!m.supports("client_secret_post"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AuthMethods(u8);

impl AuthMethods {
    /// `client_secret_basic`
    pub const CLIENT_SECRET_BASIC: Self = Self(1);
    /// `client_secret_post`
    pub const CLIENT_SECRET_POST: Self = Self(2);
    /// `client_secret_jwt`
    pub const CLIENT_SECRET_JWT: Self = Self(4);
    /// `private_key_jwt`
    pub const PRIVATE_KEY_JWT: Self = Self(8);
    /// `tls_client_auth` (RFC 8705)
    pub const TLS_CLIENT_AUTH: Self = Self(16);
    /// `self_signed_tls_client_auth` (RFC 8705)
    pub const SELF_SIGNED_TLS_CLIENT_AUTH: Self = Self(32);

    const NAMES: [(&'static str, Self); 6] = [
        ("client_secret_basic", Self::CLIENT_SECRET_BASIC),
        ("client_secret_post", Self::CLIENT_SECRET_POST),
        ("client_secret_jwt", Self::CLIENT_SECRET_JWT),
        ("private_key_jwt", Self::PRIVATE_KEY_JWT),
        ("tls_client_auth", Self::TLS_CLIENT_AUTH),
        (
            "self_signed_tls_client_auth",
            Self::SELF_SIGNED_TLS_CLIENT_AUTH,
        ),
    ];

    /// No method.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// The bits (1: basic, 2: post, 4: client_secret_jwt, 8:
    /// private_key_jwt, 16: tls_client_auth, 32:
    /// self_signed_tls_client_auth).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Both sets.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether every method of `other` is in the set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no method is in the set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the method named `name` (as
    /// [`ClientAuth::method_name`](crate::ClientAuth::method_name) gives it)
    /// is in the set; `false` for a name this crate does not know.
    pub fn supports(self, name: &str) -> bool {
        Self::NAMES
            .iter()
            .any(|&(n, bit)| n == name && self.contains(bit))
    }

    /// What [`ClientAuth::Auto`](crate::ClientAuth::Auto) should try first
    /// with a server that advertises these methods: [`AuthStyle::Post`](crate::AuthStyle::Post)
    /// when it lists `client_secret_post` but not `client_secret_basic`
    /// (give it to [`Client::assume_auth_style`](crate::Client::assume_auth_style));
    /// `None` otherwise (an empty list means the RFC 8414 default,
    /// `client_secret_basic`, and Auto's own order is right).
    ///
    /// ```
    /// use embedded_oauth2::AuthStyle;
    /// use embedded_oauth2::discovery::AuthMethods;
    /// assert_eq!(AuthMethods::CLIENT_SECRET_POST.auto_style(), Some(AuthStyle::Post));
    /// let both = AuthMethods::CLIENT_SECRET_POST.union(AuthMethods::CLIENT_SECRET_BASIC);
    /// assert_eq!(both.auto_style(), None);
    /// assert_eq!(AuthMethods::empty().auto_style(), None);
    /// ```
    pub const fn auto_style(self) -> Option<crate::AuthStyle> {
        if self.contains(Self::CLIENT_SECRET_POST) && !self.contains(Self::CLIENT_SECRET_BASIC) {
            Some(crate::AuthStyle::Post)
        } else {
            None
        }
    }

    fn of(lit: Lit<'_>) -> Self {
        Self::NAMES
            .iter()
            .find(|(n, _)| lit_eq(lit, n.as_bytes()))
            .map_or(Self::empty(), |&(_, bit)| bit)
    }
}

/// What a client needs of an authorization server's metadata
/// (RFC 8414 §2, RFC 8705 §5, RFC 9449 §5.1). The URLs are checked
/// ([`TokenEndpoint::parse`], or `parse_allow_http` when the issuer allows
/// plain HTTP) and borrow the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Metadata<'b> {
    /// The issuer (equal to the one it was fetched for).
    pub issuer: &'b str,
    /// `token_endpoint`: build the [`Config`](crate::Config) with it.
    pub token_endpoint: TokenEndpoint<'b>,
    /// `revocation_endpoint` (RFC 7009), if listed.
    pub revocation_endpoint: Option<TokenEndpoint<'b>>,
    /// `token_endpoint_auth_methods_supported`, the methods this crate
    /// knows.
    pub auth_methods: AuthMethods,
    /// Whether `dpop_signing_alg_values_supported` lists `ES256` (the
    /// algorithm of this crate's DPoP proofs).
    pub dpop_es256: bool,
    /// `mtls_endpoint_aliases.token_endpoint` (RFC 8705 §5): where a client
    /// authenticating with a certificate (or asking for certificate-bound
    /// tokens) sends its token request instead.
    pub mtls_token_endpoint: Option<TokenEndpoint<'b>>,
    /// `mtls_endpoint_aliases.revocation_endpoint` (RFC 8705 §5).
    pub mtls_revocation_endpoint: Option<TokenEndpoint<'b>>,
}

/// Whether the unescaped text of `lit` is `want`, without a copy.
fn lit_eq(lit: Lit<'_>, want: &[u8]) -> bool {
    if !lit.escaped {
        return lit.raw == want;
    }
    let mut at = 0usize;
    let mut same = true;
    unescape(lit, &mut |piece| {
        let end = at.saturating_add(piece.len());
        same = same && want.get(at..end) == Some(piece);
        at = end;
    });
    same && at == want.len()
}

/// Hands each string of the JSON array `raw` (the text the scan gave) to
/// `f`; an element that is not a string is [`ResponseError::WrongType`].
fn for_each_string<'a>(raw: &'a [u8], mut f: impl FnMut(Lit<'a>)) -> Result<(), ResponseError> {
    let mut i = skip_ws(raw, 0);
    if raw.get(i) != Some(&b'[') {
        return Err(ResponseError::WrongType);
    }
    i = skip_ws(raw, i + 1);
    if raw.get(i) == Some(&b']') {
        return Ok(());
    }
    loop {
        if raw.get(i) != Some(&b'"') {
            return Err(ResponseError::WrongType);
        }
        let (end, escaped) = string_at(raw, i)?;
        f(Lit {
            raw: raw.get(i + 1..end).unwrap_or_default(),
            escaped,
        });
        i = skip_ws(raw, end + 1);
        match raw.get(i) {
            Some(b',') => i = skip_ws(raw, i + 1),
            Some(b']') => return Ok(()),
            _ => return Err(ResponseError::Json),
        }
    }
}

/// One member read once: a second one is [`ResponseError::DuplicateMember`].
fn once<'a>(slot: &mut Option<Value<'a>>, v: Value<'a>, fail: &mut Option<ResponseError>) {
    if slot.is_some() {
        fail.get_or_insert(ResponseError::DuplicateMember);
    }
    *slot = Some(v);
}

fn string(v: Option<Value<'_>>) -> Result<Option<Lit<'_>>, ResponseError> {
    match v {
        None => Ok(None),
        Some(Value::Str(l)) => Ok(Some(l)),
        Some(Value::Other(_)) => Err(ResponseError::WrongType),
    }
}

fn array(v: Option<Value<'_>>) -> Result<Option<&[u8]>, ResponseError> {
    match v {
        None => Ok(None),
        Some(Value::Other(raw)) if raw.first() == Some(&b'[') => Ok(Some(raw)),
        Some(_) => Err(ResponseError::WrongType),
    }
}

/// Copies unescaped strings one after another into a caller's buffer,
/// counting what all of them need.
struct Copier<'o> {
    out: &'o mut [u8],
}

impl<'o> Copier<'o> {
    /// The unescaped length of `lit`.
    fn len(lit: Lit<'_>) -> usize {
        let mut n = 0usize;
        unescape(lit, &mut |p| n = n.saturating_add(p.len()));
        n
    }

    /// The size all of `lits` need, or the capacity error.
    fn check(&self, lits: &[Option<Lit<'_>>]) -> Result<(), CapacityError> {
        let needed = lits
            .iter()
            .flatten()
            .fold(0usize, |n, &l| n.saturating_add(Self::len(l)));
        if needed > self.out.len() {
            return Err(CapacityError::new(
                Buffer::Metadata,
                needed,
                self.out.len(),
                true,
            ));
        }
        Ok(())
    }

    /// Copies `lit` (which [`Copier::check`] made room for) and splits it
    /// off the buffer as text.
    fn take(&mut self, lit: Lit<'_>) -> &'o str {
        let out = core::mem::take(&mut self.out);
        let n = Self::len(lit).min(out.len());
        let (dst, rest) = out.split_at_mut(n);
        let mut at = 0usize;
        unescape(lit, &mut |p| {
            let end = at.saturating_add(p.len());
            if let (Some(d), Some(s)) = (dst.get_mut(at..end), p.get(..)) {
                d.copy_from_slice(s);
            }
            at = end;
        });
        self.out = rest;
        // Not UTF-8 (an escaped non-ASCII character): the URL check refuses
        // the empty string.
        core::str::from_utf8(dst).unwrap_or_default()
    }
}

fn endpoint(url: &str, allow_http: bool) -> Result<TokenEndpoint<'_>, DiscoveryError> {
    if allow_http {
        TokenEndpoint::parse_allow_http(url)
    } else {
        TokenEndpoint::parse(url)
    }
    .map_err(DiscoveryError::Endpoint)
}

fn status_ok(status: u16) -> Result<(), Error> {
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(HttpError::UnexpectedStatus {
            status,
            retry_after: None,
        }
        .into())
    }
}

/// Parses an authorization server metadata document (status and body of
/// the response to [`encode_metadata_request`]) fetched for `issuer`.
///
/// * the `issuer` member must equal `issuer` exactly
///   ([`DiscoveryError::IssuerMismatch`]), `token_endpoint` must be there;
/// * the endpoint URLs are unescaped into `out` (their total length: a short
///   `out` is [`Error::Capacity`] with [`Buffer::Metadata`] and the exact
///   need) and checked as [`TokenEndpoint`]s;
/// * the body is scanned once, without recursion or allocation.
///
/// ```
/// use embedded_oauth2::discovery::{AuthMethods, Issuer, parse_metadata};
/// let issuer = Issuer::parse("https://as.example")?;
/// let body = br#"{"issuer":"https://as.example","token_endpoint":"https:\/\/as.example\/token",
///     "token_endpoint_auth_methods_supported":["private_key_jwt","none"]}"#;
/// let mut out = [0u8; 64];
/// let m = parse_metadata(200, body, &issuer, &mut out)?;
/// assert_eq!(m.token_endpoint.url(), "https://as.example/token");
/// assert_eq!(m.auth_methods, AuthMethods::PRIVATE_KEY_JWT);
/// # Ok::<(), embedded_oauth2::Error>(())
/// ```
pub fn parse_metadata<'b>(
    status: u16,
    body: &[u8],
    issuer: &Issuer<'b>,
    out: &'b mut [u8],
) -> Result<Metadata<'b>, Error> {
    status_ok(status)?;
    let mut fail = None;
    let [
        mut iss,
        mut token,
        mut revocation,
        mut methods,
        mut dpop,
        mut mtls,
    ] = [None; 6];
    scan(body, |k, v| {
        let slot = if lit_eq(k, b"issuer") {
            &mut iss
        } else if lit_eq(k, b"token_endpoint") {
            &mut token
        } else if lit_eq(k, b"revocation_endpoint") {
            &mut revocation
        } else if lit_eq(k, b"token_endpoint_auth_methods_supported") {
            &mut methods
        } else if lit_eq(k, b"dpop_signing_alg_values_supported") {
            &mut dpop
        } else if lit_eq(k, b"mtls_endpoint_aliases") {
            &mut mtls
        } else {
            return;
        };
        once(slot, v, &mut fail);
    })?;
    if let Some(e) = fail {
        return Err(e.into());
    }
    let iss = string(iss)?.ok_or(DiscoveryError::MissingIssuer)?;
    if !lit_eq(iss, issuer.as_str().as_bytes()) {
        return Err(DiscoveryError::IssuerMismatch.into());
    }
    let token = string(token)?.ok_or(DiscoveryError::MissingTokenEndpoint)?;
    let revocation = string(revocation)?;
    let auth_methods = match array(methods)? {
        None => AuthMethods::CLIENT_SECRET_BASIC,
        Some(raw) => {
            let mut m = AuthMethods::empty();
            for_each_string(raw, |l| m = m.union(AuthMethods::of(l)))?;
            m
        }
    };
    let mut dpop_es256 = false;
    if let Some(raw) = array(dpop)? {
        for_each_string(raw, |l| dpop_es256 |= lit_eq(l, b"ES256"))?;
    }
    let (mut mtls_token, mut mtls_revocation) = (None, None);
    match mtls {
        None => {}
        Some(Value::Other(raw)) if raw.first() == Some(&b'{') => {
            let (mut t, mut r) = (None, None);
            scan(raw, |k, v| {
                if lit_eq(k, b"token_endpoint") {
                    once(&mut t, v, &mut fail);
                } else if lit_eq(k, b"revocation_endpoint") {
                    once(&mut r, v, &mut fail);
                }
            })?;
            if let Some(e) = fail {
                return Err(e.into());
            }
            mtls_token = string(t)?;
            mtls_revocation = string(r)?;
        }
        Some(_) => return Err(ResponseError::WrongType.into()),
    }
    let mut copier = Copier { out };
    copier.check(&[Some(token), revocation, mtls_token, mtls_revocation])?;
    let http = issuer.allows_http();
    let mut url = |l: Option<Lit<'_>>| -> Result<Option<TokenEndpoint<'b>>, DiscoveryError> {
        l.map(|l| endpoint(copier.take(l), http)).transpose()
    };
    let token_endpoint = url(Some(token))?.ok_or(DiscoveryError::MissingTokenEndpoint)?;
    Ok(Metadata {
        issuer: issuer.as_str(),
        token_endpoint,
        revocation_endpoint: url(revocation)?,
        auth_methods,
        dpop_es256,
        mtls_token_endpoint: url(mtls_token)?,
        mtls_revocation_endpoint: url(mtls_revocation)?,
    })
}

// ---- Protected resource metadata (RFC 9728) ---------------------------------

/// What a client needs of a protected resource's metadata (RFC 9728 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct ResourceMetadata<'b> {
    /// The resource (equal to the URL the client called).
    pub resource: &'b str,
    /// The first of `authorization_servers`: an issuer to discover (checked
    /// as [`Issuer::parse`] checks it), if the document lists any.
    ///
    /// **The resource server chose it.** Discovering it and sending the
    /// client's credentials there trusts whoever controls the resource
    /// server (or its DNS) with the client secret (RFC 9728 §7.6, §7.7).
    /// Use it only when it is an authorization server the device already
    /// trusts: [`ResourceMetadata::trusted_authorization_server`].
    pub authorization_server: Option<&'b str>,
}

impl<'b> ResourceMetadata<'b> {
    /// [`ResourceMetadata::authorization_server`] when it is exactly one of
    /// the issuers the device was configured to trust; `None` otherwise.
    ///
    /// ```
    /// use embedded_oauth2::discovery::parse_resource_metadata;
    /// let body = br#"{"resource":"https://rs.example/r","authorization_servers":["https://evil.example"]}"#;
    /// let mut out = [0u8; 32];
    /// let m = parse_resource_metadata(200, body, "https://rs.example/r", false, &mut out)?;
    /// assert_eq!(m.trusted_authorization_server(&["https://as.example"]), None);
    /// assert_eq!(
    ///     m.trusted_authorization_server(&["https://as.example", "https://evil.example"]),
    ///     Some("https://evil.example")
    /// );
    /// # Ok::<(), embedded_oauth2::Error>(())
    /// ```
    pub fn trusted_authorization_server(&self, trusted: &[&str]) -> Option<&'b str> {
        self.authorization_server
            .filter(|a| trusted.iter().any(|t| t == a))
    }
}

/// Parses a protected resource metadata document (RFC 9728 §3.2) fetched
/// after calling `resource` (the URL of the request the resource server
/// answered with the challenge): its `resource` must equal it exactly
/// (§3.3). The first authorization server is unescaped into `out` (a short
/// `out` is [`Error::Capacity`] with the exact need); `http://` ones are
/// refused unless `allow_http`.
///
/// ```
/// use embedded_oauth2::discovery::parse_resource_metadata;
/// let body = br#"{"resource":"https://rs.example/r/1","authorization_servers":["https://as.example"]}"#;
/// let mut out = [0u8; 32];
/// let m = parse_resource_metadata(200, body, "https://rs.example/r/1", false, &mut out)?;
/// assert_eq!(m.authorization_server, Some("https://as.example"));
/// # Ok::<(), embedded_oauth2::Error>(())
/// ```
pub fn parse_resource_metadata<'b>(
    status: u16,
    body: &[u8],
    resource: &'b str,
    allow_http: bool,
    out: &'b mut [u8],
) -> Result<ResourceMetadata<'b>, Error> {
    status_ok(status)?;
    let mut fail = None;
    let (mut res, mut servers) = (None, None);
    scan(body, |k, v| {
        if lit_eq(k, b"resource") {
            once(&mut res, v, &mut fail);
        } else if lit_eq(k, b"authorization_servers") {
            once(&mut servers, v, &mut fail);
        }
    })?;
    if let Some(e) = fail {
        return Err(e.into());
    }
    let res = string(res)?.ok_or(DiscoveryError::MissingResource)?;
    if !lit_eq(res, resource.as_bytes()) {
        return Err(DiscoveryError::ResourceMismatch.into());
    }
    let mut first = None;
    if let Some(raw) = array(servers)? {
        for_each_string(raw, |l| {
            first.get_or_insert(l);
        })?;
    }
    let mut copier = Copier { out };
    copier.check(&[first])?;
    let authorization_server = match first {
        None => None,
        Some(l) => {
            let s = copier.take(l);
            if allow_http {
                Issuer::parse_allow_http(s)
            } else {
                Issuer::parse(s)
            }
            .map_err(DiscoveryError::Endpoint)?;
            Some(s)
        }
    };
    Ok(ResourceMetadata {
        resource,
        authorization_server,
    })
}

/// The `resource_metadata` URL of the `Bearer` challenge in a
/// `WWW-Authenticate` header value (RFC 9728 §5.1), from the raw header
/// bytes (other challenges and parameters are skipped; RFC 9110 §11.6.1).
/// `None` when there is none, or it is not a plain quoted string or token
/// of visible ASCII (a URL needs no escapes).
///
/// ```
/// use embedded_oauth2::discovery::resource_metadata_url;
/// let h = br#"DPoP algs="ES256", Bearer error="invalid_token", resource_metadata="https://rs.example/.well-known/oauth-protected-resource""#;
/// assert_eq!(resource_metadata_url(h), Some("https://rs.example/.well-known/oauth-protected-resource"));
/// assert_eq!(resource_metadata_url(b"Bearer realm=\"x\""), None);
/// ```
pub fn resource_metadata_url(www_authenticate: &[u8]) -> Option<&str> {
    let b = www_authenticate;
    let ows = |mut i: usize| {
        while matches!(b.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        i
    };
    let tchar = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
    let token_end = |mut i: usize| {
        while b.get(i).is_some_and(|&c| tchar(c)) {
            i += 1;
        }
        i
    };
    let mut bearer = false;
    let mut i = 0usize;
    loop {
        while matches!(b.get(i), Some(b' ' | b'\t' | b',')) {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let end = token_end(i);
        if end == i {
            return None;
        }
        let name = b.get(i..end).unwrap_or_default();
        let eq = ows(end);
        if b.get(eq) != Some(&b'=') {
            // Not a parameter: the scheme of the next challenge.
            bearer = name.eq_ignore_ascii_case(b"Bearer");
            i = eq;
            continue;
        }
        let v = ows(eq + 1);
        let (value, next, plain) = match b.get(v) {
            Some(b'"') => {
                let mut j = v + 1;
                let mut plain = true;
                loop {
                    match b.get(j) {
                        Some(b'"') => break,
                        Some(b'\\') => {
                            plain = false;
                            j += 2;
                        }
                        Some(_) => j += 1,
                        None => return None,
                    }
                }
                (b.get(v + 1..j).unwrap_or_default(), j + 1, plain)
            }
            Some(&c) if tchar(c) => {
                let e = token_end(v);
                (b.get(v..e).unwrap_or_default(), e, true)
            }
            // A token68 ending in `=`s (`Basic dXNlcg==`).
            _ => {
                i = eq;
                while b.get(i) == Some(&b'=') {
                    i += 1;
                }
                continue;
            }
        };
        // A value ends at a comma or the end of the header.
        let next = ows(next);
        if !matches!(b.get(next), None | Some(b',')) {
            return None;
        }
        if bearer && name.eq_ignore_ascii_case(b"resource_metadata") {
            let ok = plain && !value.is_empty() && crate::json::visible_ascii(value);
            return if ok {
                core::str::from_utf8(value).ok()
            } else {
                None
            };
        }
        i = next;
    }
}

// ---- The sans-IO exchange ----------------------------------------------------

/// One metadata `GET` and its response over a caller's work buffer, with no
/// I/O: the shape of [`Exchange`](crate::http::Exchange). Write
/// [`Discovery::to_send`], report [`Discovery::sent`]; read into
/// [`Discovery::recv_buf`] and report [`Discovery::received`] until it
/// returns `true`; then [`Discovery::finish`] (authorization server
/// metadata) or [`Discovery::finish_resource`] (protected resource
/// metadata). The parsed strings live in the work buffer behind the
/// response. The request is wiped once sent, as every exchange's is.
///
/// ```
/// use embedded_oauth2::Limits;
/// use embedded_oauth2::discovery::{Discovery, Issuer, WellKnown};
/// let issuer = Issuer::parse("https://as.example")?;
/// let mut buf = [0u8; 512];
/// let mut ex = Discovery::new(&issuer, WellKnown::OpenIdConfiguration, &mut buf, Limits::new())?;
/// let n = ex.to_send().len();
/// ex.sent(n);
/// let body = br#"{"issuer":"https://as.example","token_endpoint":"https://as.example/t"}"#;
/// let mut reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
/// reply.extend_from_slice(body);
/// ex.recv_buf()?[..reply.len()].copy_from_slice(&reply);
/// assert!(ex.received(reply.len())?);
/// assert_eq!(ex.finish(&issuer)?.token_endpoint.path(), "/t");
/// # Ok::<(), embedded_oauth2::Error>(())
/// ```
pub struct Discovery<'w> {
    wire: Wire<'w>,
}

impl<'w> Discovery<'w> {
    /// The `GET` of an issuer's metadata document.
    pub fn new(
        issuer: &Issuer<'_>,
        kind: WellKnown,
        buf: &'w mut [u8],
        limits: Limits,
    ) -> Result<Self, Error> {
        let request_len = encode_metadata_request(issuer, kind, buf)?;
        Ok(Self::with(buf, request_len, limits))
    }

    /// The `GET` of the document at `url` (protected resource metadata).
    pub fn get(url: &TokenEndpoint<'_>, buf: &'w mut [u8], limits: Limits) -> Result<Self, Error> {
        let request_len = encode_get(url, buf)?;
        Ok(Self::with(buf, request_len, limits))
    }

    fn with(buf: &'w mut [u8], request_len: usize, limits: Limits) -> Self {
        Self {
            wire: Wire::new(buf, request_len, limits),
        }
    }

    /// The request bytes not yet sent.
    pub fn to_send(&self) -> &[u8] {
        self.wire.to_send()
    }

    /// Reports that the transport accepted `n` more request bytes.
    pub fn sent(&mut self, n: usize) {
        self.wire.sent(n);
    }

    /// Where the next read of the response goes. An error page that does
    /// not fit is reported as its status, not as a capacity problem.
    pub fn recv_buf(&mut self) -> Result<&mut [u8], Error> {
        self.wire.reader.spare_or_status(self.wire.buf)
    }

    /// Reports `n` bytes read into [`Discovery::recv_buf`] (`0`: the peer
    /// closed); `true` when the response is complete. A redirect is refused
    /// (RFC 8414 §3.2 answers with 200 or an error).
    pub fn received(&mut self, n: usize) -> Result<bool, Error> {
        self.wire.reader.advance_no_redirect(self.wire.buf, n)
    }

    /// The status, the body and the rest of the buffer; the capacity
    /// error of a parse is made to count the whole buffer.
    fn parts(self) -> Result<Parts<'w>, Error> {
        let reader = &self.wire.reader;
        let head = reader.head().copied().ok_or(HttpError::UnexpectedEof)?;
        if !reader.is_complete() {
            return Err(HttpError::UnexpectedEof.into());
        }
        if !(200..300).contains(&head.status) {
            return Err(HttpError::UnexpectedStatus {
                status: head.status,
                retry_after: head.retry_after,
            }
            .into());
        }
        let range = reader.body_range();
        let buf = self.wire.buf;
        let end = range.end.min(buf.len());
        let (front, rest) = buf.split_at_mut(end);
        let front: &'w [u8] = front;
        Ok((head.status, front.get(range).unwrap_or_default(), rest, end))
    }

    /// Parses the authorization server metadata (see [`parse_metadata`]).
    pub fn finish<'r>(self, issuer: &Issuer<'r>) -> Result<Metadata<'r>, Error>
    where
        'w: 'r,
    {
        let (status, body, rest, offset) = self.parts()?;
        parse_metadata(status, body, issuer, rest).map_err(|e| whole(e, offset))
    }

    /// Parses protected resource metadata fetched after calling `resource`
    /// (see [`parse_resource_metadata`]).
    pub fn finish_resource<'r>(
        self,
        resource: &'r str,
        allow_http: bool,
    ) -> Result<ResourceMetadata<'r>, Error>
    where
        'w: 'r,
    {
        let (status, body, rest, offset) = self.parts()?;
        parse_resource_metadata(status, body, resource, allow_http, rest)
            .map_err(|e| whole(e, offset))
    }
}

/// A complete response: status, body, the buffer behind it, and where that
/// begins.
type Parts<'w> = (u16, &'w [u8], &'w mut [u8], usize);

/// A capacity error of the space behind the response, as the whole work
/// buffer's.
fn whole(e: Error, offset: usize) -> Error {
    match e {
        Error::Capacity(mut c) => {
            c.needed = c.needed.saturating_add(offset);
            c.available = c.available.saturating_add(offset);
            Error::Capacity(c)
        }
        other => other,
    }
}

/// The discovery drivers, written once for the blocking and the async
/// `Connect` (see `src/driver.rs` for the token's).
impl crate::exchange::Pump for Discovery<'_> {
    fn to_send(&self) -> &[u8] {
        Discovery::to_send(self)
    }
    fn sent(&mut self, n: usize) {
        Discovery::sent(self, n);
    }
    fn recv_buf(&mut self) -> Result<&mut [u8], Error> {
        Discovery::recv_buf(self)
    }
    fn received(&mut self, n: usize) -> Result<bool, Error> {
        Discovery::received(self, n)
    }
}

macro_rules! discovery_driver {
    (
        connect: $connect:path,
        await: [$($await:tt)*],
        maybe_async: [$($async:ident)?],
    ) => {
        use crate::credentials::TokenEndpoint;
        use crate::discovery::{Discovery, Issuer, Metadata, ResourceMetadata, WellKnown};
        use crate::error::Error;
        use crate::reader::Limits;

        /// Fetches and parses an issuer's metadata document over a
        /// connection to the issuer's host (see
        /// [`parse_metadata`](crate::discovery::parse_metadata)). `buf` holds
        /// the request, then the response, then the endpoint URLs the
        /// result borrows: 2 KiB takes oidc-provider's 1.6 KB document.
        /// A redirect is refused.
        pub $($async)? fn discover<'b, K: $connect>(
            connector: &mut K,
            issuer: &Issuer<'b>,
            kind: WellKnown,
            buf: &'b mut [u8],
        ) -> Result<Metadata<'b>, Error<K::Error>> {
            let mut ex = Discovery::new(issuer, kind, buf, Limits::new()).map_err(Error::widen)?;
            super::exchange_once(connector, issuer.endpoint(), &mut ex) $($await)*?;
            ex.finish(issuer).map_err(Error::widen)
        }

        /// Fetches and parses the protected resource metadata at `url`
        /// (from [`resource_metadata_url`](crate::discovery::resource_metadata_url))
        /// after a request to `resource` was refused (see
        /// [`parse_resource_metadata`](crate::discovery::parse_resource_metadata));
        /// an `http://` authorization server is accepted only when `url`
        /// is `http://` too.
        pub $($async)? fn fetch_resource_metadata<'b, K: $connect>(
            connector: &mut K,
            url: &TokenEndpoint<'_>,
            resource: &'b str,
            buf: &'b mut [u8],
        ) -> Result<ResourceMetadata<'b>, Error<K::Error>> {
            let mut ex = Discovery::get(url, buf, Limits::new()).map_err(Error::widen)?;
            super::exchange_once(connector, url, &mut ex) $($await)*?;
            ex.finish_resource(resource, !url.is_https()).map_err(Error::widen)
        }
    };
}

pub(crate) use discovery_driver;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lit_eq_compares_unescaped_text() {
        let l = |raw: &'static str, escaped| Lit {
            raw: raw.as_bytes(),
            escaped,
        };
        assert!(lit_eq(l("a\\/b", true), b"a/b"));
        assert!(!lit_eq(l("a\\/b", true), b"a/bc"));
        assert!(!lit_eq(l("a\\/b", true), b"a/"));
        assert!(lit_eq(l("", false), b""));
    }

    #[test]
    fn arrays_of_strings() {
        let mut seen = std::vec::Vec::new();
        for_each_string(br#" [ "a" , "b\"" ] "#, |l| seen.push(l.raw)).unwrap();
        assert_eq!(seen, [&b"a"[..], &b"b\\\""[..]]);
        assert_eq!(
            for_each_string(b"[1]", |_| {}),
            Err(ResponseError::WrongType)
        );
        assert_eq!(for_each_string(b"[]", |_| {}), Ok(()));
        for cut in [&b"["[..], b"[\"a\"", b"[\"a\",", b"[\"a"] {
            assert!(for_each_string(cut, |_| {}).is_err());
        }
    }

    /// The resource server's authorization server is used only when it is
    /// exactly one of the trusted issuers.
    #[test]
    fn only_a_trusted_authorization_server_is_named() {
        let m = ResourceMetadata {
            resource: "https://rs.example/r",
            authorization_server: Some("https://as.example"),
        };
        assert_eq!(m.trusted_authorization_server(&[]), None);
        assert_eq!(
            m.trusted_authorization_server(&["https://as.example/", "https://as.example.evil"]),
            None
        );
        assert_eq!(
            m.trusted_authorization_server(&["https://x.example", "https://as.example"]),
            Some("https://as.example")
        );
        let none = ResourceMetadata {
            authorization_server: None,
            ..m
        };
        assert_eq!(
            none.trusted_authorization_server(&["https://as.example"]),
            None
        );
    }
}
