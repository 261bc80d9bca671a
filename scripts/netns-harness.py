#!/usr/bin/env python3
"""A private network for the emulated device: PPP peer, TUN, DNS and servers in a namespace.

The firmware under QEMU speaks PPP on UART0 (embassy-net-ppp). This harness,
run as root, gives it a network that exists only for the run:

* a new, anonymous network namespace (unshare(CLONE_NEWNET) of this very
  process): nothing in it is reachable from the machine's own network and
  it disappears with the last process inside it, so nothing needs removing;
* in it: loopback up, a TUN device (IFF_TUN | IFF_NO_PI, default name
  `ppp0`) with 10.77.0.1/24, up;
* scripts/ppp_peer.py between the serial chardev and the TUN device
  (peer 10.77.0.1, device 10.77.0.2, DNS 10.77.0.1 offered over IPCP);
* scripts/dns_responder.py on 10.77.0.1:53 (UDP): `auth.test` and
  `receipts.test` -> 10.77.0.1, NXDOMAIN for anything else;
* with --authz-server: certificates from tests/authz-server/gen-certs.sh
  with `--names auth.test,receipts.test` and `node server.mjs --host
  10.77.0.1` (ports chosen by the OS; its ready file is exported);
* background commands (--serve CMD) and one foreground command (after
  `--`), both inside the namespace, e.g. QEMU itself.

Usage:

    scripts/netns-harness.py --self-test
    scripts/netns-harness.py --uart unix:PATH [--listen] [--authz-server]
        [--serve CMD]... [--timeout SECONDS] [--tun NAME] [--verbose] [-- CMD ARGS...]

With `--uart unix:PATH` the harness connects to QEMU's chardev (retrying
until it exists); start QEMU with
`-serial unix:PATH,server=on,wait=on` (QEMU waits for the harness before it
runs the guest, so the firmware's one LCP Configure-Request is not lost).
With `--listen` the harness listens on PATH and QEMU connects with
`-serial unix:PATH`. `tcp:HOST:PORT` works too (the socket is made before
the namespace, so HOST is in the machine's own network namespace).

The foreground command (and --serve commands) get these environment
variables: PPP_PEER_ADDRESS=10.77.0.1, PPP_DEVICE_ADDRESS=10.77.0.2,
PPP_DNS=10.77.0.1, PPP_UART=<spec>, and with --authz-server
AUTHZ_READY_FILE, AUTHZ_CA_PEM, AUTHZ_TOKEN_URL
(https://auth.test:PORT/token), AUTHZ_RECEIPTS_URL
(https://receipts.test:PORT/receipts/). One line `HARNESS {json}` with the
same values is printed on stdout once everything is up.

Lifetime: the harness exits when the foreground command exits (with its
status), or without one when the serial line closes; on SIGINT, SIGTERM,
SIGHUP and after --timeout (default 600 s) it stops everything. Every child
runs in its own process group with PR_SET_PDEATHSIG(SIGKILL), so even a
SIGKILL of the harness takes them down; the namespace and its TUN device
then vanish with them (only its temporary directory, with throwaway
certificates, and a --listen socket file can remain after a SIGKILL).

`--self-test` needs no firmware: a scripted PPP device
(scripts/ppp_fake_device.py, a model of the firmware's ppproto) on a
socketpair negotiates with the peer, then sends hand-built IPv4/UDP DNS
queries and an ICMP echo through PPP -> TUN -> the namespace and checks the
answers; then it checks that an interrupted harness (SIGINT and SIGKILL)
leaves no process and no namespace behind. Not root or no /dev/net/tun:
it prints `SKIPPED: ...` and exits 0.

Python 3 standard library only (ctypes for unshare/prctl, fcntl ioctls for
the interfaces; no `ip` command needed).
"""

import ctypes
import fcntl
import json
import os
import selectors
import shlex
import shutil
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
sys.path.insert(0, str(HERE))

import dns_responder  # noqa: E402
import ppp_fake_device  # noqa: E402
import ppp_peer  # noqa: E402

PEER_ADDRESS = "10.77.0.1"
DEVICE_ADDRESS = "10.77.0.2"
NETMASK = "255.255.255.0"
DNS_ADDRESS = PEER_ADDRESS
NAMES = {"auth.test": PEER_ADDRESS, "receipts.test": PEER_ADDRESS}

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8913, 0x8914
SIOCSIFADDR, SIOCSIFNETMASK = 0x8916, 0x891C
IFF_UP = 0x1

_libc = ctypes.CDLL(None, use_errno=True)


class Stop(Exception):
    """A signal or the watchdog asked the harness to stop."""


def log(text):
    print(f"netns-harness: {text}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# namespace and interfaces


def unshare_net():
    if _libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)}")


def netns_id(pid="self"):
    return os.readlink(f"/proc/{pid}/ns/net")


def _ifreq(name, payload=b""):
    return struct.pack("16s", name.encode()) + payload.ljust(24, b"\0")


def _sockaddr_in(addr):
    return struct.pack("HH4s8x", socket.AF_INET, 0, socket.inet_aton(addr))


def if_up(name):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        res = fcntl.ioctl(s, SIOCGIFFLAGS, _ifreq(name))
        flags = struct.unpack("16sH", res[:18])[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, _ifreq(name, struct.pack("H", flags | IFF_UP)))


def if_address(name, addr, netmask):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s, SIOCSIFADDR, _ifreq(name, _sockaddr_in(addr)))
        fcntl.ioctl(s, SIOCSIFNETMASK, _ifreq(name, _sockaddr_in(netmask)))


def setup_network(tun_name):
    """In the current (new) namespace: lo up, TUN with the peer address, up. Returns the TUN fd."""
    if_up("lo")
    fd, name = ppp_peer.open_tun(tun_name)
    if_address(name, PEER_ADDRESS, NETMASK)
    if_up(name)
    os.set_blocking(fd, False)
    return fd, name


# ---------------------------------------------------------------------------
# children


def _child_setup():
    # Dies with the harness even if the harness is SIGKILLed.
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Children:
    def __init__(self):
        self.procs = []

    def spawn(self, argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(argv, preexec_fn=_child_setup, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def stop_all(self, grace=3.0):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        end = time.monotonic() + grace
        for p in self.procs:
            try:
                p.wait(max(0.05, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for p in self.procs:
            # The whole group: a child's own children too.
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if p.poll() is None:
                try:
                    p.wait(2)
                except subprocess.TimeoutExpired:
                    log(f"process {p.pid} did not exit")
            for stream in (p.stdin, p.stdout, p.stderr):
                if stream:
                    try:
                        stream.close()
                    except OSError:
                        pass


def start_authz_server(children, workdir, timeout, name="authz", certs=None, extra_args=()):
    """node server.mjs on PEER_ADDRESS; `certs`: reuse that directory (default: new ones)."""
    server_dir = ROOT / "tests" / "authz-server"
    if not (server_dir / "node_modules").is_dir():
        raise RuntimeError("tests/authz-server/node_modules missing: run npm ci --prefix tests/authz-server")
    if certs is None:
        certs = workdir / "certs"
        subprocess.run([str(server_dir / "gen-certs.sh"), "--names", ",".join(NAMES), str(certs)],
                       check=True, stdout=subprocess.DEVNULL, timeout=60)
    ready = workdir / f"{name}-ready.json"
    p = children.spawn(["node", str(server_dir / "server.mjs"), "--host", PEER_ADDRESS,
                        "--certs", str(certs), "--ready-file", str(ready), "--quiet",
                        "--max-lifetime", str(int(timeout) + 30), *extra_args],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    # The pipe stays open for the server's lifetime: it exits on its EOF.
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    end = time.monotonic() + 30
    line = b""
    while not line.endswith(b"\n"):
        if time.monotonic() > end or p.poll() is not None:
            raise RuntimeError("the authorization server did not start")
        if sel.select(0.2):
            chunk = os.read(p.stdout.fileno(), 256)
            if not chunk:
                raise RuntimeError("the authorization server closed its stdout")
            line += chunk
    sel.close()
    info = json.loads(ready.read_text())
    return {
        "AUTHZ_READY_FILE": str(ready),
        "AUTHZ_CA_PEM": info["ca_pem"],
        "AUTHZ_TOKEN_URL": f"https://auth.test:{info['https_port']}{info['token_path']}",
        "AUTHZ_RECEIPTS_URL": f"https://receipts.test:{info['receipts_https_port']}"
                              f"{info['receipts_path_prefix']}",
    }


# ---------------------------------------------------------------------------
# the PPP bridge in a thread


class UartEndpoint:
    """The serial side: a socket made before the namespace, connected/accepted later."""

    def __init__(self, spec, listen):
        self.spec, self.listen = spec, listen
        kind, _, rest = spec.partition(":")
        self.kind = kind
        self.server = self.sock = None
        if kind == "unix":
            self.family, self.addr = socket.AF_UNIX, rest
        elif kind == "tcp":
            host, _, port = rest.rpartition(":")
            self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
            self.addr = (host.strip("[]"), int(port))
        else:
            raise ValueError(f"--uart: unix:PATH or tcp:HOST:PORT, not {spec!r}")
        if listen:
            self.server = socket.socket(self.family, socket.SOCK_STREAM)
            if self.family == socket.AF_UNIX and os.path.exists(self.addr):
                os.unlink(self.addr)
            self.server.bind(self.addr)
            self.server.listen(1)
            bound = self.server.getsockname()
            self.where = (f"unix:{bound}" if self.family == socket.AF_UNIX
                          else f"tcp:{bound[0]}:{bound[1]}")
        else:
            self.sock = socket.socket(self.family, socket.SOCK_STREAM)
            self.where = spec

    def open(self, stop, timeout):
        end = time.monotonic() + timeout
        if self.listen:
            self.server.settimeout(0.2)
            while not stop.is_set():
                try:
                    self.sock, _ = self.server.accept()
                    break
                except socket.timeout:
                    if time.monotonic() > end:
                        raise TimeoutError("nobody connected to the serial socket")
            self.server.close()
        else:
            while not stop.is_set():
                try:
                    self.sock.connect(self.addr)
                    break
                except (FileNotFoundError, ConnectionRefusedError):
                    if time.monotonic() > end:
                        raise
                    time.sleep(0.05)
        if self.sock is None or stop.is_set():
            return None
        self.sock.settimeout(None)
        return self.sock

    def close(self):
        for s in (self.sock, self.server):
            if s is not None:
                s.close()
        if self.listen and self.family == socket.AF_UNIX:
            try:
                os.unlink(self.addr)
            except FileNotFoundError:
                pass


class Bridge(threading.Thread):
    def __init__(self, get_sock, tun_fd, verbose, peer_kwargs=None):
        super().__init__(name="ppp-bridge", daemon=True)
        self.get_sock = get_sock
        self.tun_fd = tun_fd
        self.verbose = verbose
        self.peer_kwargs = dict(local=PEER_ADDRESS, remote=DEVICE_ADDRESS, dns=DNS_ADDRESS)
        self.peer_kwargs.update(peer_kwargs or {})
        self.stop = threading.Event()
        self.peer = None
        self.error = None

    def run(self):
        try:
            sock = self.get_sock(self.stop)
            if sock is None:
                return
            peer_log = (lambda t: log(f"ppp: {t}")) if self.verbose else None
            self.peer = ppp_peer.run_bridge(
                self.peer_kwargs, sock, sock.sendall, self.tun_fd,
                stop=self.stop.is_set, log=peer_log)
        except Exception as exc:  # reported by the main thread
            self.error = exc


# ---------------------------------------------------------------------------
# hand-built IPv4 packets for the self-test


def inet_checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4_packet(src, dst, proto, payload, ident=1):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, 64, proto,
                         0, socket.inet_aton(src), socket.inet_aton(dst))
    header = header[:10] + struct.pack("!H", inet_checksum(header)) + header[12:]
    return header + payload


def udp_packet(src, dst, sport, dport, payload, ident=1):
    length = 8 + len(payload)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, length)
    udp = struct.pack("!HHHH", sport, dport, length, 0) + payload
    csum = inet_checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    return ipv4_packet(src, dst, 17, udp, ident)


def icmp_echo(src, dst, ident, seq, data):
    icmp = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data
    icmp = icmp[:2] + struct.pack("!H", inet_checksum(icmp)) + icmp[4:]
    return ipv4_packet(src, dst, 1, icmp, seq)


def parse_ipv4(pkt):
    """(src, dst, proto, payload); ValueError when a checksum or length is wrong."""
    if len(pkt) < 20 or pkt[0] >> 4 != 4:
        raise ValueError("not IPv4")
    ihl = (pkt[0] & 0xF) * 4
    total = struct.unpack("!H", pkt[2:4])[0]
    if inet_checksum(pkt[:ihl]) != 0 or total > len(pkt):
        raise ValueError("bad IPv4 header")
    return (socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20]), pkt[9],
            pkt[ihl:total])


def parse_udp(src, dst, seg):
    sport, dport, length, csum = struct.unpack("!HHHH", seg[:8])
    if csum:
        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, length)
        if inet_checksum(pseudo + seg[:length]) != 0:
            raise ValueError("bad UDP checksum")
    return sport, dport, seg[8:length]


# ---------------------------------------------------------------------------
# self-test (inside the namespace)


def self_test_inside(args):
    print(f"NETNS {netns_id()}", flush=True)
    tun_fd, tun_name = setup_network(args.tun)
    dns = dns_responder.DnsResponder(NAMES, DNS_ADDRESS, 53).start()
    a, b = socket.socketpair()
    bridge = Bridge(lambda stop: a, tun_fd, args.verbose)
    bridge.start()
    try:
        dev_rx = []
        dev = ppp_fake_device.FakeDevice(write=b.sendall, on_ipv4=dev_rx.append)
        b.settimeout(0.2)

        def pump(until, seconds, what):
            end = time.monotonic() + seconds
            while not until():
                if time.monotonic() > end:
                    raise AssertionError(f"timed out waiting for {what}")
                try:
                    data = b.recv(65536)
                except socket.timeout:
                    continue
                if not data:
                    raise AssertionError("the peer closed the serial line")
                dev.feed(data)

        device_checks(dev, dev_rx, pump, f"socketpair, TUN {tun_name}")
        check(dns.answered == 3, f"the responder answered {dns.answered} queries")
    finally:
        quiet_signals()
        bridge.stop.set()
        bridge.join(3)
        a.close()
        b.close()
        dns.close()
        os.close(tun_fd)
    if bridge.error:
        raise bridge.error
    check(bridge.peer is not None and bridge.peer.stats["ipv4_in"] == 4
          and bridge.peer.stats["ipv4_out"] == 4, f"peer stats {bridge.peer and bridge.peer.stats}")
    print("SELF-TEST-INSIDE OK", flush=True)
    return 0


def device_checks(dev, dev_rx, pump, where):
    """From the device's side: PPP up, DNS for every name and NXDOMAIN, ICMP echo."""
    t0 = time.monotonic()
    dev.open()
    pump(lambda: dev.is_up, 15, "LCP and IPCP")
    check(dev.address == DEVICE_ADDRESS, f"device address {dev.address}")
    check(dev.dns == DNS_ADDRESS, f"DNS server {dev.dns}")
    log(f"PPP up in {1000 * (time.monotonic() - t0):.0f} ms: device {dev.address}, "
        f"peer {PEER_ADDRESS}, DNS {dev.dns} ({where})")

    def ask(name, ident, sport):
        dev_rx.clear()
        q = dns_responder.build_query(name, ident)
        dev.send_ipv4(udp_packet(dev.address, dev.dns, sport, 53, q, ident))
        pump(lambda: dev_rx, 10, f"the DNS answer for {name}")
        src, dst, proto, seg = parse_ipv4(dev_rx[0])
        check((src, dst, proto) == (DNS_ADDRESS, DEVICE_ADDRESS, 17),
              f"answer from {src} to {dst} proto {proto}")
        sp, dp, payload = parse_udp(src, dst, seg)
        check((sp, dp) == (53, sport), f"answer ports {sp} -> {dp}")
        return dns_responder.parse_response(payload)

    for name in NAMES:
        ident, rcode, addrs = ask(name, 0x4000 + len(name), 40000 + len(name))
        check(rcode == 0 and addrs == [NAMES[name]], f"{name}: rcode {rcode} {addrs}")
        log(f"DNS over PPP: {name} -> {addrs[0]}")
    _, rcode, addrs = ask("elsewhere.example", 0x5000, 40999)
    check(rcode == 3 and not addrs, f"elsewhere.example: rcode {rcode}")
    log("DNS over PPP: elsewhere.example -> NXDOMAIN")

    # The kernel's own ICMP answer: routing in the namespace works.
    dev_rx.clear()
    dev.send_ipv4(icmp_echo(dev.address, PEER_ADDRESS, 0x77, 1, b"ppp-self-test"))
    pump(lambda: dev_rx, 10, "the ICMP echo reply")
    src, dst, proto, icmp = parse_ipv4(dev_rx[0])
    check(proto == 1 and icmp[0] == 0 and icmp.endswith(b"ppp-self-test")
          and inet_checksum(icmp) == 0, "ICMP echo reply")
    log(f"ICMP echo over PPP: reply from {src}")


def fake_qemu(path):
    """Plays QEMU's `-serial unix:PATH,server=on,wait=on` with the scripted device."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    srv.settimeout(20)
    conn, _ = srv.accept()
    srv.close()
    conn.settimeout(0.2)
    dev_rx = []
    dev = ppp_fake_device.FakeDevice(write=conn.sendall, on_ipv4=dev_rx.append)

    def pump(until, seconds, what):
        end = time.monotonic() + seconds
        while not until():
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}")
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise AssertionError("the harness closed the serial line")
            dev.feed(data)

    try:
        device_checks(dev, dev_rx, pump, f"the harness on {os.environ.get('PPP_UART', '?')}")
    finally:
        conn.close()
        os.unlink(path)
    print("FAKE-QEMU OK", flush=True)
    return 0


def quiet_signals():
    """During cleanup: no second signal may cut it short (SIGKILL still can)."""
    signal.alarm(0)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


# ---------------------------------------------------------------------------
# self-test (outside: runs the inside part and checks the cleanup)


def processes_in(ns):
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/net") == ns:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def run_child(argv, timeout, tmpdir=None):
    env = dict(os.environ, TMPDIR=tmpdir) if tmpdir else None
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve())] + argv,
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
                            preexec_fn=_child_setup, text=True), time.monotonic() + timeout


def read_line(proc, prefix, deadline):
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        while time.monotonic() < deadline:
            if sel.select(0.2):
                line = proc.stdout.readline()
                if not line:
                    return None
                if line.startswith(prefix):
                    return line[len(prefix):].strip()
        return None
    finally:
        sel.close()


def self_test(args):
    if os.geteuid() != 0:
        print("netns-harness: SKIPPED self-test: not root (a network namespace and a TUN device need it)")
        return 0
    if not os.path.exists("/dev/net/tun"):
        print("netns-harness: SKIPPED self-test: /dev/net/tun missing")
        return 0
    t0 = time.monotonic()
    extra = ["--verbose"] if args.verbose else []
    # 1. PPP <-> TUN <-> the namespace's servers.
    proc, deadline = run_child(["--self-test-inside", "--tun", args.tun] + extra, 60)
    ns = read_line(proc, "NETNS ", deadline)
    try:
        status = proc.wait(max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("the self-test timed out")
    rest = proc.stdout.read()
    proc.stdout.close()
    check(status == 0 and "SELF-TEST-INSIDE OK" in rest, f"the self-test failed (status {status})")
    check(ns is not None and ns != netns_id(), f"the self-test ran in namespace {ns}")
    check(not processes_in(ns), f"processes left in {ns}: {processes_in(ns)}")
    log(f"end to end over PPP: OK; namespace {ns} gone")

    # 1b. The harness proper, as the firmware will use it: QEMU (here the
    # scripted device behind a unix socket server) is its foreground command.
    with tempfile.TemporaryDirectory(prefix="netns-harness-") as d:
        sock = os.path.join(d, "uart.sock")
        proc, deadline = run_child(["--uart", f"unix:{sock}", "--timeout", "60"] + extra
                                   + ["--", sys.executable, str(Path(__file__).resolve()),
                                      "--fake-qemu", sock], 60)
        ns = read_line(proc, "HARNESS ", deadline)
        try:
            status = proc.wait(max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("the harness with the scripted device timed out")
        rest = proc.stdout.read()
        proc.stdout.close()
        check(status == 0 and "FAKE-QEMU OK" in rest, f"harness + scripted device: status {status}")
        ns = json.loads(ns)["netns"]
        check(not processes_in(ns), f"processes left in {ns}")
    log("the harness with a device on a unix socket (as QEMU's server=on,wait=on): OK")

    # 2. Interrupted harnesses leave nothing behind.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        with tempfile.TemporaryDirectory(prefix="netns-harness-") as d:
            sock = os.path.join(d, "uart.sock")
            proc, deadline = run_child(
                ["--uart", f"unix:{sock}", "--listen", "--timeout", "60",
                 "--serve", "sleep 300", "--", "sleep", "300"], 30, tmpdir=d)
            info = read_line(proc, "HARNESS ", deadline)
            check(info is not None, "the harness did not come up")
            info = json.loads(info)
            ns = info["netns"]
            end = time.monotonic() + 5
            while len(processes_in(ns)) < 3 and time.monotonic() < end:
                time.sleep(0.05)
            inside = processes_in(ns)
            check(len(inside) >= 3, f"expected the harness and two sleeps in {ns}: {inside}")
            os.kill(proc.pid, sig)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError(f"the harness ignored {sig.name}")
            proc.stdout.close()
            end = time.monotonic() + 5
            while processes_in(ns) and time.monotonic() < end:
                time.sleep(0.05)
            check(not processes_in(ns), f"after {sig.name}: processes left in {ns}: "
                                        f"{processes_in(ns)}")
            if sig != signal.SIGKILL:
                # (A SIGKILLed harness cannot remove its socket and temporary
                # directory; everything else dies with it.)
                check(not os.path.exists(sock), "serial socket left behind")
                check(os.listdir(d) == [], f"files left behind: {os.listdir(d)}")
            log(f"{sig.name} to the harness: children and namespace {ns} gone")
    log(f"self-test passed in {time.monotonic() - t0:.1f} s")
    return 0


# ---------------------------------------------------------------------------
# the harness proper


def harness(args):
    if os.geteuid() != 0:
        log("must run as root (network namespace, TUN device)")
        return 1
    if not os.path.exists("/dev/net/tun"):
        log("/dev/net/tun missing")
        return 1
    uart = UartEndpoint(args.uart, args.listen)  # in the machine's namespace
    unshare_net()
    children = Children()
    workdir = Path(tempfile.mkdtemp(prefix="netns-harness-"))
    tun_fd = dns = bridge = None
    try:
        tun_fd, tun_name = setup_network(args.tun)
        dns = dns_responder.DnsResponder(NAMES, DNS_ADDRESS, 53).start()
        env = {"PPP_PEER_ADDRESS": PEER_ADDRESS, "PPP_DEVICE_ADDRESS": DEVICE_ADDRESS,
               "PPP_DNS": DNS_ADDRESS, "PPP_UART": uart.where}
        if args.authz_server:
            env.update(start_authz_server(children, workdir, args.timeout))
        child_env = dict(os.environ, **env)
        for cmd in args.serve:
            children.spawn(shlex.split(cmd), env=child_env)
        bridge = Bridge(lambda stop: uart.open(stop, args.timeout), tun_fd, args.verbose,
                        dict(require_pap=args.require_pap))
        bridge.start()
        print("HARNESS " + json.dumps(dict(env, netns=netns_id(), tun=tun_name,
                                           names=NAMES)), flush=True)
        fg = children.spawn(args.command, env=child_env, stdin=None) if args.command else None
        while True:
            if fg is not None:
                try:
                    return fg.wait(0.2)
                except subprocess.TimeoutExpired:
                    pass
            else:
                bridge.join(0.2)
                if not bridge.is_alive():
                    break
            if bridge.error:
                raise bridge.error
        if bridge.error:
            raise bridge.error
        return 0
    finally:
        quiet_signals()
        if bridge is not None:
            bridge.stop.set()
            bridge.join(2)
            if bridge.peer is not None and args.verbose:
                log(f"ppp stats {bridge.peer.stats}")
        children.stop_all()
        if dns is not None:
            dns.close()
        if tun_fd is not None:
            os.close(tun_fd)
        uart.close()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--self-test-inside", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--fake-qemu", metavar="PATH", help=argparse.SUPPRESS)
    ap.add_argument("--uart", help="unix:PATH | tcp:HOST:PORT (QEMU's serial chardev)")
    ap.add_argument("--listen", action="store_true", help="listen on --uart, QEMU connects")
    ap.add_argument("--tun", default="ppp0")
    ap.add_argument("--authz-server", action="store_true")
    ap.add_argument("--require-pap", action="store_true")
    ap.add_argument("--serve", action="append", default=[], metavar="CMD")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("command", nargs="*")
    args = ap.parse_args(argv)

    def on_signal(signum, _frame):
        raise Stop(signal.Signals(signum).name)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(s, on_signal)
    signal.alarm(max(1, int(args.timeout)))  # the watchdog
    try:
        if args.self_test:
            return self_test(args)
        if args.fake_qemu:
            return fake_qemu(args.fake_qemu)
        if args.self_test_inside:
            if os.geteuid() != 0:
                return 1
            unshare_net()
            return self_test_inside(args)
        if not args.uart:
            ap.error("--uart is required (or --self-test)")
        return harness(args)
    except Stop as stop:
        log(f"stopped ({stop})")
        return 130 if str(stop) == "SIGINT" else 1
    except AssertionError as exc:
        log(f"FAILED: {exc}")
        return 1
    finally:
        signal.alarm(0)


if __name__ == "__main__":
    sys.exit(main())
