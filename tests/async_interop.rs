//! The async driver ([`embedded_oauth2::asynch`]) against the real
//! authorization server (`tests/authz-server/`) over verified TLS 1.3.
//!
//! The connector is the crate's async TLS connector
//! (`embedded_oauth2::tls`, embedded-tls 0.19's **async** connection),
//! verifying the chain to the test CA, the name `localhost` and the
//! server's CertificateVerify, over an async TCP opener. On a device the
//! socket is an embassy-net `TcpSocket`; here it is the crate's
//! `tls::host::StdTcp`, whose `async fn`s call the blocking methods, which
//! is fine for a host test driven by `embassy_futures::block_on`. The
//! receipt GET is the crate's (`asynch::request`).
//!
//! Scenarios: `token_async` for the basic, `client_secret_jwt` and
//! `private_key_jwt` clients; the cache (no connection for a fresh token);
//! `call_async` with a receipt GET over async TLS, then the token revoked
//! behind the client's back → 401 → one renewal → one retry; and a wrong CA
//! (or certificate) as a handshake error before anything is sent. Ports are
//! the server's (random); one server per test binary.
#![cfg(feature = "async")]
// `embedded_oauth2::Error` carries the server's OAuth error by value.
#![allow(clippy::result_large_err)]

mod support {
    pub mod authz;
}

/// The host side of the connector (PEM reading, the crate's std opener;
/// shared through `#[path]`).
#[path = "../cli/src/tls.rs"]
mod tls;

use std::io;
use std::time::{Duration, Instant as StdInstant};

use base64ct::{Base64, Encoding};
use embassy_futures::block_on;
use embedded_io_async::{ErrorType, Read, Write};
use embedded_oauth2::asynch::Connect;
use embedded_oauth2::http::{ResourceRequest, ResourceResponse, ResourceUrl};
use embedded_oauth2::tls::{CertError, READ_BUFFER, TlsConnectError};
use embedded_oauth2::{
    Attempt, CallError, Client, ClientAuth, ClientId, ClientSecret, Clock, Config, Error,
    Freshness, Instant, Token, TokenEndpoint, TokenType,
};
use support::authz::AuthzServer;
use tls::{HostTls, StdSocket, StdTcp};

/// Device-sized memory: secret, token, scope and work buffer capacities.
const N: usize = 64;
const T: usize = 2048;
const S: usize = 128;
const WORK: usize = 4096;

/// Read/write timeout on every socket: a hung server fails the test.
const IO_TIMEOUT: Duration = Duration::from_secs(15);

fn server() -> &'static AuthzServer {
    AuthzServer::shared()
}

fn port(key: &str) -> u16 {
    server().ready[key]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_else(|| panic!("ready file has no port {key:?}"))
}

/// `https://localhost:<port>/token` on the listener with the good certificate.
fn token_url() -> String {
    server().https_url(server().get("token_path"))
}

fn cert(name: &str) -> Vec<u8> {
    let path = server().certs.join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn clock() -> impl Clock {
    let boot = StdInstant::now();
    move || Instant::from_millis(u64::try_from(boot.elapsed().as_millis()).unwrap_or(u64::MAX))
}

fn basic_config<'a>(url: &'a str, name: &str) -> Config<'a, N> {
    let (id, secret) = server().client(name);
    Config::new(
        TokenEndpoint::parse(url).expect("https token URL"),
        ClientId::new(id).expect("client id"),
        ClientAuth::Basic(ClientSecret::new(secret).expect("secret fits")),
    )
}

// ---------------------------------------------------------------------------
// The async connector
// ---------------------------------------------------------------------------

/// The crate's connector over its std opener (async here); certificate
/// dates checked against the system clock.
type Inner = tls::TlsConnector;

/// An open connection of [`Inner`].
type AsyncTls<'c> = embedded_oauth2::tls::asynch::TlsStream<'c, StdSocket>;

/// The crate's async connector, counting the handshakes that verified the
/// server (one connection at a time: it borrows the record buffers).
struct AsyncTlsConnector {
    inner: Inner,
    /// Handshakes that verified the server (certificate and
    /// CertificateVerify).
    verified: usize,
}

impl AsyncTlsConnector {
    /// Trusts `ca` (PEM or DER) only.
    fn new(ca: &[u8]) -> Self {
        let inner = tls::connector(ca, None)
            .unwrap_or_else(|e| panic!("connector: {e}"))
            .with_timeout(IO_TIMEOUT);
        Self { inner, verified: 0 }
    }

    /// Trusts the test CA that signed the server's certificates.
    fn trusting_test_ca() -> Self {
        Self::new(&cert("ca.pem"))
    }

    /// TCP connections opened.
    fn connections(&mut self) -> usize {
        self.inner.opener_mut().opened()
    }

    /// TCP to `host:port`, then the async TLS handshake verifying the chain
    /// to the CA, the name `host` and the server's CertificateVerify.
    async fn open(
        &mut self,
        host: &str,
        port: u16,
    ) -> Result<AsyncTls<'_>, TlsConnectError<io::Error>> {
        let stream = self.inner.asynch().open(host, port).await?;
        self.verified += 1;
        Ok(stream)
    }
}

impl Connect for AsyncTlsConnector {
    type Error = TlsConnectError<io::Error>;
    type Connection<'c> = AsyncTls<'c>;

    async fn connect(&mut self, ep: &TokenEndpoint<'_>) -> Result<AsyncTls<'_>, Self::Error> {
        self.open(ep.host(), ep.port()).await
    }

    async fn close<'c>(connection: AsyncTls<'c>) -> Result<(), Self::Error>
    where
        Self: 'c,
    {
        connection.close().await
    }
}

// ---------------------------------------------------------------------------
// The test's own HTTP/1.1 over async TLS (the revocation behind the client's
// back), and the receipt GET through the crate's `asynch::request`
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
}

/// Reads one response framed by `Content-Length` (what both servers send
/// here), or ended by the connection.
async fn read_response<R: Read>(s: &mut R) -> Result<Response, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading the response head: {e:?}"))?;
        if n == 0 {
            return Err(format!(
                "EOF in the head: {:?}",
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
    assert!(
        resp.header("transfer-encoding").is_none(),
        "chunked responses are not expected here: {resp:?}"
    );
    while length.is_none_or(|len| resp.body.len() < len) {
        let n = match s.read(&mut chunk).await {
            Ok(n) => n,
            Err(_) if length.is_none() => 0,
            Err(e) => return Err(format!("reading the body: {e:?}")),
        };
        if n == 0 {
            if let Some(len) = length {
                return Err(format!("EOF after {} of {len} body bytes", resp.body.len()));
            }
            break;
        }
        resp.body.extend_from_slice(&chunk[..n]);
    }
    Ok(resp)
}

/// Sends `request` over a new verified connection to `localhost:port` and
/// reads the response.
async fn exchange(
    tls: &mut AsyncTlsConnector,
    port: u16,
    request: &[u8],
) -> Result<Response, String> {
    let mut s = tls
        .open("localhost", port)
        .await
        .map_err(|e| format!("TLS to port {port}: {e:?}"))?;
    s.write_all(request)
        .await
        .map_err(|e| format!("writing the request: {e:?}"))?;
    s.flush()
        .await
        .map_err(|e| format!("flushing the request: {e:?}"))?;
    read_response(&mut s).await
}

/// The receipt service's answer and the buffer holding its body.
#[derive(Debug)]
struct Receipt {
    answer: ResourceResponse,
    buf: Vec<u8>,
}

impl Receipt {
    fn json(&self) -> serde_json::Value {
        let body = self.answer.body(&self.buf);
        serde_json::from_slice(body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} body is not JSON ({e}): {}",
                self.answer.status,
                String::from_utf8_lossy(body)
            )
        })
    }
}

/// `GET /receipts/<id>` with the token (the crate's resource request) over
/// a connection of `tls`.
async fn get_receipt<const TT: usize, const SS: usize>(
    tls: &mut AsyncTlsConnector,
    id: &str,
    token: &Token<TT, SS>,
) -> Result<Receipt, String> {
    let url = format!(
        "https://localhost:{}/receipts/{id}",
        port("receipts_https_port")
    );
    let url = ResourceUrl::parse(&url).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; WORK];
    let answer =
        embedded_oauth2::asynch::request(tls, &ResourceRequest::get(&url), token, &mut buf)
            .await
            .map_err(|e| format!("GET {}: {e:?}", url.url()))?;
    Ok(Receipt { answer, buf })
}

/// Revokes `token` (RFC 7009) as its owner, the `basic` client.
async fn revoke(tls: &mut AsyncTlsConnector, token: &str) {
    let (id, secret) = server().client("basic");
    let port = port("https_port");
    let body = format!(
        "token={}&token_type_hint=access_token",
        token
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D")
    );
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: localhost:{port}\r\nAuthorization: Basic {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        server().get("revocation_path"),
        Base64::encode_string(format!("{id}:{secret}").as_bytes()),
        body.len()
    );
    let resp = exchange(tls, port, request.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("revocation: {e}"));
    assert_eq!(resp.status, 200, "revocation: {resp:?}");
}

/// The receipt service's answer for `call_async`: 401 rejects the token.
fn classify(resp: Receipt) -> Attempt<Receipt> {
    if Attempt::<()>::rejects_token(resp.answer.status) {
        assert_eq!(
            resp.answer
                .head()
                .www_authenticate
                .as_ref()
                .map(|t| t.as_str()),
            Some(r#"Bearer error="invalid_token""#),
            "{resp:?}"
        );
    }
    match resp.answer.clone().attempt() {
        Attempt::Done(_) => Attempt::Done(resp),
        Attempt::TokenRejected => Attempt::TokenRejected,
        other => panic!("{other:?}: {resp:?}"),
    }
}

fn assert_receipt(resp: &Receipt, id: &str, client_id: &str) {
    assert_eq!(resp.answer.status, 200, "{resp:?}");
    let json = resp.json();
    assert_eq!(json["receipt"], id, "{json}");
    assert_eq!(json["format"], "pdf", "{json}");
    assert_eq!(json["client_id"], client_id, "{json}");
}

/// The claims of a receipts JWT access token.
#[cfg(feature = "client-secret-jwt")]
fn jwt_claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).expect("a JWT access token");
    serde_json::from_slice(&base64ct::Base64UrlUnpadded::decode_vec(payload).expect("base64url"))
        .expect("JSON claims")
}

/// What a test keeps of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Issued {
    access: String,
    scope: Option<String>,
    expires_in: Option<u64>,
}

fn issued<const TT: usize, const SS: usize>(t: &Token<TT, SS>) -> Issued {
    assert_eq!(t.token_type(), TokenType::Bearer);
    Issued {
        access: t.expose_secret().to_owned(),
        scope: t.scope().map(str::to_owned),
        expires_in: t.expires_in(),
    }
}

fn assert_wiped(work: &[u8]) {
    assert!(work.iter().all(|&b| b == 0), "work buffer not wiped");
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

/// `token_async` for `basic-client` (`client_secret_basic`) over async TLS
/// 1.3 verified against the test CA: one connection, one verified
/// handshake, the token the server announced.
#[test]
fn basic_client_token_async_over_verified_tls13() {
    block_on(async {
        let url = token_url();
        let config = basic_config(&url, "basic")
            .with_scope("telemetry:write")
            .unwrap();
        let mut client: Client<_, N, T, S> = Client::new(config, clock());
        let mut tls = AsyncTlsConnector::trusting_test_ca();
        let mut work = [0u8; WORK];
        let started = StdInstant::now();
        let tok = client
            .asynch()
            .token(&mut tls, &mut work)
            .await
            .map(issued)
            .unwrap_or_else(|e| {
                panic!(
                    "token_async: {e:?}\n--- server stderr ---\n{}",
                    server().stderr_log()
                )
            });
        eprintln!(
            "async TLS 1.3 handshake + token request: {} ms",
            started.elapsed().as_millis()
        );
        assert_wiped(&work);
        assert!(!tok.access.is_empty());
        assert_eq!(tok.scope.as_deref(), Some("telemetry:write"));
        assert_eq!(tok.expires_in, Some(300));
        assert_eq!((tls.connections(), tls.verified), (1, 1));
    });
}

/// `token_async` for `jwt-client` (`client_secret_jwt`, HS256 assertion
/// with `aud` = the token URL, `jti` from a `CounterJti` with a random
/// prefix): a receipts JWT issued to `jwt-client`, then a second fetch
/// (next `jti`) is accepted too, and the receipt service takes the token.
#[cfg(feature = "client-secret-jwt")]
#[test]
fn jwt_client_token_async_over_verified_tls13() {
    use embedded_oauth2::assertion::{Assertion, CounterJti};
    use rand_core::{OsRng, RngCore};
    block_on(async {
        let url = token_url();
        let (id, secret) = server().client("jwt");
        let wall = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs())
        };
        let mut prefix = [0u8; 8];
        OsRng.fill_bytes(&mut prefix);
        let jti = CounterJti::new(prefix);
        let config = Config::new(
            TokenEndpoint::parse(&url).unwrap(),
            ClientId::new(id).unwrap(),
            ClientAuth::SecretJwt(ClientSecret::<N>::new(secret).unwrap()),
        )
        .with_assertion(Assertion::new(&wall, &jti))
        .with_resources(&["https://receipts.example/"])
        .unwrap()
        .with_scope("receipts:read")
        .unwrap();
        let mut client: Client<_, N, T, S> = Client::new(config, clock());
        let mut tls = AsyncTlsConnector::trusting_test_ca();
        let mut work = [0u8; WORK];

        let first = client
            .asynch()
            .token(&mut tls, &mut work)
            .await
            .map(issued)
            .unwrap_or_else(|e| panic!("token_async: {e:?}"));
        assert_wiped(&work);
        assert_eq!(first.scope.as_deref(), Some("receipts:read"));
        assert_eq!(jwt_claims(&first.access)["client_id"], id);

        let second = client
            .asynch()
            .fetch(&mut tls, &mut work)
            .await
            .map(issued)
            .unwrap_or_else(|e| panic!("fetch_async with the next jti: {e:?}"));
        assert_ne!(second.access, first.access);
        assert_eq!((tls.connections(), tls.verified), (2, 2));

        let mut rs = AsyncTlsConnector::trusting_test_ca();
        let receipt = client
            .asynch()
            .call(&mut tls, &mut work, async |_, token: &Token<T, S>| {
                get_receipt(&mut rs, "7", token).await.map(classify)
            })
            .await
            .unwrap_or_else(|e| panic!("call_async: {e:?}"));
        assert_receipt(&receipt, "7", id);
        assert_eq!(tls.connections(), 2, "the cached token was used");
    });
}

/// `token_async` for `pkjwt-client` (`private_key_jwt`, ES256 with the key
/// the server generated, loaded from its PKCS#8 PEM, and its `kid`).
#[cfg(feature = "p256")]
#[test]
fn private_key_jwt_client_token_async_over_verified_tls13() {
    use embedded_oauth2::assertion::{Assertion, CounterJti, P256Signer};
    use p256::pkcs8::DecodePrivateKey;
    use rand_core::{OsRng, RngCore};
    block_on(async {
        let c = &server().ready["clients"]["pkjwt"];
        let field = |k: &str| c[k].as_str().unwrap_or_else(|| panic!("clients.pkjwt.{k}"));
        let pem = std::fs::read_to_string(field("private_key_pem")).expect("pkjwt key");
        let key = p256::SecretKey::from_pkcs8_pem(&pem).expect("PKCS#8 P-256 key");
        let signer = P256Signer::from_bytes(&key.to_bytes().into()).expect("scalar");
        let wall = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs())
        };
        let mut prefix = [0u8; 8];
        OsRng.fill_bytes(&mut prefix);
        let jti = CounterJti::new(prefix);
        let url = token_url();
        let config = Config::<N>::new(
            TokenEndpoint::parse(&url).unwrap(),
            ClientId::new(field("client_id")).unwrap(),
            ClientAuth::PrivateKeyJwt,
        )
        .with_assertion(
            Assertion::new(&wall, &jti)
                .with_signer(&signer)
                .with_key_id(field("kid")),
        )
        .with_scope("opaque:read")
        .unwrap();
        let mut client: Client<_, N, T, S> = Client::new(config, clock());
        let mut tls = AsyncTlsConnector::trusting_test_ca();
        let mut work = [0u8; WORK];
        let tok = client
            .asynch()
            .token(&mut tls, &mut work)
            .await
            .map(issued)
            .unwrap_or_else(|e| panic!("token_async: {e:?}"));
        assert_wiped(&work);
        assert_eq!(tok.scope.as_deref(), Some("opaque:read"));
        assert_eq!((tls.connections(), tls.verified), (1, 1));
    });
}

/// The cache through the async driver: a fresh token is handed out without
/// a connection; `fetch_async` always asks; after `invalidate` the next
/// `token_async` fetches.
#[test]
fn cache_is_reused_by_token_async() {
    block_on(async {
        let url = token_url();
        let config = basic_config(&url, "basic")
            .with_scope("opaque:read")
            .unwrap();
        let mut client: Client<_, N, T, S> = Client::new(config, clock());
        let mut tls = AsyncTlsConnector::trusting_test_ca();
        let mut work = [0u8; WORK];
        assert_eq!(client.freshness(), Freshness::Expired);

        let first = issued(client.asynch().token(&mut tls, &mut work).await.unwrap());
        assert_eq!(tls.connections(), 1);
        assert_eq!(client.freshness(), Freshness::Fresh);
        for _ in 0..3 {
            let again = issued(client.asynch().token(&mut tls, &mut work).await.unwrap());
            assert_eq!(again, first);
        }
        assert_eq!(tls.connections(), 1, "the cached token was not used");

        let fetched = issued(client.asynch().fetch(&mut tls, &mut work).await.unwrap());
        assert_eq!(tls.connections(), 2);
        assert_ne!(fetched.access, first.access);
        assert_eq!(client.cached().map(issued), Some(fetched.clone()));

        client.invalidate();
        assert!(client.cached().is_none());
        let renewed = issued(client.asynch().token(&mut tls, &mut work).await.unwrap());
        assert_eq!(tls.connections(), 3);
        assert_ne!(renewed.access, fetched.access);
        assert_eq!(tls.verified, 3);
        assert_wiped(&work);
    });
}

/// `call_async` to the receipt service over async TLS: the receipt comes
/// back with the cached token; after the token is revoked at the
/// authorization server, the next call sees 401, renews once, retries once
/// and succeeds with the new token, which is cached again.
#[test]
fn call_async_receipt_then_revoke_renew_retry() {
    block_on(async {
        let url = token_url();
        let config = basic_config(&url, "basic")
            .with_resources(&["https://receipts.example/"])
            .unwrap()
            .with_scope("receipts:read")
            .unwrap();
        let basic_id = server().client("basic").0;
        let mut client: Client<_, N, T, S> = Client::new(config, clock());
        let mut tls = AsyncTlsConnector::trusting_test_ca();
        let mut rs = AsyncTlsConnector::trusting_test_ca();
        let mut work = [0u8; WORK];
        let mut seen: Vec<(String, u16)> = Vec::new();

        macro_rules! call {
            ($id:expr) => {
                client
                    .asynch()
                    .call(&mut tls, &mut work, async |_, token: &Token<T, S>| {
                        let resp = get_receipt(&mut rs, $id, token).await?;
                        seen.push((token.expose_secret().to_owned(), resp.answer.status));
                        Ok::<_, String>(classify(resp))
                    })
                    .await
            };
        }

        let receipt = call!("42").unwrap_or_else(|e| panic!("first call: {e:?}"));
        assert_receipt(&receipt, "42", basic_id);
        assert_eq!((tls.connections(), seen.len()), (1, 1));
        let first = seen[0].0.clone();

        let receipt = call!("43").unwrap_or_else(|e| panic!("second call: {e:?}"));
        assert_receipt(&receipt, "43", basic_id);
        assert_eq!((tls.connections(), seen.len()), (1, 2), "cached token");
        assert_eq!(seen[1].0, first);

        // Revoked behind the client's back: still fresh to the client.
        revoke(&mut rs, &first).await;
        assert_eq!(client.freshness(), Freshness::Fresh);
        let receipt = call!("44").unwrap_or_else(|e| panic!("call after revocation: {e:?}"));
        assert_receipt(&receipt, "44", basic_id);
        assert_eq!(tls.connections(), 2, "exactly one renewal");
        assert_eq!(seen.len(), 4, "one refused attempt, one retry");
        assert_eq!(seen[2], (first.clone(), 401));
        assert_eq!(seen[3].1, 200);
        assert_ne!(seen[3].0, first, "the retry used the new token");
        let renewed = seen[3].0.clone();
        assert_eq!(
            client.cached().map(|t| t.expose_secret().to_owned()),
            Some(renewed.clone())
        );

        let receipt = call!("45").unwrap_or_else(|e| panic!("call after renewal: {e:?}"));
        assert_receipt(&receipt, "45", basic_id);
        assert_eq!((tls.connections(), seen.len()), (2, 5));
        assert_eq!(seen[4].0, renewed);
        assert_eq!(tls.verified, 2);
        assert_wiped(&work);
    });
}

/// Asserts a handshake refused for `why`: no token, one connection, no
/// verified handshake, work buffer wiped.
fn assert_certificate_refused<C: Clock>(
    why: CertError,
    result: Result<Issued, Error<TlsConnectError<io::Error>>>,
    client: &Client<'_, C, N, T, S>,
    tls: &mut AsyncTlsConnector,
    work: &[u8],
) {
    match result {
        Err(Error::Transport(TlsConnectError::Certificate(e))) if e == why => {}
        other => panic!(
            "expected the handshake to be refused with {why:?}, got {other:?}\n\
             --- server stderr ---\n{}",
            server().stderr_log()
        ),
    }
    assert!(client.cached().is_none());
    assert_eq!((tls.connections(), tls.verified), (1, 0));
    assert_wiped(work);
}

/// A wrong CA is a handshake error through the async driver, before the
/// request (and the secret) is sent: trusting an unrelated CA against the
/// good listener, and the test CA against the listeners whose certificate
/// comes from another CA or names another host. `call_async` never runs
/// its attempt then.
#[test]
fn wrong_ca_is_a_handshake_error() {
    block_on(async {
        let url = token_url();
        let cases = [
            (
                "other CA trusted",
                url.clone(),
                cert("other-ca.pem"),
                CertError::UnknownIssuer,
            ),
            (
                "listener with another CA's certificate",
                format!("{}/token", server().get("https_other_ca")),
                cert("ca.pem"),
                CertError::UnknownIssuer,
            ),
            (
                "listener with a certificate for wrong.example",
                format!("{}/token", server().get("https_wrong_name")),
                cert("ca.pem"),
                CertError::Name,
            ),
        ];
        for (what, url, ca, why) in &cases {
            eprintln!("case: {what}");
            let config = basic_config(url, "basic");
            let mut client: Client<_, N, T, S> = Client::new(config, clock());
            let mut tls = AsyncTlsConnector::new(ca);
            let mut work = [0u8; WORK];
            let result = client.asynch().token(&mut tls, &mut work).await.map(issued);
            assert_certificate_refused(*why, result, &client, &mut tls, &work);
        }

        let config = basic_config(&url, "basic")
            .with_resources(&["https://receipts.example/"])
            .unwrap();
        let mut client: Client<_, N, T, S> = Client::new(config, clock());
        let mut tls = AsyncTlsConnector::new(&cert("other-ca.pem"));
        let mut work = [0u8; WORK];
        let mut attempts = 0;
        let result = client
            .asynch()
            .call(&mut tls, &mut work, async |_, _: &Token<T, S>| {
                attempts += 1;
                Ok::<_, String>(Attempt::Done(()))
            })
            .await;
        assert!(
            matches!(
                result,
                Err(CallError::Token(Error::Transport(
                    TlsConnectError::Certificate(CertError::UnknownIssuer)
                )))
            ),
            "{result:?}"
        );
        assert_eq!(attempts, 0, "no request without a verified server");
        assert_eq!((tls.connections(), tls.verified), (1, 0));
    });
}

// ---------------------------------------------------------------------------
// Cancellation: the record buffers are wiped on every exit path
// ---------------------------------------------------------------------------

/// Pending once, then ready: one await point.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

/// A socket that yields once before every operation, as embassy-net's
/// does while it waits: every operation of the handshake and of the
/// exchange is an await point where `with_timeout` may cancel.
struct YieldingTcp(StdSocket);

impl ErrorType for YieldingTcp {
    type Error = io::Error;
}

impl Read for YieldingTcp {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, io::Error> {
        YieldOnce(false).await;
        self.0.read(buf).await
    }
}

impl Write for YieldingTcp {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, io::Error> {
        YieldOnce(false).await;
        self.0.write(buf).await
    }

    async fn flush(&mut self) -> Result<(), io::Error> {
        YieldOnce(false).await;
        self.0.flush().await
    }
}

struct YieldingOpener;

impl ErrorType for YieldingOpener {
    type Error = io::Error;
}

impl embedded_oauth2::tls::asynch::Open for YieldingOpener {
    type Socket<'s> = YieldingTcp;

    async fn open(&mut self, host: &str, port: u16) -> Result<YieldingTcp, io::Error> {
        YieldOnce(false).await;
        let mut opener = StdTcp::new(IO_TIMEOUT);
        embedded_oauth2::tls::asynch::Open::open(&mut opener, host, port)
            .await
            .map(YieldingTcp)
    }
}

/// Polls `fut` at most `polls` times: `Some(output)` when it completed,
/// `None` when it was cancelled (dropped) while pending.
fn poll_at_most<F: std::future::Future>(fut: F, polls: usize) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..polls {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Some(out);
        }
    }
    None
}

/// An async fetch (and a revocation) cancelled at every await point — what
/// `embassy_time::with_timeout` does when it fires — leaves no byte in the
/// connector's record buffers: embedded-tls decrypts in place, so they held
/// the token response (and a revocation request holds the token and the
/// credentials). The connector is forgotten, not dropped, before the
/// buffers are read: they must have been wiped while it still lived, as a
/// connector in a `static` lives for ever. (Before: only a completed
/// exchange wiped them.)
#[test]
fn cancelled_exchanges_leave_the_record_buffers_wiped() {
    let ca = tls::certificate_der(&cert("ca.pem")).expect("CA");
    let url = token_url();
    let mut read = vec![0u8; READ_BUFFER];
    let mut write = vec![0u8; tls::WRITE_BUFFER];
    let mut cancelled = 0;
    for what in ["fetch", "revoke"] {
        if what == "revoke" && !cfg!(feature = "revocation") {
            continue;
        }
        for polls in 1.. {
            let mut connector = embedded_oauth2::tls::TlsConnector::new(
                YieldingOpener,
                rand_core::OsRng,
                &ca[..],
                &mut read[..],
                &mut write[..],
            )
            .expect("connector");
            let mut client: Client<_, N, T, S> =
                Client::new(revocable(basic_config(&url, "basic")), clock());
            let mut work = [0u8; WORK];
            let done = if what == "fetch" {
                poll_at_most(client.asynch().fetch(&mut connector, &mut work), polls)
                    .map(|r| r.map(drop))
            } else {
                block_on(client.asynch().fetch(&mut connector, &mut work)).expect("a token");
                revoke_at_most(&mut client, &mut connector, &mut work, polls)
            };
            std::mem::forget(connector);
            let dirty = read.iter().chain(&write).filter(|&&b| b != 0).count();
            assert_eq!(
                dirty, 0,
                "{what} cancelled after {polls} polls: {dirty} bytes left"
            );
            match done {
                None => cancelled += 1,
                Some(r) => {
                    r.unwrap_or_else(|e| panic!("{what}: {e:?}"));
                    assert!(polls > 10, "{what} completed after {polls} polls");
                    break;
                }
            }
        }
    }
    assert!(cancelled > 20, "{cancelled} cancellations");
}

/// The revocation endpoint of the test server, when the feature is on.
fn revocable(config: Config<'_, N>) -> Config<'_, N> {
    #[cfg(feature = "revocation")]
    {
        let url = server().https_url(server().get("revocation_path"));
        let url: &'static str = Box::leak(url.into_boxed_str());
        config.with_revocation_endpoint(TokenEndpoint::parse(url).expect("revocation URL"))
    }
    #[cfg(not(feature = "revocation"))]
    config
}

#[cfg(feature = "revocation")]
fn revoke_at_most<C: Clock, K: Connect>(
    client: &mut Client<'_, C, N, T, S>,
    connector: &mut K,
    work: &mut [u8],
    polls: usize,
) -> Option<Result<(), Error<K::Error>>> {
    poll_at_most(client.asynch().revoke(connector, work), polls)
}

#[cfg(not(feature = "revocation"))]
fn revoke_at_most<C: Clock, K: Connect>(
    _: &mut Client<'_, C, N, T, S>,
    _: &mut K,
    _: &mut [u8],
    _: usize,
) -> Option<Result<(), Error<K::Error>>> {
    Some(Ok(()))
}
