//! The fuzz harnesses, shared by the cargo-fuzz targets (`fuzz_targets/*.rs`
//! call these functions) and by `tests/fuzz_replay.rs`, which includes this
//! file with `#[path]` to replay the committed seed corpus and every crash
//! reproducer under plain `cargo test`.
//!
//! Every harness panics when an invariant breaks; a panic is a finding.
//!
//! # Input formats
//!
//! `http_reader` and `exchange` share one layout (see [`wire_plan`]), so
//! their corpora are interchangeable:
//!
//! | bytes | meaning |
//! | --- | --- |
//! | 0 | flags: bit 0 custom [`Limits`], bit 1 keep calling after the end (misuse must not panic), bit 2 `http_reader`: a shorter buffer on every other call (misuse), bit 3 `exchange`: call `finish` halfway, bit 2 `exchange`: `finish_with_details`, bits 4-7 `exchange`: which configuration |
//! | 1-2 | work buffer length, u16 LE, modulo [`MAX_BUF`] |
//! | 3-4, 5-6, 7 | `max_head` (u16), `max_body` (u16), `max_headers` (u8), used when flag bit 0 |
//! | 8 | `exchange`: bytes per `sent()` report (0: all at once) |
//! | 9 | `k`: how many read sizes follow (modulo 64) |
//! | 10.. | `k` read sizes, used in turn: `0` is a 0-length read (EOF), `n` at most `n` bytes; none: each read takes all it can |
//! | rest | the bytes the server sends |
//!
//! `token_json`: status (u16 LE, modulo 1000), work buffer length (u16 LE,
//! modulo [`MAX_BUF`]), then the body.
//!
//! `request`: fields separated by `0xFF` (never part of UTF-8; each field is
//! read lossily as UTF-8): meta, endpoint URL, client id, secret, scope,
//! audience, resources (separated by `0xFE`), extra parameters (separated by
//! `0xFE`, name and value by `0xFD`), JWT `kid`, JWT audience. Meta bytes:
//! authentication method (modulo 6: Basic, BasicUnencoded, Post,
//! ClientIdOnly, SecretJwt, PrivateKeyJwt), buffer length (u16 LE, modulo
//! [`MAX_BUF`]), flags (bit 0 allow `http://`, bit 1 scope, bit 2
//! audience, bit 3 kid, bit 4 other JWT audience, bit 5 resources, bit 6
//! extra parameters), assertion lifetime (u8).

use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use embedded_oauth2::error::{Buffer, ConfigError, ErrorDetails, HttpError};
use embedded_oauth2::http::{
    Exchange, Framing, ResponseHead, ResponseReader, TokenResponse, authorization_header,
    encode_request, form_body, parse_token_response,
};
use embedded_oauth2::{
    ClientAuth, ClientId, ClientSecret, Config, Error, Limits, TokenEndpoint, TokenType,
};

/// The largest work buffer a harness allocates.
pub const MAX_BUF: usize = 16384;

/// serde_json's words for the invalid JSON the crate still accepts (open
/// bugs; empty once they are fixed).
pub const KNOWN_JSON_LENIENCIES: &[&str] = &[];

/// Whether `http_reader` inputs with flag bit 2 pass the reader a shorter
/// buffer than before on every other call (caller misuse).
pub const MISUSE_SHRINKING_BUFFER: bool = true;

/// The signed-assertion wall clock and `jti` the harnesses use (fixed, so
/// that the same configuration always encodes to the same bytes).
#[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
const WALL: u64 = 1_700_000_000;
#[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
const JTI: [u8; 16] = *b"fuzz-jti-0123456";

/// A cheap stand-in for an ES256 signer (P-256 in software costs a
/// millisecond per signature under the sanitizer; what is signed and how
/// the signature is placed is what matters here).
#[cfg(feature = "private-key-jwt")]
struct FakeSigner;

#[cfg(feature = "private-key-jwt")]
impl embedded_oauth2::assertion::Es256Signer for FakeSigner {
    fn sign(&self, message: &[u8]) -> Result<[u8; 64], embedded_oauth2::assertion::SignError> {
        let mut sig = [0u8; 64];
        for (i, b) in message.iter().enumerate() {
            sig[i % 64] = sig[i % 64].rotate_left(3) ^ b;
        }
        Ok(sig)
    }
}

// ---- input decoding ---------------------------------------------------------

/// Reads fields from the front of the input; missing bytes read as 0.
struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.data.split_at(n.min(self.data.len()));
        self.data = b;
        a
    }

    fn rest(self) -> &'a [u8] {
        self.data
    }
}

/// How a response is delivered: the decoded header of `http_reader` and
/// `exchange` inputs.
#[derive(Debug, Clone, Copy)]
pub struct WirePlan<'a> {
    pub flags: u8,
    pub buf_len: usize,
    pub limits: Limits,
    pub send_chunk: usize,
    pub reads: &'a [u8],
    pub wire: &'a [u8],
}

pub fn wire_plan(data: &[u8]) -> WirePlan<'_> {
    let mut c = Cursor::new(data);
    let flags = c.u8();
    let buf_len = usize::from(c.u16()) % MAX_BUF;
    let (max_head, max_body, max_headers) = (c.u16(), c.u16(), c.u8());
    let limits = if flags & 1 != 0 {
        Limits::new()
            .with_max_head(max_head.into())
            .with_max_body(max_body.into())
            .with_max_headers(max_headers.into())
    } else {
        Limits::new()
    };
    let send_chunk = usize::from(c.u8());
    let k = usize::from(c.u8() % 64);
    let reads = c.take(k);
    WirePlan {
        flags,
        buf_len,
        limits,
        send_chunk,
        reads,
        wire: c.rest(),
    }
}

/// The input bytes for a [`WirePlan`] with default limits (for seeds).
pub fn encode_wire_plan(flags: u8, buf_len: u16, reads: &[u8], wire: &[u8]) -> Vec<u8> {
    let mut v = vec![flags];
    v.extend_from_slice(&buf_len.to_le_bytes());
    v.extend_from_slice(&[0; 5]);
    v.push(0);
    v.push(u8::try_from(reads.len()).expect("at most 63 read sizes"));
    v.extend_from_slice(reads);
    v.extend_from_slice(wire);
    v
}

/// The sizes of successive reads: `Some(0)` is a 0-length read (EOF).
struct Reads<'a> {
    sizes: &'a [u8],
    next: usize,
}

impl Reads<'_> {
    fn next(&mut self) -> usize {
        if self.sizes.is_empty() {
            return usize::MAX;
        }
        let s = self.sizes[self.next % self.sizes.len()];
        self.next += 1;
        usize::from(s)
    }
}

// ---- shared checks ----------------------------------------------------------

fn has_control(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 || b == 0x7f)
}

fn has_surrogate_escape(body: &[u8]) -> bool {
    body.windows(3)
        .any(|w| w[0] == b'\\' && w[1] == b'u' && matches!(w[2], b'd' | b'D'))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// RFC 6749 §3.3 scope syntax, written independently of the crate's.
fn scope_syntax_ok(s: &str) -> bool {
    !s.is_empty()
        && s.split(' ').all(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) && b != 0x5c)
        })
}

/// A successful token response, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOut {
    pub token: String,
    pub token_type: TokenType,
    pub expires_in: Option<u64>,
    pub scope: Option<String>,
}

pub fn token_out<E>(r: Result<TokenResponse<'_>, Error<E>>) -> Result<TokenOut, Error<E>> {
    r.map(|t| TokenOut {
        token: t.access_token.to_string(),
        token_type: t.token_type,
        expires_in: t.expires_in,
        scope: t.scope.map(str::to_string),
    })
}

/// What every accepted token satisfies, whatever the input.
fn check_token(t: &TokenOut) {
    assert!(!t.token.is_empty(), "empty access token accepted");
    assert!(
        t.token.bytes().all(|b| b.is_ascii_graphic()),
        "access token with bytes outside visible ASCII: {:?}",
        t.token
    );
    if let Some(s) = &t.scope {
        assert!(scope_syntax_ok(s), "invalid scope accepted: {s:?}");
    }
    assert_ne!(t.expires_in, Some(0), "expires_in 0 accepted");
}

/// Server text kept in errors can never forge a log line.
fn check_error_text<E>(e: &Error<E>) {
    if let Error::OAuth(o) = e {
        let code = o.code.as_str();
        assert!(
            !has_control(code),
            "control character kept in error code {code:?}"
        );
    }
}

/// The same for the free text of an error response.
fn check_details(d: &ErrorDetails) {
    let texts = [
        d.code.as_ref().map(|t| t.as_str()),
        d.description.as_ref().map(|t| t.as_str()),
        d.uri.as_ref().map(|t| t.as_str()),
        d.www_authenticate.as_ref().map(|t| t.as_str()),
    ];
    for t in texts.into_iter().flatten() {
        assert!(
            !has_control(t),
            "control character kept in error text {t:?}"
        );
    }
}

/// Compares a token the crate returned with what serde_json reads from the
/// same body: the crate must never return a token a correct JSON parser
/// disagrees with.
fn check_against_serde_json(body: &[u8], t: &TokenOut) {
    // A body that is not JSON is refused (the flat pre-scan checks what
    // serde-json-core skips: fuzz/regressions/token_json/invalid-json-*).
    let v: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            let why = e.to_string();
            // Leniencies found and reported, not fixed yet (each has a
            // reproducer in fuzz/regressions/token_json/invalid-json-* and a
            // test in tests/fuzz_replay.rs): skipped so the fuzzer goes on.
            // serde_json refuses numbers outside f64's range, which JSON's
            // grammar allows (and the crate rightly skips in unknown members).
            if why.starts_with("number out of range") {
                return;
            }
            if KNOWN_JSON_LENIENCIES.iter().any(|k| why.contains(k)) {
                return;
            }
            panic!(
                "token accepted from a body serde_json refuses ({e}): {:?}",
                String::from_utf8_lossy(body)
            )
        }
    };
    let obj = v.as_object().expect("a token response is an object");
    assert_eq!(
        obj.get("access_token").and_then(|v| v.as_str()),
        Some(t.token.as_str()),
        "access token differs from serde_json's reading"
    );
    let tt = obj.get("token_type").and_then(|v| v.as_str()).unwrap_or("");
    assert!(
        tt.eq_ignore_ascii_case("bearer"),
        "token_type {tt:?} accepted"
    );
    let scope = obj
        .get("scope")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty());
    assert_eq!(scope, t.scope.as_deref(), "scope differs from serde_json's");
    let expires = match obj.get("expires_in") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(other) => panic!("expires_in {other} accepted"),
    };
    assert_eq!(
        expires, t.expires_in,
        "expires_in differs from serde_json's"
    );
}

// ---- http_reader ------------------------------------------------------------

/// Feeds `wire` to `r` in reads of the planned sizes; returns the result and
/// how many bytes of `wire` were delivered.
fn feed(
    r: &mut ResponseReader,
    buf: &mut [u8],
    wire: &[u8],
    sizes: &[u8],
) -> (Result<(), Error>, usize) {
    let mut reads = Reads { sizes, next: 0 };
    let mut pos = 0;
    loop {
        let spare = match r.spare(buf) {
            Ok(s) => s,
            Err(e) => return (Err(e), pos),
        };
        assert!(!spare.is_empty(), "spare() handed out an empty buffer");
        let n = reads.next().min(spare.len()).min(wire.len() - pos);
        spare[..n].copy_from_slice(&wire[pos..pos + n]);
        pos += n;
        match r.advance(buf, n) {
            Ok(true) => return (Ok(()), pos),
            Ok(false) => assert!(n > 0, "the reader neither completed nor failed at EOF"),
            Err(e) => return (Err(e), pos),
        }
    }
}

/// What a complete response satisfies.
fn check_complete(r: &ResponseReader, buf: &[u8], limits: &Limits) -> (ResponseHead, Vec<u8>) {
    assert!(r.is_complete());
    let head = *r.head().expect("a complete response has a head");
    let range = r.body_range();
    assert!(
        range.start <= range.end && range.end <= buf.len(),
        "body {range:?} outside the buffer of {}",
        buf.len()
    );
    let body = r.body(buf);
    assert_eq!(body, &buf[range]);
    assert!(body.len() <= limits.max_body, "body over max_body");
    match head.framing {
        Framing::Length(n) => assert_eq!(body.len(), n),
        Framing::Empty => assert!(body.is_empty()),
        Framing::Chunked | Framing::Close => {}
    }
    assert!(
        !(100..200).contains(&head.status),
        "an interim response was returned as final"
    );
    (head, body.to_vec())
}

// Host-side test data: the head's size (larger with feature `dpop`, which
// keeps the server's nonce in it) does not matter here.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
enum Read {
    Done(ResponseHead, Vec<u8>),
    Failed(Error),
}

/// Misuse: every other call gets the first half of the buffer only (the
/// caller passes a different buffer than before). Must not panic.
fn feed_shrinking(r: &mut ResponseReader, buf: &mut [u8], wire: &[u8], sizes: &[u8]) {
    let mut reads = Reads { sizes, next: 0 };
    let mut pos = 0;
    for i in 0..4096 {
        let len = if i % 2 == 1 { buf.len() / 2 } else { buf.len() };
        let b = &mut buf[..len];
        let Ok(spare) = r.spare(b) else { return };
        let n = reads.next().min(spare.len()).min(wire.len() - pos);
        spare[..n].copy_from_slice(&wire[pos..pos + n]);
        pos += n;
        match r.advance(b, n) {
            Ok(true) => {
                let _ = r.body(b);
                return;
            }
            Ok(false) => {}
            Err(_) => return,
        }
    }
}

/// `ResponseReader` over arbitrary bytes, read sizes and buffer size.
pub fn http_reader(data: &[u8]) {
    let plan = wire_plan(data);
    let mut buf = vec![0u8; plan.buf_len];
    let mut r = ResponseReader::new(plan.limits);
    if plan.flags & 4 != 0 && MISUSE_SHRINKING_BUFFER {
        feed_shrinking(&mut r, &mut buf, plan.wire, plan.reads);
        return;
    }
    let (res, delivered) = feed(&mut r, &mut buf, plan.wire, plan.reads);
    let got = match res {
        Ok(()) => {
            let (head, body) = check_complete(&r, &buf, &plan.limits);
            // Complete stays complete, with the same body.
            assert_eq!(r.advance(&mut buf, 0), Ok(true));
            assert_eq!(r.body(&buf), &body[..]);
            Some(Read::Done(head, body))
        }
        Err(Error::Capacity(c)) => {
            assert_eq!(c.buffer, Buffer::Response);
            assert_eq!(c.available, buf.len());
            assert!(c.needed > c.available, "{c:?}");
            None
        }
        Err(e) => Some(Read::Failed(e)),
    };
    if plan.flags & 2 != 0 {
        // Misuse after the end (more data, EOF again): no panic.
        let rest = &plan.wire[delivered..];
        let _ = feed(&mut r, &mut buf, rest, plan.reads);
        let _ = r.advance(&mut buf, 0);
        let _ = r.body(&buf);
    }
    // The same bytes read whole into a buffer with room to spare must give
    // the same response: the split only matters for capacity.
    if let Some(got) = got {
        let mut big = vec![0u8; delivered + 1];
        let mut r2 = ResponseReader::new(plan.limits);
        let (res2, _) = feed(&mut r2, &mut big, &plan.wire[..delivered], &[]);
        let reference = match res2 {
            Ok(()) => {
                let (head, body) = check_complete(&r2, &big, &plan.limits);
                Read::Done(head, body)
            }
            Err(e) => Read::Failed(e),
        };
        match (&got, &reference) {
            (Read::Done(..), _) => {
                assert_eq!(got, reference, "the read sizes changed the response")
            }
            (Read::Failed(e), Read::Done(..)) => {
                panic!("failed with {e:?} in pieces but read whole it is {reference:?}")
            }
            (Read::Failed(_), Read::Failed(_)) => {}
        }
    }
}

// ---- token_json -------------------------------------------------------------

/// `parse_token_response` over an arbitrary status, body and work size.
/// The crate's JSON scan against serde_json: a body is one object within
/// the nesting limit by one exactly when it is by the other (serde_json
/// refuses numbers it cannot represent, which the grammar allows).
pub fn json_scan(data: &[u8]) {
    let ours = embedded_oauth2::__fuzz_json_object(data);
    let theirs = serde_json::from_slice::<serde_json::Value>(data);
    match &theirs {
        Ok(v) if v.is_object() && depth(v) <= embedded_oauth2::http::MAX_JSON_DEPTH => {
            assert!(ours, "refused a JSON object serde_json reads: {data:?}")
        }
        Ok(_) => assert!(
            !ours,
            "accepted JSON that is not an object within the depth: {data:?}"
        ),
        Err(e) => assert!(
            !ours || e.to_string().contains("number out of range"),
            "accepted what serde_json refuses ({e}): {data:?}"
        ),
    }
}

fn depth(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        serde_json::Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

pub fn token_json(data: &[u8]) {
    let mut c = Cursor::new(data);
    let status = c.u16() % 1000;
    let work_len = usize::from(c.u16()) % MAX_BUF;
    let body = c.rest();
    let mut work = vec![0u8; work_len];
    let got = token_out(parse_token_response(status, body, &mut work));
    // The documented bound: `body.len() * 2` bytes of work always suffice,
    // `* 3` when the body holds escaped UTF-16 surrogate pairs (found here:
    // fuzz/regressions/token_json/work-bound-surrogates).
    let factor = if has_surrogate_escape(body) { 3 } else { 2 };
    let mut big = vec![0u8; body.len() * factor];
    let full = token_out(parse_token_response(status, body, &mut big));
    if let Err(e) = &full {
        assert!(
            !matches!(e, Error::Capacity(_)),
            "body.len() * {factor} work bytes did not suffice: {e:?}"
        );
        check_error_text(e);
    }
    match &got {
        Err(Error::Capacity(c)) => {
            assert_eq!(c.buffer, Buffer::Parse);
            assert_eq!(c.available, work_len);
            assert!(c.needed > c.available, "{c:?}");
            if c.exact {
                let mut exact = vec![0u8; c.needed];
                let again = token_out(parse_token_response(status, body, &mut exact));
                assert_eq!(again, full, "the exact need {} did not suffice", c.needed);
            } else {
                let mut below = vec![0u8; c.needed - 1];
                let again = parse_token_response(status, body, &mut below);
                assert!(
                    matches!(again, Err(Error::Capacity(_))),
                    "the lower bound {} was not one: {again:?}",
                    c.needed
                );
            }
        }
        other => assert_eq!(other, &full, "the work size changed the outcome"),
    }
    // The free text of an error response, with a WWW-Authenticate value
    // taken from the body's first bytes.
    check_details(&ErrorDetails::parse(
        Some(&body[..body.len().min(160)]),
        body,
    ));
    check_details(&ErrorDetails::parse(None, body));
    if let Ok(t) = &full {
        check_token(t);
        assert!((200..300).contains(&status), "token from status {status}");
        if !body.contains(&b'\\') {
            assert!(
                contains(body, format!("\"{}\"", t.token).as_bytes()),
                "unescaped token is not a copy of the body's"
            );
        }
        check_against_serde_json(body, t);
    }
}

// ---- configurations -----------------------------------------------------------

/// Builds configuration `sel` of a fixed set (every authentication method)
/// and hands it to `f`.
pub fn with_config<R>(sel: u8, f: impl FnOnce(&Config<'_, 64>) -> R) -> R {
    const RESOURCES: &[&str] = &["https://api.example/", "urn:example:r"];
    const EXTRA: &[(&str, &str)] = &[("tenant", "a&b=c d"), ("k\u{e9}", "\u{1f321}")];
    let ep = TokenEndpoint::parse_allow_http("http://127.0.0.1:8080/token").expect("endpoint");
    let secret = |s: &str| ClientSecret::<64>::new(s).expect("secret");
    let id = |s: &'static str| ClientId::new(s).expect("id");
    #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
    let wall = || Some(WALL);
    #[cfg(any(feature = "client-secret-jwt", feature = "private-key-jwt"))]
    let jti = || JTI;
    #[cfg(feature = "private-key-jwt")]
    let signer = FakeSigner;
    match sel % 6 {
        1 => f(&Config::new(
            ep,
            id("dev ice:1"),
            ClientAuth::BasicUnencoded(secret("p@ss w&rd")),
        )),
        2 => f(
            &Config::new(ep, id("device-2"), ClientAuth::Post(secret("a+b%c")))
                .with_scope("read write:x")
                .expect("scope")
                .with_audience("https://api.example")
                .expect("audience")
                .with_resources(RESOURCES)
                .expect("resources")
                .with_extra_params(EXTRA)
                .expect("extra"),
        ),
        3 => f(&Config::new(
            ep,
            id("mtls-device"),
            ClientAuth::ClientIdOnly,
        )),
        #[cfg(feature = "client-secret-jwt")]
        4 => f(&Config::new(
            ep,
            id("jwt-device"),
            ClientAuth::SecretJwt(secret("0123456789abcdef0123456789abcdef")),
        )
        .with_assertion(embedded_oauth2::assertion::Assertion::new(&wall, &jti).with_key_id("k1"))),
        #[cfg(feature = "private-key-jwt")]
        5 => f(
            &Config::new(ep, id("es-device"), ClientAuth::PrivateKeyJwt).with_assertion(
                embedded_oauth2::assertion::Assertion::new(&wall, &jti).with_signer(&signer),
            ),
        ),
        _ => f(&Config::new(ep, id("id"), ClientAuth::Basic(secret("s")))),
    }
}

// ---- exchange -------------------------------------------------------------------

/// The reference for an exchange: the delivered bytes read whole with room
/// to spare, then parsed with the documented sufficient work size.
fn reference_exchange(wire: &[u8], limits: Limits) -> Result<TokenOut, Error> {
    let mut big = vec![0u8; wire.len() + 1];
    let mut r = ResponseReader::new(limits);
    feed(&mut r, &mut big, wire, &[]).0?;
    let head = *r.head().expect("complete");
    if (300..400).contains(&head.status) {
        return Err(HttpError::Redirect {
            status: head.status,
        }
        .into());
    }
    let body = r.body(&big).to_vec();
    let mut work = vec![0u8; body.len() * 2];
    token_out(parse_token_response(head.status, &body, &mut work))
}

fn run_exchange(
    config: &Config<'_, 64>,
    plan: &WirePlan<'_>,
    buf_len: usize,
) -> Result<TokenOut, Error> {
    let mut expected = vec![0u8; MAX_BUF];
    let req_len = encode_request(config, &mut expected).expect("the request fits MAX_BUF");
    let request = &expected[..req_len];
    if req_len > buf_len {
        // Too small for the request: a typed error, and the buffer (here
        // full of stale bytes) wiped.
        let mut probe = vec![0xa5u8; buf_len];
        let e = match Exchange::new(config, &mut probe, plan.limits) {
            Ok(_) => panic!("a {req_len}-byte request fit {buf_len} bytes"),
            Err(e) => e,
        };
        assert!(
            matches!(e, Error::Capacity(c) if c.buffer == Buffer::Request
                && c.exact && c.needed == req_len && c.available == buf_len),
            "{e:?}"
        );
        assert!(
            probe.iter().all(|&b| b == 0),
            "a failed Exchange::new left bytes behind"
        );
        return Err(e);
    }
    let mut buf = vec![0u8; buf_len];
    let mut ex = Exchange::new(config, &mut buf, plan.limits).expect("the request fits");
    assert_eq!(ex.to_send(), request);
    let chunk = if plan.send_chunk == 0 {
        usize::MAX
    } else {
        plan.send_chunk
    };
    let mut sent = Vec::new();
    while !ex.to_send().is_empty() {
        let n = chunk.min(ex.to_send().len());
        sent.extend_from_slice(&ex.to_send()[..n]);
        ex.sent(n);
    }
    assert_eq!(sent, request);
    ex.sent(3); // more than there was: harmless
    {
        let spare = ex
            .recv_buf()
            .expect("the whole buffer is free once the request is sent");
        assert!(
            spare[..req_len].iter().all(|&b| b == 0),
            "request bytes left in the buffer after sending"
        );
    }
    let mut reads = Reads {
        sizes: plan.reads,
        next: 0,
    };
    let finish_early = plan.flags & 8 != 0;
    let wire = plan.wire;
    let mut pos = 0;
    let received: Result<bool, Error> = loop {
        if finish_early && pos >= wire.len() / 2 && pos < wire.len() {
            break Ok(false);
        }
        let dst = match ex.recv_buf() {
            Ok(d) => d,
            Err(e) => break Err(e),
        };
        let n = reads.next().min(dst.len()).min(wire.len() - pos);
        dst[..n].copy_from_slice(&wire[pos..pos + n]);
        pos += n;
        match ex.received(n) {
            Ok(true) => break Ok(true),
            Ok(false) => assert!(n > 0, "the exchange neither completed nor failed at EOF"),
            Err(e) => break Err(e),
        }
    };
    let outcome = match received {
        Ok(complete) => {
            let mut details = ErrorDetails::default();
            let r = if plan.flags & 4 != 0 {
                token_out(ex.finish_with_details(&mut details))
            } else {
                token_out(ex.finish())
            };
            check_details(&details);
            if let (Err(Error::OAuth(o)), Some(code)) = (&r, &details.code) {
                assert!(
                    code.as_str().starts_with(o.code.as_str()),
                    "details {code:?} for code {:?}",
                    o.code
                );
            }
            if !complete {
                assert_eq!(
                    r,
                    Err(HttpError::UnexpectedEof.into()),
                    "finish() before the end"
                );
                return r;
            }
            r
        }
        Err(e) => {
            if plan.flags & 2 != 0 {
                // Misuse after an error: more reads, then finish. No panic.
                let _ = ex.received(0);
                let _ = ex.recv_buf().map(|b| b.len());
                let _ = token_out(ex.finish());
            }
            Err(e)
        }
    };
    match &outcome {
        Ok(t) => {
            check_token(t);
            assert_eq!(
                reference_exchange(&wire[..pos], plan.limits),
                Ok(t.clone()),
                "the read sizes changed the token"
            );
        }
        Err(Error::Capacity(_)) => {}
        Err(e) => {
            check_error_text(e);
            let reference = reference_exchange(&wire[..pos], plan.limits);
            assert!(
                reference.is_err(),
                "failed with {e:?} in pieces but read whole it is {reference:?}"
            );
        }
    }
    outcome
}

/// The whole `Exchange`: request out in pieces, arbitrary response bytes in
/// arbitrary reads (0-length reads, early `finish`), arbitrary buffer size.
pub fn exchange(data: &[u8]) {
    let plan = wire_plan(data);
    with_config(plan.flags >> 4, |config| {
        let outcome = run_exchange(config, &plan, plan.buf_len);
        // An exact capacity need is enough for that buffer's part.
        if let Err(Error::Capacity(c)) = outcome
            && c.exact
            && c.needed <= MAX_BUF
        {
            assert_eq!(c.available, plan.buf_len);
            assert!(c.needed > c.available, "{c:?}");
            let again = run_exchange(config, &plan, c.needed);
            assert!(
                !matches!(again, Err(Error::Capacity(d)) if d.buffer == c.buffer),
                "the exact need {c:?} did not suffice: {again:?}"
            );
        }
    });
}

// ---- request ----------------------------------------------------------------------

/// Strict `application/x-www-form-urlencoded` decoding of one name or value:
/// only what the encoder may leave unencoded, `+`, and `%XX` with upper-case
/// hex digits.
pub fn form_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                if !hex
                    .iter()
                    .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c))
                {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 3;
            }
            c if c.is_ascii_alphanumeric() || b"*-._".contains(&c) => {
                out.push(c);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// The pairs of a form body, decoded.
pub fn form_pairs(body: &str) -> Option<Vec<(String, String)>> {
    body.split('&')
        .map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((form_decode(k)?, form_decode(v)?))
        })
        .collect()
}

/// What the request must carry.
struct Expect<'a> {
    path: &'a str,
    host: String,
    authorization: Option<String>,
    pairs: Vec<(String, String)>,
    /// `(alg, client id, aud, kid, lifetime)` of a signed assertion.
    #[allow(dead_code)]
    jwt: Option<(&'a str, &'a str, String, Option<&'a str>, u32)>,
}

/// Checks a complete request: framing, no CR/LF/NUL outside it,
/// Content-Length, headers, credentials and the decoded body.
fn check_request(req: &[u8], expect: &Expect<'_>) {
    assert!(!req.contains(&0), "NUL in the request");
    let text = std::str::from_utf8(req).expect("the request is UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    assert!(
        !body.contains(['\r', '\n']),
        "CR or LF in the body: {body:?}"
    );
    let mut lines = head.split("\r\n");
    for l in head.split("\r\n") {
        assert!(
            !l.contains(['\r', '\n']),
            "bare CR or LF in the head: {l:?}"
        );
        assert!(!l.is_empty(), "empty line inside the head");
    }
    let request_line = lines.next().expect("request line");
    assert_eq!(request_line, format!("POST {} HTTP/1.1", expect.path));
    let mut content_length = None;
    let mut host = None;
    let mut authorization = None;
    for l in lines {
        let (name, value) = l.split_once(": ").expect("header field");
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "header name {name:?}"
        );
        match name {
            "Content-Length" => content_length = Some(value),
            "Host" => host = Some(value),
            "Authorization" => authorization = Some(value),
            _ => {}
        }
    }
    assert_eq!(
        content_length,
        Some(body.len().to_string().as_str()),
        "Content-Length"
    );
    assert_eq!(host, Some(expect.host.as_str()), "Host");
    match (&expect.authorization, authorization) {
        (None, None) => {}
        (Some(cred), Some(value)) => {
            let b64 = value.strip_prefix("Basic ").expect("Basic");
            let decoded = Base64::decode_vec(b64).expect("base64");
            assert_eq!(decoded, cred.as_bytes(), "Basic credentials");
        }
        (e, got) => panic!("Authorization: expected {e:?}, got {got:?}"),
    }
    let pairs = form_pairs(body).unwrap_or_else(|| panic!("body is not form-urlencoded: {body:?}"));
    let mut pairs_wo_assertion = Vec::new();
    let mut assertion = None;
    for (k, v) in pairs {
        if k == "client_assertion" && expect.jwt.is_some() {
            assertion = Some(v);
        } else {
            pairs_wo_assertion.push((k, v));
        }
    }
    assert_eq!(pairs_wo_assertion, expect.pairs, "body parameters");
    if let Some((alg, id, aud, kid, lifetime)) = &expect.jwt {
        check_jws(
            assertion.as_deref().expect("client_assertion"),
            alg,
            id,
            aud,
            *kid,
            *lifetime,
        );
    }
}

fn check_jws(jws: &str, alg: &str, id: &str, aud: &str, kid: Option<&str>, lifetime: u32) {
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(parts.len(), 3, "JWS {jws:?}");
    let json = |s: &str| -> serde_json::Value {
        let raw = Base64UrlUnpadded::decode_vec(s).expect("base64url");
        serde_json::from_slice(&raw).unwrap_or_else(|e| {
            panic!(
                "JWS part is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&raw)
            )
        })
    };
    let header = json(parts[0]);
    assert_eq!(header["alg"], alg);
    assert_eq!(header["typ"], "JWT");
    match kid {
        Some(k) => assert_eq!(header["kid"], k),
        None => assert!(header.get("kid").is_none()),
    }
    let claims = json(parts[1]);
    assert_eq!(claims["iss"], id);
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["aud"], aud);
    #[cfg(feature = "client-secret-jwt")]
    {
        assert_eq!(claims["iat"], WALL);
        assert_eq!(claims["exp"], WALL + u64::from(lifetime));
        assert_eq!(claims["jti"], Base64UrlUnpadded::encode_string(&JTI));
    }
    let _ = lifetime;
    let sig = Base64UrlUnpadded::decode_vec(parts[2]).expect("signature");
    assert_eq!(sig.len(), if alg == "HS256" { 32 } else { 64 });
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Arbitrary configuration strings through the constructors and setters,
/// then `encode_request` into an arbitrary-size buffer.
pub fn request(data: &[u8]) {
    let fields: Vec<&[u8]> = data.split(|&b| b == 0xff).collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or_default();
    let mut meta = Cursor::new(field(0));
    let method = meta.u8() % 6;
    let buf_len = usize::from(meta.u16()) % MAX_BUF;
    let flags = meta.u8();
    let lifetime = u32::from(meta.u8());
    let url = lossy(field(1));
    let id = lossy(field(2));
    let secret = lossy(field(3));
    let scope = lossy(field(4));
    let audience = lossy(field(5));
    let resources: Vec<String> = if field(6).is_empty() {
        Vec::new()
    } else {
        field(6).split(|&b| b == 0xfe).map(lossy).collect()
    };
    let extra: Vec<(String, String)> = if field(7).is_empty() {
        Vec::new()
    } else {
        field(7)
            .split(|&b| b == 0xfe)
            .map(|e| {
                let mut kv = e.splitn(2, |&b| b == 0xfd);
                (
                    lossy(kv.next().unwrap_or_default()),
                    lossy(kv.next().unwrap_or_default()),
                )
            })
            .collect()
    };
    let kid = lossy(field(8));
    let jwt_aud = lossy(field(9));

    // ---- construction: refused exactly when it must be
    let endpoint = if flags & 1 != 0 {
        TokenEndpoint::parse_allow_http(&url)
    } else {
        TokenEndpoint::parse(&url)
    };
    if has_control(&url) {
        assert_eq!(endpoint, Err(ConfigError::ControlCharacter));
    }
    let Ok(endpoint) = endpoint else { return };
    assert!(endpoint.path().starts_with('/'));
    assert!(!endpoint.host().is_empty() && endpoint.port() != 0);
    for s in [endpoint.host(), endpoint.path()] {
        assert!(!has_control(s) && !s.contains(' '), "{s:?}");
    }
    let client_id = ClientId::new(&id);
    if id.is_empty() {
        assert_eq!(client_id, Err(ConfigError::EmptyClientId));
    } else if has_control(&id) {
        assert_eq!(client_id, Err(ConfigError::ControlCharacter));
    } else {
        assert!(client_id.is_ok());
    }
    let Ok(client_id) = client_id else { return };
    let make_secret = || ClientSecret::<64>::new(&secret);
    match make_secret() {
        Err(e) if has_control(&secret) => assert_eq!(e, ConfigError::ControlCharacter),
        Err(e) => assert_eq!(
            e,
            ConfigError::SecretTooLong {
                needed: secret.len(),
                capacity: 64
            }
        ),
        Ok(s) => {
            assert!(!has_control(&secret) && secret.len() <= 64);
            assert_eq!(s.expose_secret(), secret);
        }
    }
    if make_secret().is_err() {
        return;
    }
    #[cfg(feature = "client-secret-jwt")]
    let wall = || Some(WALL);
    #[cfg(feature = "client-secret-jwt")]
    let jti = || JTI;
    #[cfg(feature = "private-key-jwt")]
    let signer = FakeSigner;
    let auth = |secret: &str| -> Option<ClientAuth<64>> {
        let s = ClientSecret::<64>::new(secret).ok()?;
        Some(match method {
            0 => ClientAuth::Basic(s),
            1 => ClientAuth::BasicUnencoded(s),
            2 => ClientAuth::Post(s),
            3 => ClientAuth::ClientIdOnly,
            #[cfg(feature = "client-secret-jwt")]
            4 => ClientAuth::SecretJwt(s),
            #[cfg(feature = "private-key-jwt")]
            5 => ClientAuth::PrivateKeyJwt,
            _ => return None,
        })
    };
    let Some(_) = auth(&secret) else { return };
    let base_with = |secret: &str| {
        let config = Config::new(endpoint, client_id, auth(secret).expect("auth"));
        #[cfg(feature = "client-secret-jwt")]
        let config = {
            let mut a = embedded_oauth2::assertion::Assertion::new(&wall, &jti)
                .with_lifetime_secs(lifetime);
            if flags & 8 != 0 {
                a = a.with_key_id(&kid);
            }
            if flags & 16 != 0 {
                a = a.with_audience(embedded_oauth2::assertion::Audience::Other(&jwt_aud));
            }
            #[cfg(feature = "private-key-jwt")]
            {
                a = a.with_signer(&signer);
            }
            config.with_assertion(a)
        };
        config
    };
    let base = || base_with(&secret);
    let use_scope = flags & 2 != 0 && {
        let r = base().with_scope(&scope);
        if has_control(&scope) {
            assert_eq!(r.as_ref().err(), Some(&ConfigError::ControlCharacter));
        } else {
            assert_eq!(r.is_ok(), scope_syntax_ok(&scope), "scope {scope:?}");
        }
        r.is_ok()
    };
    let use_audience = flags & 4 != 0 && {
        let r = base().with_audience(&audience);
        assert_eq!(r.is_ok(), !has_control(&audience), "audience {audience:?}");
        r.is_ok()
    };
    let resource_refs: Vec<&str> = resources.iter().map(String::as_str).collect();
    let use_resources = flags & 32 != 0 && {
        let r = base().with_resources(&resource_refs);
        if resources.iter().any(|s| has_control(s)) {
            assert!(r.is_err(), "resources with control characters accepted");
        }
        r.is_ok()
    };
    let extra_refs: Vec<(&str, &str)> = extra
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let use_extra = flags & 64 != 0 && {
        let r = base().with_extra_params(&extra_refs);
        let bad = extra.iter().any(|(k, v)| {
            has_control(k)
                || has_control(v)
                || k.is_empty()
                || [
                    "grant_type",
                    "client_id",
                    "client_secret",
                    "client_assertion",
                    "client_assertion_type",
                    "scope",
                    "audience",
                    "resource",
                ]
                .contains(&k.as_str())
        });
        assert_eq!(r.is_err(), bad, "extra parameters {extra:?}");
        r.is_ok()
    };
    let full = |secret: &str| {
        let mut config = base_with(secret);
        if use_scope {
            config = config.with_scope(&scope).expect("checked");
        }
        if use_audience {
            config = config.with_audience(&audience).expect("checked");
        }
        if use_resources {
            config = config.with_resources(&resource_refs).expect("checked");
        }
        if use_extra {
            config = config.with_extra_params(&extra_refs).expect("checked");
        }
        config
    };
    let config = full(&secret);

    // ---- what the request must carry
    let form_enc = |s: &str| -> String {
        // Reference encoder (WHATWG application/x-www-form-urlencoded).
        let mut o = String::new();
        for &b in s.as_bytes() {
            match b {
                b' ' => o.push('+'),
                b if b.is_ascii_alphanumeric() || b"*-._".contains(&b) => o.push(b as char),
                b => o.push_str(&format!("%{b:02X}")),
            }
        }
        o
    };
    let mut pairs = vec![("grant_type".to_string(), "client_credentials".to_string())];
    let mut authorization = None;
    let mut jwt = None;
    match method {
        0 => authorization = Some(format!("{}:{}", form_enc(&id), form_enc(&secret))),
        1 => authorization = Some(format!("{id}:{secret}")),
        2 => {
            pairs.push(("client_id".into(), id.clone()));
            pairs.push(("client_secret".into(), secret.clone()));
        }
        3 => pairs.push(("client_id".into(), id.clone())),
        _ => {
            pairs.push((
                "client_assertion_type".into(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            let aud = if flags & 16 != 0 {
                jwt_aud.clone()
            } else {
                url.clone()
            };
            let kid = (flags & 8 != 0).then_some(kid.as_str());
            jwt = Some((
                if method == 4 { "HS256" } else { "ES256" },
                id.as_str(),
                aud,
                kid,
                lifetime,
            ));
        }
    }
    if use_scope {
        pairs.push(("scope".into(), scope.clone()));
    }
    if use_audience {
        pairs.push(("audience".into(), audience.clone()));
    }
    if use_resources {
        pairs.extend(
            resources
                .iter()
                .map(|r| ("resource".to_string(), r.clone())),
        );
    }
    if use_extra {
        pairs.extend(extra.iter().cloned());
    }
    let host = {
        let h = endpoint.host();
        let h = if h.contains(':') {
            format!("[{h}]")
        } else {
            h.to_string()
        };
        let default = if endpoint.is_https() { 443 } else { 80 };
        if endpoint.port() == default {
            h
        } else {
            format!("{h}:{}", endpoint.port())
        }
    };
    let expect = Expect {
        path: endpoint.path(),
        host,
        authorization,
        pairs,
        jwt,
    };

    // ---- encoding
    let mut buf = vec![0u8; buf_len];
    let n = match encode_request(&config, &mut buf) {
        Ok(n) => {
            assert!(n <= buf_len);
            if n > 0 {
                let mut small = vec![0u8; n - 1];
                match encode_request(&config, &mut small) {
                    Err(Error::Capacity(c)) => {
                        assert_eq!(
                            (c.buffer, c.needed, c.available, c.exact),
                            (Buffer::Request, n, n - 1, true)
                        )
                    }
                    other => panic!("one byte less: {other:?}"),
                }
            }
            n
        }
        Err(Error::Capacity(c)) => {
            assert_eq!(
                (c.buffer, c.available, c.exact),
                (Buffer::Request, buf_len, true)
            );
            assert!(c.needed > buf_len);
            buf = vec![0u8; c.needed];
            let n = encode_request(&config, &mut buf).expect("the exact need suffices");
            assert_eq!(n, c.needed);
            n
        }
        Err(e) => panic!("encode_request: {e:?}"),
    };
    let req = &buf[..n];
    check_request(req, &expect);

    // The bring-your-own-HTTP functions give the same bytes.
    let body_start = req
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("blank line")
        + 4;
    let mut fb = vec![0u8; n];
    assert_eq!(
        form_body(&config, &mut fb).expect("form_body").as_bytes(),
        &req[body_start..]
    );
    let mut hb = vec![0u8; n];
    match authorization_header(&config, &mut hb).expect("authorization_header") {
        Some(v) => assert!(contains(
            req,
            format!("\r\nAuthorization: {v}\r\n").as_bytes()
        )),
        None => assert!(!contains(req, b"\r\nAuthorization:")),
    }
    // The secret never shows in Debug output: the same configuration with
    // another secret of the same length prints the same.
    let other = "Q".repeat(secret.len());
    assert_eq!(
        format!("{config:?}"),
        format!("{:?}", full(&other)),
        "Debug output depends on the secret"
    );
}

/// `server_chain`: the connector's certificate check on bytes a server
/// controls: `tls::verify_server_chain` over an arbitrary chain, against an
/// arbitrary root, with and without a clock, for a few names. It must
/// never panic; what it accepts must at least be a certificate with a
/// public key, and the answer must not depend on how the root is given.
///
/// Input: byte 0 flags (bit 0: a clock, bits 1-2: the name), then entries,
/// each a u16 big-endian length and that many bytes: the first is the
/// root, the others the chain (leaf first); at most 13.
#[cfg(feature = "tls")]
pub fn server_chain(data: &[u8]) {
    use embedded_oauth2::tls::{Roots, spki, verify_server_chain};
    const NAMES: [&str; 4] = ["localhost", "127.0.0.1", "api.example.com", "::1"];
    /// The clock's time: December 2026, when the seed chains are valid.
    const NOW: u64 = 1_796_700_000;
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let mut entries: Vec<&[u8]> = Vec::new();
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (entry, after) = tail.split_at(len);
        entries.push(entry);
        rest = after;
        if entries.len() > 12 {
            break;
        }
    }
    let Some((root, chain)) = entries.split_first() else {
        return;
    };
    let now = (flags & 1 == 1).then_some(NOW);
    let name = NAMES[usize::from((flags >> 1) & 3)];
    let one = verify_server_chain(chain, Roots::Certificate(root), name, now);
    let roots = [*root];
    let many = verify_server_chain(chain, Roots::Certificates(&roots), name, now);
    assert_eq!(one, many, "the same root, given two ways");
    if one.is_ok() {
        let leaf = chain.first().expect("an accepted chain has a leaf");
        assert!(spki(leaf).is_some(), "an accepted leaf has a public key");
    }
}
