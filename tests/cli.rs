//! End-to-end tests of the `fetch_token` example against a loopback server.

mod cli_support;

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
the CA certificate (PEM or DER) that signed the server's certificate";

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
        (
            &not_a_cert,
            "expected exactly one PEM \"CERTIFICATE\" block, found 0",
        ),
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
        "error: --ca-cert and --server-name apply to an https:// token URL only"
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
            "error: unknown option --client-secrt",
        ),
        (
            &[
                "--token-url",
                url,
                "--client-id",
                ID,
                "--client-secrt=gX1fBat3bV",
            ],
            "error: unknown option --client-secrt",
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
            "error: --auth must be basic, basic-unencoded, post or none, not digest",
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
            "usage: fetch_token --token-url URL --client-id ID --client-secret SECRET"
        ),
        "{out:#?}"
    );
    assert!(out.stdout.contains("CLIENT_SECRET"), "{out:#?}");
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
