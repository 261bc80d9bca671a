//! TLS 1.3 through the crate's connector (`embedded_oauth2::tls`, its std
//! opener in `cli/src/tls.rs`) against the real
//! authorization server (`tests/authz-server/`, TLS 1.3 only, P-256 only):
//! verified tokens, every way the server check must fail, pinning, how a
//! connection ends, and `fetch_token` over `https://`; and the verifier on
//! chains of many shapes (`tests/support/gen-chains.sh`), through
//! `verify_server_chain` and end to end.

// `embedded_oauth2::Error` carries the server's OAuth error by value.
#![allow(clippy::result_large_err)]

mod support {
    pub mod authz;
}

#[path = "../cli/src/tls.rs"]
mod tls;

#[allow(dead_code)]
mod cli_support;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant as StdInstant};

use embedded_io::{Read, Write};
use embedded_oauth2::tls::{CertError, Roots, verify_server_chain};
use embedded_oauth2::{
    Client, ClientAuth, ClientId, ClientSecret, Clock, Config, Error, Instant, TokenEndpoint,
    TokenType,
};
use embedded_tls::TlsError;
use sha2::{Digest, Sha256};
use support::authz::AuthzServer;
use tls::{HostTls, Pin, TlsConnectError, TlsConnector};

/// Device-sized capacities: secret, token, scope, work buffer.
const N: usize = 64;
const T: usize = 2048;
const S: usize = 128;
const WORK: usize = 4096;

const IO_TIMEOUT: Duration = Duration::from_secs(15);

fn server() -> &'static AuthzServer {
    AuthzServer::shared()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// A file the certificate script wrote (`ca.pem`, `server.der`, ...).
fn cert_file(name: &str) -> Vec<u8> {
    read(&server().certs.join(name))
}

fn port(key: &str) -> u16 {
    server().ready[key]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_else(|| panic!("ready file has no port {key:?}"))
}

fn connector(ca: &str, server_name: Option<&str>) -> TlsConnector {
    tls::connector(&cert_file(ca), server_name)
        .unwrap_or_else(|e| panic!("connector: {e}"))
        .with_timeout(IO_TIMEOUT)
}

fn clock() -> impl Clock {
    let boot = StdInstant::now();
    move || Instant::from_millis(u64::try_from(boot.elapsed().as_millis()).unwrap_or(u64::MAX))
}

/// What a successful fetch gave.
#[derive(Debug)]
struct Fetched {
    token: String,
    token_type: TokenType,
    expires_in: Option<u64>,
    scope: Option<String>,
}

/// Fetches a `telemetry:write` token for `basic-client`
/// (`client_secret_basic`) from `url` through `connector`.
fn fetch<K: embedded_oauth2::blocking::Connect<Error = TlsConnectError>>(
    url: &str,
    connector: &mut K,
) -> Result<Fetched, Error<TlsConnectError>> {
    let (id, secret) = server().client("basic");
    let config = Config::new(
        TokenEndpoint::parse(url).expect("https URL"),
        ClientId::new(id).expect("client id"),
        ClientAuth::Basic(ClientSecret::<N>::new(secret).expect("secret")),
    )
    .with_scope("telemetry:write")
    .expect("scope");
    let mut client: Client<_, N, T, S> = Client::new(config, clock());
    let mut work = [0u8; WORK];
    let token = client.fetch(connector, &mut work)?;
    Ok(Fetched {
        token: token.expose_secret().to_owned(),
        token_type: token.token_type(),
        expires_in: token.expires_in(),
        scope: token.scope().map(str::to_owned),
    })
}

fn assert_token(f: &Fetched) {
    assert!(!f.token.is_empty(), "{f:?}");
    assert_eq!(f.token_type, TokenType::Bearer, "{f:?}");
    assert_eq!(f.expires_in, Some(300), "{f:?}");
    assert_eq!(f.scope.as_deref(), Some("telemetry:write"), "{f:?}");
}

/// Asserts the fetch failed in the TLS handshake, the server refused for
/// `why` (before anything was sent: the secret never left).
fn assert_rejected(why: CertError, result: Result<Fetched, Error<TlsConnectError>>) {
    match result {
        Err(Error::Transport(TlsConnectError::Certificate(e))) if e == why => {}
        other => panic!(
            "expected the handshake to be refused with {why:?}, got {other:?}\n\
             --- server stderr ---\n{}",
            server().stderr_log()
        ),
    }
}

fn https_url(port: u16) -> String {
    format!("https://localhost:{port}/token")
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

// ---- Verified tokens ------------------------------------------------------

/// A token over TLS 1.3 verified against the CA (PEM) and the name
/// `localhost`, with `client_secret_basic`.
#[test]
fn token_over_verified_tls13() {
    let mut c = connector("ca.pem", None);
    let f = fetch(&https_url(port("https_port")), &mut c).expect("token over TLS");
    assert_token(&f);
}

/// Connecting to 127.0.0.1 with `server_name = Some("localhost")` (CA as
/// DER this time).
#[test]
fn token_by_ip_with_server_name() {
    let mut c = connector("ca.der", Some("localhost"));
    let url = format!("https://127.0.0.1:{}/token", port("https_port"));
    let f = fetch(&url, &mut c).expect("token over TLS by IP");
    assert_token(&f);
}

/// One connector serves several connections in turn (token endpoint and
/// resource server), and a handshake takes milliseconds.
#[test]
fn connector_is_reusable_and_handshake_timing() {
    let mut c = connector("ca.pem", None);
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = StdInstant::now();
        let stream = c.open("localhost", port("https_port")).expect("handshake");
        times.push(started.elapsed());
        stream.close().expect("close_notify");
    }
    let receipts = c
        .open("localhost", port("receipts_https_port"))
        .expect("handshake with the receipt service");
    drop(receipts);
    times.sort();
    eprintln!(
        "TLS 1.3 handshakes (TCP connect + handshake, {} build): min {:?}, median {:?}, max {:?}",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        times[0],
        times[2],
        times[4]
    );
    let f = fetch(&https_url(port("https_port")), &mut c).expect("token after reuse");
    assert_token(&f);
}

/// An IP address is verified as one: the server's certificate names
/// `IP:127.0.0.1`, so `https://127.0.0.1:…` works without a server name, and
/// `127.0.0.2` (not in the certificate) is refused for the name.
#[test]
fn ip_address_is_verified_against_the_ip_san() {
    let mut c = connector("ca.pem", None);
    let url = format!("https://127.0.0.1:{}/token", port("https_port"));
    assert_token(&fetch(&url, &mut c).expect("token by IP"));
    let mut c = connector("ca.pem", Some("127.0.0.2"));
    assert_rejected(CertError::Name, fetch(&url, &mut c));
    let err = tls::connector(&cert_file("ca.pem"), Some("[::1]")).unwrap_err();
    assert!(err.contains("DNS name or an IP address"), "{err}");
}

// ---- The server check must fail -------------------------------------------

/// The listener whose certificate comes from an unrelated CA fails the
/// handshake with our CA.
#[test]
fn other_ca_listener_is_rejected() {
    let mut c = connector("ca.pem", None);
    assert_rejected(
        CertError::UnknownIssuer,
        fetch(&https_url(port("https_other_ca_port")), &mut c),
    );
}

/// The listener with a certificate from the good CA but for
/// `wrong.example` fails for the name `localhost`.
#[test]
fn wrong_name_listener_is_rejected() {
    let mut c = connector("ca.pem", None);
    assert_rejected(
        CertError::Name,
        fetch(&https_url(port("https_wrong_name_port")), &mut c),
    );
}

/// The good listener fails when the name to verify is `wrong.example`.
#[test]
fn good_listener_with_wrong_server_name_is_rejected() {
    let mut c = connector("ca.pem", Some("wrong.example"));
    assert_rejected(
        CertError::Name,
        fetch(&https_url(port("https_port")), &mut c),
    );
}

/// Trusting the other CA: the good listener is rejected as well.
#[test]
fn other_ca_rejects_good_listener() {
    let mut c = connector("other-ca.pem", None);
    assert_rejected(
        CertError::UnknownIssuer,
        fetch(&https_url(port("https_port")), &mut c),
    );
}

/// A server that is not TLS (the plain-HTTP listener answers the
/// ClientHello with an HTTP 400) is an error, not a panic.
#[test]
fn plain_http_listener_is_an_error_not_a_panic() {
    let mut c = connector("ca.pem", None);
    let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        c.open("localhost", port("http_port")).map(drop)
    }));
    match got {
        Ok(Err(e)) => eprintln!("plain HTTP listener: {e}"),
        Ok(Ok(())) => panic!("a handshake with a plain HTTP server succeeded"),
        Err(_) => panic!("the handshake panicked"),
    }
}

/// A server that accepts and never answers: the read timeout comes back as
/// the socket's own `std::io::Error` (`WouldBlock`/`TimedOut`), not a bare
/// error kind.
#[test]
fn silent_server_times_out_with_the_io_error() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut c = tls::connector(&cert_file("ca.pem"), Some("localhost"))
        .expect("connector")
        .with_timeout(Duration::from_millis(300));
    let started = StdInstant::now();
    match c.open("127.0.0.1", addr.port()) {
        Err(TlsConnectError::Transport(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("handshake with a silent server succeeded"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(listener);
}

// ---- Pinning --------------------------------------------------------------

/// SHA-256 of the SubjectPublicKeyInfo of a PEM certificate, computed by
/// openssl (independently of `tls::spki`).
fn openssl_spki_sha256(cert_pem: &Path) -> [u8; 32] {
    let out = Command::new("sh")
        .arg("-c")
        .arg(
            "openssl x509 -in \"$0\" -pubkey -noout \
             | openssl pkey -pubin -outform DER \
             | openssl dgst -sha256 -binary",
        )
        .arg(cert_pem)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "{out:?}");
    out.stdout.as_slice().try_into().expect("32 bytes")
}

/// Pin on the leaf certificate (SHA-256 of its DER) matches: token.
#[test]
fn pinned_certificate_matches() {
    let pin = Pin::Certificate(sha256(&cert_file("server.der")));
    let mut c = connector("ca.pem", None).with_pin(pin);
    assert_token(&fetch(&https_url(port("https_port")), &mut c).expect("pinned token"));
}

/// Pin on the public key (SHA-256 of the SubjectPublicKeyInfo, as openssl
/// computes it) matches: token; and `tls::spki` finds the same bytes.
#[test]
fn pinned_public_key_matches() {
    let expected = openssl_spki_sha256(&server().certs.join("server.pem"));
    let der = cert_file("server.der");
    assert_eq!(sha256(tls::spki(&der).expect("SPKI")), expected);
    let mut c = connector("ca.pem", None).with_pin(Pin::PublicKey(expected));
    assert_token(&fetch(&https_url(port("https_port")), &mut c).expect("pinned token"));
}

/// A pin that differs fails the handshake, although chain and name are
/// fine: another certificate of the same CA, another key, one flipped bit.
#[test]
fn pin_mismatch_fails_handshake() {
    let mut flipped = sha256(&cert_file("server.der"));
    flipped[0] ^= 1;
    for pin in [
        Pin::Certificate(sha256(&cert_file("wrong-name.der"))),
        Pin::Certificate(flipped),
        Pin::PublicKey(openssl_spki_sha256(
            &server().certs.join("other-server.pem"),
        )),
    ] {
        let mut c = connector("ca.pem", None).with_pin(pin);
        assert_rejected(
            CertError::Pin,
            fetch(&https_url(port("https_port")), &mut c),
        );
    }
}

/// A pin is checked in addition to the chain, never instead: pinning the
/// other CA's server certificate does not make it trusted.
#[test]
fn pin_does_not_replace_the_chain_check() {
    let pin = Pin::Certificate(sha256(&cert_file("other-server.der")));
    let mut c = connector("ca.pem", None).with_pin(pin);
    assert_rejected(
        CertError::UnknownIssuer,
        fetch(&https_url(port("https_other_ca_port")), &mut c),
    );
}

/// The roots may be one DER certificate or PEM with one or more (a bundle:
/// a chain to any of them is trusted); anything else is refused.
#[test]
fn ca_parsing() {
    let pem = cert_file("ca.pem");
    let der = cert_file("ca.der");
    assert_eq!(tls::certificate_der(&pem).expect("PEM"), der);
    assert_eq!(tls::certificate_der(&der).expect("DER"), der);
    let mut two = cert_file("other-ca.pem");
    two.extend_from_slice(b"\nsome text between blocks\n");
    two.extend_from_slice(&pem);
    assert!(tls::certificate_der(&two).unwrap_err().contains("found 2"));
    let both = tls::certificates_der(&two).expect("a bundle");
    assert_eq!(both.len(), 2);
    assert_eq!(both[1], der);
    // The bundle's second root verifies the good listener.
    let mut c = tls::connector(&two, None)
        .expect("connector")
        .with_timeout(IO_TIMEOUT);
    assert_token(&fetch(&https_url(port("https_port")), &mut c).expect("token"));
    assert!(tls::certificate_der(b"not a certificate").is_err());
    assert!(tls::certificate_der(&der[..der.len() - 1]).is_err());
    let key = cert_file("ca-key.pem");
    assert!(tls::connector(&key, None).is_err());
    // A leaf is no root either: webpki reads it as an anchor, but nothing
    // chains to it but itself.
    assert!(tls::connector(&pem, Some("")).is_err());
    assert!(tls::connector(&pem, Some(&"a".repeat(64))).is_err());
}

// ---- How a connection ends ------------------------------------------------

/// `GET /health` on the receipt service over TLS with `Connection: close`:
/// `read` returns the whole response and then `Ok(0)` (close_notify or
/// FIN from Node), and keeps returning `Ok(0)`.
#[test]
fn read_returns_zero_at_end_of_connection() {
    let mut c = connector("ca.pem", None);
    let p = port("receipts_https_port");
    let mut s = c.open("localhost", p).expect("handshake");
    let req = format!("GET /health HTTP/1.1\r\nHost: localhost:{p}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).expect("write");
    s.flush().expect("flush");
    let mut resp = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => resp.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read: {e}"),
        }
    }
    let resp = String::from_utf8(resp).expect("UTF-8");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.ends_with(r#"{"ok":true}"#), "{resp}");
    assert_eq!(s.read(&mut buf).expect("read after end"), 0);
}

/// A TLS server (Node; key and certificate chain from `TLS_KEY`/`TLS_CERT`)
/// whose token response has no `Content-Length`: the body ends with the
/// connection, ended the way `TLS_MODE` says.
const CLOSE_SERVER_JS: &str = r#"
const fs = require('node:fs'), net = require('node:net'), tls = require('node:tls');
const { Duplex } = require('node:stream');
const mode = process.env.TLS_MODE;
const ctx = tls.createSecureContext({
  key: fs.readFileSync(process.env.TLS_KEY), cert: fs.readFileSync(process.env.TLS_CERT),
  minVersion: 'TLSv1.3', ecdhCurve: 'P-256' });
const body = JSON.stringify({ access_token: 'close-delimited-token', token_type: 'Bearer', expires_in: 60 });
const response = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n' + body;
net.createServer((raw) => {
  // The TLS socket writes through this stream, so that the bytes after the
  // response can be cut: 'fin' ends TCP right after the response record (no
  // close_notify); 'truncate' also cuts the last 7 bytes of that record;
  // 'close_notify' sends close_notify and leaves TCP open.
  let cut = null;
  const wire = new Duplex({
    read() {},
    write(chunk, _enc, cb) {
      if (cut === 'drop') return cb();
      if (cut === 'fin' || cut === 'truncate') {
        raw.write(cut === 'fin' ? chunk : chunk.subarray(0, Math.max(1, chunk.length - 7)));
        raw.end();
        cut = 'drop';
        return cb();
      }
      raw.write(chunk, cb);
    },
  });
  raw.on('data', (d) => wire.push(d));
  raw.on('end', () => wire.push(null));
  raw.on('error', () => {});
  const sock = new tls.TLSSocket(wire, { isServer: true, secureContext: ctx });
  sock.on('error', () => {});
  let req = Buffer.alloc(0), answered = false;
  sock.on('data', (d) => {
    req = Buffer.concat([req, d]);
    const head = req.indexOf('\r\n\r\n');
    if (answered || head < 0) return;
    const m = /content-length:\s*(\d+)/i.exec(req.subarray(0, head).toString('latin1'));
    if (req.length < head + 4 + (m ? +m[1] : 0)) return;
    answered = true;
    if (mode === 'close_notify') { sock.end(response); } else { cut = mode; sock.write(response); }
  });
}).listen(0, '127.0.0.1', function () { console.log(this.address().port); });
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
"#;

/// The Node server above; killed on drop.
struct CloseServer {
    child: Child,
    _stdin: ChildStdin,
    port: u16,
}

impl CloseServer {
    /// With the authorization server's certificate (`server.pem`).
    fn start(mode: &str) -> Self {
        let certs = &server().certs;
        Self::start_with(
            mode,
            &certs.join("server-key.pem"),
            &certs.join("server.pem"),
        )
    }

    fn start_with(mode: &str, key: &Path, cert_chain: &Path) -> Self {
        let mut child = Command::new("node")
            .args(["-e", CLOSE_SERVER_JS])
            .env("TLS_KEY", key)
            .env("TLS_CERT", cert_chain)
            .env("TLS_MODE", mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn node");
        let stdin = child.stdin.take().expect("stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("port line");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("port: {line:?}"));
        Self {
            child,
            _stdin: stdin,
            port,
        }
    }
}

impl Drop for CloseServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fetch_close_delimited(mode: &str) -> Result<Fetched, Error<TlsConnectError>> {
    let s = CloseServer::start(mode);
    let mut c = connector("ca.pem", None);
    fetch(&https_url(s.port), &mut c)
}

fn assert_close_delimited_token(r: Result<Fetched, Error<TlsConnectError>>) {
    let f = r.expect("close-delimited token");
    assert_eq!(f.token, "close-delimited-token");
    assert_eq!(f.expires_in, Some(60));
}

/// A close-delimited body ended by the server's close_notify (TCP left
/// open): the client sees the end and gets the token.
#[test]
fn close_delimited_body_ended_by_close_notify() {
    assert_close_delimited_token(fetch_close_delimited("close_notify"));
}

/// A close-delimited body ended by a TCP FIN between records, without
/// close_notify: also the end.
#[test]
fn close_delimited_body_ended_by_tcp_fin() {
    assert_close_delimited_token(fetch_close_delimited("fin"));
}

/// A FIN inside a record is a truncation, not an end: `Truncated`, never
/// a token cut short.
#[test]
fn truncated_record_is_an_error() {
    match fetch_close_delimited("truncate") {
        Err(Error::Transport(TlsConnectError::Truncated)) => {}
        other => panic!("{other:?}"),
    }
}

// ---- fetch_token over https -----------------------------------------------

fn fetch_token(url: &str, extra: &[&str]) -> cli_support::Outcome {
    let (id, secret) = server().client("basic");
    let mut args = vec![
        "--token-url",
        url,
        "--client-id",
        id,
        "--client-secret",
        secret,
    ];
    args.extend_from_slice(extra);
    let out = cli_support::run(&args, &[]);
    out.assert_clean(&[secret]);
    out
}

/// `fetch_token` over https with `--ca-cert`: exit 0, `access_token=`.
#[test]
fn fetch_token_over_https() {
    let ca = server().ca_pem();
    let out = fetch_token(
        &https_url(port("https_port")),
        &[
            "--ca-cert",
            ca.to_str().expect("UTF-8 path"),
            "--scope",
            "telemetry:write",
        ],
    );
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(out.stdout.starts_with("access_token="), "{out:#?}");
    assert!(out.stdout.contains("\ntoken_type=Bearer\n"), "{out:#?}");
    assert_eq!(out.stderr, "", "{out:#?}");
}

/// The main story through the CLI: a receipts token over verified TLS,
/// then `--call` GETs the receipt with it (also over verified TLS) and
/// prints the service's answer on one line.
#[test]
fn fetch_token_call_gets_the_receipt() {
    let ca = server().ca_pem();
    let receipt = format!(
        "https://localhost:{}/receipts/r-42",
        port("receipts_https_port")
    );
    let out = fetch_token(
        &https_url(port("https_port")),
        &[
            "--ca-cert",
            ca.to_str().expect("UTF-8 path"),
            "--scope",
            "receipts:read",
            "--resource",
            "https://receipts.example/",
            "--call",
            &receipt,
        ],
    );
    assert_eq!(out.code, Some(0), "{out:#?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("access_token="), "{out:#?}");
    assert!(lines.contains(&"call_status=200"), "{out:#?}");
    let body = lines
        .iter()
        .find_map(|l| l.strip_prefix("call_body="))
        .expect("call_body line");
    let json: serde_json::Value = serde_json::from_str(body).expect("the receipt as JSON");
    assert_eq!(json["receipt"], "r-42", "{json}");
    assert_eq!(json["client_id"], server().client("basic").0, "{json}");
    assert_eq!(out.stderr, "", "{out:#?}");
}

/// `--call` with a token for another audience: the service answers 401,
/// the client renews once and retries once, then gives up (exit 1): never
/// a loop. The service's answer is printed before the error.
#[test]
fn fetch_token_call_with_a_refused_token_gives_up_after_one_retry() {
    let ca = server().ca_pem();
    let receipt = format!(
        "https://localhost:{}/receipts/r-42",
        port("receipts_https_port")
    );
    let out = fetch_token(
        &https_url(port("https_port")),
        &[
            "--ca-cert",
            ca.to_str().expect("UTF-8 path"),
            "--scope",
            "telemetry:write",
            "--call",
            &receipt,
        ],
    );
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(out.stdout.starts_with("access_token="), "{out:#?}");
    assert!(
        out.stdout.contains("\ncall_status=401\ncall_body={"),
        "{out:#?}"
    );
    let line = out.stderr.trim_end();
    assert!(line.contains("refused the renewed token"), "{out:#?}");
}

/// `fetch_token` to 127.0.0.1 with `--server-name localhost` and the CA as DER.
#[test]
fn fetch_token_by_ip_with_server_name() {
    let ca = server().ca_der();
    let url = format!("https://127.0.0.1:{}/token", port("https_port"));
    let out = fetch_token(
        &url,
        &[
            "--ca-cert",
            ca.to_str().expect("UTF-8 path"),
            "--server-name",
            "localhost",
        ],
    );
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(out.stdout.starts_with("access_token="), "{out:#?}");
}

/// `fetch_token` with the other CA: exit 1, one line naming the
/// certificate failure.
#[test]
fn fetch_token_with_other_ca_fails() {
    let ca = server().certs.join("other-ca.pem");
    let out = fetch_token(
        &https_url(port("https_port")),
        &["--ca-cert", ca.to_str().expect("UTF-8 path")],
    );
    let line = out.assert_one_error_line();
    assert!(
        line.contains("certificate refused: ") && line.contains("trusted root"),
        "{out:#?}"
    );
}

/// `--ca-cert` with a PEM bundle (an unrelated root, then the test CA), as
/// curl's `--cacert` takes: the second root verifies the server.
#[test]
fn fetch_token_with_a_ca_bundle() {
    let mut bundle = cert_file("other-ca.pem");
    bundle.extend_from_slice(&cert_file("ca.pem"));
    let path =
        std::env::temp_dir().join(format!("embedded-oauth2-bundle-{}.pem", std::process::id()));
    std::fs::write(&path, &bundle).expect("write the bundle");
    let out = fetch_token(
        &https_url(port("https_port")),
        &["--ca-cert", path.to_str().expect("UTF-8 path")],
    );
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.code, Some(0), "{out:#?}");
    assert!(out.stdout.starts_with("access_token="), "{out:#?}");
}

// ---- fetch_token with signed client assertions over https -----------------

/// Runs `fetch_token` against the real server's TLS listener with
/// `--ca-cert`, as client `id`, plus `extra`; `secrets` must not show.
#[cfg(any(feature = "client-secret-jwt", feature = "p256"))]
fn fetch_token_as(id: &str, extra: &[&str], secrets: &[&str]) -> cli_support::Outcome {
    let url = https_url(port("https_port"));
    let ca = server().ca_pem();
    let mut args = vec![
        "--token-url",
        &url,
        "--client-id",
        id,
        "--ca-cert",
        ca.to_str().expect("UTF-8 path"),
    ];
    args.extend_from_slice(extra);
    let out = cli_support::run(&args, &[]);
    out.assert_clean(secrets);
    out
}

#[cfg(any(feature = "client-secret-jwt", feature = "p256"))]
fn assert_fetch_token_ok(out: &cli_support::Outcome, scope: Option<&str>) {
    assert_eq!(
        out.code,
        Some(0),
        "{out:#?}\n--- server stderr ---\n{}",
        server().stderr_log()
    );
    assert!(out.stdout.starts_with("access_token="), "{out:#?}");
    assert!(out.stdout.contains("\ntoken_type=Bearer\n"), "{out:#?}");
    if let Some(scope) = scope {
        assert!(
            out.stdout.ends_with(&format!("\nscope={scope}\n")),
            "{out:#?}"
        );
    }
    assert_eq!(out.stderr, "", "{out:#?}");
}

/// `fetch_token --auth jwt` (client_secret_jwt) over verified TLS 1.3: the
/// server accepts the assertion with the default `aud` (the token URL) and
/// with `--assertion-aud <issuer>`; a wrong secret is the server's
/// `invalid_client` (exit 2).
#[cfg(feature = "client-secret-jwt")]
#[test]
fn fetch_token_client_secret_jwt_over_https() {
    let (id, secret) = server().client("jwt");
    let issuer = server().get("issuer");
    let out = fetch_token_as(
        id,
        &[
            "--client-secret",
            secret,
            "--auth",
            "jwt",
            "--scope",
            "telemetry:write",
        ],
        &[secret],
    );
    assert_fetch_token_ok(&out, Some("telemetry:write"));

    let out = fetch_token_as(
        id,
        &[
            "--client-secret",
            secret,
            "--auth",
            "jwt",
            "--assertion-aud",
            issuer,
        ],
        &[secret],
    );
    assert_fetch_token_ok(&out, None);

    let wrong = "not-the-jwt-client-secret-0123456789abcdefgh";
    let out = fetch_token_as(
        id,
        &["--client-secret", wrong, "--auth", "jwt"],
        &[wrong, secret],
    );
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert_eq!(out.stdout, "", "{out:#?}");
    assert!(out.stderr.starts_with("error=invalid_client\n"), "{out:#?}");
}

/// `fetch_token --auth private-key-jwt --key <pkjwt-key.pem>` over verified
/// TLS 1.3: accepted with `--key-id` and the default `aud`, and without a
/// `kid` but with `--assertion-aud <issuer>`.
#[cfg(feature = "p256")]
#[test]
fn fetch_token_private_key_jwt_over_https() {
    let c = &server().ready["clients"]["pkjwt"];
    let field = |k: &str| c[k].as_str().unwrap_or_else(|| panic!("clients.pkjwt.{k}"));
    let (id, key, kid) = (field("client_id"), field("private_key_pem"), field("kid"));
    let out = fetch_token_as(
        id,
        &[
            "--auth",
            "private-key-jwt",
            "--key",
            key,
            "--key-id",
            kid,
            "--scope",
            "receipts:read",
        ],
        &["PRIVATE KEY"],
    );
    assert_fetch_token_ok(&out, Some("receipts:read"));

    let out = fetch_token_as(
        id,
        &[
            "--auth",
            "private-key-jwt",
            "--key",
            key,
            "--assertion-aud",
            server().get("issuer"),
        ],
        &["PRIVATE KEY"],
    );
    assert_fetch_token_ok(&out, None);
}

/// `fetch_token --dpop-key <key.pem>` over verified TLS 1.3: a DPoP-bound
/// token (`token_type=DPoP`) for the DPoP client, then `--call` presents it
/// with a proof to a receipt whose service asks for its own nonce first
/// (`n-…`): the call is made again with the nonce and answers 200.
#[cfg(all(feature = "dpop", feature = "p256"))]
#[test]
fn fetch_token_dpop_key_over_https() {
    let key = server().ready["clients"]["pkjwt"]["private_key_pem"]
        .as_str()
        .expect("a P-256 PKCS#8 key file");
    let (id, secret) = server().client("dpop");
    let receipt = format!(
        "https://localhost:{}/receipts/n-cli",
        port("receipts_https_port")
    );
    let out = fetch_token_as(
        id,
        &[
            "--client-secret",
            secret,
            "--dpop-key",
            key,
            "--scope",
            "receipts:read",
            "--call",
            &receipt,
        ],
        &[secret, "PRIVATE KEY"],
    );
    assert_eq!(out.code, Some(0), "{out:#?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines.contains(&"token_type=DPoP"), "{out:#?}");
    assert!(lines.contains(&"call_status=200"), "{out:#?}");
    let body = lines
        .iter()
        .find_map(|l| l.strip_prefix("call_body="))
        .expect("call_body line");
    let json: serde_json::Value = serde_json::from_str(body).expect("the receipt as JSON");
    assert_eq!(json["receipt"], "n-cli", "{json}");
    assert!(
        json["jkt"].as_str().is_some_and(|j| j.len() == 43),
        "{json}"
    );
    // Without the key, the DPoP client gets no token.
    let out = fetch_token_as(id, &["--client-secret", secret], &[secret]);
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert!(out.stderr.starts_with("error=invalid_grant"), "{out:#?}");
}

/// `fetch_token --auth none --client-cert --client-key` against the
/// mutual-TLS listener: the certificate authenticates the client
/// (`tls_client_auth`), the token is bound to it, and `--call` presents it
/// over a connection with the same certificate (the receipt service checks
/// `cnf.x5t#S256`).
#[cfg(all(feature = "mtls", feature = "p256"))]
#[test]
fn fetch_token_client_certificate_over_mutual_tls() {
    let c = &server().ready["clients"]["mtls"];
    let field = |k: &str| c[k].as_str().unwrap_or_else(|| panic!("clients.mtls.{k}"));
    let url = format!("https://localhost:{}/token", port("mtls_port"));
    let receipt = format!(
        "https://localhost:{}/receipts/m-cli",
        port("receipts_mtls_port")
    );
    let ca = server().ca_pem();
    let args = |cert: &'static str, key: &'static str| {
        let mut a = vec![
            "--token-url".to_owned(),
            url.clone(),
            "--client-id".to_owned(),
            field("client_id").to_owned(),
            "--auth".to_owned(),
            "none".to_owned(),
            "--ca-cert".to_owned(),
            ca.to_str().expect("UTF-8 path").to_owned(),
            "--scope".to_owned(),
            "receipts:read".to_owned(),
            "--call".to_owned(),
            receipt.clone(),
        ];
        for (flag, k) in [("--client-cert", cert), ("--client-key", key)] {
            a.push(flag.to_owned());
            a.push(field(k).to_owned());
        }
        a
    };
    let run = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = cli_support::run(&a, &[]);
        out.assert_clean(&["PRIVATE KEY"]);
        out
    };
    let out = run(args("cert_der", "key_pem"));
    assert_eq!(out.code, Some(0), "{out:#?}\n{}", server().stderr_log());
    assert!(out.stdout.contains("\ntoken_type=Bearer\n"), "{out:#?}");
    assert!(out.stdout.contains("\ncall_status=200\n"), "{out:#?}");
    // Another certificate from the same CA, for another name: invalid_client.
    let out = run(args("other_cert_der", "other_key_pem"));
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert!(out.stderr.starts_with("error=invalid_client"), "{out:#?}");
}

// ---- The basicConstraints gap and what pinning does about it --------------

/// A chain in which the `wrong.example` leaf (CA:FALSE, from the good CA)
/// signed a certificate for `localhost`: the directory `name` (under the
/// temporary directory) and the key and chain PEM files in it.
fn forged_chain(name: &str) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let certs = &server().certs;
    let dir =
        std::env::temp_dir().join(format!("embedded-oauth2-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script = r#"set -e
cd "$1"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out forged-key.pem 2>/dev/null
openssl req -new -key forged-key.pem -subj /CN=localhost -out forged.csr
printf 'subjectAltName=DNS:localhost\n' > ext.cnf
openssl x509 -req -in forged.csr -CA "$2/wrong-name.pem" -CAkey "$2/wrong-name-key.pem" \
  -set_serial 4242 -days 1 -sha256 -extfile ext.cnf -out forged.pem 2>/dev/null
cat forged.pem "$2/wrong-name.pem" > chain.pem
"#;
    let out = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(&dir)
        .arg(certs)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "{out:?}");
    (
        dir.clone(),
        dir.join("forged-key.pem"),
        dir.join("chain.pem"),
    )
}

/// The gap rustpki left open is closed: a leaf certificate of the trusted
/// CA (CA:FALSE) acting as an intermediate for `localhost` is refused for
/// its constraints, before anything is sent.
#[test]
fn a_leaf_of_the_ca_cannot_sign_for_any_name() {
    let (dir, key, chain) = forged_chain("gap");
    let s = CloseServer::start_with("close_notify", &key, &chain);
    let mut c = connector("ca.pem", None);
    let r = fetch(&https_url(s.port), &mut c);
    let _ = std::fs::remove_dir_all(&dir);
    assert_rejected(CertError::Constraints, r);
}

/// With a pin too, the path is refused first (a pin never replaces it).
#[test]
fn pin_refuses_a_chain_through_another_leaf() {
    let (dir, key, chain) = forged_chain("pin");
    let s = CloseServer::start_with("close_notify", &key, &chain);
    let pin = Pin::PublicKey(openssl_spki_sha256(&server().certs.join("server.pem")));
    let mut c = connector("ca.pem", None).with_pin(pin);
    let r = fetch(&https_url(s.port), &mut c);
    let _ = std::fs::remove_dir_all(&dir);
    assert_rejected(CertError::Constraints, r);
}

/// A TLS 1.3 KeyUpdate from the server (OpenSSL's `s_server`, command `k`):
/// embedded-tls 0.19 does not implement it and refuses it with
/// `TlsError::Unimplemented` (docs/tls.md says so); the connection fails
/// cleanly, nothing panics, and later calls fail too.
#[test]
fn key_update_from_the_server_is_an_error_not_a_panic() {
    let certs = &server().certs;
    let mut child = Command::new("openssl")
        .args([
            "s_server",
            "-accept",
            "127.0.0.1:0",
            "-tls1_3",
            "-groups",
            "P-256",
            "-naccept",
            "1",
        ])
        .arg("-cert")
        .arg(certs.join("server.pem"))
        .arg("-key")
        .arg(certs.join("server-key.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn openssl s_server");
    struct Kill(Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut stdin = child.stdin.take().expect("stdin");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let child = Kill(child);
    let port: u16 = loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).expect("s_server output") > 0,
            "s_server ended"
        );
        if let Some(p) = line.trim().strip_prefix("ACCEPT 127.0.0.1:") {
            break p.parse().expect("port");
        }
    };
    let mut c = connector("ca.pem", None);
    let mut stream = c.open("localhost", port).expect("handshake with s_server");
    // Application data first, to show the session works; then the KeyUpdate.
    std::io::Write::write_all(&mut stdin, b"hello\n").expect("s_server stdin");
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).expect("data before the KeyUpdate");
    assert_eq!(&buf[..n], b"hello\n");
    std::io::Write::write_all(&mut stdin, b"k\n").expect("s_server stdin");
    // s_server sends the KeyUpdate, then this line as data under the new key.
    std::io::Write::write_all(&mut stdin, b"after\n").expect("s_server stdin");
    let e = stream
        .read(&mut buf)
        .expect_err("a KeyUpdate is not supported");
    assert!(
        matches!(e, TlsConnectError::Tls(TlsError::Unimplemented)),
        "{e:?}"
    );
    assert!(e.to_string().contains("KeyUpdate"), "{e}");
    assert_eq!(
        TlsConnectError::describe(&TlsError::Unimplemented),
        "the server sent something embedded-tls 0.19 does not support (e.g. a KeyUpdate)"
    );
    // The connection is given up: later calls fail too, without panicking.
    assert!(stream.read(&mut buf).is_err());
    assert!(stream.write(b"x").is_err());
    drop(stream);
    drop(child);
}

// ---- Record buffers after a connection -------------------------------------

/// The read buffer holds the decrypted records of a connection (the token
/// response): the client has the connector wipe both record buffers after
/// every exchange, and `wipe_buffers` does it after the caller's own
/// connections.
#[test]
fn record_buffers_are_wiped_after_each_exchange() {
    use embedded_oauth2::tls::{READ_BUFFER, TlsConnector as Crate};
    let ca = tls::certificate_der(&cert_file("ca.pem")).expect("CA");
    let mut read = vec![0xA5u8; READ_BUFFER];
    let mut write = vec![0xA5u8; 2048];
    {
        let mut c = Crate::new(
            tls::StdTcp::new(IO_TIMEOUT),
            rand_core::OsRng,
            &ca[..],
            &mut read[..],
            &mut write[..],
        )
        .expect("connector");
        let f = fetch(&https_url(port("https_port")), &mut c).expect("token");
        assert_token(&f);
    }
    assert!(read.iter().all(|&b| b == 0), "read buffer not wiped");
    assert!(write.iter().all(|&b| b == 0), "write buffer not wiped");

    // The caller's own connection: data until `wipe_buffers`.
    let mut c = Crate::new(
        tls::StdTcp::new(IO_TIMEOUT),
        rand_core::OsRng,
        &ca[..],
        &mut read[..],
        &mut write[..],
    )
    .expect("connector");
    let p = port("receipts_https_port");
    {
        let mut s = c.open("localhost", p).expect("handshake");
        let req =
            format!("GET /health HTTP/1.1\r\nHost: localhost:{p}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).expect("write");
        s.flush().expect("flush");
        let mut buf = [0u8; 256];
        while s.read(&mut buf).expect("read") > 0 {}
    }
    c.wipe_buffers();
    drop(c);
    assert!(read.iter().all(|&b| b == 0) && write.iter().all(|&b| b == 0));
}

/// The connector's `Debug` shows its settings (CA size, server name, pin,
/// fragment length), never its record buffers.
#[test]
fn connector_debug_shows_settings_only() {
    let c = connector("ca.pem", Some("localhost")).with_pin(Pin::PublicKey([0xAB; 32]));
    let d = format!("{c:?}");
    assert!(d.starts_with("TlsConnector {"), "{d}");
    assert!(
        d.contains("roots: 1") && d.contains("\"localhost\"") && d.contains("PublicKey"),
        "{d}"
    );
    assert!(d.contains("max_fragment_length"), "{d}");
}

/// A stream dropped while open still says goodbye: its last bytes on the
/// wire are one TLS record of a close_notify alert (2 bytes, the inner
/// content type and a 16-byte tag: 19), after which it sends nothing.
#[test]
fn a_dropped_stream_sends_close_notify() {
    use std::cell::RefCell;
    use std::rc::Rc;

    type Writes = Rc<RefCell<Vec<Vec<u8>>>>;
    struct Recording(tls::StdTcp, Writes);
    struct RecSocket(tls::StdSocket, Writes);
    impl embedded_io::ErrorType for Recording {
        type Error = std::io::Error;
    }
    impl embedded_io::ErrorType for RecSocket {
        type Error = std::io::Error;
    }
    impl Read for RecSocket {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, std::io::Error> {
            self.0.read(buf)
        }
    }
    impl Write for RecSocket {
        fn write(&mut self, buf: &[u8]) -> Result<usize, std::io::Error> {
            let n = self.0.write(buf)?;
            self.1.borrow_mut().push(buf[..n].to_vec());
            Ok(n)
        }
        fn flush(&mut self) -> Result<(), std::io::Error> {
            self.0.flush()
        }
    }
    impl embedded_oauth2::tls::blocking::Open for Recording {
        type Socket<'s> = RecSocket;
        fn open(&mut self, host: &str, port: u16) -> Result<RecSocket, std::io::Error> {
            self.0
                .open(host, port)
                .map(|s| RecSocket(s, Rc::clone(&self.1)))
        }
    }

    let writes: Writes = Rc::default();
    let ca: &'static [u8] = Box::leak(cert_file("ca.der").into_boxed_slice());
    let mut c = embedded_oauth2::tls::TlsConnector::new(
        Recording(tls::StdTcp::new(IO_TIMEOUT), Rc::clone(&writes)),
        rand_core::OsRng,
        ca,
        vec![0u8; tls::READ_BUFFER],
        vec![0u8; tls::WRITE_BUFFER],
    )
    .expect("connector");
    let is_close_notify = |w: &[u8]| w.len() == 24 && w[..5] == [0x17, 0x03, 0x03, 0x00, 0x13];

    let stream = c.open("localhost", port("https_port")).expect("handshake");
    let handshake = writes.borrow().len();
    assert!(!is_close_notify(writes.borrow().last().unwrap()));
    drop(stream);
    assert_eq!(writes.borrow().len(), handshake + 1, "one record on drop");
    assert!(is_close_notify(writes.borrow().last().unwrap()));

    // Closed explicitly: the same record, and nothing more when dropped.
    let stream = c.open("localhost", port("https_port")).expect("handshake");
    let handshake = writes.borrow().len();
    stream.close().expect("close_notify");
    assert_eq!(writes.borrow().len(), handshake + 1);
    assert!(is_close_notify(writes.borrow().last().unwrap()));
}

// ---- Chains of many shapes (tests/support/gen-chains.sh) -------------------

/// The directory `gen-chains.sh` wrote once for this test binary (removed
/// at exit by a janitor, like the authorization server's).
fn chains() -> &'static Path {
    use std::sync::OnceLock;
    static CHAINS: OnceLock<(std::path::PathBuf, Option<Child>)> = OnceLock::new();
    &CHAINS
        .get_or_init(|| {
            let dir = support::authz::unique_temp_dir().expect("temp dir");
            let (dir, janitor) = support::authz::Cleanup::new(dir).disarm();
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/gen-chains.sh");
            let out = Command::new("bash")
                .arg(script)
                .arg(&dir)
                .stdin(Stdio::null())
                .output()
                .expect("run gen-chains.sh (bash, openssl)");
            assert!(out.status.success(), "gen-chains.sh: {out:?}");
            (dir, janitor)
        })
        .0
}

/// A shape's chain as the server sends it (DER, leaf first).
fn chain_of(shape: &str) -> Vec<Vec<u8>> {
    (0..)
        .map(|i| chains().join(format!("{shape}.{i}.der")))
        .take_while(|p| p.exists())
        .map(|p| read(&p))
        .collect()
}

/// The root (DER) a shape should lead to.
fn root_of(shape: &str) -> Vec<u8> {
    let name = std::fs::read_to_string(chains().join(format!("{shape}.root"))).expect("root");
    read(&chains().join(format!("{}.der", name.trim())))
}

/// Now, after the chains were generated (their notBefore is the time they
/// were made).
fn unix_now() -> u64 {
    chains();
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// `verify_server_chain` on a shape, against its root.
fn verify_shape(shape: &str, name: &str, now: Option<u64>) -> Result<(), CertError> {
    let chain = chain_of(shape);
    assert!(!chain.is_empty(), "no chain {shape}");
    let chain: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
    let root = root_of(shape);
    verify_server_chain(&chain, Roots::Certificate(&root), name, now)
}

/// P-256 root → P-256 intermediate → P-256 leaf, by DNS name and by IP
/// address, with a clock and without; a leaf inside its CA's name
/// constraint.
#[test]
fn chain_good_shapes_verify() {
    for now in [Some(unix_now()), None] {
        assert_eq!(verify_shape("good", "localhost", now), Ok(()));
        assert_eq!(verify_shape("good", "127.0.0.1", now), Ok(()));
        assert_eq!(
            verify_shape("in-name-constraint", "api.example.com", now),
            Ok(())
        );
    }
}

/// Several roots, one of which matches (in any order, as DER certificates
/// or as prepared trust anchors); none matching is an unknown issuer.
#[test]
fn chain_several_roots_one_matches() {
    let chain = chain_of("good");
    let chain: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
    let (root, other) = (root_of("good"), root_of("other-root"));
    let now = Some(unix_now());
    for roots in [
        [other.as_slice(), root.as_slice()],
        [root.as_slice(), other.as_slice()],
    ] {
        assert_eq!(
            verify_server_chain(&chain, Roots::Certificates(&roots), "localhost", now),
            Ok(())
        );
        // The same bundle as one buffer (`cat a.der b.der`).
        let bundle = roots.concat();
        assert_eq!(Roots::Concatenated(&bundle).len(), 2);
        assert_eq!(
            verify_server_chain(&chain, Roots::Concatenated(&bundle), "localhost", now),
            Ok(())
        );
    }
    assert_eq!(
        verify_server_chain(&chain, Roots::Concatenated(&other), "localhost", now),
        Err(CertError::UnknownIssuer)
    );
    // A bundle whose second root is cut short ends there: the first root
    // alone does not match.
    let cut = [other.as_slice(), &root[..root.len() - 1]].concat();
    assert_eq!(
        verify_server_chain(&chain, Roots::Concatenated(&cut), "localhost", now),
        Err(CertError::UnknownIssuer)
    );
    let only_other = [other.as_slice()];
    assert_eq!(
        verify_server_chain(&chain, Roots::Certificates(&only_other), "localhost", now),
        Err(CertError::UnknownIssuer)
    );
    let (root_der, other_der) = (
        rustls_pki_types::CertificateDer::from(root.as_slice()),
        rustls_pki_types::CertificateDer::from(other.as_slice()),
    );
    let anchors = [
        webpki::anchor_from_trusted_cert(&other_der).expect("anchor"),
        webpki::anchor_from_trusted_cert(&root_der).expect("anchor"),
    ];
    assert_eq!(
        verify_server_chain(&chain, Roots::Anchors(&anchors), "localhost", now),
        Ok(())
    );
    assert_eq!(
        verify_server_chain(&chain, Roots::Anchors(&anchors[..1]), "localhost", now),
        Err(CertError::UnknownIssuer)
    );
}

/// Every bad shape is refused, each for its own reason.
#[test]
fn chain_bad_shapes_are_refused_for_the_right_reason() {
    let now = Some(unix_now());
    for (shape, name, why) in [
        ("leaf-as-ca", "localhost", CertError::Constraints),
        ("no-basic-constraints", "localhost", CertError::Constraints),
        ("ca-false", "localhost", CertError::Constraints),
        ("no-cert-sign", "localhost", CertError::Constraints),
        ("pathlen", "localhost", CertError::Constraints),
        ("client-auth", "localhost", CertError::KeyUsage),
        ("name-constraint", "localhost", CertError::Constraints),
        ("expired", "localhost", CertError::Expired),
        ("wrong-name", "localhost", CertError::Name),
        ("good", "wrong.example", CertError::Name),
        ("good", "127.0.0.2", CertError::Name),
        ("good", "::1", CertError::Name),
        (
            "critical-extension",
            "localhost",
            CertError::CriticalExtension,
        ),
        ("ca-as-leaf", "localhost", CertError::Constraints),
        ("good", "not a name", CertError::ServerName),
    ] {
        assert_eq!(
            verify_shape(shape, name, now),
            Err(why),
            "{shape} for {name}"
        );
    }
    // Against the wrong root, without its intermediate, with a bad
    // signature, and before its dates.
    let chain = chain_of("good");
    let other = root_of("other-root");
    let root = root_of("good");
    let check = |chain: &[&[u8]], root: &[u8], now| {
        verify_server_chain(chain, Roots::Certificate(root), "localhost", now)
    };
    assert_eq!(
        check(&[&chain[0], &chain[1]], &other, now),
        Err(CertError::UnknownIssuer)
    );
    assert_eq!(
        check(&[&chain[0]], &root, now),
        Err(CertError::UnknownIssuer)
    );
    let mut tampered = chain[0].clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert_eq!(
        check(&[&tampered, &chain[1]], &root, now),
        Err(CertError::BadSignature)
    );
    assert_eq!(
        check(&[&chain[0], &chain[1]], &root, Some(1_000_000)),
        Err(CertError::NotYetValid)
    );
    assert_eq!(
        check(&[&chain[0], &chain[1]], &root, Some(4_102_444_800)), // 2100
        Err(CertError::Expired)
    );
}

/// Without a clock the chain is verified at the leaf's notBefore: an
/// expired certificate passes (what a device without a clock gives up);
/// everything else is still checked.
#[test]
fn chain_without_a_clock_accepts_an_expired_certificate() {
    assert_eq!(verify_shape("expired", "localhost", None), Ok(()));
    assert_eq!(
        verify_shape("expired", "localhost", Some(unix_now())),
        Err(CertError::Expired)
    );
    assert_eq!(
        verify_shape("leaf-as-ca", "localhost", None),
        Err(CertError::Constraints)
    );
    assert_eq!(
        verify_shape("wrong-name", "localhost", None),
        Err(CertError::Name)
    );
}

/// The algorithms of public CAs' chains verify when their features are on
/// (`tls-rsa`, `tls-p384`), and are refused as unsupported, never accepted,
/// when off. An RSA key under 2048 bits and a SHA-1 signature are refused
/// whatever the features.
#[test]
fn chain_algorithms_of_public_cas() {
    let now = Some(unix_now());
    let rsa = cfg!(feature = "tls-rsa");
    let p384 = cfg!(feature = "tls-p384");
    for (shape, on) in [("rsa", rsa), ("p384", p384), ("rsa-root-ec-chain", rsa)] {
        let want = if on {
            Ok(())
        } else {
            Err(CertError::UnsupportedAlgorithm)
        };
        assert_eq!(verify_shape(shape, "localhost", now), want, "{shape}");
    }
    for shape in ["rsa1024", "sha1"] {
        assert_eq!(
            verify_shape(shape, "localhost", now),
            Err(CertError::UnsupportedAlgorithm),
            "{shape}"
        );
    }
}

/// A TLS server (Node) with a shape's key and chain, and a connector that
/// trusts the shape's root (`SystemTime` clock).
fn chain_server(shape: &str) -> (CloseServer, TlsConnector) {
    let s = CloseServer::start_with(
        "close_notify",
        &chains().join(format!("{shape}.key.pem")),
        &chains().join(format!("{shape}.chain.pem")),
    );
    let c = tls::connector(&root_of(shape), None)
        .expect("connector")
        .with_timeout(IO_TIMEOUT);
    (s, c)
}

/// End to end through the connector: the good chain (intermediate sent by
/// the server) gives a token, by DNS name and by IP address.
#[test]
fn chain_good_end_to_end() {
    let (s, mut c) = chain_server("good");
    assert_close_delimited_token(fetch(&https_url(s.port), &mut c));
    let (s, mut c) = chain_server("good");
    let url = format!("https://127.0.0.1:{}/token", s.port);
    assert_close_delimited_token(fetch(&url, &mut c));
}

/// End to end through the connector, over TLS 1.3 with Node: the chains of
/// public CAs' shapes give a token — RSA root → RSA intermediate → RSA leaf
/// (the server's CertificateVerify is RSA-PSS), Let's Encrypt's P-384 root →
/// P-384 intermediate → P-256 leaf, RSA root → ECDSA chain — and an RSA-1024
/// leaf is refused before anything is sent.
#[cfg(all(feature = "tls-rsa", feature = "tls-p384"))]
#[test]
fn chain_public_ca_shapes_end_to_end() {
    for shape in ["rsa", "p384", "rsa-root-ec-chain"] {
        eprintln!("shape {shape}");
        let (s, mut c) = chain_server(shape);
        assert_close_delimited_token(fetch(&https_url(s.port), &mut c));
    }
    let (s, mut c) = chain_server("rsa1024");
    assert_rejected(
        CertError::UnsupportedAlgorithm,
        fetch(&https_url(s.port), &mut c),
    );
}

/// End to end through the connector: bad chains are refused in the
/// handshake with their reason (nothing sent).
#[test]
fn chain_bad_end_to_end() {
    for (shape, why) in [
        ("leaf-as-ca", CertError::Constraints),
        ("no-cert-sign", CertError::Constraints),
        ("client-auth", CertError::KeyUsage),
        ("expired", CertError::Expired),
        ("wrong-name", CertError::Name),
        ("critical-extension", CertError::CriticalExtension),
    ] {
        eprintln!("shape {shape}");
        let (s, mut c) = chain_server(shape);
        assert_rejected(why, fetch(&https_url(s.port), &mut c));
    }
}

/// Without a clock, the connector accepts the expired chain end to end
/// (documented: what a device without a clock gives up).
#[test]
fn chain_expired_end_to_end_without_a_clock() {
    use embedded_oauth2::tls::{READ_BUFFER, TlsConnector as Crate};
    let s = CloseServer::start_with(
        "close_notify",
        &chains().join("expired.key.pem"),
        &chains().join("expired.chain.pem"),
    );
    let root = root_of("expired");
    let mut c = Crate::new(
        tls::StdTcp::new(IO_TIMEOUT),
        rand_core::OsRng,
        &root[..],
        vec![0u8; READ_BUFFER],
        vec![0u8; tls::WRITE_BUFFER],
    )
    .expect("connector"); // NoClock
    assert_close_delimited_token(fetch(&https_url(s.port), &mut c));
}
