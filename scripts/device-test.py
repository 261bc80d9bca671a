#!/usr/bin/env python3
"""The emulated device against the real authorization server.

Runs `scripts/qemu-fetch-token` (the networked firmware of
examples/qemu-device under QEMU, its UART bridged to loopback TCP) against
tests/authz-server (oidc-provider) over verified TLS 1.3, and checks:

  * the main story (as scripts/demo.sh): a receipts token, then the receipt with it (--call);
  * every client authentication method;
  * DPoP (RFC 9449): a DPoP-bound token, the server nonces at the token
    endpoint and at the receipt service, a DPoP client without a proof;
  * mutual TLS (RFC 8705): tls_client_auth, a certificate-bound token used
    over the same certificate, another client's certificate refused;
  * the token in .uninit RAM across a system reset (--cache-in-ram
    --reset-after-fetch): the second boot restores it with no connection to
    the token endpoint (the bridge's count per destination) and the receipt
    service accepts it; a corrupted record falls back to a fetch;
  * a wrong secret -> exit 2, error=invalid_client;
  * a certificate from another CA -> exit 1;
  * a wrong server name -> exit 1;
  * public CAs' chain shapes (an image with RSA and P-384, the roots a PEM
    bundle): RSA, Let's Encrypt's P-384 shape and an RSA root over ECDSA
    give a token; twelve bad shapes are refused in the handshake, each
    with its reason;
  * servers that close early (before the handshake, and after it without
    an answer) -> exit 1, in seconds, not a hang.

Usage: scripts/device-test.py [--no-build] [--records N]...
Starts (and stops) its own server on loopback; needs node with
tests/authz-server/node_modules (`npm ci`), openssl, qemu-system-arm and the
firmware's Rust target (scripts/test.sh installs them). Prints one line per
case and ends with "N passed, M failed"; exits 1 if any case failed.
"""
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QFT = ROOT / "scripts" / "qemu-fetch-token"
SERVER_DIR = ROOT / "tests" / "authz-server"
DEVICE_DIR = ROOT / "examples" / "qemu-device"
# A case that takes longer than this hangs (a warm run takes under 1 s).
CASE_TIMEOUT = 40
# The device's features for public CAs' chains (examples/qemu-device).
CHAIN_FEATURES = "rsa,p384"
# Chain shapes (tests/support/gen-chains.sh) that must give a token: the
# shapes public CAs issue.
GOOD_CHAINS = {
    "rsa": "RSA root -> RSA intermediate -> RSA leaf (RSA-PSS CertificateVerify)",
    "p384": "Let's Encrypt's shape: P-384 root -> P-384 intermediate -> P-256 leaf",
    "rsa-root-ec-chain": "RSA root -> ECDSA intermediate -> ECDSA leaf",
}
# ... and those that must be refused, with the words of their reason.
BAD_CHAINS = {
    "leaf-as-ca": ("a leaf of the CA used as an intermediate", "beyond its constraints"),
    "no-cert-sign": ("a CA without keyCertSign", "beyond its constraints"),
    "ca-false": ("an intermediate with CA:FALSE", "beyond its constraints"),
    "pathlen": ("a path length exceeded", "beyond its constraints"),
    "name-constraint": ("a name outside a name constraint", "beyond its constraints"),
    "client-auth": ("a clientAuth-only leaf", "not for TLS servers"),
    "critical-extension": ("an unknown critical extension", "critical extension"),
    "expired": ("an expired leaf (the device has a wall clock)", "has expired"),
    "wrong-name": ("a leaf for another name", "not valid for the server name"),
    "rsa1024": ("an RSA-1024 leaf", "built without"),
    "sha1": ("a SHA-1 signature", "built without"),
    "other-root": ("a chain to a root not trusted", "trusted root"),
}
CHAIN_SHAPES = [*GOOD_CHAINS, *BAD_CHAINS]


class Server:
    """tests/authz-server on loopback ports chosen by the OS."""

    def __init__(self, work):
        self.certs = work / "certs"
        subprocess.run([str(SERVER_DIR / "gen-certs.sh"), str(self.certs)], check=True,
                       stdout=subprocess.DEVNULL)
        # Public CAs' chain shapes, good and bad, each behind a listener of
        # its own (`server.mjs --chain`).
        self.chains = work / "chains"
        subprocess.run(["bash", str(ROOT / "tests" / "support" / "gen-chains.sh"), str(self.chains)],
                       check=True, stdout=subprocess.DEVNULL)
        chain_args = [a for shape in CHAIN_SHAPES for a in ("--chain", f"{shape}={self.chains}")]
        ready = work / "ready.json"
        self.proc = subprocess.Popen(
            ["node", str(SERVER_DIR / "server.mjs"), "--certs", str(self.certs),
             "--ready-file", str(ready), "--quiet", "--max-lifetime", "1800", *chain_args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        line = self.proc.stdout.readline().decode()
        if not line.startswith("READY"):
            raise SystemExit(f"device-test: the authorization server did not start: {line!r}")
        self.ready = json.loads(ready.read_text())

    def stop(self):
        self.proc.kill()
        self.proc.wait()

    def client(self, name):
        return self.ready["clients"][name]


class EarlyCloser:
    """A loopback server that ends connections early: `mode` "tcp" closes
    at once; "tls" completes the TLS 1.3 handshake with the good
    certificate, reads the request, then closes without answering."""

    def __init__(self, mode, certs):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.ctx = None
        if mode == "tls":
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            self.ctx.load_cert_chain(certs / "server.pem", certs / "server-key.pem")
        self.stopped = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                if self.ctx is not None:
                    conn.settimeout(20)
                    tls = self.ctx.wrap_socket(conn, server_side=True)
                    tls.recv(4096)
                    tls.close()
                else:
                    conn.close()
            except (OSError, ssl.SSLError):
                conn.close()

    def stop(self):
        self.stopped = True
        self.sock.close()


def reports(path):
    out = {}
    for line in Path(path).read_text().splitlines():
        k, _, v = line.partition("=")
        out[k] = v
    return out


def run(args, env_secret=None):
    env = dict(os.environ)
    env.pop("CLIENT_SECRET", None)
    if env_secret is not None:
        env["CLIENT_SECRET"] = env_secret
    started = time.monotonic()
    try:
        out = subprocess.run([str(QFT), "--no-build", "--timeout", str(CASE_TIMEOUT), *args],
                             capture_output=True, text=True, env=env, timeout=CASE_TIMEOUT + 20)
    except subprocess.TimeoutExpired:
        return None, "", "hung", CASE_TIMEOUT + 20
    return out.returncode, out.stdout, out.stderr, time.monotonic() - started


def main(argv):
    build = "--no-build" not in argv
    records = [a.split("=", 1)[1] for a in argv if a.startswith("--records=")] or ["16384"]
    work = Path(tempfile.mkdtemp(prefix="device-test-"))
    results = []
    server = Server(work)
    try:
        r = server.ready
        token_url = r["https"] + r["token_path"]
        ca = str(server.certs / "ca.pem")
        receipts = r["receipts_https"] + r["receipts_path_prefix"] + "2026-0042"
        basic = server.client("basic")
        base = ["--token-url", token_url, "--ca-cert", ca]

        def check(name, args, want_code, want_out=(), want_err=(), secrets=(), env_secret=None,
                  max_seconds=None):
            code, out, err, secs = run(args, env_secret)
            problems = []
            if code != want_code:
                problems.append(f"exit {code}, want {want_code}")
            problems += [f"stdout lacks {w!r}" for w in want_out if w not in out]
            problems += [f"stderr lacks {w!r}" for w in want_err if w not in err]
            problems += ["a secret shows in the output" for s in secrets if s and (s in out or s in err)]
            if max_seconds is not None and secs > max_seconds:
                problems.append(f"took {secs:.1f} s (> {max_seconds} s)")
            ok = not problems
            results.append(ok)
            print(f"{'PASS' if ok else 'FAIL'} {name} ({secs:.2f} s)" +
                  ("" if ok else ": " + "; ".join(problems) + f"\n  stdout: {out[:400]!r}\n  stderr: {err[:400]!r}"),
                  flush=True)
            return out

        for rec in records:
            env_note = f"records={rec}"
            if build:
                b = subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=DEVICE_DIR,
                                   env={**os.environ, "QEMU_DEVICE_RECORDS": rec})
                if b.returncode != 0:
                    raise SystemExit("device-test: building the firmware failed")
            # The main story: token, then the receipt with it.
            report = work / f"report-{rec}.txt"
            check(f"[{env_note}] main story: receipts token over verified TLS 1.3, then the receipt",
                        [*base, "--client-id", basic["client_id"], "--client-secret", basic["client_secret"],
                         "--scope", r["receipts_scope"], "--resource", r["receipts_resource"],
                         "--call", receipts, "--report-file", str(report)],
                        0, want_out=("access_token=", "token_type=Bearer\n", "expires_in=300\n",
                                     "scope=receipts:read\n", "call_status=200\n",
                                     '"receipt":"2026-0042"', '"client_id":"basic-client"'),
                        secrets=(basic["client_secret"],))
            # The stack must not have reached the statics (it grows down
            # into them: an overflow would corrupt, not fault).
            rep = reports(report) if report.exists() else {}
            peak, size = int(rep.get("stack_peak_bytes", -1)), int(rep.get("stack_size_bytes", 0))
            ok = 0 <= peak < size - 256
            results.append(ok)
            print(f"{'PASS' if ok else 'FAIL'} [{env_note}] peak stack {peak} B within the {size} B "
                  f"left by {rep.get('static_ram_bytes')} B of statics (256 B to spare at least)", flush=True)

        # Every client authentication method (the image last built).
        post = server.client("post")
        jwt = server.client("jwt")
        pk = server.client("pkjwt")
        reserved = server.client("reserved")
        check("client_secret_basic (RFC 6749 §2.3.1 encoding, reserved characters)",
              [*base, "--client-id", reserved["client_id"], "--client-secret", reserved["client_secret"]],
              0, want_out=("access_token=",), secrets=(reserved["client_secret"],))
        check("client_secret_basic without the encoding (basic-unencoded)",
              [*base, "--auth", "basic-unencoded", "--client-id", basic["client_id"]],
              0, want_out=("access_token=",), env_secret=basic["client_secret"],
              secrets=(basic["client_secret"],))
        check("client_secret_post",
              [*base, "--auth", "post", "--client-id", post["client_id"], "--client-secret", post["client_secret"]],
              0, want_out=("access_token=",), secrets=(post["client_secret"],))
        check("client_secret_jwt (HS256 assertion)",
              [*base, "--auth", "jwt", "--client-id", jwt["client_id"], "--client-secret", jwt["client_secret"]],
              0, want_out=("access_token=",), secrets=(jwt["client_secret"],))
        check("private_key_jwt (ES256 assertion)",
              [*base, "--auth", "private-key-jwt", "--client-id", pk["client_id"],
               "--key", pk["private_key_pem"], "--key-id", pk["kid"], "--scope", "receipts:read"],
              0, want_out=("access_token=", "scope=receipts:read\n"))
        check("client id only (--auth none): the server wants a secret, error=invalid_client",
              [*base, "--auth", "none", "--client-id", basic["client_id"]],
              2, want_err=("error=invalid_client",))
        # Sender-constrained tokens (RFC 9449, RFC 8705) on the device.
        dpop = server.client("dpop")
        dpop_nonce = server.client("dpop_nonce")
        mtls = server.client("mtls")
        nonce_receipt = r["receipts_https"] + r["receipts_path_prefix"] + "n-device"
        check("DPoP: a DPoP-bound token, then the receipt with a proof (the service asks its nonce first)",
              [*base, "--client-id", dpop["client_id"], "--client-secret", dpop["client_secret"],
               "--dpop-key", pk["private_key_pem"], "--scope", "receipts:read", "--call", nonce_receipt],
              0, want_out=("token_type=DPoP\n", "call_status=200\n", '"receipt":"n-device"', '"jkt":"'),
              secrets=(dpop["client_secret"],))
        check("DPoP: the token endpoint asks for its nonce (use_dpop_nonce, answered once)",
              [*base, "--client-id", dpop_nonce["client_id"], "--client-secret", dpop_nonce["client_secret"],
               "--dpop-key", pk["private_key_pem"]],
              0, want_out=("token_type=DPoP\n",), secrets=(dpop_nonce["client_secret"],))
        check("DPoP client without a proof: refused (exit 2)",
              [*base, "--client-id", dpop["client_id"], "--client-secret", dpop["client_secret"]],
              2, want_err=("error=invalid_grant",), secrets=(dpop["client_secret"],))
        mtls_token = f"https://localhost:{r['mtls_port']}{r['token_path']}"
        mtls_receipt = f"https://localhost:{r['receipts_mtls_port']}{r['receipts_path_prefix']}m-device"
        check("mutual TLS: tls_client_auth, a certificate-bound token, the receipt over the same certificate",
              ["--token-url", mtls_token, "--ca-cert", ca, "--auth", "none", "--client-id", mtls["client_id"],
               "--client-cert", mtls["cert_der"], "--client-key", mtls["key_pem"],
               "--scope", "receipts:read", "--call", mtls_receipt],
              0, want_out=("token_type=Bearer\n", "call_status=200\n", '"receipt":"m-device"'))
        check("mutual TLS with another client's certificate: error=invalid_client",
              ["--token-url", mtls_token, "--ca-cert", ca, "--auth", "none", "--client-id", mtls["client_id"],
               "--client-cert", mtls["other_cert_der"], "--client-key", mtls["other_key_pem"]],
              2, want_err=("error=invalid_client",))
        # Tokens that survive a reset: the record in .uninit RAM.
        token_dest = f"bridge_connections_to[{r['https_host']}:{r['https_port']}]"
        story = [*base, "--client-id", basic["client_id"], "--client-secret", basic["client_secret"],
                 "--scope", r["receipts_scope"], "--resource", r["receipts_resource"], "--call", receipts,
                 "--cache-in-ram"]

        def check_reset(name, extra, sources, token_connections, want_err=()):
            """A run that resets once: `sources` the two boots' source= lines."""
            report = work / "reset-report.txt"
            report.unlink(missing_ok=True)
            out = check(name, [*story, "--reset-after-fetch", *extra, "--report-file", str(report)], 0,
                        want_out=("call_status=200\n", '"receipt":"2026-0042"'), want_err=want_err,
                        secrets=(basic["client_secret"],))
            rep = reports(report) if report.exists() else {}
            got = [line for line in out.splitlines() if line.startswith("source=")]
            problems = []
            if got != [f"source={s}" for s in sources]:
                problems.append(f"source lines {got}, want {sources}")
            if out.count("call_status=200\n") != 2:
                problems.append("not two receipts (one per boot)")
            if rep.get("boots") != "2":
                problems.append(f"boots={rep.get('boots')}, want 2 (did the reset reboot?)")
            if rep.get(token_dest) != str(token_connections):
                problems.append(f"{token_connections} connection(s) to the token endpoint wanted, "
                                f"the bridge counted {rep.get(token_dest)}")
            # The second boot: the call alone after a restore, else fetch and call.
            want_fw = 1 if sources[1] == "cache" else 2
            if rep.get("fw_connections") != str(want_fw):
                problems.append(f"second boot opened {rep.get('fw_connections')} connections, want {want_fw}")
            for prefix in ("boot1_", ""):
                peak = int(rep.get(f"{prefix}stack_peak_bytes", -1))
                size = int(rep.get(f"{prefix}stack_size_bytes", 0))
                if not 0 <= peak < size - 256:
                    problems.append(f"{prefix or 'boot2 '}peak stack {peak} B of {size} B")
            ok = not problems
            results.append(ok)
            print(f"{'PASS' if ok else 'FAIL'} {name}: boots, connections per destination, stack"
                  + ("" if ok else ": " + "; ".join(problems)), flush=True)

        check_reset("token in .uninit RAM: fetch, receipt, reset; the second boot restores it "
                    "(no connection to the token endpoint) and the receipt service accepts it",
                    [], ["server", "cache"], 1)
        check_reset("a corrupted RAM record (a token byte flipped before the reset): the second "
                    "boot refuses it (checksum) and fetches",
                    ["--corrupt-ram-record", "60"], ["server", "server"], 2,
                    want_err=("note: RAM token record: the token record's checksum does not match",))
        check_reset("a RAM record with a flipped magic byte: not a record, the second boot fetches",
                    ["--corrupt-ram-record", "0"], ["server", "server"], 2)
        # Failures.
        check("wrong secret: exit 2, error=invalid_client",
              [*base, "--client-id", basic["client_id"], "--client-secret", "not-the-secret"],
              2, want_err=("error=invalid_client",), secrets=("not-the-secret",))
        check("certificate from another CA: exit 1",
              ["--token-url", r["https_other_ca"] + r["token_path"], "--ca-cert", ca,
               "--client-id", basic["client_id"], "--client-secret", basic["client_secret"]],
              1, want_err=("certificate refused",))
        check("trusting another CA: exit 1",
              ["--token-url", token_url, "--ca-cert", str(server.certs / "other-ca.pem"),
               "--client-id", basic["client_id"], "--client-secret", basic["client_secret"]],
              1, want_err=("certificate refused",))
        check("wrong server name (--server-name wrong.example): exit 1",
              [*base, "--server-name", "wrong.example",
               "--client-id", basic["client_id"], "--client-secret", basic["client_secret"]],
              1, want_err=("certificate refused",))
        check("certificate for another name (listener with wrong.example): exit 1",
              ["--token-url", r["https_wrong_name"] + r["token_path"], "--ca-cert", ca,
               "--client-id", basic["client_id"], "--client-secret", basic["client_secret"]],
              1, want_err=("certificate refused",))
        for mode, what in (("tcp", "closes the TCP connection at once"),
                           ("tls", "completes the handshake, reads the request, closes without an answer")):
            closer = EarlyCloser(mode, server.certs)
            try:
                check(f"a server that {what}: exit 1, not a hang",
                      ["--token-url", f"https://localhost:{closer.port}/token", "--ca-cert", ca,
                       "--client-id", basic["client_id"], "--client-secret", basic["client_secret"]],
                      1, want_err=("error:",), max_seconds=15)
            finally:
                closer.stop()
        # Public CAs' chains: an image with RSA and P-384, roots given as a
        # PEM bundle whose first root is unrelated.
        if build:
            b = subprocess.run(["cargo", "build", "--release", "--quiet", "--features", CHAIN_FEATURES],
                               cwd=DEVICE_DIR, env={**os.environ, "QEMU_DEVICE_RECORDS": "16384"})
            if b.returncode != 0:
                raise SystemExit("device-test: building the firmware with RSA and P-384 failed")
        chains = server.chains

        def bundle(*roots):
            path = work / ("bundle-" + "-".join(roots) + ".pem")
            path.write_bytes(b"".join((chains / f"{r}.pem").read_bytes() for r in roots))
            return str(path)

        def chain_url(shape):
            return r["chains"][shape]["https"] + r["token_path"]

        for shape, what in GOOD_CHAINS.items():
            root = (chains / f"{shape}.root").read_text().strip().removesuffix(".der")
            check(f"[rsa,p384 image] {what}: a token (roots: an unrelated one, then {root})",
                  ["--token-url", chain_url(shape), "--ca-cert", bundle("other-root", root),
                   "--client-id", basic["client_id"], "--client-secret", basic["client_secret"]],
                  0, want_out=("access_token=", "token_type=Bearer\n"), secrets=(basic["client_secret"],))
        for shape, (what, why) in BAD_CHAINS.items():
            root = (chains / f"{shape}.root").read_text().strip().removesuffix(".der")
            roots = ("root", "rsa-root") if shape == "other-root" else ("other-root", root)
            check(f"[rsa,p384 image] {what}: refused in the handshake ({why})",
                  ["--token-url", chain_url(shape), "--ca-cert", bundle(*roots),
                   "--client-id", basic["client_id"], "--client-secret", basic["client_secret"]],
                  1, want_err=("certificate refused", why), secrets=(basic["client_secret"],))
        check("a non-loopback host is refused by the bridge: exit 1",
              ["--token-url", "https://192.0.2.1/token", "--ca-cert", ca, "--server-name", "localhost",
               "--client-id", basic["client_id"], "--client-secret", basic["client_secret"]],
              1, want_err=("loopback",), max_seconds=15)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    passed = sum(results)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
