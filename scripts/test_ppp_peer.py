#!/usr/bin/env python3
"""Unit tests of scripts/ppp_peer.py (no root, no QEMU, no network).

    python3 scripts/test_ppp_peer.py [-v]

The device side is scripts/ppp_fake_device.py (a model of ppproto 0.2.1,
the firmware's PPP engine) or raw packets written here.
"""

import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ppp_fake_device as fd  # noqa: E402
import ppp_peer as pp  # noqa: E402


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


class Link:
    """A peer and a device wired back to back through in-memory queues."""

    def __init__(self, chunk=None, device_kwargs=None, **peer_kwargs):
        self.to_device, self.to_peer = [], []
        self.clock = Clock()
        self.ipv4_at_peer = []
        self.events = []
        self.logs = []
        self.peer = pp.PppPeer(
            write=self.to_device.append, on_ipv4=self.ipv4_at_peer.append,
            clock=self.clock, log=self.logs.append,
            on_up=lambda: self.events.append("up"), on_down=lambda: self.events.append("down"),
            on_finished=lambda: self.events.append("finished"), **peer_kwargs)
        self.device = fd.FakeDevice(write=self.to_peer.append, **(device_kwargs or {}))
        self.chunk = chunk

    def _deliver(self, data, target):
        if self.chunk:
            for i in range(0, len(data), self.chunk):
                target.feed(data[i:i + self.chunk])
        else:
            target.feed(data)

    def run(self, limit=200):
        n = 0
        while self.to_device or self.to_peer:
            n += 1
            if n > limit:
                raise AssertionError("the link never went quiet")
            if self.to_peer:
                self._deliver(self.to_peer.pop(0), self.peer)
            if self.to_device:
                self._deliver(self.to_device.pop(0), self.device)
        return n

    def up(self):
        self.device.open()
        self.run()
        return self


def frames(chunks):
    """Decodes everything in `chunks` (a list of written byte strings)."""
    dec = pp.FrameDecoder()
    out = []
    for c in chunks:
        out += dec.feed(c)
    return out


def control(protocol, code, ident, data=b""):
    return pp.encode_frame(protocol, pp.control_packet(code, ident, data))


def crc16_ppproto(seed, data):
    """ppproto's own FCS routine (pppos/crc.rs), an independent formulation."""
    for b in data:
        e = (seed ^ b) & 0xFF
        f = (e ^ (e << 4)) & 0xFF
        seed = (seed >> 8) ^ (f << 8) ^ (f << 3) ^ (f >> 4)
        seed &= 0xFFFF
    return seed


def crc16_bitwise(data):
    """CRC-16/X-25 bit by bit (RFC 1662 §C.2's polynomial x^16+x^12+x^5+1, reflected)."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


class Framing(unittest.TestCase):
    def test_fcs_check_value(self):
        # CRC-16/X-25 (the FCS-16 of RFC 1662) of "123456789" is 0x906E.
        self.assertEqual(pp.fcs16(b"123456789") ^ 0xFFFF, 0x906E)
        self.assertEqual(crc16_bitwise(b"123456789"), 0x906E)

    def test_fcs_good_residue(self):
        # RFC 1662 §C.2: over data plus its (complemented, LSB first) FCS
        # the FCS is the constant 0xF0B8.
        rng = random.Random(1)
        for n in (0, 1, 2, 5, 100, 1500):
            data = bytes(rng.randrange(256) for _ in range(n))
            fcs = pp.fcs16(data) ^ 0xFFFF
            self.assertEqual(pp.fcs16(data + fcs.to_bytes(2, "little")), pp.FCS_GOOD)
            self.assertEqual(fcs, crc16_bitwise(data))

    def test_fcs_matches_ppproto(self):
        rng = random.Random(2)
        for _ in range(50):
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80)))
            self.assertEqual(pp.fcs16(data), crc16_ppproto(0xFFFF, data))
        # ppproto checks the frame after the address byte from seed 0x00FF
        # (the FCS state after 0xFF) and expects 0xF0B8.
        frame = pp.encode_frame(pp.PROTO_LCP, b"\x01\x01\x00\x04")
        body = bytes(self._unescape(frame[1:-1]))
        self.assertEqual(body[0], 0xFF)
        self.assertEqual(crc16_ppproto(0x00FF, body[1:]), 0xF0B8)

    @staticmethod
    def _unescape(data):
        out, esc = bytearray(), False
        for b in data:
            if b == pp.ESC:
                esc = True
            else:
                out.append(b ^ 0x20 if esc else b)
                esc = False
        return out

    def test_known_frame(self):
        # LCP Configure-Request id 1, ACCM 0: the bytes written out by hand.
        info = bytes.fromhex("01010008") + bytes.fromhex("0206") + bytes(4)
        body = bytes.fromhex("ff03c021") + info
        fcs = crc16_bitwise(body)
        expected = bytearray(b"\x7e")
        for b in body + fcs.to_bytes(2, "little"):
            expected += bytes([0x7D, b ^ 0x20]) if b < 0x20 or b in (0x7D, 0x7E) else bytes([b])
        expected += b"\x7e"
        self.assertEqual(pp.encode_frame(pp.PROTO_LCP, info), bytes(expected))
        self.assertTrue(bytes(expected).startswith(b"\x7e\xff\x7d\x23\xc0\x21\x7d\x21\x7d\x21"))

    def test_escaping_and_accm(self):
        data = bytes(range(0x20)) + b"\x7d\x7e\x7f\xff"
        all_esc = pp.escape(data)
        self.assertNotIn(b"\x7e", all_esc)
        self.assertFalse(any(b < 0x20 for b in all_esc))
        none = pp.escape(data, 0)
        self.assertEqual(none, bytes(range(0x20)) + b"\x7d\x5d\x7d\x5e\x7f\xff")
        only_xon_xoff = pp.escape(b"\x11\x13\x01", (1 << 0x11) | (1 << 0x13))
        self.assertEqual(only_xon_xoff, b"\x7d\x31\x7d\x33\x01")

    def test_round_trip_chunked(self):
        rng = random.Random(3)
        for accm in (pp.ALL_ESCAPED, 0, 0x000A0000):
            for acfc, pfc in ((False, False), (True, False), (False, True), (True, True)):
                sent = []
                stream = b""
                for _ in range(20):
                    info = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
                    proto = rng.choice([pp.PROTO_IPV4, pp.PROTO_LCP, pp.PROTO_IPCP, 0x0057])
                    sent.append((proto, info))
                    stream += pp.encode_frame(proto, info, accm, acfc, pfc)
                dec = pp.FrameDecoder()
                got = []
                i = 0
                while i < len(stream):
                    n = rng.randrange(1, 40)
                    got += dec.feed(stream[i:i + n])
                    i += n
                self.assertEqual(got, sent)
                self.assertEqual(dec.errors, 0)

    def test_shared_flags_and_idle_flags(self):
        a = pp.encode_frame(pp.PROTO_IPV4, b"one")
        b = pp.encode_frame(pp.PROTO_IPV4, b"two")
        stream = b"\x7e\x7e\x7e" + a[:-1] + b + b"\x7e\x7e"
        self.assertEqual(pp.FrameDecoder().feed(stream),
                         [(pp.PROTO_IPV4, b"one"), (pp.PROTO_IPV4, b"two")])

    def test_bad_fcs_abort_and_truncation_are_dropped(self):
        good = pp.encode_frame(pp.PROTO_IPV4, b"payload")
        bad = bytearray(good)
        bad[5] ^= 0x01
        aborted = good[:-3] + b"\x7d\x7e"
        truncated = b"\x7e\xff\x03\x7e"
        dec = pp.FrameDecoder()
        out = dec.feed(bytes(bad) + aborted + truncated + good)
        self.assertEqual(out, [(pp.PROTO_IPV4, b"payload")])
        self.assertEqual(dec.errors, 3)

    def test_oversized_frame_dropped_then_recovers(self):
        dec = pp.FrameDecoder(max_frame=100)
        big = pp.encode_frame(pp.PROTO_IPV4, bytes(200), 0)
        small = pp.encode_frame(pp.PROTO_IPV4, b"ok", 0)
        self.assertEqual(dec.feed(big + small), [(pp.PROTO_IPV4, b"ok")])
        self.assertEqual(dec.errors, 1)

    def test_invalid_protocol_field_dropped(self):
        # 2-byte protocols have an even first and an odd second byte.
        body = b"\xff\x03\x00\x20xyz"
        fcs = pp.fcs16(body) ^ 0xFFFF
        frame = b"\x7e" + pp.escape(body + fcs.to_bytes(2, "little")) + b"\x7e"
        dec = pp.FrameDecoder()
        self.assertEqual(dec.feed(frame), [])
        self.assertEqual(dec.errors, 1)

    def test_garbage_never_raises(self):
        rng = random.Random(4)
        dec = pp.FrameDecoder()
        for _ in range(300):
            dec.feed(bytes(rng.choice([0x7E, 0x7D, 0xFF, 0x03, rng.randrange(256)])
                           for _ in range(rng.randrange(0, 60))))
        dec.feed(b"\x7e")
        self.assertEqual(dec.feed(pp.encode_frame(pp.PROTO_IPV4, b"x")), [(pp.PROTO_IPV4, b"x")])


class LcpNegotiation(unittest.TestCase):
    def test_silent_until_the_device_speaks(self):
        link = Link()
        self.assertEqual(link.to_device, [])
        link.clock.t += 3600
        link.peer.poll_timers()
        self.assertEqual(link.to_device, [])
        self.assertEqual(link.peer.lcp.state, pp.STOPPED)
        self.assertIsNone(link.peer.next_deadline())

    def test_ppproto_device_comes_up(self):
        link = Link().up()
        self.assertTrue(link.peer.is_up)
        self.assertTrue(link.device.is_up)
        self.assertEqual(link.device.lcp.state, fd.OPENED)
        self.assertEqual(link.device.ipcp.state, fd.OPENED)
        self.assertEqual(link.events, ["up"])
        # ppproto rejects the Magic-Number: the peer dropped it, kept ACCM.
        self.assertFalse(link.peer.lcp.send_magic)
        self.assertEqual(link.device.lcp.accm_remote, 0)
        # The device asked for ACCM 0: IPv4 frames to it leave controls raw.
        self.assertEqual(link.peer.tx_accm, 0)
        # Never ACFC/PFC towards ppproto (its reader needs FF 03, 2-byte protocols).
        self.assertEqual(link.device.decoder.compressed, 0)
        self.assertEqual(link.device.decoder.errors, 0)
        self.assertEqual(link.peer.decoder.errors, 0)
        self.assertIsNone(link.peer.next_deadline())

    def test_byte_at_a_time(self):
        link = Link(chunk=1).up()
        self.assertTrue(link.peer.is_up and link.device.is_up)

    def test_extended_client_magic_acfc_pfc(self):
        link = Link(device_kwargs={"extended": True}).up()
        self.assertTrue(link.peer.is_up and link.device.is_up)
        self.assertTrue(link.peer.lcp.send_magic)
        self.assertEqual(link.device.peer_magic, link.peer.lcp.magic)
        self.assertEqual(link.peer.lcp.peer_magic, 0x1234ABCD)
        self.assertTrue(link.peer.tx_acfc and link.peer.tx_pfc)
        before = link.device.decoder.compressed
        link.peer.send_ipv4(bytes.fromhex("4500001c") + bytes(24))
        link.run()
        self.assertEqual(link.device.decoder.compressed, before + 1)
        self.assertEqual(len(link.device.received_ipv4), 1)

    def test_compression_refused_when_disallowed(self):
        link = Link(device_kwargs={"extended": True}, allow_compression=False).up()
        self.assertTrue(link.peer.is_up and link.device.is_up)
        self.assertFalse(link.peer.tx_acfc or link.peer.tx_pfc)
        self.assertFalse(link.device.lcp.acfc or link.device.lcp.pfc)

    def _raw_peer(self, **kw):
        out = []
        peer = pp.PppPeer(write=out.append, clock=Clock(), **kw)
        return peer, out

    def _reply(self, out, protocol=pp.PROTO_LCP, code=None):
        pkts = [(pr, pp.parse_control(i)) for pr, i in frames(out) if pr == protocol]
        out.clear()
        if code is not None:
            pkts = [p for p in pkts if p[1][0] == code]
        return [p[1] for p in pkts]

    def test_nak_bad_mru_reject_unknown(self):
        peer, out = self._raw_peer()
        opts = pp.build_options([(pp.LCP_MRU, (20).to_bytes(2, "big")), (pp.LCP_ACCM, bytes(4))])
        peer.feed(control(pp.PROTO_LCP, pp.CONF_REQ, 7, opts))
        replies = self._reply(out)
        self.assertEqual(replies[0][0], pp.CONF_REQ)  # its own request first
        self.assertEqual(replies[1], (pp.CONF_NAK, 7, pp.build_options(
            [(pp.LCP_MRU, (1500).to_bytes(2, "big"))])))
        # Unknown option 99 and Auth-Protocol (we do not authenticate to the
        # device): rejected, and only those listed; the Nak-able MRU waits.
        opts = pp.build_options([(pp.LCP_MRU, (20).to_bytes(2, "big")), (99, b"zz"),
                                 (pp.LCP_AUTH, b"\xc0\x23")])
        peer.feed(control(pp.PROTO_LCP, pp.CONF_REQ, 8, opts))
        self.assertEqual(self._reply(out), [(pp.CONF_REJ, 8, pp.build_options(
            [(99, b"zz"), (pp.LCP_AUTH, b"\xc0\x23")]))])
        self.assertEqual(peer.lcp.state, pp.REQ_SENT)

    def test_magic_loopback_is_naked(self):
        peer, out = self._raw_peer()
        mine = peer.lcp.magic
        peer.feed(control(pp.PROTO_LCP, pp.CONF_REQ, 1, pp.build_options(
            [(pp.LCP_MAGIC, mine.to_bytes(4, "big"))])))
        reply = self._reply(out, code=pp.CONF_NAK)[0]
        opts = pp.parse_options(reply[2])
        self.assertEqual(opts[0][0], pp.LCP_MAGIC)
        self.assertNotEqual(opts[0][1], mine.to_bytes(4, "big"))
        self.assertNotEqual(peer.lcp.magic, mine)  # picked a new one too

    def test_ack_with_wrong_id_or_content_ignored(self):
        peer, out = self._raw_peer()
        peer.feed(control(pp.PROTO_LCP, pp.CONF_REQ, 1, pp.build_options([(pp.LCP_ACCM, bytes(4))])))
        req = self._reply(out, code=pp.CONF_REQ)[0]
        peer.feed(control(pp.PROTO_LCP, pp.CONF_ACK, (req[1] + 1) & 0xFF, req[2]))
        self.assertEqual(peer.lcp.state, pp.ACK_SENT)
        peer.feed(control(pp.PROTO_LCP, pp.CONF_ACK, req[1], b""))
        self.assertEqual(peer.lcp.state, pp.ACK_SENT)
        peer.feed(control(pp.PROTO_LCP, pp.CONF_ACK, req[1], req[2]))
        self.assertEqual(peer.lcp.state, pp.OPENED)

    def test_nak_of_our_accm_and_reject_of_magic(self):
        peer, out = self._raw_peer()
        peer.feed(control(pp.PROTO_LCP, pp.CONF_REQ, 1, b""))
        req = self._reply(out, code=pp.CONF_REQ)[0]
        peer.feed(control(pp.PROTO_LCP, pp.CONF_NAK, req[1], pp.build_options(
            [(pp.LCP_ACCM, (0x000A0000).to_bytes(4, "big"))])))
        req2 = self._reply(out, code=pp.CONF_REQ)[0]
        self.assertIn((pp.LCP_ACCM, (0x000A0000).to_bytes(4, "big")), pp.parse_options(req2[2]))
        peer.feed(control(pp.PROTO_LCP, pp.CONF_REJ, req2[1], pp.build_options(
            [(pp.LCP_MAGIC, peer.lcp.magic.to_bytes(4, "big"))])))
        req3 = self._reply(out, code=pp.CONF_REQ)[0]
        self.assertEqual([t for t, _ in pp.parse_options(req3[2])], [pp.LCP_ACCM])

    def test_echo_request_answered_when_open(self):
        link = Link().up()
        link.device.lcp.send(pp.ECHO_REQ, 0x42, b"\x00\x00\x00\x00hello")
        link.run()
        self.assertEqual(link.peer.stats["echo_replies"], 1)
        # The bytes of a reply.
        out = []
        link.peer.write = out.append
        link.peer.feed(control(pp.PROTO_LCP, pp.ECHO_REQ, 0x43, b"\x00\x00\x00\x00hi"))
        (proto, info), = frames(out)
        self.assertEqual(proto, pp.PROTO_LCP)
        self.assertEqual(pp.parse_control(info), (pp.ECHO_REPLY, 0x43, b"\x00\x00\x00\x00hi"))
        # And ours are answered by the device.
        link.peer.write = link.to_device.append
        link.peer.send_echo_request(b"x")
        link.run()
        self.assertEqual(link.peer.stats["echo_replies_received"], 1)

    def test_echo_ignored_before_open(self):
        peer, out = self._raw_peer()
        peer.feed(control(pp.PROTO_LCP, pp.ECHO_REQ, 1, bytes(4)))
        self.assertEqual(out, [])

    def test_terminate_request_then_reconnect(self):
        link = Link().up()
        out = []
        link.peer.write = out.append
        link.peer.feed(control(pp.PROTO_LCP, pp.TERM_REQ, 9, b"bye"))
        self.assertEqual([pp.parse_control(i) for _, i in frames(out)], [(pp.TERM_ACK, 9, b"")])
        self.assertFalse(link.peer.is_up)
        self.assertEqual(link.events, ["up", "down"])
        # After the restart timer it waits for a new device (a reboot).
        link.clock.t += 10
        link.peer.poll_timers()
        self.assertEqual(link.peer.lcp.state, pp.STOPPED)
        self.assertEqual(link.events, ["up", "down", "finished"])
        link.peer.write = link.to_device.append
        link.device = fd.FakeDevice(write=link.to_peer.append)
        link.up()
        self.assertTrue(link.peer.is_up and link.device.is_up)

    def test_device_reboots_while_up(self):
        # A reset firmware starts over with a fresh Configure-Request.
        link = Link().up()
        link.device = fd.FakeDevice(write=link.to_peer.append)
        link.up()
        self.assertTrue(link.peer.is_up and link.device.is_up)
        self.assertEqual(link.device.address, "10.77.0.2")
        self.assertEqual(link.events, ["up", "down", "up"])
        self.assertIsNone(link.peer.next_deadline())

    def test_peer_terminates(self):
        link = Link().up()
        link.peer.terminate()
        link.run()
        self.assertEqual(link.peer.lcp.state, pp.CLOSED)
        self.assertEqual(link.device.lcp.state, fd.CLOSED)
        self.assertEqual(link.device.phase, "Dead")

    def test_unknown_code_and_protocol_rejected(self):
        link = Link().up()
        out = []
        link.peer.write = out.append
        link.peer.feed(control(pp.PROTO_LCP, 99, 5, b"abc"))
        (proto, info), = frames(out)
        self.assertEqual(pp.parse_control(info)[0], pp.CODE_REJ)
        self.assertEqual(pp.parse_control(info)[2], pp.control_packet(99, 5, b"abc"))
        out.clear()
        link.peer.feed(pp.encode_frame(0x8057, b"\x01\x01\x00\x04"))  # IPV6CP
        (proto, info), = frames(out)
        code, _, data = pp.parse_control(info)
        self.assertEqual((proto, code, data[:2]), (pp.PROTO_LCP, pp.PROTO_REJ, b"\x80\x57"))

    def test_restart_timer_retransmits_then_gives_up(self):
        peer, out = self._raw_peer(max_configure=3, restart_interval=2.0)
        peer.feed(control(pp.PROTO_LCP, pp.CONF_REQ, 1, b""))
        self.assertEqual(len(self._reply(out, code=pp.CONF_REQ)), 1)
        clock = peer.now
        ids = set()
        for _ in range(3):
            clock.t += 1.0
            peer.poll_timers()
            self.assertEqual(out, [])
            clock.t += 1.0
            peer.poll_timers()
            req = self._reply(out, code=pp.CONF_REQ)
            self.assertEqual(len(req), 1)
            ids.add(req[0][1])
        self.assertEqual(len(ids), 3)  # a fresh id each time
        clock.t += 2.0
        peer.poll_timers()
        self.assertEqual(out, [])
        self.assertEqual(peer.lcp.state, pp.STOPPED)
        self.assertIsNone(peer.next_deadline())

    def test_ipcp_before_lcp_dropped(self):
        peer, out = self._raw_peer()
        peer.feed(control(pp.PROTO_IPCP, pp.CONF_REQ, 1, b""))
        peer.feed(pp.encode_frame(pp.PROTO_IPV4, b"\x45" + bytes(19)))
        self.assertEqual(out, [])


class IpcpNegotiation(unittest.TestCase):
    def test_address_and_dns_assigned(self):
        link = Link().up()
        self.assertEqual(link.device.address, "10.77.0.2")
        self.assertEqual(link.device.dns, "10.77.0.1")
        self.assertIsNone(link.device.dns2)  # secondary rejected
        self.assertIn(pp.IPCP_DNS2, link.device.ipcp.rejected)
        self.assertEqual(link.device.ipcp.peer_address, bytes([10, 77, 0, 1]))

    def test_other_addresses_and_secondary_dns(self):
        link = Link(local="192.168.9.1", remote="192.168.9.50", dns="192.168.9.53",
                    dns2="192.168.9.54").up()
        self.assertEqual(link.device.address, "192.168.9.50")
        self.assertEqual(link.device.dns, "192.168.9.53")
        self.assertEqual(link.device.dns2, "192.168.9.54")
        self.assertEqual(link.device.ipcp.peer_address, bytes([192, 168, 9, 1]))

    def test_no_dns_offered(self):
        link = Link(dns=None).up()
        self.assertTrue(link.device.is_up)
        self.assertIsNone(link.device.dns)

    def test_device_asking_for_another_address_is_naked(self):
        link = Link().up()
        out = []
        link.peer.write = out.append
        link.peer.feed(control(pp.PROTO_IPCP, pp.CONF_REQ, 3, pp.build_options(
            [(pp.IPCP_ADDRESS, bytes([10, 77, 0, 99])), (pp.IPCP_DNS1, bytes([8, 8, 8, 8]))])))
        replies = [pp.parse_control(i) for pr, i in frames(out) if pr == pp.PROTO_IPCP]
        nak = [r for r in replies if r[0] == pp.CONF_NAK][0]
        self.assertEqual(pp.parse_options(nak[2]), [(pp.IPCP_ADDRESS, bytes([10, 77, 0, 2])),
                                                    (pp.IPCP_DNS1, bytes([10, 77, 0, 1]))])
        self.assertFalse(link.peer.is_up)  # renegotiating

    def test_compression_option_rejected(self):
        peer = pp.PppPeer(write=lambda b: None)
        code, opts = peer.ipcp.peer_options([(pp.IPCP_COMPRESSION, b"\x00\x2d\x0f\x01"),
                                             (pp.IPCP_ADDRESS, bytes(4))])
        self.assertEqual((code, opts), (pp.CONF_REJ, [(pp.IPCP_COMPRESSION, b"\x00\x2d\x0f\x01")]))

    def test_missing_address_is_hinted(self):
        peer = pp.PppPeer(write=lambda b: None)
        code, opts = peer.ipcp.peer_options([])
        self.assertEqual((code, opts), (pp.CONF_NAK, [(pp.IPCP_ADDRESS, bytes([10, 77, 0, 2]))]))


class Pap(unittest.TestCase):
    def test_any_credentials_accepted(self):
        link = Link(require_pap=True).up()
        self.assertTrue(link.peer.is_up and link.device.is_up)
        self.assertEqual(link.peer.authenticated_as, b"device")

    def test_configured_credentials_checked(self):
        link = Link(require_pap=True, pap_user="device", pap_password="secret").up()
        self.assertTrue(link.device.is_up)
        link = Link(require_pap=True, pap_user="device", pap_password="other").up()
        self.assertFalse(link.device.is_up)
        self.assertFalse(link.peer.is_up)
        # Nak, Terminate-Request, the device's Terminate-Ack.
        self.assertEqual(link.peer.lcp.state, pp.CLOSED)
        self.assertEqual(link.device.lcp.state, fd.CLOSED)
        self.assertEqual(link.device.pap_state, fd.REQ_SENT)

    def test_pap_not_requested_by_default(self):
        link = Link().up()
        self.assertIsNone(link.device.lcp.auth)
        self.assertIsNone(link.peer.authenticated_as)

    def test_empty_credentials_are_well_formed(self):
        link = Link(require_pap=True)
        link.device.username = b""
        link.device.password = b""
        link.up()
        self.assertTrue(link.device.is_up)
        self.assertEqual(link.peer.authenticated_as, b"")

    def test_malformed_pap_refused(self):
        link = Link(require_pap=True)
        link.device.pap_send = lambda: link.device.send_control(
            pp.PROTO_PAP, pp.control_packet(pp.PAP_AUTH_REQ, 1, b"\x09abc"))
        link.up()
        self.assertFalse(link.peer.is_up)
        self.assertEqual(link.peer.lcp.state, pp.CLOSED)


IPV4_SAMPLE = bytes.fromhex("45000024000040004011") + bytes(10) + b"\x7e\x7d\x11\x13\x00\xff" * 2


class Delivery(unittest.TestCase):
    def test_both_ways(self):
        link = Link().up()
        link.device.send_ipv4(IPV4_SAMPLE)
        link.run()
        self.assertEqual(link.ipv4_at_peer, [IPV4_SAMPLE])
        self.assertTrue(link.peer.send_ipv4(IPV4_SAMPLE))
        link.run()
        self.assertEqual(link.device.received_ipv4, [IPV4_SAMPLE])
        self.assertEqual(link.peer.stats["ipv4_in"], 1)
        self.assertEqual(link.peer.stats["ipv4_out"], 1)

    def test_many_packets_byte_chunks(self):
        link = Link(chunk=7).up()
        rng = random.Random(5)
        pkts = [bytes([0x45]) + bytes(rng.randrange(256) for _ in range(rng.randrange(19, 1400)))
                for _ in range(30)]
        for p in pkts:
            link.device.send_ipv4(p)
            self.assertTrue(link.peer.send_ipv4(p))
        link.run()
        self.assertEqual(link.ipv4_at_peer, pkts)
        self.assertEqual(link.device.received_ipv4, pkts)

    def test_not_before_ipcp(self):
        link = Link()
        self.assertFalse(link.peer.send_ipv4(IPV4_SAMPLE))
        self.assertEqual(link.to_device, [])
        self.assertEqual(link.peer.stats["ipv4_dropped"], 1)

    def test_larger_than_mru_refused(self):
        link = Link().up()
        self.assertFalse(link.peer.send_ipv4(bytes(1501)))


class Robustness(unittest.TestCase):
    def _fuzz(self, seed, up):
        rng = random.Random(seed)
        link = Link()
        if up:
            link.up()
        protos = [pp.PROTO_LCP, pp.PROTO_IPCP, pp.PROTO_PAP, pp.PROTO_IPV4, 0x8057, 0x0001]
        for _ in range(400):
            kind = rng.randrange(4)
            if kind == 0:  # raw garbage
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 50)))
            elif kind == 1:  # valid frame, random content
                data = pp.encode_frame(rng.choice(protos),
                                       bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40))))
            elif kind == 2:  # control packet with random options/lengths
                body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 20)))
                info = bytes([rng.randrange(1, 12), rng.randrange(256)])
                info += (len(body) + 4 + rng.choice([0, 0, 1, -1, 5])).to_bytes(2, "big", signed=True)
                data = pp.encode_frame(rng.choice(protos[:3]), info + body)
            else:  # a truncated valid frame
                f = pp.encode_frame(pp.PROTO_LCP, pp.control_packet(1, 1, b"\x02\x06\x00\x00\x00\x00"))
                data = f[:rng.randrange(1, len(f))]
            link.peer.feed(data)
            if rng.randrange(10) == 0:
                link.clock.t += rng.choice([0.5, 3.0, 30.0])
                link.peer.poll_timers()
        link.peer.feed(b"\x7e")
        return link

    def test_garbage_in_every_phase_never_raises(self):
        for seed in range(6):
            self._fuzz(seed, up=False)
            self._fuzz(100 + seed, up=True)

    def test_link_still_works_after_garbage(self):
        link = self._fuzz(7, up=True)
        link.to_device.clear()
        link.to_peer.clear()
        # A rebooted device negotiates from scratch.
        link.device = fd.FakeDevice(write=link.to_peer.append)
        link.peer.write = link.to_device.append
        link.up()
        # The peer may have been mid-negotiation with the garbage: its
        # restart timer brings the new device up within a few intervals.
        for _ in range(5):
            if link.device.is_up:
                break
            link.clock.t += link.peer.restart_interval
            link.peer.poll_timers()
            link.run()
        self.assertTrue(link.device.is_up)
        self.assertTrue(link.peer.is_up)


if __name__ == "__main__":
    unittest.main()
