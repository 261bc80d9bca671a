//! Secrets stay secret: redacted `Debug`, errors without credentials, and no
//! credential left in the caller's work buffer once the request was sent.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use base64ct::{Base64, Encoding};
use common::{
    AtEnd, Delivery, FakeServer, Script, Scripted, StreamError, config_with, json, secret,
    token_response,
};
use embedded_oauth2::http::{Exchange, encode_request};
use embedded_oauth2::{
    ClientAuth, ClientSecret, Config, Error, ErrorCode, Instant, Limits, TokenEndpoint, blocking,
};

const ID: &str = "device-7";
/// Distinctive, and with characters that form-urlencoding changes.
const SECRET: &str = "Zq7!p@ss w0rd&=sEcReT~4c9";
/// `SECRET` form-urlencoded (RFC 6749 §2.3.1 / client_secret_post).
const SECRET_FORM: &str = "Zq7%21p%40ss+w0rd%26%3DsEcReT%7E4c9";
const TOKEN: &str = "AT-9f8e7d6c5b4a-UNIQUE-xyzzy-0123456789";

#[derive(Debug, Clone, Copy)]
enum Method {
    Basic,
    BasicUnencoded,
    Post,
}

const METHODS: [Method; 3] = [Method::Basic, Method::BasicUnencoded, Method::Post];

fn auth(m: Method) -> ClientAuth<64> {
    match m {
        Method::Basic => ClientAuth::Basic(secret(SECRET)),
        Method::BasicUnencoded => ClientAuth::BasicUnencoded(secret(SECRET)),
        Method::Post => ClientAuth::Post(secret(SECRET)),
    }
}

fn config(m: Method) -> Config<'static, 64> {
    config_with(ID, auth(m))
}

/// What the wire carries for `m` (and what must not survive anywhere else).
fn credential_on_wire(m: Method) -> String {
    match m {
        Method::Basic => format!(
            "Authorization: Basic {}\r\n",
            Base64::encode_string(format!("{ID}:{SECRET_FORM}").as_bytes())
        ),
        Method::BasicUnencoded => format!(
            "Authorization: Basic {}\r\n",
            Base64::encode_string(format!("{ID}:{SECRET}").as_bytes())
        ),
        Method::Post => format!("&client_secret={SECRET_FORM}"),
    }
}

/// Every secret-derived string: the secret raw and form-encoded, and the
/// base64 credentials of both Basic flavours.
fn secret_forms() -> Vec<String> {
    vec![
        SECRET.to_owned(),
        SECRET_FORM.to_owned(),
        Base64::encode_string(format!("{ID}:{SECRET_FORM}").as_bytes()),
        Base64::encode_string(format!("{ID}:{SECRET}").as_bytes()),
    ]
}

/// The first 10-byte window of any secret form found in `hay`, if any.
fn leak(hay: &[u8], forms: &[String]) -> Option<String> {
    for f in forms {
        for w in f.as_bytes().windows(10) {
            if common::contains(hay, w) {
                return Some(String::from_utf8_lossy(w).into_owned());
            }
        }
    }
    None
}

fn assert_no_secret(text: &str, ctx: &str) {
    assert!(
        leak(text.as_bytes(), &secret_forms()).is_none(),
        "{ctx}: secret in {text:?}"
    );
}

fn assert_no_token(text: &str, ctx: &str) {
    assert!(
        leak(text.as_bytes(), &[TOKEN.to_owned()]).is_none(),
        "{ctx}: token in {text:?}"
    );
}

fn ok_response() -> Vec<u8> {
    json(
        "HTTP/1.1 200 OK",
        &format!(
            r#"{{"access_token":"{TOKEN}","token_type":"Bearer","expires_in":3600,"scope":"a b"}}"#
        ),
    )
}

#[test]
fn the_leak_detector_detects() {
    // Guards the helpers above: a buffer holding the credential is a leak.
    for m in METHODS {
        let mut buf = [0u8; 1024];
        let n = encode_request(&config(m), &mut buf).unwrap();
        let wire = credential_on_wire(m);
        assert!(common::contains(&buf[..n], wire.as_bytes()), "{m:?}");
        assert!(leak(&buf, &secret_forms()).is_some(), "{m:?}");
    }
    assert!(leak(b"xx AT-9f8e7d6c5b4a yy", &[TOKEN.to_owned()]).is_some());
}

#[test]
fn debug_of_secret_holders_is_redacted() {
    let s = ClientSecret::<64>::new(SECRET).unwrap();
    assert_eq!(format!("{s:?}"), "ClientSecret(<redacted>)");
    assert_eq!(format!("{s:#?}"), "ClientSecret(<redacted>)");
    assert_eq!(s.expose_secret(), SECRET);

    for (m, expected) in [
        (Method::Basic, "Basic(<redacted>)"),
        (Method::BasicUnencoded, "BasicUnencoded(<redacted>)"),
        (Method::Post, "Post(<redacted>)"),
    ] {
        assert_eq!(format!("{:?}", auth(m)), expected);
        let c = config(m).with_scope("a b").unwrap();
        for text in [format!("{c:?}"), format!("{c:#?}")] {
            assert_no_secret(&text, &format!("Config {m:?}"));
            // The Debug output is real: it shows the non-secret parts.
            assert!(text.contains(ID), "{text}");
            assert!(text.contains(expected), "{text}");
            assert!(text.contains("127.0.0.1"), "{text}");
        }
    }
}

#[test]
fn debug_of_tokens_is_redacted() {
    // TokenResponse from a real exchange.
    let config = config(Method::Basic);
    let mut buf = [0u8; 2048];
    let mut stream = Scripted::new(ok_response(), Delivery::Whole);
    let ex = Exchange::new(&config, &mut buf, Limits::new()).unwrap();
    let resp = blocking::run(&mut stream, ex).unwrap();
    assert_eq!(resp.access_token, TOKEN);
    for text in [format!("{resp:?}"), format!("{resp:#?}")] {
        assert_no_token(&text, "TokenResponse");
        assert!(text.contains("<redacted>"), "{text}");
        assert!(text.contains("3600"), "{text}");
    }

    // The Token a Client holds.
    let now = Rc::new(Cell::new(0u64));
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: embedded_oauth2::Client<_> =
        embedded_oauth2::Client::new(config, || Instant::from_millis(now.get()));
    server.borrow_mut().push(Script::Respond(ok_response()));
    let mut buf = [0u8; 2048];
    let t = client.token(&mut connect, &mut buf).unwrap();
    assert_eq!(t.expose_secret(), TOKEN);
    for text in [format!("{t:?}"), format!("{t:#?}")] {
        assert_no_token(&text, "Token");
        assert_no_secret(&text, "Token");
        assert!(text.contains("<redacted>"), "{text}");
        assert!(text.contains(&format!("len: {}", TOKEN.len())), "{text}");
    }
    let cached = format!("{:?}", client.cached());
    assert_no_token(&cached, "cached()");
    assert!(cached.starts_with("Some(Token {"), "{cached}");
}

/// Runs one exchange and returns its error.
fn failing_exchange(m: Method, stream: &mut Scripted) -> Error<StreamError> {
    let config = config(m);
    let mut buf = [0u8; 2048];
    let ex = Exchange::new(&config, &mut buf, Limits::new()).unwrap();
    match blocking::run(stream, ex) {
        Ok(t) => panic!("expected an error, got {t:?}"),
        Err(e) => e,
    }
}

#[test]
fn errors_never_contain_the_secret() {
    for m in METHODS {
        let mut errors: Vec<(&str, Error<StreamError>)> = vec![
            (
                "401 invalid_client",
                failing_exchange(
                    m,
                    &mut Scripted::new(
                        common::wire(
                            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"devices\"\r\nContent-Length: {len}\r\n\r\n",
                            r#"{"error":"invalid_client","error_description":"bad credentials for device-7"}"#,
                        ),
                        Delivery::Whole,
                    ),
                ),
            ),
            (
                "500 html",
                failing_exchange(
                    m,
                    &mut Scripted::new(
                        common::wire(
                            "HTTP/1.1 500 Oops\r\nContent-Length: {len}\r\n\r\n",
                            "<h1>x</h1>",
                        ),
                        Delivery::Bytewise,
                    ),
                ),
            ),
            (
                "bad json",
                failing_exchange(
                    m,
                    &mut Scripted::new(json("HTTP/1.1 200 OK", "{\"a\":"), Delivery::Whole),
                ),
            ),
            (
                "eof",
                failing_exchange(
                    m,
                    &mut Scripted::new(&b"HTTP/1.1 200 OK\r\nContent-Len"[..], Delivery::Whole),
                ),
            ),
            (
                "reset while reading",
                failing_exchange(
                    m,
                    &mut Scripted::new(Vec::new(), Delivery::Whole)
                        .ending_with(AtEnd::Fail(StreamError::Reset)),
                ),
            ),
            (
                "reset while writing",
                failing_exchange(
                    m,
                    &mut Scripted::new(Vec::new(), Delivery::Whole).failing_write_after(100),
                ),
            ),
            (
                "redirect",
                failing_exchange(
                    m,
                    &mut Scripted::new(
                        &b"HTTP/1.1 302 Found\r\nLocation: https://x/?secret=no\r\n\r\n"[..],
                        Delivery::Whole,
                    ),
                ),
            ),
        ];
        // The request does not fit the work buffer.
        let config = config(m);
        let mut small = [0u8; 40];
        match Exchange::new(&config, &mut small, Limits::new()) {
            Err(e) => errors.push(("request capacity", e.widen())),
            Ok(_) => panic!("40 bytes cannot hold the request"),
        }
        assert!(
            small.iter().all(|&b| b == 0),
            "{m:?}: partial request left behind"
        );
        // The response does not fit.
        let mut buf = [0u8; 400];
        let ex = Exchange::new(&config, &mut buf, Limits::new()).unwrap();
        let big = json(
            "HTTP/1.1 200 OK",
            &format!(
                r#"{{"access_token":"{}","token_type":"Bearer"}}"#,
                "k".repeat(600)
            ),
        );
        match blocking::run(&mut Scripted::new(big, Delivery::Chunks(7)), ex) {
            Err(e) => errors.push(("response capacity", e)),
            Ok(t) => panic!("{t:?}"),
        }

        assert_eq!(errors.len(), 9);
        for (what, e) in &errors {
            let ctx = format!("{m:?} / {what}");
            let display = format!("{e}");
            assert!(!display.is_empty(), "{ctx}");
            assert_no_secret(&display, &ctx);
            assert_no_secret(&format!("{e:?}"), &ctx);
            assert_no_secret(&format!("{e:#?}"), &ctx);
        }
    }
}

#[test]
fn client_errors_never_contain_the_secret() {
    let now = Rc::new(Cell::new(0u64));
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: embedded_oauth2::Client<_> =
        embedded_oauth2::Client::new(config(Method::Post), || Instant::from_millis(now.get()));
    server
        .borrow_mut()
        .push(Script::Refuse(StreamError::Refused));
    server.borrow_mut().push(Script::Respond(json(
        "HTTP/1.1 400 Bad Request",
        r#"{"error":"invalid_request"}"#,
    )));
    server.borrow_mut().push(Script::ResetAfterRequest);
    let mut errors = Vec::new();

    // 1. Refused (transient): an attempt, then backoff.
    let mut buf = [0u8; 2048];
    let e = client.token(&mut connect, &mut buf).unwrap_err();
    assert!(matches!(e, Error::Transport(StreamError::Refused)), "{e:?}");
    assert!(buf.iter().all(|&b| b == 0));
    errors.push(format!("{e} {e:?} {e:#?}"));
    // While backing off: `Error::Backoff`, no connection.
    let retry_at = client.next_attempt().expect("backing off");
    let e = client.token(&mut connect, &mut buf).unwrap_err();
    assert_eq!(e, Error::Backoff(retry_at));
    errors.push(format!("{e} {e:?} {e:#?}"));
    assert_eq!(server.borrow().connections, 1);

    // 2. `invalid_request` (permanent), then the same error again without a
    //    connection.
    now.set(retry_at.as_millis());
    let e = client.token(&mut connect, &mut buf).unwrap_err();
    assert!(
        matches!(&e, Error::OAuth(o) if o.code == ErrorCode::InvalidRequest),
        "{e:?}"
    );
    assert!(buf.iter().all(|&b| b == 0));
    errors.push(format!("{e} {e:?} {e:#?}"));
    let again = client.token(&mut connect, &mut buf).unwrap_err();
    assert_eq!(again.oauth(), e.oauth());
    errors.push(format!("{again} {again:?} {again:#?}"));
    errors.push(format!("{:?}", client.blocked()));
    assert_eq!(server.borrow().connections, 2);

    // 3. An explicit fetch: reset while reading.
    let e = client.fetch(&mut connect, &mut buf).unwrap_err();
    assert!(matches!(e, Error::Transport(StreamError::Reset)), "{e:?}");
    assert!(buf.iter().all(|&b| b == 0));
    errors.push(format!("{e} {e:?} {e:#?}"));

    assert_eq!(server.borrow().connections, 3);
    for (i, text) in errors.iter().enumerate() {
        assert_no_secret(text, &format!("client error {i}"));
    }
    // The server really received the credential each time it was asked.
    assert_eq!(
        server.borrow().logs.len(),
        2,
        "the refused one had no stream"
    );
    for log in &server.borrow().logs {
        assert!(common::contains(
            &log.borrow().written,
            credential_on_wire(Method::Post).as_bytes()
        ));
    }
}

/// Runs one exchange over `stream` with a buffer of `size` bytes (prefilled
/// with `.`), returning the buffer afterwards and whether it succeeded.
fn run_and_keep_buffer(m: Method, stream: &mut Scripted, size: usize) -> (Vec<u8>, bool) {
    let config = config(m);
    let mut buf = vec![b'.'; size];
    let ex = Exchange::new(&config, &mut buf, Limits::new()).unwrap();
    let ok = match blocking::run(stream, ex) {
        Ok(t) => {
            assert_eq!(t.access_token, TOKEN);
            true
        }
        Err(_) => false,
    };
    // The TokenResponse (which borrows the buffer) is gone here.
    (buf, ok)
}

#[test]
fn request_is_wiped_from_the_buffer_once_sent() {
    let mut request_len = [0usize; 3];
    for (i, m) in METHODS.into_iter().enumerate() {
        let mut b = [0u8; 1024];
        request_len[i] = encode_request(&config(m), &mut b).unwrap();
        for delivery in Delivery::ALL {
            let ctx = format!("{m:?} {delivery:?}");
            let mut stream = Scripted::new(ok_response(), delivery);
            let log = stream.log();
            let (buf, ok) = run_and_keep_buffer(m, &mut stream, 2048);
            assert!(ok, "{ctx}");
            // The credential did go out...
            assert!(
                common::contains(&log.borrow().written, credential_on_wire(m).as_bytes()),
                "{ctx}"
            );
            // ...and no trace of it stays in the region the request occupied
            // (the response was written over its start) nor anywhere else.
            let region = &buf[..request_len[i]];
            assert_eq!(leak(region, &secret_forms()), None, "{ctx}");
            assert_eq!(leak(&buf, &secret_forms()), None, "{ctx}");
            assert!(!common::contains(&buf, b"Authorization"), "{ctx}");
            assert!(!common::contains(&buf, b"client_secret"), "{ctx}");
        }
    }
}

#[test]
fn request_is_wiped_when_the_exchange_fails_after_sending() {
    let responses: [(&str, Vec<u8>, AtEnd); 4] = [
        (
            "reset before any response",
            Vec::new(),
            AtEnd::Fail(StreamError::Reset),
        ),
        ("immediate EOF", Vec::new(), AtEnd::Eof),
        (
            "401",
            json("HTTP/1.1 401 Unauthorized", r#"{"error":"invalid_client"}"#),
            AtEnd::Eof,
        ),
        (
            "truncated",
            b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{".to_vec(),
            AtEnd::Eof,
        ),
    ];
    for m in METHODS {
        for (what, r, end) in &responses {
            for delivery in [Delivery::Whole, Delivery::Bytewise] {
                let ctx = format!("{m:?} {what} {delivery:?}");
                let mut stream = Scripted::new(r.clone(), delivery).ending_with(*end);
                let log = stream.log();
                let (buf, ok) = run_and_keep_buffer(m, &mut stream, 2048);
                assert!(!ok, "{ctx}");
                assert!(
                    common::contains(&log.borrow().written, credential_on_wire(m).as_bytes()),
                    "{ctx}"
                );
                assert_eq!(leak(&buf, &secret_forms()), None, "{ctx}");
            }
        }
    }
}

#[test]
fn request_is_wiped_when_writing_fails() {
    for m in METHODS {
        for (sent, delivery) in [
            (0, Delivery::Whole),
            (1, Delivery::Whole),
            (90, Delivery::Bytewise),
        ] {
            let ctx = format!("{m:?} after {sent} bytes");
            let mut stream = Scripted::new(ok_response(), delivery).failing_write_after(sent);
            let (buf, ok) = run_and_keep_buffer(m, &mut stream, 2048);
            assert!(!ok, "{ctx}");
            assert_eq!(leak(&buf, &secret_forms()), None, "{ctx}");
        }
    }
}

#[test]
fn request_is_wiped_when_an_exchange_is_dropped_unsent() {
    for m in METHODS {
        let config = config(m);
        let mut buf = [0u8; 2048];
        {
            // An exchange abandoned before sending (e.g. the connect failed).
            let ex = Exchange::new(&config, &mut buf, Limits::new()).unwrap();
            assert!(!ex.to_send().is_empty());
        }
        assert_eq!(leak(&buf, &secret_forms()), None, "{m:?}");
    }
}

#[test]
fn write_zero_error_has_no_secret() {
    // A transport that takes nothing: WriteZero. The request was never sent.
    struct Nothing;
    impl embedded_io::ErrorType for Nothing {
        type Error = StreamError;
    }
    impl embedded_io::Read for Nothing {
        fn read(&mut self, _: &mut [u8]) -> Result<usize, StreamError> {
            Ok(0)
        }
    }
    impl embedded_io::Write for Nothing {
        fn write(&mut self, _: &[u8]) -> Result<usize, StreamError> {
            Ok(0)
        }
        fn flush(&mut self) -> Result<(), StreamError> {
            Ok(())
        }
    }
    let config = config(Method::Basic);
    let mut buf = [0u8; 2048];
    let ex = Exchange::new(&config, &mut buf, Limits::new()).unwrap();
    let e = blocking::run(&mut Nothing, ex).unwrap_err();
    assert!(matches!(e, Error::WriteZero));
    assert_no_secret(&format!("{e} {e:?}"), "WriteZero");
}

#[test]
fn client_wipes_the_buffer_whatever_happens() {
    let now = Rc::new(Cell::new(0u64));
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: embedded_oauth2::Client<_> =
        embedded_oauth2::Client::new(config(Method::Basic), || Instant::from_millis(now.get()));
    server
        .borrow_mut()
        .push(Script::Refuse(StreamError::Refused));
    server
        .borrow_mut()
        .push(Script::Respond(token_response(TOKEN, Some(60))));
    for expect_ok in [false, true] {
        let mut buf = [b'.'; 2048];
        let r = client
            .token(&mut connect, &mut buf)
            .map(|t| t.expose_secret().to_owned());
        assert_eq!(r.is_ok(), expect_ok, "{r:?}");
        assert!(buf.iter().all(|&b| b == 0));
        if !expect_ok {
            // While backing off no request is built: the buffer is not
            // touched at all (nothing to wipe).
            let mut untouched = [b'.'; 2048];
            let retry_at = client.next_attempt().expect("backing off");
            assert_eq!(
                client.token(&mut connect, &mut untouched).unwrap_err(),
                Error::Backoff(retry_at)
            );
            assert!(untouched.iter().all(|&b| b == b'.'));
            assert_eq!(server.borrow().connections, 1);
            now.set(retry_at.as_millis());
        }
    }
    assert_eq!(server.borrow().connections, 2);
}

/// A signed client assertion is a credential too: once sent, no part of it
/// (nor the secret that keyed it) stays in the caller's buffer.
#[cfg(all(feature = "client-secret-jwt", feature = "p256"))]
#[test]
#[cfg_attr(miri, ignore = "ES256 signing takes far too long interpreted")]
fn assertions_are_wiped_from_the_buffer_once_sent() {
    use embedded_oauth2::assertion::{Assertion, CounterJti, P256Signer};
    use embedded_oauth2::{ClientAuth, ClientId, ClientSecret, Config, TokenEndpoint};
    let wall = || Some(1_767_225_600u64);
    let jti = CounterJti::new(*b"wipe-jti");
    let signer = P256Signer::from_bytes(&[0x42; 32]).unwrap();
    let endpoint = TokenEndpoint::parse_allow_http(common::ENDPOINT).unwrap();
    let hs = Config::new(
        endpoint,
        ClientId::new(ID).unwrap(),
        ClientAuth::SecretJwt(ClientSecret::<64>::new(SECRET).unwrap()),
    )
    .with_assertion(Assertion::new(&wall, &jti));
    let es = Config::<0>::new(
        endpoint,
        ClientId::new(ID).unwrap(),
        ClientAuth::PrivateKeyJwt,
    )
    .with_assertion(Assertion::new(&wall, &jti).with_signer(&signer));
    fn check<const N: usize>(config: &Config<'_, N>, ctx: &str) {
        for delivery in Delivery::ALL {
            let mut stream = Scripted::new(ok_response(), delivery);
            let log = stream.log();
            let mut buf = vec![b'.'; 2048];
            let ex = Exchange::new(config, &mut buf, Limits::new()).unwrap();
            let ok = blocking::run(&mut stream, ex).is_ok();
            assert!(ok, "{ctx} {delivery:?}");
            // The assertion went out: find its signature part on the wire...
            let written = String::from_utf8_lossy(&log.borrow().written).into_owned();
            let jws = written
                .split("client_assertion=")
                .nth(1)
                .expect("an assertion")
                .to_owned();
            let signature = jws.rsplit('.').next().unwrap().to_owned();
            assert!(signature.len() >= 43, "{ctx}");
            // ...and neither it, the claims nor the secret stay behind.
            let mut forms = secret_forms();
            forms.push(signature);
            forms.push(jws.split('.').nth(1).unwrap().to_owned());
            assert_eq!(leak(&buf, &forms), None, "{ctx} {delivery:?}");
            assert!(
                !common::contains(&buf, b"client_assertion"),
                "{ctx} {delivery:?}"
            );
        }
    }
    check(&hs, "client_secret_jwt");
    check(&es, "private_key_jwt");
}
