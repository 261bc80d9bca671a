#!/usr/bin/env python3
"""The emulated embassy board (examples/qemu-embassy) against the test servers, over PPP.

The firmware runs under QEMU (`mps2-an385`) with UART0 on a unix socket; the
pieces of scripts/netns-harness.py give it a network that exists only for
the run (a private network namespace, a TUN device, scripts/ppp_peer.py's
peer, scripts/dns_responder.py, tests/authz-server). Between the firmware
and the servers sit two small TCP relays of this script on fixed ports
(`auth.test:8443`, `receipts.test:9443`, private to the namespace), so that
one build per configuration serves every case and a case can refuse
connections, reset them, or switch to another server.

Cases (each bounded by a QEMU timeout, each with a fresh QEMU and PPP link):

1. story: PPP up, DNS, a token over verified TLS 1.3 from auth.test,
   receipts from receipts.test answered 200, exit 0 after 2 calls, then the
   stack's painted peak; the log lines in order, the client secret nowhere
   in the log.
2. renewal: tokens of a few seconds (server.mjs --access-token-ttl); at
   least 3 tokens published while the service calls keep answering 200.
3. faults, each ending in a recovery (exit 0 after 2 calls answered 2xx):
   a. the authorization server refuses connections, then accepts them
      (the next two attempts within the backoff's ceilings, 2 s and 4 s);
   b. DNS does not know the names (NXDOMAIN), then does;
   c. the peer terminates the PPP link after the first 200;
   d. a TCP reset in the middle of the service's answer.
Every case: no `PANIC`, no `HARD FAULT`, QEMU's exit status 0.

It prints PASS/FAIL per case, `N passed, M failed`, and a Markdown table of
measurements (flash and static RAM of the image, flash by crate as
scripts/device-report.py groups it plus "network stack" and "embassy",
bytes on the PPP link, wall time to the first token, the guest's
instructions to the first token and to the first 2xx (the story runs with
scripts/qemu-insn-count.c, a QEMU plugin built here with `cc`, and fails if
it does not see both marks of examples/qemu-embassy/src/measure.rs), the
painted peak of the main stack that the firmware prints at exit);
`--update-docs` (when every case passed) also writes that table into
docs/measurements.md between `<!-- embassy-device:begin -->` and
`<!-- embassy-device:end -->`, and a line of its figures into README.md
between `<!-- embassy-figures:begin -->` and `<!-- embassy-figures:end -->`.

Usage: sudo scripts/embassy-device-test.py [--update-docs] [--pap] [--verbose] [--case NAME]...
(--pap: the peer asks for PAP; --verbose: every case's log, the peer's too.)
Needs root (a network namespace, a TUN device). Not root: fails, unless
EMBASSY_DEVICE_TEST_OPTIONAL=1, then it prints SKIPPED and exits 0.
The firmware is built in examples/qemu-embassy (its own target directory,
`cargo build --release --offline -j1`, once per configuration).
"""

import importlib.util
import json
import os
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FIRMWARE_DIR = ROOT / "examples" / "qemu-embassy"
ELF = FIRMWARE_DIR / "target" / "thumbv7m-none-eabi" / "release" / "qemu-embassy"
AUTH_PORT, RECEIPTS_PORT = 8443, 9443
CLIENT_ID, CLIENT_SECRET = "basic-client", "basic-secret"
SHORT_TTL = 4  # seconds: the renewal case's tokens
PEER_OPTIONS = {}  # --pap: the peer asks for PAP (the firmware's default credentials)
CASES = ["story", "renewal", "auth-down", "dns-failure", "ppp-drop", "tcp-reset"]


def load(name, file):
    spec = importlib.util.spec_from_file_location(name, file)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


nh = load("netns_harness", HERE / "netns-harness.py")
ppp_peer = nh.ppp_peer
dns_responder = nh.dns_responder
# Flash by crate: device-report.py's `flash_by_crate` (elfcheck.py attribute).
dr = load("device_report", HERE / "device-report.py")
FLASH_GROUPS = {
    **dr.GROUPS,
    "network stack": {"embassy_net", "smoltcp", "embassy_net_ppp", "ppproto", "embassy_net_driver",
                      "embassy_net_driver_channel", "managed", "byteorder"},
    "embassy": {"embassy_executor", "embassy_time", "embassy_sync", "embassy_time_driver",
                "embassy_time_queue_utils", "embassy_futures", "cordyceps"},
}


def say(text):
    print(text, flush=True)


# ---------------------------------------------------------------------------
# a TCP relay with faults


class Relay:
    """Listens on (host, port) and relays to `target`; mode: forward, refuse, reset-once."""

    def __init__(self, host, port):
        self.addr = (host, port)
        self.target = None
        self.mode = "refuse"
        self.server = None
        self.resets = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def set(self, mode, target=None):
        with self.lock:
            if target is not None:
                self.target = target
            self.mode = mode
            if mode == "refuse" and self.server is not None:
                self.server.close()
                self.server = None
            elif mode != "refuse" and self.server is None:
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(self.addr)
                s.listen(8)
                s.settimeout(0.1)
                self.server = s

    def _accept(self):
        while not self.stop.is_set():
            with self.lock:
                s = self.server
            if s is None:
                time.sleep(0.05)
                continue
            try:
                c, _ = s.accept()
            except (socket.timeout, OSError):
                continue
            with self.lock:
                mode, target = self.mode, self.target
                if mode == "reset-once":
                    self.mode = "forward"
            threading.Thread(target=self._pipe, args=(c, target, mode == "reset-once"),
                             daemon=True).start()

    def _pipe(self, client, target, reset):
        try:
            server = socket.create_connection(target, timeout=5)
        except OSError:
            client.close()
            return
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, server)
        sel.register(server, selectors.EVENT_READ, client)
        # For a reset: the client's TLS records; the second application-data
        # record (after its Finished) is the HTTP request.
        cbuf, app_records = b"", 0
        try:
            while not self.stop.is_set():
                for key, _ in sel.select(0.5):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    if reset and key.fileobj is client:
                        cbuf += data
                        while len(cbuf) >= 5 and len(cbuf) >= 5 + struct.unpack("!H", cbuf[3:5])[0]:
                            n = 5 + struct.unpack("!H", cbuf[3:5])[0]
                            app_records += cbuf[0] == 23
                            cbuf = cbuf[n:]
                    if reset and key.fileobj is server and app_records >= 2:
                        # Part of the answer, then a reset (SO_LINGER 0).
                        client.sendall(data[: max(1, len(data) // 2)])
                        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                          struct.pack("ii", 1, 0))
                        self.resets += 1
                        return
                    key.data.sendall(data)
        except OSError:
            pass
        finally:
            sel.close()
            client.close()
            server.close()

    def close(self):
        self.stop.set()
        self.set("refuse")
        self.thread.join(2)


# ---------------------------------------------------------------------------
# the PPP link: our own loop around ppp_peer.PppPeer (bytes counted, terminate on request)


class Link(threading.Thread):
    def __init__(self, sock, tun_fd, log=None):
        super().__init__(daemon=True)
        self.sock, self.tun_fd = sock, tun_fd
        self.stop = threading.Event()
        self.terminate = threading.Event()
        self.peer = ppp_peer.PppPeer(write=sock.sendall, on_ipv4=lambda p: os.write(tun_fd, p),
                                     local=nh.PEER_ADDRESS, remote=nh.DEVICE_ADDRESS,
                                     dns=nh.DNS_ADDRESS, log=log, **PEER_OPTIONS)
        self.error = None

    def run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ, "uart")
        sel.register(self.tun_fd, selectors.EVENT_READ, "tun")
        peer = self.peer
        reopen = False
        try:
            while not self.stop.is_set():
                if self.terminate.is_set():
                    self.terminate.clear()
                    peer.terminate(b"test: link dropped")
                    reopen = True
                if reopen and peer.lcp.state == ppp_peer.CLOSED:
                    # A peer that hung up and is ready again (an administrative
                    # Close stays Closed otherwise): wait for the device.
                    reopen = False
                    peer.phase = ppp_peer.ESTABLISH
                    peer.lcp.up()
                waits = [0.2]
                d = peer.next_deadline()
                if d is not None:
                    waits.append(max(0.0, d - time.monotonic()))
                for key, _ in sel.select(min(waits)):
                    if key.data == "uart":
                        try:
                            data = self.sock.recv(65536)
                        except OSError:
                            data = b""
                        if not data:
                            return
                        peer.feed(data)
                    else:
                        try:
                            pkt = os.read(self.tun_fd, 65535)
                        except BlockingIOError:
                            continue
                        if pkt and pkt[0] >> 4 == 4:
                            peer.send_ipv4(pkt)
                peer.poll_timers()
        except Exception as exc:
            self.error = exc
        finally:
            sel.close()


# ---------------------------------------------------------------------------
# the firmware


def build(ca_der, exit_after, interval):
    env = dict(os.environ, OAUTH_TOKEN_URL=f"https://auth.test:{AUTH_PORT}/token",
               OAUTH_CLIENT_ID=CLIENT_ID, OAUTH_CLIENT_SECRET=CLIENT_SECRET,
               OAUTH_SCOPE="receipts:read",
               SERVICE_URL=f"https://receipts.test:{RECEIPTS_PORT}/receipts/r-1",
               SERVICE_INTERVAL_SECS=str(interval), OAUTH_CA_CERT=str(ca_der),
               QEMU_EMBASSY_EXIT_AFTER=str(exit_after))
    for k in ("CARGO_TARGET_DIR", "CARGO_BUILD_TARGET", "RUSTFLAGS"):
        env.pop(k, None)
    t0 = time.monotonic()
    subprocess.run(["cargo", "build", "--release", "--offline", "-j1", "-q"], cwd=FIRMWARE_DIR,
                   env=env, check=True, timeout=1800)
    say(f"-- firmware built (exit after {exit_after}, interval {interval} s) "
        f"in {time.monotonic() - t0:.1f} s")
    data = ELF.read_bytes()
    return data  # a copy: the next build overwrites the file


class Run:
    """One boot of the firmware: QEMU, its PPP link, its log."""

    def __init__(self, image, workdir, tun_fd, timeout, plugin=()):
        self.lines = []  # (seconds since start, line)
        self.t0 = time.monotonic()
        elf = workdir / f"image-{id(image)}.elf"
        if not elf.exists():
            elf.write_bytes(image)
        sock = workdir / "uart.sock"
        if sock.exists():
            sock.unlink()
        self.qemu = subprocess.Popen(
            ["timeout", "-s", "KILL", str(timeout), "qemu-system-arm", "-machine", "mps2-an385",
             "-cpu", "cortex-m3", "-display", "none", "-monitor", "none",
             "-serial", f"unix:{sock},server=on,wait=on",
             "-semihosting-config", "enable=on,target=native", *plugin, "-kernel", str(elf)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            preexec_fn=nh._child_setup, start_new_session=True, text=True, errors="replace")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        end = time.monotonic() + 10
        while True:
            try:
                s.connect(str(sock))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > end or self.qemu.poll() is not None:
                    self.stop()
                    raise RuntimeError("QEMU's serial socket did not appear")
                time.sleep(0.02)
        self.link = Link(s, tun_fd, lambda t: self.lines.append(
            (time.monotonic() - self.t0, f"(peer) {t}")))
        self.link.start()

    def _read(self):
        for line in self.qemu.stdout:
            self.lines.append((time.monotonic() - self.t0, line.rstrip("\n")))

    def wait_for(self, pattern, timeout, start=0):
        """Index of the first log line from `start` matching `pattern`, or None."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        while True:
            for i in range(start, len(self.lines)):
                if rx.search(self.lines[i][1]):
                    return i
            if time.monotonic() > end or (self.qemu.poll() is not None and not self.reader.is_alive()):
                return None
            time.sleep(0.05)

    def finish(self, timeout):
        try:
            rc = self.qemu.wait(timeout)
        except subprocess.TimeoutExpired:
            rc = None
        self.stop()
        return rc

    def stop(self):
        if self.qemu.poll() is None:
            try:
                os.killpg(self.qemu.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.qemu.wait()
        self.reader.join(2)
        if hasattr(self, "link"):
            self.link.stop.set()
            self.link.join(2)
            self.link.sock.close()

    def text(self):
        return "\n".join(f"{t:8.3f} {l}" for t, l in self.lines)


def condensed(run, limit=80):
    """The log, repeated messages (the same text after the timestamps) counted, not shown."""
    out, last, repeats = [], None, 0
    for t, line in run.lines:
        msg = re.sub(r"^\s*[\d.]+\s+", "", line)
        if msg == last:
            repeats += 1
            continue
        if repeats:
            out.append(f"   ... the same {repeats} more times")
        out.append(f"   {t:8.3f} {line}")
        last, repeats = msg, 0
    if repeats:
        out.append(f"   ... the same {repeats} more times")
    return "\n".join(out[-limit:])


# ---------------------------------------------------------------------------
# cases


class Env:
    pass


def common_checks(run, rc):
    log = run.text()
    problems = []
    if rc != 0:
        problems.append(f"QEMU exit status {rc} (0 expected)")
    if "PANIC" in log or "HARD FAULT" in log:
        problems.append("a panic or hard fault in the log")
    if CLIENT_SECRET in log:
        problems.append("the client secret appears in the log")
    return problems


def in_order(run, patterns, timeout):
    i, problems = 0, []
    for p in patterns:
        j = run.wait_for(p, timeout, i)
        if j is None:
            problems.append(f"no log line /{p}/ (after line {i})")
            break
        i = j + 1
    return problems


def ends_with(run, patterns, timeout, exit_within=10):
    """The log lines `patterns` in order, then QEMU's exit and `common_checks`."""
    problems = in_order(run, patterns, timeout)
    return problems + common_checks(run, run.finish(exit_within))


def guest_seconds(line):
    """The firmware's own timestamp of a log line (seconds since its boot)."""
    return float(line.split()[0])


# The token client's backoff (the crate's `Backoff::new()`, full jitter):
# after the n-th failure in a row, a wait below 2 s × 2^(n-1).
BACKOFF_CEILINGS = (2.0, 4.0)
# What an attempt itself may take on top (DNS, a refused connect).
ATTEMPT_SLACK = 0.5


STACK_LINE = r"stack: peak (\d+) bytes \(of (\d+) painted\)"
STORY = [r"ppp: starting on UART0", r"ppp: up 10\.77\.0\.2 peer 10\.77\.0\.1 dns \[10\.77\.0\.1\]",
         r"token task: network up, fetching a token", r"token 1 published, valid \d+ s more",
         r"service answered 200 \(\d+ bytes\)", r"service answered 200 \(\d+ bytes\)",
         r"exit: 2 service calls answered 2xx", STACK_LINE]


def case_story(e):
    e.auth.set("forward", e.node["auth"])
    e.receipts.set("forward", e.node["receipts"])
    # Counts the guest's instructions (scripts/qemu-insn-count.c) up to
    # the first run of each of measure.rs's marks.
    addresses = mark_addresses(e.image_a, e.workdir)
    counts = e.workdir / "insn-counts.txt"
    plugin = ["-plugin", ",".join([str(insn_plugin(e.workdir)), f"out={counts}"]
                                  + [f"mark={hex(a)}" for a in addresses.values()])]
    run = Run(e.image_a, e.workdir, e.tun_fd, 60, plugin)
    problems = ends_with(run, STORY, 45)
    first = first_marks(counts, addresses) if counts.exists() else {}
    token, ok = first.get(MARKS[0]), first.get(MARKS[1])
    if token is None or ok is None:
        problems.append(f"the instruction counter saw the marks {sorted(first)}, not both")
    elif not 0 < token < ok:
        problems.append(f"instructions to the first token {token}, to the first 2xx {ok}: "
                        "not in that order")
    else:
        e.measured["instructions"] = (token, ok)
    st = run.link.peer.stats
    e.measured["bytes"] = (st["serial_bytes_in"], st["serial_bytes_out"])
    first = next((t for t, l in run.lines if re.search(r"token 1 published", l)), None)
    e.measured["first_token_s"] = first
    e.measured["ppp_up_s"] = next((t for t, l in run.lines if "ppp: up" in l), None)
    stack = next((m for _, l in run.lines for m in [re.search(STACK_LINE, l)] if m), None)
    if stack:
        e.measured["stack"] = (int(stack.group(1)), int(stack.group(2)))
    e.dns_before = e.dns.answered
    return run, problems


def case_renewal(e):
    e.auth.set("forward", e.node_short["auth"])
    e.receipts.set("forward", e.node_short["receipts"])
    run = Run(e.image_b, e.workdir, e.tun_fd, 90)
    problems = ends_with(run, [r"token 1 published", r"token 2 published", r"token 3 published",
                               r"service answered 200", r"exit: \d+ service calls"], 75)
    log = run.text()
    tokens = len(re.findall(r"token \d+ published", log))
    oks = len(re.findall(r"service answered 200", log))
    refused = len(re.findall(r"token \d+ refused", log))
    if tokens < 3:
        problems.append(f"{tokens} tokens published (3 or more expected)")
    # Calls keep answering 200 across the renewals: after each token from
    # the second on, at least one 200.
    idx = [i for i, (_, l) in enumerate(run.lines) if re.search(r"token \d+ published", l)]
    for a, b in zip(idx[1:], idx[2:] + [len(run.lines)]):
        if not any("service answered 200" in l for _, l in run.lines[a:b]):
            problems.append(f"no 200 between log lines {a} and {b}")
    e.notes["renewal"] = f"{tokens} tokens, {oks} calls answered 200, {refused} refused"
    return run, problems


def case_auth_down(e):
    e.auth.set("refuse", e.node["auth"])
    e.receipts.set("forward", e.node["receipts"])
    run = Run(e.image_a, e.workdir, e.tun_fd, 90)
    problems = []
    refused = r"token request failed: .*TCP connect failed"
    i = run.wait_for(refused, 30)
    if i is None:
        problems.append("no `token request failed: ... TCP connect failed` while the server refused")
    # The backoff (full jitter): each next attempt within its ceiling, and
    # not at once every time (two waits together under 50 ms by chance:
    # p < 0.02 %).
    j = run.wait_for(refused, 15, (i or 0) + 1)
    k = run.wait_for(refused, 15, (j or 0) + 1)
    if i is None or j is None or k is None:
        problems.append("no second and third attempt")
    else:
        at = [guest_seconds(run.lines[x][1]) for x in (i, j, k)]
        gaps = (at[1] - at[0], at[2] - at[1])
        e.notes["auth-down"] = f"attempts {gaps[0]:.1f} s and {gaps[1]:.1f} s apart"
        for gap, ceiling in zip(gaps, BACKOFF_CEILINGS):
            if gap > ceiling + ATTEMPT_SLACK:
                problems.append(f"an attempt {gap:.2f} s after the last, beyond the "
                                f"backoff's ceiling of {ceiling} s")
        if sum(gaps) < 0.05:
            problems.append(f"attempts {gaps[0]:.3f} s and {gaps[1]:.3f} s apart: no backoff")
    e.auth.set("forward")
    problems += ends_with(run, [r"token 1 published", r"service answered 200",
                                r"exit: 2 service calls"], 75)
    return run, problems


def case_dns_failure(e):
    e.auth.set("forward", e.node["auth"])
    e.receipts.set("forward", e.node["receipts"])
    saved = dict(e.dns.table.records)
    e.dns.table.records.clear()
    try:
        run = Run(e.image_a, e.workdir, e.tun_fd, 90)
        problems = []
        i = run.wait_for(r"token request failed: .*DNS lookup failed", 30)
        if i is None:
            problems.append("no `token request failed: ... DNS lookup failed` while the names "
                            "did not resolve")
        else:
            e.notes["dns-failure"] = run.lines[i][1].split(": ", 1)[-1]
        if run.wait_for(r"token 1 published", 2) is not None:
            problems.append("a token without DNS")
    finally:
        e.dns.table.records.update(saved)
    problems += ends_with(run, [r"token 1 published", r"service answered 200",
                                r"exit: 2 service calls"], 75)
    return run, problems


def case_ppp_drop(e):
    e.auth.set("forward", e.node["auth"])
    e.receipts.set("forward", e.node["receipts"])
    run = Run(e.image_a, e.workdir, e.tun_fd, 90)
    problems = []
    i = run.wait_for(r"service answered 200", 40)
    if i is None:
        problems.append("no first 200")
    else:
        run.link.terminate.set()
        j = run.wait_for(r"ppp: up", 20, i + 1)
        if j is None:
            problems.append("PPP did not come up again")
        elif run.wait_for(r"service answered 200", 20, j + 1) is None:
            problems.append("no 200 after the link came back")
    problems += common_checks(run, run.finish(30))
    log = run.text()
    if len(re.findall(r"token \d+ published", log)) != 1:
        problems.append("the token was fetched again (lost?)")
    return run, problems


def case_tcp_reset(e):
    e.auth.set("forward", e.node["auth"])
    e.receipts.set("reset-once", e.node["receipts"])
    resets = e.receipts.resets
    run = Run(e.image_a, e.workdir, e.tun_fd, 90)
    problems = []
    i = run.wait_for(r"service call failed", 40)
    if i is None:
        problems.append("no `service call failed` after the reset")
    else:
        e.notes["tcp-reset"] = run.lines[i][1].split(": ", 1)[-1]
    problems += ends_with(run, [r"service answered 200", r"exit: 2 service calls"], 60)
    if e.receipts.resets != resets + 1:
        problems.append("the relay did not reset a connection")
    return run, problems


CASE_FUNCS = {"story": case_story, "renewal": case_renewal, "auth-down": case_auth_down,
              "dns-failure": case_dns_failure, "ppp-drop": case_ppp_drop,
              "tcp-reset": case_tcp_reset}
CASE_TITLES = {
    "story": "the main story by name: PPP, DNS, token over TLS 1.3 from auth.test, 2 receipts",
    "renewal": f"renewal: {SHORT_TTL} s tokens renewed while the service calls keep answering 200",
    "auth-down": "fault: the authorization server refuses, then accepts: backoff, then a token",
    "dns-failure": "fault: DNS answers NXDOMAIN, then the names: an error, then the story",
    "ppp-drop": "fault: the peer terminates the PPP link after the first 200: link back, 200 again",
    "tcp-reset": "fault: a TCP reset in the middle of the service's answer: failure, then 200",
}


# ---------------------------------------------------------------------------
# measurements


def image_sizes(image, workdir):
    elf = workdir / "size.elf"
    elf.write_bytes(image)
    out = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    sec = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[1].isdigit():
            sec[parts[0]] = int(parts[1])
    flash = sec.get(".vector_table", 0) + sec.get(".text", 0) + sec.get(".rodata", 0) + sec.get(".data", 0)
    ram = sec.get(".data", 0) + sec.get(".bss", 0) + sec.get(".uninit", 0)
    return flash, ram, sec


MARKS = ("qemu_embassy_mark_token", "qemu_embassy_mark_service_ok")


def insn_plugin(workdir):
    """scripts/qemu-insn-count.c built into `workdir`: the plugin's path."""
    so = workdir / "qemu-insn-count.so"
    if not so.exists():
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-o", str(so),
                        str(HERE / "qemu-insn-count.c")], check=True, timeout=120)
    return so


def mark_addresses(image, workdir):
    """{symbol: address} of measure.rs's marks in the image."""
    elf = workdir / "marks.elf"
    elf.write_bytes(image)
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in MARKS:
            found[parts[2]] = int(parts[0], 16) & ~1
    missing = [m for m in MARKS if m not in found]
    if missing:
        raise RuntimeError(f"no symbol {', '.join(missing)} in the image")
    return found


def first_marks(counts_file, addresses):
    """{symbol: instructions at its first run} from the plugin's output."""
    by_address = {a: name for name, a in addresses.items()}
    first = {}
    for line in counts_file.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "mark":
            name = by_address.get(int(parts[1], 16))
            if name is not None and name not in first:
                first[name] = int(parts[2])
    return first


def table(m):
    flash, ram, sec = m["sizes"]
    rows = [
        ("flash (`.vector_table` + `.text` + `.rodata` + `.data`)", f"{flash} B ({flash / 1024:.1f} KiB): "
         f".text {sec.get('.text', 0)}, .rodata {sec.get('.rodata', 0)}"),
        ("static RAM (`.data` + `.bss` + `.uninit`)", f"{ram} B ({ram / 1024:.1f} KiB)"),
    ]
    if m.get("bytes"):
        i, o = m["bytes"]
        rows.append(("bytes on the PPP link, the whole story (2 calls)",
                     f"{i + o} B: device → peer {i}, peer → device {o} (HDLC framing included)"))
    if m.get("first_token_s") is not None:
        rows.append(("wall time, QEMU start → `ppp: up`", f"{m['ppp_up_s']:.2f} s"))
        rows.append(("wall time, QEMU start → `token 1 published`", f"{m['first_token_s']:.2f} s"))
    if m.get("flash_groups"):
        g = m["flash_groups"]
        rows.append(("flash by crate (`elfcheck.py attribute`: the code bytes it attributes "
                     "from the DWARF line info, code that `core` inlines counting for the crate "
                     "that inlined it)",
                     ", ".join(f"{k} {v} B" for k, v in g.items())
                     + f" ({sum(g.values())} B of .text's {sec.get('.text', 0)} attributed; the rest: core, compiler builtins, "
                     "board-common and the firmware itself, log, cortex-m, …)"))
    if m.get("stack"):
        peak, painted = m["stack"]
        bound = " (a lower bound: the whole painted area was used)" if peak >= painted else ""
        rows.append(("painted peak stack, the main stack (the executor polling the tasks, the "
                     "interrupt handlers), the story", f"{peak} B of the {painted} B painted "
                     f"(the top 64 KiB of the stack){bound}; the tasks' own state (their futures) "
                     "is in static RAM, counted above"))
    if m.get("instructions"):
        token, ok = m["instructions"]
        rows.append(("guest instructions from reset to the first token (boot, PPP, DNS, TCP, "
                     "the TLS 1.3 handshake with its P-256 chain, the token request; "
                     "`scripts/qemu-insn-count.c`, a QEMU plugin, counts them)",
                     f"{token / 1e6:.2f} M; to the first service call answered 2xx (its own "
                     f"DNS, TCP and handshake) {ok / 1e6:.2f} M"))
    lines = ["| what | measured |", "| --- | --- |"] + [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines)


def summary(m):
    """The README's line of figures (between its embassy-figures markers)."""
    parts = []
    if m.get("sizes"):
        flash, ram, _ = m["sizes"]
        parts += [f"flash {flash / 1024:.1f} KiB", f"static RAM {ram / 1024:.1f} KiB"]
    if m.get("stack"):
        parts.append(f"main-stack peak {m['stack'][0]:,} B")
    if m.get("instructions"):
        parts.append(f"{m['instructions'][0] / 1e6:.1f} M instructions to the first token")
    if m.get("bytes"):
        parts.append(f"{sum(m['bytes']) / 1000:.1f} KB on the link (token, 2 calls)")
    return ("Measured: " + ", ".join(parts)
            + " ([all](docs/measurements.md#the-emulated-embassy-board-over-ppp)).")


def update_docs(text, line):
    p = ROOT / "README.md"
    s = p.read_text()
    begin, end = "<!-- embassy-figures:begin -->", "<!-- embassy-figures:end -->"
    if begin in s and end in s:
        s = s[: s.index(begin)] + f"{begin}\n{line}\n{end}" + s[s.index(end) + len(end):]
        p.write_text(s)
    p = ROOT / "docs" / "measurements.md"
    s = p.read_text()
    begin, end = "<!-- embassy-device:begin -->", "<!-- embassy-device:end -->"
    block = f"{begin}\n{text}\n{end}"
    if begin in s:
        s = s[: s.index(begin)] + block + s[s.index(end) + len(end):]
    else:
        s = s.rstrip("\n") + ("\n\n## The emulated embassy board over PPP\n\n"
                              "`scripts/embassy-device-test.py --update-docs` (root) writes this "
                              "table: examples/qemu-embassy's release image, built for the test "
                              "servers, under QEMU `mps2-an385` (wall times on this machine).\n\n"
                              + block + "\n")
    p.write_text(s)


# ---------------------------------------------------------------------------
# inside the namespace


def inside(args):
    nh.unshare_net()
    say(f"NETNS {nh.netns_id()}")
    children = nh.Children()
    workdir = Path(tempfile.mkdtemp(prefix="embassy-device-test-"))
    tun_fd = dns = None
    relays = []
    e = Env()
    e.workdir, e.measured, e.notes = workdir, {}, {}
    results = []
    try:
        tun_fd, _ = nh.setup_network("ppp0")
        e.tun_fd = tun_fd
        dns = dns_responder.DnsResponder(nh.NAMES, nh.DNS_ADDRESS, 53).start()
        e.dns = dns
        t0 = time.monotonic()
        info = nh.start_authz_server(children, workdir, args.timeout)
        ready = json.loads(Path(info["AUTHZ_READY_FILE"]).read_text())
        e.node = {"auth": (nh.PEER_ADDRESS, ready["https_port"]),
                  "receipts": (nh.PEER_ADDRESS, ready["receipts_https_port"])}
        cases = args.case or CASES
        if "renewal" in cases:
            info2 = nh.start_authz_server(children, workdir, args.timeout, name="authz-short",
                                          certs=workdir / "certs",
                                          extra_args=["--access-token-ttl", str(SHORT_TTL)])
            r2 = json.loads(Path(info2["AUTHZ_READY_FILE"]).read_text())
            e.node_short = {"auth": (nh.PEER_ADDRESS, r2["https_port"]),
                            "receipts": (nh.PEER_ADDRESS, r2["receipts_https_port"])}
        say(f"-- servers up in {time.monotonic() - t0:.1f} s")
        e.auth = Relay(nh.PEER_ADDRESS, AUTH_PORT)
        e.receipts = Relay(nh.PEER_ADDRESS, RECEIPTS_PORT)
        relays = [e.auth, e.receipts]
        ca = workdir / "certs" / "ca.der"
        e.image_a = build(ca, 2, 1)
        e.measured["sizes"] = image_sizes(e.image_a, workdir)
        try:
            e.measured["flash_groups"], _ = dr.flash_by_crate(workdir / "size.elf", workdir,
                                                              FLASH_GROUPS)
        except (OSError, subprocess.CalledProcessError, IndexError, ValueError) as exc:
            say(f"-- flash by crate not measured: {exc}")
        if "renewal" in cases:
            e.image_b = build(ca, 8, 1)
        for name in cases:
            t = time.monotonic()
            try:
                run, problems = CASE_FUNCS[name](e)
            except Exception as exc:
                run, problems = None, [f"error: {exc!r}"]
            dt = time.monotonic() - t
            ok = not problems
            note = f" ({e.notes[name]})" if name in e.notes else ""
            say(f"{'PASS' if ok else 'FAIL'} {name} ({dt:.1f} s): {CASE_TITLES[name]}{note}")
            if not ok or args.verbose:
                for p in problems:
                    say(f"   problem: {p}")
                if run is not None:
                    say("   --- firmware log ---")
                    say(condensed(run))
            results.append((name, ok, dt))
        passed = sum(ok for _, ok, _ in results)
        say(f"{passed} passed, {len(results) - passed} failed")
        text = table(e.measured)
        say("\n" + text + "\n")
        if args.update_docs and passed == len(results):
            update_docs(text, summary(e.measured))
            say("-- docs/measurements.md and README.md's figures updated")
        elif args.update_docs:
            say("-- docs not updated: not every case passed")
        return 0 if passed == len(results) else 1
    finally:
        nh.quiet_signals()
        for r in relays:
            r.close()
        children.stop_all()
        if dns is not None:
            dns.close()
        if tun_fd is not None:
            os.close(tun_fd)
        import shutil
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", action="append", choices=CASES, help="run only these (repeatable)")
    ap.add_argument("--update-docs", action="store_true")
    ap.add_argument("--pap", action="store_true",
                    help="the PPP peer requires PAP (user and password `device`)")
    ap.add_argument("--verbose", action="store_true", help="print every case's log")
    ap.add_argument("--timeout", type=float, default=900.0, help="the whole run, seconds")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.pap:
        PEER_OPTIONS.update(require_pap=True, pap_user="device", pap_password="device")
    if args.inside:
        def on_signal(signum, _frame):
            raise nh.Stop(signal.Signals(signum).name)
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
            signal.signal(s, on_signal)
        signal.alarm(int(args.timeout))
        try:
            return inside(args)
        except nh.Stop as stop:
            say(f"FAIL: stopped ({stop})")
            return 1
    if os.geteuid() != 0 or not os.path.exists("/dev/net/tun"):
        why = "not root" if os.geteuid() != 0 else "/dev/net/tun missing"
        if os.environ.get("EMBASSY_DEVICE_TEST_OPTIONAL") == "1":
            say(f"embassy-device-test: SKIPPED: {why} (a network namespace and a TUN device need root)")
            return 0
        say(f"embassy-device-test: {why}: a network namespace and a TUN device need root "
            "(EMBASSY_DEVICE_TEST_OPTIONAL=1 skips)")
        return 1
    # The cases run in a child in its own network namespace; this process
    # checks afterwards that nothing is left in it.
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--inside"]
                            + (argv if argv is not None else sys.argv[1:]),
                            stdout=subprocess.PIPE, text=True, preexec_fn=nh._child_setup)
    ns = None
    for line in proc.stdout:
        if line.startswith("NETNS ") and ns is None:
            ns = line.split()[1]
            continue
        print(line, end="", flush=True)
    rc = proc.wait()
    end = time.monotonic() + 5
    while ns and nh.processes_in(ns) and time.monotonic() < end:
        time.sleep(0.1)
    if ns and nh.processes_in(ns):
        say(f"FAIL: processes left in the test's namespace: {nh.processes_in(ns)}")
        rc = rc or 1
    say(f"embassy-device-test: {'passed' if rc == 0 else 'FAILED'} in {time.monotonic() - t0:.0f} s")
    return rc


if __name__ == "__main__":
    sys.exit(main())
