//! Failing well: which failures are retried (`Error::retry`), how long the
//! client waits (exponential backoff with full jitter, `Retry-After` in
//! seconds or as an HTTP-date), that a permanent failure is never retried on
//! its own, that a still-valid token keeps being handed out while backing
//! off, and where in the jitter window a client renews.
//!
//! Everything runs on a fake millisecond clock against the scripted
//! `FakeServer` of `tests/common`, which counts connection attempts; the
//! random source is a seeded splitmix64 that records every sample it hands
//! out, so each expected delay is computed from the very sample the client
//! drew.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use common::{FakeServer, Script, StreamError, token_response, wire};
use embedded_oauth2::error::{Buffer, HttpError, Retry, RetryAfter};
use embedded_oauth2::{
    Backoff, Client, Clock, Error, ErrorCode, Freshness, Instant, Random, RefreshPolicy,
    TokenEndpoint, WallClock,
};

const BUF: usize = 2048;

// ---- helpers ---------------------------------------------------------------

/// splitmix64, seeded: a deterministic `Random` that records its samples.
struct Seeded {
    state: Cell<u64>,
    drawn: RefCell<Vec<u32>>,
}

impl Seeded {
    fn new(seed: u64) -> Self {
        Self {
            state: Cell::new(seed),
            drawn: RefCell::new(Vec::new()),
        }
    }

    /// Samples drawn so far.
    fn count(&self) -> usize {
        self.drawn.borrow().len()
    }

    /// The last sample drawn.
    fn last(&self) -> u32 {
        *self.drawn.borrow().last().expect("a sample was drawn")
    }
}

/// A random source or none, chosen at run time.
struct Maybe<'a>(Option<&'a dyn Random>);

impl Random for Maybe<'_> {
    fn next_u32(&self) -> u32 {
        self.0.map_or(u32::MAX, |r| r.next_u32())
    }

    fn enabled(&self) -> bool {
        self.0.is_some()
    }
}

/// A wall clock or none, chosen at run time.
struct MaybeWall<'a>(Option<&'a dyn WallClock>);

impl WallClock for MaybeWall<'_> {
    fn unix_time(&self) -> Option<u64> {
        self.0.and_then(|w| w.unix_time())
    }
}

impl Random for Seeded {
    fn next_u32(&self) -> u32 {
        let mut z = self.state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.state.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        let sample = (z >> 32) as u32;
        self.drawn.borrow_mut().push(sample);
        sample
    }
}

/// `sample / 2^32` of `ms` milliseconds, as the full-jitter definition says
/// (computed here independently of the crate).
fn jittered(ms: u64, sample: u32) -> u64 {
    ((u128::from(ms) * u128::from(sample)) >> 32) as u64
}

/// The backoff ceiling after `n` consecutive failures with the defaults:
/// 2 s, 4 s, 8 s, … capped at 5 min.
fn default_ceiling_ms(n: u32) -> u64 {
    (2_000u64 << (n - 1).min(20)).min(300_000)
}

fn secs(s: u64) -> u64 {
    s * 1000
}

/// A fake clock in milliseconds (shared with the fake server).
fn clock_at(ms: u64) -> Rc<Cell<u64>> {
    Rc::new(Cell::new(ms))
}

fn clock(now: &Rc<Cell<u64>>) -> impl Fn() -> Instant + use<> {
    let now = Rc::clone(now);
    move || Instant::from_millis(now.get())
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn html(status_line: &str, extra_headers: &str) -> Vec<u8> {
    wire(
        &format!(
            "{status_line}\r\n{extra_headers}Content-Type: text/html\r\nContent-Length: {{len}}\r\n\r\n"
        ),
        "<html>down</html>",
    )
}

fn oauth_body(status_line: &str, extra_headers: &str, code: &str) -> Vec<u8> {
    wire(
        &format!(
            "{status_line}\r\n{extra_headers}Content-Type: application/json\r\nContent-Length: {{len}}\r\n\r\n"
        ),
        &format!(r#"{{"error":"{code}"}}"#),
    )
}

fn dirty_buf() -> Vec<u8> {
    vec![0xA5; BUF]
}

// ---- classification ----------------------------------------------------------

/// How a failure is provoked for the classification table.
enum Provoke {
    /// The fake server does this on the one connection.
    Server(Script),
    /// The work buffer is this small.
    TinyBuffer(usize),
}

/// What the client does after the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Backs off: `Error::Backoff` until `next_attempt()`, then tries again.
    BackOff,
    /// Blocks: the same error, no attempt, until `reset_backoff()`.
    Block,
}

struct Row {
    what: &'static str,
    provoke: Provoke,
    /// The error must match this.
    check: fn(&Error<StreamError>) -> bool,
    /// `Error::retry()` of the error.
    retry: Retry,
    /// What the client does about it: as `retry` says, except for capacity
    /// errors (`Retry::Permanent` for the same buffers, but the caller may
    /// pass a bigger work buffer next time), which back off.
    then: Then,
}

fn row(
    what: &'static str,
    provoke: Provoke,
    check: fn(&Error<StreamError>) -> bool,
    retry: Retry,
) -> Row {
    Row {
        what,
        provoke,
        check,
        retry,
        then: match retry {
            Retry::Transient => Then::BackOff,
            Retry::Permanent => Then::Block,
            other => panic!("a kind of retry this table does not know: {other:?}"),
        },
    }
}

/// A capacity error: permanent by `Error::retry`, but the client backs off
/// instead of blocking.
fn capacity(r: Row) -> Row {
    assert_eq!(r.retry, Retry::Permanent, "{}", r.what);
    Row {
        then: Then::BackOff,
        ..r
    }
}

fn respond(bytes: Vec<u8>) -> Provoke {
    Provoke::Server(Script::Respond(bytes))
}

fn status(e: &Error<StreamError>) -> Option<u16> {
    match e {
        Error::Http(HttpError::UnexpectedStatus { status, .. }) => Some(*status),
        _ => None,
    }
}

fn code(e: &Error<StreamError>) -> Option<ErrorCode> {
    e.oauth().map(|o| o.code)
}

fn table() -> Vec<Row> {
    use Retry::{Permanent, Transient};
    let mut rows = vec![
        row(
            "connection refused",
            Provoke::Server(Script::Refuse(StreamError::Refused)),
            |e| matches!(e, Error::Transport(StreamError::Refused)),
            Transient,
        ),
        row(
            "reset after the request",
            Provoke::Server(Script::ResetAfterRequest),
            |e| matches!(e, Error::Transport(StreamError::Reset)),
            Transient,
        ),
        row(
            "closed before the status line",
            respond(Vec::new()),
            |e| matches!(e, Error::Http(HttpError::UnexpectedEof)),
            Transient,
        ),
        row(
            "captive portal redirect",
            respond(wire(
                "HTTP/1.1 302 Found\r\nLocation: http://portal/\r\nContent-Length: 0\r\n\r\n",
                "",
            )),
            |e| matches!(e, Error::Http(HttpError::Redirect { status: 302 })),
            Transient,
        ),
        row(
            "not HTTP",
            respond(b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec()),
            |e| matches!(e, Error::Http(HttpError::Malformed)),
            Transient,
        ),
        row(
            "200 with an HTML body",
            respond(html("HTTP/1.1 200 OK", "")),
            |e| matches!(e, Error::Response(_)),
            Transient,
        ),
        row(
            "429",
            respond(html("HTTP/1.1 429 Too Many Requests", "")),
            |e| status(e) == Some(429),
            Transient,
        ),
        row(
            "408",
            respond(html("HTTP/1.1 408 Request Timeout", "")),
            |e| status(e) == Some(408),
            Transient,
        ),
        row(
            "400 temporarily_unavailable",
            respond(oauth_body(
                "HTTP/1.1 400 Bad Request",
                "",
                "temporarily_unavailable",
            )),
            |e| code(e) == Some(ErrorCode::TemporarilyUnavailable),
            Transient,
        ),
        row(
            "503 temporarily_unavailable",
            respond(oauth_body(
                "HTTP/1.1 503 Service Unavailable",
                "",
                "temporarily_unavailable",
            )),
            |e| code(e) == Some(ErrorCode::TemporarilyUnavailable),
            Transient,
        ),
        row(
            "500 server_error",
            respond(oauth_body(
                "HTTP/1.1 500 Internal Server Error",
                "",
                "server_error",
            )),
            |e| code(e) == Some(ErrorCode::ServerError),
            Transient,
        ),
        row(
            "400 server_error",
            respond(oauth_body("HTTP/1.1 400 Bad Request", "", "server_error")),
            |e| code(e) == Some(ErrorCode::ServerError),
            Transient,
        ),
        row(
            "429 with an extension code",
            respond(oauth_body(
                "HTTP/1.1 429 Too Many Requests",
                "",
                "slow_down",
            )),
            |e| e.oauth().is_some_and(|o| o.code.as_str() == "slow_down"),
            Transient,
        ),
        row(
            "401 invalid_client",
            respond(oauth_body(
                "HTTP/1.1 401 Unauthorized",
                "WWW-Authenticate: Basic\r\n",
                "invalid_client",
            )),
            |e| code(e) == Some(ErrorCode::InvalidClient),
            Permanent,
        ),
        row(
            "400 invalid_client",
            respond(oauth_body("HTTP/1.1 400 Bad Request", "", "invalid_client")),
            |e| code(e) == Some(ErrorCode::InvalidClient),
            Permanent,
        ),
        row(
            "200 with an invalid_client error object",
            respond(oauth_body("HTTP/1.1 200 OK", "", "invalid_client")),
            |e| code(e) == Some(ErrorCode::InvalidClient),
            Permanent,
        ),
        row(
            "unauthorized_client",
            respond(oauth_body(
                "HTTP/1.1 400 Bad Request",
                "",
                "unauthorized_client",
            )),
            |e| code(e) == Some(ErrorCode::UnauthorizedClient),
            Permanent,
        ),
        row(
            "invalid_scope",
            respond(oauth_body("HTTP/1.1 400 Bad Request", "", "invalid_scope")),
            |e| code(e) == Some(ErrorCode::InvalidScope),
            Permanent,
        ),
        row(
            "unsupported_grant_type",
            respond(oauth_body(
                "HTTP/1.1 400 Bad Request",
                "",
                "unsupported_grant_type",
            )),
            |e| code(e) == Some(ErrorCode::UnsupportedGrantType),
            Permanent,
        ),
        row(
            "invalid_grant",
            respond(oauth_body("HTTP/1.1 400 Bad Request", "", "invalid_grant")),
            |e| code(e) == Some(ErrorCode::InvalidGrant),
            Permanent,
        ),
        row(
            "invalid_request",
            respond(oauth_body(
                "HTTP/1.1 400 Bad Request",
                "",
                "invalid_request",
            )),
            |e| code(e) == Some(ErrorCode::InvalidRequest),
            Permanent,
        ),
        row(
            "invalid_target",
            respond(oauth_body("HTTP/1.1 400 Bad Request", "", "invalid_target")),
            |e| code(e) == Some(ErrorCode::InvalidTarget),
            Permanent,
        ),
        row(
            "400 with an extension code",
            respond(oauth_body("HTTP/1.1 400 Bad Request", "", "device_banned")),
            |e| {
                e.oauth()
                    .is_some_and(|o| o.code.as_str() == "device_banned")
            },
            Permanent,
        ),
        capacity(row(
            "request does not fit the work buffer",
            Provoke::TinyBuffer(64),
            |e| matches!(e, Error::Capacity(c) if c.buffer == Buffer::Request),
            Permanent,
        )),
        capacity(row(
            "token larger than its capacity",
            respond(token_response(&"t".repeat(2049), Some(3600))),
            |e| matches!(e, Error::Capacity(c) if c.buffer == Buffer::AccessToken && c.needed == 2049),
            Permanent,
        )),
        capacity(row(
            "200 response larger than the work buffer",
            respond(token_response(&"t".repeat(9000), Some(3600))),
            |e| matches!(e, Error::Capacity(c) if c.buffer == Buffer::Response && c.available == 8192),
            Permanent,
        )),
    ];
    for s in [500u16, 502, 503, 504, 599] {
        rows.push(Row {
            what: "5xx without an OAuth body",
            provoke: respond(html(&format!("HTTP/1.1 {s} Oops"), "")),
            check: |e| status(e).is_some_and(|s| (500..600).contains(&s)),
            retry: Transient,
            then: Then::BackOff,
        });
    }
    for s in [400u16, 401, 403, 404, 405, 409, 410, 418, 422, 451] {
        rows.push(Row {
            what: "other 4xx without an OAuth body",
            provoke: respond(html(&format!("HTTP/1.1 {s} No"), "")),
            check: |e| status(e).is_some_and(|s| (400..500).contains(&s)),
            retry: Permanent,
            then: Then::Block,
        });
    }
    rows
}

/// Every row: the typed error, its class, and what the client does about
/// it. Every failed attempt counts (`failures() == 1`: `begin` counts it
/// before any byte moves). A row that backs off gives `Error::Backoff` next,
/// with no connection, until `next_attempt()` (no random source: 1999 ms),
/// and then goes to the network again (and a good answer clears it all); a
/// row that blocks gives the same error next, with no connection and no
/// `next_attempt()`, a day later too, until `reset_backoff`.
#[test]
fn classification_table_drives_the_client() {
    let rows = table();
    assert_eq!(rows.len(), 41);
    // Capacity errors are the only ones whose handling differs from their
    // class.
    let differ: Vec<&str> = rows
        .iter()
        .filter(|r| (r.retry == Retry::Transient) != (r.then == Then::BackOff))
        .map(|r| r.what)
        .collect();
    assert_eq!(
        differ,
        [
            "request does not fit the work buffer",
            "token larger than its capacity",
            "200 response larger than the work buffer"
        ]
    );
    for r in rows {
        let ctx = r.what;
        let now = clock_at(10_000);
        let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
        let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
        let mut client: Client<_> = Client::new(common::config(), clock(&now));
        // Room for a 2 KiB token response and its parsing.
        let mut buf = vec![0xA5; 8192];
        let (used, connections) = match r.provoke {
            Provoke::Server(s) => {
                server.borrow_mut().push(s);
                (buf.len(), 1)
            }
            Provoke::TinyBuffer(n) => (n, 0),
        };
        let e = client.token(&mut connect, &mut buf[..used]).unwrap_err();
        assert!((r.check)(&e), "{ctx}: {e:?}");
        assert_eq!(e.retry(), r.retry, "{ctx}: {e:?}");
        assert!(
            buf[..used].iter().all(|&b| b == 0),
            "{ctx}: buffer not wiped"
        );
        assert_eq!(server.borrow().connections, connections, "{ctx}");
        assert!(client.cached().is_none(), "{ctx}");
        assert_eq!(client.failures(), 1, "{ctx}");

        let mut buf = dirty_buf();
        match r.then {
            Then::BackOff => {
                assert!(client.blocked().is_none(), "{ctx}");
                let next = client.next_attempt().expect("backing off");
                assert_eq!(next, at(10_000 + 1_999), "{ctx}");
                assert_eq!(
                    client.token(&mut connect, &mut buf).unwrap_err(),
                    Error::Backoff(next),
                    "{ctx}"
                );
                assert_eq!(server.borrow().connections, connections, "{ctx}");
                // Then the client tries again on its own (a work buffer
                // large enough, a token that fits).
                now.set(next.as_millis());
                server
                    .borrow_mut()
                    .push(Script::Respond(token_response("again", Some(3600))));
                let mut buf = dirty_buf();
                assert_eq!(
                    client
                        .token(&mut connect, &mut buf)
                        .map(|t| t.expose_secret().to_owned()),
                    Ok("again".to_owned()),
                    "{ctx}"
                );
                assert!(buf.iter().all(|&b| b == 0), "{ctx}: buffer not wiped");
                assert_eq!(server.borrow().connections, connections + 1, "{ctx}");
                assert_eq!((client.failures(), client.next_attempt()), (0, None));
            }
            Then::Block => {
                assert_eq!(client.next_attempt(), None, "{ctx}");
                let blocked = client.blocked().expect("blocked").clone();
                assert_eq!(blocked.clone().widen::<StreamError>(), e, "{ctx}");
                now.set(10_000 + secs(86_400));
                assert_eq!(client.next_attempt(), None, "{ctx}");
                assert_eq!(
                    client.token(&mut connect, &mut buf).unwrap_err(),
                    e,
                    "{ctx}"
                );
                assert_eq!(server.borrow().connections, connections, "{ctx}");
                assert_eq!(client.failures(), 1, "{ctx}");
            }
        }
    }
}

/// The kinds that need no server to provoke.
#[test]
fn classification_of_local_failures() {
    let e: Error<StreamError> = Error::WriteZero;
    assert_eq!(e.retry(), Retry::Transient);
    let e: Error<StreamError> = Error::Transport(StreamError::Interrupted);
    assert_eq!(e.retry(), Retry::Transient);
    let e: Error<StreamError> = Error::NoWallClock;
    assert_eq!(e.retry(), Retry::Transient);
    let e: Error<StreamError> = Error::Backoff(at(5));
    assert_eq!(e.retry(), Retry::Transient);
    // A configuration value refused at construction.
    let config_error = common::config().with_scope("bad\nscope").unwrap_err();
    let e: Error<StreamError> = config_error.into();
    assert!(matches!(e, Error::Config(_)));
    assert_eq!(e.retry(), Retry::Permanent);
    for e in [
        Error::<StreamError>::WriteZero,
        Error::Transport(StreamError::Reset),
        Error::Config(config_error),
    ] {
        assert_eq!(e.retry_after(), None);
    }
}

/// `Retry-After` is carried in the error, as seconds or as an HTTP-date.
#[test]
fn retry_after_is_carried_in_the_error() {
    let cases: [(Vec<u8>, Option<RetryAfter>); 6] = [
        (
            html("HTTP/1.1 503 Service Unavailable", "Retry-After: 120\r\n"),
            Some(RetryAfter::Seconds(120)),
        ),
        (
            html(
                "HTTP/1.1 429 Too Many Requests",
                "Retry-After: Thu, 26 Nov 2026 19:01:30 GMT\r\n",
            ),
            Some(RetryAfter::At(1_795_719_690)),
        ),
        (
            oauth_body(
                "HTTP/1.1 503 Service Unavailable",
                "Retry-After: 45\r\n",
                "temporarily_unavailable",
            ),
            Some(RetryAfter::Seconds(45)),
        ),
        (
            html("HTTP/1.1 503 Service Unavailable", "Retry-After: soon\r\n"),
            None,
        ),
        (html("HTTP/1.1 503 Service Unavailable", ""), None),
        (
            html(
                "HTTP/1.1 503 Service Unavailable",
                "Retry-After: 99999999999\r\n",
            ),
            Some(RetryAfter::Seconds(u32::MAX)),
        ),
    ];
    for (i, (response, expected)) in cases.into_iter().enumerate() {
        let now = clock_at(0);
        let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
        let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
        let mut client: Client<_> = Client::new(common::config(), clock(&now));
        server.borrow_mut().push(Script::Respond(response));
        let e = client.token(&mut connect, &mut [0u8; BUF]).unwrap_err();
        assert_eq!(e.retry(), Retry::Transient, "case {i}: {e:?}");
        assert_eq!(e.retry_after(), expected, "case {i}: {e:?}");
        if let Some(o) = e.oauth() {
            assert_eq!(o.retry_after, expected, "case {i}");
        }
    }
}

// ---- backoff -------------------------------------------------------------------

/// Consecutive failures with a seeded random source: each delay is
/// `sample / 2^32` of a ceiling that doubles from 2 s up to 5 min, so it
/// lies in `[0, ceiling)`; `next_attempt()` says when; before it `token()`
/// makes no connection; a success resets it all.
///
/// Each failed attempt draws two samples: one when it begins (the attempt
/// counts as failed until it completes, in case it is abandoned) and one
/// when the failure is recorded; the delay is the second one's.
#[test]
fn consecutive_failures_grow_the_jittered_ceiling() {
    let now = clock_at(1_000);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let rng = Seeded::new(0x5EED_0001);
    let mut client: Client<_, 64, 2048, 128, _> =
        Client::new(common::config(), clock(&now)).with_random(&rng as &dyn Random);

    let mut delays = Vec::new();
    for n in 1..=14u32 {
        server
            .borrow_mut()
            .push(Script::Refuse(StreamError::Refused));
        let started = now.get();
        let drawn = rng.count();
        let mut buf = dirty_buf();
        assert_eq!(
            client.token(&mut connect, &mut buf).unwrap_err(),
            Error::Transport(StreamError::Refused),
            "failure {n}"
        );
        assert!(buf.iter().all(|&b| b == 0));
        assert_eq!(server.borrow().connections, n as usize);
        assert_eq!(client.failures(), n);
        assert_eq!(
            rng.count(),
            drawn + 2,
            "one sample when the attempt begins, one when it fails"
        );
        let ceiling = default_ceiling_ms(n);
        assert_eq!(
            Backoff::new().ceiling(n),
            Duration::from_millis(ceiling),
            "failure {n}"
        );
        let delay = jittered(ceiling, rng.last());
        assert!(delay < ceiling, "failure {n}: {delay} >= {ceiling}");
        delays.push((ceiling, delay));
        let next = started + delay;
        if delay == 0 {
            assert_eq!(client.next_attempt(), None);
            continue;
        }
        assert_eq!(client.next_attempt(), Some(at(next)), "failure {n}");
        // No connection before it, however often the caller asks.
        for t in [started, started + delay / 2, next - 1] {
            now.set(t);
            assert_eq!(
                client.token(&mut connect, &mut [0u8; BUF]).unwrap_err(),
                Error::Backoff(at(next)),
                "failure {n} at {t}"
            );
        }
        assert_eq!(server.borrow().connections, n as usize);
        assert_eq!(client.failures(), n, "refusals are not failures");
        now.set(next);
        assert_eq!(client.next_attempt(), None);
    }
    let ceilings: Vec<u64> = delays.iter().map(|d| d.0 / 1000).collect();
    assert_eq!(
        ceilings,
        [2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300, 300, 300, 300]
    );
    // Jittered: not all at the ceiling, not all alike.
    let mut distinct: Vec<u64> = delays.iter().map(|d| d.1).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), delays.len(), "{delays:?}");
    assert!(delays.iter().any(|&(c, d)| d < c / 2), "{delays:?}");

    // Success resets: failures, next attempt, and the ceiling. (Two samples:
    // the attempt's provisional backoff and the renewal point.)
    server
        .borrow_mut()
        .push(Script::Respond(token_response("ok", Some(3600))));
    let drawn = rng.count();
    assert_eq!(
        client
            .token(&mut connect, &mut [0u8; BUF])
            .unwrap()
            .expose_secret(),
        "ok"
    );
    assert_eq!(rng.count(), drawn + 2);
    assert_eq!((client.failures(), client.next_attempt()), (0, None));
    assert!(client.blocked().is_none());
    // The next failure (of a renewal) starts over at the 2 s ceiling.
    let expiry = now.get() + secs(3600);
    now.set(expiry);
    server
        .borrow_mut()
        .push(Script::Refuse(StreamError::Refused));
    client.token(&mut connect, &mut [0u8; BUF]).unwrap_err();
    assert_eq!(client.failures(), 1);
    assert_eq!(
        client.next_attempt(),
        Some(at(expiry + jittered(2_000, rng.last())))
    );
    assert_eq!(server.borrow().connections, 16);
    assert_eq!(server.borrow().pending(), 0);
}

/// Without a random source the client waits the whole ceiling (to the
/// millisecond below it): 2 s, 4 s, … 256 s, then 5 min.
#[test]
fn without_random_the_full_ceiling_is_waited() {
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), clock(&now));
    let mut waits = Vec::new();
    for _ in 0..11 {
        server
            .borrow_mut()
            .push(Script::Refuse(StreamError::Refused));
        let started = now.get();
        client.token(&mut connect, &mut [0u8; BUF]).unwrap_err();
        let next = client.next_attempt().expect("backing off").as_millis();
        waits.push(next - started);
        now.set(next);
    }
    assert_eq!(
        waits,
        [
            1_999, 3_999, 7_999, 15_999, 31_999, 63_999, 127_999, 255_999, 299_999, 299_999,
            299_999
        ]
    );
    assert_eq!(server.borrow().connections, 11);
}

/// Over many seeded clients, the first delay is uniform over `[0, 2 s)`:
/// inside the range, mean near 1 s, every 200 ms bucket populated.
#[test]
fn first_delays_spread_over_the_whole_ceiling() {
    let mut buckets = [0usize; 10];
    let mut sum = 0u64;
    let n = 2_000u64;
    for seed in 0..n {
        let now = clock_at(0);
        let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
        let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
        let rng = Seeded::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
        let mut client: Client<_, 64, 2048, 128, _> =
            Client::new(common::config(), clock(&now)).with_random(&rng as &dyn Random);
        server
            .borrow_mut()
            .push(Script::Refuse(StreamError::Refused));
        client.token(&mut connect, &mut [0u8; 512]).unwrap_err();
        let d = client.next_attempt().map_or(0, Instant::as_millis);
        assert_eq!(d, jittered(2_000, rng.last()));
        assert!(d < 2_000);
        buckets[(d / 200) as usize] += 1;
        sum += d;
    }
    let mean = sum / n;
    assert!((900..=1_100).contains(&mean), "mean {mean} ms");
    for (i, b) in buckets.iter().enumerate() {
        assert!((140..=260).contains(b), "bucket {i}: {buckets:?}");
    }
}

/// `fetch()` is explicit: it goes to the network during the backoff, and
/// its outcome counts.
#[test]
fn fetch_ignores_the_backoff_but_counts() {
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), clock(&now));
    server
        .borrow_mut()
        .push(Script::Refuse(StreamError::Refused));
    client.token(&mut connect, &mut [0u8; BUF]).unwrap_err();
    assert_eq!(client.next_attempt(), Some(at(1_999)));
    now.set(1_000);
    server
        .borrow_mut()
        .push(Script::Refuse(StreamError::Refused));
    assert_eq!(
        client.fetch(&mut connect, &mut [0u8; BUF]).unwrap_err(),
        Error::Transport(StreamError::Refused)
    );
    assert_eq!(client.failures(), 2);
    assert_eq!(client.next_attempt(), Some(at(1_000 + 3_999)));
    server
        .borrow_mut()
        .push(Script::Respond(token_response("explicit", Some(3600))));
    assert_eq!(
        client
            .fetch(&mut connect, &mut [0u8; BUF])
            .unwrap()
            .expose_secret(),
        "explicit"
    );
    assert_eq!((client.failures(), client.next_attempt()), (0, None));
    assert_eq!(server.borrow().connections, 3);
}

// ---- Retry-After ---------------------------------------------------------------

/// A random source that always says 0: the jittered backoff is 0 ms.
fn zero() -> u32 {
    0
}

/// `Retry-After: 120` on a 503 holds the client off for 120 s although the
/// jittered backoff is 0; `max_retry_after` caps it.
#[test]
fn retry_after_seconds_is_honoured_and_capped() {
    let zero: &dyn Random = &zero;
    for (backoff, header, expected_ms) in [
        (Backoff::new(), "120", secs(120)),
        (
            Backoff::new().with_max_retry_after(Duration::from_secs(60)),
            "120",
            secs(60),
        ),
        (Backoff::new(), "86400", secs(3600)),
        (Backoff::new(), "0", 0),
    ] {
        let ctx = format!("{backoff:?} Retry-After: {header}");
        let now = clock_at(5_000);
        let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
        let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
        let mut client: Client<_, 64, 2048, 128, _> = Client::new(common::config(), clock(&now))
            .with_random(zero)
            .with_backoff(backoff);
        server.borrow_mut().push(Script::Respond(html(
            "HTTP/1.1 503 Service Unavailable",
            &format!("Retry-After: {header}\r\n"),
        )));
        let e = client.token(&mut connect, &mut [0u8; BUF]).unwrap_err();
        assert_eq!(status(&e), Some(503), "{ctx}");
        let next = 5_000 + expected_ms;
        if expected_ms == 0 {
            // Nothing to wait for: the next call tries again.
            assert_eq!(client.next_attempt(), None, "{ctx}");
        } else {
            assert_eq!(client.next_attempt(), Some(at(next)), "{ctx}");
            for t in [5_001, 5_000 + expected_ms / 2, next - 1] {
                now.set(t);
                assert_eq!(
                    client.token(&mut connect, &mut [0u8; BUF]).unwrap_err(),
                    Error::Backoff(at(next)),
                    "{ctx} at {t}"
                );
            }
            assert_eq!(server.borrow().connections, 1, "{ctx}");
            now.set(next);
        }
        server
            .borrow_mut()
            .push(Script::Respond(token_response("after", Some(3600))));
        assert_eq!(
            client
                .token(&mut connect, &mut [0u8; BUF])
                .unwrap()
                .expose_secret(),
            "after",
            "{ctx}"
        );
        assert_eq!(server.borrow().connections, 2, "{ctx}");
    }
}

/// `Retry-After` from an OAuth error (`temporarily_unavailable`) and from a
/// 429 count the same way; a `Retry-After` shorter than the backoff does not
/// shorten it.
#[test]
fn retry_after_on_oauth_errors_and_429() {
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), clock(&now));
    server.borrow_mut().push(Script::Respond(oauth_body(
        "HTTP/1.1 503 Service Unavailable",
        "Retry-After: 45\r\n",
        "temporarily_unavailable",
    )));
    client.token(&mut connect, &mut [0u8; BUF]).unwrap_err();
    assert_eq!(client.next_attempt(), Some(at(secs(45))));
    now.set(secs(45));
    server.borrow_mut().push(Script::Respond(html(
        "HTTP/1.1 429 Too Many Requests",
        "Retry-After: 1\r\n",
    )));
    client.token(&mut connect, &mut [0u8; BUF]).unwrap_err();
    // The backoff (no random: 3999 ms after the second failure) is longer.
    assert_eq!(client.next_attempt(), Some(at(secs(45) + 3_999)));
    assert_eq!(server.borrow().connections, 2);
}

/// `Retry-After` as an HTTP-date: honoured when the client knows the wall
/// clock, ignored (plain backoff) when it does not or the wall clock is not
/// set yet; a date in the past asks for no wait.
#[test]
fn retry_after_http_date_needs_a_wall_clock() {
    // Thu, 26 Nov 2026 19:00:00 GMT.
    const NOW_UNIX: u64 = 1_795_719_600;
    let synced = || Some(NOW_UNIX);
    let unsynced = || None::<u64>;
    let later = "Thu, 26 Nov 2026 19:01:30 GMT"; // +90 s
    let past = "Thu, 26 Nov 2026 18:00:00 GMT";
    let zero: &dyn Random = &zero;
    type Case<'a> = (
        &'a str,
        Option<&'a dyn WallClock>,
        Option<&'a dyn Random>,
        u64,
    );
    let cases: [Case<'_>; 6] = [
        ("synced, random 0", Some(&synced), Some(zero), secs(90)),
        ("synced, no random", Some(&synced), None, secs(90)),
        ("no wall clock, no random", None, None, 1_999),
        ("no wall clock, random 0", None, Some(zero), 0),
        ("wall clock not set", Some(&unsynced), None, 1_999),
        ("date in the past", Some(&synced), None, 1_999),
    ];
    for (ctx, wall, random, expected) in cases {
        let date = if ctx == "date in the past" {
            past
        } else {
            later
        };
        let now = clock_at(7_000);
        let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
        let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
        let mut client: Client<_, 64, 2048, 128, _, _> = Client::new(common::config(), clock(&now))
            .with_wall_clock(MaybeWall(wall))
            .with_random(Maybe(random));
        server.borrow_mut().push(Script::Respond(html(
            "HTTP/1.1 503 Service Unavailable",
            &format!("Retry-After: {date}\r\n"),
        )));
        let e = client.token(&mut connect, &mut [0u8; BUF]).unwrap_err();
        assert!(
            matches!(e.retry_after(), Some(RetryAfter::At(_))),
            "{ctx}: {e:?}"
        );
        let next = client.next_attempt().map(Instant::as_millis);
        let want = (expected > 0).then_some(7_000 + expected);
        assert_eq!(next, want, "{ctx}");
        if let Some(n) = want {
            now.set(n - 1);
            assert_eq!(
                client.token(&mut connect, &mut [0u8; BUF]).unwrap_err(),
                Error::Backoff(at(n)),
                "{ctx}"
            );
            assert_eq!(server.borrow().connections, 1, "{ctx}");
        }
    }
}

/// RFC 9110 §10.2.3: delay-seconds is "the number of seconds to delay after
/// the response is received". A response that took 7 s to arrive with
/// `Retry-After: 120` must not be retried before 127 s after the request
/// was sent. The jittered backoff (random 0 here) counts from the response
/// too.
#[test]
fn retry_after_counts_from_the_response() {
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_, 64, 2048, 128, _> =
        Client::new(common::config(), clock(&now)).with_random(&zero as &dyn Random);
    server.borrow_mut().push(Script::RespondAfter {
        response: html("HTTP/1.1 503 Service Unavailable", "Retry-After: 120\r\n"),
        latency_ms: 7_000,
    });
    let e = client.token(&mut connect, &mut [0u8; BUF]).unwrap_err();
    assert_eq!(e.retry_after(), Some(RetryAfter::Seconds(120)));
    assert_eq!(now.get(), 7_000);
    assert_eq!(client.failures(), 1);
    assert_eq!(client.next_attempt(), Some(at(secs(127))));
    // Not at 120 s (counted from the request), only at 127 s.
    now.set(secs(120));
    assert_eq!(
        client.token(&mut connect, &mut [0u8; BUF]).unwrap_err(),
        Error::Backoff(at(secs(127)))
    );
    now.set(secs(127) - 1);
    assert_eq!(
        client.token(&mut connect, &mut [0u8; BUF]).unwrap_err(),
        Error::Backoff(at(secs(127)))
    );
    assert_eq!(server.borrow().connections, 1);
    now.set(secs(127));
    assert_eq!(client.next_attempt(), None);
    server
        .borrow_mut()
        .push(Script::Respond(token_response("after", Some(3600))));
    assert_eq!(
        client
            .token(&mut connect, &mut [0u8; BUF])
            .unwrap()
            .expose_secret(),
        "after"
    );
    assert_eq!(server.borrow().connections, 2);

    // Without Retry-After, the plain backoff counts from the response as
    // well: no random source, 1999 ms after a 502 that came 5 s late.
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), clock(&now));
    server.borrow_mut().push(Script::RespondAfter {
        response: html("HTTP/1.1 502 Bad Gateway", ""),
        latency_ms: 5_000,
    });
    let e = client.token(&mut connect, &mut [0u8; BUF]).unwrap_err();
    assert_eq!(status(&e), Some(502));
    assert_eq!(client.next_attempt(), Some(at(5_000 + 1_999)));
}

// ---- permanent failures ----------------------------------------------------------

/// A permanent failure is never retried by `token()` on its own: many
/// calls over a simulated day, one connection; `reset_backoff()` allows the
/// next attempt.
#[test]
fn permanent_failures_are_not_retried_until_reset() {
    for (status_line, error) in [
        ("HTTP/1.1 401 Unauthorized", "invalid_client"),
        ("HTTP/1.1 400 Bad Request", "unauthorized_client"),
        ("HTTP/1.1 400 Bad Request", "invalid_scope"),
        ("HTTP/1.1 400 Bad Request", "unsupported_grant_type"),
        ("HTTP/1.1 400 Bad Request", "invalid_grant"),
    ] {
        let now = clock_at(0);
        let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
        let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
        let rng = Seeded::new(7);
        let mut client: Client<_, 64, 2048, 128, _> =
            Client::new(common::config(), clock(&now)).with_random(&rng as &dyn Random);
        server
            .borrow_mut()
            .push(Script::Respond(oauth_body(status_line, "", error)));
        let first = client.token(&mut connect, &mut dirty_buf()).unwrap_err();
        assert_eq!(first.oauth().map(|o| o.code.as_str()), Some(error));
        assert_eq!(first.retry(), Retry::Permanent);
        // The attempt counted (and drew its provisional backoff sample when
        // it began); the permanent failure draws none and schedules nothing.
        assert_eq!(rng.count(), 1, "{error}: no backoff sample of its own");
        assert_eq!(client.failures(), 1, "{error}");
        assert_eq!(client.next_attempt(), None, "{error}");
        for i in 1..=500u64 {
            now.set(i * secs(173));
            let mut buf = dirty_buf();
            assert_eq!(
                client.token(&mut connect, &mut buf).unwrap_err(),
                first,
                "{error} call {i}"
            );
            assert_eq!(client.next_attempt(), None);
        }
        assert_eq!(server.borrow().connections, 1, "{error}");
        assert_eq!(rng.count(), 1, "{error}: refusals draw no sample");
        assert_eq!(
            client.blocked().cloned().map(Error::widen::<StreamError>),
            Some(first.clone())
        );

        client.reset_backoff();
        assert!(client.blocked().is_none());
        assert_eq!((client.failures(), client.next_attempt()), (0, None));
        server.borrow_mut().push(Script::Respond(token_response(
            "re-provisioned",
            Some(3600),
        )));
        assert_eq!(
            client
                .token(&mut connect, &mut [0u8; BUF])
                .unwrap()
                .expose_secret(),
            "re-provisioned"
        );
        assert_eq!(server.borrow().connections, 2, "{error}");
        assert_eq!((client.failures(), client.next_attempt()), (0, None));
    }
}

/// A permanent failure during a renewal: the old token is handed out until
/// it expires, with no attempt; then the failure is the answer. An explicit
/// `fetch()` that succeeds lifts the block.
#[test]
fn permanent_failure_during_renewal_keeps_the_token_then_refuses() {
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), clock(&now));
    server
        .borrow_mut()
        .push(Script::Respond(token_response("old", Some(3600))));
    client.token(&mut connect, &mut [0u8; BUF]).unwrap();
    now.set(secs(3540));
    server.borrow_mut().push(Script::Respond(oauth_body(
        "HTTP/1.1 401 Unauthorized",
        "",
        "invalid_client",
    )));
    let e = client.token(&mut connect, &mut [0u8; BUF]).unwrap_err();
    assert_eq!(code(&e), Some(ErrorCode::InvalidClient));
    for t in (secs(3540)..secs(3600)).step_by(500) {
        now.set(t);
        assert_eq!(
            client
                .token(&mut connect, &mut [0u8; BUF])
                .unwrap()
                .expose_secret(),
            "old",
            "at {t}"
        );
    }
    now.set(secs(3600));
    assert_eq!(client.token(&mut connect, &mut [0u8; BUF]).unwrap_err(), e);
    assert_eq!(server.borrow().connections, 2);

    server
        .borrow_mut()
        .push(Script::Respond(token_response("explicit", Some(3600))));
    assert_eq!(
        client
            .fetch(&mut connect, &mut [0u8; BUF])
            .unwrap()
            .expose_secret(),
        "explicit"
    );
    assert!(client.blocked().is_none());
    assert_eq!(server.borrow().connections, 3);
}

// ---- backing off with a valid token ----------------------------------------------

/// While the renewal of a still-valid token keeps failing, `token()` polled
/// every 250 ms returns the old token each time and connects only once each
/// (seeded, jittered) backoff has passed, except that no backoff outlasts
/// the token: an attempt that would fall after `expires_at - 1 s` is made at
/// `expires_at - 1 s`. Once the token expires it is `Error::Backoff` until
/// the next attempt is allowed.
#[test]
fn backing_off_with_a_valid_token_returns_it() {
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let rng = Seeded::new(99);
    let mut client: Client<_, 64, 2048, 128, _> = Client::new(common::config(), clock(&now))
        .with_random(&rng as &dyn Random)
        .with_policy(RefreshPolicy::new().with_jitter(Duration::ZERO));
    server
        .borrow_mut()
        .push(Script::Respond(token_response("old", Some(3600))));
    client.token(&mut connect, &mut [0u8; BUF]).unwrap();
    let due = secs(3540);
    let expiry = secs(3600);
    let last_chance = expiry - 1_000;
    for _ in 0..300 {
        server
            .borrow_mut()
            .push(Script::Refuse(StreamError::Refused));
    }
    let mut attempts = Vec::new();
    let mut clamped = Vec::new();
    let mut allowed_at = due;
    let mut t = due;
    while t < expiry + secs(60) {
        now.set(t);
        let before = server.borrow().connections;
        let tok = client
            .token(&mut connect, &mut [0u8; BUF])
            .map(|t| t.expose_secret().to_owned());
        let connected = server.borrow().connections > before;
        assert_eq!(connected, t >= allowed_at, "at {t}");
        if connected {
            assert_eq!(tok, Err(Error::Transport(StreamError::Refused)), "at {t}");
            attempts.push(t);
            let n = attempts.len() as u32;
            assert_eq!(client.failures(), n);
            let delay = jittered(default_ceiling_ms(n), rng.last());
            allowed_at = t + delay;
            if t < last_chance && allowed_at > last_chance {
                allowed_at = last_chance;
                clamped.push(n);
            }
            let next = (allowed_at > t).then_some(at(allowed_at));
            assert_eq!(client.next_attempt(), next, "at {t}");
            assert!(client.next_attempt() <= Some(at(last_chance)) || t >= last_chance);
        } else if t < expiry {
            assert_eq!(tok.as_deref(), Ok("old"), "at {t}");
        } else {
            assert_eq!(tok, Err(Error::Backoff(at(allowed_at))), "at {t}");
            assert!(client.cached().is_none());
        }
        t += 250;
    }
    assert!(attempts.len() >= 4, "{attempts:?}");
    // The backoff was cut short once: the attempt after the `k`-th came at
    // the token's last second (not after it), and the next one after that
    // is a full jittered backoff later, past the expiry.
    assert_eq!(clamped.len(), 1, "{attempts:?}");
    let k = clamped[0] as usize;
    assert_eq!(attempts[k], last_chance, "{attempts:?}");
    assert!(
        attempts[k + 1..].iter().all(|&a| a > expiry),
        "{attempts:?}"
    );
    assert!(allowed_at > expiry, "{allowed_at}");
    assert_eq!(
        attempts,
        [
            3_540_000, 3_540_250, 3_541_250, 3_547_250, 3_556_250, 3_580_250, 3_599_000
        ]
    );
    // Between attempts the gaps grow on the whole (full jitter may draw a
    // short one): the last gap is longer than the first.
    let gaps: Vec<u64> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.last() > gaps.first(), "{gaps:?}");
}

// ---- renewal jitter ----------------------------------------------------------------

/// Obtains a token of `lifetime` at 0 with `client`, then returns the
/// instant at which it becomes due, checked to the millisecond: `Fresh` one
/// millisecond before (and `token()` makes no connection), `RefreshDue` at
/// it (and `token()` renews).
fn renewal_point<C: Clock, R: Random>(
    client: &mut Client<'_, C, 64, 2048, 128, R>,
    now: &Rc<Cell<u64>>,
    server: &RefCell<FakeServer>,
    expected_ms: u64,
) -> u64 {
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    now.set(expected_ms - 1);
    assert_eq!(client.freshness(), Freshness::Fresh);
    let before = server.borrow().connections;
    client.token(&mut connect, &mut [0u8; BUF]).unwrap();
    assert_eq!(server.borrow().connections, before);
    now.set(expected_ms);
    assert_eq!(client.freshness(), Freshness::RefreshDue);
    server
        .borrow_mut()
        .push(Script::Respond(token_response("renewed", Some(3600))));
    assert_eq!(
        client
            .token(&mut connect, &mut [0u8; BUF])
            .unwrap()
            .expose_secret(),
        "renewed"
    );
    assert_eq!(server.borrow().connections, before + 1);
    expected_ms
}

/// With a random source, each client renews at a random point of
/// `(expiry - margin - window, expiry - margin]` (`early` = `sample / 2^32`
/// of the window, `window = min(jitter, lifetime / 4)`); over 400 seeded
/// clients the points fill the window.
#[test]
fn with_random_renewal_lands_in_the_jitter_window() {
    for (lifetime, margin, window) in [
        (3600u64, 60u64, 300u64), // default: 5 min window
        (600, 60, 150),           // a quarter of the lifetime
        (100, 50, 25),            // short: margin is half, window a quarter
    ] {
        let lo = secs(lifetime - margin - window);
        let hi = secs(lifetime - margin);
        let mut points = Vec::new();
        for seed in 0..400u64 {
            let now = clock_at(0);
            let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
            let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
            let rng = Seeded::new(seed ^ 0xF1EE7);
            let mut client: Client<_, 64, 2048, 128, _> =
                Client::new(common::config(), clock(&now)).with_random(&rng as &dyn Random);
            let policy = *client.policy();
            assert_eq!(
                policy.jitter_window(Duration::from_secs(lifetime)),
                Duration::from_secs(window)
            );
            server
                .borrow_mut()
                .push(Script::Respond(token_response("t", Some(lifetime))));
            client.token(&mut connect, &mut [0u8; BUF]).unwrap();
            // One sample for the attempt's provisional backoff (drawn when
            // it began), then one for the renewal point.
            assert_eq!(rng.count(), 2, "two samples for a successful attempt");
            let early = jittered(secs(window), rng.last());
            let point = renewal_point(&mut client, &now, &server, hi - early);
            assert!(lo < point && point <= hi, "{point} not in ({lo}, {hi}]");
            points.push(point);
        }
        // Spread over the whole window: every tenth of it is used.
        let mut tenths = [0usize; 10];
        for p in &points {
            tenths[(((hi - p) * 10) / (hi - lo)).min(9) as usize] += 1;
        }
        assert!(tenths.iter().all(|&n| n >= 20), "{lifetime} s: {tenths:?}");
    }
}

/// Without a random source, or with `with_jitter(0)`, renewal is exactly at
/// `expiry - margin`.
#[test]
fn without_random_renewal_is_at_expiry_minus_margin() {
    let rng = Seeded::new(1);
    for with_random in [false, true] {
        let now = clock_at(0);
        let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
        let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
        let random: Option<&dyn Random> = with_random.then_some(&rng);
        let mut client: Client<_, 64, 2048, 128, _> =
            Client::new(common::config(), clock(&now)).with_random(Maybe(random));
        if with_random {
            client = client.with_policy(RefreshPolicy::new().with_jitter(Duration::ZERO));
        }
        server
            .borrow_mut()
            .push(Script::Respond(token_response("t", Some(3600))));
        client.token(&mut connect, &mut [0u8; BUF]).unwrap();
        renewal_point(&mut client, &now, &server, secs(3540));
    }
}

// ---- formerly reported gaps -------------------------------------------------------

/// A 503 error page (a proxy's, a load balancer's) larger than the work
/// buffer says nothing about the next response: the status was already
/// known to be 5xx. It is reported as that status (with its `Retry-After`),
/// transient, and the client backs off; it does not block the client. An
/// oversized 4xx page is its status too, and blocks like any other 4xx.
#[test]
fn oversized_error_page_is_not_permanent() {
    let page = format!("<html>{}</html>", "maintenance ".repeat(400));
    assert!(page.len() > BUF);
    for (head, expected, retry, next) in [
        (
            "HTTP/1.1 503 Service Unavailable\r\n",
            Error::Http(HttpError::UnexpectedStatus {
                status: 503,
                retry_after: None,
            }),
            Retry::Transient,
            Some(at(1_999)),
        ),
        (
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\n",
            Error::Http(HttpError::UnexpectedStatus {
                status: 503,
                retry_after: Some(RetryAfter::Seconds(30)),
            }),
            Retry::Transient,
            Some(at(secs(30))),
        ),
        (
            "HTTP/1.1 404 Not Found\r\n",
            Error::Http(HttpError::UnexpectedStatus {
                status: 404,
                retry_after: None,
            }),
            Retry::Permanent,
            None,
        ),
    ] {
        let ctx = head.lines().next().unwrap_or_default().to_owned() + &format!(" {retry:?}");
        let now = clock_at(0);
        let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
        let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
        let mut client: Client<_> = Client::new(common::config(), clock(&now));
        server.borrow_mut().push(Script::Respond(wire(
            &format!("{head}Content-Type: text/html\r\nContent-Length: {{len}}\r\n\r\n"),
            &page,
        )));
        let mut buf = dirty_buf();
        let e = client.token(&mut connect, &mut buf).unwrap_err();
        assert_eq!(e, expected, "{ctx}");
        assert_eq!(e.retry(), retry, "{ctx}");
        assert!(buf.iter().all(|&b| b == 0), "{ctx}: buffer not wiped");
        assert_eq!(client.failures(), 1, "{ctx}");
        assert_eq!(client.next_attempt(), next, "{ctx}");
        match retry {
            Retry::Transient => {
                assert!(client.blocked().is_none(), "{ctx}");
                let next = next.unwrap();
                assert_eq!(
                    client.token(&mut connect, &mut [0u8; BUF]).unwrap_err(),
                    Error::Backoff(next),
                    "{ctx}"
                );
            }
            Retry::Permanent => {
                assert_eq!(
                    client.blocked().cloned().map(Error::widen::<StreamError>),
                    Some(e.clone()),
                    "{ctx}"
                );
                assert_eq!(
                    client.token(&mut connect, &mut [0u8; BUF]).unwrap_err(),
                    e,
                    "{ctx}"
                );
            }
            other => panic!("{ctx}: unknown {other:?}"),
        }
        assert_eq!(server.borrow().connections, 1, "{ctx}");
    }
}

/// While a valid token is held, the backoff does not outlast it: with the
/// defaults (60 s margin, 5 min max backoff) a renewal failing from the due
/// point would back off past the token's expiry, so the token would lapse
/// even if the server were back long before (tests/fleet.rs). Instead a
/// next attempt that would fall after `expires_at - 1 s` is made at
/// `expires_at - 1 s`: the last chance to renew without a gap. If that one
/// fails too, there is no second last chance: the plain backoff follows.
#[test]
fn backoff_never_sleeps_past_the_valid_tokens_expiry() {
    for last_chance_succeeds in [true, false] {
        let ctx = format!("last chance succeeds: {last_chance_succeeds}");
        let now = clock_at(0);
        let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
        let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
        let mut client: Client<_> = Client::new(common::config(), clock(&now));
        server
            .borrow_mut()
            .push(Script::Respond(token_response("old", Some(3600))));
        client.token(&mut connect, &mut [0u8; BUF]).unwrap();
        let expiry = at(secs(3600));
        let last_chance = secs(3599);
        now.set(secs(3540));
        let mut attempts = Vec::new();
        while now.get() < last_chance {
            server
                .borrow_mut()
                .push(Script::Refuse(StreamError::Refused));
            attempts.push(now.get());
            client.token(&mut connect, &mut [0u8; BUF]).unwrap_err();
            let next = client.next_attempt().expect("backing off");
            assert!(
                next.as_millis() <= last_chance,
                "{ctx}: after {} failures the next attempt is at {next:?}, the token expires at {expiry:?}",
                client.failures()
            );
            // Until then, the old token without a connection.
            now.set(next.as_millis() - 1);
            assert_eq!(
                client
                    .token(&mut connect, &mut [0u8; BUF])
                    .unwrap()
                    .expose_secret(),
                "old"
            );
            now.set(next.as_millis());
        }
        // No random source: 1999, 3999, 7999, 15999 ms; the fifth backoff
        // (31999 ms, to 3601.995 s) is cut to the last second of the token.
        assert_eq!(
            attempts,
            [3_540_000, 3_541_999, 3_545_998, 3_553_997, 3_569_996],
            "{ctx}"
        );
        assert_eq!(now.get(), last_chance, "{ctx}");
        assert_eq!(client.freshness(), Freshness::RefreshDue, "{ctx}");
        assert_eq!(server.borrow().connections, 6, "{ctx}");

        if last_chance_succeeds {
            // The server is back: renewed with no gap.
            server
                .borrow_mut()
                .push(Script::Respond(token_response("new", Some(3600))));
            let t = client.token(&mut connect, &mut [0u8; BUF]).unwrap();
            assert_eq!(t.expose_secret(), "new", "{ctx}");
            assert_eq!(t.obtained_at(), at(last_chance), "{ctx}");
            assert_eq!((client.failures(), client.next_attempt()), (0, None));
        } else {
            // Still down: the sixth backoff (63999 ms) runs past the expiry.
            server
                .borrow_mut()
                .push(Script::Refuse(StreamError::Refused));
            client.token(&mut connect, &mut [0u8; BUF]).unwrap_err();
            assert_eq!(client.failures(), 6, "{ctx}");
            let next = at(last_chance + 63_999);
            assert_eq!(client.next_attempt(), Some(next), "{ctx}");
            now.set(expiry.as_millis());
            assert_eq!(
                client.token(&mut connect, &mut [0u8; BUF]).unwrap_err(),
                Error::Backoff(next),
                "{ctx}"
            );
        }
        assert_eq!(server.borrow().connections, 7, "{ctx}");
        assert_eq!(server.borrow().pending(), 0, "{ctx}");
    }
}
