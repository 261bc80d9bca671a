//! Test harness for the second real authorization server,
//! `tests/authz-server-node/` (@node-oauth/oauth2-server on Node, see its
//! README): token endpoint only, `client_credentials`, plain HTTP on
//! loopback, and Basic credentials taken as is (no RFC 6749 §2.3.1
//! decoding).
//!
//! The same lifetime as [`super::authz::AuthzServer`], whose helpers it
//! uses (so a test binary declares both modules): `npm ci` when the packages
//! are missing, `node server.mjs` on `127.0.0.1` port 0 with its stdin a pipe
//! this process keeps open, the `READY` line awaited, and `Drop` killing and
//! reaping it and removing its temporary directory (a `sh` janitor removes
//! the directory of a server kept in a `static`).
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::authz::{
    Cleanup, MAX_LIFETIME_SECS, ensure_node_modules, teardown, unique_temp_dir, wait_ready,
};

/// A running @node-oauth/oauth2-server on loopback.
pub struct NodeAuthzServer {
    /// The ready file's JSON (see `tests/authz-server-node/README.md`).
    pub ready: serde_json::Value,
    /// From spawning node to reading its `READY` line (`npm ci` not
    /// included).
    pub startup: Duration,
    child: Child,
    janitor: Option<Child>,
    tempdir: PathBuf,
}

impl NodeAuthzServer {
    /// Starts a server of its own; panics (with the server's stderr) when it
    /// does not become ready within 30 s.
    pub fn start() -> NodeAuthzServer {
        Self::try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// One server for the whole test binary, started on first use. A start
    /// failure is remembered, so every test reports it without retrying.
    pub fn shared() -> &'static NodeAuthzServer {
        static SERVER: OnceLock<Result<NodeAuthzServer, String>> = OnceLock::new();
        match SERVER.get_or_init(Self::try_start) {
            Ok(server) => server,
            Err(e) => panic!("{e}"),
        }
    }

    /// Like [`NodeAuthzServer::start`], returning the failure as text.
    pub fn try_start() -> Result<NodeAuthzServer, String> {
        let dir = server_dir();
        ensure_node_modules(&dir, "@node-oauth/oauth2-server")?;

        let tempdir = unique_temp_dir()?;
        // From here on, `Cleanup` removes the directory on every early return.
        let cleanup = Cleanup::new(tempdir.clone());
        let ready_file = tempdir.join("ready.json");
        let stderr_path = tempdir.join("server.stderr");
        let stderr = File::create(&stderr_path).map_err(|e| format!("{stderr_path:?}: {e}"))?;
        let spawned_at = Instant::now();
        let mut child = Command::new("node")
            .arg(dir.join("server.mjs"))
            .arg("--ready-file")
            .arg(&ready_file)
            .args(["--max-lifetime", &MAX_LIFETIME_SECS.to_string()])
            .current_dir(&dir)
            // Kept open for the server's lifetime: EOF on it stops the server.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // A file, so a chatty server can never block on a full pipe.
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|e| format!("could not spawn node (is Node 20 installed?): {e}"))?;
        let (ready, startup) = wait_ready(
            &mut child,
            &stderr_path,
            spawned_at,
            "node-oauth authorization server",
        )?;
        eprintln!(
            "node-oauth authz server ready in {} ms (server-internal {} ms): {}",
            startup.as_millis(),
            ready["startup_ms"],
            ready["http"].as_str().unwrap_or("?")
        );
        let (tempdir, janitor) = cleanup.disarm();
        Ok(NodeAuthzServer {
            ready,
            startup,
            child,
            janitor,
            tempdir,
        })
    }

    /// The token endpoint, `http://127.0.0.1:<port>/token`.
    pub fn token_url(&self) -> &str {
        self.ready["token_endpoint"]
            .as_str()
            .expect("ready file has token_endpoint")
    }

    /// `(client_id, client_secret)` of a client named in the ready file
    /// (`plain`, `reserved`).
    pub fn client(&self, name: &str) -> (&str, &str) {
        let c = &self.ready["clients"][name];
        match (c["client_id"].as_str(), c["client_secret"].as_str()) {
            (Some(id), Some(secret)) => (id, secret),
            _ => panic!("ready file has no client {name:?} with id and secret"),
        }
    }

    /// What the server wrote on stderr so far (one line per refused
    /// request): handy in assertion messages.
    pub fn stderr_log(&self) -> String {
        std::fs::read_to_string(self.tempdir.join("server.stderr")).unwrap_or_default()
    }
}

impl Drop for NodeAuthzServer {
    fn drop(&mut self) {
        teardown(&mut self.child, &self.tempdir, self.janitor.take());
    }
}

/// `tests/authz-server-node`.
fn server_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("authz-server-node")
}
