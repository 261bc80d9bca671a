//! The async driver (`asynch`, feature `async`), driven by
//! `embassy_futures::block_on` over the same scripted streams as the blocking
//! tests:
//!
//! * the recorded-response table of `tests/common/table.rs` through
//!   `asynch::run`, under every delivery, with a stream that returns
//!   `Poll::Pending` before every read and write; each outcome must equal the
//!   table's expectation and what `blocking::run` gives for the same bytes;
//! * the token cache through `token_async` / `fetch_async` with a fake clock;
//! * `call_async`'s one-refetch-one-retry rule;
//! * one `Client` shared by two tasks behind an `embassy_sync` mutex: held
//!   across `token_async` there is exactly one fetch, and (the counter-test)
//!   checked under the lock but fetched outside it there are two.
#![cfg(feature = "async")]

mod common;

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::rc::Rc;

use embassy_futures::block_on;
use embassy_futures::join::join;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embassy_sync::mutex::Mutex;

use common::table::{BUF, Outcome, cases, ok, outcome_with, run_blocking, run_table};
use common::{AsyncConnector, Delivery, Log, Script, Scripted, StreamError, json, token_response};
use embedded_oauth2::asynch::{self, Connect};
use embedded_oauth2::error::HttpError;
use embedded_oauth2::http::Exchange;
use embedded_oauth2::{
    Attempt, CallError, Client, Error, Freshness, Instant, Limits, TokenEndpoint,
};

// ---- helpers --------------------------------------------------------------

/// One table case through `asynch::run` over a yielding scripted stream.
fn run_async(case: &common::table::Case, delivery: Delivery) -> (Outcome, Rc<RefCell<Log>>) {
    let config = common::config();
    let mut buf = vec![0u8; case.buf];
    let mut stream = Scripted::new(case.wire.clone(), delivery).yielding();
    let log = stream.log();
    let ex = Exchange::new(&config, &mut buf, Limits::new()).expect("the request fits");
    let mut details = embedded_oauth2::error::ErrorDetails::default();
    let r = block_on(asynch::run_with_details(&mut stream, ex, &mut details));
    let out = outcome_with(r, details);
    (out, log)
}

/// A fake clock in milliseconds, shared with the fake server.
fn clock_at(ms: u64) -> Rc<Cell<u64>> {
    Rc::new(Cell::new(ms))
}

/// A `Clock` reading the fake clock.
fn clock(now: &Rc<Cell<u64>>) -> impl Fn() -> Instant + use<> {
    let now = Rc::clone(now);
    move || Instant::from_millis(now.get())
}

fn secs(s: u64) -> u64 {
    s * 1000
}

/// A work buffer full of garbage, so the wipe is visible.
fn dirty_buf() -> Vec<u8> {
    vec![0xA5; BUF]
}

fn assert_wiped(buf: &[u8], ctx: &str) {
    assert!(
        buf.iter().all(|&b| b == 0),
        "{ctx}: work buffer not zeroized"
    );
}

// ---- the recorded-response table ------------------------------------------

/// Every table case, every delivery (whole, 1 byte per read, 7-byte chunks,
/// interrupted short reads and writes), through the async driver; each read
/// and write first returns `Poll::Pending`, so the driver is suspended and
/// resumed mid-exchange. The outcome must be the table's and the blocking
/// driver's, and both drivers must do the same I/O.
#[test]
fn recorded_responses_through_the_async_driver_equal_the_table_and_blocking() {
    let all = cases();
    assert!(all.len() >= 35, "the whole table is shared: {}", all.len());
    let mut differ = Vec::new();
    let mut failures = run_table(&all, |c, delivery| {
        let (got, log) = run_async(c, delivery);
        let (blocking, blocking_log) = run_blocking(c, delivery);
        let ctx = format!("case {:?}, delivery {delivery:?}", c.name);
        if got != blocking {
            differ.push(format!(
                "{ctx}: async and blocking differ\n  blocking {blocking:?}\n     async {got:?}"
            ));
        }
        {
            let log = log.borrow();
            let io = Log {
                pending: 0,
                ..log.clone()
            };
            if io != *blocking_log.borrow() {
                differ.push(format!(
                    "{ctx}: different I/O\n  blocking {:?}\n     async {io:?}",
                    blocking_log.borrow()
                ));
            }
            // It really was suspended: once before every read and write.
            assert!(log.pending > log.reads, "{ctx}: {log:?}");
        }
        (got, log)
    });
    failures.extend(differ);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Transport errors and a zero-length write end the async exchange exactly
/// as they end the blocking one.
#[test]
fn async_transport_errors_are_returned_intact() {
    let config = common::config();
    let w = ok(r#"{"access_token":"t","token_type":"Bearer"}"#);

    let mut buf = [0u8; BUF];
    let mut stream = Scripted::new(w[..w.len() - 5].to_vec(), Delivery::Chunks(7))
        .ending_with(common::AtEnd::Fail(StreamError::Reset))
        .yielding();
    let ex = Exchange::new(&config, &mut buf, Limits::new()).unwrap();
    match block_on(asynch::run(&mut stream, ex)) {
        Err(Error::Transport(StreamError::Reset)) => {}
        other => panic!("reset while reading: {other:?}"),
    }

    let mut buf = [0u8; BUF];
    let mut stream = Scripted::new(w.clone(), Delivery::Choppy)
        .failing_write_after(10)
        .yielding();
    let log = stream.log();
    let ex = Exchange::new(&config, &mut buf, Limits::new()).unwrap();
    match block_on(asynch::run(&mut stream, ex)) {
        Err(Error::Transport(StreamError::Reset)) => {}
        other => panic!("reset while writing: {other:?}"),
    }
    assert_eq!(log.borrow().written.len(), 10);
    assert_eq!(
        log.borrow().reads,
        0,
        "nothing is read after a failed write"
    );

    struct Sink0;
    impl embedded_io_async::ErrorType for Sink0 {
        type Error = StreamError;
    }
    impl embedded_io_async::Read for Sink0 {
        async fn read(&mut self, _: &mut [u8]) -> Result<usize, StreamError> {
            panic!("must not read after WriteZero")
        }
    }
    impl embedded_io_async::Write for Sink0 {
        async fn write(&mut self, _: &[u8]) -> Result<usize, StreamError> {
            Ok(0)
        }
        async fn flush(&mut self) -> Result<(), StreamError> {
            Ok(())
        }
    }
    let mut buf = [0u8; BUF];
    let ex = Exchange::new(&config, &mut buf, Limits::new()).unwrap();
    assert!(matches!(
        block_on(asynch::run(&mut Sink0, ex)),
        Err(Error::WriteZero)
    ));
}

// ---- the cache through token_async / fetch_async ---------------------------

/// Fresh: no connection. Refresh due: one fetch. Failed renewal: the error,
/// and the old token still available through `cached()` until it expires.
#[test]
fn token_async_reuses_refreshes_and_keeps_the_old_token_when_renewal_fails() {
    let now = clock_at(1_000);
    let mut conn = AsyncConnector::new(Rc::clone(&now));
    let mut client: Client<_> = Client::new(common::config(), clock(&now));

    // First call: one connection, buffer wiped.
    conn.push(Script::Respond(token_response("tok-1", Some(3600))));
    let mut buf = dirty_buf();
    let t = block_on(client.asynch().token(&mut conn, &mut buf)).expect("first fetch");
    assert_eq!(
        (t.expose_secret(), t.obtained_at()),
        ("tok-1", Instant::from_millis(1_000))
    );
    assert_wiped(&buf, "first fetch");
    assert_eq!(conn.connections(), 1);
    {
        let server = conn.server.borrow();
        let log = server.logs[0].borrow();
        assert!(log.written.starts_with(b"POST /token HTTP/1.1\r\n"));
        assert!(log.pending > 0, "the connection yielded: {log:?}");
    }

    // Fresh, up to 1 ms before the refresh point: no connection.
    let refresh_at = 1_000 + secs(3600 - 60);
    for t in [1_001, secs(1800), refresh_at - 1] {
        now.set(t);
        let mut buf = [0u8; BUF];
        let tok = block_on(client.asynch().token(&mut conn, &mut buf)).expect("cached");
        assert_eq!(tok.expose_secret(), "tok-1", "at {t} ms");
        assert_eq!(conn.connections(), 1, "at {t} ms");
    }

    // Refresh due: exactly one fetch.
    now.set(refresh_at);
    assert_eq!(client.freshness(), Freshness::RefreshDue);
    conn.push(Script::Respond(token_response("tok-2", Some(3600))));
    let mut buf = dirty_buf();
    let t = block_on(client.asynch().token(&mut conn, &mut buf)).expect("refresh");
    assert_eq!(
        (t.expose_secret(), t.obtained_at()),
        ("tok-2", Instant::from_millis(refresh_at))
    );
    assert_wiped(&buf, "refresh");
    assert_eq!(conn.connections(), 2);
    let mut buf = [0u8; BUF];
    block_on(client.asynch().token(&mut conn, &mut buf)).expect("fresh again");
    assert_eq!(conn.connections(), 2);

    // Due again, and every renewal fails: the error, and tok-2 kept. In
    // between the client backs off (no random source: just under the 2 s,
    // then 4 s ceiling) and hands out tok-2 without a connection.
    let due = refresh_at + secs(3600 - 60);
    let expiry = refresh_at + secs(3600);
    now.set(due);
    conn.push(Script::Refuse(StreamError::Refused));
    let mut buf = dirty_buf();
    match block_on(client.asynch().token(&mut conn, &mut buf)) {
        Err(Error::Transport(StreamError::Refused)) => {}
        other => panic!("{other:?}"),
    }
    assert_wiped(&buf, "refused");
    assert_eq!(
        client.cached().expect("old token kept").expose_secret(),
        "tok-2"
    );
    assert_eq!(client.freshness(), Freshness::RefreshDue);
    assert_eq!(conn.connections(), 3);
    assert_eq!(client.failures(), 1);
    let retry_1 = due + 1_999;
    assert_eq!(client.next_attempt(), Some(Instant::from_millis(retry_1)));
    for t in [due, retry_1 - 1] {
        now.set(t);
        let mut buf = [0u8; BUF];
        let tok = block_on(client.asynch().token(&mut conn, &mut buf)).expect("old token");
        assert_eq!(tok.expose_secret(), "tok-2", "at {t} ms");
        assert_eq!(conn.connections(), 3, "no connection while backing off");
    }

    now.set(retry_1);
    conn.push(Script::Respond(json(
        "HTTP/1.1 503 Service Unavailable",
        "<html>down</html>",
    )));
    let mut buf = dirty_buf();
    match block_on(client.asynch().token(&mut conn, &mut buf)) {
        Err(Error::Http(HttpError::UnexpectedStatus {
            status: 503,
            retry_after: None,
        })) => {}
        other => panic!("{other:?}"),
    }
    assert_wiped(&buf, "503");
    let t = client.cached().expect("old token kept");
    assert_eq!(
        (t.expose_secret(), t.obtained_at()),
        ("tok-2", Instant::from_millis(refresh_at))
    );
    assert_eq!(conn.connections(), 4);
    assert_eq!(client.failures(), 2);
    let retry_2 = retry_1 + 3_999;
    assert_eq!(client.next_attempt(), Some(Instant::from_millis(retry_2)));
    now.set(retry_2 - 1);
    let mut buf = [0u8; BUF];
    let tok = block_on(client.asynch().token(&mut conn, &mut buf)).expect("old token");
    assert_eq!(tok.expose_secret(), "tok-2");
    assert_eq!(conn.connections(), 4);

    // Until it expires.
    now.set(expiry - 1);
    assert_eq!(
        client.cached().expect("still valid").expose_secret(),
        "tok-2"
    );
    now.set(expiry);
    assert!(client.cached().is_none());
    assert_eq!(conn.server.borrow().pending(), 0);

    // Past the backoff the next call renews, and a success resets it.
    conn.push(Script::Respond(token_response("tok-3", Some(3600))));
    let mut buf = dirty_buf();
    let t = block_on(client.asynch().token(&mut conn, &mut buf)).expect("renewal");
    assert_eq!(
        (t.expose_secret(), t.obtained_at()),
        ("tok-3", Instant::from_millis(expiry))
    );
    assert_wiped(&buf, "renewal");
    assert_eq!(conn.connections(), 5);
    assert_eq!((client.failures(), client.next_attempt()), (0, None));
}

#[test]
fn fetch_async_ignores_a_fresh_cache() {
    let now = clock_at(0);
    let mut conn = AsyncConnector::new(Rc::clone(&now));
    let mut client: Client<_> = Client::new(common::config(), clock(&now));
    conn.push(Script::Respond(token_response("one", Some(3600))));
    conn.push(Script::Respond(token_response("two", Some(3600))));
    let mut buf = [0u8; BUF];
    block_on(client.asynch().token(&mut conn, &mut buf)).unwrap();
    assert_eq!(client.freshness(), Freshness::Fresh);
    let mut buf = dirty_buf();
    let t = block_on(client.asynch().fetch(&mut conn, &mut buf)).unwrap();
    assert_eq!(t.expose_secret(), "two");
    assert_wiped(&buf, "fetch_async");
    assert_eq!(conn.connections(), 2);
}

// ---- call_async ------------------------------------------------------------

/// A client whose cache already holds `tok-1` (one connection made).
fn client_with_token(
    conn: &mut AsyncConnector,
    now: &Rc<Cell<u64>>,
) -> Client<'static, impl Fn() -> Instant + use<>> {
    let mut client: Client<_> = Client::new(common::config(), clock(now));
    conn.push(Script::Respond(token_response("tok-1", Some(3600))));
    let mut buf = [0u8; BUF];
    block_on(client.asynch().token(conn, &mut buf)).expect("first token");
    assert_eq!(conn.connections(), 1);
    client
}

/// Rejected once: the cached token is dropped, exactly one new one fetched,
/// the request retried once with it, and its answer returned.
#[test]
fn call_async_refetches_once_and_retries_after_one_rejection() {
    let now = clock_at(0);
    let mut conn = AsyncConnector::new(Rc::clone(&now));
    let mut client = client_with_token(&mut conn, &now);
    conn.push(Script::Respond(token_response("tok-2", Some(3600))));

    let mut seen = Vec::new();
    let mut buf = dirty_buf();
    let got = block_on(client.asynch().call(&mut conn, &mut buf, async |_, t| {
        seen.push(t.expose_secret().to_owned());
        // The resource server "takes a while" to answer.
        embassy_futures::yield_now().await;
        Ok::<_, Infallible>(if seen.len() == 1 {
            Attempt::TokenRejected
        } else {
            Attempt::Done("201 Created")
        })
    }));
    assert_eq!(got.unwrap(), "201 Created");
    assert_eq!(seen, ["tok-1", "tok-2"], "retried once, with the new token");
    assert_eq!(conn.connections(), 2, "exactly one refetch");
    assert_wiped(&buf, "call_async");
    assert_eq!(client.cached().unwrap().expose_secret(), "tok-2");
}

/// Rejected twice: `CallError::Rejected` after exactly one refetch and two
/// attempts, never a loop.
#[test]
fn call_async_gives_up_after_a_second_rejection() {
    let now = clock_at(0);
    let mut conn = AsyncConnector::new(Rc::clone(&now));
    let mut client = client_with_token(&mut conn, &now);
    conn.push(Script::Respond(token_response("tok-2", Some(3600))));

    let mut seen = Vec::new();
    let mut buf = [0u8; BUF];
    let got = block_on(client.asynch().call(&mut conn, &mut buf, async |_, t| {
        seen.push(t.expose_secret().to_owned());
        Ok::<Attempt<()>, Infallible>(Attempt::TokenRejected)
    }));
    assert!(matches!(got, Err(CallError::Rejected)), "{got:?}");
    assert_eq!(seen, ["tok-1", "tok-2"], "the closure ran exactly twice");
    assert_eq!(conn.connections(), 2, "exactly one refetch");
    assert_eq!(conn.server.borrow().pending(), 0);
}

/// The closure's own error is returned as `CallError::Resource`, without a
/// refetch.
#[test]
fn call_async_returns_the_resource_error() {
    let now = clock_at(0);
    let mut conn = AsyncConnector::new(Rc::clone(&now));
    let mut client = client_with_token(&mut conn, &now);
    let mut buf = [0u8; BUF];
    let got = block_on(client.asynch().call(&mut conn, &mut buf, async |_, _| {
        Err::<Attempt<()>, _>(StreamError::Reset)
    }));
    assert!(
        matches!(got, Err(CallError::Resource(StreamError::Reset))),
        "{got:?}"
    );
    assert_eq!(conn.connections(), 1);
}

// ---- one cache shared by two tasks -----------------------------------------

type Shared<C> = Mutex<NoopRawMutex, Client<'static, C>>;

/// Two tasks share one `Client` behind an async mutex and each holds the
/// lock across `token_async`. The connection yields on every read, so task B
/// runs (and waits on the lock) while task A's fetch is in flight. Exactly
/// one connection is made and both get the same token.
#[test]
fn two_tasks_holding_the_lock_across_token_async_fetch_once() {
    let now = clock_at(0);
    let conn = AsyncConnector::new(Rc::clone(&now));
    conn.push(Script::Respond(token_response("shared-1", Some(3600))));
    let client: Shared<_> = Mutex::new(Client::new(common::config(), clock(&now)));
    let events = RefCell::new(Vec::new());

    let task = |name: &'static str| {
        let (client, events, mut conn) = (&client, &events, conn.clone());
        async move {
            let mut buf = [0u8; BUF];
            events.borrow_mut().push(format!("{name} locks"));
            let mut c = client.lock().await;
            let before = conn.connections();
            let token = c
                .asynch()
                .token(&mut conn, &mut buf)
                .await
                .expect("token")
                .expose_secret()
                .to_owned();
            let how = if conn.connections() > before {
                "fetched"
            } else {
                "cached"
            };
            events.borrow_mut().push(format!("{name} {how}"));
            token
        }
    };
    let (a, b) = block_on(join(task("A"), task("B")));

    assert_eq!((a.as_str(), b.as_str()), ("shared-1", "shared-1"));
    assert_eq!(conn.connections(), 1, "one refresh in flight, not two");
    // B asked for the lock while A's fetch was suspended, and then found the
    // token in the cache.
    assert_eq!(
        *events.borrow(),
        ["A locks", "B locks", "A fetched", "B cached"]
    );
    assert!(conn.server.borrow().logs[0].borrow().pending > 0);
}

/// The counter-test: the same two tasks and one shared `Client`, but the
/// lock is only held to check the cache and start the exchange, then
/// released for the network I/O (and taken again to store the result). Both
/// tasks find the cache empty: two fetches, two different tokens. So holding
/// the lock across the fetch is what makes the test above pass.
#[test]
fn two_tasks_releasing_the_lock_during_the_fetch_both_fetch() {
    let now = clock_at(0);
    let conn = AsyncConnector::new(Rc::clone(&now));
    conn.push(Script::Respond(token_response("first", Some(3600))));
    conn.push(Script::Respond(token_response("second", Some(3600))));
    let client: Shared<_> = Mutex::new(Client::new(common::config(), clock(&now)));
    let endpoint = TokenEndpoint::parse_allow_http(common::ENDPOINT).unwrap();

    let task = |name: &'static str| {
        let (client, endpoint, mut conn) = (&client, &endpoint, conn.clone());
        async move {
            let mut buf = [0u8; BUF];
            // Check under the lock...
            let begun = {
                let mut c = client.lock().await;
                match c.freshness() {
                    Freshness::Fresh => None,
                    _ => Some(c.begin(&mut buf).expect("request fits")),
                }
            };
            // ...fetch without it...
            if let Some((ex, started)) = begun {
                let mut stream = conn.connect(endpoint).await.expect("connect");
                let resp = asynch::run(&mut stream, ex).await.expect("response");
                // ...and store under it again.
                client
                    .lock()
                    .await
                    .complete(&resp, started)
                    .expect("stored");
            }
            let c = client.lock().await;
            (
                name,
                c.cached().expect("a token").expose_secret().to_owned(),
            )
        }
    };
    let (a, b) = block_on(join(task("A"), task("B")));

    assert_eq!(conn.connections(), 2, "both tasks refreshed");
    assert_eq!(conn.server.borrow().pending(), 0);
    // Each task ended up with the token it fetched itself; the second one
    // overwrote the first in the cache.
    assert_eq!(a, ("A", "first".to_owned()));
    assert_eq!(b, ("B", "second".to_owned()));
    assert_eq!(
        block_on(client.lock()).cached().unwrap().expose_secret(),
        "second"
    );
}
