//! The client's policy at its edges, each test written against a defect
//! found in the client (and failing before its fix): a clock that wraps, a server
//! that announces `expires_in: 1`, a resource server that refuses every
//! token, a server that drips its answer, and a `Client` that must be
//! `Send` to live in an embassy `static`.

mod common;

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::rc::Rc;
use std::time::Duration;

use common::{FakeServer, Script, token_response};
use embedded_oauth2::{
    Attempt, CallError, Client, Error, Freshness, Instant, RefreshPolicy, TokenEndpoint,
};

const BUF: usize = 2048;

fn clock_at(ms: u64) -> Rc<Cell<u64>> {
    Rc::new(Cell::new(ms))
}

/// A 32-bit millisecond tick, as many firmware timers count, handed to the
/// client as is: it wraps to 0 after 2^32 ms (49.7 days).
fn wrapping_clock(now: &Rc<Cell<u64>>) -> impl Fn() -> Instant + use<> {
    let now = Rc::clone(now);
    move || Instant::from_millis(now.get() & 0xFFFF_FFFF)
}

fn clock(now: &Rc<Cell<u64>>) -> impl Fn() -> Instant + use<> {
    let now = Rc::clone(now);
    move || Instant::from_millis(now.get())
}

const WRAP: u64 = 1 << 32;

/// A token obtained 1 s before a 32-bit tick wraps must not read as fresh
/// (for days) after the wrap: its age is unknown, so it is not presented,
/// and the next `token()` fetches.
#[test]
fn token_obtained_before_a_tick_wrap_is_not_presented_after_it() {
    let now = clock_at(WRAP - 1_000);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), wrapping_clock(&now));
    server
        .borrow_mut()
        .push(Script::Respond(token_response("before", Some(3600))));
    client.token(&mut connect, &mut [0u8; BUF]).unwrap();
    assert_eq!(client.freshness(), Freshness::Fresh);

    now.set(WRAP + 500); // the tick reads 500
    assert_eq!(client.freshness(), Freshness::Expired);
    assert!(client.cached().is_none());
    server
        .borrow_mut()
        .push(Script::Respond(token_response("after", Some(3600))));
    let t = client.token(&mut connect, &mut [0u8; BUF]).unwrap();
    assert_eq!(t.expose_secret(), "after");
    assert_eq!(server.borrow().connections, 2);
}

/// A failure 1 s before the wrap schedules the next attempt ~2 s later, on
/// the far side of the wrap: read naively that is 49.7 days away. The
/// client ignores a wait longer than any it schedules and tries again.
#[test]
fn failure_before_a_tick_wrap_does_not_lock_the_client_out() {
    let now = clock_at(WRAP - 1_000);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), wrapping_clock(&now));
    server
        .borrow_mut()
        .push(Script::Refuse(common::StreamError::Refused));
    client.token(&mut connect, &mut [0u8; BUF]).unwrap_err();
    assert!(client.next_attempt().is_some(), "backing off");

    now.set(WRAP + 5_000); // the tick reads 5,000; the backoff (< 2 s) is over
    assert_eq!(client.next_attempt(), None);
    server
        .borrow_mut()
        .push(Script::Respond(token_response("back", Some(3600))));
    assert_eq!(
        client
            .token(&mut connect, &mut [0u8; BUF])
            .unwrap()
            .expose_secret(),
        "back"
    );
}

/// A short-lived token is renewed before it expires with the default
/// policy: a 4 s token at half its lifetime, every 2 s, and `token()` never
/// fails. (Before: the default `min_interval` of 10 s held the renewal back
/// past expiry, and `token()` answered "backing off after failures" though
/// nothing had failed.)
#[test]
fn a_short_lived_token_is_renewed_before_it_expires() {
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), clock(&now));
    for step in 0..200u64 {
        now.set(step * 100);
        server.borrow_mut().push(Script::Respond(token_response(
            &format!("t{step}"),
            Some(4),
        )));
        let t = client
            .token(&mut connect, &mut [0u8; BUF])
            .unwrap_or_else(|e| panic!("at {} ms: {e}", step * 100));
        assert!(t.remaining(Instant::from_millis(step * 100)) > Duration::ZERO);
        server.borrow_mut().clear_scripts();
    }
    assert_eq!(server.borrow().connections, 10, "one renewal per 2 s");
}

/// `expires_in: 1` (broken or hostile): at most one fetch a second, and
/// the 1 s token is renewed when it runs out, so `token()` never fails. A
/// token shorter than the 1 s floor (here a `max_lifetime` of 500 ms) is
/// held back with its own error, which says how long from now and does not
/// speak of failures.
#[test]
fn expires_in_one_is_fetched_at_most_once_a_second() {
    for max_lifetime_ms in [86_400_000, 500] {
        let now = clock_at(0);
        let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
        let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
        let policy = RefreshPolicy::new().with_max_lifetime(Duration::from_millis(max_lifetime_ms));
        let mut client: Client<_> = Client::new(common::config(), clock(&now)).with_policy(policy);
        let mut held = 0;
        for step in 0..120u64 {
            now.set(step * 500);
            server
                .borrow_mut()
                .push(Script::Respond(token_response("blink", Some(1))));
            match client.token(&mut connect, &mut [0u8; BUF]) {
                Ok(_) => {}
                Err(e @ Error::HeldBack(w)) => {
                    held += 1;
                    assert_eq!(w.until.as_millis(), step * 500 + 500, "{w:?}");
                    assert_eq!(w.remaining, Duration::from_millis(500));
                    let text = e.to_string();
                    assert!(text.contains("in 500 ms"), "{text}");
                    assert!(!text.contains("fail"), "{text}");
                }
                Err(e) => panic!("{max_lifetime_ms}: {e:?}"),
            }
            // An unused script would answer the next connection: drop it.
            server.borrow_mut().clear_scripts();
        }
        assert_eq!(server.borrow().connections, 60, "one fetch a second");
        assert_eq!(held, if max_lifetime_ms == 500 { 60 } else { 0 });
    }
    // The floor is the policy's: without it, every expired check fetches.
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), clock(&now))
        .with_policy(RefreshPolicy::new().with_min_interval(Duration::ZERO));
    for step in 0..20u64 {
        now.set(step * 500);
        server
            .borrow_mut()
            .push(Script::Respond(token_response("blink", Some(1))));
        client.token(&mut connect, &mut [0u8; BUF]).unwrap();
    }
    assert_eq!(server.borrow().connections, 20);
}

/// A resource server that answers 401 to every token, called ten times in
/// a row: the first call renews once and retries once (2 fetches), then
/// refusals back off like failed fetches — no fetch at all while backing
/// off. (Before: two fetches per call, 20 in all, with no backoff.)
#[test]
fn resource_server_that_always_refuses_costs_two_fetches_over_ten_calls() {
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), clock(&now));
    let mut attempts = 0;
    let mut outcomes = Vec::new();
    for call in 0..10u64 {
        now.set(call * 100);
        for i in 0..2 {
            server.borrow_mut().push(Script::Respond(token_response(
                &format!("t{call}-{i}"),
                Some(3600),
            )));
        }
        let r = client.call(&mut connect, &mut [0u8; BUF], |_, _| {
            attempts += 1;
            Ok::<_, Infallible>(Attempt::<()>::TokenRejected)
        });
        outcomes.push(match r {
            Err(CallError::Rejected) => "rejected",
            Err(CallError::Token(Error::Backoff(_))) => "backoff",
            other => panic!("{other:?}"),
        });
        server.borrow_mut().clear_scripts();
    }
    assert_eq!(server.borrow().connections, 2, "{outcomes:?}");
    assert_eq!(attempts, 2);
    // Two refusals in a row back off like one failed fetch: the first
    // backoff step (2 s, no randomness: its ceiling), from the first call.
    assert_eq!(client.next_attempt().map(|t| t.as_millis()), Some(1_999));
    assert_eq!(outcomes[0], "rejected");
    assert!(
        outcomes[1..].iter().all(|o| *o == "backoff"),
        "{outcomes:?}"
    );

    // Past the backoff: one fetch, refused, and a longer backoff — no
    // immediate second fetch until a token is accepted again.
    now.set(60_000);
    server
        .borrow_mut()
        .push(Script::Respond(token_response("later", Some(3600))));
    let r = client.call(&mut connect, &mut [0u8; BUF], |_, _| {
        Ok::<_, Infallible>(Attempt::<()>::TokenRejected)
    });
    assert!(matches!(r, Err(CallError::Rejected)));
    assert_eq!(server.borrow().connections, 3);
    let wait = client.next_attempt().expect("backing off").as_millis() - 60_000;
    assert_eq!(wait, 3_999, "the backoff grows by one step");

    // Once a token is accepted again, a refusal is worth one renewal again.
    now.set(10 * 60_000);
    for name in ["ok", "revoked", "renewed"] {
        server
            .borrow_mut()
            .push(Script::Respond(token_response(name, Some(3600))));
    }
    let r = client.call(&mut connect, &mut [0u8; BUF], |_, _| {
        Ok::<_, Infallible>(Attempt::Done(()))
    });
    assert!(r.is_ok());
    let mut seen = Vec::new();
    let r = client.call(&mut connect, &mut [0u8; BUF], |_, t| {
        seen.push(t.expose_secret().to_owned());
        Ok::<_, Infallible>(if seen.len() == 1 {
            Attempt::TokenRejected
        } else {
            Attempt::Done(())
        })
    });
    assert!(r.is_ok());
    assert_eq!(seen, ["ok", "revoked"]);
}

/// A server that drips its answer a byte per read, each read taking a
/// second: the exchange stops at the fetch deadline with `Error::Timeout`
/// (a transient failure: the client backs off), instead of holding the
/// device for as long as the server likes.
#[test]
fn a_dripping_server_hits_the_fetch_deadline() {
    struct Drip {
        now: Rc<Cell<u64>>,
        reads: Rc<Cell<usize>>,
    }
    impl embedded_io::ErrorType for Drip {
        type Error = Infallible;
    }
    impl embedded_io::Read for Drip {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
            self.now.set(self.now.get() + 1_000);
            self.reads.set(self.reads.get() + 1);
            let n = usize::from(!buf.is_empty());
            if let Some(b) = buf.first_mut() {
                *b = b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n"
                    .get(self.reads.get() - 1)
                    .copied()
                    .unwrap_or(b' ');
            }
            Ok(n)
        }
    }
    impl embedded_io::Write for Drip {
        fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> Result<(), Infallible> {
            Ok(())
        }
    }
    let now = clock_at(0);
    let reads = Rc::new(Cell::new(0));
    let mut connect = |_: &TokenEndpoint<'_>| {
        Ok::<_, Infallible>(Drip {
            now: Rc::clone(&now),
            reads: Rc::clone(&reads),
        })
    };
    let mut client: Client<_> = Client::new(common::config(), clock(&now));
    let e = client.fetch(&mut connect, &mut [0u8; 4096]).unwrap_err();
    assert!(matches!(e, Error::Timeout), "{e:?}");
    assert_eq!(reads.get(), 60, "stopped at the 60 s default");
    assert_eq!(e.retry(), embedded_oauth2::error::Retry::Transient);
    assert!(client.next_attempt().is_some(), "a failure: backing off");

    let reads = Rc::new(Cell::new(0));
    let mut connect = |_: &TokenEndpoint<'_>| {
        Ok::<_, Infallible>(Drip {
            now: Rc::clone(&now),
            reads: Rc::clone(&reads),
        })
    };
    let mut client: Client<_> =
        Client::new(common::config(), clock(&now)).with_fetch_timeout(Duration::from_secs(5));
    let e = client.fetch(&mut connect, &mut [0u8; 4096]).unwrap_err();
    assert!(matches!(e, Error::Timeout), "{e:?}");
    assert_eq!(reads.get(), 5);
}

/// `Client` owns its clock, randomness and wall clock (no `dyn`
/// references), so it is `Send` when they are and can live in a `static`
/// behind an embassy-sync mutex, as embassy firmware keeps shared state.
#[test]
fn client_is_send_and_lives_in_an_embassy_static() {
    use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
    use embassy_sync::mutex::Mutex;
    use embedded_oauth2::{ClientAuth, ClientId, ClientSecret, Config};

    type Clock = fn() -> Instant;
    type Random = fn() -> u32;
    type Wall = fn() -> Option<u64>;
    type DeviceClient = Client<'static, Clock, 32, 1024, 64, Random, Wall>;
    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}
    assert_send::<DeviceClient>();
    assert_sync::<DeviceClient>();
    assert_send::<Client<'static, Clock, 32, 1024, 64>>();

    static CLIENT: Mutex<CriticalSectionRawMutex, Option<DeviceClient>> = Mutex::new(None);
    fn now() -> Instant {
        Instant::from_millis(0)
    }
    fn random() -> u32 {
        4
    }
    fn wall() -> Option<u64> {
        None
    }
    let config = Config::new(
        TokenEndpoint::parse("https://as.example/token").unwrap(),
        ClientId::new("device").unwrap(),
        ClientAuth::Basic(ClientSecret::new("s").unwrap()),
    );
    let client = Client::new(config, now as Clock)
        .with_random(random as Random)
        .with_wall_clock(wall as Wall);
    embassy_futures::block_on(async {
        *CLIENT.lock().await = Some(client);
        let guard = CLIENT.lock().await;
        assert!(guard.as_ref().is_some_and(|c| c.cached().is_none()));
    });
}

/// Without a minimum interval there is no floor at all: a clock that went
/// back (a token apparently obtained in the future) is fetched again at
/// once, not held back until the clock reaches the last fetch.
#[test]
fn no_min_interval_means_no_floor_even_when_the_clock_goes_back() {
    let now = clock_at(10_000);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), clock(&now))
        .with_policy(RefreshPolicy::new().with_min_interval(Duration::ZERO));
    for name in ["first", "second"] {
        server
            .borrow_mut()
            .push(Script::Respond(token_response(name, Some(3600))));
    }
    client.token(&mut connect, &mut [0u8; BUF]).unwrap();
    now.set(9_000);
    assert_eq!(client.next_attempt(), None);
    let t = client.token(&mut connect, &mut [0u8; BUF]).unwrap();
    assert_eq!(t.expose_secret(), "second");
    assert_eq!(server.borrow().connections, 2);
}

/// A renewal that fails exactly one second before the token expires is
/// retried after the backoff, as any other: the "one more attempt just
/// before expiry" pull-in applies only while that point is still ahead.
#[test]
fn a_failure_at_the_last_second_backs_off_normally() {
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), clock(&now));
    server
        .borrow_mut()
        .push(Script::Respond(token_response("valid", Some(3600))));
    client.token(&mut connect, &mut [0u8; BUF]).unwrap();
    now.set(3_599_000);
    server
        .borrow_mut()
        .push(Script::Refuse(common::StreamError::Refused));
    assert!(client.fetch(&mut connect, &mut [0u8; BUF]).is_err());
    assert_eq!(
        client.next_attempt().map(|t| t.as_millis()),
        Some(3_599_000 + 1_999)
    );
    // Earlier, the retry is pulled in to one second before the expiry.
    now.set(3_598_000);
    server
        .borrow_mut()
        .push(Script::Refuse(common::StreamError::Refused));
    client.reset_backoff();
    assert!(client.fetch(&mut connect, &mut [0u8; BUF]).is_err());
    assert_eq!(
        client.next_attempt().map(|t| t.as_millis()),
        Some(3_599_000)
    );
}

#[test]
fn rejects_token_is_401_only() {
    assert!(Attempt::<()>::rejects_token(401));
    for status in [200, 400, 403, 404, 407, 500] {
        assert!(!Attempt::<()>::rejects_token(status), "{status}");
    }
}

#[test]
fn call_errors_say_what_failed() {
    let e: CallError<Infallible, &str> = CallError::Resource("bus off");
    assert_eq!(e.to_string(), "resource request failed: bus off");
    let e: CallError<Infallible, &str> = CallError::Rejected;
    assert_eq!(
        e.to_string(),
        "the resource server rejected a freshly issued token"
    );
    let e: CallError<Infallible, &str> = CallError::Token(Error::Timeout);
    assert_eq!(
        e.to_string(),
        format!("obtaining a token failed: {}", Error::<Infallible>::Timeout)
    );
}

/// With no valid token, the wait that ends later decides, and names its
/// cause: the backoff after a failure (`Error::Backoff`), or the hold-back
/// after the last fetch (`Error::HeldBack`); when both end together, the
/// failure.
#[test]
fn the_later_wait_names_its_cause() {
    use embedded_oauth2::Backoff;
    // Tokens of 500 ms (the policy's cap) are held back 1 s after a fetch.
    let policy = RefreshPolicy::new().with_max_lifetime(Duration::from_millis(500));
    for (initial_ms, expect) in [
        (2_000, "backoff at 2599"),
        (11, "held back to 1000"),
        (401, "backoff at 1000"),
    ] {
        let now = clock_at(0);
        let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
        let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
        let mut client: Client<_> = Client::new(common::config(), clock(&now))
            .with_policy(policy)
            .with_backoff(Backoff::new().with_initial(Duration::from_millis(initial_ms)));
        server
            .borrow_mut()
            .push(Script::Respond(token_response("short", Some(60))));
        client
            .token(&mut connect, &mut [0u8; BUF])
            .expect("a token");
        // Expired at 500; a forced fetch at 600 fails.
        now.set(600);
        server
            .borrow_mut()
            .push(Script::Refuse(common::StreamError::Refused));
        assert!(client.fetch(&mut connect, &mut [0u8; BUF]).is_err());
        now.set(605);
        let got = match client.token(&mut connect, &mut [0u8; BUF]) {
            Err(Error::Backoff(t)) => format!("backoff at {}", t.as_millis()),
            Err(Error::HeldBack(w)) => format!("held back to {}", w.until.as_millis()),
            other => panic!("{other:?}"),
        };
        assert_eq!(got, expect, "initial backoff {initial_ms} ms");
    }
}
