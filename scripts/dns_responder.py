#!/usr/bin/env python3
"""A tiny authoritative DNS responder for a fixed table of A records.

Used inside the network namespace of scripts/netns-harness.py: the emulated
device gets this server's address over IPCP (RFC 1877 primary DNS) and
resolves `auth.test`, `receipts.test`, ... to the host's end of the PPP
link. It answers

* A queries (class IN) for a name in the table: one A record, TTL 60;
* any other type for a name in the table: NOERROR with no answer (NODATA);
* a name not in the table: NXDOMAIN;
* opcodes other than QUERY: NOTIMP;

and ignores (no reply) anything that is not a well-formed single-question
query: responses, truncated or garbage datagrams, compression pointers in
the question. Names compare case-insensitively; the question is echoed with
its original case (RFC 4343).

    scripts/dns_responder.py [--bind 10.77.0.1] [--port 53] [--name auth.test=10.77.0.1]...

Python 3 standard library only.
"""

import argparse
import ipaddress
import socket
import struct
import sys
import threading

TYPE_A = 1
CLASS_IN = 1
RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_NOTIMP = 0, 3, 4
TTL = 60


def parse_query(data):
    """(id, flags, qname, qtype, qclass, question_bytes) or None if not a usable query."""
    if len(data) < 12:
        return None
    ident, flags, qd, an, ns, _ar = struct.unpack("!HHHHHH", data[:12])
    if flags & 0x8000 or qd != 1 or an or ns:
        return None  # a response, or not exactly one question
    labels = []
    i = 12
    while True:
        if i >= len(data):
            return None
        ln = data[i]
        if ln == 0:
            i += 1
            break
        if ln & 0xC0:
            return None  # no compression in a question
        if i + 1 + ln > len(data):
            return None
        labels.append(data[i + 1:i + 1 + ln])
        i += 1 + ln
        if i - 12 > 255:
            return None
    if i + 4 > len(data):
        return None
    qtype, qclass = struct.unpack("!HH", data[i:i + 4])
    try:
        qname = b".".join(labels).decode("ascii")
    except UnicodeDecodeError:
        return None
    return ident, flags, qname, qtype, qclass, data[12:i + 4]


def build_query(name, ident=0x1234, qtype=TYPE_A):
    """A recursion-desired query for `name` (for tests and the self-test)."""
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split(".") if p)
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + q + b"\0" + struct.pack(
        "!HH", qtype, CLASS_IN)


def parse_response(data):
    """(id, rcode, [A addresses as strings]) of a response; ValueError if malformed."""
    if len(data) < 12:
        raise ValueError("short response")
    ident, flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", data[:12])
    if not flags & 0x8000:
        raise ValueError("not a response")
    i = 12
    for _ in range(qd):
        i = _skip_name(data, i) + 4
    addrs = []
    for _ in range(an):
        i = _skip_name(data, i)
        rtype, _rclass, _ttl, rdlen = struct.unpack("!HHIH", data[i:i + 10])
        i += 10
        if rtype == TYPE_A and rdlen == 4:
            addrs.append(str(ipaddress.IPv4Address(data[i:i + 4])))
        i += rdlen
    if i > len(data):
        raise ValueError("truncated response")
    return ident, flags & 0x000F, addrs


def _skip_name(data, i):
    while True:
        if i >= len(data):
            raise ValueError("truncated name")
        ln = data[i]
        if ln & 0xC0 == 0xC0:
            return i + 2
        if ln == 0:
            return i + 1
        i += 1 + ln


class Table:
    def __init__(self, records):
        """records: {name: IPv4 address string}."""
        self.records = {n.lower().rstrip("."): ipaddress.IPv4Address(a).packed
                        for n, a in records.items()}

    def answer(self, data):
        """The response datagram for `data`, or None to stay silent."""
        q = parse_query(data)
        if q is None:
            return None
        ident, flags, qname, qtype, qclass, question = q
        opcode = (flags >> 11) & 0xF
        rd = flags & 0x0100
        resp_flags = 0x8000 | 0x0400 | rd | (opcode << 11)  # QR, AA, RD copied
        answers = b""
        if opcode != 0:
            rcode = RCODE_NOTIMP
        else:
            addr = self.records.get(qname.lower().rstrip("."))
            if addr is None:
                rcode = RCODE_NXDOMAIN
            else:
                rcode = RCODE_NOERROR
                if qtype == TYPE_A and qclass == CLASS_IN:
                    # Name: a pointer to the question's name at offset 12.
                    answers = struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL, 4) + addr
        header = struct.pack("!HHHHHH", ident, resp_flags | rcode, 1,
                             1 if answers else 0, 0, 0)
        return header + question + answers


class DnsResponder:
    """Serves a Table on a UDP socket in a daemon thread until close()."""

    def __init__(self, records, bind="127.0.0.1", port=0, log=None):
        self.table = Table(records)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((bind, port))
        self.address = self.sock.getsockname()
        self.log = log
        self.answered = 0
        self.ignored = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="dns", daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                break
            try:
                reply = self.table.answer(data)
            except Exception as exc:  # never let one datagram stop the server
                reply = None
                if self.log:
                    self.log(f"dns: error on a query: {exc!r}")
            if reply is None:
                self.ignored += 1
                continue
            self.answered += 1
            try:
                self.sock.sendto(reply, addr)
            except OSError:
                pass

    def close(self):
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(2)
        self.sock.close()


def parse_records(items):
    records = {}
    for item in items:
        name, _, addr = item.partition("=")
        records[name] = addr
    return records


def main(argv=None):
    ap = argparse.ArgumentParser(description="fixed-table DNS responder (A records)")
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--name", action="append", default=[], metavar="NAME=ADDRESS")
    args = ap.parse_args(argv)
    srv = DnsResponder(parse_records(args.name), args.bind, args.port)
    print(f"DNS {srv.address[0]}:{srv.address[1]}", flush=True)
    srv.start()
    try:
        srv.thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        srv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
