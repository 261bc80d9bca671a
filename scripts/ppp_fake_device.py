#!/usr/bin/env python3
"""A scripted PPP client that behaves like the firmware's PPP stack.

A Python model of ppproto 0.2.1, the PPP engine of embassy-net-ppp 0.3.0
(what the QEMU firmware runs), used to test scripts/ppp_peer.py without
the firmware:

* one LCP Configure-Request at open() (ACCM 0x00000000) and no restart
  timer; Configure-Ack/Nak/Reject handled as ppproto's OptionFsm does
  (any Nak/Reject makes it send a new request, ids are not checked);
* as receiver: ACCM acked, Auth-Protocol PAP acked (anything else Nak'ed
  to PAP), every other LCP option rejected (Magic-Number included);
* PAP Authenticate-Request with the configured user/password when the
  peer's LCP asked for PAP;
* IPCP: requests IP-Address, primary and secondary DNS as 0.0.0.0 and
  adopts Nak'ed values; acks the peer's IP-Address, rejects the rest;
* in state Closed it answers every control packet with Terminate-Ack;
  Echo-Request answered only when Opened;
* frames: always 0xFF 0x03 and 2-byte protocols; control frames with every
  control character escaped, IPv4 with the ACCM the peer asked for.

`extended=True` makes it a more generic client (as pppd would be): it also
sends a Magic-Number and asks for ACFC and PFC, to exercise those paths of
the peer.
"""

import ipaddress

import ppp_peer as pp

CLOSED, REQ_SENT, ACK_RECEIVED, ACK_SENT, OPENED = (
    "Closed", "ReqSent", "AckReceived", "AckSent", "Opened")


class _Fsm:
    def __init__(self, dev, protocol):
        self.dev = dev
        self.protocol = protocol
        self.state = CLOSED
        self.ident = 1

    def next_id(self):
        self.ident = (self.ident + 1) & 0xFF
        return self.ident

    def send(self, code, ident, data=b""):
        self.dev.send_control(self.protocol, pp.control_packet(code, ident, data))

    def open(self):
        assert self.state == CLOSED
        self.state = REQ_SENT
        self.send_conf_req()

    def send_conf_req(self):
        self.send(pp.CONF_REQ, self.next_id(), pp.build_options(self.own_options()))

    def handle(self, info):
        if len(info) < 4:
            return
        code, ident = info[0], info[1]
        length = int.from_bytes(info[2:4], "big")
        if length > len(info):
            return
        data = bytes(info[4:length])
        st = self.state
        if code == pp.ECHO_REQ:
            if st == OPENED:
                self.send(pp.ECHO_REPLY, ident, data)
            return
        if code == pp.DISCARD_REQ:
            return
        if st == CLOSED:
            self.send(pp.TERM_ACK, ident)
            return
        if code == pp.CONF_REQ:
            opts = pp.parse_options(data)
            if opts is None:
                raise AssertionError("ppproto would panic on malformed options")
            verdicts = [self.peer_option(t, v) for t, v in opts]
            reply_code, reply = pp.reply_from_verdicts(verdicts)
            self.send(reply_code, ident, pp.build_options(reply))
            acked = reply_code == pp.CONF_ACK
            if acked:
                if st == REQ_SENT:
                    self.state = ACK_SENT
                elif st == ACK_RECEIVED:
                    self.state = OPENED
                elif st == OPENED:
                    self.send_conf_req()
                    self.state = ACK_SENT
            else:
                if st == ACK_SENT:
                    self.state = REQ_SENT
                elif st == OPENED:
                    self.send_conf_req()
                    self.state = REQ_SENT
        elif code == pp.CONF_ACK:
            if st == REQ_SENT:
                self.state = ACK_RECEIVED
            elif st == ACK_SENT:
                self.state = OPENED
            elif st in (ACK_RECEIVED, OPENED):
                self.state = REQ_SENT
                self.send_conf_req()
        elif code in (pp.CONF_NAK, pp.CONF_REJ):
            opts = pp.parse_options(data)
            if opts is None:
                raise AssertionError("ppproto would panic on malformed options")
            for t, v in opts:
                self.own_option_nacked(t, v, code == pp.CONF_REJ)
            if st != ACK_SENT:
                self.state = REQ_SENT
            self.send_conf_req()
        elif code == pp.TERM_REQ:
            self.state = CLOSED if st == OPENED else REQ_SENT
            self.send(pp.TERM_ACK, ident)

    def own_options(self):
        return []

    def own_option_nacked(self, t, v, rejected):
        pass

    def peer_option(self, t, v):
        return pp.CONF_REJ, t, v


class _Lcp(_Fsm):
    def __init__(self, dev):
        super().__init__(dev, pp.PROTO_LCP)
        self.auth = None
        self.accm_remote = pp.ALL_ESCAPED
        self.accm = 0
        self.accm_rej = False
        self.magic = 0x1234ABCD if dev.extended else None
        self.acfc = self.pfc = dev.extended

    def own_options(self):
        opts = []
        if not self.accm_rej:
            opts.append((pp.LCP_ACCM, self.accm.to_bytes(4, "big")))
        if self.magic is not None:
            opts.append((pp.LCP_MAGIC, self.magic.to_bytes(4, "big")))
        if self.pfc:
            opts.append((pp.LCP_PFC, b""))
        if self.acfc:
            opts.append((pp.LCP_ACFC, b""))
        return opts

    def own_option_nacked(self, t, v, rejected):
        if t == pp.LCP_ACCM:
            if not rejected and len(v) == 4:
                self.accm = int.from_bytes(v, "big")
            else:
                self.accm_rej = True
        elif t == pp.LCP_MAGIC:
            self.magic = None if rejected else int.from_bytes(v, "big")
        elif t == pp.LCP_PFC:
            self.pfc = False
        elif t == pp.LCP_ACFC:
            self.acfc = False

    def peer_option(self, t, v):
        if t == pp.LCP_ACCM:
            if len(v) == 4:
                self.accm_remote = int.from_bytes(v, "big")
                return pp.CONF_ACK, t, v
            return pp.CONF_REJ, t, v
        if t == pp.LCP_AUTH:
            if v == b"\xc0\x23":
                self.auth = "PAP"
                return pp.CONF_ACK, t, v
            return pp.CONF_NAK, t, b"\xc0\x23"
        if t == pp.LCP_MAGIC and self.dev.extended and len(v) == 4:
            self.dev.peer_magic = int.from_bytes(v, "big")
            return pp.CONF_ACK, t, v
        return pp.CONF_REJ, t, v

    def handle(self, info):
        if len(info) >= 1 and info[0] == pp.CONF_REQ:
            self.auth = None  # peer_options_start
        super().handle(info)


class _Ipcp(_Fsm):
    def __init__(self, dev):
        super().__init__(dev, pp.PROTO_IPCP)
        self.values = {pp.IPCP_ADDRESS: bytes(4), pp.IPCP_DNS1: bytes(4), pp.IPCP_DNS2: bytes(4)}
        self.rejected = set()
        self.peer_address = None

    def own_options(self):
        return [(t, v) for t, v in self.values.items() if t not in self.rejected]

    def own_option_nacked(self, t, v, rejected):
        if t not in self.values:
            return
        if rejected or len(v) != 4:
            self.rejected.add(t)
        else:
            self.values[t] = v

    def peer_option(self, t, v):
        if t == pp.IPCP_ADDRESS and len(v) == 4:
            self.peer_address = v
            return pp.CONF_ACK, t, v
        return pp.CONF_REJ, t, v

    def get(self, t):
        v = self.values[t]
        if t in self.rejected or v == bytes(4):
            return None
        return str(ipaddress.IPv4Address(v))


class FakeDevice:
    """write(bytes) sends on the serial line; on_ipv4(packet) receives IPv4."""

    def __init__(self, write, on_ipv4=None, username=b"device", password=b"secret",
                 extended=False):
        self.write = write
        self.on_ipv4 = on_ipv4
        self.username, self.password = username, password
        self.extended = extended
        self.peer_magic = None
        self.decoder = pp.FrameDecoder()
        self.lcp = _Lcp(self)
        self.ipcp = _Ipcp(self)
        self.pap_state = CLOSED
        self.pap_id = 1
        self.phase = "Dead"
        self.protocol_rejects = []
        self.received_ipv4 = []

    # Framing as ppproto's FrameWriter: 0xFF 0x03, 2-byte protocol, control
    # frames with every control character escaped.
    def send_control(self, protocol, info):
        self.write(pp.encode_frame(protocol, info))

    def send_ipv4(self, packet):
        acfc = self.extended and self.lcp.acfc
        pfc = self.extended and self.lcp.pfc
        self.write(pp.encode_frame(pp.PROTO_IPV4, packet, self.lcp.accm_remote, acfc, pfc))

    def open(self):
        self.phase = "Establish"
        self.lcp.open()
        self.poll()

    def feed(self, data):
        for protocol, info in self.decoder.feed(data):
            if protocol == pp.PROTO_LCP:
                if len(info) >= 1 and info[0] == pp.PROTO_REJ:
                    self.protocol_rejects.append(int.from_bytes(info[4:6], "big"))
                self.lcp.handle(info)
            elif protocol == pp.PROTO_PAP:
                self.pap_handle(info)
            elif protocol == pp.PROTO_IPCP:
                self.ipcp.handle(info)
            elif protocol == pp.PROTO_IPV4:
                self.received_ipv4.append(bytes(info))
                if self.on_ipv4:
                    self.on_ipv4(bytes(info))
            else:
                self.lcp.send(pp.PROTO_REJ, self.lcp.next_id(),
                              protocol.to_bytes(2, "big") + info)
            self.poll()

    def pap_handle(self, info):
        if len(info) < 4:
            return
        code = info[0]
        if code == pp.PAP_AUTH_ACK and self.pap_state == REQ_SENT:
            self.pap_state = OPENED
        elif code == pp.PAP_AUTH_NAK and self.pap_state == REQ_SENT:
            self.pap_send()
            self.pap_naks = getattr(self, "pap_naks", 0) + 1

    def pap_send(self):
        self.pap_id = (self.pap_id + 1) & 0xFF
        data = (bytes([len(self.username)]) + self.username
                + bytes([len(self.password)]) + self.password)
        self.send_control(pp.PROTO_PAP, pp.control_packet(pp.PAP_AUTH_REQ, self.pap_id, data))

    def poll(self):
        # ppproto's PPP::poll, one step per received frame.
        if self.phase == "Establish":
            if self.lcp.state == OPENED:
                if self.lcp.auth == "PAP":
                    self.pap_state = REQ_SENT
                    self.pap_send()
                    self.phase = "Auth"
                else:
                    self.ipcp.open()
                    self.phase = "Network"
            else:
                self.pap_state = CLOSED
                self.ipcp.state = CLOSED
        elif self.phase == "Auth":
            if self.pap_state == OPENED:
                self.phase = "Network"
                self.ipcp.open()
            else:
                self.ipcp.state = CLOSED
        elif self.phase == "Network":
            if self.ipcp.state == OPENED:
                self.phase = "Open"
        if self.lcp.state == CLOSED and self.phase != "Dead":
            self.phase = "Dead"

    @property
    def is_up(self):
        return self.phase == "Open"

    @property
    def address(self):
        return self.ipcp.get(pp.IPCP_ADDRESS)

    @property
    def dns(self):
        return self.ipcp.get(pp.IPCP_DNS1)

    @property
    def dns2(self):
        return self.ipcp.get(pp.IPCP_DNS2)
