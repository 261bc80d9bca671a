//! `ClientAuth::Auto` against a scripted server: which style each attempt
//! sends, that only `invalid_client` moves on, at most one attempt per style
//! per fetch, and that the style that worked is kept. (The same against two
//! real servers that disagree: `tests/auth_styles.rs`.)

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use common::{FakeServer, Script, json, token_response};
use embedded_oauth2::{AuthStyle, Client, ClientAuth, Error, ErrorCode, Instant, TokenEndpoint};

/// A client id and secret that §2.3.1's form-urlencoding changes.
const ID: &str = "dev 7:x";
const SECRET: &str = "s3:cr+t%";

/// What one request sent: `Basic` with encoded or raw credentials, or the
/// secret in the body.
fn style_of(request: &[u8]) -> AuthStyle {
    use base64ct::{Base64, Encoding};
    let text = String::from_utf8_lossy(request);
    if let Some(line) = text
        .lines()
        .find(|l| l.starts_with("Authorization: Basic "))
    {
        let b64 = line.trim_start_matches("Authorization: Basic ");
        let creds = Base64::decode_vec(b64).expect("base64");
        let creds = String::from_utf8(creds).expect("utf-8");
        if creds == format!("{ID}:{SECRET}") {
            return AuthStyle::BasicUnencoded;
        }
        assert_eq!(creds, "dev+7%3Ax:s3%3Acr%2Bt%25");
        return AuthStyle::Basic;
    }
    assert!(text.contains("client_secret=s3%3Acr%2Bt%25"), "{text}");
    assert!(text.contains("client_id=dev+7%3Ax"), "{text}");
    AuthStyle::Post
}

fn invalid_client() -> Script {
    Script::Respond(json(
        "HTTP/1.1 401 Unauthorized",
        r#"{"error":"invalid_client"}"#,
    ))
}

struct Rig {
    now: Rc<Cell<u64>>,
    server: RefCell<FakeServer>,
}

impl Rig {
    fn new() -> Self {
        let now = Rc::new(Cell::new(1_000));
        Self {
            server: RefCell::new(FakeServer::new(Rc::clone(&now))),
            now,
        }
    }

    fn client(&self) -> Client<'_, impl embedded_oauth2::Clock + '_> {
        let now = Rc::clone(&self.now);
        Client::new(
            common::config_with(ID, ClientAuth::Auto(common::secret(SECRET))),
            move || Instant::from_millis(now.get()),
        )
    }

    fn push(&self, s: Script) {
        self.server.borrow_mut().push(s);
    }

    /// Styles sent since connection `from`.
    fn sent(&self, from: usize) -> Vec<AuthStyle> {
        self.server.borrow().logs[from..]
            .iter()
            .map(|l| style_of(&l.borrow().written))
            .collect()
    }

    fn connections(&self) -> usize {
        self.server.borrow().connections
    }
}

#[test]
fn falls_back_on_invalid_client_and_keeps_what_worked() {
    let rig = Rig::new();
    let mut client = rig.client();
    let mut connect = |ep: &TokenEndpoint<'_>| rig.server.borrow_mut().connect(ep);
    let mut buf = [0u8; 2048];
    assert_eq!(client.auth_style(), Some(AuthStyle::Basic));

    // A server that takes only raw Basic credentials.
    rig.push(invalid_client());
    rig.push(Script::Respond(token_response("tok-1", Some(3600))));
    let t = client
        .fetch(&mut connect, &mut buf)
        .expect("second style works");
    assert_eq!(t.expose_secret(), "tok-1");
    assert_eq!(rig.sent(0), [AuthStyle::Basic, AuthStyle::BasicUnencoded]);
    assert_eq!(client.auth_style(), Some(AuthStyle::BasicUnencoded));
    // The fallback was one fetch: no backoff left behind.
    assert_eq!(client.next_attempt(), None);

    // Kept: the next fetch sends it at once, one connection.
    rig.push(Script::Respond(token_response("tok-2", Some(3600))));
    client.fetch(&mut connect, &mut buf).expect("kept style");
    assert_eq!(rig.sent(2), [AuthStyle::BasicUnencoded]);

    // Known to work: a later invalid_client (a rotated secret) does not
    // fall back again.
    rig.push(invalid_client());
    let e = client.fetch(&mut connect, &mut buf).unwrap_err();
    assert!(matches!(e, Error::OAuth(o) if o.code == ErrorCode::InvalidClient));
    assert_eq!(rig.connections(), 4);
    assert_eq!(client.auth_style(), Some(AuthStyle::BasicUnencoded));
}

#[test]
fn every_style_once_then_the_error() {
    let rig = Rig::new();
    let mut client = rig.client();
    let mut connect = |ep: &TokenEndpoint<'_>| rig.server.borrow_mut().connect(ep);
    let mut buf = [0u8; 2048];
    for _ in 0..3 {
        rig.push(invalid_client());
    }
    let e = client.fetch(&mut connect, &mut buf).unwrap_err();
    assert!(matches!(e, Error::OAuth(o) if o.code == ErrorCode::InvalidClient));
    assert_eq!(
        rig.sent(0),
        [AuthStyle::Basic, AuthStyle::BasicUnencoded, AuthStyle::Post]
    );
    // A permanent failure, counted once; the next fetch starts over.
    assert!(client.blocked().is_some());
    assert_eq!(client.auth_style(), Some(AuthStyle::Basic));
    client.reset_backoff();
    rig.push(Script::Respond(token_response("tok", Some(3600))));
    client
        .fetch(&mut connect, &mut buf)
        .expect("first style now works");
    assert_eq!(rig.sent(3), [AuthStyle::Basic]);
}

#[test]
fn post_is_found_third() {
    let rig = Rig::new();
    let mut client = rig.client();
    let mut connect = |ep: &TokenEndpoint<'_>| rig.server.borrow_mut().connect(ep);
    let mut buf = [0u8; 2048];
    rig.push(invalid_client());
    rig.push(Script::Respond(json(
        "HTTP/1.1 400 Bad Request",
        r#"{"error":"invalid_client"}"#,
    )));
    rig.push(Script::Respond(token_response("tok", Some(3600))));
    client.fetch(&mut connect, &mut buf).expect("post works");
    assert_eq!(
        rig.sent(0),
        [AuthStyle::Basic, AuthStyle::BasicUnencoded, AuthStyle::Post]
    );
    assert_eq!(client.auth_style(), Some(AuthStyle::Post));
}

/// Any other error, or a transport failure, never falls back.
#[test]
fn no_fallback_on_other_errors() {
    for (what, script) in [
        (
            "invalid_request",
            Script::Respond(json(
                "HTTP/1.1 400 Bad Request",
                r#"{"error":"invalid_request"}"#,
            )),
        ),
        (
            "unauthorized_client",
            Script::Respond(json(
                "HTTP/1.1 400 Bad Request",
                r#"{"error":"unauthorized_client"}"#,
            )),
        ),
        (
            "401 without an error object",
            Script::Respond(common::wire(
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: {len}\r\n\r\n",
                "",
            )),
        ),
        (
            "503",
            Script::Respond(json(
                "HTTP/1.1 503 Service Unavailable",
                r#"{"error":"temporarily_unavailable"}"#,
            )),
        ),
        (
            "refused connection",
            Script::Refuse(common::StreamError::Refused),
        ),
    ] {
        let rig = Rig::new();
        let mut client = rig.client();
        let mut connect = |ep: &TokenEndpoint<'_>| rig.server.borrow_mut().connect(ep);
        let mut buf = [0u8; 2048];
        rig.push(script);
        assert!(client.fetch(&mut connect, &mut buf).is_err(), "{what}");
        assert_eq!(rig.connections(), 1, "{what}");
        assert_eq!(client.auth_style(), Some(AuthStyle::Basic), "{what}");
    }
}

/// A style restored from before a reset is sent at once and never left.
#[test]
fn an_assumed_style_is_sent_without_detection() {
    let rig = Rig::new();
    let mut client = rig.client();
    let mut connect = |ep: &TokenEndpoint<'_>| rig.server.borrow_mut().connect(ep);
    let mut buf = [0u8; 2048];
    client.assume_auth_style(AuthStyle::Post);
    rig.push(invalid_client());
    assert!(client.fetch(&mut connect, &mut buf).is_err());
    assert_eq!(rig.sent(0), [AuthStyle::Post]);
}

/// Methods other than `Auto` never fall back.
#[test]
fn fixed_methods_never_fall_back() {
    for auth in [
        ClientAuth::Basic(common::secret(SECRET)),
        ClientAuth::BasicUnencoded(common::secret(SECRET)),
        ClientAuth::Post(common::secret(SECRET)),
    ] {
        let rig = Rig::new();
        let now = Rc::clone(&rig.now);
        let mut client: Client<_> = Client::new(common::config_with(ID, auth), move || {
            Instant::from_millis(now.get())
        });
        let want = client.auth_style().expect("a secret method");
        let mut connect = |ep: &TokenEndpoint<'_>| rig.server.borrow_mut().connect(ep);
        let mut buf = [0u8; 2048];
        rig.push(invalid_client());
        assert!(client.fetch(&mut connect, &mut buf).is_err());
        assert_eq!(rig.sent(0), [want]);
    }
    let c: Client<_> = Client::new(common::config_with(ID, ClientAuth::ClientIdOnly), || {
        Instant::from_millis(0)
    });
    assert_eq!(c.auth_style(), None);
}

#[cfg(feature = "async")]
mod asynch {
    use super::*;
    use common::AsyncConnector;

    /// The async driver runs the same decisions.
    #[test]
    fn async_falls_back_too() {
        let now = Rc::new(Cell::new(1_000));
        let mut conn = AsyncConnector::new(Rc::clone(&now));
        let clock = {
            let now = Rc::clone(&now);
            move || Instant::from_millis(now.get())
        };
        let mut client: Client<_> = Client::new(
            common::config_with(ID, ClientAuth::Auto(common::secret(SECRET))),
            clock,
        );
        conn.push(invalid_client());
        conn.push(invalid_client());
        conn.push(Script::Respond(token_response("tok", Some(3600))));
        let mut buf = [0u8; 2048];
        embassy_futures::block_on(async {
            client
                .asynch()
                .fetch(&mut conn, &mut buf)
                .await
                .expect("post works");
        });
        let sent: Vec<AuthStyle> = conn.server.borrow().logs[..]
            .iter()
            .map(|l| style_of(&l.borrow().written))
            .collect();
        assert_eq!(
            sent,
            [AuthStyle::Basic, AuthStyle::BasicUnencoded, AuthStyle::Post]
        );
    }
}

/// A fetch cancelled in the middle of its sequence (a timeout around the
/// async call, after `invalid_client` moved it to the next style) leaves no
/// unconfirmed style behind: the next fetch starts at Basic.
#[cfg(feature = "async")]
#[test]
fn a_fetch_cancelled_mid_sequence_starts_over_at_basic() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let now = Rc::new(Cell::new(1_000));
    let mut conn = common::AsyncConnector::new(Rc::clone(&now));
    let clock = {
        let now = Rc::clone(&now);
        move || Instant::from_millis(now.get())
    };
    let mut client: Client<_> = Client::new(
        common::config_with(ID, ClientAuth::Auto(common::secret(SECRET))),
        clock,
    );
    conn.push(invalid_client());
    conn.push(Script::Respond(token_response("never read", Some(3600))));
    let mut buf = [0u8; 2048];
    {
        let mut inner = conn.clone();
        let mut fut = std::pin::pin!(client.asynch().fetch(&mut inner, &mut buf));
        let mut cx = Context::from_waker(Waker::noop());
        // Polled until the second style's request is on its way, then
        // dropped (cancelled).
        let second_sent = || {
            let server = conn.server.borrow();
            server.logs.len() == 2
                && common::contains(&server.logs[1].borrow().written, b"grant_type=")
        };
        while !second_sent() {
            assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Pending));
        }
    }
    conn.push(Script::Respond(token_response("tok", Some(3600))));
    embassy_futures::block_on(client.asynch().fetch(&mut conn, &mut buf)).expect("a token");
    let sent: Vec<AuthStyle> = conn.server.borrow().logs[..]
        .iter()
        .map(|l| style_of(&l.borrow().written))
        .collect();
    assert_eq!(
        sent,
        [
            AuthStyle::Basic,
            AuthStyle::BasicUnencoded,
            AuthStyle::Basic
        ]
    );
}

/// The style found is part of the persisted token record: a client
/// restored after a reset sends it at once; a record made before the style
/// was known (or by a fixed method) leaves detection on.
#[test]
fn the_found_style_survives_a_reset_in_the_token_record() {
    let rig = Rig::new();
    let wall = || Some(1_800_000_000u64);
    let mut client = rig.client().with_wall_clock(wall);
    let mut connect = |ep: &TokenEndpoint<'_>| rig.server.borrow_mut().connect(ep);
    let mut buf = [0u8; 2048];
    rig.push(invalid_client());
    rig.push(invalid_client());
    rig.push(Script::Respond(token_response("tok-1", Some(3600))));
    client.fetch(&mut connect, &mut buf).expect("post works");
    let mut record = [0u8; 256];
    let n = client.export_token(&mut record).expect("export");
    assert_eq!(
        embedded_oauth2::persist::TokenRecord::parse(&record[..n])
            .expect("record")
            .auth_style(),
        AuthStyle::Post.as_u8()
    );

    // After the reset: the token is served, and the next fetch is `Post`.
    let mut restored = rig.client().with_wall_clock(wall);
    assert_eq!(restored.auth_style(), Some(AuthStyle::Basic));
    restored.restore_token(&record[..n]).expect("restore");
    assert_eq!(restored.auth_style(), Some(AuthStyle::Post));
    rig.push(Script::Respond(token_response("tok-2", Some(3600))));
    restored.fetch(&mut connect, &mut buf).expect("fetch");
    assert_eq!(rig.sent(3), [AuthStyle::Post]);

    // A fixed method records no style.
    let now = Rc::clone(&rig.now);
    let fixed: Client<_> = Client::new(
        common::config_with(ID, ClientAuth::Post(common::secret(SECRET))),
        move || Instant::from_millis(now.get()),
    );
    let mut fixed = fixed.with_wall_clock(wall);
    rig.push(Script::Respond(token_response("tok-3", Some(3600))));
    fixed.fetch(&mut connect, &mut buf).expect("fetch");
    let n = fixed.export_token(&mut record).expect("export");
    assert_eq!(
        embedded_oauth2::persist::TokenRecord::parse(&record[..n])
            .expect("record")
            .auth_style(),
        0
    );
}

/// A fetch whose style is not yet known starts at Basic: a later style
/// that met another outcome (`invalid_request`, a 5xx, a reset connection)
/// is not kept, neither for the next fetch nor through `reset_backoff`.
/// (Before: the client stayed on the middle style, and one stray
/// `invalid_client` followed by a permanent `invalid_request` on it blocked
/// it for good.)
#[test]
fn an_unconfirmed_style_is_forgotten_after_any_other_outcome() {
    for (what, second) in [
        (
            "invalid_request",
            Script::Respond(json(
                "HTTP/1.1 400 Bad Request",
                r#"{"error":"invalid_request"}"#,
            )),
        ),
        (
            "503",
            Script::Respond(json(
                "HTTP/1.1 503 Service Unavailable",
                r#"{"error":"temporarily_unavailable"}"#,
            )),
        ),
        ("reset connection", Script::ResetAfterRequest),
    ] {
        let rig = Rig::new();
        let mut client = rig.client();
        let mut connect = |ep: &TokenEndpoint<'_>| rig.server.borrow_mut().connect(ep);
        let mut buf = [0u8; 2048];
        rig.push(invalid_client());
        rig.push(second);
        assert!(client.fetch(&mut connect, &mut buf).is_err(), "{what}");
        assert_eq!(
            rig.sent(0),
            [AuthStyle::Basic, AuthStyle::BasicUnencoded],
            "{what}"
        );
        assert_eq!(client.auth_style(), Some(AuthStyle::Basic), "{what}");
        // The next fetch (after the backoff, or once reset) starts at Basic.
        if client.blocked().is_some() {
            client.reset_backoff();
        } else {
            let next = client.next_attempt().expect("backing off").as_millis();
            rig.now.set(next);
        }
        rig.push(Script::Respond(token_response("tok", Some(3600))));
        client
            .token(&mut connect, &mut buf)
            .unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert_eq!(rig.sent(2), [AuthStyle::Basic], "{what}");
    }
    // Five fetches with `reset_backoff` between them: each unconfirmed
    // fetch starts at Basic.
    let rig = Rig::new();
    let mut client = rig.client();
    let mut connect = |ep: &TokenEndpoint<'_>| rig.server.borrow_mut().connect(ep);
    let mut buf = [0u8; 2048];
    rig.push(invalid_client());
    for _ in 0..5 {
        rig.push(Script::Respond(json(
            "HTTP/1.1 400 Bad Request",
            r#"{"error":"invalid_request"}"#,
        )));
        assert!(client.fetch(&mut connect, &mut buf).is_err());
        client.reset_backoff();
    }
    assert_eq!(
        rig.sent(0),
        [
            AuthStyle::Basic,
            AuthStyle::BasicUnencoded,
            AuthStyle::Basic,
            AuthStyle::Basic,
            AuthStyle::Basic,
            AuthStyle::Basic
        ]
    );
}
