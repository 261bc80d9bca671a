#!/usr/bin/env python3
"""Unit tests of scripts/dns_responder.py (no root: a socket on 127.0.0.1, port 0).

    python3 scripts/test_dns_responder.py [-v]
"""

import os
import random
import socket
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns_responder as dns  # noqa: E402

RECORDS = {"auth.test": "10.77.0.1", "receipts.test": "10.77.0.1", "other.test.": "10.77.0.9"}


class Table(unittest.TestCase):
    def setUp(self):
        self.table = dns.Table(RECORDS)

    def test_a_record(self):
        q = dns.build_query("auth.test", ident=0xBEEF)
        r = self.table.answer(q)
        self.assertEqual(dns.parse_response(r), (0xBEEF, dns.RCODE_NOERROR, ["10.77.0.1"]))
        flags = struct.unpack("!H", r[2:4])[0]
        self.assertTrue(flags & 0x8000)  # QR
        self.assertTrue(flags & 0x0400)  # AA
        self.assertTrue(flags & 0x0100)  # RD copied
        # The question is echoed, the answer points back at it.
        self.assertEqual(r[12:len(q)], q[12:])
        self.assertEqual(r[len(q):len(q) + 2], b"\xc0\x0c")
        # TTL 60, RDLENGTH 4.
        self.assertEqual(struct.unpack("!IH", r[len(q) + 6:len(q) + 12]), (60, 4))

    def test_case_and_trailing_dot(self):
        self.assertEqual(dns.parse_response(self.table.answer(dns.build_query("AUTH.Test")))[2],
                         ["10.77.0.1"])
        self.assertEqual(dns.parse_response(self.table.answer(dns.build_query("other.test")))[2],
                         ["10.77.0.9"])
        r = self.table.answer(dns.build_query("ReCeIpTs.TeSt"))
        self.assertIn(b"ReCeIpTs", r)  # original case echoed

    def test_nxdomain(self):
        self.assertEqual(dns.parse_response(self.table.answer(dns.build_query("example.com"))),
                         (0x1234, dns.RCODE_NXDOMAIN, []))

    def test_nodata_for_other_types(self):
        self.assertEqual(dns.parse_response(self.table.answer(dns.build_query("auth.test", qtype=28))),
                         (0x1234, dns.RCODE_NOERROR, []))

    def test_other_opcode_notimp(self):
        q = bytearray(dns.build_query("auth.test"))
        q[2] |= 2 << 3  # opcode STATUS
        self.assertEqual(dns.parse_response(self.table.answer(bytes(q)))[1], dns.RCODE_NOTIMP)

    def test_malformed_ignored(self):
        q = dns.build_query("auth.test")
        self.assertIsNone(self.table.answer(b""))
        self.assertIsNone(self.table.answer(q[:11]))
        for n in range(12, len(q)):
            self.assertIsNone(self.table.answer(q[:n]), n)  # every truncation
        resp = bytearray(q)
        resp[2] |= 0x80
        self.assertIsNone(self.table.answer(bytes(resp)))  # a response
        two = bytearray(q)
        two[5] = 2
        self.assertIsNone(self.table.answer(bytes(two)))  # two questions
        ptr = q[:12] + b"\xc0\x0c" + q[-4:]
        self.assertIsNone(self.table.answer(ptr))  # compression in a question
        label_overrun = q[:12] + b"\x3f" + b"a" * 10
        self.assertIsNone(self.table.answer(label_overrun))

    def test_garbage_never_raises(self):
        rng = random.Random(1)
        q = dns.build_query("receipts.test")
        for _ in range(3000):
            kind = rng.randrange(3)
            if kind == 0:
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 60)))
            elif kind == 1:
                data = bytearray(q)
                for _ in range(rng.randrange(1, 4)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
                data = bytes(data)
            else:
                data = q[:rng.randrange(len(q))] + bytes(rng.randrange(256) for _ in range(3))
            r = self.table.answer(data)
            if r is not None:
                dns.parse_response(r)  # whatever it answers is well-formed


class Server(unittest.TestCase):
    def test_udp_round_trip_and_silence(self):
        srv = dns.DnsResponder(RECORDS, "127.0.0.1", 0).start()
        try:
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            c.settimeout(2)
            c.sendto(b"\x00garbage", srv.address)
            c.sendto(dns.build_query("receipts.test", ident=7), srv.address)
            data, _ = c.recvfrom(512)  # the garbage got no reply: the first is ours
            self.assertEqual(dns.parse_response(data), (7, 0, ["10.77.0.1"]))
            c.sendto(dns.build_query("nope.test", ident=8), srv.address)
            self.assertEqual(dns.parse_response(c.recvfrom(512)[0]), (8, 3, []))
            c.close()
            self.assertEqual(srv.answered, 2)
            self.assertEqual(srv.ignored, 1)
        finally:
            srv.close()
        self.assertFalse(srv.thread.is_alive())


if __name__ == "__main__":
    unittest.main()
