"""One query message in, one reply message (or silence) out. No I/O here.

Every reply is built and packed by dnslib. The only bytes made by hand are the
deliberately broken ones: ``Fault.garbage`` (the packed reply's ID followed by
random bytes) and ``Fault.short`` (the packed reply cut to 5 bytes).

Replies set QR, AA and RA, echo ID, opcode, RD and the question exactly as asked
(case included), and carry an OPT RR when the query did. Over UDP a reply larger
than the client's EDNS payload size (512 without EDNS) goes out as TC=1 with the
question only, so the client retries over TCP.
"""

from __future__ import annotations

import ipaddress
import os
import time
from dataclasses import dataclass
from typing import Any

from dnslib import (
    AAAA,
    CLASS,
    EDNS0,
    QTYPE,
    RCODE,
    RR,
    A,
    DNSHeader,
    DNSLabel,
    DNSQuestion,
    DNSRecord,
)

from ._faults import Fault, FaultTable
from ._log import QueryLog, QueryRecord, Transport
from ._names import name_key, type_name
from ._network import NetworkModel
from ._zone import Zone

EDNS_PAYLOAD = 1232  # what the server advertises (the DNS flag day 2020 value)
WRONG_NAME = DNSLabel("wrong-name.invalid")
_MAX_UDP = 65507
_MAX_TCP = 65535
_OPT = int(QTYPE.OPT)
_AAAA = int(QTYPE.AAAA)
_CLASSES = (int(CLASS.IN), 255)  # IN and ANY (dnslib spells ANY "*")


@dataclass(frozen=True)
class Reply:
    """Bytes to send back, ``delay`` seconds from now."""

    data: bytes
    delay: float = 0.0


@dataclass
class Responder:
    zone: Zone
    faults: FaultTable
    log: QueryLog
    network: NetworkModel | None = None

    def respond(self, message: bytes, transport: Transport) -> Reply | None:
        """The reply to ``message``, or ``None`` to stay silent."""
        try:
            query = DNSRecord.parse(message)
        except Exception:
            return None  # not DNS: nothing to answer
        header = query.header
        if header.qr:
            return None  # a response, not a query
        reply = DNSRecord(
            DNSHeader(id=header.id, qr=1, aa=1, ra=1, rd=header.rd, opcode=header.opcode),
            questions=query.questions[:1],
        )
        opt = next((rr for rr in query.ar if rr.rtype == _OPT), None)
        if opt is not None:
            reply.add_ar(EDNS0(udp_len=EDNS_PAYLOAD))
        limit = _MAX_TCP if transport == "tcp" else _udp_limit(opt)
        if not query.questions:
            reply.header.rcode = RCODE.FORMERR
            return Reply(_pack(reply, limit))

        question = query.q
        key = name_key(question.qname)
        qtype = type_name(question.qtype)
        self.log.append(QueryRecord(key, qtype, transport, time.monotonic()))
        if self.faults.dead:
            return None
        if self.faults.refuse_all or question.qclass not in _CLASSES:
            reply.header.rcode = RCODE.REFUSED
            return Reply(_pack(reply, limit))
        if header.opcode != 0:
            reply.header.rcode = RCODE.NOTIMP
            return Reply(_pack(reply, limit))
        fault = self.faults.get(key, qtype)
        if fault is None:
            self._fill(reply, question)
            out: Reply | None = Reply(_pack(reply, limit))
        else:
            out = self._faulty(reply, question, fault, limit, transport)
        if self.network is None or out is None:
            return out
        return self._through_network(self.network, out, reply, key, qtype, limit)

    def _through_network(self, network: NetworkModel, out: Reply, reply: Any, key: str,
                         qtype: str, limit: int) -> Reply | None:
        """``out`` as the network model delivers it: later, lost, or as a SERVFAIL."""
        ttls = [rr.ttl for rr in (reply.rr or reply.auth)]
        verdict = network.judge(key, qtype, min(ttls) if ttls else 0)
        if verdict.action == "drop":
            return None
        if verdict.action == "servfail":
            reply.header.rcode = RCODE.SERVFAIL
            reply.rr, reply.auth = [], []
            network.sent(key, qtype, verdict.delay)
            return Reply(_pack(reply, limit), delay=verdict.delay)
        network.sent(key, qtype, out.delay + verdict.delay)
        return Reply(out.data, delay=out.delay + verdict.delay)

    def _fill(self, reply: Any, question: Any) -> None:
        """Put the zone's answer to ``question`` into ``reply``."""
        result = self.zone.resolve(question.qname, question.qtype)
        reply.header.rcode = result.rcode
        reply.rr = result.answer
        reply.auth = result.authority

    def _faulty(
        self, reply: Any, question: Any, fault: Fault, limit: int, transport: Transport
    ) -> Reply | None:
        kind = fault.kind
        if kind == "drop":
            return None
        if kind in ("servfail", "refused"):
            reply.header.rcode = RCODE.SERVFAIL if kind == "servfail" else RCODE.REFUSED
            return Reply(_pack(reply, limit))
        if kind == "oversized":
            reply.rr = _many_addresses(question, fault.n)
        else:
            self._fill(reply, question)
        if kind == "wrong_name":
            reply.questions = [DNSQuestion(WRONG_NAME, question.qtype, question.qclass)]
            for rr in reply.rr:
                if rr.rname == question.qname:
                    rr.rname = WRONG_NAME
        elif kind == "wrong_id":
            reply.header.id = (reply.header.id + 1) & 0xFFFF
        wire = _pack(reply, limit, force_tc=kind == "truncate" and transport == "udp")
        if kind == "short":
            wire = wire[:5]
        elif kind == "garbage":
            wire = wire[:2] + os.urandom(40)
        return Reply(wire, delay=fault.seconds if kind == "delay" else 0.0)


def _udp_limit(opt: Any) -> int:
    """The largest UDP reply the client said it takes (RFC 6891: never below 512)."""
    return 512 if opt is None else min(max(512, int(opt.rclass)), _MAX_UDP)


def _pack(reply: Any, limit: int, force_tc: bool = False) -> bytes:
    """``reply`` packed; if too big (or asked to), its TC=1 form: question and OPT only."""
    if not force_tc:
        wire: bytes = reply.pack()
        if len(wire) <= limit:
            return wire
    short = DNSRecord(
        DNSHeader(id=reply.header.id, bitmap=reply.header.bitmap, tc=1),
        questions=reply.questions,
        ar=[rr for rr in reply.ar if rr.rtype == _OPT],
    )
    return bytes(short.pack())


def _many_addresses(question: Any, n: int) -> list[Any]:
    """``n`` distinct addresses for ``question``'s name: from 127.0.0.1 or fd00::1 up."""
    if question.qtype == _AAAA:
        base6 = int(ipaddress.IPv6Address("fd00::1"))
        return [
            RR(question.qname, _AAAA, ttl=300, rdata=AAAA(str(ipaddress.IPv6Address(base6 + i))))
            for i in range(n)
        ]
    base4 = int(ipaddress.IPv4Address("127.0.0.1"))
    return [
        RR(question.qname, QTYPE.A, ttl=300, rdata=A(str(ipaddress.IPv4Address(base4 + i))))
        for i in range(n)
    ]
