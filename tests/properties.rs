//! Property tests (proptest) of what must hold for every input, not just the
//! examples: encodings round-trip, requests stay well framed, the response
//! outcome does not depend on how the bytes arrive, and a token comes back
//! byte for byte.
//!
//! 256 cases per property by default (4 under Miri); `PROPTEST_CASES=N`
//! changes it.

mod common;

use base64ct::{Base64, Encoding};
use common::table::{Case, Outcome, cases, run_exchange};
use embedded_io::{ErrorType, Read, Write};
use embedded_oauth2::error::{Buffer, ConfigError};
use embedded_oauth2::http::{Exchange, authorization_header, encode_request, form_body};
use embedded_oauth2::{
    ClientAuth, ClientId, ClientSecret, Config, Error, Instant, Limits, RefreshPolicy, Token,
    TokenEndpoint, blocking,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(miri) { 4 } else { 256 });
    ProptestConfig {
        cases,
        // Miri runs isolated from the file system.
        failure_persistence: if cfg!(miri) {
            None
        } else {
            ProptestConfig::default().failure_persistence
        },
        ..ProptestConfig::default()
    }
}

// ---- reference implementations, written independently of the crate -----------------

fn is_control(c: char) -> bool {
    c < ' ' || c == '\x7f'
}

/// `application/x-www-form-urlencoded` (WHATWG URL §5.2, RFC 6749 App. B).
fn form_encode(s: &str) -> String {
    let mut o = String::new();
    for &b in s.as_bytes() {
        match b {
            b' ' => o.push('+'),
            b if b.is_ascii_alphanumeric() || b"*-._".contains(&b) => o.push(char::from(b)),
            b => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}

/// Decodes `+` and `%XX`; refuses any byte the encoder must have encoded.
fn form_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .ok_or(format!("short escape in {s:?}"))?;
                let hex = std::str::from_utf8(hex).map_err(|e| e.to_string())?;
                if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                    return Err(format!("bad escape %{hex} in {s:?}"));
                }
                out.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
                i += 2;
            }
            c if c.is_ascii_alphanumeric() || b"*-._".contains(&c) => out.push(c),
            c => return Err(format!("unencoded byte {c:#04x} in {s:?}")),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// The decoded pairs of a form body.
fn form_pairs(body: &str) -> Result<Vec<(String, String)>, String> {
    body.split('&')
        .map(|p| {
            let (k, v) = p.split_once('=').ok_or(format!("no '=' in {p:?}"))?;
            Ok((form_decode(k)?, form_decode(v)?))
        })
        .collect()
}

// ---- strategies ----------------------------------------------------------------

/// Characters that matter to the encoders, printable ASCII, and any char.
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec![
            ' ', '+', '%', '&', '=', ':', '/', '?', '#', '"', '\\', '~', '*', '-', '.', '_', '@',
            '!', '\'', '(', ')', '[', ']', '\u{e9}', '\u{1f321}', '\u{ffff}', '\u{85}',
        ]),
        3 => proptest::char::range(' ', '~'),
        1 => any::<char>(),
    ]
}

/// Strings without control characters (what configuration accepts).
fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        any_char().prop_filter("no controls", |c| !is_control(*c)),
        0..max,
    )
    .prop_map(|v| v.into_iter().collect())
}

/// Strings that may hold control characters (CR, LF, NUL, DEL, …).
fn hostile_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => any_char(),
            1 => prop::sample::select(vec!['\r', '\n', '\0', '\t', '\x7f', '\x1b']),
        ],
        0..max,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn endpoint() -> TokenEndpoint<'static> {
    TokenEndpoint::parse("https://as.example:8443/oauth2/token?tenant=a").unwrap()
}

// ---- 1. form-urlencoding round-trips ----------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// Any value (and name) sent as an extra parameter or audience comes
    /// back exactly through a reference decoder, and the body uses only the
    /// form alphabet.
    #[test]
    fn form_encoding_round_trips(value in text(40), name in text(12), audience in text(40)) {
        let name = format!("x{name}");
        let extra = [(name.as_str(), value.as_str()), ("k", value.as_str())];
        let config = Config::<8>::new(endpoint(), ClientId::new("c").unwrap(), ClientAuth::ClientIdOnly)
            .with_audience(&audience).unwrap()
            .with_extra_params(&extra).unwrap();
        let mut buf = vec![0u8; 2048];
        let body = form_body(&config, &mut buf).unwrap();
        prop_assert!(
            body.bytes().all(|b| b.is_ascii_alphanumeric() || b"*-._+%&=".contains(&b)),
            "outside the form alphabet: {body:?}"
        );
        let pairs = form_pairs(body).map_err(TestCaseError::fail)?;
        let expected = vec![
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("client_id".to_owned(), "c".to_owned()),
            ("audience".to_owned(), audience.clone()),
            (name.clone(), value.clone()),
            ("k".to_owned(), value.clone()),
        ];
        prop_assert_eq!(pairs, expected);
        // And the encoding is the reference one, byte for byte.
        let want = format!("&k={}", form_encode(&value));
        prop_assert!(body.ends_with(&want));
    }

    // ---- 2. base64 in the Basic header round-trips ----------------------------------

    /// `Authorization: Basic` decodes (base64ct) to `id:secret`, each
    /// form-urlencoded first (RFC 6749 §2.3.1) or not (BasicUnencoded).
    #[test]
    fn basic_credentials_round_trip(id in text(40), secret in text(64), encoded in any::<bool>()) {
        prop_assume!(!id.is_empty() && secret.len() <= 64);
        let s = ClientSecret::<64>::new(&secret).unwrap();
        let auth = if encoded { ClientAuth::Basic(s) } else { ClientAuth::BasicUnencoded(s) };
        let config = Config::new(endpoint(), ClientId::new(&id).unwrap(), auth);
        let mut buf = vec![0u8; 1024];
        let value = authorization_header(&config, &mut buf).unwrap().unwrap().to_owned();
        let b64 = value.strip_prefix("Basic ").unwrap();
        prop_assert!(b64.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)));
        let decoded = String::from_utf8(Base64::decode_vec(b64).unwrap()).unwrap();
        if encoded {
            prop_assert_eq!(&decoded, &format!("{}:{}", form_encode(&id), form_encode(&secret)));
            // ':' is encoded in both parts, so the split is unambiguous.
            let (i, s) = decoded.split_once(':').unwrap();
            prop_assert_eq!(form_decode(i).unwrap(), id.as_str());
            prop_assert_eq!(form_decode(s).unwrap(), secret.as_str());
        } else {
            prop_assert_eq!(decoded, format!("{id}:{secret}"));
        }
        // The whole request carries the same header.
        let mut req = vec![0u8; 2048];
        let n = encode_request(&config, &mut req).unwrap();
        let needle = format!("\r\nAuthorization: {value}\r\n");
        prop_assert!(req[..n].windows(needle.len()).any(|w| w == needle.as_bytes()));
    }
}

// ---- 3. requests stay framed; bad values are refused at construction -------------------

/// Whether a setter accepted its value; a refusal of a value with control
/// characters must say so.
fn refused<C>(r: Result<C, ConfigError>, control: bool) -> Result<bool, TestCaseError> {
    match r {
        Ok(_) => Ok(true),
        Err(e) => {
            if control {
                prop_assert_eq!(e, ConfigError::ControlCharacter);
            }
            Ok(false)
        }
    }
}

/// Splits a request into head lines and body, checking that CR and LF only
/// occur as the framing's line ends and NUL nowhere.
fn framing(req: &[u8]) -> Result<(Vec<String>, String), TestCaseError> {
    prop_assert!(!req.contains(&0), "NUL in the request");
    let text = std::str::from_utf8(req).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or(TestCaseError::fail("no blank line"))?;
    prop_assert!(!body.contains(['\r', '\n']), "CR/LF in the body");
    let lines: Vec<String> = head.split("\r\n").map(str::to_owned).collect();
    for l in &lines {
        prop_assert!(
            !l.is_empty() && !l.contains(['\r', '\n']),
            "bad head line {l:?}"
        );
    }
    Ok((lines, body.to_owned()))
}

proptest! {
    #![proptest_config(config())]

    /// Every setter refuses exactly the values with control characters (or
    /// otherwise invalid), with `ConfigError`; whatever is accepted encodes
    /// to a request whose only CR/LF are the framing's, whose
    /// Content-Length is the body's length, and whose body decodes back to
    /// the values.
    #[test]
    fn requests_are_framed_and_bad_values_refused(
        id in hostile_text(24),
        secret in hostile_text(24),
        scope in hostile_text(24),
        audience in hostile_text(24),
        resource in hostile_text(24),
        extra in (hostile_text(8), hostile_text(16)),
        method in 0u8..4,
    ) {
        let id_ok = !id.is_empty() && !id.chars().any(is_control);
        match ClientId::new(&id) {
            Ok(_) => prop_assert!(id_ok),
            Err(e) if id.is_empty() => prop_assert_eq!(e, ConfigError::EmptyClientId),
            Err(e) => prop_assert_eq!(e, ConfigError::ControlCharacter),
        }
        match ClientSecret::<64>::new(&secret) {
            Ok(_) => prop_assert!(!secret.chars().any(is_control)),
            Err(e) => prop_assert_eq!(e, ConfigError::ControlCharacter),
        }
        let id = if id_ok { id } else { "fallback-id".to_owned() };
        let secret = if secret.chars().any(is_control) { "fallback".to_owned() } else { secret };
        let resource = format!("urn:{resource}");
        let resources = [resource.as_str()];
        let extra_k = format!("x-{}", extra.0);
        let extras = [(extra_k.as_str(), extra.1.as_str())];
        let mk = || {
            let s = ClientSecret::<64>::new(&secret).unwrap();
            let auth = match method {
                0 => ClientAuth::Basic(s),
                1 => ClientAuth::BasicUnencoded(s),
                2 => ClientAuth::Post(s),
                _ => ClientAuth::ClientIdOnly,
            };
            Config::new(endpoint(), ClientId::new(&id).unwrap(), auth)
        };
        let control = |s: &str| s.chars().any(is_control);
        let scope_ok = refused(mk().with_scope(&scope), control(&scope))?;
        let audience_ok = refused(mk().with_audience(&audience), control(&audience))?;
        prop_assert_eq!(audience_ok, !control(&audience));
        let resource_ok = refused(mk().with_resources(&resources), control(&resource))?;
        let extra_ok = refused(mk().with_extra_params(&extras), control(&extra_k) || control(&extra.1))?;
        prop_assert_eq!(extra_ok, !control(&extra_k) && !control(&extra.1));
        if control(&scope) { prop_assert!(!scope_ok); }
        if control(&resource) { prop_assert!(!resource_ok); }

        let mut config = mk();
        let mut expected = vec![("grant_type".to_owned(), "client_credentials".to_owned())];
        match method {
            2 => {
                expected.push(("client_id".into(), id.clone()));
                expected.push(("client_secret".into(), secret.clone()));
            }
            3 => expected.push(("client_id".into(), id.clone())),
            _ => {}
        }
        if scope_ok {
            config = config.with_scope(&scope).unwrap();
            expected.push(("scope".into(), scope.clone()));
        }
        if audience_ok {
            config = config.with_audience(&audience).unwrap();
            expected.push(("audience".into(), audience.clone()));
        }
        if resource_ok {
            config = config.with_resources(&resources).unwrap();
            expected.push(("resource".into(), resource.clone()));
        }
        if extra_ok {
            config = config.with_extra_params(&extras).unwrap();
            expected.push((extra_k.clone(), extra.1.clone()));
        }
        let mut buf = vec![0u8; 4096];
        let n = encode_request(&config, &mut buf).unwrap();
        let (lines, body) = framing(&buf[..n])?;
        prop_assert_eq!(&lines[0], "POST /oauth2/token?tenant=a HTTP/1.1");
        prop_assert_eq!(&lines[1], "Host: as.example:8443");
        let cl = format!("Content-Length: {}", body.len());
        prop_assert!(lines.contains(&cl), "{lines:?}");
        prop_assert_eq!(form_pairs(&body).map_err(TestCaseError::fail)?, expected);
    }
}

// ---- 4. the outcome does not depend on how the response arrives -------------------------

/// A stream that answers with `data` cut at `cuts` (each read ends at the
/// next cut, or earlier when the caller's buffer is smaller), then EOF.
struct Cut<'a> {
    data: &'a [u8],
    cuts: &'a [usize],
    pos: usize,
}

impl ErrorType for Cut<'_> {
    type Error = core::convert::Infallible;
}

impl Read for Cut<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        assert!(!buf.is_empty());
        let end = self
            .cuts
            .iter()
            .copied()
            .find(|&c| c > self.pos)
            .unwrap_or(self.data.len())
            .min(self.data.len());
        let n = (end - self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Cut<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// A table case through `blocking::run`, the response cut at `cuts`.
fn run_cut(case: &Case, cuts: &[usize]) -> Outcome {
    let config = common::config();
    let mut buf = vec![0u8; case.buf];
    let ex = Exchange::new(&config, &mut buf, Limits::new()).expect("the request fits");
    let mut stream = Cut {
        data: &case.wire,
        cuts,
        pos: 0,
    };
    run_exchange(&mut stream, ex)
}

/// The recorded responses; under Miri a sample of the short ones (a
/// response of 400 interim heads alone takes minutes there).
fn table() -> Vec<Case> {
    let all = cases();
    if cfg!(miri) {
        all.into_iter()
            .step_by(5)
            .filter(|c| c.wire.len() <= 600)
            .collect()
    } else {
        all
    }
}

/// Every recorded response, split into two reads at every position, gives
/// the table's outcome. (Under Miri: three positions per sampled response.)
#[test]
fn every_split_point_of_every_recorded_response() {
    let mut failures = Vec::new();
    let mut runs = 0;
    for case in table() {
        let len = case.wire.len();
        let points: Vec<usize> = if cfg!(miri) {
            vec![1, len / 2, len.saturating_sub(1)]
        } else {
            (1..len).collect()
        };
        for p in points {
            runs += 1;
            let got = run_cut(&case, &[p]);
            if got != case.expect {
                failures.push(format!(
                    "{:?} split at {p}: expected {:?}, got {got:?}",
                    case.name, case.expect
                ));
            }
        }
    }
    assert!(runs > 1000 || cfg!(miri), "only {runs} splits");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

proptest! {
    #![proptest_config(config())]

    /// Any number of cuts anywhere in any recorded response: same outcome.
    #[test]
    fn random_multi_splits_give_the_recorded_outcome(
        index in any::<prop::sample::Index>(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
    ) {
        let all = table();
        let case = index.get(&all);
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(case.wire.len().max(1)).max(1)).collect();
        cuts.sort_unstable();
        cuts.dedup();
        prop_assert_eq!(run_cut(case, &cuts), case.expect.clone(), "case {:?}, cuts {:?}", case.name, cuts);
    }
}

// ---- 5. a token that fits comes back byte-identical --------------------------------------

/// One character of a JSON string, escaped one of the ways JSON allows.
fn json_char(c: char, how: u8) -> String {
    match (c, how % 4) {
        ('"', 0 | 1) => "\\\"".to_owned(),
        ('\\', 0 | 1) => "\\\\".to_owned(),
        ('/', 1) => "\\/".to_owned(),
        (_, 2) => format!("\\u{:04x}", u32::from(c)),
        (_, 3) => format!("\\u{:04X}", u32::from(c)),
        ('"' | '\\', _) => format!("\\u{:04X}", u32::from(c)),
        _ => c.to_string(),
    }
}

/// How the body is framed on the wire.
fn frame(body: &str, framing: u8, chunk: usize) -> Vec<u8> {
    match framing % 3 {
        0 => common::json("HTTP/1.1 200 OK", body),
        1 => {
            let mut w = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for c in body.as_bytes().chunks(chunk.max(1)) {
                w.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                w.extend_from_slice(c);
                w.extend_from_slice(b"\r\n");
            }
            w.extend_from_slice(b"0\r\n\r\n");
            w
        }
        _ => {
            let mut w = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n".to_vec();
            w.extend_from_slice(body.as_bytes());
            w
        }
    }
}

/// `(token, escaped JSON literal)`: visible ASCII, escapes sprinkled in.
fn token_and_literal(max: usize) -> impl Strategy<Value = (String, String)> {
    prop::collection::vec((proptest::char::range('!', '~'), any::<u8>()), 1..=max).prop_map(|v| {
        let token: String = v.iter().map(|(c, _)| *c).collect();
        // About one character in eight is escaped.
        let literal: String = v
            .iter()
            .map(|&(c, r)| {
                if r < 32 || c == '"' || c == '\\' {
                    json_char(c, r)
                } else {
                    c.to_string()
                }
            })
            .collect();
        (token, literal)
    })
}

const T: usize = 600;

proptest! {
    #![proptest_config(config())]

    /// A random visible-ASCII token of random length (within the token's
    /// capacity), escaped at random, in a body with other members, framed
    /// three ways and read in random pieces, comes back exactly unescaped:
    /// from the exchange, stored in `Token`, and as the header value.
    #[test]
    fn a_token_that_fits_comes_back_byte_identical(
        (token, literal) in token_and_literal(T),
        before_extra in any::<bool>(),
        expires in prop::option::of(1u64..10_000_000),
        framing in any::<u8>(),
        chunk in 1usize..200,
        cuts in prop::collection::vec(1usize..2000, 0..8),
    ) {
        let extra = r#""x":{"nested":["a\"b",1,{"c":null}]},"scope_hint":"\/\u00e9""#;
        let exp = expires.map(|e| format!(r#","expires_in":{e}"#)).unwrap_or_default();
        let body = if before_extra {
            format!(r#"{{{extra},"access_token":"{literal}","token_type":"bearer"{exp}}}"#)
        } else {
            format!(r#"{{"token_type":"Bearer","access_token":"{literal}"{exp},{extra}}}"#)
        };
        let wire = frame(&body, framing, chunk);
        // Sizing: the response, then the longest escaped string and the
        // token (each at most the body). An earlier shorthand
        // "about head + 2 × body" was not enough for escaped tokens (see
        // `readme_sizing_suffices_for_an_escaped_token` in tests/fuzz_replay.rs).
        let mut buf = vec![0u8; wire.len() + 2 * body.len()];
        let config = common::config();
        let ex = Exchange::new(&config, &mut buf, Limits::new()).unwrap();
        let mut cuts = cuts;
        cuts.sort_unstable();
        let mut stream = Cut { data: &wire, cuts: &cuts, pos: 0 };
        let resp = match blocking::run(&mut stream, ex) {
            Ok(r) => r,
            Err(e) => return Err(TestCaseError::fail(format!("{e:?} for body {body}"))),
        };
        prop_assert_eq!(resp.access_token, token.as_str());
        prop_assert_eq!(resp.expires_in, expires);
        let mut stored = Token::<T, 16>::new();
        stored.set(&resp, Instant::from_secs(1), &RefreshPolicy::new()).unwrap();
        prop_assert_eq!(stored.expose_secret(), token.as_str());
        let mut header = vec![0u8; T + 16];
        prop_assert_eq!(stored.authorization_value(&mut header).unwrap(), format!("Bearer {token}"));
    }

    /// With any work buffer, a token response either succeeds with the
    /// exact token or fails with `Capacity`; an exact need then suffices
    /// and one byte less does not.
    #[test]
    fn capacity_errors_name_the_exact_need(
        (token, literal) in token_and_literal(300),
        size in 0usize..2000,
    ) {
        let body = format!(r#"{{"access_token":"{literal}","token_type":"Bearer"}}"#);
        let wire = common::json("HTTP/1.1 200 OK", &body);
        let run = |size: usize| -> Result<String, Error> {
            let config = common::config();
            let mut buf = vec![0u8; size];
            let ex = Exchange::new(&config, &mut buf, Limits::new())?;
            let mut stream = Cut { data: &wire, cuts: &[], pos: 0 };
            blocking::run(&mut stream, ex).map(|t| t.access_token.to_owned()).map_err(|e| match e {
                Error::Capacity(c) => Error::Capacity(c),
                other => panic!("{other:?}"),
            })
        };
        match run(size) {
            Ok(t) => prop_assert_eq!(t, token),
            Err(Error::Capacity(c)) => {
                prop_assert_eq!(c.available, size);
                prop_assert!(c.needed > size);
                if c.exact {
                    match run(c.needed) {
                        Ok(t) => prop_assert_eq!(t, token.clone()),
                        // The response fits now; parsing may need more.
                        Err(Error::Capacity(d)) => {
                            prop_assert!(c.buffer != Buffer::Parse && d.buffer != c.buffer, "{c:?} then {d:?}");
                            prop_assert!(d.needed > c.needed);
                        }
                        Err(e) => return Err(TestCaseError::fail(format!("{e:?}"))),
                    }
                    prop_assert!(matches!(run(c.needed - 1), Err(Error::Capacity(_))));
                }
            }
            Err(e) => return Err(TestCaseError::fail(format!("{e:?}"))),
        }
    }
}
