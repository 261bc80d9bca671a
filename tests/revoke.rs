//! `Client::revoke` (RFC 7009) on a scripted server: the request it sends,
//! that only a 2xx wipes the token, that nothing is sent without a token,
//! and the configuration error without an endpoint. (Against the real
//! server: `client_revokes_its_token` in `tests/interop.rs`.)
#![cfg(feature = "revocation")]

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use common::{FakeServer, Script, json, token_response};
use embedded_oauth2::error::{ConfigError, HttpError};
use embedded_oauth2::{Client, ClientAuth, Config, Error, ErrorCode, Instant, TokenEndpoint};

fn revocable(config: Config<'static, 64>) -> Config<'static, 64> {
    config.with_revocation_endpoint(
        TokenEndpoint::parse_allow_http("http://127.0.0.1:8081/oauth/revoke?x=1").unwrap(),
    )
}

struct Rig {
    now: Rc<Cell<u64>>,
    server: RefCell<FakeServer>,
}

impl Rig {
    fn new() -> Self {
        // Far from zero: a deadline counted from the wrong instant shows.
        let now = Rc::new(Cell::new(1_000_000_000));
        Self {
            server: RefCell::new(FakeServer::new(Rc::clone(&now))),
            now,
        }
    }

    fn client(&self, config: Config<'static, 64>) -> Client<'static, impl embedded_oauth2::Clock> {
        let now = Rc::clone(&self.now);
        Client::new(config, move || Instant::from_millis(now.get()))
    }

    fn push(&self, s: Script) {
        self.server.borrow_mut().push(s);
    }

    fn request(&self, i: usize) -> String {
        String::from_utf8(self.server.borrow().logs[i].borrow().written.clone()).unwrap()
    }
}

#[test]
fn revokes_with_the_clients_authentication_and_wipes_the_token() {
    let rig = Rig::new();
    let mut client = rig.client(revocable(common::config()));
    let mut connect = |ep: &TokenEndpoint<'_>| rig.server.borrow_mut().connect(ep);
    let mut buf = [0u8; 2048];
    rig.push(Script::Respond(token_response("a+b/c=", Some(3600))));
    client.token(&mut connect, &mut buf).expect("token");

    rig.push(Script::Respond(common::wire(
        "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n",
        "",
    )));
    client.revoke(&mut connect, &mut buf).expect("revoked");
    assert!(buf.iter().all(|&b| b == 0), "work buffer wiped");
    assert!(client.cached().is_none());
    let s = rig.server.borrow();
    assert_eq!(
        s.endpoints[1],
        ("127.0.0.1".to_owned(), 8081, "/oauth/revoke?x=1".to_owned())
    );
    drop(s);
    let req = rig.request(1);
    let (head, body) = req.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("POST /oauth/revoke?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8081\r\n"),
        "{head}"
    );
    // The same Basic credentials as the token request.
    let basic = rig
        .request(0)
        .lines()
        .find(|l| l.starts_with("Authorization: Basic "))
        .unwrap()
        .to_owned();
    assert!(head.lines().any(|l| l == basic), "{head}");
    assert!(head.contains("Content-Type: application/x-www-form-urlencoded\r\n"));
    assert!(
        head.ends_with(&format!("Content-Length: {}", body.len())),
        "{head}"
    );
    assert_eq!(body, "token=a%2Bb%2Fc%3D&token_type_hint=access_token");

    // Nothing cached: nothing sent.
    client
        .revoke(&mut connect, &mut buf)
        .expect("nothing to do");
    assert_eq!(rig.server.borrow().connections, 2);
    // The next token is fetched at once (min_interval lifted).
    rig.push(Script::Respond(token_response("next", Some(3600))));
    assert_eq!(
        client
            .token(&mut connect, &mut buf)
            .expect("next")
            .expose_secret(),
        "next"
    );
}

#[test]
fn post_clients_send_their_secret_in_the_body() {
    let rig = Rig::new();
    let config = common::config_with("dev 1", ClientAuth::Post(common::secret("s&t")));
    let mut client = rig.client(revocable(config));
    let mut connect = |ep: &TokenEndpoint<'_>| rig.server.borrow_mut().connect(ep);
    let mut buf = [0u8; 2048];
    rig.push(Script::Respond(token_response("tok", Some(3600))));
    client.token(&mut connect, &mut buf).expect("token");
    rig.push(Script::Respond(common::wire(
        "HTTP/1.1 204 No Content\r\n\r\n",
        "",
    )));
    client.revoke(&mut connect, &mut buf).expect("revoked");
    let req = rig.request(1);
    let (head, body) = req.split_once("\r\n\r\n").unwrap();
    assert!(!head.contains("Authorization"), "{head}");
    assert_eq!(
        body,
        "token=tok&token_type_hint=access_token&client_id=dev+1&client_secret=s%26t"
    );
}

/// Any other answer is an error and the token stays (the caller may try
/// again, or drop it with `invalidate`).
#[test]
fn errors_keep_the_token() {
    for (what, script, check) in [
        (
            "unsupported_token_type",
            Script::Respond(json(
                "HTTP/1.1 400 Bad Request",
                r#"{"error":"unsupported_token_type"}"#,
            )),
            (|e: &Error<common::StreamError>| matches!(e, Error::OAuth(o) if o.code.as_str() == "unsupported_token_type"))
                as fn(&Error<common::StreamError>) -> bool,
        ),
        (
            "invalid_client",
            Script::Respond(json(
                "HTTP/1.1 401 Unauthorized",
                r#"{"error":"invalid_client"}"#,
            )),
            |e| matches!(e, Error::OAuth(o) if o.code == ErrorCode::InvalidClient),
        ),
        (
            "503",
            Script::Respond(common::wire(
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: {len}\r\n\r\n",
                "busy",
            )),
            |e| {
                matches!(
                    e,
                    Error::Http(HttpError::UnexpectedStatus { status: 503, .. })
                )
            },
        ),
        (
            "refused",
            Script::Refuse(common::StreamError::Refused),
            |e| matches!(e, Error::Transport(common::StreamError::Refused)),
        ),
    ] {
        let rig = Rig::new();
        let mut client = rig.client(revocable(common::config()));
        let mut connect = |ep: &TokenEndpoint<'_>| rig.server.borrow_mut().connect(ep);
        let mut buf = [0u8; 2048];
        rig.push(Script::Respond(token_response("tok", Some(3600))));
        client.token(&mut connect, &mut buf).expect("token");
        rig.push(script);
        let e = client.revoke(&mut connect, &mut buf).unwrap_err();
        assert!(check(&e), "{what}: {e:?}");
        assert!(buf.iter().all(|&b| b == 0), "{what}: work buffer wiped");
        assert_eq!(
            client.cached().map(|t| t.expose_secret().to_owned()),
            Some("tok".to_owned()),
            "{what}"
        );
        // A failed revocation is no failed fetch: no backoff.
        assert_eq!(client.next_attempt(), None, "{what}");
    }
}

#[test]
fn without_an_endpoint_it_is_a_configuration_error() {
    let rig = Rig::new();
    let mut client = rig.client(common::config());
    let mut connect = |ep: &TokenEndpoint<'_>| rig.server.borrow_mut().connect(ep);
    let mut buf = [0u8; 2048];
    rig.push(Script::Respond(token_response("tok", Some(3600))));
    client.token(&mut connect, &mut buf).expect("token");
    let e = client.revoke(&mut connect, &mut buf).unwrap_err();
    assert!(
        matches!(e, Error::Config(ConfigError::NoRevocationEndpoint)),
        "{e:?}"
    );
    assert_eq!(rig.server.borrow().connections, 1);
    assert!(client.cached().is_some());
}

#[cfg(feature = "async")]
#[test]
fn async_revoke() {
    let now = Rc::new(Cell::new(1_000));
    let mut conn = common::AsyncConnector::new(Rc::clone(&now));
    let clock = {
        let now = Rc::clone(&now);
        move || Instant::from_millis(now.get())
    };
    let mut client: Client<_> = Client::new(revocable(common::config()), clock);
    conn.push(Script::Respond(token_response("tok", Some(3600))));
    conn.push(Script::Respond(common::wire(
        "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n",
        "{}",
    )));
    let mut buf = [0u8; 2048];
    embassy_futures::block_on(async {
        client
            .asynch()
            .token(&mut conn, &mut buf)
            .await
            .expect("token");
        client
            .asynch()
            .revoke(&mut conn, &mut buf)
            .await
            .expect("revoked");
    });
    assert!(client.cached().is_none());
    assert_eq!(conn.connections(), 2);
}
