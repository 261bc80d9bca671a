//! The whole embedded-oauth2 client on a Cortex-M3 (QEMU lm3s6965evb).
//!
//! Every auth method against responses recorded from a real authorization
//! server (oidc-provider 8.8.1, `responses/`), delivered through an
//! in-memory `embedded_io` transport in small reads; the requests compared
//! byte for byte with independently computed ones (`requests/`); the token
//! cache across a simulated expiry on a fake monotonic clock; error cases;
//! and the stack each full fetch uses, measured by painting the stack.
//!
//! Prints one line per check over semihosting, `REPORT key=value` lines for
//! `scripts/firmware-report.sh`, and exits 0 only when every check passed.
#![no_std]
#![no_main]
// The crate's `Error` is large by design (it carries the server's texts);
// the report measures what that costs rather than hiding it here.
#![allow(clippy::result_large_err, clippy::too_many_arguments)]

use core::cell::Cell;

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use embedded_oauth2::error::{Buffer, ErrorDetails, HttpError};
use embedded_oauth2::{
    Attempt, CallError, Client, ClientAuth, ClientId, ClientSecret, Config, Error, ErrorCode,
    Freshness, Instant, Token, TokenEndpoint,
};
use oauth2_firmware::mem::{self, MemError, Wire};
use oauth2_firmware::{rt, stack};

// ---- recorded responses (see responses/README.md) ---------------------------
const OPAQUE: &[u8] = include_bytes!("../responses/opaque.http");
const OPAQUE_SCOPE: &[u8] = include_bytes!("../responses/opaque_scope.http");
const JWT_469: &[u8] = include_bytes!("../responses/jwt.http");
const POST: &[u8] = include_bytes!("../responses/post.http");
const CONTINUE: &[u8] = include_bytes!("../responses/continue.http");
const SHORT: &[u8] = include_bytes!("../responses/short.http");
const INVALID_CLIENT: &[u8] = include_bytes!("../responses/invalid_client.http");
const INVALID_SCOPE: &[u8] = include_bytes!("../responses/invalid_scope.http");
const INVALID_TARGET: &[u8] = include_bytes!("../responses/invalid_target.http");
const CHUNKED: &[u8] = include_bytes!("../responses/auth0_chunked.http");
const KEYCLOAK_1K: &[u8] = include_bytes!("../responses/keycloak_1k.http");
const KEYCLOAK_1K_TOKEN: &str = include_str!("../responses/keycloak_1k.token");
#[cfg(feature = "secret-jwt")]
const SECRET_JWT: &[u8] = include_bytes!("../responses/secret_jwt.http");
#[cfg(feature = "pkjwt")]
const PRIVATE_KEY_JWT: &[u8] = include_bytes!("../responses/private_key_jwt.http");
const REDIRECT: &[u8] =
    b"HTTP/1.1 302 Found\r\nLocation: https://evil.example/token\r\nContent-Length: 0\r\n\r\n";
const HTML_500: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nContent-Length: 38\r\n\r\n<html><body>Oops {\"error\"</body></html>";

// ---- the requests the firmware must send (tools/make-vectors.py) -----------
const REQ_BASIC: &[u8] = include_bytes!("../requests/basic.http");
const REQ_BASIC_RESERVED: &[u8] = include_bytes!("../requests/basic_reserved.http");
const REQ_BASIC_UNENCODED: &[u8] = include_bytes!("../requests/basic_unencoded.http");
const REQ_POST: &[u8] = include_bytes!("../requests/post.http");
const REQ_CLIENT_ID_ONLY: &[u8] = include_bytes!("../requests/client_id_only.http");
#[cfg(feature = "secret-jwt")]
const REQ_SECRET_JWT: &[u8] = include_bytes!("../requests/secret_jwt.http");
#[cfg(feature = "pkjwt")]
const REQ_PRIVATE_KEY_JWT: &[u8] = include_bytes!("../requests/private_key_jwt.http");
#[cfg(feature = "dpop")]
const REQ_DPOP: &[u8] = include_bytes!("../requests/dpop.http");
#[cfg(feature = "dpop")]
const DPOP: &[u8] = include_bytes!("../responses/dpop.http");

const URL: &str = "https://auth.example.com/token";
/// The fixed wall clock of the signed assertions: 2026-01-01T00:00:00Z.
#[cfg(any(feature = "secret-jwt", feature = "pkjwt"))]
const WALL: u64 = 1_767_225_600;
#[cfg(feature = "secret-jwt")]
const HS_SECRET: &str = "jwt-client-hs256-secret-0123456789abcdefghij";
/// The ES256 test key's private scalar (0x01, 0x02, … 0x20).
#[cfg(feature = "pkjwt")]
const P256_SCALAR: [u8; 32] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,
    27, 28, 29, 30, 31, 32,
];

/// Token capacity: a 1 KiB JWT; scope 64 bytes.
type Cl<'a, C, const N: usize> = Client<'a, C, N, 1024, 64>;

struct Checks {
    passed: u32,
    failed: u32,
}

impl Checks {
    fn check(&mut self, name: &str, ok: bool) -> bool {
        if ok {
            self.passed += 1;
            hprintln!("  ok    {}", name);
        } else {
            self.failed += 1;
            hprintln!("  FAIL  {}", name);
        }
        ok
    }

    fn section(&self, name: &str) {
        hprintln!("-- {}", name);
    }
}

/// `actual` equals `expected`, where the expected request's
/// `User-Agent: embedded-oauth2/*` stands for any version.
fn request_matches(actual: &[u8], expected: &[u8]) -> bool {
    const UA: &[u8] = b"User-Agent: embedded-oauth2/";
    let Some(at) = find(expected, UA) else {
        return false;
    };
    let (prefix, rest) = expected.split_at(at + UA.len());
    let suffix = rest.strip_prefix(b"*").unwrap_or(rest);
    if actual.len() < prefix.len() + suffix.len() + 1 {
        return false;
    }
    let version = &actual[prefix.len()..actual.len() - suffix.len()];
    actual.starts_with(prefix)
        && actual.ends_with(suffix)
        && version.iter().all(|b| b.is_ascii_graphic())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The access token in a recorded response, found naively (these responses
/// have no escapes in it): an oracle independent of the crate's parser.
fn naive_token(resp: &[u8]) -> &str {
    const KEY: &[u8] = b"\"access_token\":\"";
    let start = find(resp, KEY).map(|i| i + KEY.len()).unwrap_or(0);
    let len = resp[start..].iter().position(|&b| b == b'"').unwrap_or(0);
    core::str::from_utf8(&resp[start..start + len]).unwrap_or("")
}

fn endpoint() -> TokenEndpoint<'static> {
    TokenEndpoint::parse(URL).expect("endpoint")
}

fn secret<const N: usize>(s: &str) -> ClientSecret<N> {
    ClientSecret::new(s).expect("secret")
}

fn id(s: &str) -> ClientId<'_> {
    ClientId::new(s).expect("client id")
}

/// What a successful fetch must produce.
struct Expect<'e> {
    /// `Authorization` scheme the token is presented with, and its space.
    scheme: &'e str,
    token: &'e str,
    expires_in: Option<u64>,
    scope: Option<&'e str>,
}

/// One full fetch through `Client::token` over the in-memory transport,
/// checked end to end. Returns the stack it used.
fn fetch_case<const N: usize>(
    ck: &mut Checks,
    wire: &'static Wire<'static>,
    name: &str,
    config: Config<'_, N>,
    response: &'static [u8],
    request: &[u8],
    expect: Expect<'_>,
    work: &mut [u8],
) -> usize {
    let now = Cell::new(5_000u64);
    let mut client: Cl<'_, _, N> = Client::new(config, || Instant::from_millis(now.get()));
    wire.serve(response);
    let before = wire.connects();
    let mut connect = mem::connector(wire);
    let mut result = None;
    let used = stack::measure(&mut || {
        result = Some(client.token(&mut connect, work).map(|t| {
            t.expose_secret() == expect.token
                && t.expires_in() == expect.expires_in
                && t.scope() == expect.scope
        }));
    });
    match result {
        Some(Ok(ok)) => ck.check(name, ok),
        Some(Err(e)) => {
            hprintln!("        error: {:?}", e);
            ck.check(name, false)
        }
        None => ck.check(name, false),
    };
    let mut sent = [0u8; 1024];
    let n = wire.last_request(&mut sent);
    if !ck.check(
        "  request bytes as expected",
        request_matches(&sent[..n], request),
    ) {
        hprintln!("        sent: {:?}", core::str::from_utf8(&sent[..n]));
    }
    ck.check(
        "  one connection, to the endpoint's host",
        wire.connects() == before + 1 && wire.last_host() == "auth.example.com",
    );
    ck.check("  work buffer zeroized", work.iter().all(|&b| b == 0));
    let mut header = [0u8; 1100];
    let value = client.cached().map(|t| {
        t.authorization_value(&mut header)
            .map(|v| (v.len(), v.starts_with(expect.scheme)))
    });
    ck.check(
        "  Authorization value: scheme and token",
        matches!(value, Some(Ok((n, true))) if n == expect.scheme.len() + expect.token.len()),
    );
    hprintln!("        stack of this fetch: {} bytes", used);
    used
}

/// One fetch that must fail; returns the error (or `None` on success).
fn fetch_err<const N: usize, const T: usize>(
    wire: &'static Wire<'static>,
    config: Config<'_, N>,
    work: &mut [u8],
) -> Option<Error<MemError>> {
    fetch_err_details::<N, T>(wire, config, work).0
}

/// [`fetch_err`], with the error response's free text the client kept.
fn fetch_err_details<const N: usize, const T: usize>(
    wire: &'static Wire<'static>,
    config: Config<'_, N>,
    work: &mut [u8],
) -> (Option<Error<MemError>>, Option<ErrorDetails>) {
    let mut client: Client<'_, _, N, T, 64> = Client::new(config, || Instant::from_millis(0));
    let mut connect = mem::connector(wire);
    let e = client.token(&mut connect, work).err();
    (e, client.error_details().copied())
}

/// Fetches `response` from a `start`-byte work buffer, retrying with what
/// `Error::Capacity` says (`needed` when exact; at least double the size
/// when it is only a lower bound). Returns the attempts made and the size
/// that worked.
fn follow_needed(
    wire: &'static Wire<'static>,
    response: &'static [u8],
    start: usize,
    work: &mut [u8],
) -> (u32, Option<usize>) {
    wire.serve(response);
    let mut size = start;
    for attempt in 1..=12 {
        match fetch_err::<32, 1024>(wire, basic_config(), &mut work[..size]) {
            None => return (attempt, Some(size)),
            Some(Error::Capacity(c)) => {
                hprintln!(
                    "        {} bytes: Capacity {{ {:?}, needed: {}, exact: {} }}",
                    size,
                    c.buffer,
                    c.needed,
                    c.exact
                );
                let next = if c.exact {
                    c.needed
                } else {
                    c.needed.max(2 * size)
                };
                if next <= size || next > work.len() {
                    return (attempt, None);
                }
                size = next;
            }
            Some(e) => {
                hprintln!("        {} bytes: {:?}", size, e);
                return (attempt, None);
            }
        }
    }
    (12, None)
}

fn basic_config() -> Config<'static, 32> {
    Config::new(
        endpoint(),
        id("basic-client"),
        ClientAuth::Basic(secret("basic-secret")),
    )
}

#[entry]
fn main() -> ! {
    let painted = stack::paint();
    let mut ck = Checks {
        passed: 0,
        failed: 0,
    };
    hprintln!("embedded-oauth2 on a Cortex-M3 (QEMU lm3s6965evb)");
    hprintln!(
        "stack: {} bytes ({:#x}..{:#x})",
        stack::top() - stack::bottom(),
        stack::bottom(),
        stack::top()
    );

    // The "network": it and its captured-request buffer live as long as main.
    let Some(request_buf) = cortex_m::singleton!(: [u8; 1024] = [0; 1024]) else {
        rt::exit(false)
    };
    let Some(wire) = cortex_m::singleton!(: Wire<'static> = Wire::new(request_buf)) else {
        rt::exit(false)
    };
    let wire: &'static Wire<'static> = wire;
    let mut work = [0u8; 4096];

    // ---- every auth method, recorded responses, small reads ------------------
    ck.section("auth methods (responses recorded from oidc-provider 8.8.1)");
    let basic_stack = fetch_case(
        &mut ck,
        wire,
        "client_secret_basic, opaque token",
        basic_config(),
        OPAQUE,
        REQ_BASIC,
        Expect {
            scheme: "Bearer ",
            token: naive_token(OPAQUE),
            expires_in: Some(300),
            scope: None,
        },
        &mut work,
    );
    let resources = ["https://receipts.example/"];
    fetch_case(
        &mut ck,
        wire,
        "client_secret_basic, reserved characters, 469-byte JWT access token",
        Config::new(
            endpoint(),
            id("dev:1 +%&=x"),
            ClientAuth::Basic(secret::<32>("s3:cr+t %&=y")),
        )
        .with_scope("receipts:read")
        .expect("scope")
        .with_resources(&resources)
        .expect("resources"),
        JWT_469,
        REQ_BASIC_RESERVED,
        Expect {
            scheme: "Bearer ",
            token: naive_token(JWT_469),
            expires_in: Some(300),
            scope: Some("receipts:read"),
        },
        &mut work,
    );
    ck.check(
        "  that token is 469 bytes",
        naive_token(JWT_469).len() == 469,
    );
    fetch_case(
        &mut ck,
        wire,
        "basic without form-encoding, after 100 Continue",
        Config::new(
            endpoint(),
            id("dev:1 +%&=x"),
            ClientAuth::BasicUnencoded(secret::<32>("s3:cr+t %&=y")),
        ),
        CONTINUE,
        REQ_BASIC_UNENCODED,
        Expect {
            scheme: "Bearer ",
            token: naive_token(CONTINUE),
            expires_in: Some(300),
            scope: None,
        },
        &mut work,
    );
    fetch_case(
        &mut ck,
        wire,
        "client_secret_post",
        Config::new(
            endpoint(),
            id("post-client"),
            ClientAuth::Post(secret::<32>("post-secret")),
        ),
        POST,
        REQ_POST,
        Expect {
            scheme: "Bearer ",
            token: naive_token(POST),
            expires_in: Some(300),
            scope: None,
        },
        &mut work,
    );
    fetch_case(
        &mut ck,
        wire,
        "client id only (mutual TLS), scope echoed",
        Config::<0>::new(endpoint(), id("mtls-device"), ClientAuth::ClientIdOnly)
            .with_scope("telemetry:write")
            .expect("scope"),
        OPAQUE_SCOPE,
        REQ_CLIENT_ID_ONLY,
        Expect {
            scheme: "Bearer ",
            token: naive_token(OPAQUE_SCOPE),
            expires_in: Some(300),
            scope: Some("telemetry:write"),
        },
        &mut work,
    );
    #[cfg(feature = "secret-jwt")]
    let secret_jwt_stack = {
        use embedded_oauth2::assertion::{Assertion, CounterJti};
        let wall = || Some(WALL);
        let jti = CounterJti::new(*b"fw-boot1");
        fetch_case(
            &mut ck,
            wire,
            "client_secret_jwt (HS256, fixed wall clock)",
            Config::new(
                endpoint(),
                id("jwt-client"),
                ClientAuth::SecretJwt(secret::<64>(HS_SECRET)),
            )
            .with_assertion(Assertion::new(&wall, &jti))
            .with_scope("telemetry:write")
            .expect("scope"),
            SECRET_JWT,
            REQ_SECRET_JWT,
            Expect {
                scheme: "Bearer ",
                token: naive_token(SECRET_JWT),
                expires_in: Some(300),
                scope: Some("telemetry:write"),
            },
            &mut work,
        )
    };
    #[cfg(feature = "pkjwt")]
    let private_key_jwt_stack = {
        use embedded_oauth2::assertion::{Assertion, Audience, CounterJti, P256Signer};
        let signer = P256Signer::from_bytes(&P256_SCALAR).expect("key");
        let wall = || Some(WALL);
        let jti = CounterJti::new(*b"fw-boot1");
        fetch_case(
            &mut ck,
            wire,
            "private_key_jwt (ES256, P256Signer, RFC 6979)",
            Config::<0>::new(endpoint(), id("pkjwt-client"), ClientAuth::PrivateKeyJwt)
                .with_assertion(
                    Assertion::new(&wall, &jti)
                        .with_audience(Audience::Other("https://auth.example.com"))
                        .with_key_id("fw-key-1")
                        .with_signer(&signer),
                )
                .with_scope("receipts:read")
                .expect("scope"),
            PRIVATE_KEY_JWT,
            REQ_PRIVATE_KEY_JWT,
            Expect {
                scheme: "Bearer ",
                token: naive_token(PRIVATE_KEY_JWT),
                expires_in: Some(300),
                scope: Some("receipts:read"),
            },
            &mut work,
        )
    };
    #[cfg(feature = "dpop")]
    let dpop_stack = {
        use embedded_oauth2::assertion::{CounterJti, P256Signer};
        use embedded_oauth2::dpop::{Dpop, DpopKey};
        let signer = P256Signer::from_bytes(&P256_SCALAR).expect("key");
        let public = signer.public_key_sec1();
        let wall = || Some(WALL);
        let jti = CounterJti::new(*b"fw-boot1");
        let key = DpopKey::new(&signer, &public).expect("public key");
        fetch_case(
            &mut ck,
            wire,
            "DPoP proof on the token request (ES256, P256Signer), DPoP token",
            Config::new(
                endpoint(),
                id("basic-client"),
                ClientAuth::Basic(secret::<16>("basic-secret")),
            )
            .with_dpop(Dpop::new(key, &wall, &jti))
            .with_scope("receipts:read")
            .expect("scope"),
            DPOP,
            REQ_DPOP,
            Expect {
                scheme: "DPoP ",
                token: naive_token(DPOP),
                expires_in: Some(300),
                scope: Some("receipts:read"),
            },
            &mut work,
        )
    };

    // ---- framing and provider styles ------------------------------------------
    ck.section("framing and provider styles");
    fetch_case(
        &mut ck,
        wire,
        "chunked (Auth0 behind a CDN)",
        basic_config(),
        CHUNKED,
        REQ_BASIC,
        Expect {
            scheme: "Bearer ",
            token: "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhdXRoMCJ9.sig-_A",
            expires_in: Some(86400),
            scope: Some("read:messages write:messages"),
        },
        &mut work,
    );
    let keycloak_stack = fetch_case(
        &mut ck,
        wire,
        "Keycloak-style 1 KiB JWT with extra members",
        basic_config(),
        KEYCLOAK_1K,
        REQ_BASIC,
        Expect {
            scheme: "Bearer ",
            token: KEYCLOAK_1K_TOKEN,
            expires_in: Some(300),
            scope: Some("profile email"),
        },
        &mut work,
    );
    ck.check(
        "  that token is 1024 bytes",
        KEYCLOAK_1K_TOKEN.len() == 1024,
    );

    // ---- the smallest work buffer for the 1 KiB JWT ---------------------------
    ck.section("work buffer for a 1 KiB JWT (Keycloak-style response)");
    wire.serve(KEYCLOAK_1K);
    let works = |work: &mut [u8]| -> Result<(), Error<MemError>> {
        fetch_err::<32, 1024>(wire, basic_config(), work).map_or(Ok(()), Err)
    };
    // Binary search for the smallest size that works.
    let (mut lo, mut hi) = (1usize, work.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if works(&mut work[..mid]).is_ok() {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let smallest = lo;
    // What the crate says it needs, from a buffer that is too small.
    let needed_from = |size: usize, work: &mut [u8]| match works(&mut work[..size]) {
        Err(Error::Capacity(c)) => Some(c.needed),
        _ => None,
    };
    let needed_256 = needed_from(256, &mut work);
    let needed_1024 = needed_from(1024, &mut work);
    let needed_below = needed_from(smallest - 1, &mut work);
    hprintln!(
        "        smallest working buffer {} bytes; Capacity.needed from 256: {:?}, from 1024: {:?}, from {}: {:?}",
        smallest,
        needed_256,
        needed_1024,
        smallest - 1,
        needed_below
    );
    ck.check(
        "smallest size works, one byte less is Error::Capacity",
        works(&mut work[..smallest]).is_ok() && needed_below.is_some(),
    );
    ck.check(
        "Capacity.needed from a too-small buffer is the smallest working size",
        needed_below == Some(smallest),
    );
    // A caller that follows `needed` (exact: retry with it; a lower bound:
    // at least double) reaches a working size in a few attempts.
    let (attempts, size) = follow_needed(wire, KEYCLOAK_1K, 64, &mut work);
    ck.check(
        "following Capacity.needed from 64 bytes reaches a working size",
        size.is_some(),
    );
    hprintln!("        {} attempts, ending at {:?} bytes", attempts, size);
    let token_size = core::mem::size_of::<Token<1024, 64>>();
    let client_size = core::mem::size_of::<Client<'static, fn() -> Instant, 32, 1024, 64>>();
    hprintln!(
        "        Token<1024, 64>: {} bytes; Client<_, 32, 1024, 64>: {} bytes",
        token_size,
        client_size
    );

    // ---- error cases -----------------------------------------------------------
    ck.section("errors");
    wire.serve(INVALID_CLIENT);
    let (e, details) = fetch_err_details::<32, 1024>(wire, basic_config(), &mut work);
    let ok = matches!(&e, Some(Error::OAuth(o))
        if o.status == 401 && o.code == ErrorCode::InvalidClient)
        && matches!(details, Some(d)
            if d.description.map(|d| d.as_str() == "client authentication failed") == Some(true)
            && d.www_authenticate.map(|w| {
                // A header longer than the Text keeps its scheme and error.
                let w = w.as_str();
                w.starts_with("Basic ") && w.contains("error=\"invalid_client\"")
            }) == Some(true));
    if !ck.check("401 invalid_client with WWW-Authenticate", ok) {
        hprintln!("        {:?}", e);
    }
    ck.check("  work buffer zeroized", work.iter().all(|&b| b == 0));
    wire.serve(INVALID_SCOPE);
    let e = fetch_err::<32, 1024>(wire, basic_config(), &mut work);
    ck.check(
        "400 invalid_scope",
        matches!(&e, Some(Error::OAuth(o)) if o.status == 400 && o.code == ErrorCode::InvalidScope),
    );
    wire.serve(INVALID_TARGET);
    let e = fetch_err::<32, 1024>(wire, basic_config(), &mut work);
    ck.check(
        "400 invalid_target",
        matches!(&e, Some(Error::OAuth(o)) if o.status == 400 && o.code == ErrorCode::InvalidTarget),
    );
    let (attempts, size) = follow_needed(wire, JWT_469, 300, &mut work);
    ck.check(
        "work buffer too small: Error::Capacity; its `needed` leads to a working size",
        attempts > 1 && size.is_some(),
    );
    wire.serve(JWT_469);
    let e = fetch_err::<32, 64>(wire, basic_config(), &mut work);
    ck.check(
        "token capacity too small: Error::Capacity { AccessToken, needed: 469 }",
        matches!(e, Some(Error::Capacity(c)) if c.buffer == Buffer::AccessToken && c.needed == 469),
    );
    wire.serve(OPAQUE);
    wire.refuse();
    let e = fetch_err::<32, 1024>(wire, basic_config(), &mut work);
    ck.check(
        "connection refused: the transport's error, intact",
        matches!(e, Some(Error::Transport(MemError::Refused))),
    );
    wire.serve(OPAQUE);
    wire.reset_at(150);
    let e = fetch_err::<32, 1024>(wire, basic_config(), &mut work);
    ck.check(
        "reset mid-response",
        matches!(e, Some(Error::Transport(MemError::Reset))),
    );
    wire.serve(&OPAQUE[..OPAQUE.len() - 20]);
    let e = fetch_err::<32, 1024>(wire, basic_config(), &mut work);
    ck.check(
        "peer closes before Content-Length: UnexpectedEof",
        matches!(e, Some(Error::Http(HttpError::UnexpectedEof))),
    );
    wire.serve(OPAQUE);
    wire.write_zero();
    let e = fetch_err::<32, 1024>(wire, basic_config(), &mut work);
    ck.check(
        "transport takes no bytes: WriteZero",
        matches!(e, Some(Error::WriteZero)),
    );
    wire.serve(REDIRECT);
    let e = fetch_err::<32, 1024>(wire, basic_config(), &mut work);
    ck.check(
        "302 redirect refused, not followed",
        matches!(
            e,
            Some(Error::Http(HttpError::Redirect { status: 302, .. }))
        ),
    );
    wire.serve(HTML_500);
    let e = fetch_err::<32, 1024>(wire, basic_config(), &mut work);
    ck.check(
        "500 with an HTML body",
        matches!(
            e,
            Some(Error::Http(HttpError::UnexpectedStatus { status: 500, .. }))
        ),
    );
    #[cfg(feature = "secret-jwt")]
    {
        use embedded_oauth2::assertion::{Assertion, CounterJti};
        let wall = || None::<u64>;
        let jti = CounterJti::new(*b"fw-boot1");
        wire.serve(SECRET_JWT);
        let before = wire.connects();
        let e = fetch_err::<64, 1024>(
            wire,
            Config::new(
                endpoint(),
                id("jwt-client"),
                ClientAuth::SecretJwt(secret::<64>(HS_SECRET)),
            )
            .with_assertion(Assertion::new(&wall, &jti)),
            &mut work,
        );
        ck.check(
            "client_secret_jwt before the wall clock is known: NoWallClock, no connection",
            matches!(e, Some(Error::NoWallClock)) && wire.connects() == before,
        );
    }
    ck.check(
        "work buffer zeroized after every error",
        work.iter().all(|&b| b == 0),
    );

    // ---- the cache across a simulated expiry -----------------------------------
    ck.section("token cache on a fake monotonic clock");
    cache_checks(&mut ck, wire, &mut work);

    // ---- Client::call: one renewal and one retry on 401 ------------------------
    ck.section("Client::call");
    call_checks(&mut ck, wire, &mut work);

    // ---- the async driver --------------------------------------------------------
    #[cfg(feature = "async")]
    let async_stack = {
        ck.section("async driver (embassy-futures block_on)");
        async_checks(&mut ck, wire, &mut work)
    };

    // ---- sizes of the types a fetch moves around (for the stack figures) -----
    ck.section("type sizes on this target (bytes)");
    type_sizes();

    // ---- report ------------------------------------------------------------------
    let peak = stack::top() - stack::lowest_written(painted);
    hprintln!("-- stack (painted)");
    hprintln!("REPORT stack_fetch_basic={}", basic_stack);
    hprintln!("REPORT stack_fetch_keycloak_1k={}", keycloak_stack);
    #[cfg(feature = "secret-jwt")]
    hprintln!("REPORT stack_fetch_secret_jwt={}", secret_jwt_stack);
    #[cfg(feature = "pkjwt")]
    hprintln!(
        "REPORT stack_fetch_private_key_jwt={}",
        private_key_jwt_stack
    );
    #[cfg(feature = "dpop")]
    hprintln!("REPORT stack_fetch_dpop={}", dpop_stack);
    #[cfg(feature = "async")]
    hprintln!("REPORT stack_fetch_async={}", async_stack);
    hprintln!("REPORT stack_peak_whole_run={}", peak);
    hprintln!("REPORT token_1024_64_bytes={}", token_size);
    hprintln!("REPORT client_32_1024_64_bytes={}", client_size);
    hprintln!("REPORT keycloak_1k_min_work={}", smallest);
    hprintln!(
        "REPORT keycloak_1k_needed_from_256={}",
        needed_256.unwrap_or(0)
    );
    hprintln!("{} passed, {} failed", ck.passed, ck.failed);
    rt::exit(ck.failed == 0 && ck.passed > 0)
}

/// Fresh → no connection; refresh due → new fetch; failed refresh keeps the
/// old token until it expires; expired → nothing cached; invalidate().
fn cache_checks(ck: &mut Checks, wire: &'static Wire<'static>, work: &mut [u8]) {
    let now = Cell::new(0u64); // milliseconds
    let mut client: Cl<'_, _, 32> = Client::new(basic_config(), || Instant::from_millis(now.get()));
    let mut connect = mem::connector(wire);
    let a = naive_token(OPAQUE);
    let b = naive_token(POST);
    let c = naive_token(CONTINUE);

    ck.check(
        "empty cache: Expired, nothing cached",
        client.freshness() == Freshness::Expired && client.cached().is_none(),
    );
    wire.serve(OPAQUE);
    let n0 = wire.connects();
    let got = client
        .token(&mut connect, work)
        .map(|t| t.expose_secret() == a);
    ck.check(
        "t=0: first token() fetches",
        matches!(got, Ok(true)) && wire.connects() == n0 + 1,
    );
    now.set(100_000);
    wire.serve(POST);
    let got = client
        .token(&mut connect, work)
        .map(|t| t.expose_secret() == a);
    ck.check(
        "t=100s: fresh, same token, no connection",
        matches!(got, Ok(true)) && wire.connects() == n0 + 1,
    );
    now.set(239_999);
    ck.check(
        "t=239.999s: still Fresh (300 s token, 60 s margin)",
        client.freshness() == Freshness::Fresh,
    );
    now.set(240_000);
    ck.check(
        "t=240s: RefreshDue",
        client.freshness() == Freshness::RefreshDue,
    );
    let got = client
        .token(&mut connect, work)
        .map(|t| t.expose_secret() == b);
    ck.check(
        "t=240s: token() renews (new connection, new token)",
        matches!(got, Ok(true)) && wire.connects() == n0 + 2,
    );
    now.set(490_000);
    ck.check(
        "t=490s: the renewed token is due",
        client.freshness() == Freshness::RefreshDue,
    );
    wire.refuse();
    let n2 = wire.connects();
    let e = client.token(&mut connect, work).err();
    ck.check(
        "t=490s: renewal fails (connection refused) ...",
        matches!(e, Some(Error::Transport(MemError::Refused))) && wire.connects() == n2 + 1,
    );
    ck.check(
        "  ... and the old token is still cached",
        client.cached().map(|t| t.expose_secret() == b) == Some(true),
    );
    wire.serve(OPAQUE);
    let got = client
        .token(&mut connect, work)
        .map(|t| t.expose_secret() == b);
    ck.check(
        "  backing off: token() hands out the old token, no connection",
        matches!(got, Ok(true)) && wire.connects() == n2 + 1 && client.next_attempt().is_some(),
    );
    wire.serve(INVALID_CLIENT);
    let e = client.fetch(&mut connect, work).err();
    ck.check(
        "t=490s: explicit fetch() refused (401 invalid_client), old token kept",
        matches!(e, Some(Error::OAuth(_)))
            && client.cached().map(|t| t.expose_secret() == b) == Some(true),
    );
    now.set(540_000);
    ck.check(
        "t=540s: expired, nothing cached",
        client.freshness() == Freshness::Expired && client.cached().is_none(),
    );
    let n3 = wire.connects();
    let e = client.token(&mut connect, work).err();
    ck.check(
        "  after a permanent failure: that error again, no connection",
        matches!(e, Some(Error::OAuth(_))) && wire.connects() == n3,
    );
    client.reset_backoff();
    wire.serve(CONTINUE);
    let got = client
        .token(&mut connect, work)
        .map(|t| t.expose_secret() == c);
    ck.check(
        "  reset_backoff(): token() fetches again",
        matches!(got, Ok(true)) && wire.connects() == n3 + 1,
    );
    let n1 = wire.connects();
    client.invalidate();
    ck.check("invalidate(): nothing cached", client.cached().is_none());
    wire.serve(OPAQUE);
    let got = client
        .token(&mut connect, work)
        .map(|t| t.expose_secret() == a);
    ck.check(
        "after invalidate(): token() fetches",
        matches!(got, Ok(true)) && wire.connects() == n1 + 1,
    );
    // A 4-second token: the margin shrinks to half its lifetime.
    now.set(1_000_000);
    wire.serve(SHORT);
    let got = client
        .fetch(&mut connect, work)
        .map(|t| t.expires_in() == Some(4));
    ck.check("short-lived token (expires_in 4)", matches!(got, Ok(true)));
    now.set(1_001_999);
    let fresh = client.freshness();
    now.set(1_002_000);
    let due = client.freshness();
    now.set(1_004_000);
    let expired = client.freshness();
    ck.check(
        "  fresh for 2 s, due for 2 s, then expired",
        fresh == Freshness::Fresh && due == Freshness::RefreshDue && expired == Freshness::Expired,
    );
    ck.check("work buffer zeroized", work.iter().all(|&b| b == 0));
}

fn call_checks(ck: &mut Checks, wire: &'static Wire<'static>, work: &mut [u8]) {
    let now = Cell::new(0u64);
    let mut client: Cl<'_, _, 32> = Client::new(basic_config(), || Instant::from_millis(now.get()));
    let mut connect = mem::connector(wire);
    wire.serve(OPAQUE);
    let n0 = wire.connects();
    let mut presented = 0;
    let r = client.call(&mut connect, work, |_, t: &Token<1024, 64>| {
        presented += 1;
        if presented == 1 {
            Ok::<_, ()>(Attempt::TokenRejected)
        } else {
            Ok(Attempt::Done(t.expose_secret().len()))
        }
    });
    ck.check(
        "401 from the service: invalidate, fetch once, retry once",
        matches!(r, Ok(43)) && presented == 2 && wire.connects() == n0 + 2,
    );
    let n1 = wire.connects();
    let r = client.call(&mut connect, work, |_, _t: &Token<1024, 64>| {
        Ok::<_, ()>(Attempt::<()>::TokenRejected)
    });
    ck.check(
        "refused twice: CallError::Rejected, no loop",
        matches!(r, Err(CallError::Rejected)) && wire.connects() == n1 + 1,
    );
}

#[cfg(feature = "async")]
fn async_checks(ck: &mut Checks, wire: &'static Wire<'static>, work: &mut [u8]) -> usize {
    use oauth2_firmware::mem_async::AsyncConnector;
    let now = Cell::new(0u64);
    let mut client: Cl<'_, _, 32> = Client::new(basic_config(), || Instant::from_millis(now.get()));
    let mut connect = AsyncConnector(wire);
    wire.serve(JWT_469);
    let n0 = wire.connects();
    let mut result = None;
    let used = stack::measure(&mut || {
        result = Some(
            embassy_futures::block_on(client.asynch().token(&mut connect, work))
                .map(|t| t.expose_secret() == naive_token(JWT_469)),
        );
    });
    ck.check(
        "asynch().token: 469-byte JWT",
        matches!(result, Some(Ok(true))) && wire.connects() == n0 + 1,
    );
    let mut sent = [0u8; 1024];
    let n = wire.last_request(&mut sent);
    ck.check(
        "  request bytes as expected",
        request_matches(&sent[..n], REQ_BASIC),
    );
    ck.check("  work buffer zeroized", work.iter().all(|&b| b == 0));
    hprintln!(
        "        stack of this fetch (incl. block_on): {} bytes",
        used
    );
    now.set(10_000);
    let again = embassy_futures::block_on(client.asynch().token(&mut connect, work)).is_ok();
    ck.check(
        "asynch().token while fresh: no connection",
        again && wire.connects() == n0 + 1,
    );
    wire.refuse();
    now.set(250_000);
    let e = embassy_futures::block_on(client.asynch().token(&mut connect, work)).err();
    ck.check(
        "asynch().token renewal refused: error, old token kept",
        matches!(e, Some(Error::Transport(MemError::Refused))) && client.cached().is_some(),
    );
    used
}

/// Prints `REPORT size_<type>=<bytes>` for the values a fetch keeps on the
/// stack: every `Result<_, Error>` temporary is at least `Error`-sized.
fn type_sizes() {
    use core::mem::size_of;
    use embedded_oauth2::error::{CapacityError, OAuthError, Text};
    use embedded_oauth2::http::{Exchange, ResponseHead, ResponseReader, TokenResponse};
    macro_rules! sizes {
        ($($name:literal => $t:ty),* $(,)?) => {
            $( hprintln!("REPORT size_{}={}", $name, size_of::<$t>()); )*
        };
    }
    sizes! {
        "Error<MemError>" => Error<MemError>,
        "Error" => Error,
        "OAuthError" => OAuthError,
        "Text<96>" => Text<96>,
        "Text<64>" => Text<64>,
        "HttpError" => HttpError,
        "CapacityError" => CapacityError,
        "ResponseHead" => ResponseHead,
        "ResponseReader" => ResponseReader,
        "Exchange" => Exchange<'static>,
        "TokenResponse" => TokenResponse<'static>,
        "Result<TokenResponse,Error<MemError>>" => Result<TokenResponse<'static>, Error<MemError>>,
        "Result<&Token,Error<MemError>>" => Result<&'static Token<1024, 64>, Error<MemError>>,
        "Config<32>" => Config<'static, 32>,
        "Token<1024,64>" => Token<1024, 64>,
        "Client<_,32,1024,64>" => Client<'static, fn() -> Instant, 32, 1024, 64>,
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("PANIC: {}", info);
    rt::exit(false)
}
