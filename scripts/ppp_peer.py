#!/usr/bin/env python3
"""The server side of PPP over a serial byte stream, for an emulated device.

The firmware under QEMU (embassy-net-ppp 0.3.0, i.e. ppproto 0.2.1) speaks
PPP on its UART; this module is the other end. It implements

* RFC 1662 HDLC-like framing: flag 0x7E, control escape 0x7D, the
  Async-Control-Character-Map (ACCM), FCS-16; it reads frames with or
  without Address/Control and with 1- or 2-byte protocol fields;
* RFC 1661 LCP: Configure-Request/Ack/Nak/Reject, Terminate-Request/Ack,
  Code-Reject, Protocol-Reject, Echo-Request/Reply, Discard-Request, the
  Magic-Number (loop-back detection), a restart timer and Max-Configure;
* RFC 1334 PAP, server side, only when asked to (``require_pap``):
  ppproto authenticates only if the peer's LCP requests PAP; by default
  this peer does not (pppd ``noauth``);
* RFC 1332 IPCP as the server: it assigns the device's address by Nak'ing
  0.0.0.0, and RFC 1877 primary DNS (option 129) by Nak'ing it too;
  secondary DNS (131) is rejected unless one is configured.

It behaves like pppd ``silent``: it sends nothing until the device's first
LCP Configure-Request (ppproto sends exactly one at start and has no restart
timer of its own, so the serial connection must exist before the firmware
starts; see the CLI notes below). After that it retransmits its own
requests every ``restart_interval`` seconds, up to ``max_configure`` times.

What ppproto 0.2.1 accepts, and so what this peer sends by default: LCP
options ACCM and Auth-Protocol (PAP); it rejects every other LCP option,
including Magic-Number (this peer then drops its magic number, as RFC 1661
allows), and every IPCP option but IP-Address. Its control-frame buffer is
128 bytes, so Echo-Request data stays small. ppproto never asks for
ACFC/PFC and its frame reader needs the 0xFF 0x03 header and 2-byte
protocols: this peer uses compression only when the device asks for it.

As a module::

    peer = PppPeer(write=uart.sendall, on_ipv4=tun_write,
                   local=..., remote=..., dns=...)
    peer.feed(bytes_from_uart)       # any chunking
    peer.send_ipv4(packet)           # False until IPCP is up
    peer.poll_timers()               # call when peer.next_deadline() passes

Command line (bridges QEMU's serial chardev to a TUN device)::

    scripts/ppp_peer.py --uart unix:PATH|tcp:HOST:PORT|pty:PATH
                        [--listen] --tun NAME [--local A] [--remote A]
                        [--dns A] [--require-pap [--pap-user U --pap-password P]]

Recommended pairing (no TCP port at all; QEMU waits for the peer before it
starts the guest, so the firmware's single Configure-Request is not lost)::

    qemu-system-arm ... -serial unix:/tmp/dir/uart.sock,server=on,wait=on
    scripts/ppp_peer.py --uart unix:/tmp/dir/uart.sock --tun ppp0

With ``--listen`` the peer is the server instead (``unix:PATH`` or
``tcp:127.0.0.1:0``, the chosen port printed as ``LISTENING tcp:HOST:PORT``
on stdout) and QEMU connects with ``-serial unix:PATH`` / ``-serial
tcp:127.0.0.1:PORT``. The TUN device must exist in the current network
namespace or be creatable (root): scripts/netns-harness.py runs all of this
inside a private namespace.

Python 3 standard library only.
"""

import argparse
import ipaddress
import os
import random
import selectors
import socket
import struct
import sys
import time

FLAG = 0x7E
ESC = 0x7D
ALL_ESCAPED = 0xFFFFFFFF

PROTO_IPV4 = 0x0021
PROTO_IPCP = 0x8021
PROTO_LCP = 0xC021
PROTO_PAP = 0xC023

# Control protocol codes (RFC 1661 §5).
CONF_REQ, CONF_ACK, CONF_NAK, CONF_REJ = 1, 2, 3, 4
TERM_REQ, TERM_ACK, CODE_REJ, PROTO_REJ = 5, 6, 7, 8
ECHO_REQ, ECHO_REPLY, DISCARD_REQ = 9, 10, 11

# LCP options (RFC 1661 §6).
LCP_MRU, LCP_ACCM, LCP_AUTH, LCP_QUALITY, LCP_MAGIC = 1, 2, 3, 4, 5
LCP_PFC, LCP_ACFC = 7, 8
# IPCP options (RFC 1332, RFC 1877).
IPCP_COMPRESSION, IPCP_ADDRESS = 2, 3
IPCP_DNS1, IPCP_DNS2 = 129, 131

# PAP codes (RFC 1334 §2.2).
PAP_AUTH_REQ, PAP_AUTH_ACK, PAP_AUTH_NAK = 1, 2, 3

# Longest frame body (after unescaping) kept; longer ones are dropped.
MAX_FRAME = 4096
DEFAULT_MRU = 1500

# ---------------------------------------------------------------------------
# RFC 1662 framing


def _fcs_table():
    table = []
    for b in range(256):
        v = b
        for _ in range(8):
            v = (v >> 1) ^ 0x8408 if v & 1 else v >> 1
        table.append(v)
    return table


FCS_TABLE = _fcs_table()
FCS_INIT = 0xFFFF
FCS_GOOD = 0xF0B8


def fcs16(data, fcs=FCS_INIT):
    """RFC 1662 §C.2 FCS-16 over `data`, starting from `fcs`."""
    for b in data:
        fcs = (fcs >> 8) ^ FCS_TABLE[(fcs ^ b) & 0xFF]
    return fcs


def escape(data, accm=ALL_ESCAPED):
    """Byte-stuff `data`: 0x7D, 0x7E and control characters set in `accm`."""
    out = bytearray()
    for b in data:
        if b in (FLAG, ESC) or (b < 0x20 and accm & (1 << b)):
            out.append(ESC)
            out.append(b ^ 0x20)
        else:
            out.append(b)
    return bytes(out)


def encode_frame(protocol, info, accm=ALL_ESCAPED, acfc=False, pfc=False):
    """One complete frame, opening and closing flag included."""
    body = bytearray()
    if not acfc:
        body += b"\xff\x03"
    if pfc and protocol < 0x100 and protocol & 1:
        body.append(protocol)
    else:
        body += protocol.to_bytes(2, "big")
    body += info
    fcs = fcs16(body) ^ 0xFFFF
    body += fcs.to_bytes(2, "little")
    return bytes([FLAG]) + escape(body, accm) + bytes([FLAG])


class FrameDecoder:
    """Splits a byte stream into frames; never raises on bad input.

    `feed()` returns a list of (protocol, information) tuples. Frames with a
    bad FCS, shorter than a header, longer than MAX_FRAME or aborted
    (0x7D 0x7E) are dropped and counted in `errors`.
    """

    def __init__(self, max_frame=MAX_FRAME):
        self.max_frame = max_frame
        self.buf = bytearray()
        self.escaped = False
        self.overflow = False
        self.errors = 0
        self.frames = 0
        # Frames that used ACFC or PFC (ppproto's reader accepts neither).
        self.compressed = 0

    def feed(self, data):
        out = []
        for b in data:
            if b == FLAG:
                if self.escaped or self.overflow:
                    if self.buf or self.overflow:
                        self.errors += 1
                elif self.buf:
                    body = bytes(self.buf)
                    frame = self._finish(body)
                    if frame is None:
                        self.errors += 1
                    else:
                        self.frames += 1
                        if body[:2] != b"\xff\x03" or frame[0] < 0x100 and body[2] != 0:
                            self.compressed += 1
                        out.append(frame)
                self.buf.clear()
                self.escaped = False
                self.overflow = False
            elif self.overflow:
                continue
            elif b == ESC:
                self.escaped = True
            else:
                if self.escaped:
                    b ^= 0x20
                    self.escaped = False
                if len(self.buf) >= self.max_frame:
                    self.overflow = True
                    self.buf.clear()
                else:
                    self.buf.append(b)
        return out

    @staticmethod
    def _finish(body):
        if len(body) < 3 or fcs16(body) != FCS_GOOD:
            return None
        body = body[:-2]
        if body[:2] == b"\xff\x03":
            body = body[2:]
        if not body:
            return None
        if body[0] & 1:  # compressed (1-byte) protocol field
            return body[0], body[1:]
        if len(body) < 2 or not body[1] & 1:
            return None
        return int.from_bytes(body[:2], "big"), body[2:]


# ---------------------------------------------------------------------------
# Control packets


def parse_options(data):
    """[(type, value)] or None if malformed."""
    opts = []
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            return None
        t, ln = data[i], data[i + 1]
        if ln < 2 or i + ln > len(data):
            return None
        opts.append((t, bytes(data[i + 2:i + ln])))
        i += ln
    return opts


def build_options(opts):
    return b"".join(bytes([t, len(v) + 2]) + v for t, v in opts)


def control_packet(code, ident, data=b""):
    return bytes([code, ident]) + (len(data) + 4).to_bytes(2, "big") + data


def parse_control(info):
    """(code, id, data) or None; trailing padding beyond Length is ignored."""
    if len(info) < 4:
        return None
    code, ident, length = info[0], info[1], int.from_bytes(info[2:4], "big")
    if length < 4 or length > len(info):
        return None
    return code, ident, bytes(info[4:length])


def ip4(text):
    return ipaddress.IPv4Address(text).packed


# RFC 1661 automaton states (those a server that waits passively needs).
INITIAL, STARTING, CLOSED, STOPPED = "Initial", "Starting", "Closed", "Stopped"
CLOSING, STOPPING = "Closing", "Stopping"
REQ_SENT, ACK_RCVD, ACK_SENT, OPENED = "Req-Sent", "Ack-Rcvd", "Ack-Sent", "Opened"


class ControlProtocol:
    """The RFC 1661 option-negotiation automaton, shared by LCP and IPCP.

    Subclasses provide `own_options()`, `peer_options(opts)` (returns
    (code, options) for the reply) and `own_options_nak(opts, rejected)`.
    """

    name = "?"
    protocol = 0

    def __init__(self, peer):
        self.peer = peer
        self.state = INITIAL
        self.ident = random.randrange(256)
        self.req_ident = None
        self.restart_count = 0
        self.deadline = None
        self.term_ident = None

    # -- sending --------------------------------------------------------

    def send(self, code, ident, data=b""):
        self.peer.send_frame(self.protocol, control_packet(code, ident, data))

    def next_ident(self):
        self.ident = (self.ident + 1) & 0xFF
        return self.ident

    def send_conf_req(self):
        self.req_ident = self.next_ident()
        self.send(CONF_REQ, self.req_ident, build_options(self.own_options()))
        self.deadline = self.peer.now() + self.peer.restart_interval

    def init_restart(self, count):
        self.restart_count = count

    # -- events ---------------------------------------------------------

    def set_state(self, state):
        if state != self.state:
            self.peer.log(f"{self.name}: {self.state} -> {state}")
            old = self.state
            self.state = state
            if state == OPENED:
                self.deadline = None
                self.this_layer_up()
            elif old == OPENED:
                self.this_layer_down()
            if state in (CLOSED, STOPPED, INITIAL, STARTING):
                self.deadline = None

    def up(self):
        """Lower layer up: wait (passive) or open actively."""
        self.set_state(STOPPED if self.passive() else REQ_SENT)
        if self.state == REQ_SENT:
            self.init_restart(self.peer.max_configure)
            self.send_conf_req()

    def down(self):
        self.set_state(INITIAL)

    def close(self, reason=b""):
        if self.state in (OPENED, REQ_SENT, ACK_RCVD, ACK_SENT):
            self.init_restart(self.peer.max_terminate)
            self.term_ident = self.next_ident()
            self.send(TERM_REQ, self.term_ident, reason)
            self.deadline = self.peer.now() + self.peer.restart_interval
            self.set_state(CLOSING)
        elif self.state in (STOPPED, STARTING, INITIAL):
            self.set_state(CLOSED)

    def passive(self):
        return False

    def timeout(self):
        self.deadline = None
        if self.state in (CLOSING, STOPPING):
            if self.restart_count > 0:
                self.restart_count -= 1
                self.send(TERM_REQ, self.next_ident())
                self.deadline = self.peer.now() + self.peer.restart_interval
            else:
                self.set_state(CLOSED if self.state == CLOSING else STOPPED)
                self.this_layer_finished()
        elif self.state in (REQ_SENT, ACK_RCVD, ACK_SENT):
            if self.restart_count > 0:
                self.restart_count -= 1
                if self.state == ACK_RCVD:
                    self.set_state(REQ_SENT)
                self.send_conf_req()
            else:
                self.peer.log(f"{self.name}: no answer after {self.peer.max_configure} requests")
                self.set_state(STOPPED)
                self.this_layer_finished()

    def receive(self, info):
        pkt = parse_control(info)
        if pkt is None:
            self.peer.log(f"{self.name}: malformed packet dropped")
            return
        code, ident, data = pkt
        if self.state in (INITIAL, STARTING):
            self.peer.log(f"{self.name}: packet code {code} before the layer is up, dropped")
            return
        if code == CONF_REQ:
            self.rcv_conf_req(ident, data)
        elif code == CONF_ACK:
            self.rcv_conf_ack(ident, data)
        elif code in (CONF_NAK, CONF_REJ):
            self.rcv_conf_nak(ident, data, code == CONF_REJ)
        elif code == TERM_REQ:
            self.send(TERM_ACK, ident)
            if self.state == OPENED:
                self.restart_count = 0
                self.deadline = self.peer.now() + self.peer.restart_interval
                self.set_state(STOPPING)
            elif self.state in (ACK_RCVD, ACK_SENT):
                self.set_state(REQ_SENT)
        elif code == TERM_ACK:
            if self.state == CLOSING:
                self.set_state(CLOSED)
                self.this_layer_finished()
            elif self.state == STOPPING:
                self.set_state(STOPPED)
                self.this_layer_finished()
            elif self.state == ACK_RCVD:
                self.set_state(REQ_SENT)
            elif self.state == OPENED:
                self.send_conf_req()
                self.set_state(REQ_SENT)
        elif code in (CODE_REJ, PROTO_REJ):
            self.peer.log(f"{self.name}: peer sent code/protocol reject {data[:4].hex()}")
        elif not self.extra_code(code, ident, data):
            self.send(CODE_REJ, self.next_ident(), info[:self.peer.peer_mru - 4])

    def extra_code(self, code, ident, data):
        return False

    def rcv_conf_req(self, ident, data):
        opts = parse_options(data)
        if opts is None:
            self.peer.log(f"{self.name}: malformed Configure-Request dropped")
            return
        if self.state in (CLOSED, CLOSING, STOPPING):
            if self.state == CLOSED:
                self.send(TERM_ACK, ident)
            return
        if self.state == OPENED:
            self.set_state(REQ_SENT)
            self.init_restart(self.peer.max_configure)
            self.send_conf_req()
        elif self.state == STOPPED:
            self.init_restart(self.peer.max_configure)
            self.send_conf_req()
            self.set_state(REQ_SENT)
        code, reply = self.peer_options(opts)
        self.send(code, ident, build_options(reply))
        if code == CONF_ACK:
            if self.state == ACK_RCVD:
                self.set_state(OPENED)
            elif self.state == REQ_SENT:
                self.set_state(ACK_SENT)
        elif self.state == ACK_SENT:
            self.set_state(REQ_SENT)

    def rcv_conf_ack(self, ident, data):
        if ident != self.req_ident or data != build_options(self.own_options()):
            self.peer.log(f"{self.name}: Configure-Ack that does not match our request, dropped")
            return
        if self.state == REQ_SENT:
            self.init_restart(self.peer.max_configure)
            self.deadline = self.peer.now() + self.peer.restart_interval
            self.set_state(ACK_RCVD)
        elif self.state == ACK_SENT:
            self.set_state(OPENED)
        elif self.state in (ACK_RCVD, OPENED):
            self.send_conf_req()
            self.set_state(REQ_SENT)
        elif self.state in (CLOSED, STOPPED):
            self.send(TERM_ACK, ident)

    def rcv_conf_nak(self, ident, data, rejected):
        if ident != self.req_ident:
            self.peer.log(f"{self.name}: Configure-Nak/Reject with a stale id, dropped")
            return
        opts = parse_options(data)
        if opts is None:
            self.peer.log(f"{self.name}: malformed Configure-Nak/Reject dropped")
            return
        if self.state in (CLOSED, STOPPED):
            self.send(TERM_ACK, ident)
            return
        if not self.own_options_nak(opts, rejected):
            return
        if self.state in (REQ_SENT, ACK_SENT):
            self.init_restart(self.peer.max_configure)
            self.send_conf_req()
        elif self.state in (ACK_RCVD, OPENED):
            self.send_conf_req()
            self.set_state(REQ_SENT)

    def this_layer_up(self):
        pass

    def this_layer_down(self):
        pass

    def this_layer_finished(self):
        pass


def reply_from_verdicts(verdicts):
    """[(verdict, type, value)] -> (code, options): Rej beats Nak beats Ack."""
    rej = [(t, v) for vd, t, v in verdicts if vd == CONF_REJ]
    if rej:
        return CONF_REJ, rej
    nak = [(t, v) for vd, t, v in verdicts if vd == CONF_NAK]
    if nak:
        return CONF_NAK, nak
    return CONF_ACK, [(t, v) for _, t, v in verdicts]


class Lcp(ControlProtocol):
    name = "LCP"
    protocol = PROTO_LCP

    def __init__(self, peer):
        super().__init__(peer)
        self.magic = self._new_magic()
        self.send_magic = True
        self.send_accm = True
        self.rx_accm = 0x00000000  # what we ask the device to escape
        self.want_pap = peer.require_pap
        self.peer_magic = None

    @staticmethod
    def _new_magic():
        return random.randrange(1, 1 << 32)

    def passive(self):
        return True

    def own_options(self):
        opts = []
        if self.send_accm:
            opts.append((LCP_ACCM, self.rx_accm.to_bytes(4, "big")))
        if self.want_pap:
            opts.append((LCP_AUTH, PROTO_PAP.to_bytes(2, "big")))
        if self.send_magic:
            opts.append((LCP_MAGIC, self.magic.to_bytes(4, "big")))
        return opts

    def own_options_nak(self, opts, rejected):
        for t, v in opts:
            if t == LCP_MAGIC:
                if rejected:
                    self.send_magic = False
                else:
                    self.magic = self._new_magic()
            elif t == LCP_ACCM:
                if rejected or len(v) != 4:
                    self.send_accm = False
                else:
                    self.rx_accm |= int.from_bytes(v, "big")
            elif t == LCP_AUTH:
                self.peer.log("LCP: the device refuses PAP authentication")
                self.peer.auth_refused()
                return False
        return True

    def peer_options(self, opts):
        p = self.peer
        verdicts = []
        for t, v in opts:
            if t == LCP_MRU and len(v) == 2:
                mru = int.from_bytes(v, "big")
                if mru < 128:
                    verdicts.append((CONF_NAK, t, DEFAULT_MRU.to_bytes(2, "big")))
                else:
                    verdicts.append((CONF_ACK, t, v))
            elif t == LCP_ACCM and len(v) == 4:
                verdicts.append((CONF_ACK, t, v))
            elif t == LCP_MAGIC and len(v) == 4:
                magic = int.from_bytes(v, "big")
                if self.send_magic and magic == self.magic:
                    # RFC 1661 §6.4: a looped-back link (or a collision).
                    p.log("LCP: the device's magic number equals ours (loop-back?)")
                    self.magic = self._new_magic()
                    verdicts.append((CONF_NAK, t, self._new_magic().to_bytes(4, "big")))
                elif magic == 0:
                    verdicts.append((CONF_NAK, t, self._new_magic().to_bytes(4, "big")))
                else:
                    verdicts.append((CONF_ACK, t, v))
            elif t in (LCP_PFC, LCP_ACFC) and len(v) == 0 and p.allow_compression:
                verdicts.append((CONF_ACK, t, v))
            else:
                # Auth-Protocol (we do not authenticate ourselves to the
                # device), Quality-Protocol, compression when disallowed,
                # malformed lengths, unknown types.
                verdicts.append((CONF_REJ, t, v))
        code, reply = reply_from_verdicts(verdicts)
        if code == CONF_ACK:
            p.tx_accm = ALL_ESCAPED
            p.peer_mru = DEFAULT_MRU
            p.tx_pfc = p.tx_acfc = False
            self.peer_magic = None
            for t, v in opts:
                if t == LCP_ACCM:
                    p.tx_accm = int.from_bytes(v, "big")
                elif t == LCP_MRU:
                    p.peer_mru = int.from_bytes(v, "big")
                elif t == LCP_PFC:
                    p.tx_pfc = True
                elif t == LCP_ACFC:
                    p.tx_acfc = True
                elif t == LCP_MAGIC:
                    self.peer_magic = int.from_bytes(v, "big")
        return code, reply

    def extra_code(self, code, ident, data):
        if code == ECHO_REQ:
            if self.state == OPENED:
                magic = (self.magic if self.send_magic else 0).to_bytes(4, "big")
                self.send(ECHO_REPLY, ident, magic + data[4:])
                self.peer.stats["echo_replies"] += 1
            return True
        if code == ECHO_REPLY:
            self.peer.stats["echo_replies_received"] += 1
            return True
        if code == DISCARD_REQ:
            return True
        return False

    def send_echo_request(self, data=b""):
        magic = (self.magic if self.send_magic else 0).to_bytes(4, "big")
        self.send(ECHO_REQ, self.next_ident(), magic + data[:64])

    def send_protocol_reject(self, protocol, info):
        body = protocol.to_bytes(2, "big") + info
        self.send(PROTO_REJ, self.next_ident(), body[:self.peer.peer_mru - 4])

    def this_layer_up(self):
        self.peer.lcp_up()

    def this_layer_down(self):
        self.peer.lcp_down()

    def this_layer_finished(self):
        self.peer.lcp_finished()


class Ipcp(ControlProtocol):
    name = "IPCP"
    protocol = PROTO_IPCP

    def __init__(self, peer):
        super().__init__(peer)
        self.send_address = True

    def own_options(self):
        return [(IPCP_ADDRESS, self.peer.local)] if self.send_address else []

    def own_options_nak(self, opts, rejected):
        for t, _ in opts:
            if t == IPCP_ADDRESS and rejected:
                self.send_address = False
            # A Nak of our own address: we keep it (we are the server).
        return True

    def peer_options(self, opts):
        p = self.peer
        verdicts = []
        for t, v in opts:
            if t == IPCP_ADDRESS and len(v) == 4:
                verdicts.append((CONF_ACK if v == p.remote else CONF_NAK, t, p.remote))
            elif t == IPCP_DNS1 and len(v) == 4 and p.dns:
                verdicts.append((CONF_ACK if v == p.dns else CONF_NAK, t, p.dns))
            elif t == IPCP_DNS2 and len(v) == 4 and p.dns2:
                verdicts.append((CONF_ACK if v == p.dns2 else CONF_NAK, t, p.dns2))
            else:
                verdicts.append((CONF_REJ, t, v))
        if not any(t == IPCP_ADDRESS for t, _ in opts) and not any(
            vd == CONF_REJ for vd, _, _ in verdicts
        ):
            # The device did not ask for an address: tell it which to use.
            verdicts.append((CONF_NAK, IPCP_ADDRESS, p.remote))
        return reply_from_verdicts(verdicts)

    def this_layer_up(self):
        self.peer.log(
            "IPCP up: local {} remote {} dns {}".format(
                ipaddress.IPv4Address(self.peer.local),
                ipaddress.IPv4Address(self.peer.remote),
                ipaddress.IPv4Address(self.peer.dns) if self.peer.dns else "-",
            )
        )
        if self.peer.on_up:
            self.peer.on_up()

    def this_layer_down(self):
        if self.peer.on_down:
            self.peer.on_down()


# Phases (RFC 1661 §3.2).
DEAD, ESTABLISH, AUTHENTICATE, NETWORK, TERMINATE = (
    "Dead", "Establish", "Authenticate", "Network", "Terminate")


class PppPeer:
    """The server end of one PPP link.

    write(bytes): sends bytes on the serial line.
    on_ipv4(packet): an IPv4 packet from the device.
    on_up() / on_down(): IPCP opened / left Opened.
    on_finished(): LCP is down for good (terminated or gave up).
    """

    def __init__(self, write, on_ipv4=None, local="10.77.0.1", remote="10.77.0.2",
                 dns="10.77.0.1", dns2=None, require_pap=False, pap_user=None,
                 pap_password=None, allow_compression=True, restart_interval=3.0,
                 max_configure=10, max_terminate=2, clock=time.monotonic, log=None,
                 on_up=None, on_down=None, on_finished=None):
        self.write = write
        self.on_ipv4 = on_ipv4
        self.on_up, self.on_down, self.on_finished = on_up, on_down, on_finished
        self.local = ip4(local)
        self.remote = ip4(remote)
        self.dns = ip4(dns) if dns else None
        self.dns2 = ip4(dns2) if dns2 else None
        self.require_pap = require_pap
        self.pap_user = pap_user.encode() if isinstance(pap_user, str) else pap_user
        self.pap_password = (pap_password.encode() if isinstance(pap_password, str)
                             else pap_password)
        self.allow_compression = allow_compression
        self.restart_interval = restart_interval
        self.max_configure = max_configure
        self.max_terminate = max_terminate
        self.now = clock
        self._log = log
        self.decoder = FrameDecoder()
        self.tx_accm = ALL_ESCAPED
        self.tx_acfc = self.tx_pfc = False
        self.peer_mru = DEFAULT_MRU
        self.phase = DEAD
        self.authenticated_as = None
        self.stats = {"ipv4_in": 0, "ipv4_out": 0, "ipv4_dropped": 0, "echo_replies": 0,
                      "echo_replies_received": 0, "protocol_rejects": 0,
                      # Bytes on the serial line (HDLC framing and escapes included).
                      "serial_bytes_in": 0, "serial_bytes_out": 0}
        self.lcp = Lcp(self)
        self.ipcp = Ipcp(self)
        self.phase = ESTABLISH
        self.lcp.up()  # passive: Stopped, waiting for the device

    # -- helpers ---------------------------------------------------------

    def log(self, text):
        if self._log:
            self._log(text)

    @property
    def is_up(self):
        return self.ipcp.state == OPENED

    def send_frame(self, protocol, info):
        if protocol == PROTO_LCP:
            # RFC 1662 §7.1: LCP packets always use the default ACCM and no
            # compression, so a renegotiation can always be understood.
            frame = encode_frame(protocol, info)
        else:
            frame = encode_frame(protocol, info, self.tx_accm, self.tx_acfc, self.tx_pfc)
        self.stats["serial_bytes_out"] += len(frame)
        self.write(frame)

    # -- input -----------------------------------------------------------

    def feed(self, data):
        self.stats["serial_bytes_in"] += len(data)
        for protocol, info in self.decoder.feed(data):
            self.receive_packet(protocol, info)

    def receive_packet(self, protocol, info):
        if protocol == PROTO_LCP:
            self.lcp.receive(info)
        elif self.lcp.state != OPENED:
            self.log(f"protocol 0x{protocol:04x} before LCP is up, dropped")
        elif protocol == PROTO_PAP:
            self.receive_pap(info)
        elif self.phase == AUTHENTICATE:
            self.log(f"protocol 0x{protocol:04x} during authentication, dropped")
        elif protocol == PROTO_IPCP:
            self.ipcp.receive(info)
        elif protocol == PROTO_IPV4:
            if self.ipcp.state == OPENED:
                self.stats["ipv4_in"] += 1
                if self.on_ipv4:
                    self.on_ipv4(bytes(info))
            else:
                self.stats["ipv4_dropped"] += 1
        else:
            self.stats["protocol_rejects"] += 1
            self.lcp.send_protocol_reject(protocol, info)

    def receive_pap(self, info):
        pkt = parse_control(info)
        if pkt is None or not self.require_pap:
            self.log("PAP packet dropped (malformed, or PAP not negotiated)")
            return
        code, ident, data = pkt
        if code != PAP_AUTH_REQ:
            return
        user = password = None
        if data:
            ul = data[0]
            if 1 + ul < len(data):
                user = data[1:1 + ul]
                pl = data[1 + ul]
                if 2 + ul + pl <= len(data):
                    password = data[2 + ul:2 + ul + pl]
        ok = user is not None and password is not None and (
            self.pap_user is None or (user == self.pap_user and password == self.pap_password))
        msg = b"Login ok" if ok else b"Login incorrect"
        self.send_frame(PROTO_PAP, control_packet(
            PAP_AUTH_ACK if ok else PAP_AUTH_NAK, ident, bytes([len(msg)]) + msg))
        if ok:
            self.authenticated_as = user
            if self.phase == AUTHENTICATE:
                self.log(f"PAP: authenticated {user!r}")
                self.phase = NETWORK
                self.ipcp.up()
        else:
            self.log(f"PAP: refused {user!r}")
            self.phase = TERMINATE
            self.lcp.close(b"authentication failed")

    # -- layer events ------------------------------------------------------

    def lcp_up(self):
        if self.require_pap:
            self.phase = AUTHENTICATE
        else:
            self.phase = NETWORK
            self.ipcp.up()

    def lcp_down(self):
        self.ipcp.down()
        self.tx_accm = ALL_ESCAPED
        self.tx_acfc = self.tx_pfc = False
        if self.phase != TERMINATE:
            self.phase = ESTABLISH

    def lcp_finished(self):
        self.ipcp.down()
        self.phase = DEAD
        if self.on_finished:
            self.on_finished()
        # Ready for a new link (a rebooted device): wait passively again.
        if self.lcp.state == STOPPED:
            self.phase = ESTABLISH

    def auth_refused(self):
        self.phase = TERMINATE
        self.lcp.close(b"authentication required")

    # -- output ------------------------------------------------------------

    def send_ipv4(self, packet):
        """Queues one IPv4 packet to the device; False if IPCP is not up."""
        if self.ipcp.state != OPENED or len(packet) > self.peer_mru:
            self.stats["ipv4_dropped"] += 1
            return False
        self.stats["ipv4_out"] += 1
        self.send_frame(PROTO_IPV4, packet)
        return True

    def send_echo_request(self, data=b""):
        if self.lcp.state == OPENED:
            self.lcp.send_echo_request(data)

    def terminate(self, reason=b"peer shutting down"):
        self.phase = TERMINATE
        self.lcp.close(reason)

    # -- timers ------------------------------------------------------------

    def next_deadline(self):
        ds = [d for d in (self.lcp.deadline, self.ipcp.deadline) if d is not None]
        return min(ds) if ds else None

    def poll_timers(self):
        now = self.now()
        for layer in (self.lcp, self.ipcp):
            if layer.deadline is not None and layer.deadline <= now:
                layer.timeout()


# ---------------------------------------------------------------------------
# TUN and serial plumbing (Linux)

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def open_tun(name):
    """Opens (creates) TUN device `name` (IFF_TUN | IFF_NO_PI); returns (fd, name)."""
    import fcntl
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    try:
        ifr = struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI)
        res = fcntl.ioctl(fd, TUNSETIFF, ifr)
    except BaseException:
        os.close(fd)
        raise
    return fd, res[:16].rstrip(b"\0").decode()


def open_uart(spec, listen=False, timeout=30.0):
    """Connects to (or with `listen`, accepts one connection on) a serial chardev.

    Returns (read_fd_or_socket, write(bytes), close(), kind).
    """
    kind, _, rest = spec.partition(":")
    deadline = time.monotonic() + timeout
    if kind == "pty":
        import termios
        import tty
        fd = os.open(rest, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        tty.setraw(fd)
        attrs = termios.tcgetattr(fd)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(fd, termios.TCSANOW, attrs)

        def write(data, fd=fd):
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
        return fd, write, lambda: os.close(fd), "pty"
    if kind == "unix":
        family, addr = socket.AF_UNIX, rest
    elif kind == "tcp":
        host, _, port = rest.rpartition(":")
        family, addr = socket.AF_INET6 if ":" in host else socket.AF_INET, (
            host.strip("[]"), int(port))
    else:
        raise ValueError(f"unknown serial spec {spec!r} (unix:PATH, tcp:HOST:PORT, pty:PATH)")
    if listen:
        srv = socket.socket(family, socket.SOCK_STREAM)
        try:
            if family == socket.AF_UNIX and os.path.exists(addr):
                os.unlink(addr)
            srv.bind(addr)
            srv.listen(1)
            bound = srv.getsockname()
            where = f"unix:{bound}" if family == socket.AF_UNIX else f"tcp:{bound[0]}:{bound[1]}"
            print(f"LISTENING {where}", flush=True)
            srv.settimeout(max(0.1, deadline - time.monotonic()))
            sock, _ = srv.accept()
        finally:
            srv.close()
            if family == socket.AF_UNIX and os.path.exists(addr):
                os.unlink(addr)
    else:
        while True:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.connect(addr)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    sock.setblocking(True)
    sock.settimeout(None)
    if family != socket.AF_UNIX:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock, sock.sendall, sock.close, kind


def run_bridge(peer_kwargs, uart_fd, uart_write, tun_fd, stop=None, timeout=None,
               log=None, idle_echo=None):
    """Moves bytes between a serial line and a TUN fd until EOF, `stop()` or timeout.

    Returns the PppPeer (for its stats).
    """
    sel = selectors.DefaultSelector()
    finished = []
    peer = PppPeer(write=uart_write, on_ipv4=lambda p: _tun_write(tun_fd, p),
                   on_finished=lambda: finished.append(True), log=log, **peer_kwargs)
    sel.register(uart_fd, selectors.EVENT_READ, "uart")
    if tun_fd is not None:
        sel.register(tun_fd, selectors.EVENT_READ, "tun")
    end = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            if stop is not None and stop():
                break
            now = time.monotonic()
            if end is not None and now >= end:
                if log:
                    log("bridge: time limit reached")
                break
            waits = [0.5]
            d = peer.next_deadline()
            if d is not None:
                waits.append(max(0.0, d - now))
            if end is not None:
                waits.append(max(0.0, end - now))
            for key, _ in sel.select(min(waits)):
                if key.data == "uart":
                    data = _read(uart_fd)
                    if not data:
                        if log:
                            log("bridge: serial line closed")
                        return peer
                    peer.feed(data)
                else:
                    try:
                        pkt = os.read(tun_fd, 65535)
                    except BlockingIOError:
                        continue
                    if pkt and pkt[0] >> 4 == 4:
                        peer.send_ipv4(pkt)
            peer.poll_timers()
    finally:
        sel.close()
    return peer


def _read(fd):
    try:
        if isinstance(fd, socket.socket):
            return fd.recv(65536)
        return os.read(fd, 65536)
    except (ConnectionResetError, OSError):
        return b""


def _tun_write(fd, packet):
    if fd is None:
        return
    try:
        os.write(fd, packet)
    except OSError:
        pass  # e.g. a malformed packet the kernel refuses: dropped, like a wire


def main(argv=None):
    ap = argparse.ArgumentParser(description="PPP server peer: QEMU serial chardev <-> TUN device")
    ap.add_argument("--uart", required=True,
                    help="unix:PATH | tcp:HOST:PORT | pty:PATH (QEMU's -serial chardev)")
    ap.add_argument("--listen", action="store_true",
                    help="listen on unix:PATH / tcp:HOST:PORT (port 0: any) instead of connecting")
    ap.add_argument("--tun", required=True, help="TUN device name (created if needed)")
    ap.add_argument("--local", default="10.77.0.1", help="this peer's address (default 10.77.0.1)")
    ap.add_argument("--remote", default="10.77.0.2", help="address given to the device")
    ap.add_argument("--dns", default="10.77.0.1", help="DNS server offered (IPCP option 129)")
    ap.add_argument("--require-pap", action="store_true",
                    help="request PAP in LCP (the device then sends its Config credentials)")
    ap.add_argument("--pap-user", help="accepted PAP user (default: any)")
    ap.add_argument("--pap-password", help="accepted PAP password")
    ap.add_argument("--timeout", type=float, help="exit after that many seconds")
    ap.add_argument("--connect-timeout", type=float, default=30.0)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    def log(text):
        if args.verbose:
            print(f"ppp_peer: {text}", file=sys.stderr, flush=True)

    tun_fd, tun_name = open_tun(args.tun)
    log(f"TUN {tun_name} open")
    uart, write, close, _ = open_uart(args.uart, args.listen, args.connect_timeout)
    try:
        peer = run_bridge(dict(local=args.local, remote=args.remote, dns=args.dns,
                               require_pap=args.require_pap, pap_user=args.pap_user,
                               pap_password=args.pap_password),
                          uart, write, tun_fd, timeout=args.timeout, log=log)
        print(f"ppp_peer: {peer.stats}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        close()
        os.close(tun_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
