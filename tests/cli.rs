//! End-to-end tests of `fetch_token` (the `cli/` package) against a loopback
//! server and the real authorization server.

mod cli_support;
/// The real authorization server (`tests/authz-server/`), for `--cache`.
mod support {
    pub mod authz;
}

use std::net::TcpListener;

use base64ct::{Base64, Encoding};
use cli_support::{Outcome, Server, json_ok, response, run};

/// RFC 6749 §2.3.1's example credentials.
const ID: &str = "s6BhdRkqt3";
const SECRET: &str = "gX1fBat3bV";
/// base64("s6BhdRkqt3:gX1fBat3bV").
const BASIC: &str = "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW";
/// Everything that would reveal the secret.
const SECRETS: &[&str] = &[SECRET, "czZCaGRSa3F0MzpnWDFmQmF0M2JW"];

const TOKEN: &str = "2YotnFZFEjr1zCsicMWpAA";
const FULL_TOKEN_RESPONSE: &str = r#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"Bearer","expires_in":3600,"scope":"read write"}"#;

const NEEDS_CA_LINE: &str = "error: --ca-cert FILE is required for an https:// token URL: \
the root certificate(s) (DER, or a PEM bundle) the server's chain leads to";

/// Runs the tool against `server` with the usual flags plus `extra`.
fn fetch(server: &Server, extra: &[&str], env: &[(&str, &str)]) -> Outcome {
    let url = server.url();
    let mut args = vec!["--token-url", &url, "--client-id", ID, "--allow-http"];
    args.extend_from_slice(extra);
    run(&args, env)
}

/// Serves `reply`, runs the tool with the secret as a flag, and returns the
/// outcome (checked for panics and leaks) and the recorded request.
fn exchange(reply: Vec<u8>, extra: &[&str]) -> (Outcome, cli_support::Request) {
    let server = Server::start(reply);
    let mut args = vec!["--client-secret", SECRET];
    args.extend_from_slice(extra);
    let out = fetch(&server, &args, &[]);
    let req = server.request().expect("the tool connected");
    out.assert_clean(SECRETS);
    (out, req)
}

fn assert_success(out: &Outcome, stdout: &str) {
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(out.stdout, stdout, "{out:#?}");
    assert_eq!(out.stderr, "", "{out:#?}");
}

/// A port on which nothing listens: bound, noted and released.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A listener that must see no connection while `f` runs.
fn assert_no_connection(f: impl FnOnce(u16) -> Outcome) -> Outcome {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.set_nonblocking(true).expect("nonblocking");
    let out = f(l.local_addr().expect("addr").port());
    match l.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the tool connected: {other:?}\n{out:#?}"),
    }
    out
}

// ---- Success --------------------------------------------------------------

/// Basic authentication with the RFC 6749 example credentials: the exact
/// stdout contract and the exact request on the wire.
#[test]
fn success_with_basic_auth() {
    let (out, req) = exchange(json_ok(FULL_TOKEN_RESPONSE), &["--scope", "read write"]);
    assert_success(
        &out,
        &format!("access_token={TOKEN}\ntoken_type=Bearer\nexpires_in=3600\nscope=read write\n"),
    );
    assert_eq!(req.request_line(), "POST /oauth2/token HTTP/1.1");
    assert_eq!(req.header("Authorization"), Some(BASIC));
    assert_eq!(
        req.header("Content-Type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(req.body, "grant_type=client_credentials&scope=read+write");
    assert_eq!(
        req.header("Content-Length"),
        Some(req.body.len().to_string().as_str())
    );
}

/// `--auth basic` is the default and gives the same request.
#[test]
fn explicit_basic_equals_default() {
    let (out, req) = exchange(json_ok(FULL_TOKEN_RESPONSE), &["--auth", "basic"]);
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(req.header("Authorization"), Some(BASIC));
    assert_eq!(req.body, "grant_type=client_credentials");
}

/// The secret may come from `CLIENT_SECRET` instead of the flag.
#[test]
fn secret_from_environment() {
    let server = Server::start(json_ok(FULL_TOKEN_RESPONSE));
    let out = fetch(&server, &[], &[("CLIENT_SECRET", SECRET)]);
    let req = server.request().expect("connected");
    out.assert_clean(SECRETS);
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(req.header("Authorization"), Some(BASIC));
}

/// With both, `--client-secret` wins over `CLIENT_SECRET`.
#[test]
fn secret_flag_wins_over_environment() {
    let server = Server::start(json_ok(FULL_TOKEN_RESPONSE));
    let out = fetch(
        &server,
        &["--client-secret", SECRET],
        &[("CLIENT_SECRET", "env-secret-loses")],
    );
    let req = server.request().expect("connected");
    out.assert_clean(&[SECRET, "env-secret-loses"]);
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(req.header("Authorization"), Some(BASIC));
}

/// `client_secret_post`: id and secret in the body, no Authorization header.
#[test]
fn auth_post_puts_credentials_in_body() {
    let (out, req) = exchange(json_ok(FULL_TOKEN_RESPONSE), &["--auth", "post"]);
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(req.header("Authorization"), None);
    assert_eq!(
        req.body,
        format!("grant_type=client_credentials&client_id={ID}&client_secret={SECRET}")
    );
}

/// `--auth none` needs no secret and sends only `client_id`.
#[test]
fn auth_none_sends_client_id_only() {
    let server = Server::start(json_ok(FULL_TOKEN_RESPONSE));
    let out = fetch(&server, &["--auth=none"], &[]);
    let req = server.request().expect("connected");
    out.assert_clean(SECRETS);
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(req.header("Authorization"), None);
    assert_eq!(
        req.body,
        format!("grant_type=client_credentials&client_id={ID}")
    );
}

/// With reserved characters, `basic` form-urlencodes id and secret before
/// base64 (RFC 6749 §2.3.1) and `basic-unencoded` does not.
#[test]
fn basic_encodes_reserved_characters_and_basic_unencoded_does_not() {
    let id = "dev@example";
    let secret = "p&ss w+rd%";
    let authorization = |method: &str| {
        let server = Server::start(json_ok(FULL_TOKEN_RESPONSE));
        let url = server.url();
        let out = run(
            &[
                "--token-url",
                &url,
                "--allow-http",
                "--client-id",
                id,
                "--client-secret",
                secret,
                "--auth",
                method,
            ],
            &[],
        );
        let req = server.request().expect("connected");
        out.assert_clean(&[secret]);
        assert_eq!(out.code, Some(0), "{out:#?}");
        req.header("Authorization").map(str::to_owned)
    };
    let encoded = authorization("basic").expect("Authorization sent");
    let unencoded = authorization("basic-unencoded").expect("Authorization sent");
    assert_eq!(
        encoded,
        format!(
            "Basic {}",
            Base64::encode_string(b"dev%40example:p%26ss+w%2Brd%25")
        )
    );
    assert_eq!(
        unencoded,
        format!("Basic {}", Base64::encode_string(b"dev@example:p&ss w+rd%"))
    );
    assert_ne!(encoded, unencoded);
}

/// `--resource` twice and `--audience` reach the body, in order, encoded;
/// `--flag=value` works like `--flag value`.
#[test]
fn resources_and_audience_in_body() {
    let (out, req) = exchange(
        json_ok(FULL_TOKEN_RESPONSE),
        &[
            "--resource",
            "https://api.example/",
            "--audience=https://aud.example",
            "--resource=urn:example:r2",
            "--scope=telemetry:write",
        ],
    );
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(
        req.body,
        "grant_type=client_credentials&scope=telemetry%3Awrite\
         &audience=https%3A%2F%2Faud.example\
         &resource=https%3A%2F%2Fapi.example%2F&resource=urn%3Aexample%3Ar2"
    );
}

/// `expires_in` sent as a numeric string is printed as a number.
#[test]
fn numeric_string_expires_in() {
    let (out, _) = exchange(
        json_ok(r#"{"access_token":"abc","token_type":"bearer","expires_in":"3600"}"#),
        &[],
    );
    assert_success(
        &out,
        "access_token=abc\ntoken_type=Bearer\nexpires_in=3600\n",
    );
}

/// Without `expires_in` and `scope` in the response, no such lines.
#[test]
fn no_expires_in_or_scope_lines_when_absent() {
    let (out, _) = exchange(
        json_ok(r#"{"token_type":"Bearer","access_token":"mF_9.B5f-4.1JqM"}"#),
        &[],
    );
    assert_success(&out, "access_token=mF_9.B5f-4.1JqM\ntoken_type=Bearer\n");
}

// ---- Signed client assertions (RFC 7523) ----------------------------------

/// `client_assertion_type=…jwt-bearer&client_assertion=<JWS>` after the
/// grant type: the JWS parts, decoded header and claims.
#[cfg(any(feature = "client-secret-jwt", feature = "p256"))]
struct SentAssertion {
    signing_input: String,
    signature: Vec<u8>,
    header: serde_json::Value,
    claims: serde_json::Value,
}

#[cfg(any(feature = "client-secret-jwt", feature = "p256"))]
fn sent_assertion(body: &str) -> SentAssertion {
    use base64ct::Base64UrlUnpadded;
    const PREFIX: &str = "grant_type=client_credentials\
        &client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer\
        &client_assertion=";
    let jws = body
        .strip_prefix(PREFIX)
        .unwrap_or_else(|| panic!("not an assertion body: {body}"));
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(parts.len(), 3, "three JWS parts: {jws}");
    for p in &parts {
        assert!(
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "not base64url: {p}"
        );
    }
    let decode = |p: &str| Base64UrlUnpadded::decode_vec(p).expect("base64url");
    let json = |p: &str| -> serde_json::Value {
        serde_json::from_slice(&decode(p)).expect("JSON in the JWS")
    };
    SentAssertion {
        signing_input: format!("{}.{}", parts[0], parts[1]),
        signature: decode(parts[2]),
        header: json(parts[0]),
        claims: json(parts[1]),
    }
}

#[cfg(any(feature = "client-secret-jwt", feature = "p256"))]
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The claims a fetch_token assertion carries: `iss` = `sub` = the client
/// id, `aud`, `iat` from the system clock, `exp` 60 s later, a 16-byte
/// `jti`; returns the `jti`.
#[cfg(any(feature = "client-secret-jwt", feature = "p256"))]
fn assert_claims(a: &SentAssertion, aud: &str) -> Vec<u8> {
    let c = &a.claims;
    assert_eq!(c["iss"], ID, "{c}");
    assert_eq!(c["sub"], ID, "{c}");
    assert_eq!(c["aud"], aud, "{c}");
    let iat = c["iat"].as_u64().expect("iat");
    assert!(iat.abs_diff(unix_now()) <= 60, "iat {iat} is not now: {c}");
    assert_eq!(c["exp"].as_u64(), Some(iat + 60), "{c}");
    let jti = base64ct::Base64UrlUnpadded::decode_vec(c["jti"].as_str().expect("jti"))
        .expect("jti is base64url");
    assert_eq!(jti.len(), 16, "{c}");
    jti
}

/// `--auth jwt`: `client_secret_jwt`. No Authorization header; the body is
/// the grant type and an HS256 assertion (three base64url parts) keyed with
/// the secret, which itself is sent nowhere; `aud` defaults to the token
/// URL; the token is printed as usual.
#[cfg(feature = "client-secret-jwt")]
#[test]
fn auth_jwt_sends_a_signed_assertion() {
    use hmac::{Hmac, Mac};
    let server = Server::start(json_ok(FULL_TOKEN_RESPONSE));
    let url = server.url();
    let out = fetch(&server, &["--client-secret", SECRET, "--auth", "jwt"], &[]);
    let req = server.request().expect("the tool connected");
    out.assert_clean(SECRETS);
    assert_success(
        &out,
        &format!("access_token={TOKEN}\ntoken_type=Bearer\nexpires_in=3600\nscope=read write\n"),
    );
    assert_eq!(req.header("Authorization"), None, "{req:?}");
    assert_eq!(
        req.header("Content-Length"),
        Some(req.body.len().to_string().as_str())
    );
    assert!(!req.head.contains(SECRET) && !req.body.contains(SECRET));
    let a = sent_assertion(&req.body);
    assert_eq!(a.header, serde_json::json!({"alg": "HS256", "typ": "JWT"}));
    assert_claims(&a, &url);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(a.signing_input.as_bytes());
    mac.verify_slice(&a.signature)
        .expect("HS256 signature verifies with the client secret");
}

/// `--assertion-aud` sets `aud`; the secret may come from `CLIENT_SECRET`;
/// two runs use different `jti` prefixes (random per run), so a restarted
/// tool never replays a `jti`.
#[cfg(feature = "client-secret-jwt")]
#[test]
fn auth_jwt_assertion_aud_and_fresh_jti_per_run() {
    let issuer = "https://issuer.example";
    let run_once = || {
        let server = Server::start(json_ok(FULL_TOKEN_RESPONSE));
        let out = fetch(
            &server,
            &["--auth=jwt", "--assertion-aud", issuer],
            &[("CLIENT_SECRET", SECRET)],
        );
        let req = server.request().expect("connected");
        out.assert_clean(SECRETS);
        assert_eq!(out.code, Some(0), "{out:#?}");
        assert_claims(&sent_assertion(&req.body), issuer)
    };
    let (first, second) = (run_once(), run_once());
    assert_ne!(first[..8], second[..8], "the jti prefix is random per run");
}

/// A PKCS#8 PEM P-256 key in a fresh file; returns its path and the signer's
/// public key.
#[cfg(feature = "p256")]
fn key_file(name: &str) -> (std::path::PathBuf, p256::ecdsa::VerifyingKey) {
    use p256::pkcs8::{EncodePrivateKey, LineEnding};
    let key = p256::SecretKey::from_bytes(&[0x17; 32].into()).expect("valid scalar");
    let pem = key.to_pkcs8_pem(LineEnding::LF).expect("PKCS#8 PEM");
    let dir = std::env::temp_dir().join(format!("fetch-token-cli-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, pem.as_bytes()).expect("write key");
    (path, p256::ecdsa::VerifyingKey::from(key.public_key()))
}

/// `--auth private-key-jwt --key FILE --key-id KID`: an ES256 assertion
/// (with `kid`) that verifies with the key's public half; no secret needed,
/// no Authorization header.
#[cfg(feature = "p256")]
#[test]
fn auth_private_key_jwt_signs_with_the_key_file() {
    use p256::ecdsa::Signature;
    use p256::ecdsa::signature::Verifier;
    let (path, public) = key_file("device.pem");
    let server = Server::start(json_ok(FULL_TOKEN_RESPONSE));
    let url = server.url();
    let out = fetch(
        &server,
        &[
            "--auth",
            "private-key-jwt",
            "--key",
            path.to_str().expect("UTF-8 path"),
            "--key-id",
            "device-key-1",
        ],
        &[],
    );
    let req = server.request().expect("connected");
    out.assert_clean(&["PRIVATE KEY"]);
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(req.header("Authorization"), None, "{req:?}");
    let a = sent_assertion(&req.body);
    assert_eq!(
        a.header,
        serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": "device-key-1"})
    );
    assert_claims(&a, &url);
    let sig = Signature::from_slice(&a.signature).expect("64-byte r || s");
    public
        .verify(a.signing_input.as_bytes(), &sig)
        .expect("ES256 signature verifies with the public key");
    let _ = std::fs::remove_file(path);
}

/// `--key` that is not a PKCS#8 P-256 key: exit 1, one line naming the
/// flag, no connection.
#[cfg(feature = "p256")]
#[test]
fn auth_private_key_jwt_with_a_bad_key_file() {
    let (path, _) = key_file("not-a-key.pem");
    std::fs::write(
        &path,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .expect("write");
    let file = path.to_str().expect("UTF-8 path").to_owned();
    let out = assert_no_connection(|port| {
        let url = format!("http://127.0.0.1:{port}/token");
        run(
            &[
                "--token-url",
                &url,
                "--allow-http",
                "--client-id",
                ID,
                "--auth",
                "private-key-jwt",
                "--key",
                &file,
            ],
            &[],
        )
    });
    let line = out.assert_one_error_line();
    assert!(
        line.starts_with(&format!(
            "error: --key {file}: not a PKCS#8 PEM P-256 private key"
        )),
        "{out:#?}"
    );
    let _ = std::fs::remove_file(path);
}

/// `--auth private-key-jwt` without `--key`: exit 1 before connecting (a
/// usage error; or, built without the `p256` feature, the line naming it).
#[test]
fn auth_private_key_jwt_without_key_fails() {
    let out = assert_no_connection(|port| {
        let url = format!("http://127.0.0.1:{port}/token");
        run(
            &[
                "--token-url",
                &url,
                "--allow-http",
                "--client-id",
                ID,
                "--auth",
                "private-key-jwt",
            ],
            &[],
        )
    });
    out.assert_clean(SECRETS);
    if cfg!(feature = "p256") {
        assert_eq!(
            out.assert_usage_error(),
            "error: --auth private-key-jwt needs --key FILE (a PKCS#8 PEM P-256 private key)"
        );
    } else {
        assert_eq!(
            out.assert_one_error_line(),
            "error: --auth private-key-jwt needs the crate feature \"p256\" (the software ES256 \
             signer): cargo run -p embedded-oauth2-cli --features p256 -- ..."
        );
    }
}

/// Built without `client-secret-jwt`, `--auth jwt` exits 1 naming the
/// feature, without connecting.
#[cfg(not(feature = "client-secret-jwt"))]
#[test]
fn auth_jwt_without_the_feature_names_it() {
    let out = assert_no_connection(|port| {
        let url = format!("http://127.0.0.1:{port}/token");
        run(
            &[
                "--token-url",
                &url,
                "--allow-http",
                "--client-id",
                ID,
                "--client-secret",
                SECRET,
                "--auth",
                "jwt",
            ],
            &[],
        )
    });
    out.assert_clean(SECRETS);
    assert_eq!(
        out.assert_one_error_line(),
        "error: --auth jwt needs the crate feature \"client-secret-jwt\": \
         cargo run -p embedded-oauth2-cli --features client-secret-jwt -- ..."
    );
}

/// `--key`, `--key-id` and `--assertion-aud` with a method that sends no
/// assertion are usage errors, not silently ignored.
#[test]
fn assertion_flags_need_a_signed_method() {
    let url = "https://as.example/token";
    let base = [
        "--token-url",
        url,
        "--client-id",
        ID,
        "--client-secret",
        SECRET,
    ];
    let cases: &[(&[&str], &str)] = &[
        (
            &["--key", "k.pem"],
            "error: --key and --key-id apply to --auth private-key-jwt only",
        ),
        (
            &["--auth", "post", "--key-id", "k1"],
            "error: --key and --key-id apply to --auth private-key-jwt only",
        ),
        (
            &["--assertion-aud", "https://as.example"],
            "error: --assertion-aud applies to --auth jwt and private-key-jwt only",
        ),
    ];
    for (extra, expected) in cases {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        let out = run(&args, &[]);
        out.assert_clean(SECRETS);
        assert_eq!(out.assert_usage_error(), *expected, "{args:?}");
    }
    if cfg!(feature = "client-secret-jwt") {
        let mut args = base.to_vec();
        args.extend_from_slice(&["--auth", "jwt", "--key", "k.pem"]);
        let out = run(&args, &[]);
        assert_eq!(
            out.assert_usage_error(),
            "error: --key and --key-id apply to --auth private-key-jwt only"
        );
    }
}

// ---- OAuth errors (exit 2) ------------------------------------------------

/// 401 `invalid_client` with a description: exit 2, `error=` and
/// `error_description=` lines on stderr, nothing on stdout.
#[test]
fn oauth_error_invalid_client() {
    let (out, _) = exchange(
        response(
            "401 Unauthorized",
            &["WWW-Authenticate: Basic realm=\"token\""],
            "application/json",
            r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
        ),
        &[],
    );
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error=invalid_client\nerror_description=Client authentication failed\n"
    );
}

/// An OAuth error without a description prints only `error=`.
#[test]
fn oauth_error_without_description() {
    let (out, _) = exchange(
        response(
            "400 Bad Request",
            &[],
            "application/json",
            r#"{"error":"invalid_scope"}"#,
        ),
        &[],
    );
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr, "error=invalid_scope\n");
}

/// A hostile description cannot add lines to stderr: control characters
/// are replaced by the library.
#[test]
fn oauth_error_description_cannot_inject_lines() {
    let (out, _) = exchange(
        response(
            "400 Bad Request",
            &[],
            "application/json",
            r#"{"error":"invalid_request","error_description":"bad\r\nerror=forged"}"#,
        ),
        &[],
    );
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert_eq!(
        out.stderr,
        "error=invalid_request\nerror_description=bad??error=forged\n"
    );
}

// ---- Other failures (exit 1) ----------------------------------------------

/// A 500 with an HTML body: exit 1 with one line naming the status.
#[test]
fn http_500_html() {
    let (out, _) = exchange(
        response(
            "500 Internal Server Error",
            &[],
            "text/html",
            "<html><body>oops</body></html>",
        ),
        &[],
    );
    assert_eq!(
        out.assert_one_error_line(),
        "error: HTTP: unexpected HTTP status 500 without an OAuth error"
    );
}

/// A redirect is not followed.
#[test]
fn redirect_is_refused() {
    let (out, _) = exchange(
        response(
            "302 Found",
            &["Location: http://127.0.0.1:1/elsewhere"],
            "text/plain",
            "",
        ),
        &[],
    );
    assert_eq!(
        out.assert_one_error_line(),
        "error: HTTP: redirect (302) not followed for a token request"
    );
}

/// Bytes that are not HTTP: exit 1, one line.
#[test]
fn malformed_response() {
    let (out, _) = exchange(b"this is not HTTP at all\r\n\r\n".to_vec(), &[]);
    assert!(
        out.assert_one_error_line().starts_with("error: HTTP: "),
        "{out:#?}"
    );
}

/// A 200 whose body is not JSON.
#[test]
fn success_status_with_garbage_body() {
    let (out, _) = exchange(json_ok("<html>not json</html>"), &[]);
    assert!(
        out.assert_one_error_line()
            .starts_with("error: token response: "),
        "{out:#?}"
    );
}

/// An access token holding an escaped CR/LF (header injection) is refused
/// and never printed.
#[test]
fn token_with_escaped_crlf_is_refused() {
    let (out, _) = exchange(
        json_ok(r#"{"access_token":"abc\r\nX-Evil: 1","token_type":"Bearer"}"#),
        &[],
    );
    assert_eq!(
        out.assert_one_error_line(),
        "error: token response: access_token contains characters not allowed in a bearer token"
    );
    out.assert_clean(&["X-Evil", "abc"]);
}

/// A token larger than the tool's 8192-byte capacity: the error names the
/// sizes.
#[test]
fn oversized_token_names_sizes() {
    let token = "A".repeat(9000);
    let (out, _) = exchange(
        json_ok(&format!(
            r#"{{"access_token":"{token}","token_type":"Bearer"}}"#
        )),
        &[],
    );
    assert_eq!(
        out.assert_one_error_line(),
        "error: access token capacity too small: 9000 bytes needed, 8192 available"
    );
    out.assert_clean(&[&token]);
}

/// A body beyond the response limits (16 KiB by default) fails with one
/// line naming the limit.
#[test]
fn oversized_body() {
    let padding = "x".repeat(20_000);
    let (out, _) = exchange(
        json_ok(&format!(
            r#"{{"access_token":"abc","token_type":"Bearer","pad":"{padding}"}}"#
        )),
        &[],
    );
    assert_eq!(
        out.assert_one_error_line(),
        "error: HTTP: response body larger than 16384 bytes"
    );
}

/// The largest token the tool holds (8192 bytes) with an escaped scope
/// still fits the work buffer.
#[test]
fn token_at_capacity_fits() {
    let token = "A".repeat(8192);
    let (out, _) = exchange(
        json_ok(&format!(
            r#"{{"access_token":"{token}","token_type":"Bearer","scope":"a\/b c"}}"#
        )),
        &[],
    );
    assert_success(
        &out,
        &format!("access_token={token}\ntoken_type=Bearer\nscope=a/b c\n"),
    );
}

/// Nothing listens: exit 1 with one line naming the address.
#[test]
fn connection_refused() {
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/token");
    let out = run(
        &[
            "--token-url",
            &url,
            "--allow-http",
            "--client-id",
            ID,
            "--client-secret",
            SECRET,
        ],
        &[],
    );
    out.assert_clean(SECRETS);
    let line = out.assert_one_error_line();
    assert!(
        line.starts_with(&format!(
            "error: transport error: connecting to 127.0.0.1:{port}: "
        )),
        "{out:#?}"
    );
}

/// `http://` without `--allow-http` is refused before connecting.
#[test]
fn http_without_allow_http_is_refused_without_connecting() {
    let out = assert_no_connection(|port| {
        let url = format!("http://127.0.0.1:{port}/token");
        run(
            &[
                "--token-url",
                &url,
                "--client-id",
                ID,
                "--client-secret",
                SECRET,
            ],
            &[],
        )
    });
    out.assert_clean(SECRETS);
    let line = out.assert_one_error_line();
    assert!(line.starts_with("error: --token-url: http://"), "{out:#?}");
    assert!(line.contains("--allow-http"), "{out:#?}");
}

/// `https://` without `--ca-cert` is a usage error naming `--ca-cert`, and
/// nothing is sent: there is no unverified mode.
#[test]
fn https_needs_ca_cert() {
    let out = assert_no_connection(|port| {
        let url = format!("https://localhost:{port}/token");
        run(
            &[
                "--token-url",
                &url,
                "--client-id",
                ID,
                "--client-secret",
                SECRET,
                "--server-name",
                "localhost",
            ],
            &[],
        )
    });
    out.assert_clean(SECRETS);
    assert_eq!(out.assert_usage_error(), NEEDS_CA_LINE);
}

/// A `--ca-cert` that is missing or not a certificate: exit 1, one line
/// naming the flag, no connection.
#[test]
fn https_with_bad_ca_cert() {
    let dir = std::env::temp_dir().join(format!("fetch-token-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let not_a_cert = dir.join("not-a-cert.pem");
    std::fs::write(&not_a_cert, "hello\n").expect("write");
    let missing = dir.join("missing.pem");
    for (file, expected) in [
        (&not_a_cert, "no PEM \"CERTIFICATE\" block found"),
        (&missing, "No such file"),
    ] {
        let file = file.to_str().expect("UTF-8 path");
        let out = assert_no_connection(|port| {
            let url = format!("https://localhost:{port}/token");
            run(
                &[
                    "--token-url",
                    &url,
                    "--client-id",
                    ID,
                    "--client-secret",
                    SECRET,
                    "--ca-cert",
                    file,
                ],
                &[],
            )
        });
        out.assert_clean(SECRETS);
        let line = out.assert_one_error_line();
        assert!(
            line.starts_with(&format!("error: --ca-cert {file}: ")) && line.contains(expected),
            "{out:#?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--ca-cert`/`--server-name` with an `http://` URL are a usage error
/// rather than silently meaningless.
#[test]
fn tls_flags_with_http_are_refused() {
    let out = assert_no_connection(|port| {
        let url = format!("http://127.0.0.1:{port}/token");
        run(
            &[
                "--token-url",
                &url,
                "--allow-http",
                "--client-id",
                ID,
                "--client-secret",
                SECRET,
                "--server-name",
                "localhost",
            ],
            &[],
        )
    });
    assert_eq!(
        out.assert_usage_error(),
        "error: --ca-cert, --server-name and --client-cert apply to an https:// token URL only"
    );
}

/// An invalid URL is refused with one line, without echoing it.
#[test]
fn invalid_url() {
    let out = run(
        &[
            "--token-url",
            "https://user:pw-in-url@as.example/token",
            "--client-id",
            ID,
            "--client-secret",
            SECRET,
        ],
        &[],
    );
    out.assert_clean(&[SECRET, "pw-in-url"]);
    assert!(
        out.assert_one_error_line()
            .starts_with("error: --token-url: "),
        "{out:#?}"
    );
}

/// A secret longer than the tool's capacity: sizes named, secret not shown.
#[test]
fn secret_too_long() {
    let secret = "s".repeat(300);
    let out = assert_no_connection(|port| {
        let url = format!("http://127.0.0.1:{port}/token");
        run(
            &[
                "--token-url",
                &url,
                "--allow-http",
                "--client-id",
                ID,
                "--client-secret",
                &secret,
            ],
            &[],
        )
    });
    out.assert_clean(&[&secret]);
    assert_eq!(
        out.assert_one_error_line(),
        "error: client secret: the client secret needs 300 bytes but its capacity is 256"
    );
}

// ---- Usage ----------------------------------------------------------------

/// `--client-id` missing: usage error.
#[test]
fn missing_client_id() {
    let out = run(
        &[
            "--token-url",
            "https://as.example/token",
            "--client-secret",
            SECRET,
        ],
        &[],
    );
    out.assert_clean(SECRETS);
    assert_eq!(out.assert_usage_error(), "error: --client-id is required");
}

/// Basic authentication without a secret anywhere: usage error.
#[test]
fn missing_secret() {
    let out = assert_no_connection(|port| {
        let url = format!("http://127.0.0.1:{port}/token");
        run(
            &["--token-url", &url, "--allow-http", "--client-id", ID],
            &[],
        )
    });
    assert_eq!(
        out.assert_usage_error(),
        "error: --client-secret (or CLIENT_SECRET) is required unless --auth none"
    );
}

/// Malformed command lines: usage errors that never echo the secret, even
/// when it ends up in an unexpected place.
#[test]
fn usage_errors_do_not_echo_values() {
    let url = "https://as.example/token";
    let cases: &[(&[&str], &str)] = &[
        (
            &["--token-url", url, "--client-id", ID, SECRET],
            "error: unexpected positional argument",
        ),
        (
            &[
                "--token-url",
                url,
                "--client-id",
                ID,
                "--client-secrt",
                SECRET,
            ],
            "error: unknown option --client-secrt (did you mean --client-secret?)",
        ),
        (
            &[
                "--token-url",
                url,
                "--client-id",
                ID,
                "--client-secrt=gX1fBat3bV",
            ],
            "error: unknown option --client-secrt (did you mean --client-secret?)",
        ),
        (
            &["--token-url", url, "--client-id", ID, "--client-secret"],
            "error: --client-secret needs a value",
        ),
        (
            &[
                "--token-url",
                url,
                "--client-id",
                ID,
                "--client-secret",
                SECRET,
                "--client-secret",
                SECRET,
            ],
            "error: --client-secret given more than once",
        ),
        (
            &[
                "--token-url",
                url,
                "--client-id",
                ID,
                "--client-secret",
                SECRET,
                "--auth",
                "digest",
            ],
            "error: --auth must be basic, basic-unencoded, post, auto, none, jwt or private-key-jwt, \
             not digest",
        ),
        (
            &[
                "--token-url",
                url,
                "--client-id",
                ID,
                "--client-secret",
                SECRET,
                "--allow-http=yes",
            ],
            "error: --allow-http takes no value",
        ),
    ];
    for (args, expected) in cases {
        let out = run(args, &[]);
        out.assert_clean(SECRETS);
        assert_eq!(out.assert_usage_error(), *expected, "{args:?}");
    }
}

/// `--help` prints the usage on stdout and exits 0.
#[test]
fn help() {
    let out = run(&["--help"], &[]);
    out.assert_clean(&[]);
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert_eq!(out.stderr, "");
    assert!(
        out.stdout.starts_with(
            "usage: fetch_token (--token-url URL | --issuer URL) --client-id ID --client-secret SECRET"
        ),
        "{out:#?}"
    );
    assert!(out.stdout.contains("CLIENT_SECRET"), "{out:#?}");
    // Every flag of the usage line has its own entry, and the output and
    // exit-status contract is there.
    let usage = out.stdout.lines().next().unwrap_or_default();
    let flags: Vec<&str> = usage
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .collect();
    assert!(flags.len() >= 20, "{flags:?}");
    for flag in flags {
        assert!(
            out.stdout.contains(&format!("\n      {flag} "))
                || out.stdout.contains(&format!("\n      {flag}\n")),
            "--help does not describe {flag}: {out:#?}"
        );
    }
    for contract in [
        "access_token=",
        "call_status=",
        "source=cache|server",
        "revoked=1",
        "Exit status:",
        "error_description=",
    ] {
        assert!(out.stdout.contains(contract), "{contract}: {out:#?}");
    }
    // `-h`: the summary, on stdout, exit 0.
    let short = run(&["-h"], &[]);
    assert_eq!(
        (short.code, short.stderr.as_str()),
        (Some(0), ""),
        "{short:#?}"
    );
    assert!(
        short.stdout.starts_with("usage: fetch_token "),
        "{short:#?}"
    );
    assert!(short.stdout.len() < out.stdout.len(), "{short:#?}");
}

/// `--revoke` without a URL takes the revocation endpoint from `--issuer`'s
/// metadata: without `--issuer` it is a usage error naming that, before
/// any connection.
#[cfg(feature = "revocation")]
#[test]
fn revoke_without_url_needs_issuer() {
    let out = assert_no_connection(|port| {
        let url = format!("http://127.0.0.1:{port}/token");
        run(
            &[
                "--token-url",
                &url,
                "--allow-http",
                "--client-id",
                ID,
                "--client-secret",
                SECRET,
                "--revoke",
            ],
            &[],
        )
    });
    out.assert_clean(SECRETS);
    assert_eq!(
        out.assert_usage_error(),
        "error: --revoke without a URL needs --issuer (its metadata names the revocation \
         endpoint): give --revoke URL or --issuer URL"
    );
}

/// Built without `revocation`, `--revoke` (with or without a URL) exits 1
/// naming the feature, without connecting.
#[cfg(not(feature = "revocation"))]
#[test]
fn revoke_without_the_feature_names_it() {
    for extra in [
        &["--revoke"][..],
        &["--revoke", "http://127.0.0.1:1/revoke"],
    ] {
        let out = assert_no_connection(|port| {
            let url = format!("http://127.0.0.1:{port}/token");
            let mut args = vec![
                "--token-url",
                &url,
                "--allow-http",
                "--client-id",
                ID,
                "--client-secret",
                SECRET,
            ];
            args.extend_from_slice(extra);
            run(&args, &[])
        });
        assert_eq!(
            out.assert_one_error_line(),
            "error: --revoke needs the crate feature \"revocation\": \
             cargo run -p embedded-oauth2-cli --features revocation -- ..."
        );
    }
}

/// A non-UTF-8 argument is a usage error, not a panic (`std::env::args`
/// would panic).
#[cfg(unix)]
#[test]
fn non_utf8_argument() {
    use std::os::unix::ffi::OsStrExt;
    let out = std::process::Command::new(cli_support::bin())
        .args(["--client-id", ID, "--client-secret"])
        .arg(std::ffi::OsStr::from_bytes(b"gX1f\xffBat3bV"))
        .env_remove("CLIENT_SECRET")
        .output()
        .expect("run fetch_token");
    let out = Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    out.assert_clean(&["gX1f", "Bat3bV"]);
    assert_eq!(
        out.assert_usage_error(),
        "error: argument 4 is not valid UTF-8"
    );
}

// ---- --cache against the real server ----------------------------------------

/// `--cache FILE` against the real authorization server (oidc-provider):
/// the first run fetches and stores the token record (`source=server`),
/// the second reuses the same token without a request (`source=cache`);
/// the record never holds the secret, and a run with another
/// configuration (a scope) refuses it and fetches.
#[test]
fn cache_reuses_a_fresh_token_across_runs() {
    let srv = support::authz::AuthzServer::shared();
    let (id, secret) = srv.client("basic");
    let url = srv.http_url("/token");
    let dir = std::env::temp_dir().join(format!("fetch-token-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cache = dir.join("token.rec");
    let cache_arg = cache.to_str().expect("UTF-8 path");
    let args = [
        "--token-url",
        &url,
        "--client-id",
        id,
        "--client-secret",
        secret,
        "--allow-http",
        "--cache",
        cache_arg,
    ];
    let token_line = |out: &Outcome| {
        out.stdout
            .lines()
            .find(|l| l.starts_with("access_token="))
            .map(str::to_owned)
    };

    let first = run(&args, &[]);
    first.assert_clean(&[secret]);
    assert_eq!(
        (first.code, first.stderr.as_str()),
        (Some(0), ""),
        "{first:#?}"
    );
    assert!(first.stdout.ends_with("\nsource=server\n"), "{first:#?}");
    let record = std::fs::read(&cache).expect("the record was written");
    assert!(record.starts_with(b"EO2T"));
    assert!(
        !record.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the record holds the secret"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cache)
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    let second = run(&args, &[]);
    second.assert_clean(&[secret]);
    assert_eq!(
        (second.code, second.stderr.as_str()),
        (Some(0), ""),
        "{second:#?}"
    );
    assert!(second.stdout.ends_with("\nsource=cache\n"), "{second:#?}");
    assert!(token_line(&first).is_some());
    assert_eq!(token_line(&second), token_line(&first), "the same token");

    let mut scoped = args.to_vec();
    scoped.extend_from_slice(&["--scope", "telemetry:write"]);
    let third = run(&scoped, &[]);
    third.assert_clean(&[secret]);
    assert_eq!(third.code, Some(0), "{third:#?}");
    assert_eq!(
        third.stderr,
        format!(
            "note: --cache {cache_arg}: the token record is for another configuration; \
             fetching a new token\n"
        ),
        "{third:#?}"
    );
    assert!(third.stdout.ends_with("\nsource=server\n"), "{third:#?}");
    assert_ne!(token_line(&third), token_line(&first));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--revoke URL` revokes the token the run holds (here from `--cache`):
/// `revoked=1`, the cache file is gone, and the receipt service refuses the
/// revoked token.
#[cfg(feature = "revocation")]
#[test]
fn revoke_revokes_the_cached_token() {
    let srv = support::authz::AuthzServer::shared();
    let (id, secret) = srv.client("basic");
    let url = srv.http_url("/token");
    let revocation = srv.http_url(srv.get("revocation_path"));
    let dir = std::env::temp_dir().join(format!("fetch-token-revoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cache = dir.join("token.rec");
    let cache_arg = cache.to_str().expect("UTF-8 path");
    let args = [
        "--token-url",
        &url,
        "--client-id",
        id,
        "--client-secret",
        secret,
        "--allow-http",
        "--scope",
        "receipts:read",
        "--resource",
        "https://receipts.example/",
        "--cache",
        cache_arg,
    ];
    let first = run(&args, &[]);
    assert_eq!(first.code, Some(0), "{first:#?}");
    let token = first
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("access_token="))
        .expect("a token")
        .to_owned();
    assert_eq!(receipt_status(srv, &token), "200");

    let mut revoke = args.to_vec();
    revoke.extend_from_slice(&["--revoke", &revocation]);
    let second = run(&revoke, &[]);
    second.assert_clean(&[secret]);
    assert_eq!(
        (second.code, second.stderr.as_str()),
        (Some(0), ""),
        "{second:#?}"
    );
    assert!(
        second.stdout.ends_with("\nsource=cache\nrevoked=1\n"),
        "{second:#?}"
    );
    assert!(!cache.exists(), "the cache file is removed");
    assert_eq!(
        receipt_status(srv, &token),
        "401",
        "the revoked token is refused"
    );

    // The revoked token is forgotten: the next run fetches a new one.
    let next = run(&args, &[]);
    assert_eq!(
        (next.code, next.stderr.as_str()),
        (Some(0), ""),
        "{next:#?}"
    );
    assert!(next.stdout.ends_with("\nsource=server\n"), "{next:#?}");
    assert!(
        !next.stdout.contains(&format!("access_token={token}\n")),
        "{next:#?}"
    );
    std::fs::remove_file(&cache).expect("the new record was written");

    // Without the revocation endpoint's support (a wrong URL path) the run
    // fails and says so.
    let mut wrong = args.to_vec();
    let bad = srv.http_url("/no-such-endpoint");
    wrong.extend_from_slice(&["--revoke", &bad]);
    let third = run(&wrong, &[]);
    assert_ne!(third.code, Some(0), "{third:#?}");
    assert!(!third.stdout.contains("revoked=1"), "{third:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `GET /receipts/1` at the receipt service's plain-HTTP listener with
/// `Authorization: Bearer TOKEN`, as a device would send it: the status.
#[cfg(feature = "revocation")]
fn receipt_status(srv: &support::authz::AuthzServer, token: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut s =
        std::net::TcpStream::connect(("127.0.0.1", srv.receipts_http_port())).expect("receipts");
    write!(
        s,
        "GET /receipts/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Connection: close\r\n\r\n"
    )
    .expect("request");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("response");
    resp.split(' ').nth(1).unwrap_or_default().to_owned()
}

/// `--revoke` without a URL, with `--issuer`: the token is revoked at the
/// `revocation_endpoint` of the issuer's metadata (over verified TLS), the
/// `--cache` file that held it is gone, the receipt service refuses it,
/// and the next run fetches a new token (`source=server`).
#[cfg(all(feature = "revocation", feature = "discovery"))]
#[test]
fn revoke_without_url_uses_the_discovered_revocation_endpoint() {
    let srv = support::authz::AuthzServer::shared();
    let (id, secret) = srv.client("basic");
    let ca = srv.ca_pem();
    let ca = ca.to_str().expect("UTF-8 path");
    let dir = support::authz::unique_temp_dir().expect("temp dir");
    let _cleanup = support::authz::Cleanup::new(dir.clone());
    let cache = dir.join("token.rec");
    let cache_arg = cache.to_str().expect("UTF-8 path");
    let args = [
        "--issuer",
        srv.get("issuer"),
        "--client-id",
        id,
        "--client-secret",
        secret,
        "--ca-cert",
        ca,
        "--scope",
        "receipts:read",
        "--resource",
        "https://receipts.example/",
        "--cache",
        cache_arg,
    ];
    let token_of = |out: &Outcome| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix("access_token="))
            .map(str::to_owned)
    };

    let mut revoke = args.to_vec();
    revoke.push("--revoke");
    let out = run(&revoke, &[]);
    out.assert_clean(&[secret]);
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:#?}");
    assert!(
        out.stdout
            .starts_with(&format!("token_endpoint={}\n", srv.get("token_endpoint"))),
        "{out:#?}"
    );
    assert!(
        out.stdout.ends_with("\nsource=server\nrevoked=1\n"),
        "{out:#?}"
    );
    let token = token_of(&out).expect("a token");
    assert!(!cache.exists(), "the cache file is removed: {out:#?}");
    assert_eq!(receipt_status(srv, &token), "401", "the token is revoked");

    let next = run(&args, &[]);
    next.assert_clean(&[secret]);
    assert_eq!(
        (next.code, next.stderr.as_str()),
        (Some(0), ""),
        "{next:#?}"
    );
    assert!(next.stdout.ends_with("\nsource=server\n"), "{next:#?}");
    let fresh = token_of(&next).expect("a token");
    assert_ne!(fresh, token, "a new token");
    assert_eq!(receipt_status(srv, &fresh), "200", "{next:#?}");
}

/// `--call` at a service that refuses the token (one for another audience)
/// and then the renewed one: `call_status=` and `call_body=` of its answer
/// on stdout, after the token and before the error line; exit 1.
#[test]
fn call_refused_prints_the_answer_before_the_error() {
    let srv = support::authz::AuthzServer::shared();
    let (id, secret) = srv.client("basic");
    let url = srv.http_url("/token");
    let receipt = format!(
        "http://127.0.0.1:{}/receipts/r-42",
        srv.receipts_http_port()
    );
    let out = run(
        &[
            "--token-url",
            &url,
            "--client-id",
            id,
            "--client-secret",
            secret,
            "--allow-http",
            "--scope",
            "telemetry:write",
            "--call",
            &receipt,
        ],
        &[],
    );
    out.assert_clean(&[secret]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("access_token="), "{out:#?}");
    assert_eq!(lines[lines.len() - 2], "call_status=401", "{out:#?}");
    let body = lines[lines.len() - 1]
        .strip_prefix("call_body=")
        .unwrap_or_else(|| panic!("call_body last: {out:#?}"));
    let json: serde_json::Value = serde_json::from_str(body).expect("the refusal as JSON");
    assert_eq!(json["error"], "invalid_token", "{json}");
    assert_eq!(
        out.stderr, "error: --call: the service refused the renewed token too (401)\n",
        "{out:#?}"
    );
}

// ---- --issuer (discovery) against the real server ----------------------------

/// `--issuer URL` against the real authorization server over TLS: the
/// RFC 8414 path is a 404 there, the OpenID Connect one answers; the
/// discovered endpoint is printed first, then the token from it. An issuer
/// that is not the one the document names is refused (exit 1).
#[cfg(feature = "discovery")]
#[test]
fn issuer_discovers_the_token_endpoint() {
    let srv = support::authz::AuthzServer::shared();
    let (id, secret) = srv.client("basic");
    let ca = srv.ca_pem();
    let ca = ca.to_str().expect("UTF-8 path");
    let issuer = srv.get("issuer");
    let out = run(
        &[
            "--issuer",
            issuer,
            "--client-id",
            id,
            "--client-secret",
            secret,
            "--ca-cert",
            ca,
        ],
        &[],
    );
    out.assert_clean(&[secret]);
    assert_eq!((out.code, out.stderr.as_str()), (Some(0), ""), "{out:#?}");
    let mut lines = out.stdout.lines();
    assert_eq!(
        lines.next(),
        Some(format!("token_endpoint={}", srv.get("token_endpoint")).as_str()),
        "{out:#?}"
    );
    assert!(
        lines.next().is_some_and(|l| l.starts_with("access_token=")),
        "{out:#?}"
    );

    // The plain-HTTP listener serves the same document: its issuer is the
    // https:// one, not the URL asked.
    let wrong = srv.http_url("");
    let out = run(
        &[
            "--issuer",
            &wrong,
            "--client-id",
            id,
            "--client-secret",
            secret,
            "--allow-http",
        ],
        &[],
    );
    out.assert_clean(&[secret]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert_eq!(out.stdout, "", "{out:#?}");
    assert_eq!(
        out.stderr,
        "error: --issuer: discovery: the metadata's issuer is not the issuer it was fetched for\n",
        "{out:#?}"
    );

    // --token-url and --issuer exclude each other.
    let out = run(
        &["--issuer", issuer, "--token-url", issuer, "--client-id", id],
        &[],
    );
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(
        out.stderr
            .starts_with("error: --token-url and --issuer exclude each other\n")
    );
}

/// The chain shapes public CAs issue, through the real authorization server
/// over TLS 1.3 (one listener per shape, `server.mjs --chain`): with a PEM
/// bundle of several roots as `--ca-cert`, each good shape gives a token —
/// RSA root → RSA intermediate → RSA leaf (an RSA-PSS CertificateVerify),
/// Let's Encrypt's P-384 root → P-384 intermediate → P-256 leaf, and an RSA
/// root over an ECDSA intermediate and leaf. Each bad shape is refused in
/// the handshake, its reason on the error line, exit 1.
#[test]
#[cfg(all(feature = "tls-rsa", feature = "tls-p384"))]
fn public_chain_shapes_through_the_authorization_server() {
    use std::ffi::OsString;
    use std::process::{Command, Stdio};
    let dir = support::authz::unique_temp_dir().expect("temp dir");
    let _cleanup = support::authz::Cleanup::new(dir.clone());
    let out = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/gen-chains.sh"
        ))
        .arg(&dir)
        .stdin(Stdio::null())
        .output()
        .expect("run gen-chains.sh (bash, openssl)");
    assert!(out.status.success(), "gen-chains.sh: {out:?}");

    let good = ["rsa", "p384", "rsa-root-ec-chain"];
    let bad = [
        ("leaf-as-ca", "beyond its constraints"),
        ("no-cert-sign", "beyond its constraints"),
        ("pathlen", "beyond its constraints"),
        ("name-constraint", "beyond its constraints"),
        ("client-auth", "not for TLS servers"),
        ("expired", "has expired"),
        ("wrong-name", "not valid for the server name"),
        ("critical-extension", "critical extension"),
        ("rsa1024", "built without"),
        ("sha1", "built without"),
        ("other-root", "trusted root"),
    ];
    let specs: Vec<OsString> = good
        .iter()
        .chain(bad.iter().map(|(s, _)| s))
        .flat_map(|s| {
            let mut spec = OsString::from(format!("{s}="));
            spec.push(&dir);
            [OsString::from("--chain"), spec]
        })
        .collect();
    let specs: Vec<&std::ffi::OsStr> = specs.iter().map(OsString::as_os_str).collect();
    let srv = support::authz::AuthzServer::try_start_with(&specs).unwrap_or_else(|e| panic!("{e}"));
    let (id, secret) = srv.client("basic");

    // The roots a device reaching several providers would carry, an
    // unrelated one (the server's own test CA) first; not `other-root`.
    let mut bundle = std::fs::read(srv.ca_pem()).expect("ca.pem");
    for root in ["rsa-root", "root", "p384-root"] {
        bundle.extend(std::fs::read(dir.join(format!("{root}.pem"))).expect("root"));
    }
    let bundle_path = dir.join("bundle.pem");
    std::fs::write(&bundle_path, &bundle).expect("bundle");
    let bundle_path = bundle_path.to_str().expect("UTF-8 path");
    let url = |shape: &str| {
        let base = srv.ready["chains"][shape]["https"]
            .as_str()
            .expect("chain listener");
        format!("{base}/token")
    };
    let run_shape = |shape: &str| {
        let out = run(
            &[
                "--token-url",
                &url(shape),
                "--client-id",
                id,
                "--client-secret",
                secret,
                "--ca-cert",
                bundle_path,
            ],
            &[],
        );
        out.assert_clean(&[secret]);
        out
    };
    for shape in good {
        let out = run_shape(shape);
        assert_eq!(
            (out.code, out.stderr.as_str()),
            (Some(0), ""),
            "{shape}: {out:#?}"
        );
        assert!(out.stdout.starts_with("access_token="), "{shape}: {out:#?}");
    }
    for (shape, why) in bad {
        let out = run_shape(shape);
        assert_eq!(out.code, Some(1), "{shape}: {out:#?}");
        assert!(
            out.stderr.contains("certificate refused") && out.stderr.contains(why),
            "{shape}: want {why:?}: {out:#?}"
        );
        assert_eq!(out.stdout, "", "{shape}: {out:#?}");
    }
}
