//! Requests to resource servers through the crate (`blocking::request`,
//! `asynch::request`, `http::ResourceExchange`): the request as written
//! (golden bytes), flushed, the token wiped from the buffer, the answer's
//! status counted whatever the size of its page, and the classification
//! `Client::call` acts on. The servers are scripted (`tests/common`): a
//! 100 KB error page is fault injection; the real services are in
//! `tests/interop.rs`.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use common::{FakeServer, Script, contains, token_response, wire};
use embedded_oauth2::error::{Buffer, ConfigError, Error};
use embedded_oauth2::http::{
    Method, ResourceExchange, ResourceRequest, ResourceResponse, ResourceUrl,
    encode_resource_request,
};
use embedded_oauth2::{Attempt, CallError, Client, Instant, Limits, Token, TokenEndpoint};

const URL: &str = "http://127.0.0.1:9090/receipts/2026-0042?format=pdf";

fn bearer(token: &str) -> Token<64, 16> {
    let mut t = Token::default();
    let mut work = [0u8; 256];
    let body = format!(r#"{{"access_token":"{token}","token_type":"Bearer"}}"#);
    let r = embedded_oauth2::http::parse_token_response(200, body.as_bytes(), &mut work)
        .expect("token response");
    t.set(
        &r,
        Instant::from_secs(0),
        &embedded_oauth2::RefreshPolicy::default(),
    )
    .expect("set");
    t
}

/// The request, byte for byte: request line with the query, `Host` with
/// the port, the token, then a body with its type and length.
#[test]
fn requests_are_written_as_expected() {
    let url = ResourceUrl::parse_allow_http(URL).unwrap();
    let token = bearer("tok-1");
    let mut buf = [0u8; 512];
    let n = encode_resource_request(&ResourceRequest::get(&url), &token, &mut buf).unwrap();
    let ua = concat!("embedded-oauth2/", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        std::str::from_utf8(&buf[..n]).unwrap(),
        format!(
            "GET /receipts/2026-0042?format=pdf HTTP/1.1\r\nHost: 127.0.0.1:9090\r\n\
             Authorization: Bearer tok-1\r\nAccept: */*\r\nUser-Agent: {ua}\r\n\
             Connection: close\r\n\r\n"
        )
    );
    let url = ResourceUrl::parse("https://[::1]/v1/readings").unwrap();
    let req = ResourceRequest::new(Method::Post, &url)
        .with_body("application/json", br#"{"t":21.5}"#)
        .unwrap()
        .with_dpop_proof("eyJ0.eyJ1.c2ln")
        .unwrap();
    let n = encode_resource_request(&req, &token, &mut buf).unwrap();
    assert_eq!(
        std::str::from_utf8(&buf[..n]).unwrap(),
        format!(
            "POST /v1/readings HTTP/1.1\r\nHost: [::1]\r\nAuthorization: Bearer tok-1\r\n\
             DPoP: eyJ0.eyJ1.c2ln\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\
             Accept: */*\r\nUser-Agent: {ua}\r\nConnection: close\r\n\r\n{{\"t\":21.5}}"
        )
    );
    // A POST without a body still says its length.
    let n = encode_resource_request(&ResourceRequest::new(Method::Post, &url), &token, &mut buf)
        .unwrap();
    assert!(contains(&buf[..n], b"\r\nContent-Length: 0\r\n"));
    // Header injection is refused at construction.
    for ct in ["", "text/plain\r\nX-Evil: 1", "t\u{e9}xt"] {
        assert_eq!(
            ResourceRequest::get(&url).with_body(ct, b"").err(),
            Some(ConfigError::InvalidHeaderValue)
        );
    }
    for proof in ["", "a b", "a\r\nb", "a+b"] {
        assert_eq!(
            ResourceRequest::get(&url).with_dpop_proof(proof).err(),
            Some(ConfigError::InvalidHeaderValue)
        );
    }
    // A header value handed over from the token's owner, checked.
    let n = encode_resource_request(&ResourceRequest::get(&url), "Bearer handed-over", &mut buf)
        .unwrap();
    assert!(contains(
        &buf[..n],
        b"\r\nAuthorization: Bearer handed-over\r\n"
    ));
    for bad in ["", "Bearer a\r\nX-Evil: 1", "Bearer \u{e9}"] {
        assert!(matches!(
            encode_resource_request(&ResourceRequest::get(&url), bad, &mut buf),
            Err(Error::Config(ConfigError::InvalidHeaderValue))
        ));
    }
    // Too small a buffer names the request and the size it needs.
    let mut small = [0u8; 40];
    match encode_resource_request(&ResourceRequest::get(&url), &token, &mut small) {
        Err(Error::Capacity(c)) => {
            assert_eq!(c.buffer, Buffer::Request);
            assert!(c.needed > 40);
        }
        other => panic!("{other:?}"),
    }
}

/// Through `Client::call` and `blocking::request`: a 401 behind a 100 KB
/// error page (far more than the 2 KiB buffer) is still a 401, so the
/// token is renewed and the request made again; the request was flushed
/// and the token is gone from the buffer.
#[test]
fn a_401_with_a_large_error_page_renews_the_token() {
    let now = Rc::new(Cell::new(0));
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let clock = move || Instant::from_millis(now.get());
    let mut client: Client<_> = Client::new(common::config(), clock);
    let page = "x".repeat(100_000);
    let mut s = server.borrow_mut();
    s.push(Script::Respond(token_response("tok-1", Some(3600))));
    s.push(Script::Respond(wire(
        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer error=\"invalid_token\"\r\n\
         Content-Type: text/html\r\nContent-Length: {len}\r\n\r\n",
        &page,
    )));
    s.push(Script::Respond(token_response("tok-2", Some(3600))));
    s.push(Script::Respond(wire(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n",
        r#"{"receipt":"2026-0042"}"#,
    )));
    drop(s);

    let url = ResourceUrl::parse_allow_http(URL).unwrap();
    let mut work = [0u8; 2048];
    let mut body = vec![0u8; 2048];
    let mut statuses = Vec::new();
    let answer = client
        .call(&mut connect, &mut work, |k, token| {
            let r = embedded_oauth2::blocking::request(
                k,
                &ResourceRequest::get(&url),
                token,
                &mut body,
            );
            if let Ok(r) = &r {
                statuses.push((r.status, r.is_truncated()));
            }
            r.map(ResourceResponse::attempt)
        })
        .expect("call");
    assert_eq!(statuses, [(401, true), (200, false)]);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body(&body), br#"{"receipt":"2026-0042"}"#);
    let s = server.borrow();
    assert_eq!(s.connections, 4, "token, 401, new token, 200");
    assert_eq!(
        s.endpoints[1],
        (
            "127.0.0.1".into(),
            9090,
            "/receipts/2026-0042?format=pdf".into()
        )
    );
    let second = s.logs[3].borrow();
    assert!(contains(
        &second.written,
        b"Authorization: Bearer tok-2\r\n"
    ));
    assert!(second.flushes >= 1, "the request was flushed");
    assert_eq!(second.written_at_first_read, Some(second.written.len()));
    // The request (with the token) is not left in the buffer.
    assert!(!contains(&body, b"tok-2") && !contains(&body, b"tok-1"));
}

/// A 2xx whose body does not fit is the caller's buffer, named with its
/// size; a refusal twice is `Rejected`; a 403 is an answer, not a refusal.
#[test]
fn capacity_rejection_and_other_statuses() {
    let url = ResourceUrl::parse_allow_http(URL).unwrap();
    let token = bearer("tok-1");
    let server = RefCell::new(FakeServer::new(Rc::new(Cell::new(0))));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let big = "y".repeat(5000);
    server.borrow_mut().push(Script::Respond(wire(
        "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n",
        &big,
    )));
    let mut body = vec![0u8; 1024];
    match embedded_oauth2::blocking::request(
        &mut connect,
        &ResourceRequest::get(&url),
        &token,
        &mut body,
    ) {
        Err(Error::Capacity(c)) => {
            assert_eq!(c.buffer, Buffer::Response);
            assert!(c.needed > 5000, "{c:?}");
        }
        other => panic!("{other:?}"),
    }
    server.borrow_mut().push(Script::Respond(wire(
        "HTTP/1.1 403 Forbidden\r\nContent-Length: {len}\r\n\r\n",
        "insufficient_scope",
    )));
    let r = embedded_oauth2::blocking::request(
        &mut connect,
        &ResourceRequest::get(&url),
        &token,
        &mut body,
    )
    .unwrap();
    assert_eq!((r.status, r.body(&body)), (403, &b"insufficient_scope"[..]));
    assert!(matches!(r.attempt(), Attempt::Done(_)));

    // A 401 page within the reader's limit but over the buffer: a 401,
    // with what fit of its page.
    server.borrow_mut().push(Script::Respond(wire(
        "HTTP/1.1 401 Unauthorized\r\nContent-Length: {len}\r\n\r\n",
        &big,
    )));
    let r = embedded_oauth2::blocking::request(
        &mut connect,
        &ResourceRequest::get(&url),
        &token,
        &mut body,
    )
    .unwrap();
    assert_eq!((r.status, r.is_truncated()), (401, true));
    assert!(r.body(&body).iter().all(|&b| b == b'y') && !r.body(&body).is_empty());
    assert!(matches!(r.attempt(), Attempt::TokenRejected));

    // A 401 whose connection ends inside its page, or is reset there: a
    // 401 all the same. A 200 cut short is an error (its body is wanted).
    let mut cut = wire(
        "HTTP/1.1 401 Unauthorized\r\nContent-Length: {len}\r\n\r\n",
        &"z".repeat(1000),
    );
    cut.truncate(cut.len() - 500);
    server.borrow_mut().push(Script::Respond(cut));
    let r = embedded_oauth2::blocking::request(
        &mut connect,
        &ResourceRequest::get(&url),
        &token,
        &mut body,
    )
    .unwrap();
    assert_eq!(
        (r.status, r.is_truncated(), r.body(&body).len()),
        (401, true, 500)
    );
    server.borrow_mut().push(Script::Respond(wire(
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
        "short",
    )));
    assert!(matches!(
        embedded_oauth2::blocking::request(
            &mut connect,
            &ResourceRequest::get(&url),
            &token,
            &mut body
        ),
        Err(Error::Http(
            embedded_oauth2::error::HttpError::UnexpectedEof
        ))
    ));

    // Refused, renewed, refused again: one retry, then `Rejected`.
    let now = Rc::new(Cell::new(0));
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> =
        Client::new(common::config(), move || Instant::from_millis(now.get()));
    for t in ["tok-1", "tok-2"] {
        server
            .borrow_mut()
            .push(Script::Respond(token_response(t, Some(3600))));
        server.borrow_mut().push(Script::Respond(wire(
            "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
            "",
        )));
    }
    let mut work = [0u8; 2048];
    let r = client.call(&mut connect, &mut work, |k, token| {
        embedded_oauth2::blocking::request(k, &ResourceRequest::get(&url), token, &mut body)
            .map(ResourceResponse::attempt)
    });
    assert!(matches!(r, Err(CallError::Rejected)), "{r:?}");
    assert_eq!(server.borrow().connections, 4);
}

/// The sans-IO exchange on its own, byte by byte, and dropped unsent: the
/// buffer holds no token afterwards.
#[test]
fn the_exchange_alone() {
    let url = ResourceUrl::parse_allow_http(URL).unwrap();
    let token = bearer("secret-token");
    let mut buf = vec![0u8; 1024];
    {
        let ex =
            ResourceExchange::new(&ResourceRequest::get(&url), &token, &mut buf, Limits::new())
                .unwrap();
        assert!(contains(ex.to_send(), b"secret-token"));
    }
    assert!(
        !contains(&buf, b"secret-token"),
        "an unsent request is wiped"
    );
    let mut ex =
        ResourceExchange::new(&ResourceRequest::get(&url), &token, &mut buf, Limits::new())
            .unwrap();
    let len = ex.to_send().len();
    ex.sent(len);
    assert!(ex.to_send().is_empty());
    let answer = b"HTTP/1.1 204 No Content\r\n\r\n";
    let mut fed = 0;
    while fed < answer.len() {
        let dst = ex.recv_buf().unwrap();
        dst[0] = answer[fed];
        fed += 1;
        ex.received(1).unwrap();
    }
    let r = ex.finish().unwrap();
    assert_eq!(
        (r.status, r.body_range().len(), r.is_truncated()),
        (204, 0, false)
    );
    drop(ex);
    assert!(!contains(&buf, b"secret-token"));
}

/// The async driver: the same request, through `Client::call`.
#[cfg(feature = "async")]
#[test]
fn the_async_driver_makes_the_same_request() {
    use common::AsyncConnector;
    use embassy_futures::block_on;
    let now = Rc::new(Cell::new(0));
    let mut conn = AsyncConnector::new(Rc::clone(&now));
    conn.push(Script::Respond(token_response("tok-1", Some(3600))));
    conn.push(Script::Respond(wire(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "5\r\nhello\r\n0\r\n\r\n",
    )));
    let mut client: Client<_> =
        Client::new(common::config(), move || Instant::from_millis(now.get()));
    let url = ResourceUrl::parse_allow_http(URL).unwrap();
    let mut work = [0u8; 2048];
    let mut body = vec![0u8; 512];
    let r = block_on(
        client
            .asynch()
            .call(&mut conn, &mut work, async |k, token| {
                embedded_oauth2::asynch::request(k, &ResourceRequest::get(&url), token, &mut body)
                    .await
                    .map(ResourceResponse::attempt)
            }),
    )
    .expect("call");
    assert_eq!((r.status, r.body(&body)), (200, &b"hello"[..]));
    let s = conn.server.borrow();
    assert!(contains(
        &s.logs[1].borrow().written,
        b"GET /receipts/2026-0042?format=pdf HTTP/1.1\r\n"
    ));
    assert!(s.logs[1].borrow().flushes >= 1);
}

/// A service asking for its DPoP nonce: the attempt says so (the client
/// retries once with it), and the nonce is in the head.
#[cfg(feature = "dpop")]
#[test]
fn a_dpop_nonce_challenge_is_use_dpop_nonce() {
    let url = ResourceUrl::parse_allow_http(URL).unwrap();
    let token = bearer("tok-1");
    let server = RefCell::new(FakeServer::new(Rc::new(Cell::new(0))));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    server.borrow_mut().push(Script::Respond(wire(
        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: DPoP error=\"use_dpop_nonce\"\r\n\
         DPoP-Nonce: n-42\r\nContent-Length: 0\r\n\r\n",
        "",
    )));
    let mut body = vec![0u8; 512];
    let r = embedded_oauth2::blocking::request(
        &mut connect,
        &ResourceRequest::get(&url),
        &token,
        &mut body,
    )
    .unwrap();
    assert_eq!(
        r.head()
            .dpop_nonce
            .and_then(|n| n.get().ok().map(str::to_owned))
            .as_deref(),
        Some("n-42")
    );
    assert!(matches!(r.attempt(), Attempt::UseDpopNonce));
}

/// The URL's parts, as parsed.
#[test]
fn resource_urls_are_parsed_into_their_parts() {
    let url = ResourceUrl::parse("https://api.example:8443/v1/items?x=1").unwrap();
    assert_eq!(
        (
            url.url(),
            url.host(),
            url.port(),
            url.path(),
            url.is_https()
        ),
        (
            "https://api.example:8443/v1/items?x=1",
            "api.example",
            8443,
            "/v1/items?x=1",
            true
        )
    );
    assert_eq!(url.endpoint().host(), "api.example");
    let url = ResourceUrl::parse_allow_http("http://[::1]/").unwrap();
    assert_eq!(
        (url.host(), url.port(), url.path(), url.is_https()),
        ("::1", 80, "/", false)
    );
    assert_eq!(
        ResourceUrl::parse("http://a.example/"),
        Err(ConfigError::InsecureScheme)
    );
    for (method, text) in [
        (Method::Get, "GET"),
        (Method::Post, "POST"),
        (Method::Put, "PUT"),
        (Method::Patch, "PATCH"),
        (Method::Delete, "DELETE"),
    ] {
        assert_eq!(method.as_str(), text);
        assert_eq!(ResourceRequest::new(method, &url).method(), method);
    }
    assert_eq!(ResourceRequest::get(&url).url(), &url);
}

/// What goes in the `Authorization` header is a secret: its `Debug` says
/// nothing of it, whichever form it came in.
#[test]
fn authorization_debug_is_redacted() {
    use embedded_oauth2::http::Authorization;
    let token = bearer("tok-secret");
    for auth in [
        Authorization::from(&token),
        Authorization::from("Bearer tok-secret"),
    ] {
        let shown = format!("{auth:?}");
        assert_eq!(shown, "Authorization(<redacted>)");
        assert!(!shown.contains("tok-secret"));
    }
}

/// The exchange's `Debug` shows its progress, never the request (which
/// holds the token).
#[test]
fn exchange_debug_shows_progress_not_the_token() {
    let url = ResourceUrl::parse_allow_http(URL).unwrap();
    let token = bearer("tok-secret");
    let mut buf = vec![0u8; 1024];
    let mut ex =
        ResourceExchange::new(&ResourceRequest::get(&url), &token, &mut buf, Limits::new())
            .unwrap();
    let len = ex.to_send().len();
    ex.sent(3);
    let shown = format!("{ex:?}");
    assert!(
        shown.starts_with("ResourceExchange {")
            && shown.contains(&format!("request_len: {len}"))
            && shown.contains("sent: 3")
            && shown.contains("head: None"),
        "{shown}"
    );
    assert!(!shown.contains("tok-secret"));
}
