//! Test harness for the real authorization server in `tests/authz-server/`
//! (oidc-provider on Node, see its README).
//!
//! [`AuthzServer::start`] installs the server's npm packages when they are
//! missing (so a fresh machine works), generates throwaway certificates into
//! a fresh temporary directory, starts `node server.mjs` on loopback (random
//! ports) and waits for its `READY` line. The ready file's JSON is in
//! [`AuthzServer::ready`].
//!
//! Lifetime: the server's stdin is a pipe this process keeps open; the server
//! exits when it closes, so it also dies with the test process. `Drop` kills
//! and reaps it and removes the temporary directory. A server shared through
//! [`AuthzServer::shared`] lives in a `static` and is never dropped: there
//! the stdin pipe stops node at process exit, and a tiny `sh` "janitor"
//! holding another pipe removes the temporary directory.
//!
//! Uses only `std` (plus `serde_json` to read the ready file).
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long the server may take from spawn to `READY`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// A backstop passed as `--max-lifetime`: the server exits after that long
/// even if something kept its stdin open.
pub(crate) const MAX_LIFETIME_SECS: u32 = 900;

/// A running authorization server (and receipt service) on loopback.
pub struct AuthzServer {
    /// The ready file's JSON (see `tests/authz-server/README.md`).
    pub ready: serde_json::Value,
    /// The directory with the generated certificates (`ca.pem`, ...).
    pub certs: PathBuf,
    /// From spawning node to reading its `READY` line (certificates and
    /// `npm ci` not included).
    pub startup: Duration,
    child: Child,
    janitor: Option<Child>,
    tempdir: PathBuf,
}

impl AuthzServer {
    /// Starts a server of its own; panics (with the server's stderr) when it
    /// does not become ready within 30 s.
    pub fn start() -> AuthzServer {
        Self::try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// One server for the whole test binary, started on first use. A start
    /// failure is remembered, so every test reports it without retrying.
    pub fn shared() -> &'static AuthzServer {
        static SERVER: OnceLock<Result<AuthzServer, String>> = OnceLock::new();
        match SERVER.get_or_init(Self::try_start) {
            Ok(server) => server,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`AuthzServer::start`], returning the failure as text.
    pub fn try_start() -> Result<AuthzServer, String> {
        Self::try_start_with(&[])
    }

    /// A server of its own with more `server.mjs` arguments (e.g.
    /// `--chain SHAPE=DIR`, one more listener behind another chain).
    #[allow(dead_code)] // not every test binary uses it
    pub fn try_start_with(extra: &[&std::ffi::OsStr]) -> Result<AuthzServer, String> {
        let dir = server_dir();
        ensure_node_modules(&dir, "oidc-provider")?;

        let tempdir = unique_temp_dir()?;
        // From here on, `Cleanup` removes the directory on every early return.
        let cleanup = Cleanup::new(tempdir.clone());
        let certs = tempdir.join("certs");
        let out = Command::new("bash")
            .arg(dir.join("gen-certs.sh"))
            .arg(&certs)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("could not run gen-certs.sh (bash, openssl needed): {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "gen-certs.sh failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }

        let ready_file = tempdir.join("ready.json");
        let stderr_path = tempdir.join("server.stderr");
        let stderr = File::create(&stderr_path).map_err(|e| format!("{stderr_path:?}: {e}"))?;
        let spawned_at = Instant::now();
        let mut child = Command::new("node")
            .arg(dir.join("server.mjs"))
            .arg("--certs")
            .arg(&certs)
            .arg("--ready-file")
            .arg(&ready_file)
            .args(["--max-lifetime", &MAX_LIFETIME_SECS.to_string()])
            .args(extra)
            .current_dir(&dir)
            // Kept open for the server's lifetime: EOF on it stops the server.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // A file, so a chatty server can never block on a full pipe.
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|e| format!("could not spawn node (is Node 20 installed?): {e}"))?;
        let (ready, startup) =
            wait_ready(&mut child, &stderr_path, spawned_at, "authorization server")?;
        eprintln!(
            "authz server ready in {} ms (server-internal {} ms): {}",
            startup.as_millis(),
            ready["startup_ms"],
            ready["http"].as_str().unwrap_or("?")
        );
        let (tempdir, janitor) = cleanup.disarm();
        Ok(AuthzServer {
            ready,
            certs,
            startup,
            child,
            janitor,
            tempdir,
        })
    }

    /// A string member of the ready file.
    pub fn get(&self, key: &str) -> &str {
        self.ready[key]
            .as_str()
            .unwrap_or_else(|| panic!("ready file has no string {key:?}"))
    }

    /// A port member of the ready file.
    pub fn port(&self, key: &str) -> u16 {
        self.ready[key]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| panic!("ready file has no port {key:?}"))
    }

    /// `http://127.0.0.1:<port><path>` on the authorization server.
    pub fn http_url(&self, path: &str) -> String {
        format!("{}{path}", self.get("http"))
    }

    /// `https://localhost:<port><path>` on the authorization server (the
    /// listener whose certificate `ca.pem` verifies).
    pub fn https_url(&self, path: &str) -> String {
        format!("{}{path}", self.get("https"))
    }

    /// The plain-HTTP port of the authorization server.
    pub fn http_port(&self) -> u16 {
        self.port("http_port")
    }

    /// The TLS 1.3 port of the authorization server (certificate for
    /// `localhost` / `127.0.0.1`, signed by `ca.pem`).
    pub fn https_port(&self) -> u16 {
        self.port("https_port")
    }

    /// The receipt service's plain-HTTP port.
    pub fn receipts_http_port(&self) -> u16 {
        self.port("receipts_http_port")
    }

    /// The receipt service's TLS port.
    pub fn receipts_https_port(&self) -> u16 {
        self.port("receipts_https_port")
    }

    /// `(client_id, client_secret)` of a client named in the ready file
    /// (`basic`, `post`, `reserved`, `limited`, `jwt`, `receipts_rs`).
    pub fn client(&self, name: &str) -> (&str, &str) {
        let c = &self.ready["clients"][name];
        let id = c["client_id"].as_str();
        let secret = c["client_secret"].as_str();
        match (id, secret) {
            (Some(id), Some(secret)) => (id, secret),
            _ => panic!("ready file has no client {name:?} with id and secret"),
        }
    }

    /// The test CA certificate (PEM) that signs the server certificates.
    pub fn ca_pem(&self) -> PathBuf {
        self.certs.join("ca.pem")
    }

    /// The test CA certificate (DER).
    pub fn ca_der(&self) -> PathBuf {
        self.certs.join("ca.der")
    }

    /// What the server wrote on stderr so far (TLS handshake failures,
    /// warnings): handy in assertion messages.
    pub fn stderr_log(&self) -> String {
        fs::read_to_string(self.tempdir.join("server.stderr")).unwrap_or_default()
    }
}

impl Drop for AuthzServer {
    fn drop(&mut self) {
        teardown(&mut self.child, &self.tempdir, self.janitor.take());
    }
}

/// Kills and reaps a server, removes its temporary directory and ends the
/// directory's janitor.
pub(crate) fn teardown(child: &mut Child, tempdir: &Path, janitor: Option<Child>) {
    let _ = child.kill();
    let _ = child.wait();
    let _ = fs::remove_dir_all(tempdir);
    if let Some(mut janitor) = janitor {
        drop(janitor.stdin.take()); // EOF: it removes the (gone) directory and exits
        let _ = janitor.wait();
    }
}

/// Waits for the `READY <file>` line of a server spawned at `spawned_at`
/// with stdout piped (and stderr going to `stderr_path`), then reads the
/// ready file. Returns its JSON and the time from spawn to the line; on
/// failure kills and reaps the child and returns its stderr in the text.
pub(crate) fn wait_ready(
    child: &mut Child,
    stderr_path: &Path,
    spawned_at: Instant,
    what: &str,
) -> Result<(serde_json::Value, Duration), String> {
    // Read stdout on a thread so that waiting for READY can time out.
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel::<String>();
    thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent && line.starts_with("READY ") {
                sent = tx.send(line).is_ok();
            }
            // Keep draining (stdout should carry nothing else) until EOF.
        }
    });

    let fail = |child: &mut Child, why: String| -> String {
        let _ = child.kill();
        let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
        let log = fs::read_to_string(stderr_path).unwrap_or_default();
        format!("{what}: {why} (node exit: {status})\n--- server stderr ---\n{log}")
    };

    let line = match rx.recv_timeout(READY_TIMEOUT) {
        Ok(line) => line,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            return Err(fail(
                child,
                format!("no READY line within {READY_TIMEOUT:?}"),
            ));
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            return Err(fail(child, "stdout closed before the READY line".into()));
        }
    };
    let startup = spawned_at.elapsed();
    let file = PathBuf::from(line.trim_start_matches("READY ").trim());
    match fs::read_to_string(&file)
        .map_err(|e| e.to_string())
        .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
    {
        Ok(ready) => Ok((ready, startup)),
        Err(e) => Err(fail(child, format!("ready file {file:?}: {e}"))),
    }
}

/// `tests/authz-server`.
fn server_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("authz-server")
}

/// Runs `npm ci` in `dir` when its package `marker` is not installed.
pub(crate) fn ensure_node_modules(dir: &Path, marker: &str) -> Result<(), String> {
    if dir
        .join("node_modules")
        .join(marker)
        .join("package.json")
        .is_file()
    {
        return Ok(());
    }
    eprintln!("{dir:?}: node_modules missing, running npm ci");
    let out = Command::new("npm")
        .args([
            "ci",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--prefix",
        ])
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run npm (is Node 20 with npm installed?): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "npm ci in {dir:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// A new, empty directory under the system's temporary directory.
pub(crate) fn unique_temp_dir() -> Result<PathBuf, String> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "embedded-oauth2-authz-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let path = std::env::temp_dir().join(name);
    fs::create_dir(&path).map_err(|e| format!("creating {path:?}: {e}"))?;
    Ok(path)
}

/// Removes the directory (and ends the janitor) when dropped, unless
/// disarmed.
pub(crate) struct Cleanup {
    dir: Option<PathBuf>,
    janitor: Option<Child>,
}

impl Cleanup {
    /// Arms a cleanup of `dir`, with a janitor that removes it when this
    /// process exits.
    pub(crate) fn new(dir: PathBuf) -> Self {
        let janitor = spawn_janitor(&dir);
        Self {
            dir: Some(dir),
            janitor,
        }
    }

    /// The directory and its janitor, for the server that now owns them.
    pub(crate) fn disarm(mut self) -> (PathBuf, Option<Child>) {
        (self.dir.take().expect("armed"), self.janitor.take())
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = fs::remove_dir_all(dir);
        }
        if let Some(mut janitor) = self.janitor.take() {
            drop(janitor.stdin.take());
            let _ = janitor.wait();
        }
    }
}

/// A `sh` that waits for EOF on its stdin (a pipe only this process holds)
/// and then removes `dir`: the temporary directory of a server kept in a
/// `static` disappears when the test process exits, however it exits.
fn spawn_janitor(dir: &Path) -> Option<Child> {
    Command::new("sh")
        .args(["-c", "while read -r _; do :; done; rm -rf -- \"$0\""])
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}
