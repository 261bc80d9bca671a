//! The token cache: `Client` driven by a fake clock and a fake server that
//! hands out scripted connections.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use common::{BASIC_ID_S, FakeServer, Script, StreamError, json, token_response};
use embedded_oauth2::error::{Buffer, CapacityError, HttpError, RetryAfter};
use embedded_oauth2::{Client, Error, ErrorCode, Freshness, Instant, RefreshPolicy, TokenEndpoint};

const BUF: usize = 2048;

/// A fake clock in milliseconds, shared with the fake server (which can
/// advance it to model latency).
fn clock_at(ms: u64) -> Rc<Cell<u64>> {
    Rc::new(Cell::new(ms))
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
        "{ctx}: work buffer not zeroized ({} non-zero bytes)",
        buf.iter().filter(|&&b| b != 0).count()
    );
}

/// The whole cache lifecycle (fetch, reuse while fresh, renewal when due,
/// a failed renewal keeping the old token, expiry), step by step, with the
/// default policy (60 s margin).
#[test]
fn fetch_reuse_refresh_fail_keep_expire() {
    let now = clock_at(1_000);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let clock = {
        let now = Rc::clone(&now);
        move || Instant::from_millis(now.get())
    };
    let mut client: Client<_> = Client::new(common::config(), clock);
    assert_eq!(client.freshness(), Freshness::Expired);
    assert!(client.cached().is_none());

    // 1. First call fetches over one connection.
    server
        .borrow_mut()
        .push(Script::Respond(token_response("tok-1", Some(3600))));
    let mut buf = dirty_buf();
    {
        let t = client.token(&mut connect, &mut buf).expect("first fetch");
        assert_eq!(t.expose_secret(), "tok-1");
        assert_eq!(t.obtained_at(), Instant::from_millis(1_000));
        assert_eq!(t.expires_in(), Some(3600));
        assert_eq!(t.lifetime(), Duration::from_secs(3600));
        assert_eq!(t.expires_at(), Instant::from_millis(1_000 + secs(3600)));
    }
    assert_wiped(&buf, "first fetch");
    assert_eq!(server.borrow().connections, 1);
    {
        let s = server.borrow();
        assert_eq!(
            s.endpoints[0],
            ("127.0.0.1".to_owned(), 8080, "/token".to_owned())
        );
        let req = &s.logs[0].borrow().written;
        assert!(req.starts_with(b"POST /token HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
        assert!(common::contains(req, BASIC_ID_S.as_bytes()));
        assert!(req.ends_with(b"\r\n\r\ngrant_type=client_credentials"));
    }
    assert_eq!(client.freshness(), Freshness::Fresh);

    // 2. While fresh (up to 1 ms before the refresh point): no connection.
    let refresh_at = 1_000 + secs(3600 - 60);
    for t in [1_001, secs(1800), refresh_at - 1] {
        now.set(t);
        let mut buf = [0u8; BUF];
        let tok = client.token(&mut connect, &mut buf).expect("cached");
        assert_eq!(tok.expose_secret(), "tok-1", "at {t} ms");
        assert_eq!(tok.obtained_at(), Instant::from_millis(1_000));
        assert_eq!(server.borrow().connections, 1, "at {t} ms");
    }

    // 3. Into the refresh margin: a new token is fetched.
    now.set(refresh_at);
    assert_eq!(client.freshness(), Freshness::RefreshDue);
    assert_eq!(client.cached().unwrap().expose_secret(), "tok-1");
    server
        .borrow_mut()
        .push(Script::Respond(token_response("tok-2", Some(3600))));
    let mut buf = dirty_buf();
    {
        let t = client.token(&mut connect, &mut buf).expect("refresh");
        assert_eq!(t.expose_secret(), "tok-2");
        assert_eq!(t.obtained_at(), Instant::from_millis(refresh_at));
        assert_eq!(
            t.expires_at(),
            Instant::from_millis(refresh_at + secs(3600))
        );
    }
    assert_wiped(&buf, "refresh");
    assert_eq!(server.borrow().connections, 2);
    assert_eq!(client.freshness(), Freshness::Fresh);

    // 4. Refresh due again; every renewal fails and the old token stays.
    //    Between attempts the client backs off (no random source: the full
    //    ceiling, 2 s then 4 s, just under) and hands out the old token
    //    without touching the network.
    let due = refresh_at + secs(3600 - 60);
    let expiry = refresh_at + secs(3600);
    now.set(due);
    assert_eq!(client.freshness(), Freshness::RefreshDue);
    assert_eq!(client.next_attempt(), None);

    server
        .borrow_mut()
        .push(Script::Refuse(StreamError::Refused));
    let mut buf = dirty_buf();
    match client.token(&mut connect, &mut buf) {
        Err(Error::Transport(StreamError::Refused)) => {}
        other => panic!("{other:?}"),
    }
    assert_wiped(&buf, "connector error");
    assert_eq!(server.borrow().connections, 3);
    assert_old_token_kept(&client, "tok-2", refresh_at);
    assert_eq!(client.failures(), 1);
    // Ceiling 2 s without jitter: 1999 ms (the sample is u32::MAX / 2^32).
    let retry_1 = due + 1_999;
    assert_eq!(client.next_attempt(), Some(Instant::from_millis(retry_1)));
    assert!(client.blocked().is_none());
    // Within the backoff: the old token, no connection.
    for t in [due, due + 1_000, retry_1 - 1] {
        now.set(t);
        let tok = client
            .token(&mut connect, &mut [0u8; BUF])
            .expect("old token while backing off");
        assert_eq!(tok.expose_secret(), "tok-2", "at {t} ms");
        assert_eq!(server.borrow().connections, 3, "at {t} ms");
    }

    now.set(retry_1);
    assert_eq!(client.next_attempt(), None);
    server.borrow_mut().push(Script::Respond(json(
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30",
        "<html>down</html>",
    )));
    let mut buf = dirty_buf();
    match client.token(&mut connect, &mut buf) {
        Err(Error::Http(HttpError::UnexpectedStatus {
            status: 503,
            retry_after: Some(RetryAfter::Seconds(30)),
        })) => {}
        other => panic!("{other:?}"),
    }
    assert_wiped(&buf, "503");
    assert_eq!(server.borrow().connections, 4);
    assert_old_token_kept(&client, "tok-2", refresh_at);
    assert_eq!(client.failures(), 2);
    // Retry-After: 30 outweighs the 4 s ceiling.
    let retry_2 = retry_1 + secs(30);
    assert_eq!(client.next_attempt(), Some(Instant::from_millis(retry_2)));
    now.set(retry_2 - 1);
    assert_eq!(
        client
            .token(&mut connect, &mut [0u8; BUF])
            .unwrap()
            .expose_secret(),
        "tok-2"
    );
    assert_eq!(server.borrow().connections, 4);

    now.set(retry_2);
    server.borrow_mut().push(Script::Respond(
        common::wire(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: {len}\r\n\r\n",
            r#"{"error":"invalid_client","error_description":"secret rotated"}"#,
        ),
    ));
    let check_invalid_client = |e: &embedded_oauth2::error::OAuthError| {
        assert_eq!((e.status, e.code), (401, ErrorCode::InvalidClient));
    };
    let mut buf = dirty_buf();
    match client.token(&mut connect, &mut buf) {
        Err(Error::OAuth(e)) => check_invalid_client(&e),
        other => panic!("{other:?}"),
    }
    let details = client
        .error_details()
        .expect("the error's free text is kept");
    assert_eq!(details.description.unwrap().as_str(), "secret rotated");
    assert_eq!(
        details.www_authenticate.unwrap().as_str(),
        "Basic realm=\"x\""
    );
    assert_wiped(&buf, "invalid_client");
    assert_eq!(server.borrow().connections, 5);
    assert_old_token_kept(&client, "tok-2", refresh_at);
    // A permanent failure: no automatic attempt any more, the old token is
    // handed out while it is valid.
    match client.blocked() {
        Some(Error::OAuth(e)) => check_invalid_client(e),
        other => panic!("{other:?}"),
    }
    assert_eq!(client.next_attempt(), None);
    for t in [retry_2, retry_2 + 500] {
        now.set(t);
        let tok = client.token(&mut connect, &mut [0u8; BUF]).unwrap();
        assert_eq!(tok.expose_secret(), "tok-2", "at {t} ms");
        assert_eq!(server.borrow().connections, 5, "at {t} ms");
    }

    // An explicit `fetch` still goes to the network (and fails here).
    now.set(retry_2 + 1_000);
    server.borrow_mut().push(Script::ResetAfterRequest);
    let mut buf = dirty_buf();
    match client.fetch(&mut connect, &mut buf) {
        Err(Error::Transport(StreamError::Reset)) => {}
        other => panic!("{other:?}"),
    }
    assert_wiped(&buf, "reset while reading");
    assert_eq!(server.borrow().connections, 6);
    assert_old_token_kept(&client, "tok-2", refresh_at);
    assert!(
        client.blocked().is_some(),
        "a transient failure does not unblock"
    );
    // The failure counts (the fourth failed attempt in a row: the permanent
    // one counted too), but the block stands: past its backoff (16 s
    // ceiling, 15999 ms) `token()` still makes no attempt.
    assert_eq!(client.failures(), 4);
    for t in [
        retry_2 + secs(10),
        retry_2 + 1_000 + 15_999,
        retry_2 + secs(20),
        expiry - 1,
    ] {
        now.set(t);
        let tok = client.token(&mut connect, &mut [0u8; BUF]).unwrap();
        assert_eq!(tok.expose_secret(), "tok-2", "at {t} ms");
        assert_eq!(server.borrow().connections, 6, "at {t} ms");
    }

    // 5. One millisecond before expiry it is still handed out; at expiry not.
    now.set(expiry - 1);
    assert_old_token_kept(&client, "tok-2", refresh_at);
    now.set(expiry);
    assert!(client.cached().is_none());
    assert_eq!(client.freshness(), Freshness::Expired);
    now.set(expiry + secs(86_400));
    assert!(client.cached().is_none());
    assert_eq!(client.freshness(), Freshness::Expired);

    // 6. Still blocked: with no valid token, `token()` returns the permanent
    //    failure again, without a connection, however long it has been.
    let mut buf = dirty_buf();
    match client.token(&mut connect, &mut buf) {
        Err(Error::OAuth(e)) => check_invalid_client(&e),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.borrow().connections, 6);

    // 7. After re-provisioning (`reset_backoff`) the next call fetches again.
    client.reset_backoff();
    assert!(client.blocked().is_none());
    assert_eq!((client.failures(), client.next_attempt()), (0, None));
    server
        .borrow_mut()
        .push(Script::Respond(token_response("tok-3", Some(3600))));
    let mut buf = dirty_buf();
    let t = client.token(&mut connect, &mut buf).expect("after expiry");
    assert_eq!(t.expose_secret(), "tok-3");
    assert_eq!(t.obtained_at(), Instant::from_millis(expiry + secs(86_400)));
    assert_wiped(&buf, "after expiry");
    assert_eq!(server.borrow().connections, 7);
    assert_eq!(server.borrow().pending(), 0);
    assert_eq!(client.failures(), 0);
}

fn assert_old_token_kept<C: embedded_oauth2::Clock>(
    client: &Client<'_, C>,
    secret: &str,
    obtained_ms: u64,
) {
    let t = client.cached().expect("old token still valid");
    assert_eq!(t.expose_secret(), secret);
    assert_eq!(t.obtained_at(), Instant::from_millis(obtained_ms));
    assert_eq!(t.lifetime(), Duration::from_secs(3600));
    assert_eq!(client.freshness(), Freshness::RefreshDue);
}

/// A failed renewal after expiry leaves nothing cached.
#[test]
fn failure_after_expiry_returns_error_and_no_token() {
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), || Instant::from_millis(now.get()));
    server
        .borrow_mut()
        .push(Script::Respond(token_response("short", Some(120))));
    let mut buf = [0u8; BUF];
    client.token(&mut connect, &mut buf).unwrap();
    now.set(secs(120));
    server
        .borrow_mut()
        .push(Script::Refuse(StreamError::Refused));
    assert!(matches!(
        client.token(&mut connect, &mut buf),
        Err(Error::Transport(StreamError::Refused))
    ));
    assert!(client.cached().is_none());
    assert_eq!(client.freshness(), Freshness::Expired);
}

#[test]
fn custom_margin() {
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), || Instant::from_millis(now.get()))
        .with_policy(RefreshPolicy::new().with_margin(Duration::from_secs(300)));
    server
        .borrow_mut()
        .push(Script::Respond(token_response("m1", Some(3600))));
    let mut buf = [0u8; BUF];
    client.token(&mut connect, &mut buf).unwrap();

    now.set(secs(3300) - 1);
    assert_eq!(client.freshness(), Freshness::Fresh);
    assert_eq!(
        client
            .token(&mut connect, &mut buf)
            .unwrap()
            .expose_secret(),
        "m1"
    );
    assert_eq!(server.borrow().connections, 1);

    now.set(secs(3300));
    assert_eq!(client.freshness(), Freshness::RefreshDue);
    server
        .borrow_mut()
        .push(Script::Respond(token_response("m2", Some(3600))));
    let t = client.token(&mut connect, &mut buf).unwrap();
    assert_eq!(
        (t.expose_secret(), t.obtained_at()),
        ("m2", Instant::from_secs(3300))
    );
    assert_eq!(server.borrow().connections, 2);
}

#[test]
fn short_lifetime_uses_half_of_it_as_margin() {
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), || Instant::from_millis(now.get()));
    server
        .borrow_mut()
        .push(Script::Respond(token_response("brief", Some(10))));
    let mut buf = [0u8; BUF];
    client.token(&mut connect, &mut buf).unwrap();
    now.set(4_999);
    assert_eq!(client.freshness(), Freshness::Fresh);
    client.token(&mut connect, &mut buf).unwrap();
    assert_eq!(server.borrow().connections, 1);
    now.set(5_000);
    assert_eq!(client.freshness(), Freshness::RefreshDue);
    now.set(10_000);
    assert_eq!(client.freshness(), Freshness::Expired);
}

#[test]
fn invalidate_forces_a_fetch() {
    let now = clock_at(5_000);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), || Instant::from_millis(now.get()));
    server
        .borrow_mut()
        .push(Script::Respond(token_response("before", Some(3600))));
    let mut buf = [0u8; BUF];
    client.token(&mut connect, &mut buf).unwrap();
    assert_eq!(client.freshness(), Freshness::Fresh);

    client.invalidate();
    assert!(client.cached().is_none());
    assert_eq!(client.freshness(), Freshness::Expired);

    // Same instant: the fresh-looking past does not matter any more.
    server
        .borrow_mut()
        .push(Script::Respond(token_response("after", Some(3600))));
    let mut buf = dirty_buf();
    let t = client.token(&mut connect, &mut buf).unwrap();
    assert_eq!(
        (t.expose_secret(), t.obtained_at()),
        ("after", Instant::from_millis(5_000))
    );
    assert_wiped(&buf, "after invalidate");
    assert_eq!(server.borrow().connections, 2);
}

#[test]
fn fetch_ignores_a_fresh_cache() {
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), || Instant::from_millis(now.get()));
    server
        .borrow_mut()
        .push(Script::Respond(token_response("one", Some(3600))));
    server
        .borrow_mut()
        .push(Script::Respond(token_response("two", Some(3600))));
    let mut buf = [0u8; BUF];
    client.token(&mut connect, &mut buf).unwrap();
    now.set(1);
    let mut buf = dirty_buf();
    assert_eq!(
        client
            .fetch(&mut connect, &mut buf)
            .unwrap()
            .expose_secret(),
        "two"
    );
    assert_wiped(&buf, "fetch");
    assert_eq!(server.borrow().connections, 2);
    assert_eq!(
        client.cached().unwrap().obtained_at(),
        Instant::from_millis(1)
    );
}

#[test]
fn missing_expires_in_uses_the_default_lifetime() {
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), || Instant::from_millis(now.get()));
    server
        .borrow_mut()
        .push(Script::Respond(token_response("no-exp", None)));
    let mut buf = [0u8; BUF];
    {
        let t = client.token(&mut connect, &mut buf).unwrap();
        assert_eq!(t.expires_in(), None);
        assert_eq!(t.lifetime(), Duration::from_secs(300));
        assert_eq!(t.expires_at(), Instant::from_secs(300));
    }
    now.set(secs(240) - 1);
    assert_eq!(client.freshness(), Freshness::Fresh);
    now.set(secs(240));
    assert_eq!(client.freshness(), Freshness::RefreshDue);
    now.set(secs(300));
    assert_eq!(client.freshness(), Freshness::Expired);

    // A custom default lifetime.
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), || Instant::from_millis(now.get()))
        .with_policy(RefreshPolicy::new().with_default_lifetime(Duration::from_secs(1200)));
    server
        .borrow_mut()
        .push(Script::Respond(token_response("no-exp", None)));
    let t = client.token(&mut connect, &mut buf).unwrap();
    assert_eq!(t.lifetime(), Duration::from_secs(1200));
}

#[test]
fn huge_expires_in_is_capped_by_max_lifetime() {
    for (policy, cap) in [
        (RefreshPolicy::new(), 86_400),
        (
            RefreshPolicy::new().with_max_lifetime(Duration::from_secs(7_200)),
            7_200,
        ),
    ] {
        let now = clock_at(0);
        let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
        let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
        let mut client: Client<_> =
            Client::new(common::config(), || Instant::from_millis(now.get())).with_policy(policy);
        server.borrow_mut().push(Script::Respond(token_response(
            "forever",
            Some(9_999_999_999_999_999_999),
        )));
        let mut buf = [0u8; BUF];
        {
            let t = client.token(&mut connect, &mut buf).unwrap();
            assert_eq!(t.expires_in(), Some(9_999_999_999_999_999_999));
            assert_eq!(t.lifetime(), Duration::from_secs(cap));
        }
        now.set(secs(cap - 60) - 1);
        assert_eq!(client.freshness(), Freshness::Fresh);
        now.set(secs(cap - 60));
        assert_eq!(client.freshness(), Freshness::RefreshDue);
        now.set(secs(cap));
        assert!(client.cached().is_none());
    }
}

#[test]
fn lifetime_counts_from_when_the_request_was_sent() {
    let now = clock_at(10_000);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), || Instant::from_millis(now.get()));
    server.borrow_mut().push(Script::RespondAfter {
        response: token_response("slow", Some(100)),
        latency_ms: 7_000,
    });
    let mut buf = [0u8; BUF];
    let t = client.token(&mut connect, &mut buf).unwrap();
    assert_eq!(t.obtained_at(), Instant::from_millis(10_000));
    assert_eq!(t.expires_at(), Instant::from_millis(110_000));
    assert_eq!(now.get(), 17_000);
}

#[test]
fn token_larger_than_its_capacity_keeps_the_old_one() {
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    // 16 bytes of token, 8 of scope.
    let mut client: Client<_, 64, 16, 8> =
        Client::new(common::config(), || Instant::from_millis(now.get()));
    server.borrow_mut().push(Script::Respond(json(
        "HTTP/1.1 200 OK",
        r#"{"access_token":"sixteen-bytes-ok","token_type":"Bearer","expires_in":3600,"scope":"r w"}"#,
    )));
    let mut buf = [0u8; BUF];
    {
        let t = client.token(&mut connect, &mut buf).unwrap();
        assert_eq!(
            (t.expose_secret(), t.scope()),
            ("sixteen-bytes-ok", Some("r w"))
        );
    }

    now.set(secs(3600 - 60));
    server.borrow_mut().push(Script::Respond(token_response(
        "seventeen-bytes-x",
        Some(3600),
    )));
    let mut buf = dirty_buf();
    match client.token(&mut connect, &mut buf) {
        Err(Error::Capacity(c)) => {
            assert_eq!(c, CapacityError::new(Buffer::AccessToken, 17, 16, true))
        }
        other => panic!("{other:?}"),
    }
    assert_wiped(&buf, "token capacity");
    let t = client.cached().unwrap();
    assert_eq!(
        (t.expose_secret(), t.scope()),
        ("sixteen-bytes-ok", Some("r w"))
    );
    assert_eq!(t.obtained_at(), Instant::ZERO);
    // A capacity error does not block the client (the next response may
    // fit): it backs off like a transient failure (no random source: 1999
    // ms), and `token()` hands out the old token meanwhile.
    assert!(client.blocked().is_none());
    assert_eq!(client.failures(), 1);
    let retry_1 = secs(3600 - 60) + 1_999;
    assert_eq!(client.next_attempt(), Some(Instant::from_millis(retry_1)));
    for t in [secs(3600 - 60), secs(3600 - 60) + 1_000, retry_1 - 1] {
        now.set(t);
        let tok = client.token(&mut connect, &mut [0u8; BUF]).unwrap();
        assert_eq!(tok.expose_secret(), "sixteen-bytes-ok");
        assert_eq!(server.borrow().connections, 2, "at {t} ms");
    }

    // Past the backoff `token()` asks again on its own: now the scope does
    // not fit.
    now.set(retry_1);
    server.borrow_mut().push(Script::Respond(json(
        "HTTP/1.1 200 OK",
        r#"{"access_token":"ok","token_type":"Bearer","scope":"read write"}"#,
    )));
    let mut buf = dirty_buf();
    match client.token(&mut connect, &mut buf) {
        Err(Error::Capacity(c)) => assert_eq!(c, CapacityError::new(Buffer::Scope, 10, 8, true)),
        other => panic!("{other:?}"),
    }
    assert_wiped(&buf, "scope capacity");
    assert_eq!(client.cached().unwrap().expose_secret(), "sixteen-bytes-ok");
    assert_eq!(server.borrow().connections, 3);
    assert!(client.blocked().is_none());
    assert_eq!(client.failures(), 2);
    let retry_2 = retry_1 + 3_999;
    assert_eq!(client.next_attempt(), Some(Instant::from_millis(retry_2)));
    now.set(retry_2 - 1);
    assert_eq!(
        client
            .token(&mut connect, &mut [0u8; BUF])
            .unwrap()
            .expose_secret(),
        "sixteen-bytes-ok"
    );
    assert_eq!(server.borrow().connections, 3);

    // A token that fits is taken, and clears the backoff.
    now.set(retry_2);
    server.borrow_mut().push(Script::Respond(json(
        "HTTP/1.1 200 OK",
        r#"{"access_token":"fits","token_type":"Bearer","expires_in":3600,"scope":"r"}"#,
    )));
    let mut buf = dirty_buf();
    {
        let t = client.token(&mut connect, &mut buf).unwrap();
        assert_eq!((t.expose_secret(), t.scope()), ("fits", Some("r")));
        assert_eq!(t.obtained_at(), Instant::from_millis(retry_2));
    }
    assert_wiped(&buf, "fitting token");
    assert_eq!(server.borrow().connections, 4);
    assert_eq!((client.failures(), client.next_attempt()), (0, None));
}

#[test]
fn request_that_does_not_fit_makes_no_connection() {
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), || Instant::from_millis(now.get()));
    let mut buf = [0xA5u8; 64];
    match client.token(&mut connect, &mut buf) {
        Err(Error::Capacity(c)) => {
            assert_eq!(
                (c.buffer, c.available, c.exact),
                (Buffer::Request, 64, true)
            );
            let mut big = [0u8; 1024];
            let n = embedded_oauth2::http::encode_request(client.config(), &mut big).unwrap();
            assert_eq!(c.needed, n);
        }
        other => panic!("{other:?}"),
    }
    assert_wiped(&buf, "request capacity");
    assert_eq!(server.borrow().connections, 0);
    assert!(client.cached().is_none());
    // Not a block: the caller may pass a bigger buffer. The client backs
    // off (no random source: 1999 ms), then a big enough buffer works.
    assert!(client.blocked().is_none());
    assert_eq!(client.failures(), 1);
    assert_eq!(client.next_attempt(), Some(Instant::from_millis(1_999)));
    let mut big = dirty_buf();
    assert_eq!(
        client.token(&mut connect, &mut big).unwrap_err(),
        Error::Backoff(Instant::from_millis(1_999))
    );
    assert_eq!(server.borrow().connections, 0);
    now.set(1_999);
    server
        .borrow_mut()
        .push(Script::Respond(token_response("fits", Some(3600))));
    assert_eq!(
        client
            .token(&mut connect, &mut big)
            .unwrap()
            .expose_secret(),
        "fits"
    );
    assert_wiped(&big, "bigger buffer");
    assert_eq!(server.borrow().connections, 1);
    assert_eq!((client.failures(), client.next_attempt()), (0, None));
}

#[test]
fn scope_is_requested_and_stored() {
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let config = common::config().with_scope("telemetry:write ota").unwrap();
    let mut client: Client<_> = Client::new(config, || Instant::from_millis(now.get()));
    server.borrow_mut().push(Script::Respond(json(
        "HTTP/1.1 200 OK",
        r#"{"access_token":"scoped","token_type":"Bearer","expires_in":600,"scope":"telemetry:write"}"#,
    )));
    let mut buf = [0u8; BUF];
    let t = client.token(&mut connect, &mut buf).unwrap();
    assert_eq!(t.scope(), Some("telemetry:write"));
    let s = server.borrow();
    assert!(
        s.logs[0]
            .borrow()
            .written
            .ends_with(b"\r\n\r\ngrant_type=client_credentials&scope=telemetry%3Awrite+ota")
    );
}

#[test]
fn token_presentation() {
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config(), || Instant::from_millis(now.get()));
    server.borrow_mut().push(Script::Respond(token_response(
        "mF_9.B5f-4.1JqM",
        Some(3600),
    )));
    let mut buf = [0u8; BUF];
    client.token(&mut connect, &mut buf).unwrap();
    let t = client.cached().unwrap();
    let mut out = [0u8; 64];
    assert_eq!(
        t.authorization_value(&mut out).unwrap(),
        "Bearer mF_9.B5f-4.1JqM"
    );
    let mut header = Vec::new();
    t.write_authorization_header(&mut header).unwrap();
    assert_eq!(header, b"Authorization: Bearer mF_9.B5f-4.1JqM\r\n");
    assert_eq!(
        t.remaining(Instant::from_secs(600)),
        Duration::from_secs(3000)
    );
}

/// `call` while the token is due for renewal and the server is down: the
/// still-valid token is used, not given up on.
#[test]
fn call_uses_the_cached_token_when_a_due_renewal_fails() {
    let now = clock_at(0);
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let clock = {
        let now = Rc::clone(&now);
        move || Instant::from_millis(now.get())
    };
    let mut client: Client<_> = Client::new(common::config(), clock);
    server
        .borrow_mut()
        .push(Script::Respond(token_response("tok-1", Some(3600))));
    let mut buf = dirty_buf();
    client.token(&mut connect, &mut buf).expect("first fetch");
    // Within the margin; the renewal is refused at the TCP level.
    now.set(secs(3600 - 30));
    server
        .borrow_mut()
        .push(Script::Refuse(StreamError::Refused));
    let mut seen = Vec::new();
    let r = client.call(&mut connect, &mut buf, |_, t| {
        seen.push(t.expose_secret().to_owned());
        Ok::<_, ()>(embedded_oauth2::Attempt::Done(7))
    });
    assert_eq!(r.ok(), Some(7));
    assert_eq!(seen, ["tok-1"]);
    assert_eq!(server.borrow().connections, 2, "the renewal was attempted");
    assert_wiped(&buf, "failed renewal");
    // Once expired, a failed renewal is an error again.
    now.set(secs(3600));
    server
        .borrow_mut()
        .push(Script::Refuse(StreamError::Refused));
    let r = client.call(&mut connect, &mut buf, |_, _| {
        Ok::<_, ()>(embedded_oauth2::Attempt::Done(8))
    });
    assert!(matches!(
        r,
        Err(embedded_oauth2::CallError::Token(Error::Transport(_)))
    ));
}
