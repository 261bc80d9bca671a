//! Discovery (feature `discovery`) on recorded bytes: authorization server
//! metadata (RFC 8414 / OpenID Connect Discovery) and protected resource
//! metadata (RFC 9728).
//!
//! The golden document is oidc-provider 8.8.1's
//! `/.well-known/openid-configuration`, as `tests/authz-server/server.mjs`
//! serves it on its TLS listener (the port fixed at 41841).
#![cfg(feature = "discovery")]

mod common;

use common::{Delivery, Scripted, StreamError, json, wire};
use embedded_oauth2::discovery::{
    AuthMethods, Discovery, DiscoveryError, Issuer, Metadata, WellKnown, encode_get,
    encode_metadata_request, metadata_url, parse_metadata, parse_resource_metadata,
    resource_metadata_url,
};
use embedded_oauth2::error::{Buffer, ConfigError, HttpError, ResponseError};
use embedded_oauth2::{Error, Limits, TokenEndpoint, blocking};

const GOLDEN: &str = include_str!("data/oidc-provider-8.8.1-openid-configuration.json");
const ISSUER: &str = "https://localhost:41841";

fn issuer() -> Issuer<'static> {
    Issuer::parse(ISSUER).unwrap()
}

fn parse<'b>(body: &str, out: &'b mut [u8]) -> Result<Metadata<'b>, Error> {
    // (`issuer()` is 'static: the result borrows only `out`.)
    parse_metadata(200, body.as_bytes(), &issuer(), out)
}

/// The bytes the kept URLs of the golden document take.
const GOLDEN_URLS: usize =
    "https://localhost:41841/token".len() + "https://localhost:41841/token/revocation".len();

#[test]
fn golden_oidc_provider_document() {
    let mut out = [0u8; 128];
    let m = parse(GOLDEN, &mut out).unwrap();
    assert_eq!(m.issuer, ISSUER);
    assert_eq!(m.token_endpoint.url(), "https://localhost:41841/token");
    assert_eq!(
        (m.token_endpoint.host(), m.token_endpoint.port()),
        ("localhost", 41841)
    );
    assert_eq!(
        m.revocation_endpoint.map(|e| e.url()),
        Some("https://localhost:41841/token/revocation")
    );
    let all = [
        AuthMethods::CLIENT_SECRET_BASIC,
        AuthMethods::CLIENT_SECRET_POST,
        AuthMethods::CLIENT_SECRET_JWT,
        AuthMethods::PRIVATE_KEY_JWT,
        AuthMethods::TLS_CLIENT_AUTH,
        AuthMethods::SELF_SIGNED_TLS_CLIENT_AUTH,
    ]
    .into_iter()
    .fold(AuthMethods::empty(), AuthMethods::union);
    assert_eq!(m.auth_methods, all);
    assert_eq!(m.auth_methods.bits(), 0b11_1111);
    assert!(m.dpop_es256);
    // oidc-provider lists no mtls_endpoint_aliases (its mTLS listeners are
    // separate ports it does not advertise).
    assert_eq!(
        (m.mtls_token_endpoint, m.mtls_revocation_endpoint),
        (None, None)
    );
}

#[test]
fn metadata_urls_both_constructions() {
    let mut buf = [0u8; 128];
    let cases = [
        (
            "https://localhost:41841",
            "https://localhost:41841/.well-known/oauth-authorization-server",
            "https://localhost:41841/.well-known/openid-configuration",
        ),
        (
            "https://as.example/",
            "https://as.example/.well-known/oauth-authorization-server",
            "https://as.example/.well-known/openid-configuration",
        ),
        (
            "https://as.example/issuer1",
            "https://as.example/.well-known/oauth-authorization-server/issuer1",
            "https://as.example/issuer1/.well-known/openid-configuration",
        ),
        (
            "https://as.example/realms/a/",
            "https://as.example/.well-known/oauth-authorization-server/realms/a",
            "https://as.example/realms/a/.well-known/openid-configuration",
        ),
        (
            "https://[::1]:8443/t",
            "https://[::1]:8443/.well-known/oauth-authorization-server/t",
            "https://[::1]:8443/t/.well-known/openid-configuration",
        ),
    ];
    for (iss, oauth, oidc) in cases {
        let i = Issuer::parse(iss).unwrap();
        assert_eq!(
            metadata_url(&i, WellKnown::OAuthAuthorizationServer, &mut buf).unwrap(),
            oauth
        );
        assert_eq!(
            metadata_url(&i, WellKnown::OpenIdConfiguration, &mut buf).unwrap(),
            oidc
        );
        // Exact need when short.
        match metadata_url(
            &i,
            WellKnown::OpenIdConfiguration,
            &mut buf[..oidc.len() - 1],
        ) {
            Err(Error::Capacity(c)) => assert_eq!((c.needed, c.exact), (oidc.len(), true)),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        Issuer::parse("https://as.example/?a=b"),
        Err(ConfigError::InvalidUrl)
    );
    assert_eq!(
        Issuer::parse("https://as.example/#f"),
        Err(ConfigError::UrlFragment)
    );
    assert_eq!(
        Issuer::parse("http://as.example"),
        Err(ConfigError::InsecureScheme)
    );
    assert!(Issuer::parse_allow_http("http://127.0.0.1:8080").is_ok());
}

#[test]
fn golden_requests() {
    let mut buf = [0u8; 256];
    let i = Issuer::parse("https://as.example:8443/tenant").unwrap();
    let ua = concat!("embedded-oauth2/", env!("CARGO_PKG_VERSION"));
    let n = encode_metadata_request(&i, WellKnown::OAuthAuthorizationServer, &mut buf).unwrap();
    assert_eq!(
        std::str::from_utf8(&buf[..n]).unwrap(),
        format!(
            "GET /.well-known/oauth-authorization-server/tenant HTTP/1.1\r\nHost: as.example:8443\r\n\
             Accept: application/json\r\nUser-Agent: {ua}\r\nConnection: close\r\n\r\n"
        )
    );
    let n = encode_metadata_request(&i, WellKnown::OpenIdConfiguration, &mut buf).unwrap();
    assert!(buf[..n].starts_with(b"GET /tenant/.well-known/openid-configuration HTTP/1.1\r\n"));
    for small in [0, 10, n - 1] {
        match encode_metadata_request(&i, WellKnown::OpenIdConfiguration, &mut buf[..small]) {
            Err(Error::Capacity(c)) => {
                assert_eq!(
                    (c.buffer, c.needed, c.available),
                    (Buffer::Request, n, small)
                )
            }
            other => panic!("{other:?}"),
        }
    }
    let url =
        TokenEndpoint::parse("https://[::1]/.well-known/oauth-protected-resource/r?x=1").unwrap();
    let n = encode_get(&url, &mut buf).unwrap();
    assert!(buf[..n].starts_with(
        b"GET /.well-known/oauth-protected-resource/r?x=1 HTTP/1.1\r\nHost: [::1]\r\n"
    ));
}

#[test]
fn issuer_must_match_exactly() {
    let mut out = [0u8; 256];
    for other in [
        "https://localhost:41841/",
        "https://LOCALHOST:41841",
        "http://localhost:41841",
        "https://localhost:41842",
        "https://localhost:4184",
        "https://evil.example",
    ] {
        let body = GOLDEN.replace(ISSUER_MEMBER, &format!(r#""issuer":"{other}""#));
        assert_eq!(
            parse(&body, &mut out),
            Err(Error::Discovery(DiscoveryError::IssuerMismatch)),
            "{other}"
        );
    }
    // An escaped but equal issuer is the same string.
    let body = GOLDEN.replace(ISSUER_MEMBER, r#""issuer":"https:\/\/localhost:41841""#);
    assert!(parse(&body, &mut out).is_ok());
    // Missing, or not a string.
    let body = GOLDEN.replace(ISSUER_MEMBER, r#""x":1"#);
    assert_eq!(
        parse(&body, &mut out),
        Err(Error::Discovery(DiscoveryError::MissingIssuer))
    );
    let body = GOLDEN.replace(ISSUER_MEMBER, r#""issuer":null"#);
    assert_eq!(
        parse(&body, &mut out),
        Err(Error::Response(ResponseError::WrongType))
    );
    // A mismatch is found even when `out` could hold nothing.
    let body = GOLDEN.replace(ISSUER_MEMBER, r#""issuer":"https://evil.example""#);
    assert_eq!(
        parse(&body, &mut []),
        Err(Error::Discovery(DiscoveryError::IssuerMismatch))
    );
}

const ISSUER_MEMBER: &str = r#""issuer":"https://localhost:41841""#;
const TOKEN_MEMBER: &str = r#""token_endpoint":"https://localhost:41841/token""#;

#[test]
fn missing_token_endpoint_and_bad_members() {
    let mut out = [0u8; 256];
    let body = GOLDEN.replace(TOKEN_MEMBER, r#""token_endpointx":"a""#);
    assert_eq!(
        parse(&body, &mut out),
        Err(Error::Discovery(DiscoveryError::MissingTokenEndpoint))
    );
    let body = GOLDEN.replace(TOKEN_MEMBER, r#""token_endpoint":["https://a/t"]"#);
    assert_eq!(
        parse(&body, &mut out),
        Err(Error::Response(ResponseError::WrongType))
    );
    let body = GOLDEN.replace(TOKEN_MEMBER, &format!("{TOKEN_MEMBER},{TOKEN_MEMBER}"));
    assert_eq!(
        parse(&body, &mut out),
        Err(Error::Response(ResponseError::DuplicateMember))
    );
    let body = GOLDEN.replace(
        TOKEN_MEMBER,
        r#""token_endpoint":"http://localhost:41841/token""#,
    );
    assert_eq!(
        parse(&body, &mut out),
        Err(Error::Discovery(DiscoveryError::Endpoint(
            ConfigError::InsecureScheme
        )))
    );
    // Allowed when the issuer allows plain HTTP.
    let lax = Issuer::parse_allow_http(ISSUER).unwrap();
    let m = parse_metadata(200, body.as_bytes(), &lax, &mut out).unwrap();
    assert!(!m.token_endpoint.is_https());
    for bad in [
        r#""not a url""#,
        r#""https://a/t#f""#,
        r#""https://u@a/t""#,
        r#""https:\/\/a\u00e9/t""#,
    ] {
        let body = GOLDEN.replace(TOKEN_MEMBER, &format!(r#""token_endpoint":{bad}"#));
        assert!(
            matches!(
                parse(&body, &mut out),
                Err(Error::Discovery(DiscoveryError::Endpoint(_)))
            ),
            "{bad}"
        );
    }
    let methods = r#""token_endpoint_auth_methods_supported":["#;
    let body = GOLDEN.replace(methods, &format!("{methods}1,"));
    assert_eq!(
        parse(&body, &mut out),
        Err(Error::Response(ResponseError::WrongType))
    );
    // Not 2xx.
    assert_eq!(
        parse_metadata(404, GOLDEN.as_bytes(), &issuer(), &mut out),
        Err(Error::Http(HttpError::UnexpectedStatus {
            status: 404,
            retry_after: None
        }))
    );
}

#[test]
fn defaults_and_mtls_aliases() {
    let body = r#"{"issuer":"https://localhost:41841","token_endpoint":"https://localhost:41841/t",
        "mtls_endpoint_aliases":{"token_endpoint":"https://mtls.localhost/t","x":{"y":[1]},
        "revocation_endpoint":"https:\/\/mtls.localhost\/r"},
        "dpop_signing_alg_values_supported":["EdDSA","RS256"],
        "token_endpoint_auth_methods_supported":["none","client_secret_post","x"]}"#;
    let mut out = [0u8; 128];
    let m = parse(body, &mut out).unwrap();
    assert_eq!(
        m.mtls_token_endpoint.map(|e| e.host()),
        Some("mtls.localhost")
    );
    assert_eq!(
        m.mtls_revocation_endpoint.map(|e| e.url()),
        Some("https://mtls.localhost/r")
    );
    assert_eq!(m.revocation_endpoint, None);
    assert!(!m.dpop_es256);
    assert_eq!(m.auth_methods, AuthMethods::CLIENT_SECRET_POST);
    // Without the list: client_secret_basic (RFC 8414 §2).
    let body =
        r#"{"issuer":"https://localhost:41841","token_endpoint":"https://localhost:41841/t"}"#;
    let m = parse(body, &mut out).unwrap();
    assert_eq!(m.auth_methods, AuthMethods::CLIENT_SECRET_BASIC);
    assert!(m.auth_methods.supports("client_secret_basic"));
    let body = r#"{"issuer":"https://localhost:41841","token_endpoint":"https://localhost:41841/t",
        "mtls_endpoint_aliases":["https://x/"]}"#;
    assert_eq!(
        parse(body, &mut out),
        Err(Error::Response(ResponseError::WrongType))
    );
    let body = r#"{"issuer":"https://localhost:41841","token_endpoint":"https://localhost:41841/t",
        "mtls_endpoint_aliases":{"token_endpoint":"http://x/t"}}"#;
    assert_eq!(
        parse(body, &mut out),
        Err(Error::Discovery(DiscoveryError::Endpoint(
            ConfigError::InsecureScheme
        )))
    );
}

#[test]
fn oversized_fields_give_the_exact_need() {
    let long = format!("https://localhost:41841/{}", "a".repeat(600));
    let body = GOLDEN.replace(TOKEN_MEMBER, &format!(r#""token_endpoint":"{long}""#));
    let need = long.len() + "https://localhost:41841/token/revocation".len();
    for size in [0, 1, need / 2, need - 1, need, need + 1] {
        let mut out = vec![0u8; size];
        match parse(&body, &mut out) {
            Ok(m) => {
                assert!(size >= need, "{size}");
                assert_eq!(m.token_endpoint.url(), long);
            }
            Err(Error::Capacity(c)) => {
                assert!(size < need, "{size}");
                assert_eq!(
                    (c.buffer, c.needed, c.available, c.exact),
                    (Buffer::Metadata, need, size, true)
                );
            }
            Err(e) => panic!("{size}: {e:?}"),
        }
    }
    // The golden document: exactly its two URLs.
    let mut out = vec![0u8; GOLDEN_URLS];
    assert!(parse(GOLDEN, &mut out).is_ok());
    match parse(GOLDEN, &mut out[..GOLDEN_URLS - 1]) {
        Err(Error::Capacity(c)) => assert_eq!(c.needed, GOLDEN_URLS),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_truncation_fails_without_panic() {
    let mut out = [0u8; 256];
    let b = GOLDEN.as_bytes();
    for cut in 0..b.len() {
        let r = parse_metadata(200, &b[..cut], &issuer(), &mut out);
        assert!(r.is_err(), "{cut}");
    }
    // The whole response through the exchange, cut anywhere, then EOF.
    let full = json("HTTP/1.1 200 OK", GOLDEN);
    for cut in 0..full.len() {
        let mut buf = [0u8; 2048];
        let r = exchange(&full[..cut], &mut buf);
        assert!(r.is_err(), "{cut}");
    }
}

/// Runs the exchange over `wire` (then EOF) in one buffer.
fn exchange<'b>(wire: &[u8], buf: &'b mut [u8]) -> Result<Metadata<'b>, Error> {
    let i: &'static Issuer<'static> = Box::leak(Box::new(issuer()));
    let mut ex = Discovery::new(i, WellKnown::OpenIdConfiguration, buf, Limits::new())?;
    let n = ex.to_send().len();
    ex.sent(n);
    let mut at = 0;
    loop {
        let dst = ex.recv_buf()?;
        let n = dst.len().min(wire.len() - at).min(97);
        dst[..n].copy_from_slice(&wire[at..at + n]);
        at += n;
        if ex.received(n)? {
            break;
        }
    }
    ex.finish(i)
}

#[test]
fn byte_flips_never_panic() {
    let mut out = [0u8; 256];
    let b = GOLDEN.as_bytes();
    let mut body = b.to_vec();
    let mut accepted = 0;
    for at in 0..b.len() {
        for mask in [0x01, 0x20, 0x80, 0xFF] {
            body[at] ^= mask;
            if parse_metadata(200, &body, &issuer(), &mut out).is_ok() {
                accepted += 1;
            }
            body[at] ^= mask;
        }
    }
    // Flips inside ignored members leave a valid document.
    assert!(accepted > 0);
    // Random multi-byte damage (xorshift), through the whole exchange.
    let full = json("HTTP/1.1 200 OK", GOLDEN);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..3000 {
        let mut w = full.clone();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = (x as usize) % w.len();
            w[at] = (x >> 32) as u8;
        }
        let mut buf = [0u8; 2048];
        let _ = exchange(&w, &mut buf);
    }
}

#[test]
fn every_work_buffer_size() {
    let full = json("HTTP/1.1 200 OK", GOLDEN);
    let mut need = None;
    for size in 0..full.len() + GOLDEN_URLS + 8 {
        let mut buf = vec![0u8; size];
        match exchange(&full, &mut buf) {
            Ok(m) => {
                assert_eq!(m.token_endpoint.path(), "/token");
                need.get_or_insert(size);
            }
            Err(Error::Capacity(c)) => {
                assert!(need.is_none(), "{size}");
                if c.buffer == Buffer::Metadata {
                    assert_eq!((c.needed, c.exact), (full.len() + GOLDEN_URLS, true));
                }
            }
            Err(e) => panic!("{size}: {e:?}"),
        }
    }
    assert_eq!(need, Some(full.len() + GOLDEN_URLS));
}

#[test]
fn redirects_and_error_pages() {
    let mut buf = [0u8; 2048];
    let r = exchange(
        &wire(
            "HTTP/1.1 302 Found\r\nLocation: https://x/\r\nContent-Length: 0\r\n\r\n",
            "",
        ),
        &mut buf,
    );
    assert_eq!(r, Err(Error::Http(HttpError::Redirect { status: 302 })));
    let page = "x".repeat(4000);
    let r = exchange(
        &wire(
            "HTTP/1.1 404 Not Found\r\nContent-Length: {len}\r\n\r\n",
            &page,
        ),
        &mut buf,
    );
    assert_eq!(
        r,
        Err(Error::Http(HttpError::UnexpectedStatus {
            status: 404,
            retry_after: None
        }))
    );
}

#[test]
fn blocking_driver_over_a_scripted_stream() {
    for delivery in Delivery::ALL {
        let response = json("HTTP/1.1 200 OK", GOLDEN);
        let stream = Scripted::new(response, delivery);
        let log = stream.log();
        let mut stream = Some(stream);
        let mut connect = |ep: &TokenEndpoint<'_>| -> Result<Scripted, StreamError> {
            assert_eq!((ep.host(), ep.port()), ("localhost", 41841));
            Ok(stream.take().expect("one connection"))
        };
        let i = issuer();
        let mut buf = [0u8; 2048];
        let m =
            blocking::discover(&mut connect, &i, WellKnown::OpenIdConfiguration, &mut buf).unwrap();
        assert_eq!(m.token_endpoint.url(), "https://localhost:41841/token");
        assert!(log.borrow().written.starts_with(
            b"GET /.well-known/openid-configuration HTTP/1.1\r\nHost: localhost:41841\r\n"
        ));
    }
}

// ---- RFC 9728 ------------------------------------------------------------------

#[test]
fn resource_metadata_url_from_challenges() {
    let url = "https://rs.example/.well-known/oauth-protected-resource/r";
    let cases: &[(&str, Option<&str>)] = &[
        (
            r#"Bearer resource_metadata="https://rs.example/.well-known/oauth-protected-resource/r""#,
            Some(url),
        ),
        (
            r#"bearer   error="invalid_token" , RESOURCE_METADATA = "https://rs.example/.well-known/oauth-protected-resource/r""#,
            Some(url),
        ),
        (
            r#"Basic realm="a, b", Bearer resource_metadata=https://rs.example/x"#,
            None,
        ),
        (
            r#"Basic realm="x", Bearer realm="y",resource_metadata="https://r/m""#,
            Some("https://r/m"),
        ),
        (
            r#"Negotiate dXNlcg==, Bearer resource_metadata="https://r/m""#,
            Some("https://r/m"),
        ),
        (
            r#"DPoP algs="ES256", resource_metadata="https://r/dpop""#,
            None,
        ),
        (r#"Bearer resource_metadata="https://r/\"m""#, None),
        (r#"Bearer resource_metadata="https://r/ m""#, None),
        (r#"Bearer resource_metadata="""#, None),
        (r#"Bearer resource_metadata="https://r/m"#, None),
        (r#"Bearer error="x""#, None),
        ("Bearer", None),
        ("", None),
        (r#"Bearer resource_metadata=tok"#, Some("tok")),
    ];
    for (h, want) in cases {
        assert_eq!(resource_metadata_url(h.as_bytes()), *want, "{h}");
    }
    // Every prefix and byte flip of a real challenge: no panic.
    let h = br#"Basic realm="x", Bearer error="invalid_token", resource_metadata="https://r/m""#;
    for cut in 0..h.len() {
        let _ = resource_metadata_url(&h[..cut]);
    }
    let mut v = h.to_vec();
    for at in 0..v.len() {
        for mask in [0x01, 0x22, 0x80] {
            v[at] ^= mask;
            let _ = resource_metadata_url(&v);
            v[at] ^= mask;
        }
    }
}

#[test]
fn resource_metadata_documents() {
    let called = "https://rs.example/receipts/r-1";
    let body = r#"{"resource":"https://rs.example/receipts/r-1",
        "authorization_servers":["https://as.example","https://as2.example"],
        "bearer_methods_supported":["header"]}"#;
    let mut out = [0u8; 64];
    let m = parse_resource_metadata(200, body.as_bytes(), called, false, &mut out).unwrap();
    assert_eq!(
        (m.resource, m.authorization_server),
        (called, Some("https://as.example"))
    );
    // Exact need for the first authorization server.
    match parse_resource_metadata(200, body.as_bytes(), called, false, &mut out[..17]) {
        Err(Error::Capacity(c)) => assert_eq!((c.buffer, c.needed), (Buffer::Metadata, 18)),
        other => panic!("{other:?}"),
    }
    // `resource` must be the URL called.
    for other in [
        "https://rs.example/receipts/r-2",
        "https://rs.example/receipts/r-1/",
        "https://rs.example/",
    ] {
        assert_eq!(
            parse_resource_metadata(200, body.as_bytes(), other, false, &mut out),
            Err(Error::Discovery(DiscoveryError::ResourceMismatch)),
            "{other}"
        );
    }
    assert_eq!(
        parse_resource_metadata(
            200,
            br#"{"authorization_servers":[]}"#,
            called,
            false,
            &mut out
        ),
        Err(Error::Discovery(DiscoveryError::MissingResource))
    );
    let none = format!(r#"{{"resource":"{called}"}}"#);
    let m = parse_resource_metadata(200, none.as_bytes(), called, false, &mut out).unwrap();
    assert_eq!(m.authorization_server, None);
    let http =
        format!(r#"{{"resource":"{called}","authorization_servers":["http://as.example"]}}"#);
    assert_eq!(
        parse_resource_metadata(200, http.as_bytes(), called, false, &mut out),
        Err(Error::Discovery(DiscoveryError::Endpoint(
            ConfigError::InsecureScheme
        )))
    );
    assert!(parse_resource_metadata(200, http.as_bytes(), called, true, &mut out).is_ok());
    let query =
        format!(r#"{{"resource":"{called}","authorization_servers":["https://as.example/?x"]}}"#);
    assert_eq!(
        parse_resource_metadata(200, query.as_bytes(), called, false, &mut out),
        Err(Error::Discovery(DiscoveryError::Endpoint(
            ConfigError::InvalidUrl
        )))
    );
    // Truncations and flips: no panic.
    let b = body.as_bytes();
    for cut in 0..b.len() {
        assert!(parse_resource_metadata(200, &b[..cut], called, false, &mut out).is_err());
    }
    let mut v = b.to_vec();
    for at in 0..v.len() {
        for mask in [0x01, 0x20, 0x80] {
            v[at] ^= mask;
            let _ = parse_resource_metadata(200, &v, called, false, &mut out);
            v[at] ^= mask;
        }
    }
}

#[test]
fn resource_metadata_over_the_blocking_driver() {
    let called = "https://rs.example/receipts/r-1";
    let body =
        format!(r#"{{"resource":"{called}","authorization_servers":["https://localhost:41841"]}}"#);
    let url = TokenEndpoint::parse(
        "https://rs.example/.well-known/oauth-protected-resource/receipts/r-1",
    )
    .unwrap();
    let stream = Scripted::new(json("HTTP/1.1 200 OK", &body), Delivery::Choppy);
    let log = stream.log();
    let mut stream = Some(stream);
    let mut connect = |_: &TokenEndpoint<'_>| -> Result<Scripted, StreamError> {
        Ok(stream.take().expect("one connection"))
    };
    let mut buf = [0u8; 1024];
    let m = blocking::fetch_resource_metadata(&mut connect, &url, called, &mut buf).unwrap();
    assert_eq!(m.authorization_server, Some("https://localhost:41841"));
    assert!(log.borrow().written.starts_with(
        b"GET /.well-known/oauth-protected-resource/receipts/r-1 HTTP/1.1\r\nHost: rs.example\r\n"
    ));
}

#[cfg(feature = "async")]
#[test]
fn async_driver_matches_the_blocking_one() {
    struct One(Option<Scripted>);
    impl embedded_oauth2::asynch::Connect for One {
        type Error = StreamError;
        type Connection<'c> = Scripted;
        async fn connect(&mut self, _: &TokenEndpoint<'_>) -> Result<Scripted, StreamError> {
            Ok(self.0.take().expect("one connection").yielding())
        }
    }
    let mut k = One(Some(Scripted::new(
        json("HTTP/1.1 200 OK", GOLDEN),
        Delivery::Chunks(7),
    )));
    let i = issuer();
    let mut buf = [0u8; 2048];
    let m = embassy_futures::block_on(embedded_oauth2::asynch::discover(
        &mut k,
        &i,
        WellKnown::OpenIdConfiguration,
        &mut buf,
    ))
    .unwrap();
    assert_eq!(m.token_endpoint.url(), "https://localhost:41841/token");
    assert!(m.dpop_es256);
}
