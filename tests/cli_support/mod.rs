//! Helpers for `tests/cli.rs` (and `tests/tls.rs`): locating (and
//! refreshing) the `fetch_token` binary of the `cli/` package, a one-shot
//! loopback HTTP server, and running the tool.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long the server waits for the tool to connect and to send.
const SERVER_WAIT: Duration = Duration::from_secs(30);

/// The `fetch_token` binary of the workspace member `cli/`
/// (`embedded-oauth2-cli`): `target/<profile>/fetch_token`.
///
/// `cargo test` at the root builds only the library's targets, so the tool
/// is (re)built once per test run with the profile of this test binary and
/// the CLI features matching its crate features ([`features`]): a no-op
/// when it is up to date, and the tool then has the features the tests
/// expect (`--auth jwt` needs `client-secret-jwt`, ...), or lacks them when
/// the tests check the message naming a missing one.
pub fn bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("path of the test binary");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary lives in target/<profile>/deps");
        let path = profile_dir.join(format!("fetch_token{}", std::env::consts::EXE_SUFFIX));
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args([
                "build",
                "--quiet",
                "-p",
                "embedded-oauth2-cli",
                "--bin",
                "fetch_token",
                "--no-default-features",
                "--profile",
            ])
            .arg(profile)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        let features = features();
        if !features.is_empty() {
            build.args(["--features", &features.join(",")]);
        }
        let built = build.output();
        match built {
            Ok(out) if out.status.success() => {}
            Ok(out) if !path.exists() => panic!(
                "building fetch_token (cli/) failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) if !path.exists() => panic!("could not run cargo to build fetch_token: {e}"),
            _ => eprintln!("warning: could not rebuild fetch_token; using {path:?}"),
        }
        assert!(path.exists(), "{path:?} missing");
        path
    })
}

/// The features of `embedded-oauth2-cli` matching the crate features this
/// test binary was built with (the CLI's features forward to the
/// library's of the same names).
pub fn features() -> Vec<&'static str> {
    [
        ("client-secret-jwt", cfg!(feature = "client-secret-jwt")),
        ("p256", cfg!(feature = "p256")),
        ("dpop", cfg!(feature = "dpop")),
        ("mtls", cfg!(feature = "mtls")),
        ("discovery", cfg!(feature = "discovery")),
        ("revocation", cfg!(feature = "revocation")),
        ("tls-rsa", cfg!(feature = "tls-rsa")),
        ("tls-p384", cfg!(feature = "tls-p384")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect()
}

/// What the tool sent.
#[derive(Debug, Clone)]
pub struct Request {
    /// Request line and header lines, without the final empty line.
    pub head: String,
    /// The body (`Content-Length` bytes).
    pub body: String,
}

impl Request {
    /// The request line, e.g. `POST /token HTTP/1.1`.
    pub fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or_default()
    }

    /// The value of header `name` (case-insensitive), if sent exactly once.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut found = self.head.split("\r\n").skip(1).filter_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        });
        let first = found.next();
        assert!(found.next().is_none(), "header {name} sent twice");
        first
    }
}

/// A loopback server that answers one connection with a canned response.
pub struct Server {
    port: u16,
    handle: JoinHandle<Option<Request>>,
}

impl Server {
    /// Starts serving `response` (raw bytes) to the first connection.
    pub fn start(response: impl Into<Vec<u8>>) -> Self {
        let response = response.into();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let handle = thread::spawn(move || {
            let mut stream = accept_within(&listener, SERVER_WAIT)?;
            let request = read_request(&mut stream);
            let _ = stream.write_all(&response);
            let _ = stream.flush();
            Some(request)
        });
        Self { port, handle }
    }

    /// `http://127.0.0.1:PORT/oauth2/token`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/oauth2/token", self.port)
    }

    /// The recorded request (`None`: nobody connected).
    pub fn request(self) -> Option<Request> {
        self.handle.join().expect("server thread")
    }
}

fn accept_within(listener: &TcpListener, wait: Duration) -> Option<TcpStream> {
    let deadline = Instant::now() + wait;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).ok()?;
                stream.set_read_timeout(Some(wait)).ok()?;
                stream.set_write_timeout(Some(wait)).ok()?;
                return Some(stream);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(_) => return None,
        }
    }
}

/// Reads the head up to CRLFCRLF, then `Content-Length` bytes of body.
fn read_request(stream: &mut TcpStream) -> Request {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut head_end = None;
    let mut body_len = 0;
    loop {
        if head_end.is_none()
            && let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n")
        {
            head_end = Some(i);
            body_len = content_length(&String::from_utf8_lossy(&data[..i]));
        }
        if let Some(i) = head_end
            && data.len() >= i + 4 + body_len
        {
            break;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => data.extend_from_slice(&chunk[..n]),
        }
    }
    let i = head_end.unwrap_or(data.len());
    let body_start = (i + 4).min(data.len());
    Request {
        head: String::from_utf8_lossy(&data[..i]).into_owned(),
        body: String::from_utf8_lossy(&data[body_start..]).into_owned(),
    }
}

fn content_length(head: &str) -> usize {
    head.split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// An HTTP/1.1 response with `Content-Length` and `Connection: close`.
pub fn response(status: &str, extra_headers: &[&str], content_type: &str, body: &str) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in extra_headers {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r.push_str(body);
    r.into_bytes()
}

/// A JSON response with status 200.
pub fn json_ok(body: &str) -> Vec<u8> {
    response(
        "200 OK",
        &["Cache-Control: no-store"],
        "application/json",
        body,
    )
}

/// What the tool did.
#[derive(Debug)]
pub struct Outcome {
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Outcome {
    /// The lines on stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }

    /// Asserts neither stream mentions a panic or contains any of `secrets`.
    pub fn assert_clean(&self, secrets: &[&str]) {
        for (name, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            assert!(
                !text.contains("panicked"),
                "{name} shows a panic: {self:#?}"
            );
            for s in secrets {
                assert!(
                    !text.contains(s),
                    "{name} contains the secret {s:?}: {self:#?}"
                );
            }
        }
    }

    /// Asserts exit 1 with exactly one stderr line starting `error: ` and
    /// nothing on stdout; returns that line.
    pub fn assert_one_error_line(&self) -> &str {
        assert_eq!(self.code, Some(1), "{self:#?}");
        assert_eq!(self.stdout, "", "{self:#?}");
        let lines = self.stderr_lines();
        assert_eq!(lines.len(), 1, "{self:#?}");
        assert!(lines[0].starts_with("error: "), "{self:#?}");
        assert!(self.stderr.ends_with('\n'), "{self:#?}");
        lines[0]
    }

    /// Asserts a usage error: exit 1, `error: …` then the usage line; returns
    /// the error line.
    pub fn assert_usage_error(&self) -> &str {
        assert_eq!(self.code, Some(1), "{self:#?}");
        assert_eq!(self.stdout, "", "{self:#?}");
        let lines = self.stderr_lines();
        assert_eq!(lines.len(), 2, "{self:#?}");
        assert!(lines[0].starts_with("error: "), "{self:#?}");
        assert!(lines[1].starts_with("usage: fetch_token "), "{self:#?}");
        lines[0]
    }
}

/// Runs the tool with `args`, `CLIENT_SECRET` removed from the environment
/// and then `env` added.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let mut cmd = Command::new(bin());
    cmd.args(args).env_remove("CLIENT_SECRET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run fetch_token");
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}
