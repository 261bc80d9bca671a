//! Instruction-count benchmark: embedded-oauth2 against oauth2-rs 5 (with
//! serde_json, as it parses), counted by valgrind's callgrind.
//!
//! `bench <workload> [iterations]` runs one workload; `bench check` (no
//! valgrind needed) proves that both libraries produce the same request and
//! the same results for every workload before anything is counted.
//!
//! Every workload `X` is a `#[unsafe(no_mangle)]` function `wl_X` that runs
//! the per-iteration function `iterations` times; `scripts/bench.sh` counts
//! only inside it (`--collect-atstart=no --toggle-collect=wl_X`) and divides
//! by the iteration count. Setup (configuration, client, fixtures) and a
//! warm-up (first allocations, lazy page faults) happen outside it.
//!
//! What is compared is conservative for embedded-oauth2: it writes the
//! request's wire bytes and parses raw HTTP response bytes (httparse), while
//! oauth2-rs only builds an `http::Request` object and receives a ready
//! `http::Response` — the serialisation and HTTP parsing its HTTP client
//! would do are not counted.

mod fixtures;

use std::cell::RefCell;
use std::hint::black_box;

use embedded_oauth2 as eo;
use eo::embedded_io::{self, ErrorKind};
use eo::error::ErrorDetails;
use eo::http::{
    Exchange, encode_request, parse_token_response, parse_token_response_with_details,
};
use eo::{
    Client, ClientAuth, Config, Error, ErrorCode, Instant, Limits, RefreshPolicy, Token,
    TokenEndpoint, TokenType,
};
use oauth2::TokenResponse as _;
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{EndpointNotSet, EndpointSet, HttpRequest, HttpResponse, RequestTokenError, Scope};

use fixtures::{ERROR_BODY, JWT, TOKEN_BODY, TOKEN_HEAD};

// ---- The same client for both libraries ------------------------------------

const TOKEN_URL: &str = "https://auth.example.com/realms/devices/protocol/openid-connect/token";
const CLIENT_ID: &str = "sensor-0042";
/// Keycloak generates 32-character client secrets.
const CLIENT_SECRET: &str = "9fK2xQ7mV4pL8sT1wZ6bN3cR5yH0jD2e";
const SCOPE: &str = "telemetry:write";
const GRANTED_SCOPE: &str = "telemetry:write profile";
/// One work buffer for request, response and parsing (docs/sizing.md: 4 KiB is
/// enough for a 1 KiB JWT in a Keycloak-style response).
const WORK: usize = 4096;

type OurConfig = Config<'static, 64>;
type OurToken = Token<2048, 128>;
type TheirClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

fn our_config() -> OurConfig {
    Config::new(
        TokenEndpoint::parse(TOKEN_URL).unwrap(),
        eo::ClientId::new(CLIENT_ID).unwrap(),
        ClientAuth::Basic(eo::ClientSecret::<64>::new(CLIENT_SECRET).unwrap()),
    )
    .with_scope(SCOPE)
    .unwrap()
}

/// oauth2-rs's default client authentication is `client_secret_basic` with
/// the RFC 6749 §2.3.1 encoding, like ours.
fn their_client() -> TheirClient {
    BasicClient::new(oauth2::ClientId::new(CLIENT_ID.into()))
        .set_client_secret(oauth2::ClientSecret::new(CLIENT_SECRET.into()))
        .set_token_uri(oauth2::TokenUrl::new(TOKEN_URL.into()).unwrap())
}

fn token_response_bytes() -> Vec<u8> {
    [TOKEN_HEAD.as_bytes(), TOKEN_BODY.as_bytes()].concat()
}

/// The HTTP client's error when it is told not to answer (request workload).
#[derive(Debug)]
struct Stop;
impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request captured, not sent")
    }
}
impl std::error::Error for Stop {}

/// What oauth2-rs's HTTP client hands back: status, `Content-Type` (which
/// oauth2-rs checks) and the body it read.
fn canned_response(status: u16, body: &[u8]) -> HttpResponse {
    http::Response::builder()
        .status(status)
        .header(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        )
        .body(body.to_vec())
        .unwrap()
}

// ---- A transport for embedded-oauth2's driver -------------------------------

/// Accepts the whole request, then returns `response` in one read (as a TLS
/// record layer would), then EOF.
struct Canned<'r> {
    response: &'r [u8],
    pos: usize,
}

impl embedded_io::ErrorType for Canned<'_> {
    type Error = ErrorKind;
}
impl embedded_io::Read for Canned<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        let rest = &self.response[self.pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}
impl embedded_io::Write for Canned<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        black_box(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

/// The monotonic clock: always 1000 s after boot (a fetched token, 300 s
/// lifetime, stays fresh).
fn now() -> Instant {
    black_box(Instant::from_secs(1000))
}

// ---- Per-iteration operations (kept out of line so callgrind names them) ---

/// Workload 1, request: the complete HTTP/1.1 request (head + body) in the work buffer.
#[inline(never)]
fn request_ours(config: &OurConfig, buf: &mut [u8]) -> usize {
    let n = encode_request(config, buf).unwrap();
    black_box(&buf[..n]);
    n
}

/// Workload 1, request: oauth2-rs builds its `http::Request` (URI, headers, body) and
/// hands it to the HTTP client, which captures it and does not answer.
#[inline(never)]
fn request_theirs(client: &TheirClient, scope: &Scope) -> usize {
    let capture = |req: HttpRequest| -> Result<HttpResponse, Stop> {
        black_box(&req);
        Err(Stop)
    };
    let r = client
        .exchange_client_credentials()
        .add_scope(scope.clone())
        .request(&capture);
    matches!(r, Err(RequestTokenError::Request(Stop))) as usize
}

/// Workload 2, token response body → `Token` (the client's cache slot).
#[inline(never)]
fn parse_ours(body: &[u8], work: &mut [u8], token: &mut OurToken, policy: &RefreshPolicy) -> usize {
    let resp = parse_token_response(200, body, work).unwrap();
    token.set(&resp, now(), policy).unwrap();
    token.expose_secret().len()
}

/// Workload 2, token response body → `BasicTokenResponse`, exactly as oauth2-rs's
/// `endpoint_response` does it (serde_path_to_error over serde_json).
#[inline(never)]
fn parse_theirs(body: &[u8]) -> usize {
    let t: BasicTokenResponse =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(body)).unwrap();
    t.access_token().secret().len()
}

/// Workload 3, error response (400 `invalid_scope`) → `Error::OAuth`.
#[inline(never)]
fn error_ours(body: &[u8], work: &mut [u8]) -> usize {
    // Like oauth2-rs, read the description too.
    let mut details = ErrorDetails::default();
    match parse_token_response_with_details(400, body, work, &mut details) {
        Err(Error::OAuth(_)) => details.description.map_or(0, |d| d.as_str().len()),
        other => panic!("{other:?}"),
    }
}

/// Workload 3, error response → `BasicErrorResponse`, as oauth2-rs's
/// `check_response_status` does it.
#[inline(never)]
fn error_theirs(body: &[u8]) -> usize {
    let e: BasicErrorResponse =
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(body)).unwrap();
    e.error_description().map_or(0, String::len)
}

/// Workload 4, request + response through the sans-IO `Exchange`: encode, "send",
/// feed the raw HTTP response bytes, finish, store in the `Token`.
#[inline(never)]
fn exchange_ours(
    config: &OurConfig,
    response: &[u8],
    buf: &mut [u8],
    token: &mut OurToken,
    policy: &RefreshPolicy,
) -> usize {
    let mut ex = Exchange::new(config, buf, Limits::new()).unwrap();
    let n = black_box(ex.to_send()).len();
    ex.sent(n);
    let dst = ex.recv_buf().unwrap();
    dst[..response.len()].copy_from_slice(response);
    assert!(ex.received(response.len()).unwrap());
    let resp = ex.finish().unwrap();
    token.set(&resp, now(), policy).unwrap();
    token.expose_secret().len()
}

/// Workload 4, request + response through oauth2-rs: build the request, the HTTP
/// client answers with the canned response, oauth2-rs checks status and
/// content type and parses the body into `BasicTokenResponse`.
#[inline(never)]
fn exchange_theirs(client: &TheirClient, scope: &Scope, body: &[u8]) -> usize {
    let http = |req: HttpRequest| -> Result<HttpResponse, Stop> {
        black_box(&req);
        Ok(canned_response(200, body))
    };
    let t = client
        .exchange_client_credentials()
        .add_scope(scope.clone())
        .request(&http)
        .unwrap();
    t.access_token().secret().len()
}

type OurClient = Client<'static, fn() -> Instant, 64, 2048, 128>;

/// Workload 5, the whole driver path, `Client::fetch` over a canned stream: begin,
/// encode, write, read, parse, store, and the zeroisation of the 4 KiB work
/// buffer it always does.
#[inline(never)]
fn fetch_ours(client: &mut OurClient, response: &[u8], buf: &mut [u8]) -> usize {
    let mut connect = |_: &TokenEndpoint<'_>| -> Result<Canned<'_>, ErrorKind> {
        Ok(Canned { response, pos: 0 })
    };
    client.fetch(&mut connect, buf).unwrap().expose_secret().len()
}

/// Workload 6, cache hit: `Client::token` with a fresh token. The connector panics if
/// it is ever called.
#[inline(never)]
fn cache_ours(client: &mut OurClient, buf: &mut [u8]) -> usize {
    let mut refuse = |_: &TokenEndpoint<'_>| -> Result<Canned<'static>, ErrorKind> {
        panic!("cache hit must not connect")
    };
    let token = client.token(&mut refuse, buf).unwrap();
    // Not `secret()`: that re-validates the token's UTF-8 (~0.5 instruction
    // per byte), which is the caller's use of the token, not the cache.
    black_box(token).expires_in().unwrap_or(0) as usize
}

// ---- DPoP proofs (no oauth2-rs counterpart) ------------------------------------

const RESOURCE_URL: &str = "https://api.example.com/v1/telemetry?batch=7";

/// A signer that returns a fixed signature: the proof's own cost without
/// the ECDSA (which a secure element does off the CPU).
struct FixedSignature;
impl eo::assertion::Es256Signer for FixedSignature {
    fn sign(&self, _: &[u8]) -> Result<[u8; 64], eo::assertion::SignError> {
        Ok([0x5a; 64])
    }
}

/// One DPoP proof for a resource request presenting the 1 KiB JWT (`ath`
/// hashes it), with a server nonce.
#[inline(never)]
fn dpop_proof(key: &eo::dpop::DpopKey<'_>, jti: &eo::assertion::CounterJti, buf: &mut [u8]) -> usize {
    use eo::assertion::JtiSource;
    eo::dpop::Proof::new("POST", RESOURCE_URL)
        .with_access_token(JWT)
        .with_nonce("eyJ7S_zG.n-1")
        .write(key, 1_767_225_600, jti.next_jti(), buf)
        .unwrap()
        .len()
}

// ---- The counted loops --------------------------------------------------------

macro_rules! workload {
    ($name:ident($($arg:ident : $ty:ty),*) => $body:expr) => {
        #[unsafe(no_mangle)]
        #[inline(never)]
        pub fn $name(iterations: usize, $($arg: $ty),*) -> usize {
            let mut acc = 0usize;
            for _ in 0..iterations {
                acc = acc.wrapping_add($body);
            }
            acc
        }
    };
}

workload! { wl_request_ours(c: &OurConfig, buf: &mut [u8]) => request_ours(black_box(c), buf) }
workload! { wl_request_oauth2(c: &TheirClient, s: &Scope) => request_theirs(black_box(c), s) }
workload! { wl_parse_ours(b: &[u8], w: &mut [u8], t: &mut OurToken, p: &RefreshPolicy) => parse_ours(black_box(b), w, t, p) }
workload! { wl_parse_oauth2(b: &[u8]) => parse_theirs(black_box(b)) }
workload! { wl_error_ours(b: &[u8], w: &mut [u8]) => error_ours(black_box(b), w) }
workload! { wl_error_oauth2(b: &[u8]) => error_theirs(black_box(b)) }
workload! { wl_exchange_ours(c: &OurConfig, r: &[u8], buf: &mut [u8], t: &mut OurToken, p: &RefreshPolicy) => exchange_ours(black_box(c), black_box(r), buf, t, p) }
workload! { wl_exchange_oauth2(c: &TheirClient, s: &Scope, b: &[u8]) => exchange_theirs(black_box(c), s, black_box(b)) }
workload! { wl_fetch_ours(c: &mut OurClient, r: &[u8], buf: &mut [u8]) => fetch_ours(c, black_box(r), buf) }
workload! { wl_cache_ours(c: &mut OurClient, buf: &mut [u8]) => cache_ours(c, buf) }
workload! { wl_dpop_proof(k: &eo::dpop::DpopKey<'_>, j: &eo::assertion::CounterJti, buf: &mut [u8]) => dpop_proof(black_box(k), j, buf) }
workload! { wl_dpop_proof_nosig(k: &eo::dpop::DpopKey<'_>, j: &eo::assertion::CounterJti, buf: &mut [u8]) => dpop_proof(black_box(k), j, buf) ^ 1 }

const WARM_UP: usize = 3;

fn run(workload: &str, iterations: usize) -> usize {
    let mut work = vec![0u8; WORK];
    let policy = RefreshPolicy::new();
    let mut token = OurToken::new();
    let scope = Scope::new(SCOPE.into());
    let response = token_response_bytes();
    match workload {
        "request-ours" => {
            let c = our_config();
            for _ in 0..WARM_UP {
                request_ours(&c, &mut work);
            }
            wl_request_ours(iterations, &c, &mut work)
        }
        "request-oauth2" => {
            let c = their_client();
            for _ in 0..WARM_UP {
                request_theirs(&c, &scope);
            }
            wl_request_oauth2(iterations, &c, &scope)
        }
        "parse-ours" => {
            let b = TOKEN_BODY.as_bytes();
            for _ in 0..WARM_UP {
                parse_ours(b, &mut work, &mut token, &policy);
            }
            wl_parse_ours(iterations, b, &mut work, &mut token, &policy)
        }
        "parse-oauth2" => {
            let b = TOKEN_BODY.as_bytes();
            for _ in 0..WARM_UP {
                parse_theirs(b);
            }
            wl_parse_oauth2(iterations, b)
        }
        "error-ours" => {
            let b = ERROR_BODY.as_bytes();
            for _ in 0..WARM_UP {
                error_ours(b, &mut work);
            }
            wl_error_ours(iterations, b, &mut work)
        }
        "error-oauth2" => {
            let b = ERROR_BODY.as_bytes();
            for _ in 0..WARM_UP {
                error_theirs(b);
            }
            wl_error_oauth2(iterations, b)
        }
        "exchange-ours" => {
            let c = our_config();
            for _ in 0..WARM_UP {
                exchange_ours(&c, &response, &mut work, &mut token, &policy);
            }
            wl_exchange_ours(iterations, &c, &response, &mut work, &mut token, &policy)
        }
        "exchange-oauth2" => {
            let c = their_client();
            let b = TOKEN_BODY.as_bytes();
            for _ in 0..WARM_UP {
                exchange_theirs(&c, &scope, b);
            }
            wl_exchange_oauth2(iterations, &c, &scope, b)
        }
        "fetch-ours" => {
            let mut c: OurClient = Client::new(our_config(), now as fn() -> Instant);
            for _ in 0..WARM_UP {
                fetch_ours(&mut c, &response, &mut work);
            }
            wl_fetch_ours(iterations, &mut c, &response, &mut work)
        }
        "cache-ours" => {
            let mut c: OurClient = Client::new(our_config(), now as fn() -> Instant);
            // Fill the cache once (this is the only fetch), then only hits.
            fetch_ours(&mut c, &response, &mut work);
            for _ in 0..WARM_UP {
                cache_ours(&mut c, &mut work);
            }
            wl_cache_ours(iterations, &mut c, &mut work)
        }
        "dpop-proof" | "dpop-proof-nosig" => {
            let p256 = eo::assertion::P256Signer::from_bytes(&[0x42; 32]).unwrap();
            let public = p256.public_key_sec1();
            let jti = eo::assertion::CounterJti::new(*b"benchjti");
            let signer: &(dyn eo::assertion::Es256Signer + Sync) = if workload == "dpop-proof" {
                &p256
            } else {
                &FixedSignature
            };
            let key = eo::dpop::DpopKey::new(signer, &public).unwrap();
            for _ in 0..WARM_UP {
                dpop_proof(&key, &jti, &mut work);
            }
            if workload == "dpop-proof" {
                wl_dpop_proof(iterations, &key, &jti, &mut work)
            } else {
                wl_dpop_proof_nosig(iterations, &key, &jti, &mut work)
            }
        }
        other => {
            eprintln!("unknown workload {other:?}\n{USAGE}");
            std::process::exit(2);
        }
    }
}

// ---- `bench check`: both libraries do the same work ---------------------------

fn check() {
    let mut work = vec![0u8; WORK];
    let policy = RefreshPolicy::new();
    let config = our_config();
    let client = their_client();
    let scope = Scope::new(SCOPE.into());

    // 1. The same request: method, target, Authorization, Content-Type,
    //    Accept and body.
    let n = request_ours(&config, &mut work);
    let ours = std::str::from_utf8(&work[..n]).unwrap().to_owned();
    let (our_head, our_body) = ours.split_once("\r\n\r\n").unwrap();
    let captured: RefCell<Option<HttpRequest>> = RefCell::new(None);
    let capture = |req: HttpRequest| -> Result<HttpResponse, Stop> {
        *captured.borrow_mut() = Some(req);
        Err(Stop)
    };
    let _ = client
        .exchange_client_credentials()
        .add_scope(scope.clone())
        .request(&capture);
    let req = captured.into_inner().unwrap();
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(req.uri().to_string(), TOKEN_URL);
    assert_eq!(
        our_body.as_bytes(),
        req.body().as_slice(),
        "form bodies differ"
    );
    for (name, value) in req.headers() {
        let line = format!("{}: {}", name.as_str(), value.to_str().unwrap());
        let found = our_head.lines().any(|l| l.eq_ignore_ascii_case(&line));
        assert!(
            found,
            "oauth2-rs sends {line:?}, embedded-oauth2 does not:\n{our_head}"
        );
    }
    println!(
        "request:  identical body ({} bytes) and headers {:?}",
        our_body.len(),
        req.headers().keys().map(|k| k.as_str()).collect::<Vec<_>>()
    );
    println!(
        "          embedded-oauth2 wire bytes: {n} (head {} + body {})",
        our_head.len() + 4,
        our_body.len()
    );

    // 2. The same token.
    let mut token = OurToken::new();
    parse_ours(TOKEN_BODY.as_bytes(), &mut work, &mut token, &policy);
    let theirs: BasicTokenResponse = serde_path_to_error::deserialize(
        &mut serde_json::Deserializer::from_slice(TOKEN_BODY.as_bytes()),
    )
    .unwrap();
    assert_eq!(token.expose_secret(), JWT);
    assert_eq!(theirs.access_token().secret(), JWT);
    assert_eq!(token.token_type(), TokenType::Bearer);
    assert_eq!(theirs.token_type(), &oauth2::basic::BasicTokenType::Bearer);
    assert_eq!(token.expires_in(), Some(300));
    assert_eq!(
        theirs.expires_in(),
        Some(std::time::Duration::from_secs(300))
    );
    assert_eq!(token.scope(), Some(GRANTED_SCOPE));
    let their_scope: Vec<String> = theirs
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(their_scope.join(" "), GRANTED_SCOPE);
    println!(
        "parse:    both read the {}-byte JWT, Bearer, 300 s, scope {GRANTED_SCOPE:?} from a {}-byte body",
        JWT.len(),
        TOKEN_BODY.len()
    );

    // 3. The same error.
    let err = parse_token_response(400, ERROR_BODY.as_bytes(), &mut work);
    let Err(Error::OAuth(e)) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.code, ErrorCode::InvalidScope);
    let theirs: BasicErrorResponse = serde_path_to_error::deserialize(
        &mut serde_json::Deserializer::from_slice(ERROR_BODY.as_bytes()),
    )
    .unwrap();
    assert_eq!(theirs.error(), &BasicErrorResponseType::InvalidScope);
    assert_eq!(
        ErrorDetails::parse(None, ERROR_BODY.as_bytes())
            .description
            .as_ref()
            .map(|d| d.as_str()),
        theirs.error_description().map(String::as_str)
    );
    // oauth2-rs's own path for a 400 (check_response_status) gives the same.
    let http400 = |_: HttpRequest| -> Result<HttpResponse, Stop> {
        Ok(canned_response(400, ERROR_BODY.as_bytes()))
    };
    match client
        .exchange_client_credentials()
        .add_scope(scope.clone())
        .request(&http400)
    {
        Err(RequestTokenError::ServerResponse(r)) => assert_eq!(r, theirs),
        other => panic!("{other:?}"),
    }
    println!(
        "error:    both give invalid_scope with {:?}",
        theirs.error_description().unwrap()
    );

    // 4. The same exchange.
    let response = token_response_bytes();
    let mut token = OurToken::new();
    exchange_ours(&config, &response, &mut work, &mut token, &policy);
    assert_eq!(token.expose_secret(), JWT);
    assert_eq!(
        exchange_theirs(&client, &scope, TOKEN_BODY.as_bytes()),
        JWT.len()
    );
    println!(
        "exchange: both end with the JWT (embedded-oauth2 from {} raw HTTP bytes, head {})",
        response.len(),
        TOKEN_HEAD.len()
    );

    // 5/6. The driver fetches; then the cache hits without connecting.
    let mut c: OurClient = Client::new(our_config(), now as fn() -> Instant);
    assert_eq!(fetch_ours(&mut c, &response, &mut work), JWT.len());
    assert!(work.iter().all(|&b| b == 0), "fetch wipes the work buffer");
    assert_eq!(cache_ours(&mut c, &mut work), 300);
    assert_eq!(c.cached().unwrap().expose_secret(), JWT);
    println!("fetch:    Client::fetch over a canned stream stores the JWT and wipes the buffer");
    println!(
        "cache:    Client::token returns the cached JWT; the connector (panics if called) was not called"
    );
    println!("check: OK");
}

const USAGE: &str = "usage: bench <workload> [iterations]  |  bench check
workloads: request-ours request-oauth2 parse-ours parse-oauth2 error-ours error-oauth2
           exchange-ours exchange-oauth2 fetch-ours cache-ours dpop-proof dpop-proof-nosig";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [w] if w == "check" => check(),
        [w] => {
            black_box(run(w, 1000));
        }
        [w, n] => {
            let n = n.parse().unwrap_or_else(|_| {
                eprintln!("{USAGE}");
                std::process::exit(2)
            });
            black_box(run(w, n));
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}
