//! DPoP at the token endpoint (RFC 9449 §5, §8), in memory: the proof each
//! request carries (verified with the public key), the server's nonce and
//! the one retry it allows, and the token types accepted.

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::{FakeServer, Script, StreamError, json};
use embedded_oauth2::assertion::{CounterJti, P256Signer};
use embedded_oauth2::dpop::{Dpop, DpopKey, MAX_DPOP_NONCE};
use embedded_oauth2::error::{Buffer, ResponseError};
use embedded_oauth2::{Client, Error, ErrorCode, Instant, TokenEndpoint, TokenType};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};

const NOW: u64 = 1_767_225_600;

fn dpop_token(token: &str, extra_head: &str) -> Vec<u8> {
    let body = format!(r#"{{"access_token":"{token}","token_type":"DPoP","expires_in":300}}"#);
    json(&format!("HTTP/1.1 200 OK{extra_head}"), &body)
}

fn use_nonce(nonce_header: &str) -> Vec<u8> {
    json(
        &format!("HTTP/1.1 400 Bad Request{nonce_header}"),
        r#"{"error":"use_dpop_nonce","error_description":"Authorization server requires nonce in DPoP proof"}"#,
    )
}

/// The `DPoP` header of a request, checked: signed by `public`, `typ`,
/// `alg` and `jwk` right; returns its claims.
fn proof_claims(request: &[u8], public: &[u8; 65]) -> serde_json::Value {
    let text = std::str::from_utf8(request).unwrap();
    let head = text.split("\r\n\r\n").next().unwrap();
    let proofs: Vec<&str> = head
        .split("\r\n")
        .filter_map(|l| l.strip_prefix("DPoP: "))
        .collect();
    assert_eq!(proofs.len(), 1, "one DPoP header:\n{head}");
    let parts: Vec<&str> = proofs[0].split('.').collect();
    let decode = |p: &str| -> serde_json::Value {
        serde_json::from_slice(&Base64UrlUnpadded::decode_vec(p).unwrap()).unwrap()
    };
    let header = decode(parts[0]);
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(
        header["jwk"]["x"],
        Base64UrlUnpadded::encode_string(&public[1..33])
    );
    assert_eq!(
        header["jwk"]["y"],
        Base64UrlUnpadded::encode_string(&public[33..])
    );
    let sig = Signature::from_slice(&Base64UrlUnpadded::decode_vec(parts[2]).unwrap()).unwrap();
    VerifyingKey::from_sec1_bytes(public)
        .unwrap()
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .expect("the proof verifies with the device's public key");
    decode(parts[1])
}

struct Setup {
    signer: P256Signer,
    public: [u8; 65],
    wall: fn() -> Option<u64>,
    jti: CounterJti,
}

impl Setup {
    fn new() -> Self {
        let signer = P256Signer::from_bytes(&[0x21; 32]).unwrap();
        let public = signer.public_key_sec1();
        Self {
            signer,
            public,
            wall: || Some(NOW),
            jti: CounterJti::new(*b"dpoptest"),
        }
    }

    fn dpop(&self) -> Dpop<'_> {
        Dpop::new(
            DpopKey::new(&self.signer, &self.public).unwrap(),
            &self.wall,
            &self.jti,
        )
    }
}

/// Runs `fetches` fetches against `scripts`, returning the results (as
/// token type and value, or the error) and the server.
type Fetched = Result<(TokenType, String), Error<StreamError>>;

fn run(
    setup: &Setup,
    dpop: bool,
    scripts: Vec<Script>,
    fetches: usize,
) -> (Vec<Fetched>, FakeServer) {
    let now = Rc::new(Cell::new(0u64));
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    for s in scripts {
        server.borrow_mut().push(s);
    }
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let config = if dpop {
        common::config().with_dpop(setup.dpop())
    } else {
        common::config()
    };
    let mut client: Client<_> = Client::new(config, || Instant::from_millis(0));
    let mut results = Vec::new();
    for _ in 0..fetches {
        let mut buf = vec![0u8; 4096];
        let r = client.fetch(&mut connect, &mut buf);
        results.push(r.map(|t| (t.token_type(), t.expose_secret().to_owned())));
        client.reset_backoff();
    }
    (results, server.into_inner())
}

#[test]
fn the_token_request_carries_a_verified_proof_and_a_dpop_token_is_kept() {
    let setup = Setup::new();
    let (results, server) = run(&setup, true, vec![Script::Respond(dpop_token("t1", ""))], 1);
    assert_eq!(results[0], Ok((TokenType::Dpop, "t1".into())));
    let claims = proof_claims(&server.logs[0].borrow().written, &setup.public);
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], common::ENDPOINT);
    assert_eq!(claims["iat"], NOW);
    assert_eq!(
        claims["jti"],
        Base64UrlUnpadded::encode_string(b"dpoptest\0\0\0\0\0\0\0\0")
    );
    assert!(claims.get("nonce").is_none() && claims.get("ath").is_none());
}

#[test]
fn use_dpop_nonce_is_retried_once_with_the_nonce_and_the_newest_is_kept() {
    let setup = Setup::new();
    let (results, server) = run(
        &setup,
        true,
        vec![
            Script::Respond(use_nonce("\r\nDPoP-Nonce: eyJ7S_zG.n-1")),
            Script::Respond(dpop_token("t1", "\r\nDPoP-Nonce: n-2")),
            Script::Respond(dpop_token("t2", "")),
        ],
        2,
    );
    assert_eq!(results[0], Ok((TokenType::Dpop, "t1".into())));
    assert_eq!(results[1], Ok((TokenType::Dpop, "t2".into())));
    assert_eq!(server.connections, 3, "one retry, then one request");
    let claims: Vec<_> = server
        .logs
        .iter()
        .map(|l| proof_claims(&l.borrow().written, &setup.public))
        .collect();
    assert!(claims[0].get("nonce").is_none());
    assert_eq!(claims[1]["nonce"], "eyJ7S_zG.n-1");
    // The nonce sent with the token is used by the next fetch.
    assert_eq!(claims[2]["nonce"], "n-2");
    // A new jti every time (a retry is a new proof).
    assert_ne!(claims[0]["jti"], claims[1]["jti"]);
    assert_ne!(claims[1]["jti"], claims[2]["jti"]);
}

#[test]
fn a_second_use_dpop_nonce_in_one_fetch_is_an_error() {
    let setup = Setup::new();
    let (results, server) = run(
        &setup,
        true,
        vec![
            Script::Respond(use_nonce("\r\nDPoP-Nonce: a")),
            Script::Respond(use_nonce("\r\nDPoP-Nonce: b")),
            // The next fetch starts with the newest nonce and may retry once.
            Script::Respond(use_nonce("\r\nDPoP-Nonce: c")),
            Script::Respond(dpop_token("t", "")),
        ],
        2,
    );
    match &results[0] {
        Err(Error::OAuth(o)) => assert_eq!((o.code, o.status), (ErrorCode::UseDpopNonce, 400)),
        other => panic!("{other:?}"),
    }
    assert_eq!(results[1], Ok((TokenType::Dpop, "t".into())));
    assert_eq!(server.connections, 4);
    let nonce =
        |i: usize| proof_claims(&server.logs[i].borrow().written, &setup.public)["nonce"].clone();
    assert_eq!(
        (nonce(1), nonce(2), nonce(3)),
        ("a".into(), "b".into(), "c".into())
    );
}

#[test]
fn no_retry_without_a_usable_nonce_or_without_dpop() {
    let setup = Setup::new();
    for header in ["", "\r\nDPoP-Nonce: has\"quote", "\r\nDPoP-Nonce: "] {
        let (results, server) = run(&setup, true, vec![Script::Respond(use_nonce(header))], 1);
        assert!(
            matches!(&results[0], Err(Error::OAuth(o)) if o.code == ErrorCode::UseDpopNonce),
            "{header:?}"
        );
        assert_eq!(server.connections, 1, "{header:?}");
    }
    // A client that sent no proof does not retry either.
    let (results, server) = run(
        &setup,
        false,
        vec![Script::Respond(use_nonce("\r\nDPoP-Nonce: x"))],
        1,
    );
    assert!(matches!(&results[0], Err(Error::OAuth(o)) if o.code == ErrorCode::UseDpopNonce));
    assert_eq!(server.connections, 1);
    assert!(!common::contains(
        &server.logs[0].borrow().written,
        b"DPoP:"
    ));
}

#[test]
fn a_nonce_longer_than_the_client_keeps_is_a_capacity_error_naming_its_size() {
    let setup = Setup::new();
    let long = "n".repeat(MAX_DPOP_NONCE + 1);
    let (results, server) = run(
        &setup,
        true,
        vec![Script::Respond(use_nonce(&format!(
            "\r\nDPoP-Nonce: {long}"
        )))],
        1,
    );
    match &results[0] {
        Err(Error::Capacity(c)) => {
            assert_eq!(c.buffer, Buffer::DpopNonce);
            assert_eq!(
                (c.needed, c.available),
                (MAX_DPOP_NONCE + 1, MAX_DPOP_NONCE)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.connections, 1, "the retry could not be written");
    // Exactly the longest kept: retried with it.
    let exact = "n".repeat(MAX_DPOP_NONCE);
    let (results, server) = run(
        &setup,
        true,
        vec![
            Script::Respond(use_nonce(&format!("\r\nDPoP-Nonce: {exact}"))),
            Script::Respond(dpop_token("t", "")),
        ],
        1,
    );
    assert!(results[0].is_ok());
    let claims = proof_claims(&server.logs[1].borrow().written, &setup.public);
    assert_eq!(claims["nonce"], exact.as_str());
}

/// A nonce the client cannot keep is never kept: one reply (a token with
/// an over-long `DPoP-Nonce`, or `use_dpop_nonce` with one) must not end
/// the device's access. The error is reported for that reply only; the
/// next request goes without a nonce, so the server can ask again. (Before:
/// every later request failed locally with `Capacity`, nothing was sent,
/// and no newer nonce could ever arrive, through `reset_backoff` too.)
#[test]
fn an_over_long_nonce_is_never_kept() {
    let setup = Setup::new();
    let long = format!("\r\nDPoP-Nonce: {}", "n".repeat(MAX_DPOP_NONCE + 1));
    // A token with an over-long nonce, then five more fetches.
    let mut scripts = vec![Script::Respond(dpop_token("t0", &long))];
    scripts.extend((1..=5).map(|i| Script::Respond(dpop_token(&format!("t{i}"), ""))));
    let (results, server) = run(&setup, true, scripts, 6);
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r, &Ok((TokenType::Dpop, format!("t{i}"))), "fetch {i}");
    }
    assert_eq!(server.connections, 6);
    for i in 1..6 {
        let claims = proof_claims(&server.logs[i].borrow().written, &setup.public);
        assert!(claims.get("nonce").is_none(), "request {i}: {claims}");
    }
    // `use_dpop_nonce` with an over-long nonce: that fetch reports the size
    // once; the next one is sent (without a nonce), asked again with a
    // usable nonce, and gets its token.
    let (results, server) = run(
        &setup,
        true,
        vec![
            Script::Respond(use_nonce(&long)),
            Script::Respond(use_nonce("\r\nDPoP-Nonce: short")),
            Script::Respond(dpop_token("t", "")),
        ],
        2,
    );
    assert!(
        matches!(&results[0], Err(Error::Capacity(c)) if c.buffer == Buffer::DpopNonce),
        "{:?}",
        results[0]
    );
    assert_eq!(results[1], Ok((TokenType::Dpop, "t".into())));
    assert_eq!(server.connections, 3);
    // Another error with an over-long nonce stays that error.
    let (other, _) = run(
        &setup,
        true,
        vec![Script::Respond(json(
            &format!("HTTP/1.1 400 Bad Request{long}"),
            r#"{"error":"invalid_request"}"#,
        ))],
        1,
    );
    assert!(
        matches!(&other[0], Err(Error::OAuth(o)) if o.code == ErrorCode::InvalidRequest),
        "{:?}",
        other[0]
    );
    let nonce = |i: usize| {
        proof_claims(&server.logs[i].borrow().written, &setup.public)
            .get("nonce")
            .cloned()
    };
    assert_eq!(nonce(1), None);
    assert_eq!(nonce(2), Some("short".into()));
}

#[test]
fn token_types_must_match_the_request() {
    let setup = Setup::new();
    let bearer = common::token_response("b", Some(300));
    let (results, _) = run(&setup, true, vec![Script::Respond(bearer.clone())], 1);
    assert_eq!(results[0], Err(ResponseError::BearerForDpop.into()));
    // Permanent: a server that does not bind tokens will not start to.
    let e: Error = ResponseError::BearerForDpop.into();
    assert_eq!(e.retry(), embedded_oauth2::error::Retry::Permanent);
    let e: Error = ResponseError::UnsupportedTokenType.into();
    assert_eq!(e.retry(), embedded_oauth2::error::Retry::Transient);
    let (results, _) = run(&setup, false, vec![Script::Respond(dpop_token("d", ""))], 1);
    assert_eq!(results[0], Err(ResponseError::UnsupportedTokenType.into()));
    let (results, _) = run(&setup, false, vec![Script::Respond(bearer)], 1);
    assert_eq!(results[0], Ok((TokenType::Bearer, "b".into())));
    // `dpop` in any case, as token types are case-insensitive.
    let body = r#"{"access_token":"d","token_type":"dpop"}"#;
    let (results, _) = run(
        &setup,
        true,
        vec![Script::Respond(json("HTTP/1.1 200 OK", body))],
        1,
    );
    assert_eq!(results[0], Ok((TokenType::Dpop, "d".into())));
}

#[test]
fn a_dpop_token_is_presented_with_the_dpop_scheme() {
    let setup = Setup::new();
    let now = Rc::new(Cell::new(0u64));
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    server
        .borrow_mut()
        .push(Script::Respond(dpop_token("tok", "")));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mut client: Client<_> = Client::new(common::config().with_dpop(setup.dpop()), || {
        Instant::from_millis(0)
    });
    let mut buf = vec![0u8; 4096];
    let t = client.fetch(&mut connect, &mut buf).unwrap();
    let mut out = [0u8; 32];
    assert_eq!(t.authorization_value(&mut out).unwrap(), "DPoP tok");
    let mut line = Vec::new();
    t.write_authorization_header(&mut line).unwrap();
    assert_eq!(line, b"Authorization: DPoP tok\r\n");
    assert_eq!(t.bearer::<16>().unwrap().as_str(), "DPoP tok");
}

mod resource {
    use super::*;
    use embedded_oauth2::dpop::{DpopNonce, asks_for_nonce};
    use embedded_oauth2::{Attempt, CallError};

    /// `call` against a scripted resource server: the answers it gives in
    /// turn; returns the call's result, the attempts (token presented,
    /// nonce in the proof) and the token fetches.
    type Called = (
        Result<&'static str, String>,
        Vec<(String, Option<String>)>,
        usize,
    );

    fn call(setup: &Setup, tokens: usize, answers: Vec<Attempt<&'static str>>) -> Called {
        let now = Rc::new(Cell::new(0u64));
        let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
        for i in 0..tokens {
            server
                .borrow_mut()
                .push(Script::Respond(dpop_token(&format!("t{i}"), "")));
        }
        let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
        let dpop = setup.dpop();
        let mut client: Client<_> =
            Client::new(common::config().with_dpop(dpop), || Instant::from_millis(0));
        let mut buf = vec![0u8; 4096];
        let mut answers = answers.into_iter();
        let mut seen = Vec::new();
        let mut nonce: Option<DpopNonce> = None;
        let result = client.call(&mut connect, &mut buf, |_, token| {
            let mut proof = [0u8; 700];
            let p = dpop
                .proof(
                    "GET",
                    "https://rs.example/x?q=1",
                    token.expose_secret(),
                    nonce.as_ref(),
                    &mut proof,
                )
                .unwrap();
            let claims: serde_json::Value = serde_json::from_slice(
                &Base64UrlUnpadded::decode_vec(p.split('.').nth(1).unwrap()).unwrap(),
            )
            .unwrap();
            assert_eq!(claims["htu"], "https://rs.example/x");
            assert_eq!(claims["htm"], "GET");
            seen.push((
                token.expose_secret().to_owned(),
                claims["nonce"].as_str().map(str::to_owned),
            ));
            let answer = answers.next().expect("more attempts than scripted");
            if answer == Attempt::UseDpopNonce {
                // What the resource server sent with its 401.
                assert!(asks_for_nonce(401, br#"DPoP error="use_dpop_nonce""#));
                nonce = DpopNonce::from_header(format!("rs-{}", seen.len()).as_bytes());
            }
            Ok::<_, ()>(answer)
        });
        let result = result.map_err(|e| match e {
            CallError::Rejected => "rejected".to_owned(),
            other => format!("{other:?}"),
        });
        let fetches = server.borrow().connections;
        (result, seen, fetches)
    }

    fn seen(token: &str, nonce: Option<&str>) -> (String, Option<String>) {
        (token.to_owned(), nonce.map(str::to_owned))
    }

    #[test]
    fn the_nonce_is_asked_once_and_the_same_token_sent_again() {
        let setup = Setup::new();
        let (result, attempts, fetches) = call(
            &setup,
            1,
            vec![Attempt::UseDpopNonce, Attempt::Done("receipt")],
        );
        assert_eq!(result, Ok("receipt"));
        assert_eq!(attempts, vec![seen("t0", None), seen("t0", Some("rs-1"))]);
        assert_eq!(fetches, 1, "no new token for a nonce");
    }

    #[test]
    fn a_second_nonce_request_ends_the_call() {
        let setup = Setup::new();
        let (result, attempts, fetches) = call(
            &setup,
            1,
            vec![Attempt::UseDpopNonce, Attempt::UseDpopNonce],
        );
        assert_eq!(result, Err("rejected".to_owned()));
        assert_eq!(attempts.len(), 2);
        assert_eq!(fetches, 1);
    }

    #[test]
    fn a_refused_token_then_a_nonce_request_costs_one_new_token() {
        let setup = Setup::new();
        let (result, attempts, fetches) = call(
            &setup,
            2,
            vec![
                Attempt::TokenRejected,
                Attempt::UseDpopNonce,
                Attempt::Done("ok"),
            ],
        );
        assert_eq!(result, Ok("ok"));
        assert_eq!(
            attempts,
            vec![seen("t0", None), seen("t1", None), seen("t1", Some("rs-2"))]
        );
        assert_eq!(fetches, 2);
        // And the other order: nonce first, then a refused token.
        let (result, attempts, fetches) = call(
            &setup,
            2,
            vec![
                Attempt::UseDpopNonce,
                Attempt::TokenRejected,
                Attempt::Done("ok"),
            ],
        );
        assert_eq!(result, Ok("ok"));
        assert_eq!(
            attempts,
            vec![
                seen("t0", None),
                seen("t0", Some("rs-1")),
                seen("t1", Some("rs-1"))
            ]
        );
        assert_eq!(fetches, 2);
    }

    #[test]
    fn which_challenges_ask_for_a_nonce() {
        for yes in [
            &br#"DPoP error="use_dpop_nonce""#[..],
            br#"dpop error=use_dpop_nonce"#,
            br#"DPoP algs="ES256", error="use_dpop_nonce""#,
            b"DPoP error=\"use_dpop_nonce\", error_description=\"Resource server requires nonce in DPoP proof\"",
        ] {
            assert!(asks_for_nonce(401, yes), "{}", String::from_utf8_lossy(yes));
        }
        for no in [
            &br#"Bearer error="use_dpop_nonce""#[..],
            br#"DPoP error="invalid_dpop_proof""#,
            br#"DPoP xerror="use_dpop_nonce""#,
            br#"DPoP error="use_dpop_nonce_x""#,
            br#"DPoP"#,
            b"",
        ] {
            assert!(!asks_for_nonce(401, no), "{}", String::from_utf8_lossy(no));
        }
        assert!(!asks_for_nonce(403, br#"DPoP error="use_dpop_nonce""#));
    }

    #[test]
    fn a_resource_proof_with_a_nonce_too_long_names_its_size() {
        let setup = Setup::new();
        let long = DpopNonce::from_header("x".repeat(MAX_DPOP_NONCE + 5).as_bytes()).unwrap();
        assert_eq!(long.get(), Err(MAX_DPOP_NONCE + 5));
        let mut buf = [0u8; 1024];
        match setup
            .dpop()
            .proof("GET", "https://rs/", "t", Some(&long), &mut buf)
        {
            Err(Error::Capacity(c)) => {
                assert_eq!(
                    (c.buffer, c.needed, c.available),
                    (Buffer::DpopNonce, MAX_DPOP_NONCE + 5, MAX_DPOP_NONCE)
                )
            }
            other => panic!("{other:?}"),
        }
        // No wall clock: no proof.
        let wall: fn() -> Option<u64> = || None;
        let key = DpopKey::new(&setup.signer, &setup.public).unwrap();
        let dpop = Dpop::new(key, &wall, &setup.jti);
        assert_eq!(
            dpop.proof("GET", "https://rs/", "t", None, &mut buf),
            Err(Error::NoWallClock)
        );
    }
}

/// DPoP proofs signed by an async signer (a secure element on an async
/// bus): with only the public key in the configuration
/// (`DpopKey::from_public`), `client.asynch().dpop_signed_by(&se)` signs
/// each token request's proof — the nonce retry's too — over exactly the
/// bytes the request carries; together with an async assertion signer.
#[cfg(feature = "async")]
mod async_signer {
    use super::*;
    use common::AsyncConnector;
    use embedded_oauth2::assertion::{Assertion, Es256SignerAsync, SignError};
    use embedded_oauth2::{Client, ClientAuth};
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer as _;

    struct SecureElement {
        key: SigningKey,
        inputs: RefCell<Vec<Vec<u8>>>,
    }

    impl Es256SignerAsync for SecureElement {
        async fn sign(&self, input: &[u8]) -> Result<[u8; 64], SignError> {
            embassy_futures::yield_now().await;
            self.inputs.borrow_mut().push(input.to_vec());
            let sig: Signature = self.key.sign(input);
            Ok(sig.to_bytes().into())
        }
    }

    impl SecureElement {
        fn new(seed: u8) -> Self {
            Self {
                key: SigningKey::from_slice(&[seed; 32]).unwrap(),
                inputs: RefCell::new(Vec::new()),
            }
        }
        fn public(&self) -> [u8; 65] {
            let p = VerifyingKey::from(&self.key).to_encoded_point(false);
            p.as_bytes().try_into().unwrap()
        }
    }

    /// The signing input of the `DPoP` header of a request.
    fn proof_input(request: &[u8]) -> String {
        let text = std::str::from_utf8(request).unwrap();
        let proof = text
            .split("\r\n")
            .find_map(|l| l.strip_prefix("DPoP: "))
            .unwrap();
        proof.rsplit_once('.').unwrap().0.to_owned()
    }

    #[test]
    fn the_async_signer_signs_every_proof_including_the_nonce_retry() {
        let se = SecureElement::new(0x33);
        let public = se.public();
        let wall = || Some(NOW);
        let jti = CounterJti::new(*b"asyncdpp");
        let key = DpopKey::from_public(&public).unwrap();
        let config = common::config().with_dpop(Dpop::new(key, &wall, &jti));
        let now = Rc::new(Cell::new(0u64));
        let mut client: Client<_> = Client::new(config, || Instant::from_millis(0));
        let mut conn = AsyncConnector::new(Rc::clone(&now));
        conn.push(Script::Respond(use_nonce("\r\nDPoP-Nonce: n-async")));
        conn.push(Script::Respond(dpop_token("t-async", "")));
        let mut work = [0u8; 4096];
        let token = embassy_futures::block_on(
            client
                .asynch()
                .dpop_signed_by(&se)
                .token(&mut conn, &mut work),
        )
        .map(|t| (t.token_type(), t.expose_secret().to_owned()));
        assert_eq!(token, Ok((TokenType::Dpop, "t-async".to_owned())));
        let logs: Vec<Vec<u8>> = conn
            .server
            .borrow()
            .logs
            .iter()
            .map(|l| l.borrow().written.clone())
            .collect();
        assert_eq!(logs.len(), 2);
        // Both proofs verify, were signed over exactly what was sent, and
        // the second carries the nonce.
        let inputs: Vec<String> = logs.iter().map(|w| proof_input(w)).collect();
        let signed: Vec<String> = se
            .inputs
            .borrow()
            .iter()
            .map(|i| String::from_utf8(i.clone()).unwrap())
            .collect();
        assert_eq!(signed, inputs);
        let claims: Vec<_> = logs.iter().map(|w| proof_claims(w, &public)).collect();
        assert!(claims[0].get("nonce").is_none());
        assert_eq!(claims[1]["nonce"], "n-async");
        // The same key without the async signer: no proof can be made.
        let mut blocking: Client<_> = Client::new(
            common::config().with_dpop(Dpop::new(key, &wall, &jti)),
            || Instant::from_millis(0),
        );
        let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
        let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
        assert!(matches!(
            blocking.fetch(&mut connect, &mut work),
            Err(Error::Sign)
        ));
        assert_eq!(server.borrow().connections, 0, "nothing sent");
    }

    /// The async driver without an async DPoP signer: the configuration's
    /// own (blocking) signer signs the proof; and an async DPoP signer
    /// alone leaves the assertion to the configuration's signer.
    #[test]
    fn the_configurations_signers_sign_what_no_async_signer_does() {
        let setup = Setup::new();
        let now = Rc::new(Cell::new(0u64));
        let mut client: Client<_> = Client::new(common::config().with_dpop(setup.dpop()), || {
            Instant::from_millis(0)
        });
        let mut conn = AsyncConnector::new(Rc::clone(&now));
        conn.push(Script::Respond(dpop_token("t-sync", "")));
        let mut work = [0u8; 4096];
        let got = embassy_futures::block_on(client.asynch().token(&mut conn, &mut work))
            .map(|t| t.expose_secret().to_owned());
        assert_eq!(got, Ok("t-sync".to_owned()));
        let written = conn.server.borrow().logs[0].borrow().written.clone();
        proof_claims(&written, &setup.public);

        // private_key_jwt signed by the configuration, DPoP by the async signer.
        let se = SecureElement::new(0x36);
        let public = se.public();
        let wall = || Some(NOW);
        let jti = CounterJti::new(*b"asyncmix");
        let config = common::config_with("pkjwt-device", ClientAuth::PrivateKeyJwt)
            .with_assertion(Assertion::new(&wall, &jti).with_signer(&setup.signer))
            .with_dpop(Dpop::new(
                DpopKey::from_public(&public).unwrap(),
                &wall,
                &jti,
            ));
        let mut client: Client<_> = Client::new(config, || Instant::from_millis(0));
        let mut conn = AsyncConnector::new(Rc::clone(&now));
        conn.push(Script::Respond(dpop_token("t-mix", "")));
        let got = embassy_futures::block_on(
            client
                .asynch()
                .dpop_signed_by(&se)
                .token(&mut conn, &mut work),
        )
        .map(|t| t.expose_secret().to_owned());
        assert_eq!(got, Ok("t-mix".to_owned()));
        assert_eq!(se.inputs.borrow().len(), 1, "the proof only");
        let written = conn.server.borrow().logs[0].borrow().written.clone();
        proof_claims(&written, &public);
    }

    #[test]
    fn with_an_async_assertion_signer_too() {
        let dpop_se = SecureElement::new(0x34);
        let assertion_se = SecureElement::new(0x35);
        let public = dpop_se.public();
        let wall = || Some(NOW);
        let jti = CounterJti::new(*b"asyncbth");
        let config = common::config_with("pkjwt-device", ClientAuth::PrivateKeyJwt)
            .with_assertion(Assertion::new(&wall, &jti))
            .with_dpop(Dpop::new(
                DpopKey::from_public(&public).unwrap(),
                &wall,
                &jti,
            ));
        let now = Rc::new(Cell::new(0u64));
        let mut client: Client<_> = Client::new(config, || Instant::from_millis(0));
        let mut conn = AsyncConnector::new(Rc::clone(&now));
        conn.push(Script::Respond(dpop_token("t-both", "")));
        let mut work = [0u8; 4096];
        let ok = embassy_futures::block_on(
            client
                .asynch()
                .signed_by(&assertion_se)
                .dpop_signed_by(&dpop_se)
                .token(&mut conn, &mut work),
        )
        .is_ok();
        assert!(ok);
        assert_eq!(
            (
                assertion_se.inputs.borrow().len(),
                dpop_se.inputs.borrow().len()
            ),
            (1, 1)
        );
        let written = conn.server.borrow().logs[0].borrow().written.clone();
        proof_claims(&written, &public);
    }
}

/// The same for a revocation response's nonce (an error response's: a 2xx
/// is not read): an over-long one is not kept, and the next token request is sent without it.
#[cfg(feature = "revocation")]
#[test]
fn a_revocation_responses_over_long_nonce_is_not_kept() {
    let setup = Setup::new();
    let now = Rc::new(Cell::new(0u64));
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let config = common::config()
        .with_dpop(setup.dpop())
        .with_revocation_endpoint(
            embedded_oauth2::TokenEndpoint::parse_allow_http("http://127.0.0.1:8080/revoke")
                .unwrap(),
        );
    let mut client: Client<_> = Client::new(config, || Instant::from_millis(0));
    let mut buf = vec![0u8; 4096];
    let long = format!("\r\nDPoP-Nonce: {}", "n".repeat(MAX_DPOP_NONCE + 1));
    for s in [
        dpop_token("t1", ""),
        json(
            &format!("HTTP/1.1 503 Service Unavailable{long}"),
            r#"{"error":"temporarily_unavailable"}"#,
        ),
        dpop_token("t2", ""),
    ] {
        server.borrow_mut().push(Script::Respond(s));
    }
    client.fetch(&mut connect, &mut buf).expect("token");
    assert!(client.revoke(&mut connect, &mut buf).is_err());
    let t = client
        .fetch(&mut connect, &mut buf)
        .expect("token after revocation");
    assert_eq!(t.expose_secret(), "t2");
    let claims = proof_claims(&server.borrow().logs[2].borrow().written, &setup.public);
    assert!(claims.get("nonce").is_none(), "{claims}");
}

/// Firmware with its own HTTP client: `Client::complete` holds the same
/// token-type policy as the drivers, so a DPoP client never stores a
/// `Bearer` token (the downgrade), and a client without DPoP never stores a
/// DPoP one; `http::parse_token_response_for` parses as the configuration's
/// request was made. (Before: `complete` stored the Bearer token, and
/// `export_token` then wrote a record `restore_token` refused.)
#[test]
fn complete_holds_the_token_type_policy() {
    use embedded_oauth2::http::{parse_token_response, parse_token_response_for};
    let setup = Setup::new();
    let bearer = br#"{"access_token":"b","token_type":"Bearer","expires_in":300}"#;
    let dpop = br#"{"access_token":"d","token_type":"DPoP","expires_in":300}"#;
    let mut client: Client<_> = Client::new(common::config().with_dpop(setup.dpop()), || {
        Instant::from_millis(0)
    });
    let mut work = [0u8; 64];
    let r = parse_token_response(200, bearer, &mut work).expect("a bearer token parses");
    assert_eq!(
        client.complete(&r, Instant::ZERO).err(),
        Some(ResponseError::BearerForDpop.into())
    );
    assert!(client.cached().is_none());
    assert_eq!(
        parse_token_response_for(client.config(), 200, bearer, &mut work, None).err(),
        Some(ResponseError::BearerForDpop.into())
    );
    let r = parse_token_response_for(client.config(), 200, dpop, &mut work, None).expect("dpop");
    let t = client.complete(&r, Instant::ZERO).expect("a DPoP token");
    assert_eq!(t.token_type(), TokenType::Dpop);

    // And the other way round.
    let mut plain: Client<_> = Client::new(common::config(), || Instant::from_millis(0));
    assert_eq!(
        parse_token_response_for(plain.config(), 200, dpop, &mut work, None).err(),
        Some(ResponseError::UnsupportedTokenType.into())
    );
    let r = parse_token_response_for(plain.config(), 200, bearer, &mut work, None).expect("bearer");
    assert_eq!(
        plain.complete(&r, Instant::ZERO).map(|t| t.token_type()),
        Ok(TokenType::Bearer)
    );
}

/// Revocation sends no DPoP proof, so it draws no proof `iat`: a DPoP
/// client whose wall clock is unknown (again) can still revoke. (Before:
/// `begin_revocation` drew a proof it never sent, and failed with
/// `NoWallClock`.)
#[cfg(feature = "revocation")]
#[test]
fn revocation_needs_no_wall_clock_for_dpop() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static KNOWN: AtomicBool = AtomicBool::new(true);
    fn wall() -> Option<u64> {
        KNOWN.load(Ordering::Relaxed).then_some(NOW)
    }
    let signer = P256Signer::from_bytes(&[0x21; 32]).unwrap();
    let public = signer.public_key_sec1();
    let jti = CounterJti::new(*b"revoke-1");
    let wall_clock = wall as fn() -> Option<u64>;
    let dpop = Dpop::new(DpopKey::new(&signer, &public).unwrap(), &wall_clock, &jti);
    let now = Rc::new(Cell::new(0u64));
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let config = common::config().with_dpop(dpop).with_revocation_endpoint(
        embedded_oauth2::TokenEndpoint::parse_allow_http("http://127.0.0.1:8080/revoke").unwrap(),
    );
    let mut client: Client<_> = Client::new(config, || Instant::from_millis(0));
    let mut buf = vec![0u8; 4096];
    server
        .borrow_mut()
        .push(Script::Respond(dpop_token("t1", "")));
    server.borrow_mut().push(Script::Respond(common::wire(
        "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n",
        "",
    )));
    client.fetch(&mut connect, &mut buf).expect("token");
    KNOWN.store(false, Ordering::Relaxed);
    client
        .revoke(&mut connect, &mut buf)
        .expect("revoked without a wall clock");
    assert!(client.cached().is_none());
    assert!(!common::contains(
        &server.borrow().logs[1].borrow().written,
        b"DPoP:"
    ));
}

/// A wall clock that is wrong makes the server refuse the proof's `iat`
/// (`invalid_dpop_proof`), a permanent error: the client stops, and stays
/// stopped while the wall clock keeps its offset; once the clock is
/// corrected (by SNTP, say) it tries again by itself and gets its token.
/// (Before: blocked until `reset_backoff`, the corrected clock ignored.)
#[test]
fn a_corrected_wall_clock_lifts_a_refusal_of_the_proofs_iat() {
    use embedded_oauth2::CLOCK_CORRECTED;
    use std::sync::atomic::{AtomicU64, Ordering};
    static WALL: AtomicU64 = AtomicU64::new(946_684_800); // 2000-01-01
    fn wall() -> Option<u64> {
        Some(WALL.load(Ordering::Relaxed))
    }
    let signer = P256Signer::from_bytes(&[0x21; 32]).unwrap();
    let public = signer.public_key_sec1();
    let jti = CounterJti::new(*b"skew-001");
    let wall_clock = wall as fn() -> Option<u64>;
    let dpop = Dpop::new(DpopKey::new(&signer, &public).unwrap(), &wall_clock, &jti);
    let now = Rc::new(Cell::new(0u64));
    let server = RefCell::new(FakeServer::new(Rc::clone(&now)));
    let mut connect = |ep: &TokenEndpoint<'_>| server.borrow_mut().connect(ep);
    let mono = Rc::clone(&now);
    let mut client: Client<_> = Client::new(common::config().with_dpop(dpop), move || {
        Instant::from_millis(mono.get())
    });
    let mut buf = vec![0u8; 4096];
    let refused = || {
        Script::Respond(json(
            "HTTP/1.1 400 Bad Request",
            r#"{"error":"invalid_dpop_proof","error_description":"iat out of range"}"#,
        ))
    };
    server.borrow_mut().push(refused());
    assert!(client.token(&mut connect, &mut buf).is_err());
    assert!(client.blocked().is_some());
    // Time passes on both clocks alike: still blocked, no connection.
    now.set(60_000);
    WALL.fetch_add(60, Ordering::Relaxed);
    assert!(client.token(&mut connect, &mut buf).is_err());
    assert_eq!(server.borrow().connections, 1);
    // A step smaller than CLOCK_CORRECTED, then exactly it: still blocked.
    WALL.fetch_add(CLOCK_CORRECTED.as_secs() - 1, Ordering::Relaxed);
    assert!(client.blocked().is_some());
    WALL.fetch_add(1, Ordering::Relaxed);
    assert!(client.blocked().is_some());
    // The wall clock is corrected: the next call fetches.
    WALL.store(NOW, Ordering::Relaxed);
    assert!(client.blocked().is_none());
    server
        .borrow_mut()
        .push(Script::Respond(dpop_token("fixed", "")));
    let t = client
        .token(&mut connect, &mut buf)
        .expect("a token after the correction");
    assert_eq!(t.expose_secret(), "fixed");
    assert_eq!(server.borrow().connections, 2);
    // Another refusal with the clock now right blocks again; it stays so.
    WALL.store(NOW, Ordering::Relaxed);
    client.invalidate();
    server.borrow_mut().push(refused());
    assert!(client.fetch(&mut connect, &mut buf).is_err());
    now.set(120_000);
    WALL.store(NOW + 60, Ordering::Relaxed);
    assert!(client.token(&mut connect, &mut buf).is_err());
    assert_eq!(server.borrow().connections, 3);
    // Other permanent errors are not the clock's.
    let mut other: Client<_> = Client::new(common::config(), || Instant::from_millis(0));
    server.borrow_mut().push(Script::Respond(json(
        "HTTP/1.1 400 Bad Request",
        r#"{"error":"invalid_scope"}"#,
    )));
    assert!(other.token(&mut connect, &mut buf).is_err());
    WALL.store(NOW + 3600, Ordering::Relaxed);
    assert!(other.blocked().is_some());
}
