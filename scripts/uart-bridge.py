#!/usr/bin/env python3
"""Host side of the UART bridge: TCP connections for the QEMU firmware.

QEMU connects UART0 of the emulated board to this bridge
(`-serial tcp:127.0.0.1:PORT`); the firmware (examples/qemu-device) asks it
to open TCP connections to loopback servers and exchanges their bytes in
frames. Every frame is `[type: u8][len: u16 big-endian][payload]`:

    firmware -> bridge   O  open, payload "host:port" (IPv6 host in brackets)
                         D  data for the server (1..65535 bytes)
                         C  close (empty); no reply
    bridge -> firmware   K  opened (empty)
                         E  open failed, payload = UTF-8 reason
                         D  data from the server (1..1024 bytes)
                         C  the server closed: empty = clean end of stream,
                            else UTF-8 error text

One connection at a time. An `O` while a connection is open closes the old
one first. Only loopback addresses are allowed: a host is refused (`E`)
unless every address it resolves to is in 127.0.0.0/8 or is ::1.

The bridge listens on 127.0.0.1 on a port the OS chooses, accepts ONE
connection (QEMU), serves it with a single-threaded `selectors` loop and
exits when QEMU disconnects, printing

    bridge: connections=N bytes_to_server=X bytes_from_server=Y

on stderr. Python 3 standard library only.

    scripts/uart-bridge.py [--port-file F] [--stats-file F] [--verbose]

As a module: `Bridge()` binds at once (`.port`), `.serve()` runs the loop;
`start_in_thread()` does both and returns the bridge and its thread.
"""

import argparse
import errno
import ipaddress
import json
import os
import selectors
import socket
import sys
import threading
import time

OPEN, DATA, CLOSE, OPENED, OPEN_FAILED = b"O", b"D", b"C", b"K", b"E"
# Largest D frame sent to the firmware (what it reads per frame).
MAX_DATA_TO_FIRMWARE = 1024
# Stop reading from one side while this much is queued for the other.
HIGH_WATER = 64 * 1024
CONNECT_TIMEOUT = 10.0


def frame(kind, payload=b""):
    return kind + len(payload).to_bytes(2, "big") + payload


def reason_text(exc):
    """Short text for an OSError, e.g. 'Connection refused (os error 111)'."""
    if isinstance(exc, socket.timeout):
        return "connection timed out"
    if isinstance(exc, socket.gaierror):
        return f"failed to lookup address information: {exc.strerror or exc}"
    if exc.errno is not None and exc.strerror:
        return f"{exc.strerror} (os error {exc.errno})"
    return str(exc) or type(exc).__name__


def parse_target(payload):
    """'host:port' or '[v6]:port' -> (host, port); ValueError if malformed."""
    text = payload.decode("ascii")
    if text.startswith("["):
        end = text.index("]")
        host, rest = text[1:end], text[end + 1:]
        if not rest.startswith(":"):
            raise ValueError("missing port")
        port = rest[1:]
    else:
        host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected host:port")
    return host, int(port)


def loopback_addresses(host, port):
    """Resolved addresses of host, or raise OSError; refuses non-loopback."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not infos:
        raise OSError(errno.EHOSTUNREACH, "no address found")
    for info in infos:
        addr = ipaddress.ip_address(info[4][0].split("%")[0])
        ok = (addr.version == 4 and addr in ipaddress.ip_network("127.0.0.0/8")) or (
            addr.version == 6 and addr == ipaddress.IPv6Address("::1")
        )
        if not ok:
            raise PermissionError(f"refused: {host} resolves to {addr}, not a loopback address")
    return infos


class Stats:
    def __init__(self):
        self.connections = 0
        self.bytes_to_server = 0
        self.bytes_from_server = 0
        self.open_failures = 0

    def as_dict(self):
        return {
            "connections": self.connections,
            "bytes_to_server": self.bytes_to_server,
            "bytes_from_server": self.bytes_from_server,
            "open_failures": self.open_failures,
        }

    def line(self):
        return (
            f"bridge: connections={self.connections} "
            f"bytes_to_server={self.bytes_to_server} "
            f"bytes_from_server={self.bytes_from_server}"
        )


class Bridge:
    """Listens at construction (port 0 unless given); `serve()` runs it."""

    def __init__(self, port=0, connect_timeout=CONNECT_TIMEOUT, log=None, delay=0.0):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.connect_timeout = connect_timeout
        self.log = log  # callable(str) or None
        # Seconds to hold the first data of each connection (measurements:
        # more waiting, the same work).
        self.delay = delay
        self.delayed = False
        self.stats = Stats()
        self.error = None
        # Per-run state.
        self.qemu = None
        self.server = None
        self.rx = bytearray()  # from QEMU, not yet parsed
        self.to_qemu = bytearray()
        self.to_server = bytearray()
        self.sel = None

    def _log(self, text):
        if self.log:
            self.log(f"bridge: {text}")

    # ---- the loop ---------------------------------------------------------

    def serve(self, accept_timeout=None):
        """Accepts one connection and serves it until it closes."""
        try:
            self.listener.settimeout(accept_timeout)
            try:
                self.qemu, _ = self.listener.accept()
            finally:
                self.listener.close()
            self.qemu.setblocking(False)
            self.qemu.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sel = selectors.DefaultSelector()
            self.sel.register(self.qemu, selectors.EVENT_READ, "qemu")
            self._loop()
        except Exception as e:  # reported by the caller
            self.error = e
            self._log(f"stopped: {e!r}")
        finally:
            self._close_server()
            if self.qemu is not None:
                self.qemu.close()
            if self.sel is not None:
                self.sel.close()
        return self.stats

    def _loop(self):
        while True:
            self._update_interest()
            for key, events in self.sel.select(timeout=1.0):
                if key.data == "qemu":
                    if events & selectors.EVENT_WRITE:
                        self._flush(self.qemu, self.to_qemu)
                    if events & selectors.EVENT_READ:
                        try:
                            data = self.qemu.recv(65536)
                        except (BlockingIOError, InterruptedError):
                            continue
                        except OSError:
                            data = b""
                        if not data:
                            self._log("QEMU disconnected")
                            return
                        self.rx += data
                        self._parse()
                elif key.data == "server" and self.server is key.fileobj:
                    if events & selectors.EVENT_WRITE:
                        try:
                            self._flush(self.server, self.to_server)
                        except OSError as e:
                            self._server_failed(reason_text(e))
                            continue
                    if events & selectors.EVENT_READ and self.server is not None:
                        self._read_server()

    def _update_interest(self):
        want = selectors.EVENT_READ if len(self.to_server) < HIGH_WATER else 0
        if self.to_qemu:
            want |= selectors.EVENT_WRITE
        self._modify(self.qemu, want, "qemu")
        if self.server is not None:
            want = selectors.EVENT_READ if len(self.to_qemu) < HIGH_WATER else 0
            if self.to_server:
                want |= selectors.EVENT_WRITE
            self._modify(self.server, want, "server")

    def _modify(self, sock, events, tag):
        try:
            key = self.sel.get_key(sock)
        except KeyError:
            key = None
        if events == 0:
            if key is not None:
                self.sel.unregister(sock)
        elif key is None:
            self.sel.register(sock, events, tag)
        elif key.events != events:
            self.sel.modify(sock, events, tag)

    @staticmethod
    def _flush(sock, buf):
        try:
            n = sock.send(buf)
        except (BlockingIOError, InterruptedError):
            return
        del buf[:n]

    # ---- frames from the firmware -----------------------------------------

    def _parse(self):
        while len(self.rx) >= 3:
            kind = bytes(self.rx[:1])
            length = int.from_bytes(self.rx[1:3], "big")
            if len(self.rx) < 3 + length:
                return
            payload = bytes(self.rx[3:3 + length])
            del self.rx[:3 + length]
            if kind == OPEN:
                self._open(payload)
            elif kind == DATA:
                if self.server is not None and payload:
                    self.to_server += payload
                    self.stats.bytes_to_server += len(payload)
                # else: data for a connection that is gone; dropped
            elif kind == CLOSE:
                if self.server is not None:
                    self._log("closed by the firmware")
                self._close_server(flush=True)
            else:
                self._log(f"unknown frame type {kind!r} ({length} bytes) ignored")

    def _send(self, kind, payload=b""):
        self.to_qemu += frame(kind, payload)

    def _open(self, payload):
        self._close_server(flush=True)
        try:
            host, port = parse_target(payload)
        except (ValueError, UnicodeDecodeError):
            self.stats.open_failures += 1
            self._send(OPEN_FAILED, b"malformed open request (expected host:port)")
            return
        try:
            infos = loopback_addresses(host, port)
        except PermissionError as e:
            self.stats.open_failures += 1
            self._log(str(e))
            self._send(OPEN_FAILED, str(e).encode())
            return
        except OSError as e:
            self.stats.open_failures += 1
            self._send(OPEN_FAILED, reason_text(e).encode())
            return
        last = None
        # One connection at a time: connecting blocks the loop (at most
        # connect_timeout per address); the firmware waits for the answer.
        for family, socktype, proto, _, addr in infos:
            sock = socket.socket(family, socktype, proto)
            sock.settimeout(self.connect_timeout)
            try:
                sock.connect(addr)
            except OSError as e:
                sock.close()
                last = e
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.server = sock
            self.delayed = False
            self.to_server.clear()
            self.stats.connections += 1
            self._log(f"connected to {host}:{port}")
            self._send(OPENED)
            return
        self.stats.open_failures += 1
        text = reason_text(last) if last else "no address found"
        self._log(f"connecting to {host}:{port} failed: {text}")
        self._send(OPEN_FAILED, text.encode())

    # ---- the server side -------------------------------------------------------

    def _read_server(self):
        try:
            data = self.server.recv(MAX_DATA_TO_FIRMWARE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._server_failed(reason_text(e))
            return
        if not data:
            self._log("closed by the server")
            self._close_server()
            self._send(CLOSE)
            return
        if self.delay and not self.delayed:
            self.delayed = True
            time.sleep(self.delay)
        self.stats.bytes_from_server += len(data)
        self._send(DATA, data)

    def _server_failed(self, text):
        self._log(f"connection failed: {text}")
        self._close_server()
        self._send(CLOSE, text.encode()[:512])

    def _close_server(self, flush=False):
        """Closes the server connection; with flush, first sends what the
        firmware wrote before its `C` (or before a new `O`)."""
        if self.server is None:
            return
        try:
            self.sel.unregister(self.server)
        except (KeyError, ValueError, AttributeError):
            pass
        if flush and self.to_server:
            try:
                self.server.settimeout(self.connect_timeout)
                self.server.sendall(self.to_server)
            except OSError:
                pass
        self.server.close()
        self.server = None
        self.to_server.clear()


def start_in_thread(log=None, connect_timeout=CONNECT_TIMEOUT, accept_timeout=None, delay=0.0):
    """Starts a bridge on an OS-chosen port in a daemon thread.

    Returns (bridge, thread): connect QEMU to bridge.port; after QEMU has
    exited, join the thread and read bridge.stats (and bridge.error).
    With accept_timeout (seconds) the thread gives up when nothing connects.
    """
    bridge = Bridge(connect_timeout=connect_timeout, log=log, delay=delay)
    thread = threading.Thread(
        target=bridge.serve, args=(accept_timeout,), name="uart-bridge", daemon=True
    )
    thread.start()
    return bridge, thread


def main(argv=None):
    ap = argparse.ArgumentParser(description="UART bridge for the QEMU firmware (one QEMU connection).")
    ap.add_argument("--port", type=int, default=0, help="port to listen on (default: chosen by the OS)")
    ap.add_argument("--port-file", help="write the listening port to this file")
    ap.add_argument("--stats-file", help="write the statistics as JSON to this file on exit")
    ap.add_argument("--verbose", action="store_true", help="log connections on stderr")
    args = ap.parse_args(argv)

    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.verbose else None
    bridge = Bridge(port=args.port, log=log)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{bridge.port}\n")
        os.replace(tmp, args.port_file)
    print(bridge.port, flush=True)
    try:
        stats = bridge.serve()
    except KeyboardInterrupt:
        stats = bridge.stats
    print(stats.line(), file=sys.stderr, flush=True)
    if args.stats_file:
        with open(args.stats_file, "w") as f:
            json.dump(stats.as_dict(), f)
            f.write("\n")
    if bridge.error is not None:
        print(f"bridge: error: {bridge.error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
