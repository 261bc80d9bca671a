//! Interoperability: the blocking [`Client`] against a real authorization
//! server (oidc-provider 8.8.1, `tests/authz-server/`) and its protected
//! receipt service, on loopback.
//!
//! Every scenario is a generic function over a [`Net`]: the token connector
//! (`K: blocking::Connect`) and the raw streams to the receipt service and
//! to the revocation/introspection endpoints. The `http` module runs them
//! over plain TCP (`TokenEndpoint::parse_allow_http`, a connector closure
//! around the crate's std opener, `tls::host::StdTcp`); the `https` module runs the same scenarios
//! over TLS 1.3 with the server certificate verified against the generated
//! test CA.
//!
//! Device-sized memory throughout: `Client<_, 64, 2048, 128>` (64-byte
//! secret, 2 KiB token, 128-byte scope) and a 4 KiB work buffer; a clock
//! from `std::time::Instant`. One server is shared by all tests of this
//! binary ([`AuthzServer::shared`]).

mod support {
    pub mod authz;
}

/// The TLS 1.3 connector of the examples (embedded-tls, verified against a CA).
#[path = "../cli/src/tls.rs"]
mod tls;

use std::time::Duration;

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use embedded_io::{Read, Write};
use embedded_oauth2::blocking::Connect;
use embedded_oauth2::tls::blocking::Open;
use embedded_oauth2::{
    Attempt, CallError, Client, ClientAuth, ClientId, ClientSecret, Clock, Config, Error,
    ErrorCode, Freshness, Instant, RefreshPolicy, Token, TokenEndpoint, TokenType,
};
use support::authz::AuthzServer;
use tls::{HostTls, StdSocket, StdTcp};

// ---------------------------------------------------------------------------
// Device-sized memory
// ---------------------------------------------------------------------------

/// Client secret capacity.
const N: usize = 64;
/// Access token capacity: the receipts JWTs here are ~470 bytes; real
/// ones run to 2 KiB.
const T: usize = 2048;
/// Scope capacity.
const S: usize = 128;
/// The work buffer (request, response, parsing).
const WORK: usize = 4096;

/// I/O timeout on every loopback socket, so a hung server fails the test
/// instead of hanging it.
const IO_TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------
// Transports
// ---------------------------------------------------------------------------

/// How the scenarios reach the servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// Plain HTTP to `http://127.0.0.1:<port>`.
    Http,
    /// TLS 1.3 to `https://localhost:<port>`, certificate checked against `ca.pem`.
    Https,
}

/// The listeners the tests talk to besides the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    /// The authorization server (revocation, introspection).
    Authz,
    /// The receipt service (`GET /receipts/<id>`).
    Receipts,
}

impl Transport {
    /// The host name the client connects to (and, for TLS, verifies).
    fn host(self) -> &'static str {
        match self {
            Transport::Http => "127.0.0.1",
            Transport::Https => "localhost",
        }
    }

    fn port(self, service: Service) -> u16 {
        let srv = server();
        match (self, service) {
            (Transport::Http, Service::Authz) => srv.http_port(),
            (Transport::Https, Service::Authz) => srv.https_port(),
            (Transport::Http, Service::Receipts) => srv.receipts_http_port(),
            (Transport::Https, Service::Receipts) => srv.receipts_https_port(),
        }
    }

    /// `host:port`, for the `Host` header.
    fn authority(self, service: Service) -> String {
        format!("{}:{}", self.host(), self.port(service))
    }

    /// The token endpoint URL.
    fn token_url(self) -> String {
        let srv = server();
        let path = srv.get("token_path");
        match self {
            Transport::Http => srv.http_url(path),
            Transport::Https => srv.https_url(path),
        }
    }

    /// The endpoint as a device would configure it: `https://` through the
    /// strict parser, `http://` only through `parse_allow_http`.
    fn endpoint(self, url: &str) -> TokenEndpoint<'_> {
        match self {
            Transport::Http => TokenEndpoint::parse_allow_http(url),
            Transport::Https => TokenEndpoint::parse(url),
        }
        .unwrap_or_else(|e| panic!("token endpoint {url}: {e}"))
    }
}

/// A transport: a token connector for the client, and raw streams for the
/// test's own requests (receipts, revocation, introspection).
trait Net {
    const TRANSPORT: Transport;
    /// The connector handed to the client.
    type Connector: Connect;
    /// A raw stream to one of the services.
    type Stream<'s>: Read + Write
    where
        Self: 's;
    /// A new token connector (one per client, like a device has one).
    fn connector(&self) -> Self::Connector;
    /// Opens a raw stream to `service`.
    fn open(&mut self, service: Service) -> Self::Stream<'_>;
}

/// Plain TCP on loopback.
struct HttpNet;

/// A TCP connection with timeouts (the crate's std opener).
fn tcp(host: &str, port: u16) -> std::io::Result<StdSocket> {
    StdTcp::new(IO_TIMEOUT).open(host, port)
}

/// The token connector of the plain-HTTP runs: a closure (coerced to a
/// function pointer so the type can be named).
type TcpConnector = fn(&TokenEndpoint<'_>) -> Result<StdSocket, std::io::Error>;

impl Net for HttpNet {
    const TRANSPORT: Transport = Transport::Http;
    type Connector = TcpConnector;
    type Stream<'s> = StdSocket;

    fn connector(&self) -> TcpConnector {
        |ep: &TokenEndpoint<'_>| -> Result<StdSocket, std::io::Error> { tcp(ep.host(), ep.port()) }
    }

    fn open(&mut self, service: Service) -> StdSocket {
        let t = Self::TRANSPORT;
        tcp(t.host(), t.port(service))
            .unwrap_or_else(|e| panic!("connecting to {service:?} over {t:?}: {e}"))
    }
}

/// TLS 1.3 (embedded-tls) to `localhost`, the server certificate verified
/// against the generated `ca.pem`, for the token endpoint and the raw
/// streams alike.
struct TlsNet {
    ca: Vec<u8>,
    /// For the test's own requests (one stream at a time).
    raw: tls::TlsConnector,
}

impl TlsNet {
    fn new() -> Self {
        let path = server().ca_pem();
        let ca = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let raw = Self::make(&ca);
        Self { ca, raw }
    }

    fn make(ca: &[u8]) -> tls::TlsConnector {
        tls::connector(ca, None)
            .unwrap_or_else(|e| panic!("TLS connector: {e}"))
            .with_timeout(IO_TIMEOUT)
    }
}

impl Net for TlsNet {
    const TRANSPORT: Transport = Transport::Https;
    type Connector = tls::TlsConnector;
    type Stream<'s> = tls::TlsStream<'s>;

    fn connector(&self) -> tls::TlsConnector {
        Self::make(&self.ca)
    }

    fn open(&mut self, service: Service) -> tls::TlsStream<'_> {
        let t = Self::TRANSPORT;
        self.raw
            .open(t.host(), t.port(service))
            .unwrap_or_else(|e| {
                panic!(
                    "TLS to {service:?}: {e}\n--- server stderr ---\n{}",
                    server().stderr_log()
                )
            })
    }
}

/// Counts the connections a client opens; while `down`, every connection
/// goes to a closed port instead (the authorization server is unreachable).
struct Counting<K> {
    inner: K,
    count: usize,
    down: bool,
}

impl<K> Counting<K> {
    fn new(inner: K) -> Self {
        Self {
            inner,
            count: 0,
            down: false,
        }
    }
}

impl<K: Connect> Connect for Counting<K> {
    type Error = K::Error;
    type Connection<'c>
        = K::Connection<'c>
    where
        Self: 'c;

    fn connect(&mut self, ep: &TokenEndpoint<'_>) -> Result<K::Connection<'_>, K::Error> {
        self.count += 1;
        if self.down {
            // Port 1 on loopback: nothing listens there.
            let closed = TokenEndpoint::parse_allow_http("http://localhost:1/token")
                .expect("a valid endpoint");
            return self.inner.connect(&closed);
        }
        self.inner.connect(ep)
    }
}

/// The error of a token request over the transport `X`.
type TokenError<X> = Error<<<X as Net>::Connector as Connect>::Error>;

// ---------------------------------------------------------------------------
// Client set-up
// ---------------------------------------------------------------------------

fn server() -> &'static AuthzServer {
    AuthzServer::shared()
}

/// A monotonic clock in milliseconds since the client was made.
fn real_clock() -> impl Clock {
    let boot = std::time::Instant::now();
    move || Instant::from_millis(u64::try_from(boot.elapsed().as_millis()).unwrap_or(u64::MAX))
}

fn secret(s: &str) -> ClientSecret<N> {
    ClientSecret::new(s).expect("secret fits")
}

/// A configuration for client `name` of the ready file, authenticating with
/// `auth` (built from its secret).
fn config<'a>(
    t: Transport,
    url: &'a str,
    name: &str,
    auth: fn(ClientSecret<N>) -> ClientAuth<N>,
) -> Config<'a, N> {
    let (id, s) = server().client(name);
    Config::new(
        t.endpoint(url),
        ClientId::new(id).expect("client id"),
        auth(secret(s)),
    )
}

fn device(config: Config<'_, N>) -> Client<'_, impl Clock, N, T, S> {
    Client::new(config, real_clock())
}

/// A device for the 4-second tokens of `https://short.example/`: renewals
/// 2 s apart are what that resource is for, so the policy's 10 s floor
/// between automatic fetches comes down to 1 s.
fn short_lived_device(config: Config<'_, N>) -> Client<'_, impl Clock, N, T, S> {
    device(config).with_policy(RefreshPolicy::new().with_min_interval(Duration::from_secs(1)))
}

/// What a test wants to know of a token, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Issued {
    access: String,
    scope: Option<String>,
    expires_in: Option<u64>,
    lifetime: Duration,
}

fn issued<const TT: usize, const SS: usize>(t: &Token<TT, SS>) -> Issued {
    assert_eq!(t.token_type(), TokenType::Bearer);
    Issued {
        access: t.expose_secret().to_owned(),
        scope: t.scope().map(str::to_owned),
        expires_in: t.expires_in(),
        lifetime: t.lifetime(),
    }
}

/// One token request with a fresh client and connector; returns the result
/// and how many connections were opened.
fn fetch<X: Net>(net: &X, config: Config<'_, N>) -> (Result<Issued, TokenError<X>>, usize) {
    let mut client = device(config);
    let mut conn = Counting::new(net.connector());
    let mut work = [0u8; WORK];
    let result = client.token(&mut conn, &mut work).map(issued);
    assert!(work.iter().all(|&b| b == 0), "work buffer not wiped");
    if result.is_err() {
        assert!(
            client.cached().is_none(),
            "a failed first fetch cached something"
        );
    }
    (result, conn.count)
}

/// [`fetch`] that must succeed with exactly one connection.
fn fetch_ok<X: Net>(net: &X, config: Config<'_, N>) -> Issued {
    let (result, count) = fetch(net, config);
    let token = result.unwrap_or_else(|e| panic!("token request over {:?}: {e:?}", X::TRANSPORT));
    assert_eq!(count, 1, "one connection per token request");
    assert!(!token.access.is_empty());
    token
}

/// Like [`fetch`], but the request must fail with an OAuth error
/// response: the error and the free text the client kept.
fn fetch_oauth_error<X: Net>(
    net: &X,
    config: Config<'_, N>,
) -> (
    embedded_oauth2::error::OAuthError,
    embedded_oauth2::error::ErrorDetails,
) {
    let mut client = device(config);
    let mut conn = Counting::new(net.connector());
    let mut work = [0u8; WORK];
    let result = client.token(&mut conn, &mut work).map(issued);
    assert!(work.iter().all(|&b| b == 0), "work buffer not wiped");
    assert_eq!(conn.count, 1);
    assert!(client.cached().is_none());
    match result {
        Err(Error::OAuth(e)) => (e, client.error_details().copied().expect("details kept")),
        other => panic!("expected an OAuth error response, got {other:?}"),
    }
}

/// Decodes a JWT's header and payload after checking it is three
/// base64url parts.
fn jwt_parts(token: &str) -> Option<(serde_json::Value, serde_json::Value)> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3
        || parts.iter().any(|p| {
            p.is_empty()
                || !p
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    {
        return None;
    }
    let json = |p: &str| -> Option<serde_json::Value> {
        serde_json::from_slice(&Base64UrlUnpadded::decode_vec(p).ok()?).ok()
    };
    Some((json(parts[0])?, json(parts[1])?))
}

/// Asserts `token` is an RFC 9068 JWT access token for `aud`, issued to `client_id`.
fn assert_receipts_jwt(token: &str, client_id: &str) {
    let (header, claims) =
        jwt_parts(token).unwrap_or_else(|| panic!("not a JWT (3 base64url parts): {token:.40}…"));
    assert_eq!(header["typ"], "at+jwt", "{header}");
    assert_eq!(header["alg"], "ES256", "{header}");
    assert_eq!(claims["aud"], "https://receipts.example/", "{claims}");
    assert_eq!(claims["client_id"], client_id, "{claims}");
}

// ---------------------------------------------------------------------------
// Raw HTTP/1.1 for the test's own requests
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.split("\r\n").skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

fn io<E: core::fmt::Debug>(what: &'static str) -> impl Fn(E) -> String {
    move |e| format!("{what}: {e:?}")
}

/// Reads one response (`Content-Length`, chunked, or until EOF).
fn read_response<R: Read>(s: &mut R) -> Result<Response, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).map_err(io("reading response head"))?;
        if n == 0 {
            return Err(format!(
                "EOF inside the response head: {:?}",
                String::from_utf8_lossy(&buf)
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end - 4]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {head:?}"))?;
    let mut resp = Response {
        status,
        head,
        body: buf.split_off(head_end),
    };
    let length = resp
        .header("content-length")
        .map(|v| {
            v.parse::<usize>()
                .map_err(|e| format!("Content-Length: {e}"))
        })
        .transpose()?;
    let chunked = resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    loop {
        if length.is_some_and(|len| resp.body.len() >= len) {
            break;
        }
        if chunked && resp.body.windows(5).any(|w| w == b"0\r\n\r\n") {
            break;
        }
        let n = match s.read(&mut chunk) {
            Ok(n) => n,
            // Close-delimited over TLS: an abrupt close ends the body too.
            Err(_) if length.is_none() && !chunked => 0,
            Err(e) => return Err(format!("reading response body: {e:?}")),
        };
        if n == 0 {
            if let Some(len) = length {
                return Err(format!("EOF after {} of {len} body bytes", resp.body.len()));
            }
            break;
        }
        resp.body.extend_from_slice(&chunk[..n]);
    }
    if chunked {
        resp.body = dechunk(&resp.body)?;
    }
    if let Some(len) = length {
        resp.body.truncate(len);
    }
    Ok(resp)
}

fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size line")?;
        let line = std::str::from_utf8(&raw[..eol]).map_err(|e| e.to_string())?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("chunk size {line:?}: {e}"))?;
        raw = &raw[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(raw.get(..size).ok_or("short chunk")?);
        raw = raw.get(size + 2..).ok_or("chunk CRLF")?;
    }
}

/// Sends `request` as is and reads the response.
fn exchange<X: Net>(net: &mut X, service: Service, request: &[u8]) -> Result<Response, String> {
    let mut s = net.open(service);
    s.write_all(request).map_err(io("writing request"))?;
    s.flush().map_err(io("flushing request"))?;
    read_response(&mut s)
}

/// `application/x-www-form-urlencoded`, everything but unreserved escaped.
fn form(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A form POST to the authorization server, authenticated as client `name`
/// with `client_secret_basic` (RFC 6749 §2.3.1), computed here, independent
/// of the crate.
fn post_as<X: Net>(net: &mut X, name: &str, path: &str, body: &str) -> Response {
    let (id, secret) = server().client(name);
    let basic = Base64::encode_string(format!("{}:{}", form(id), form(secret)).as_bytes());
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {basic}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        X::TRANSPORT.authority(Service::Authz),
        body.len()
    );
    exchange(net, Service::Authz, request.as_bytes())
        .unwrap_or_else(|e| panic!("POST {path} over {:?}: {e}", X::TRANSPORT))
}

/// Revokes `token` (RFC 7009) as its owner, client `name`.
fn revoke<X: Net>(net: &mut X, name: &str, token: &str) {
    let path = server().get("revocation_path");
    let body = format!("token={}&token_type_hint=access_token", form(token));
    let resp = post_as(net, name, path, &body);
    assert_eq!(resp.status, 200, "revocation: {resp:?}");
}

/// Whether the server considers `token` active (RFC 7662), asked by its owner.
fn active<X: Net>(net: &mut X, name: &str, token: &str) -> bool {
    let path = server().get("introspection_path");
    let resp = post_as(net, name, path, &format!("token={}", form(token)));
    assert_eq!(resp.status, 200, "introspection: {resp:?}");
    resp.json()["active"] == true
}

/// `GET /receipts/<id>` with the token, written the way firmware composing
/// its own request would: the header line straight onto the stream.
fn get_receipt<X: Net, const TT: usize, const SS: usize>(
    net: &mut X,
    id: &str,
    token: &Token<TT, SS>,
) -> Result<Response, String> {
    let host = X::TRANSPORT.authority(Service::Receipts);
    let mut s = net.open(Service::Receipts);
    let head =
        format!("GET /receipts/{id} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n");
    s.write_all(head.as_bytes())
        .map_err(io("writing request"))?;
    token
        .write_authorization_header(&mut s)
        .map_err(io("writing Authorization"))?;
    s.write_all(b"Connection: close\r\n\r\n")
        .map_err(io("writing request"))?;
    s.flush().map_err(io("flushing request"))?;
    read_response(&mut s)
}

/// The same request built with `Token::authorization_value` into a
/// device-sized buffer.
fn get_receipt_with_value<X: Net, const TT: usize, const SS: usize>(
    net: &mut X,
    id: &str,
    token: &Token<TT, SS>,
) -> Result<Response, String> {
    let mut value = [0u8; T + 16];
    let value = token
        .authorization_value(&mut value)
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET /receipts/{id} HTTP/1.1\r\nHost: {}\r\nAuthorization: {value}\r\n\
         Connection: close\r\n\r\n",
        X::TRANSPORT.authority(Service::Receipts)
    );
    exchange(net, Service::Receipts, request.as_bytes())
}

/// Classifies the receipt service's answer for [`Client::call`].
fn classify(resp: Response) -> Attempt<Response> {
    if Attempt::<()>::rejects_token(resp.status) {
        assert_eq!(
            resp.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#),
            "{resp:?}"
        );
        Attempt::TokenRejected
    } else {
        Attempt::Done(resp)
    }
}

fn assert_receipt(resp: &Response, id: &str) {
    assert_eq!(resp.status, 200, "{resp:?}");
    let json = resp.json();
    assert_eq!(json["receipt"], id, "{json}");
    assert_eq!(json["format"], "pdf", "{json}");
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

/// `client_secret_basic` (§2.3.1-encoded) with a plain client id, with and
/// without scope.
fn basic_auth<X: Net>(net: &mut X) {
    let url = X::TRANSPORT.token_url();
    let t = X::TRANSPORT;

    let c = config(t, &url, "basic", ClientAuth::Basic)
        .with_scope("opaque:read")
        .unwrap();
    let tok = fetch_ok(net, c);
    assert_eq!(tok.scope.as_deref(), Some("opaque:read"));
    assert_eq!(tok.expires_in, Some(300));
    assert_eq!(tok.lifetime, Duration::from_secs(300));
    assert!(jwt_parts(&tok.access).is_none(), "opaque token expected");

    // No scope, no resource: the server's default resource, no scope echoed.
    let tok = fetch_ok(net, config(t, &url, "basic", ClientAuth::Basic));
    assert_eq!(tok.scope, None);
    assert_eq!(tok.expires_in, Some(300));
}

/// `client_secret_post`, with and without scope.
fn post_auth<X: Net>(net: &mut X) {
    let url = X::TRANSPORT.token_url();
    let t = X::TRANSPORT;

    let c = config(t, &url, "post", ClientAuth::Post)
        .with_scope("telemetry:write")
        .unwrap();
    let tok = fetch_ok(net, c);
    assert_eq!(tok.scope.as_deref(), Some("telemetry:write"));
    assert_eq!(tok.expires_in, Some(300));

    let tok = fetch_ok(net, config(t, &url, "post", ClientAuth::Post));
    assert_eq!(tok.scope, None);
    assert_eq!(tok.expires_in, Some(300));

    // The server enforces the registered method: a post client's secret in
    // a Basic header is refused, so the success above really was the body.
    let (e, _) = fetch_oauth_error(net, config(t, &url, "post", ClientAuth::Basic));
    assert_eq!((e.code, e.status), (ErrorCode::InvalidClient, 401));
}

/// `BasicUnencoded` where it applies: an id and secret of unreserved
/// characters, for which it equals `Basic`.
fn basic_unencoded_plain_client<X: Net>(net: &mut X) {
    let url = X::TRANSPORT.token_url();
    let c = config(X::TRANSPORT, &url, "basic", ClientAuth::BasicUnencoded)
        .with_scope("short:read")
        .unwrap();
    let tok = fetch_ok(net, c);
    assert_eq!(tok.scope.as_deref(), Some("short:read"));
    assert_eq!(tok.expires_in, Some(4));
}

/// The client `dev:1 +%&=x` / `s3:cr+t %&=y` authenticates only because
/// `Basic` form-urlencodes id and secret before base64 (RFC 6749 §2.3.1).
fn reserved_characters_basic<X: Net>(net: &mut X) {
    let url = X::TRANSPORT.token_url();
    let t = X::TRANSPORT;

    let c = config(t, &url, "reserved", ClientAuth::Basic)
        .with_scope("telemetry:write")
        .unwrap();
    let tok = fetch_ok(net, c);
    assert_eq!(tok.scope.as_deref(), Some("telemetry:write"));

    let c = config(t, &url, "reserved", ClientAuth::Basic)
        .with_resources(&["https://receipts.example/"])
        .unwrap()
        .with_scope("receipts:read")
        .unwrap();
    let tok = fetch_ok(net, c);
    assert_receipts_jwt(&tok.access, server().client("reserved").0);

    let tok = fetch_ok(net, config(t, &url, "reserved", ClientAuth::Basic));
    assert_eq!(tok.scope, None);
}

/// The same client with `BasicUnencoded` fails: that is what the encoding
/// is for. The server cuts the id at the first `:` and cannot percent-decode
/// the rest: `400 invalid_request`.
fn reserved_characters_unencoded_fails<X: Net>(net: &mut X) {
    let url = X::TRANSPORT.token_url();
    let c = config(X::TRANSPORT, &url, "reserved", ClientAuth::BasicUnencoded);
    let (e, details) = fetch_oauth_error(net, c);
    assert_eq!((e.code, e.status), (ErrorCode::InvalidRequest, 400), "{e}");
    let description = details.description.map(|d| d.as_str().to_owned());
    assert!(
        description.as_deref().unwrap_or("").contains("encoded"),
        "{description:?}"
    );
}

/// RFC 8707 resource indicators: one per resource server, token format,
/// scope and lifetime as the server announces them.
fn resources<X: Net>(net: &mut X) {
    let url = X::TRANSPORT.token_url();
    let t = X::TRANSPORT;
    let basic = |scope: Option<&'static str>, resource: &'static [&'static str]| {
        let c = config(t, &url, "basic", ClientAuth::Basic)
            .with_resources(resource)
            .unwrap();
        match scope {
            Some(s) => c.with_scope(s).unwrap(),
            None => c,
        }
    };
    let basic_id = server().client("basic").0;

    // The receipts service's tokens are JWTs (~800 bytes, fits T = 2048).
    let tok = fetch_ok(
        net,
        basic(Some("receipts:read"), &["https://receipts.example/"]),
    );
    assert_receipts_jwt(&tok.access, basic_id);
    assert_eq!(tok.scope.as_deref(), Some("receipts:read"));
    assert_eq!(tok.expires_in, Some(300));
    let (_, claims) = jwt_parts(&tok.access).unwrap();
    assert_eq!(claims["scope"], "receipts:read");
    eprintln!("receipts JWT: {} bytes", tok.access.len());

    // A resource without a scope: a token for it, no scope.
    let tok = fetch_ok(net, basic(None, &["https://receipts.example/"]));
    assert_receipts_jwt(&tok.access, basic_id);
    assert_eq!(tok.scope, None);

    // Opaque tokens for the other two; the short one lives 4 s.
    let tok = fetch_ok(
        net,
        basic(Some("opaque:read"), &["https://opaque.example/"]),
    );
    assert!(jwt_parts(&tok.access).is_none());
    assert_eq!(
        (tok.scope.as_deref(), tok.expires_in),
        (Some("opaque:read"), Some(300))
    );
    let tok = fetch_ok(net, basic(Some("short:read"), &["https://short.example/"]));
    assert!(jwt_parts(&tok.access).is_none());
    assert_eq!(
        (tok.scope.as_deref(), tok.expires_in, tok.lifetime),
        (Some("short:read"), Some(4), Duration::from_secs(4))
    );

    // client_secret_post with a resource too.
    let c = config(t, &url, "post", ClientAuth::Post)
        .with_resources(&["https://receipts.example/"])
        .unwrap()
        .with_scope("receipts:read")
        .unwrap();
    assert_receipts_jwt(&fetch_ok(net, c).access, server().client("post").0);
}

/// Wrong secret: `Error::OAuth` with `invalid_client`, 401 and the
/// `WWW-Authenticate` challenge (sent because the request carried an
/// `Authorization` header, RFC 6749 §5.2).
fn wrong_secret_is_invalid_client<X: Net>(net: &mut X) {
    let url = X::TRANSPORT.token_url();
    let t = X::TRANSPORT;
    let (id, _) = server().client("basic");
    let c = Config::new(
        t.endpoint(&url),
        ClientId::new(id).unwrap(),
        ClientAuth::Basic(secret("not-the-secret")),
    );
    let (e, details) = fetch_oauth_error(net, c);
    assert_eq!((e.code, e.status), (ErrorCode::InvalidClient, 401), "{e}");
    assert_eq!(
        details.code.map(|c| c.as_str().to_owned()).as_deref(),
        Some("invalid_client")
    );
    let challenge = details
        .www_authenticate
        .expect("WWW-Authenticate with a 401");
    // The server sends `Basic realm="https://localhost:<port>",
    // error="invalid_client", error_description=…` (about 110 bytes); too
    // long for the error's 64 bytes, it is kept as scheme plus `error`.
    let challenge = challenge.as_str();
    assert_eq!(challenge, r#"Basic error="invalid_client""#);
    assert!(
        challenge.contains(r#"error="invalid_client""#),
        "{challenge}"
    );
    assert!(!e.to_string().contains("not-the-secret"));

    // With client_secret_post there was no Authorization header, so no
    // challenge either.
    let (id, _) = server().client("post");
    let c = Config::new(
        t.endpoint(&url),
        ClientId::new(id).unwrap(),
        ClientAuth::Post(secret("not-the-secret")),
    );
    let (e, details) = fetch_oauth_error(net, c);
    assert_eq!((e.code, e.status), (ErrorCode::InvalidClient, 401), "{e}");
    assert_eq!(details.www_authenticate, None);
}

/// A scope the client may not request: `invalid_scope`.
fn disallowed_scope_is_invalid_scope<X: Net>(net: &mut X) {
    let url = X::TRANSPORT.token_url();
    let t = X::TRANSPORT;
    let c = config(t, &url, "limited", ClientAuth::Basic)
        .with_scope("receipts:read")
        .unwrap();
    let (e, details) = fetch_oauth_error(net, c);
    assert_eq!((e.code, e.status), (ErrorCode::InvalidScope, 400), "{e}");
    assert_eq!(details.www_authenticate, None);

    // What it may request, it gets.
    let c = config(t, &url, "limited", ClientAuth::Basic)
        .with_scope("opaque:read")
        .unwrap();
    assert_eq!(fetch_ok(net, c).scope.as_deref(), Some("opaque:read"));
}

/// An unknown resource indicator: `invalid_target` (RFC 8707).
fn unknown_resource_is_invalid_target<X: Net>(net: &mut X) {
    let url = X::TRANSPORT.token_url();
    let c = config(X::TRANSPORT, &url, "basic", ClientAuth::Basic)
        .with_resources(&["https://unknown.example/"])
        .unwrap();
    let (e, _) = fetch_oauth_error(net, c);
    assert_eq!((e.code, e.status), (ErrorCode::InvalidTarget, 400), "{e}");
}

/// The second `token()` is served from the cache: no connection.
fn second_token_is_cached<X: Net>(net: &mut X) {
    let url = X::TRANSPORT.token_url();
    let c = config(X::TRANSPORT, &url, "basic", ClientAuth::Basic)
        .with_scope("opaque:read")
        .unwrap();
    let mut client = device(c);
    let mut conn = Counting::new(net.connector());
    let mut work = [0u8; WORK];
    assert_eq!(client.freshness(), Freshness::Expired);
    let first = issued(client.token(&mut conn, &mut work).unwrap());
    assert_eq!(conn.count, 1);
    assert_eq!(client.freshness(), Freshness::Fresh);
    let second = issued(client.token(&mut conn, &mut work).unwrap());
    assert_eq!(conn.count, 1, "the cached token was not used");
    assert_eq!(first, second);
    assert_eq!(client.cached().map(issued), Some(first.clone()));

    // `fetch` always asks; `invalidate` empties the cache.
    let third = issued(client.fetch(&mut conn, &mut work).unwrap());
    assert_eq!(conn.count, 2);
    assert_ne!(third.access, first.access);
    client.invalidate();
    assert!(client.cached().is_none());
    let fourth = issued(client.token(&mut conn, &mut work).unwrap());
    assert_eq!(conn.count, 3);
    assert_ne!(fourth.access, third.access);
}

/// Sleeps until the client's clock reaches `at`.
fn sleep_until(client: &Client<'_, impl Clock, N, T, S>, at: Instant) {
    let now = client.clock().now();
    if at > now {
        std::thread::sleep(at.saturating_duration_since(now));
    }
    while client.clock().now() < at {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A 4-second token on the real clock: Fresh for 2 s (the default policy's
/// margin is half the lifetime for short tokens), then RefreshDue, and the
/// next `token()` fetches exactly once more; the server still considered the
/// old token active at that point, so the renewal was early, not late.
fn short_token_is_renewed_when_due<X: Net>(net: &mut X) {
    let url = X::TRANSPORT.token_url();
    let c = config(X::TRANSPORT, &url, "basic", ClientAuth::Basic)
        .with_resources(&["https://short.example/"])
        .unwrap()
        .with_scope("short:read")
        .unwrap();
    let mut client = short_lived_device(c);
    let mut conn = Counting::new(net.connector());
    let mut work = [0u8; WORK];

    let (first, obtained) = {
        let t = client.token(&mut conn, &mut work).unwrap();
        (issued(t), t.obtained_at())
    };
    assert_eq!(conn.count, 1);
    assert_eq!(first.expires_in, Some(4));
    let margin = client.policy().effective_margin(Duration::from_secs(4));
    assert_eq!(margin, Duration::from_secs(2));
    assert_eq!(client.freshness(), Freshness::Fresh);

    // 1 s in: still fresh, still cached.
    sleep_until(&client, obtained + Duration::from_secs(1));
    assert_eq!(client.freshness(), Freshness::Fresh);
    assert_eq!(issued(client.token(&mut conn, &mut work).unwrap()), first);
    assert_eq!(conn.count, 1);

    // 2 s in: due. Still handed out by `cached()`, still valid at the server.
    sleep_until(&client, obtained + Duration::from_millis(2000));
    assert_eq!(client.freshness(), Freshness::RefreshDue);
    assert_eq!(client.cached().map(issued), Some(first.clone()));
    assert!(
        active(net, "basic", &first.access),
        "the server expired the token before the client's refresh point"
    );

    let second = issued(client.token(&mut conn, &mut work).unwrap());
    assert_eq!(conn.count, 2, "exactly one more request");
    assert_ne!(second.access, first.access, "a new token");
    assert_eq!(second.expires_in, Some(4));
    assert_eq!(client.freshness(), Freshness::Fresh);
    let _ = client.token(&mut conn, &mut work).unwrap();
    assert_eq!(conn.count, 2);
}

/// A renewal that fails while the token is only due (not expired) returns
/// the error, and the old token stays available through `cached()` (and is
/// still valid at the server). The default backoff (no random source: just
/// under 2 s) from the failure at 2 s into the 4 s token would end within
/// the token's last second: the next attempt is instead set to
/// `expires_at - 1 s`, the latest the client schedules one for a valid token.
/// Until then `token()` hands out the old token without opening a
/// connection; at it, the next `token()` renews before the token lapses.
fn failed_renewal_keeps_the_old_token<X: Net>(net: &mut X) {
    let url = X::TRANSPORT.token_url();
    let c = config(X::TRANSPORT, &url, "basic", ClientAuth::Basic)
        .with_resources(&["https://short.example/"])
        .unwrap()
        .with_scope("short:read")
        .unwrap();
    let mut client = short_lived_device(c);
    let mut conn = Counting::new(net.connector());
    let mut work = [0u8; WORK];
    let (first, obtained, expires) = {
        let t = client.token(&mut conn, &mut work).unwrap();
        (issued(t), t.obtained_at(), t.expires_at())
    };
    assert_eq!(expires, obtained + Duration::from_secs(4));
    sleep_until(&client, obtained + Duration::from_secs(2));
    assert_eq!(client.freshness(), Freshness::RefreshDue);

    conn.down = true;
    let before = client.clock().now();
    match client.token(&mut conn, &mut work) {
        Err(Error::Transport(e)) => assert_eq!(
            embedded_io::Error::kind(&e),
            embedded_io::ErrorKind::ConnectionRefused,
            "{e:?}"
        ),
        other => panic!("expected a transport error, got {:?}", other.map(issued)),
    }
    assert!(work.iter().all(|&b| b == 0), "work buffer not wiped");
    assert_eq!(conn.count, 2);
    assert_eq!(client.failures(), 1);
    // The full 2 s ceiling from the failure would end after `last_chance`.
    let last_chance = expires.saturating_sub(Duration::from_secs(1));
    assert!(before + Duration::from_millis(1_999) > last_chance);
    assert!(before < last_chance, "the renewal ran too late to check");
    let retry_at = client.next_attempt().expect("backing off");
    assert_eq!(retry_at, last_chance);
    // Within the backoff (still refused, were it asked): the old token and
    // no connection.
    let again = issued(client.token(&mut conn, &mut work).unwrap());
    assert!(client.clock().now() < retry_at, "the check ran too late");
    assert_eq!(again, first);
    assert_eq!(conn.count, 2, "no connection while backing off");
    assert_eq!(client.freshness(), Freshness::RefreshDue);
    assert_eq!(client.cached().map(issued), Some(first.clone()));
    assert!(active(net, "basic", &first.access));

    conn.down = false;
    sleep_until(&client, retry_at);
    assert_eq!(client.next_attempt(), None);
    assert_eq!(
        client.freshness(),
        Freshness::RefreshDue,
        "the retry fell after expiry"
    );
    let second = issued(client.token(&mut conn, &mut work).unwrap());
    assert_eq!(conn.count, 3);
    assert_ne!(second.access, first.access);
    assert_eq!(client.freshness(), Freshness::Fresh);
    assert_eq!((client.failures(), client.next_attempt()), (0, None));
}

/// `Client::call` to the receipt service: the receipt comes back; after the
/// cached token is revoked at the authorization server, the next call sees
/// 401, invalidates, fetches once, retries once and succeeds with a new
/// token.
fn receipt_call_renews_after_revocation<X: Net>(net: &mut X) {
    let url = X::TRANSPORT.token_url();
    let c = config(X::TRANSPORT, &url, "basic", ClientAuth::Basic)
        .with_resources(&["https://receipts.example/"])
        .unwrap()
        .with_scope("receipts:read")
        .unwrap();
    let mut client = device(c);
    let mut conn = Counting::new(net.connector());
    let mut seen: Vec<(String, u16)> = Vec::new();

    let receipt = call_receipt(&mut client, &mut conn, net, "42", &mut seen).expect("first call");
    assert_receipt(&receipt, "42");
    assert_eq!(receipt.json()["client_id"], server().client("basic").0);
    assert_eq!(conn.count, 1);
    assert_eq!(seen.len(), 1);
    let first = seen[0].0.clone();

    // Cached token, no new fetch.
    let receipt = call_receipt(&mut client, &mut conn, net, "43", &mut seen).expect("second call");
    assert_receipt(&receipt, "43");
    assert_eq!((conn.count, seen.len()), (1, 2));
    assert_eq!(seen[1].0, first);

    // Revoked behind the client's back: still Fresh to the client.
    revoke(net, "basic", &first);
    assert_eq!(client.freshness(), Freshness::Fresh);
    let receipt =
        call_receipt(&mut client, &mut conn, net, "44", &mut seen).expect("call after revocation");
    assert_receipt(&receipt, "44");
    assert_eq!(conn.count, 2, "exactly one new token");
    assert_eq!(seen.len(), 4, "one rejected attempt, one retry");
    assert_eq!(seen[2], (first.clone(), 401));
    assert_eq!(seen[3].1, 200);
    assert_ne!(seen[3].0, first, "the retry used a new token");
    let renewed = seen[3].0.clone();
    assert_eq!(
        client.cached().map(|t| t.expose_secret().to_owned()),
        Some(renewed.clone())
    );

    // And the new token is cached again.
    let receipt =
        call_receipt(&mut client, &mut conn, net, "45", &mut seen).expect("call after renewal");
    assert_receipt(&receipt, "45");
    assert_eq!((conn.count, seen.len()), (2, 5));
    assert_eq!(seen[4].0, renewed);
}

/// `Client::revoke` (RFC 7009) with the client's own authentication: the
/// server stops accepting the token (introspection inactive, the receipt
/// service answers 401), the client's cache is empty, and the next call
/// fetches a new token. Basic and `client_secret_post` clients alike; a
/// second revoke with nothing cached opens no connection.
#[cfg(feature = "revocation")]
fn client_revokes_its_token<X: Net>(net: &mut X) {
    let url = X::TRANSPORT.token_url();
    let revocation = match X::TRANSPORT {
        Transport::Http => server().http_url(server().get("revocation_path")),
        Transport::Https => server().https_url(server().get("revocation_path")),
    };
    for (name, auth) in [
        (
            "basic",
            ClientAuth::Basic as fn(ClientSecret<N>) -> ClientAuth<N>,
        ),
        ("post", ClientAuth::Post),
    ] {
        let c = config(X::TRANSPORT, &url, name, auth)
            .with_resources(&["https://receipts.example/"])
            .unwrap()
            .with_scope("receipts:read")
            .unwrap()
            .with_revocation_endpoint(X::TRANSPORT.endpoint(&revocation));
        let mut client = device(c);
        let mut conn = Counting::new(net.connector());
        let mut work = [0u8; WORK];
        let token = issued(client.token(&mut conn, &mut work).expect("token"));
        {
            let t = client.cached().expect("cached");
            let before = get_receipt(net, "7", t).expect("receipt");
            assert_eq!(before.status, 200, "{name}: {before:?}");
        }
        // (`active` asks with Basic credentials: the Basic client only.)
        if name == "basic" {
            assert!(active(net, name, &token.access), "{name}: active before");
        }

        client.revoke(&mut conn, &mut work).expect("revoke");
        assert!(work.iter().all(|&b| b == 0), "work buffer not wiped");
        assert_eq!(conn.count, 2, "{name}: one connection to revoke");
        assert!(client.cached().is_none(), "{name}: token wiped");
        if name == "basic" {
            assert!(!active(net, name, &token.access), "{name}: inactive after");
        }
        // The revoked token, presented as a firmware would have kept it.
        let request = format!(
            "GET /receipts/7 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
             Connection: close\r\n\r\n",
            X::TRANSPORT.authority(Service::Receipts),
            token.access
        );
        let after = exchange(net, Service::Receipts, request.as_bytes()).expect("receipt");
        assert_eq!(
            after.status, 401,
            "{name}: revoked token refused: {after:?}"
        );

        // Nothing cached: nothing sent.
        client
            .revoke(&mut conn, &mut work)
            .expect("nothing to revoke");
        assert_eq!(conn.count, 2);
        // The next token is a new one.
        let next = issued(client.token(&mut conn, &mut work).expect("new token"));
        assert_ne!(next.access, token.access);
    }
}

/// One `Client::call` fetching receipt `id`; records every attempt's token
/// and status in `seen`.
// `CallError` holds the crate's `Error` by value (no allocation), as the
// crate itself allows.
#[allow(clippy::result_large_err)]
fn call_receipt<X: Net>(
    client: &mut Client<'_, impl Clock, N, T, S>,
    conn: &mut Counting<X::Connector>,
    net: &mut X,
    id: &str,
    seen: &mut Vec<(String, u16)>,
) -> Result<Response, CallError<<X::Connector as Connect>::Error, String>> {
    let mut work = [0u8; WORK];
    let result = client.call(conn, &mut work, |_, token| {
        let resp = get_receipt(net, id, token)?;
        seen.push((token.expose_secret().to_owned(), resp.status));
        Ok(classify(resp))
    });
    assert!(work.iter().all(|&b| b == 0), "work buffer not wiped");
    result
}

/// A token the receipt service always refuses (issued for
/// `https://opaque.example/`, so the audience is wrong): one refetch, one
/// retry, then `CallError::Rejected`, not a loop.
fn rejected_twice_is_reported_not_looped<X: Net>(net: &mut X) {
    let url = X::TRANSPORT.token_url();
    let c = config(X::TRANSPORT, &url, "basic", ClientAuth::Basic)
        .with_resources(&["https://opaque.example/"])
        .unwrap()
        .with_scope("opaque:read")
        .unwrap();
    let mut client = device(c);
    let mut conn = Counting::new(net.connector());
    let mut work = [0u8; WORK];
    let before = issued(client.token(&mut conn, &mut work).unwrap());
    assert_eq!(conn.count, 1);

    let mut seen = Vec::new();
    let result = client.call(&mut conn, &mut work, |_, token| {
        let resp = get_receipt_with_value(net, "42", token)?;
        seen.push((token.expose_secret().to_owned(), resp.status));
        Ok::<_, String>(classify(resp))
    });
    assert!(
        matches!(result, Err(CallError::Rejected)),
        "{:?}",
        result.map(|r| r.status)
    );
    assert_eq!(seen.len(), 2, "the attempt ran exactly twice");
    assert_eq!(conn.count, 2, "exactly one refetch");
    assert_eq!(seen[0], (before.access.clone(), 401));
    assert_eq!(seen[1].1, 401);
    assert_ne!(
        seen[1].0, before.access,
        "the retry used the refetched token"
    );
    // A token refused twice is not presented again, and refusals back off
    // like failed fetches: the next call makes no request at all until the
    // backoff has passed (a service that refuses every token costs a few
    // fetches, not two per call).
    assert!(
        client.cached().is_none(),
        "the twice-refused token is dropped"
    );
    let again = client.call(&mut conn, &mut work, |_, token| {
        get_receipt(net, "42", token).map(classify)
    });
    assert!(
        matches!(again, Err(CallError::Token(Error::Backoff(_)))),
        "{:?}",
        again.map(|r| r.status)
    );
    assert_eq!(conn.count, 2, "no fetch while backing off");
}

/// Every token revoked right before it is used: also exactly two attempts
/// and one refetch, then `Rejected`.
fn revoked_every_time_is_rejected<X: Net>(net: &mut X) {
    let url = X::TRANSPORT.token_url();
    let c = config(X::TRANSPORT, &url, "basic", ClientAuth::Basic)
        .with_resources(&["https://receipts.example/"])
        .unwrap()
        .with_scope("receipts:read")
        .unwrap();
    let mut client = device(c);
    let mut conn = Counting::new(net.connector());
    let mut work = [0u8; WORK];
    let mut attempts = 0;
    let result = client.call(&mut conn, &mut work, |_, token| {
        attempts += 1;
        revoke(net, "basic", token.expose_secret());
        get_receipt(net, "42", token).map(classify)
    });
    assert!(matches!(result, Err(CallError::Rejected)));
    assert_eq!((attempts, conn.count), (2, 2));
}

/// 403 `insufficient_scope` is not a token rejection: a new token with the
/// same scope would not help, so no refetch and no retry.
fn insufficient_scope_is_not_retried<X: Net>(net: &mut X) {
    let url = X::TRANSPORT.token_url();
    let c = config(X::TRANSPORT, &url, "basic", ClientAuth::Basic)
        .with_resources(&["https://receipts.example/"])
        .unwrap();
    let mut client = device(c);
    let mut conn = Counting::new(net.connector());
    let mut work = [0u8; WORK];
    let mut attempts = 0;
    let resp = client
        .call(&mut conn, &mut work, |_, token| {
            attempts += 1;
            get_receipt(net, "42", token).map(classify)
        })
        .expect("a 403 is an answer, not a failure");
    assert_eq!(resp.status, 403, "{resp:?}");
    assert!(
        resp.header("www-authenticate")
            .is_some_and(|v| v.contains("insufficient_scope")),
        "{resp:?}"
    );
    assert_eq!((attempts, conn.count), (1, 1));
}

// ---------------------------------------------------------------------------
// Signed client assertions (RFC 7523): client_secret_jwt and private_key_jwt
// ---------------------------------------------------------------------------

#[cfg(all(feature = "client-secret-jwt", feature = "p256"))]
use signed::*;

/// `jwt-client` (`client_secret_jwt`, HS256 keyed with its secret) and
/// `pkjwt-client` (`private_key_jwt`, ES256 with the key the server wrote to
/// `pkjwt-key.pem`) against the real server, which checks `iss`/`sub`,
/// `aud`, the signature, `exp` (15 s clock tolerance) and that no `jti` is
/// used twice. Accepted `aud` values per listener come from the ready
/// file's `client_assertion_audiences`: the issuer, or the token endpoint
/// URL of the listener the request reached.
#[cfg(all(feature = "client-secret-jwt", feature = "p256"))]
mod signed {
    use std::time::{SystemTime, UNIX_EPOCH};

    use base64ct::{Base64UrlUnpadded, Encoding};
    use embedded_oauth2::assertion::{Assertion, Audience, CounterJti, P256Signer};
    use embedded_oauth2::{ClientAuth, ClientId, Config, Error, ErrorCode};
    use p256::pkcs8::DecodePrivateKey;
    use rand_core::{OsRng, RngCore};

    use super::{
        Counting, N, Net, Transport, WORK, assert_receipts_jwt, device, fetch, fetch_oauth_error,
        fetch_ok, issued, secret, server,
    };

    /// Wall-clock seconds from the host's clock (a device would have it
    /// from NTP or an RTC).
    pub fn now_unix() -> Option<u64> {
        Some(SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs())
    }

    /// `jti = random prefix || counter`: the server remembers every `jti`
    /// (all tests of this binary share one server), so each source gets a
    /// prefix of its own, as a device would per boot.
    pub fn counter() -> CounterJti {
        let mut prefix = [0u8; 8];
        OsRng.fill_bytes(&mut prefix);
        CounterJti::new(prefix)
    }

    /// The `aud` values the server accepts on the listener of `t`.
    fn accepted_audiences(t: Transport) -> Vec<String> {
        let key = match t {
            Transport::Http => "via_http",
            Transport::Https => "via_https",
        };
        server().ready["client_assertion_audiences"][key]
            .as_array()
            .unwrap_or_else(|| panic!("ready file: client_assertion_audiences.{key}"))
            .iter()
            .map(|v| v.as_str().expect("audience string").to_owned())
            .collect()
    }

    /// The issuer identifier, which the server accepts as `aud` on every
    /// listener.
    pub fn issuer() -> &'static str {
        let issuer = server().get("issuer");
        for t in [Transport::Http, Transport::Https] {
            assert!(
                accepted_audiences(t).iter().any(|a| a == issuer),
                "{t:?}: {issuer}"
            );
        }
        issuer
    }

    /// The token endpoint URL the client posts to over `t`, which is also
    /// the `aud` `Audience::TokenEndpoint` puts in the assertion; checked
    /// against the ready file.
    pub fn token_url(t: Transport) -> String {
        let url = t.token_url();
        assert!(
            accepted_audiences(t).contains(&url),
            "{url} is not an accepted aud over {t:?}: {:?}",
            accepted_audiences(t)
        );
        url
    }

    /// `jwt-client` with `secret` as the HS256 key.
    pub fn jwt_config<'a>(
        t: Transport,
        url: &'a str,
        secret_value: &str,
        assertion: Assertion<'a>,
    ) -> Config<'a, N> {
        let (id, _) = server().client("jwt");
        Config::new(
            t.endpoint(url),
            ClientId::new(id).expect("client id"),
            ClientAuth::SecretJwt(secret(secret_value)),
        )
        .with_assertion(assertion)
    }

    /// `jwt-client`'s registered secret.
    pub fn jwt_secret() -> &'static str {
        server().client("jwt").1
    }

    /// `pkjwt-client`: its id, the `kid` of its registered key, and a signer
    /// made from `pkjwt-key.pem` (PKCS#8) the way firmware provisioned with
    /// a raw scalar would hold it.
    pub struct PkJwt {
        pub id: &'static str,
        pub kid: &'static str,
        pub signer: P256Signer,
    }

    pub fn pkjwt() -> PkJwt {
        let c = &server().ready["clients"]["pkjwt"];
        let field = |k: &str| -> &'static str {
            c[k].as_str()
                .unwrap_or_else(|| panic!("ready file: clients.pkjwt.{k}"))
        };
        let path = field("private_key_pem");
        let pem = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let key = p256::SecretKey::from_pkcs8_pem(&pem)
            .unwrap_or_else(|e| panic!("{path}: not a PKCS#8 P-256 key: {e}"));
        let scalar: [u8; 32] = key.to_bytes().into();
        let signer = P256Signer::from_bytes(&scalar).expect("a valid P-256 scalar");
        // The signer's public key is the one registered at the server.
        let public = signer.public_key_sec1();
        let jwk = &c["public_jwk"];
        let coordinate = |k: &str| {
            Base64UrlUnpadded::decode_vec(jwk[k].as_str().expect("JWK coordinate"))
                .expect("base64url")
        };
        assert_eq!(public[0], 4);
        assert_eq!(&public[1..33], coordinate("x").as_slice(), "JWK x");
        assert_eq!(&public[33..], coordinate("y").as_slice(), "JWK y");
        PkJwt {
            id: field("client_id"),
            kid: field("kid"),
            signer,
        }
    }

    /// `pkjwt-client` with `assertion` (which names the signer).
    pub fn pkjwt_config<'a>(
        t: Transport,
        url: &'a str,
        id: &'a str,
        assertion: Assertion<'a>,
    ) -> Config<'a, N> {
        Config::new(
            t.endpoint(url),
            ClientId::new(id).expect("client id"),
            ClientAuth::PrivateKeyJwt,
        )
        .with_assertion(assertion)
    }

    /// Asserts the server refused the client: `401 invalid_client`, and no
    /// `WWW-Authenticate` because no `Authorization` header was sent (an
    /// assertion travels in the body only).
    pub fn assert_invalid_client<X: Net>(net: &X, config: Config<'_, N>) {
        let (e, details) = fetch_oauth_error(net, config);
        assert_eq!((e.code, e.status), (ErrorCode::InvalidClient, 401), "{e}");
        assert_eq!(details.www_authenticate, None, "{e}");
    }

    // ---- Scenarios --------------------------------------------------------

    /// `client_secret_jwt` with `aud` = the token endpoint URL of the
    /// listener used (the default `Audience::TokenEndpoint`): tokens for a
    /// plain scope and for the receipts resource, issued to `jwt-client`.
    pub fn client_secret_jwt_aud_token_endpoint<X: Net>(net: &mut X) {
        let t = X::TRANSPORT;
        let url = token_url(t);
        let jti = counter();
        let wall = now_unix;
        let assertion = || Assertion::new(&wall, &jti).with_audience(Audience::TokenEndpoint);

        let c = jwt_config(t, &url, jwt_secret(), assertion())
            .with_scope("telemetry:write")
            .unwrap();
        let tok = fetch_ok(net, c);
        assert_eq!(tok.scope.as_deref(), Some("telemetry:write"));
        assert_eq!(tok.expires_in, Some(300));

        let c = jwt_config(t, &url, jwt_secret(), assertion())
            .with_resources(&["https://receipts.example/"])
            .unwrap()
            .with_scope("receipts:read")
            .unwrap();
        assert_receipts_jwt(&fetch_ok(net, c).access, server().client("jwt").0);
    }

    /// `client_secret_jwt` with `aud` = the issuer identifier.
    pub fn client_secret_jwt_aud_issuer<X: Net>(net: &mut X) {
        let t = X::TRANSPORT;
        let url = t.token_url();
        let jti = counter();
        let wall = now_unix;
        let c = jwt_config(
            t,
            &url,
            jwt_secret(),
            Assertion::new(&wall, &jti).with_audience(Audience::Other(issuer())),
        )
        .with_scope("opaque:read")
        .unwrap();
        let tok = fetch_ok(net, c);
        assert_eq!(tok.scope.as_deref(), Some("opaque:read"));
    }

    /// `private_key_jwt` (ES256, `kid` of the registered key) with `aud` =
    /// the listener's token endpoint URL.
    pub fn private_key_jwt_aud_token_endpoint<X: Net>(net: &mut X) {
        let t = X::TRANSPORT;
        let url = token_url(t);
        let key = pkjwt();
        let jti = counter();
        let wall = now_unix;
        let assertion = || {
            Assertion::new(&wall, &jti)
                .with_signer(&key.signer)
                .with_key_id(key.kid)
        };

        let c = pkjwt_config(t, &url, key.id, assertion())
            .with_scope("telemetry:write")
            .unwrap();
        let tok = fetch_ok(net, c);
        assert_eq!(tok.scope.as_deref(), Some("telemetry:write"));

        let c = pkjwt_config(t, &url, key.id, assertion())
            .with_resources(&["https://receipts.example/"])
            .unwrap()
            .with_scope("receipts:read")
            .unwrap();
        assert_receipts_jwt(&fetch_ok(net, c).access, key.id);
    }

    /// `private_key_jwt` with `aud` = the issuer; with and without `kid`
    /// (the client has one registered key, so the server needs no hint).
    pub fn private_key_jwt_aud_issuer<X: Net>(net: &mut X) {
        let t = X::TRANSPORT;
        let url = t.token_url();
        let key = pkjwt();
        let jti = counter();
        let wall = now_unix;
        let base = || {
            Assertion::new(&wall, &jti)
                .with_signer(&key.signer)
                .with_audience(Audience::Other(issuer()))
        };
        let tok = fetch_ok(
            net,
            pkjwt_config(t, &url, key.id, base().with_key_id(key.kid)),
        );
        assert_eq!(tok.scope, None);
        let tok = fetch_ok(net, pkjwt_config(t, &url, key.id, base()));
        assert_eq!(tok.scope, None);
    }

    /// The token endpoint URL of the *other* listener is not an accepted
    /// `aud` here: the server really checks the audience.
    pub fn assertion_for_another_listener_is_invalid_client<X: Net>(net: &mut X) {
        let t = X::TRANSPORT;
        let url = t.token_url();
        let path = server().get("token_path");
        let other = match t {
            Transport::Http => server().https_url(path),
            Transport::Https => server().http_url(path),
        };
        assert!(!accepted_audiences(t).contains(&other), "{other}");
        let jti = counter();
        let wall = now_unix;
        let aud = Audience::Other(&other);
        assert_invalid_client(
            net,
            jwt_config(
                t,
                &url,
                jwt_secret(),
                Assertion::new(&wall, &jti).with_audience(aud),
            ),
        );
        let key = pkjwt();
        assert_invalid_client(
            net,
            pkjwt_config(
                t,
                &url,
                key.id,
                Assertion::new(&wall, &jti)
                    .with_signer(&key.signer)
                    .with_key_id(key.kid)
                    .with_audience(aud),
            ),
        );
    }

    /// An HS256 assertion keyed with the wrong secret: `invalid_client`.
    pub fn wrong_hs256_secret_is_invalid_client<X: Net>(net: &mut X) {
        let t = X::TRANSPORT;
        let url = token_url(t);
        let jti = counter();
        let wall = now_unix;
        let wrong = "not-the-jwt-client-secret-0123456789abcdefgh";
        assert_ne!(wrong, jwt_secret());
        assert_invalid_client(net, jwt_config(t, &url, wrong, Assertion::new(&wall, &jti)));
        // The right secret with the same jti source works: the key was at fault.
        fetch_ok(
            net,
            jwt_config(t, &url, jwt_secret(), Assertion::new(&wall, &jti)),
        );
    }

    /// An ES256 assertion signed by a key the server does not know (with the
    /// registered key's `kid`, and without): `invalid_client`.
    pub fn other_es256_key_is_invalid_client<X: Net>(net: &mut X) {
        let t = X::TRANSPORT;
        let url = token_url(t);
        let key = pkjwt();
        let other = P256Signer::from_bytes(&[0x42; 32]).expect("a valid scalar");
        assert_ne!(other.public_key_sec1(), key.signer.public_key_sec1());
        let jti = counter();
        let wall = now_unix;
        let with_kid = Assertion::new(&wall, &jti)
            .with_signer(&other)
            .with_key_id(key.kid);
        assert_invalid_client(net, pkjwt_config(t, &url, key.id, with_kid));
        let without_kid = Assertion::new(&wall, &jti).with_signer(&other);
        assert_invalid_client(net, pkjwt_config(t, &url, key.id, without_kid));
        // The registered key with the same jti source works.
        let good = Assertion::new(&wall, &jti)
            .with_signer(&key.signer)
            .with_key_id(key.kid);
        fetch_ok(net, pkjwt_config(t, &url, key.id, good));
    }

    /// A `JtiSource` that hands out the same value twice: the first request
    /// succeeds, the replay is refused (`invalid_client`, "client assertion
    /// tokens must only be used once"), for both clients.
    pub fn replayed_jti_is_refused<X: Net>(net: &mut X) {
        let t = X::TRANSPORT;
        let url = token_url(t);
        let wall = now_unix;
        let mut value = [0u8; 16];
        OsRng.fill_bytes(&mut value);
        let same = move || value;

        let c = || jwt_config(t, &url, jwt_secret(), Assertion::new(&wall, &same));
        fetch_ok(net, c());
        assert_invalid_client(net, c());
        // A fresh jti for the same client is accepted again.
        let fresh = counter();
        fetch_ok(
            net,
            jwt_config(t, &url, jwt_secret(), Assertion::new(&wall, &fresh)),
        );

        let key = pkjwt();
        let mut value = [0u8; 16];
        OsRng.fill_bytes(&mut value);
        let same = move || value;
        let c = || {
            pkjwt_config(
                t,
                &url,
                key.id,
                Assertion::new(&wall, &same)
                    .with_signer(&key.signer)
                    .with_key_id(key.kid),
            )
        };
        fetch_ok(net, c());
        assert_invalid_client(net, c());
    }

    /// One client with the crate's `CounterJti`: consecutive `fetch()`es
    /// (each a new assertion with the next `jti`) all succeed, each with a
    /// new token, one connection each.
    pub fn counter_jti_allows_many_fetches<X: Net>(net: &mut X) {
        let t = X::TRANSPORT;
        let url = token_url(t);
        let wall = now_unix;
        let jti = counter();
        let mut tokens = Vec::new();

        let c = jwt_config(t, &url, jwt_secret(), Assertion::new(&wall, &jti));
        let mut client = device(c);
        let mut conn = Counting::new(net.connector());
        let mut work = [0u8; WORK];
        for i in 1..=5 {
            let tok = client
                .fetch(&mut conn, &mut work)
                .map(issued)
                .unwrap_or_else(|e| panic!("fetch {i}: {e:?}"));
            assert_eq!(conn.count, i);
            tokens.push(tok.access);
        }

        let key = pkjwt();
        let c = pkjwt_config(
            t,
            &url,
            key.id,
            Assertion::new(&wall, &jti)
                .with_signer(&key.signer)
                .with_key_id(key.kid),
        );
        let mut client = device(c);
        let mut conn = Counting::new(net.connector());
        for i in 1..=3 {
            let tok = client
                .fetch(&mut conn, &mut work)
                .map(issued)
                .unwrap_or_else(|e| panic!("pkjwt fetch {i}: {e:?}"));
            assert_eq!(conn.count, i);
            tokens.push(tok.access);
        }
        let distinct: std::collections::HashSet<&String> = tokens.iter().collect();
        assert_eq!(distinct.len(), tokens.len(), "every fetch gave a new token");
    }

    /// A wall clock that does not know the time yet: `Error::NoWallClock`
    /// before any connection is opened, for both methods.
    pub fn no_wall_clock_means_no_connection<X: Net>(net: &mut X) {
        let t = X::TRANSPORT;
        let url = token_url(t);
        let unknown = || None::<u64>;
        let jti = counter();

        let (result, count) = fetch(
            net,
            jwt_config(t, &url, jwt_secret(), Assertion::new(&unknown, &jti)),
        );
        assert!(matches!(result, Err(Error::NoWallClock)), "{result:?}");
        assert_eq!(count, 0, "no connection without a wall clock");

        let key = pkjwt();
        let (result, count) = fetch(
            net,
            pkjwt_config(
                t,
                &url,
                key.id,
                Assertion::new(&unknown, &jti).with_signer(&key.signer),
            ),
        );
        assert!(matches!(result, Err(Error::NoWallClock)), "{result:?}");
        assert_eq!(count, 0, "no connection without a wall clock");
    }

    /// A wall clock 10 minutes slow: `exp` (iat + 60 s) is long past at the
    /// server (15 s tolerance), so the assertion is refused; the same
    /// client with the right time is accepted.
    pub fn stale_wall_clock_is_refused<X: Net>(net: &mut X) {
        let t = X::TRANSPORT;
        let url = token_url(t);
        let slow = || now_unix().map(|s| s - 600);
        let wall = now_unix;
        let jti = counter();

        assert_invalid_client(
            net,
            jwt_config(t, &url, jwt_secret(), Assertion::new(&slow, &jti)),
        );
        fetch_ok(
            net,
            jwt_config(t, &url, jwt_secret(), Assertion::new(&wall, &jti)),
        );

        let key = pkjwt();
        let stale = Assertion::new(&slow, &jti)
            .with_signer(&key.signer)
            .with_key_id(key.kid);
        assert_invalid_client(net, pkjwt_config(t, &url, key.id, stale));
        let current = Assertion::new(&wall, &jti)
            .with_signer(&key.signer)
            .with_key_id(key.kid);
        fetch_ok(net, pkjwt_config(t, &url, key.id, current));
    }
}

// ---------------------------------------------------------------------------
// DPoP (RFC 9449): sender-constrained tokens
// ---------------------------------------------------------------------------

#[cfg(all(feature = "dpop", feature = "p256"))]
use dpop::*;

/// `dpop-client` and `dpop-nonce-client` (`dpop_bound_access_tokens`; the
/// second must put a server nonce in its proofs) against oidc-provider's
/// DPoP, and the receipt service's own proof check: signature with the
/// embedded key, `htm`/`htu`, a recent `iat`, a `jti` never seen, `ath`,
/// and the token's `cnf.jkt` (from introspection) against the proof's key.
#[cfg(all(feature = "dpop", feature = "p256"))]
mod dpop {
    use std::time::{SystemTime, UNIX_EPOCH};

    use embedded_oauth2::assertion::{CounterJti, JtiSource, P256Signer};
    use embedded_oauth2::dpop::{Dpop, DpopKey, Proof};
    use embedded_oauth2::{ClientAuth, Error, ErrorCode, TokenType};
    use rand_core::{OsRng, RngCore};

    use super::{
        Config, Counting, N, Net, Response, Service, Transport, WORK, config, device, exchange,
        post_as, server,
    };

    fn now_unix() -> Option<u64> {
        Some(SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs())
    }

    /// A device's DPoP key (random, as a secure element would make it) and
    /// its `jti` source.
    pub struct Device {
        signer: P256Signer,
        public: [u8; 65],
        jti: CounterJti,
        wall: fn() -> Option<u64>,
    }

    impl Device {
        pub fn new() -> Self {
            let signer = loop {
                let mut scalar = [0u8; 32];
                OsRng.fill_bytes(&mut scalar);
                if let Ok(s) = P256Signer::from_bytes(&scalar) {
                    break s;
                }
            };
            let mut prefix = [0u8; 8];
            OsRng.fill_bytes(&mut prefix);
            let public = signer.public_key_sec1();
            Self {
                signer,
                public,
                jti: CounterJti::new(prefix),
                wall: now_unix,
            }
        }

        pub fn key(&self) -> DpopKey<'_> {
            DpopKey::new(&self.signer, &self.public).unwrap()
        }

        pub fn dpop(&self) -> Dpop<'_> {
            Dpop::new(self.key(), &self.wall, &self.jti)
        }

        pub fn jkt(&self) -> String {
            let mut b = [0u8; 43];
            self.key().thumbprint_b64(&mut b).to_owned()
        }

        /// A proof for `GET url` presenting `token`.
        pub fn proof(&self, url: &str, token: Option<&str>) -> String {
            let mut p = Proof::new("GET", url);
            if let Some(t) = token {
                p = p.with_access_token(t);
            }
            let mut buf = [0u8; 1024];
            p.write(
                &self.key(),
                now_unix().unwrap(),
                self.jti.next_jti(),
                &mut buf,
            )
            .unwrap()
            .to_owned()
        }
    }

    fn receipt_url<X: Net>(id: &str) -> String {
        let scheme = match X::TRANSPORT {
            Transport::Http => "http",
            Transport::Https => "https",
        };
        format!(
            "{scheme}://{}/receipts/{id}",
            X::TRANSPORT.authority(Service::Receipts)
        )
    }

    /// `GET /receipts/<id>` with `Authorization: <authorization>` and the
    /// given `DPoP` header lines.
    fn get<X: Net>(net: &mut X, id: &str, authorization: &str, proofs: &[&str]) -> Response {
        let dpop: String = proofs.iter().map(|p| format!("DPoP: {p}\r\n")).collect();
        let request = format!(
            "GET /receipts/{id} HTTP/1.1\r\nHost: {}\r\nAuthorization: {authorization}\r\n{dpop}\
             Connection: close\r\n\r\n",
            X::TRANSPORT.authority(Service::Receipts)
        );
        exchange(net, Service::Receipts, request.as_bytes()).unwrap()
    }

    fn assert_refused(resp: &Response, error: &str, why: &str) {
        assert_eq!(resp.status, 401, "{why}: {resp:?}");
        let challenge = resp.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("DPoP ") && challenge.contains(&format!("error=\"{error}\"")),
            "{why}: {resp:?}"
        );
    }

    /// Client `name` (`client_secret_basic`, scope `receipts:read`) with
    /// DPoP proofs signed by the device's key.
    fn dpop_config<'a, X: Net>(url: &'a str, name: &str, dev: &'a Device) -> Config<'a, N> {
        config(X::TRANSPORT, url, name, ClientAuth::Basic)
            .with_scope("receipts:read")
            .unwrap()
            .with_dpop(dev.dpop())
    }

    /// A DPoP token for `name` with the device's key: the token, and the
    /// connections the fetch took.
    fn fetch_dpop<X: Net>(net: &X, name: &str, dev: &Device) -> (String, usize) {
        let url = X::TRANSPORT.token_url();
        let mut client = device(dpop_config::<X>(&url, name, dev));
        let mut conn = Counting::new(net.connector());
        let mut work = [0u8; WORK];
        let t = client
            .token(&mut conn, &mut work)
            .unwrap_or_else(|e| panic!("DPoP token for {name}: {e:?}"));
        assert_eq!(t.token_type(), TokenType::Dpop);
        (t.expose_secret().to_owned(), conn.count)
    }

    /// The token is bound to the device's key (`cnf.jkt` = its thumbprint)
    /// and the receipt service accepts it with a fresh proof.
    pub fn dpop_token_is_bound_and_accepted_with_its_proof<X: Net>(net: &mut X) {
        let dev = Device::new();
        let (token, connections) = fetch_dpop(net, "dpop", &dev);
        assert_eq!(connections, 1, "no nonce asked of this client");
        let path = server().get("introspection_path");
        let info = post_as(net, "dpop", path, &format!("token={}", super::form(&token))).json();
        assert_eq!(info["active"], true, "{info}");
        assert_eq!(info["cnf"]["jkt"], dev.jkt().as_str(), "{info}");
        let url = receipt_url::<X>("r-dpop-1");
        let resp = get(
            net,
            "r-dpop-1",
            &format!("DPoP {token}"),
            &[&dev.proof(&url, Some(&token))],
        );
        assert_eq!(resp.status, 200, "{resp:?}");
        assert_eq!(resp.json()["jkt"], dev.jkt().as_str());
    }

    /// The token endpoint asks for its nonce: the client sends the request
    /// again once with it, and its next fetch starts with the nonce kept.
    pub fn dpop_server_nonce_is_used<X: Net>(net: &mut X) {
        let dev = Device::new();
        let url = X::TRANSPORT.token_url();
        let mut client = device(dpop_config::<X>(&url, "dpop_nonce", &dev));
        let mut conn = Counting::new(net.connector());
        let mut work = [0u8; WORK];
        let first = client
            .token(&mut conn, &mut work)
            .unwrap()
            .expose_secret()
            .to_owned();
        assert_eq!(conn.count, 2, "use_dpop_nonce, then the token");
        let second = client
            .fetch(&mut conn, &mut work)
            .unwrap()
            .expose_secret()
            .to_owned();
        assert_eq!(conn.count, 3, "the kept nonce is accepted at once");
        assert_ne!(first, second);
        let url = receipt_url::<X>("r-dpop-2");
        let resp = get(
            net,
            "r-dpop-2",
            &format!("DPoP {second}"),
            &[&dev.proof(&url, Some(&second))],
        );
        assert_eq!(resp.status, 200, "{resp:?}");
    }

    /// Each way of presenting a DPoP token wrongly is refused.
    pub fn dpop_misuse_is_refused<X: Net>(net: &mut X) {
        let dev = Device::new();
        let (token, _) = fetch_dpop(net, "dpop", &dev);
        let id = "r-dpop-3";
        let url = receipt_url::<X>(id);
        let auth = format!("DPoP {token}");
        // A proof from another key.
        let thief = Device::new();
        let resp = get(net, id, &auth, &[&thief.proof(&url, Some(&token))]);
        assert_refused(&resp, "invalid_token", "another key's proof");
        // A replayed proof: accepted once, then refused.
        let proof = dev.proof(&url, Some(&token));
        assert_eq!(get(net, id, &auth, &[&proof]).status, 200);
        assert_refused(
            &get(net, id, &auth, &[&proof]),
            "invalid_dpop_proof",
            "replayed proof",
        );
        // The token without a proof, as a bearer token or as DPoP.
        assert_refused(
            &get(net, id, &format!("Bearer {token}"), &[]),
            "invalid_token",
            "as a bearer token",
        );
        assert_refused(&get(net, id, &auth, &[]), "invalid_dpop_proof", "no proof");
        // A proof for another request, or without the token's hash.
        let other = receipt_url::<X>("r-other");
        assert_refused(
            &get(net, id, &auth, &[&dev.proof(&other, Some(&token))]),
            "invalid_dpop_proof",
            "htu of another URL",
        );
        assert_refused(
            &get(net, id, &auth, &[&dev.proof(&url, None)]),
            "invalid_dpop_proof",
            "no ath",
        );
        // Still fine with a correct proof.
        assert_eq!(
            get(net, id, &auth, &[&dev.proof(&url, Some(&token))]).status,
            200
        );
    }

    /// The receipt service asks for its own nonce: `call` makes the
    /// attempt again once with it, with the same token; the next call
    /// starts with the nonce kept and needs one attempt.
    pub fn dpop_resource_nonce_is_used<X: Net>(net: &mut X) {
        use embedded_oauth2::dpop::{DpopNonce, asks_for_nonce};
        let dev = Device::new();
        let url = X::TRANSPORT.token_url();
        let mut client = device(dpop_config::<X>(&url, "dpop", &dev));
        let mut conn = Counting::new(net.connector());
        let mut work = [0u8; WORK];
        let mut nonce: Option<DpopNonce> = None;
        for (id, want_attempts) in [("n-1", 2), ("n-2", 1)] {
            let mut attempts = 0;
            let receipt = receipt_url::<X>(id);
            let resp = client
                .call(&mut conn, &mut work, |_, token| {
                    attempts += 1;
                    let mut proof = [0u8; 1024];
                    let proof = dev
                        .dpop()
                        .proof(
                            "GET",
                            &receipt,
                            token.expose_secret(),
                            nonce.as_ref(),
                            &mut proof,
                        )
                        .unwrap();
                    let mut value = [0u8; super::T + 16];
                    let value = token.authorization_value(&mut value).unwrap();
                    let resp = get(&mut *net, id, value, &[proof]);
                    let challenge = resp.header("www-authenticate").unwrap_or_default();
                    if asks_for_nonce(resp.status, challenge.as_bytes()) {
                        nonce = resp
                            .header("dpop-nonce")
                            .and_then(|n| DpopNonce::from_header(n.as_bytes()));
                        assert!(nonce.is_some(), "{resp:?}");
                        return Ok::<_, ()>(embedded_oauth2::Attempt::UseDpopNonce);
                    }
                    Ok(embedded_oauth2::Attempt::Done(resp))
                })
                .unwrap();
            assert_eq!(resp.status, 200, "{resp:?}");
            assert_eq!(attempts, want_attempts, "{id}");
        }
        assert_eq!(conn.count, 1, "one token for both calls");
    }

    /// A client registered for DPoP-bound tokens gets none without a proof.
    pub fn dpop_client_without_a_proof_is_refused<X: Net>(net: &mut X) {
        let url = X::TRANSPORT.token_url();
        let cfg = config(X::TRANSPORT, &url, "dpop", ClientAuth::Basic);
        let mut client = device(cfg);
        let mut conn = Counting::new(net.connector());
        let mut work = [0u8; WORK];
        match client.token(&mut conn, &mut work) {
            // oidc-provider answers invalid_grant ("grant request is
            // invalid"); the same client with a proof gets its token
            // (`dpop_token_is_bound_and_accepted_with_its_proof`).
            Err(Error::OAuth(e)) => assert_eq!(e.code, ErrorCode::InvalidGrant, "{e:?}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(conn.count, 1, "not retried");
        let _ = N;
    }
}

// ---------------------------------------------------------------------------
// Mutual TLS (RFC 8705): client certificates and certificate-bound tokens
// ---------------------------------------------------------------------------

/// `mtls-device` (`tls_client_auth`: a certificate from the test CA naming
/// `mtls-device.example`) and `self-signed-device`
/// (`self_signed_tls_client_auth`: the certificate registered in its jwks)
/// over the server's mutual-TLS listeners, through the crate's connector
/// with `with_client_certificate` (the key signs through an `Es256Signer`,
/// here `P256Signer`). The receipt service accepts a certificate-bound token
/// (`cnf.x5t#S256`) only over a connection with that certificate.
#[cfg(all(feature = "mtls", feature = "p256"))]
mod mtls {
    use base64ct::{Base64UrlUnpadded, Encoding};
    use embedded_io::Write;
    use embedded_oauth2::assertion::P256Signer;
    use embedded_oauth2::{Client, ClientAuth, ClientId, Config, Error, ErrorCode, TokenEndpoint};
    use p256::pkcs8::DecodePrivateKey;
    use sha2::Digest;

    use super::{
        HostTls, IO_TIMEOUT, N, Response, S, T, WORK, read_response, real_clock, server, tls,
    };

    /// A client identity of the ready file: certificate (DER) and key, leaked
    /// for the connector's `'static`.
    struct Identity {
        cert: &'static [u8],
        signer: &'static P256Signer,
    }

    fn identity(client: &str, cert: &str, key: &str) -> Identity {
        let c = &server().ready["clients"][client];
        let path = |k: &str| {
            c[k].as_str()
                .unwrap_or_else(|| panic!("clients.{client}.{k}"))
                .to_owned()
        };
        let der = std::fs::read(path(cert)).expect("client certificate");
        let pem = std::fs::read_to_string(path(key)).expect("client key");
        let scalar: [u8; 32] = p256::SecretKey::from_pkcs8_pem(&pem)
            .expect("P-256 PKCS#8")
            .to_bytes()
            .into();
        Identity {
            cert: Box::leak(der.into_boxed_slice()),
            signer: Box::leak(Box::new(P256Signer::from_bytes(&scalar).expect("key"))),
        }
    }

    fn connector(id: Option<&Identity>) -> tls::TlsConnector {
        let ca = std::fs::read(server().ca_pem()).expect("CA");
        let c = tls::connector(&ca, None)
            .expect("connector")
            .with_timeout(IO_TIMEOUT);
        match id {
            Some(id) => c
                .with_client_certificate(id.cert, id.signer)
                .expect("client certificate"),
            None => c,
        }
    }

    fn thumbprint(cert: &[u8]) -> String {
        Base64UrlUnpadded::encode_string(&sha2::Sha256::digest(cert))
    }

    /// A token for `client_id` (`ClientIdOnly`: the certificate is the
    /// authentication) over the mutual-TLS listener.
    fn fetch(
        client_id: &str,
        tls: &mut tls::TlsConnector,
    ) -> Result<String, Error<tls::TlsConnectError>> {
        let url = format!("https://localhost:{}/token", server().port("mtls_port"));
        let config = Config::<N>::new(
            TokenEndpoint::parse(&url).unwrap(),
            ClientId::new(client_id).unwrap(),
            ClientAuth::ClientIdOnly,
        )
        .with_scope("receipts:read")
        .unwrap();
        let mut client: Client<'_, _, N, T, S> = Client::new(config, real_clock());
        let mut work = [0u8; WORK];
        client
            .token(tls, &mut work)
            .map(|t| t.expose_secret().to_owned())
    }

    /// `GET /receipts/<id>` over `tls` to the receipt service's listener
    /// `port_key` with the token as a bearer token.
    fn receipt(tls: &mut tls::TlsConnector, port_key: &str, id: &str, token: &str) -> Response {
        let port = server().port(port_key);
        let mut s = tls
            .open("localhost", port)
            .expect("TLS to the receipt service");
        let request = format!(
            "GET /receipts/{id} HTTP/1.1\r\nHost: localhost:{port}\r\nAuthorization: Bearer {token}\r\n\
             Connection: close\r\n\r\n"
        );
        s.write_all(request.as_bytes()).unwrap();
        s.flush().unwrap();
        read_response(&mut s).unwrap()
    }

    fn cnf_x5t(token: &str) -> String {
        let (_, claims) = super::jwt_parts(token).expect("a JWT access token");
        claims["cnf"]["x5t#S256"]
            .as_str()
            .expect("cnf.x5t#S256")
            .to_owned()
    }

    #[test]
    fn tls_client_auth_binds_the_token_to_the_certificate() {
        let device = identity("mtls", "cert_der", "key_pem");
        let mut tls = connector(Some(&device));
        let token = fetch("mtls-device", &mut tls)
            .unwrap_or_else(|e| panic!("{e:?}\n--- server stderr ---\n{}", server().stderr_log()));
        assert_eq!(cnf_x5t(&token), thumbprint(device.cert));
        // The same certificate at the receipt service: accepted.
        let ok = receipt(&mut tls, "receipts_mtls_port", "m-1", &token);
        assert_eq!(ok.status, 200, "{ok:?}");
        // Another client certificate (same CA): refused.
        let other = identity("mtls", "other_cert_der", "other_key_pem");
        let resp = receipt(
            &mut connector(Some(&other)),
            "receipts_mtls_port",
            "m-1",
            &token,
        );
        assert_eq!(resp.status, 401, "{resp:?}");
        // No client certificate at all: refused.
        let resp = receipt(&mut connector(None), "receipts_https_port", "m-1", &token);
        assert_eq!(resp.status, 401, "{resp:?}");
    }

    #[test]
    fn self_signed_tls_client_auth() {
        let device = identity("mtls_self", "cert_der", "key_pem");
        let mut tls = connector(Some(&device));
        let token = fetch("self-signed-device", &mut tls)
            .unwrap_or_else(|e| panic!("{e:?}\n--- server stderr ---\n{}", server().stderr_log()));
        assert_eq!(cnf_x5t(&token), thumbprint(device.cert));
        assert_eq!(
            receipt(&mut tls, "receipts_mtls_port", "m-2", &token).status,
            200
        );
    }

    /// A secure element that cannot sign: the handshake fails (the server
    /// refuses the empty CertificateVerify), as a transport error; no panic.
    #[test]
    fn a_failing_signer_fails_the_handshake() {
        struct Busy;
        impl embedded_oauth2::assertion::Es256Signer for Busy {
            fn sign(&self, _: &[u8]) -> Result<[u8; 64], embedded_oauth2::assertion::SignError> {
                Err(embedded_oauth2::assertion::SignError)
            }
        }
        let device = identity("mtls", "cert_der", "key_pem");
        let ca = std::fs::read(server().ca_pem()).expect("CA");
        let mut tls = tls::connector(&ca, None)
            .expect("connector")
            .with_timeout(IO_TIMEOUT)
            .with_client_certificate(device.cert, &Busy)
            .expect("client certificate");
        match fetch("mtls-device", &mut tls) {
            Err(Error::Transport(e)) => {
                assert!(
                    matches!(
                        e,
                        embedded_oauth2::tls::TlsConnectError::Tls(_)
                            | embedded_oauth2::tls::TlsConnectError::Closed
                            | embedded_oauth2::tls::TlsConnectError::Truncated
                            // The server may reset rather than close (seen
                            // under load).
                            | embedded_oauth2::tls::TlsConnectError::Transport(_)
                    ),
                    "{e:?}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_wrong_certificate_or_none_is_invalid_client() {
        let invalid_client = |r: Result<String, Error<tls::TlsConnectError>>| match r {
            Err(Error::OAuth(e)) => e.code == ErrorCode::InvalidClient,
            other => panic!("{other:?}"),
        };
        // No certificate.
        assert!(invalid_client(fetch("mtls-device", &mut connector(None))));
        // A certificate from the CA for another name.
        let other = identity("mtls", "other_cert_der", "other_key_pem");
        assert!(invalid_client(fetch(
            "mtls-device",
            &mut connector(Some(&other))
        )));
        // The CA-issued certificate is not the self-signed client's registered one.
        let device = identity("mtls", "cert_der", "key_pem");
        assert!(invalid_client(fetch(
            "self-signed-device",
            &mut connector(Some(&device))
        )));
    }
}

// ---------------------------------------------------------------------------
// The same scenarios over each transport
// ---------------------------------------------------------------------------

/// `http::NAME` and `https::NAME` for each scenario; attributes (such as a
/// `#[cfg(feature = ...)]` gate) before a name apply to both tests.
macro_rules! over_each_transport {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        /// Plain HTTP on loopback.
        mod http {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    super::$name(&mut super::HttpNet);
                }
            )*
        }

        /// TLS 1.3, server certificate verified against the test CA.
        mod https {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    super::$name(&mut super::TlsNet::new());
                }
            )*
        }
    };
}

over_each_transport!(
    basic_auth,
    post_auth,
    basic_unencoded_plain_client,
    reserved_characters_basic,
    reserved_characters_unencoded_fails,
    resources,
    wrong_secret_is_invalid_client,
    disallowed_scope_is_invalid_scope,
    unknown_resource_is_invalid_target,
    second_token_is_cached,
    short_token_is_renewed_when_due,
    failed_renewal_keeps_the_old_token,
    receipt_call_renews_after_revocation,
    rejected_twice_is_reported_not_looped,
    revoked_every_time_is_rejected,
    insufficient_scope_is_not_retried,
    #[cfg(feature = "revocation")]
    client_revokes_its_token,
    #[cfg(all(feature = "client-secret-jwt", feature = "p256"))]
    client_secret_jwt_aud_token_endpoint,
    #[cfg(all(feature = "client-secret-jwt", feature = "p256"))]
    client_secret_jwt_aud_issuer,
    #[cfg(all(feature = "client-secret-jwt", feature = "p256"))]
    private_key_jwt_aud_token_endpoint,
    #[cfg(all(feature = "client-secret-jwt", feature = "p256"))]
    private_key_jwt_aud_issuer,
    #[cfg(all(feature = "client-secret-jwt", feature = "p256"))]
    assertion_for_another_listener_is_invalid_client,
    #[cfg(all(feature = "client-secret-jwt", feature = "p256"))]
    wrong_hs256_secret_is_invalid_client,
    #[cfg(all(feature = "client-secret-jwt", feature = "p256"))]
    other_es256_key_is_invalid_client,
    #[cfg(all(feature = "client-secret-jwt", feature = "p256"))]
    replayed_jti_is_refused,
    #[cfg(all(feature = "client-secret-jwt", feature = "p256"))]
    counter_jti_allows_many_fetches,
    #[cfg(all(feature = "client-secret-jwt", feature = "p256"))]
    no_wall_clock_means_no_connection,
    #[cfg(all(feature = "client-secret-jwt", feature = "p256"))]
    stale_wall_clock_is_refused,
    #[cfg(all(feature = "dpop", feature = "p256"))]
    dpop_token_is_bound_and_accepted_with_its_proof,
    #[cfg(all(feature = "dpop", feature = "p256"))]
    dpop_server_nonce_is_used,
    #[cfg(all(feature = "dpop", feature = "p256"))]
    dpop_misuse_is_refused,
    #[cfg(all(feature = "dpop", feature = "p256"))]
    dpop_client_without_a_proof_is_refused,
    #[cfg(all(feature = "dpop", feature = "p256"))]
    dpop_resource_nonce_is_used,
);
