"""The test DNS server (asyncdns_connect.testing), checked over the wire.

Clients: pycares (c-ares in thread mode, a fresh Channel per query so its own
cache never hides a query from the server) and dnslib's raw ``send`` for what
pycares hides (rcodes, SOA in AUTHORITY, flags, case). All on loopback.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from typing import Any

import pycares
import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord

from asyncdns_connect.testing import (
    BlackHole,
    DNSServer,
    Fault,
    QueryRecord,
    ThreadedDNSServer,
    bind_same_port,
)

ENODATA, ESERVFAIL, ENOTFOUND, EREFUSED, ETIMEOUT = 1, 3, 4, 6, 12

Server = DNSServer | ThreadedDNSServer


# -- clients -------------------------------------------------------------------


async def cares(
    server: Server,
    name: str,
    qtype: str = "A",
    *,
    timeout: float = 2.0,
    tries: int = 1,
) -> tuple[Any, int | None]:
    """One query through a fresh c-ares channel: ``(DNSResult | None, errno | None)``."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[tuple[Any, int | None]] = loop.create_future()

    def settle(value: tuple[Any, int | None]) -> None:
        if not done.done():
            done.set_result(value)

    def callback(result: Any, errno: int | None) -> None:
        loop.call_soon_threadsafe(settle, (result, errno))

    channel = pycares.Channel(servers=[server.address], timeout=timeout, tries=tries)
    try:
        channel.query(name, getattr(pycares, f"QUERY_TYPE_{qtype}"), callback=callback)
        return await done
    finally:
        channel.close()


def raw(
    server: Server,
    name: str,
    qtype: str = "A",
    *,
    tcp: bool = False,
    edns: int | None = None,
    rd: bool = True,
) -> Any:
    """One query by dnslib, the reply parsed (blocking)."""
    query = DNSRecord.question(name, qtype)
    query.header.rd = int(rd)
    if edns is not None:
        query.add_ar(EDNS0(udp_len=edns))
    data = query.send(server.host, server.port, tcp=tcp, timeout=3, ipv6=":" in server.host)
    return DNSRecord.parse(data)


async def araw(server: Server, name: str, qtype: str = "A", **kw: Any) -> Any:
    return await asyncio.to_thread(raw, server, name, qtype, **kw)


def rdata(reply: Any, section: str = "rr") -> list[str]:
    return [str(rr.rdata) for rr in getattr(reply, section)]


# -- positive answers ------------------------------------------------------------


async def test_a_and_aaaa_with_ttls(dns_server: DNSServer) -> None:
    dns_server.add("www.test", "A", "127.0.0.1", ttl=300)
    dns_server.add("www.test", "A", "127.0.0.2", ttl=300)
    dns_server.add("www.test", "AAAA", "::1", ttl=120)
    result, err = await cares(dns_server, "www.test", "A")
    assert err is None
    assert sorted((r.data.addr, r.ttl) for r in result.answer) == [
        ("127.0.0.1", 300),
        ("127.0.0.2", 300),
    ]
    result, err = await cares(dns_server, "www.test", "AAAA")
    assert err is None
    assert [(r.data.addr, r.ttl) for r in result.answer] == [("::1", 120)]


@pytest.mark.parametrize("text", ["::ffff:127.0.0.1", "::ffff:7f00:1"])
async def test_ipv4_mapped_aaaa_in_either_spelling(dns_server: DNSServer, text: str) -> None:
    # Python 3.13 prints IPv4-mapped addresses dotted; dnslib cannot read that form.
    dns_server.add("mapped.test", "AAAA", text)
    dns_server.add_host("host.test", str(ipaddress.IPv6Address("::ffff:7f00:1")))
    for name in ("mapped.test", "host.test"):
        result, err = await cares(dns_server, name, "AAAA")
        assert err is None
        [record] = result.answer
        assert ipaddress.IPv6Address(record.data.addr) == ipaddress.IPv6Address(text)


async def test_cname_chain_is_followed_in_order(dns_server: DNSServer) -> None:
    dns_server.add("alias.test", "CNAME", "alias2.test", ttl=60)
    dns_server.add("alias2.test", "CNAME", "www.test", ttl=30)
    dns_server.add("www.test", "A", "127.0.0.1", ttl=300)
    reply = await araw(dns_server, "alias.test", "A")
    assert [(str(rr.rname), QTYPE[rr.rtype], rr.ttl) for rr in reply.rr] == [
        ("alias.test.", "CNAME", 60),
        ("alias2.test.", "CNAME", 30),
        ("www.test.", "A", 300),
    ]
    result, err = await cares(dns_server, "alias.test", "A")
    assert err is None
    assert [r.data.addr for r in result.answer if r.type == QTYPE.A] == ["127.0.0.1"]
    # asking for the CNAME itself does not follow it
    reply = await araw(dns_server, "alias.test", "CNAME")
    assert rdata(reply) == ["alias2.test."]


async def test_cname_to_missing_name_is_nxdomain_with_the_chain(dns_server: DNSServer) -> None:
    dns_server.add("dangling.test", "CNAME", "gone.test", ttl=60)
    reply = await araw(dns_server, "dangling.test", "A")
    assert reply.header.rcode == RCODE.NXDOMAIN
    assert rdata(reply) == ["gone.test."]
    assert str(reply.auth[0].rname) == "test."


async def test_cname_loop_does_not_hang(dns_server: DNSServer) -> None:
    dns_server.add("loop1.test", "CNAME", "loop2.test")
    dns_server.add("loop2.test", "CNAME", "loop1.test")
    reply = await araw(dns_server, "loop1.test", "A")
    assert rdata(reply) == ["loop2.test.", "loop1.test."]


def _check_mx(r: Any) -> None:
    assert (r.data.priority, r.data.exchange) == (10, "mail.test")


def _check_txt(r: Any) -> None:
    assert r.data.data == b"hello world"


def _check_srv(r: Any) -> None:
    d = r.data
    assert (d.priority, d.weight, d.port, d.target) == (10, 5, 80, "www.test")


def _check_ptr(r: Any) -> None:
    assert r.data.dname == "www.test"


def _check_https(r: Any) -> None:
    d = r.data
    assert (d.priority, d.target) == (1, "")
    assert dict(d.params) == {1: b"\x02h2\x02h3", 4: bytes([127, 0, 0, 1])}


def _check_caa(r: Any) -> None:
    assert (r.data.critical, r.data.tag, r.data.value) == (0, "issue", "ca.test")


def _check_ns(r: Any) -> None:
    assert r.data.nsdname == "ns1.test"


@pytest.mark.parametrize(
    ("name", "rtype", "text", "check"),
    [
        ("test", "MX", "10 mail.test", _check_mx),
        ("test", "TXT", "hello world", _check_txt),
        ("_http._tcp.test", "SRV", "10 5 80 www.test", _check_srv),
        ("1.0.0.127.in-addr.arpa", "PTR", "www.test", _check_ptr),
        ("svc.test", "HTTPS", '1 . alpn="h2,h3" ipv4hint=127.0.0.1', _check_https),
        ("test", "CAA", '0 issue "ca.test"', _check_caa),
        ("test", "NS", "ns1.test", _check_ns),
    ],
)
async def test_text_rdata_types(
    dns_server: DNSServer, name: str, rtype: str, text: str, check: Any
) -> None:
    dns_server.add(name, rtype, text, ttl=77)
    result, err = await cares(dns_server, name, rtype)
    assert err is None
    [record] = result.answer
    assert record.ttl == 77
    check(record)


async def test_quoted_txt_is_several_strings(dns_server: DNSServer) -> None:
    dns_server.add("multi.test", "TXT", '"a b" "c"')
    dns_server.add("long.test", "TXT", "x" * 300)
    reply = await araw(dns_server, "multi.test", "TXT")
    assert rdata(reply) == ['"a b","c"']
    reply = await araw(dns_server, "long.test", "TXT", tcp=True)
    assert [len(s) for s in reply.rr[0].rdata.data] == [255, 45]


async def test_bad_record_data_is_refused_at_add(dns_server: DNSServer) -> None:
    with pytest.raises(ValueError, match="A record data"):
        dns_server.add("x.test", "A", "not-an-ip")
    with pytest.raises(ValueError, match="A record data"):
        dns_server.add("x.test", "A", "::1")
    with pytest.raises(ValueError, match="unknown record type"):
        dns_server.add("x.test", "BOGUS", "1")


async def test_add_host_sorts_by_family(dns_server: DNSServer) -> None:
    dns_server.add_host("h.test", "127.0.0.5", "::5", "127.0.0.6", ttl=42)
    reply = await araw(dns_server, "h.test", "A")
    assert rdata(reply) == ["127.0.0.5", "127.0.0.6"]
    assert {rr.ttl for rr in reply.rr} == {42}
    reply = await araw(dns_server, "h.test", "AAAA")
    assert rdata(reply) == ["::5"]


async def test_same_data_again_only_updates_ttl(dns_server: DNSServer) -> None:
    dns_server.add("www.test", "A", "127.0.0.1", ttl=300)
    dns_server.add("www.test", "A", "127.0.0.1", ttl=5)
    reply = await araw(dns_server, "www.test")
    assert [(str(rr.rdata), rr.ttl) for rr in reply.rr] == [("127.0.0.1", 5)]


async def test_any_query_returns_every_type(dns_server: DNSServer) -> None:
    dns_server.add_host("www.test", "127.0.0.1", "::1")
    reply = await araw(dns_server, "www.test", "ANY", tcp=True)
    assert sorted(QTYPE[rr.rtype] for rr in reply.rr) == ["A", "AAAA"]


async def test_zone_changes_apply_to_the_next_query(dns_server: DNSServer) -> None:
    dns_server.add_host("www.test", "127.0.0.1", "::1")
    assert rdata(await araw(dns_server, "www.test", "AAAA")) == ["::1"]
    dns_server.remove("www.test", "AAAA")
    reply = await araw(dns_server, "www.test", "AAAA")
    assert (reply.header.rcode, reply.rr) == (RCODE.NOERROR, [])
    assert rdata(await araw(dns_server, "www.test", "A")) == ["127.0.0.1"]
    dns_server.remove("www.test")
    assert (await araw(dns_server, "www.test", "A")).header.rcode == RCODE.NXDOMAIN
    dns_server.add("www.test", "A", "127.0.0.9")
    dns_server.clear()
    assert (await araw(dns_server, "www.test", "A")).header.rcode == RCODE.NXDOMAIN


# -- negative answers and SOA ----------------------------------------------------


async def test_nodata_and_nxdomain_carry_soa_with_min_ttl(dns_server: DNSServer) -> None:
    dns_server.set_soa("test", ttl=3600, minimum=5)
    dns_server.add("www.test", "A", "127.0.0.1")

    nodata = await araw(dns_server, "www.test", "AAAA")
    assert (nodata.header.rcode, nodata.rr) == (RCODE.NOERROR, [])
    [soa] = nodata.auth
    assert (str(soa.rname), QTYPE[soa.rtype], soa.ttl) == ("test.", "SOA", 5)
    assert soa.rdata.times[-1] == 5

    nx = await araw(dns_server, "nope.test", "A")
    assert (nx.header.rcode, nx.rr) == (RCODE.NXDOMAIN, [])
    assert [(str(rr.rname), rr.ttl) for rr in nx.auth] == [("test.", 5)]

    dns_server.set_soa("test", ttl=2, minimum=30)  # RFC 2308: the smaller of the two
    nx = await araw(dns_server, "nope.test", "A")
    assert nx.auth[0].ttl == 2

    # what c-ares makes of them
    assert (await cares(dns_server, "www2.test", "AAAA"))[1] == ENOTFOUND
    assert (await cares(dns_server, "www.test", "AAAA"))[1] == ENODATA


async def test_longest_soa_apex_wins(dns_server: DNSServer) -> None:
    dns_server.set_soa("test", ttl=3600, minimum=50)
    dns_server.set_soa("sub.test", ttl=3600, minimum=3)
    nx = await araw(dns_server, "x.sub.test", "A")
    assert [(str(rr.rname), rr.ttl) for rr in nx.auth] == [("sub.test.", 3)]
    nx = await araw(dns_server, "x.other.test", "A")
    assert [(str(rr.rname), rr.ttl) for rr in nx.auth] == [("test.", 50)]


async def test_soa_query_at_apex_is_positive(dns_server: DNSServer) -> None:
    dns_server.set_soa("zone.test", ttl=1234, minimum=7)
    reply = await araw(dns_server, "zone.test", "SOA")
    assert reply.header.rcode == RCODE.NOERROR
    [soa] = reply.rr
    assert (str(soa.rname), soa.ttl, soa.rdata.times[-1]) == ("zone.test.", 1234, 7)
    result, err = await cares(dns_server, "zone.test", "SOA")
    assert err is None
    assert (result.answer[0].ttl, result.answer[0].data.minimum) == (1234, 7)
    # the apex exists: other types there are NODATA, names below it NXDOMAIN
    assert (await araw(dns_server, "zone.test", "A")).header.rcode == RCODE.NOERROR
    below = await araw(dns_server, "x.zone.test", "SOA")
    assert (below.header.rcode, below.rr) == (RCODE.NXDOMAIN, [])
    assert below.auth[0].ttl == 7


async def test_default_soa_at_last_label(dns_server: DNSServer) -> None:
    nx = await araw(dns_server, "x.y.test", "A")
    assert nx.header.rcode == RCODE.NXDOMAIN
    [soa] = nx.auth
    assert (str(soa.rname), soa.ttl) == ("test.", 60)
    top = await araw(dns_server, "test", "SOA")
    assert [(str(rr.rname), rr.ttl) for rr in top.rr] == [("test.", 3600)]

    dns_server.default_negative_ttl = 7
    assert (await araw(dns_server, "x.y.test", "A")).auth[0].ttl == 7
    dns_server.default_negative_ttl = 7200  # larger than 3600 still counts
    assert (await araw(dns_server, "x.y.test", "A")).auth[0].ttl == 7200

    dns_server.default_negative_ttl = None
    nx = await araw(dns_server, "x.y.test", "A")
    assert (nx.header.rcode, nx.auth) == (RCODE.NXDOMAIN, [])
    assert (await araw(dns_server, "test", "SOA")).rr == []


async def test_empty_non_terminal_is_nodata(dns_server: DNSServer) -> None:
    dns_server.add("a.b.c.test", "A", "127.0.0.1")
    for name in ("b.c.test", "c.test"):
        reply = await araw(dns_server, name, "A")
        assert (reply.header.rcode, reply.rr) == (RCODE.NOERROR, [])
        assert str(reply.auth[0].rname) == "test."
    assert (await araw(dns_server, "z.b.c.test", "A")).header.rcode == RCODE.NXDOMAIN


# -- message details --------------------------------------------------------------


async def test_question_case_is_echoed(dns_server: DNSServer) -> None:
    dns_server.add("www.test", "A", "127.0.0.1")
    reply = await araw(dns_server, "wWw.TeSt", "A")
    assert str(reply.q.qname) == "wWw.TeSt."
    assert rdata(reply) == ["127.0.0.1"]
    assert str(reply.rr[0].rname).lower() == "www.test."
    assert dns_server.queries[-1].name == "www.test"


@pytest.mark.parametrize("rd", [True, False])
async def test_flags(dns_server: DNSServer, rd: bool) -> None:
    dns_server.add("www.test", "A", "127.0.0.1")
    query = DNSRecord.question("www.test")
    query.header.rd = int(rd)
    reply = DNSRecord.parse(
        await asyncio.to_thread(query.send, "127.0.0.1", dns_server.port, timeout=3)
    )
    h = reply.header
    assert (h.id, h.qr, h.aa, h.ra, h.rd, h.tc) == (query.header.id, 1, 1, 1, int(rd), 0)


async def test_edns_opt_only_when_asked(dns_server: DNSServer) -> None:
    dns_server.add("www.test", "A", "127.0.0.1")
    with_edns = await araw(dns_server, "www.test", edns=1232)
    assert [QTYPE[rr.rtype] for rr in with_edns.ar] == ["OPT"]
    plain = await araw(dns_server, "www.test")
    assert plain.ar == []


async def test_udp_truncation_follows_payload_size(dns_server: DNSServer) -> None:
    for i in range(40):  # 40 A records: ~670 bytes
        dns_server.add("many.test", "A", f"127.0.1.{i}")
    small = await araw(dns_server, "many.test")  # no EDNS: 512 bytes
    assert (small.header.tc, small.rr, str(small.q.qname)) == (1, [], "many.test.")
    big = await araw(dns_server, "many.test", edns=1232)
    assert (big.header.tc, len(big.rr)) == (0, 40)
    over_tcp = await araw(dns_server, "many.test", tcp=True)
    assert (over_tcp.header.tc, len(over_tcp.rr)) == (0, 40)
    result, err = await cares(dns_server, "many.test")
    assert err is None and len(result.answer) == 40


async def test_junk_input_is_ignored(dns_server: DNSServer) -> None:
    dns_server.add("www.test", "A", "127.0.0.1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for junk in (b"", b"\x00", os.urandom(7), b"\xff" * 40):
            sock.sendto(junk, ("127.0.0.1", dns_server.port))
    assert rdata(await araw(dns_server, "www.test")) == ["127.0.0.1"]


# -- faults ------------------------------------------------------------------------


async def test_delay_does_not_block_other_queries(dns_server: DNSServer) -> None:
    dns_server.add_host("slow.test", "127.0.0.1", "::1")
    dns_server.fault("slow.test", "AAAA", Fault.delay(0.8))
    start = time.monotonic()
    slow = asyncio.ensure_future(cares(dns_server, "slow.test", "AAAA", timeout=3))
    await dns_server.wait_for_queries(1, name="slow.test", qtype="AAAA")
    result, err = await cares(dns_server, "slow.test", "A")  # same name, other type
    assert err is None and not slow.done()
    result, err = await slow
    assert err is None and result.answer[0].data.addr == "::1"
    assert time.monotonic() - start >= 0.75


async def test_drop_makes_the_client_time_out(dns_server: DNSServer) -> None:
    dns_server.add("x.test", "A", "127.0.0.1")
    dns_server.fault("x.test", "A", Fault.drop())
    result, err = await cares(dns_server, "x.test", "A", timeout=0.3)
    assert (result, err) == (None, ETIMEOUT)
    assert dns_server.count("x.test", "A") >= 1


@pytest.mark.parametrize(
    ("fault", "errno"), [(Fault.servfail(), ESERVFAIL), (Fault.refused(), EREFUSED)]
)
async def test_error_rcodes(dns_server: DNSServer, fault: Fault, errno: int) -> None:
    dns_server.add("x.test", "A", "127.0.0.1")
    dns_server.fault("x.test", "A", fault)
    assert (await cares(dns_server, "x.test", "A"))[1] == errno


async def test_wildcard_fault_matches_every_type_and_exact_wins(dns_server: DNSServer) -> None:
    dns_server.add_host("x.test", "127.0.0.1", "::1")
    dns_server.fault("X.test.", None, Fault.servfail())
    dns_server.fault("x.test", "A", Fault.refused())
    assert (await araw(dns_server, "x.test", "AAAA")).header.rcode == RCODE.SERVFAIL
    assert (await araw(dns_server, "x.test", "MX")).header.rcode == RCODE.SERVFAIL
    assert (await araw(dns_server, "x.test", "A")).header.rcode == RCODE.REFUSED
    dns_server.clear_fault("x.test", "A")
    assert (await araw(dns_server, "x.test", "A")).header.rcode == RCODE.SERVFAIL
    dns_server.clear_fault("x.test", "*")
    assert (await araw(dns_server, "x.test", "A")).header.rcode == RCODE.NOERROR
    dns_server.fault("x.test", "A", Fault.refused())
    dns_server.fault("x.test", "*", Fault.refused())
    dns_server.clear_fault("x.test")  # all of the name's faults
    assert (await araw(dns_server, "x.test", "AAAA")).header.rcode == RCODE.NOERROR
    dns_server.fault("x.test", "A", Fault.refused())
    dns_server.fault("y.test", "A", Fault.refused())
    dns_server.clear_faults()
    assert (await araw(dns_server, "x.test", "A")).header.rcode == RCODE.NOERROR


async def test_truncate_sends_the_client_to_tcp(dns_server: DNSServer) -> None:
    dns_server.add("big.test", "A", "127.0.0.1")
    dns_server.fault("big.test", "A", Fault.truncate())
    udp = await araw(dns_server, "big.test", edns=4096)
    assert (udp.header.tc, udp.rr) == (1, [])
    result, err = await cares(dns_server, "big.test", "A")
    assert err is None and [r.data.addr for r in result.answer] == ["127.0.0.1"]
    assert dns_server.count("big.test", transport="tcp") == 1
    assert dns_server.count("big.test", transport="udp") == 2


@pytest.mark.parametrize("qtype", ["A", "AAAA"])
async def test_oversized_answer_arrives_over_tcp(dns_server: DNSServer, qtype: str) -> None:
    dns_server.fault("big.test", qtype, Fault.oversized(n=200))
    result, err = await cares(dns_server, "big.test", qtype)
    assert err is None
    assert len({r.data.addr for r in result.answer}) == 200
    assert dns_server.count("big.test", transport="tcp") == 1


@pytest.mark.parametrize(
    "fault",
    [Fault.garbage(), Fault.short(), Fault.wrong_id(), Fault.wrong_name()],
    ids=lambda f: f.kind,
)
async def test_broken_replies_give_the_client_an_error(dns_server: DNSServer, fault: Fault) -> None:
    dns_server.add("x.test", "A", "127.0.0.1")
    dns_server.fault("x.test", "A", fault)
    result, err = await cares(dns_server, "x.test", "A", timeout=0.3)
    assert result is None and err is not None
    dns_server.clear_fault("x.test", "A")
    result, err = await cares(dns_server, "x.test", "A")
    assert err is None and result.answer[0].data.addr == "127.0.0.1"


async def test_broken_reply_shapes(dns_server: DNSServer) -> None:
    """What each hostile fault actually puts on the wire."""
    dns_server.add("x.test", "A", "127.0.0.1")
    query = DNSRecord.question("x.test")

    def send() -> bytes:
        data: bytes = query.send("127.0.0.1", dns_server.port, timeout=3)
        return data

    dns_server.fault("x.test", "A", Fault.short())
    assert len(await asyncio.to_thread(send)) == 5
    dns_server.fault("x.test", "A", Fault.garbage())
    data = await asyncio.to_thread(send)
    assert data[:2] == struct.pack("!H", query.header.id) and len(data) > 12
    dns_server.fault("x.test", "A", Fault.wrong_id())
    reply = DNSRecord.parse(await asyncio.to_thread(send))
    assert reply.header.id != query.header.id and rdata(reply) == ["127.0.0.1"]
    dns_server.fault("x.test", "A", Fault.wrong_name())
    reply = DNSRecord.parse(await asyncio.to_thread(send))
    assert str(reply.q.qname) == str(reply.rr[0].rname) == "wrong-name.invalid."


async def test_dead_server_answers_nothing(dns_server: DNSServer) -> None:
    dns_server.add("www.test", "A", "127.0.0.1")
    dns_server.dead = True
    assert (await cares(dns_server, "www.test", "A", timeout=0.3))[1] == ETIMEOUT

    def tcp_reply() -> bytes:
        with socket.create_connection(("127.0.0.1", dns_server.port), timeout=0.3) as sock:
            packed = DNSRecord.question("www.test").pack()
            sock.sendall(struct.pack("!H", len(packed)) + packed)
            return sock.recv(100)

    with pytest.raises(socket.timeout):  # accepted, never answered
        await asyncio.to_thread(tcp_reply)
    assert dns_server.count("www.test", transport="tcp") == 1
    dns_server.dead = False
    assert (await cares(dns_server, "www.test", "A"))[1] is None


async def test_refuse_all(dns_server: DNSServer) -> None:
    dns_server.add("www.test", "A", "127.0.0.1")
    dns_server.refuse_all = True
    assert (await cares(dns_server, "www.test", "A"))[1] == EREFUSED
    dns_server.refuse_all = False
    assert (await cares(dns_server, "www.test", "A"))[1] is None


async def test_stop_cancels_delayed_replies(dns_server: DNSServer) -> None:
    dns_server.fault("slow.test", None, Fault.delay(30))
    pending = asyncio.ensure_future(cares(dns_server, "slow.test", "A", timeout=0.5))
    await dns_server.wait_for_queries(1, name="slow.test")
    start = time.monotonic()
    await dns_server.stop()
    await dns_server.stop()  # idempotent
    assert time.monotonic() - start < 10  # not the 30 s delay, even on a busy machine
    assert (await pending)[1] in (ETIMEOUT, 11)  # nothing came; port may be closed


# -- query log ---------------------------------------------------------------------


async def test_query_log_records_and_counts(dns_server: DNSServer) -> None:
    dns_server.add_host("www.test", "127.0.0.1")
    before = time.monotonic()
    await araw(dns_server, "WWW.test", "A")
    await araw(dns_server, "www.test.", "AAAA", tcp=True)
    await araw(dns_server, "other.test", "A")
    log = dns_server.queries
    assert [(q.name, q.qtype, q.transport) for q in log] == [
        ("www.test", "A", "udp"),
        ("www.test", "AAAA", "tcp"),
        ("other.test", "A", "udp"),
    ]
    assert all(isinstance(q, QueryRecord) and q.time >= before for q in log)
    assert log[0].time <= log[1].time <= log[2].time
    assert dns_server.count() == 3
    assert dns_server.count("Www.Test.") == 2
    assert dns_server.count(qtype="a") == 2
    assert dns_server.count("www.test", "A", "udp") == 1
    assert dns_server.count(transport="tcp") == 1
    dns_server.reset_log()
    assert (dns_server.queries, dns_server.count()) == ([], 0)


async def test_wait_for_queries(dns_server: DNSServer) -> None:
    dns_server.add("www.test", "A", "127.0.0.1")
    waiter = asyncio.ensure_future(dns_server.wait_for_queries(2, name="www.test"))
    await asyncio.sleep(0)
    assert not waiter.done()
    await araw(dns_server, "www.test")
    await araw(dns_server, "other.test")
    await asyncio.sleep(0)
    assert not waiter.done()
    await araw(dns_server, "www.test")
    await asyncio.wait_for(waiter, 2)
    await dns_server.wait_for_queries(1, qtype="A")  # already there: returns at once
    with pytest.raises(asyncio.TimeoutError, match="saw 2 of 3"):
        await dns_server.wait_for_queries(3, name="www.test", timeout=0.05)


# -- transports ---------------------------------------------------------------------


async def _tcp_exchange(server: DNSServer, queries: list[Any]) -> list[Any]:
    """Send all queries in one write on one connection; read as many replies."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        payload = b""
        for query in queries:
            packed = query.pack()
            payload += struct.pack("!H", len(packed)) + packed
        writer.write(payload)
        replies = []
        for _ in queries:
            (size,) = struct.unpack("!H", await reader.readexactly(2))
            replies.append(DNSRecord.parse(await reader.readexactly(size)))
        return replies
    finally:
        writer.close()
        await writer.wait_closed()


async def test_tcp_pipelining(dns_server: DNSServer) -> None:
    dns_server.add_host("www.test", "127.0.0.1", "::1")
    qa, qaaaa = DNSRecord.question("www.test", "A"), DNSRecord.question("www.test", "AAAA")
    replies = await asyncio.wait_for(_tcp_exchange(dns_server, [qa, qaaaa]), 3)
    by_id = {r.header.id: rdata(r) for r in replies}
    assert by_id == {qa.header.id: ["127.0.0.1"], qaaaa.header.id: ["::1"]}
    assert dns_server.count(transport="tcp") == 2


async def test_tcp_delayed_reply_does_not_hold_up_the_next(dns_server: DNSServer) -> None:
    dns_server.add_host("www.test", "127.0.0.1", "::1")
    dns_server.fault("www.test", "A", Fault.delay(0.3))
    qa, qaaaa = DNSRecord.question("www.test", "A"), DNSRecord.question("www.test", "AAAA")
    replies = await asyncio.wait_for(_tcp_exchange(dns_server, [qa, qaaaa]), 3)
    assert [r.header.id for r in replies] == [qaaaa.header.id, qa.header.id]


async def test_udp_and_tcp_share_the_port() -> None:
    async with DNSServer(port=0) as server:
        server.add("www.test", "A", "127.0.0.1")
        assert server.address == f"127.0.0.1:{server.port}"
        assert rdata(await araw(server, "www.test")) == ["127.0.0.1"]
        assert rdata(await araw(server, "www.test", tcp=True)) == ["127.0.0.1"]
        assert server.count(transport="udp") == server.count(transport="tcp") == 1
    with pytest.raises(RuntimeError):
        _ = server.port  # stopped: no port


async def test_explicit_port_and_restart() -> None:
    async with DNSServer() as first:
        port = first.port
    server = DNSServer(port=port)
    assert server.address == f"127.0.0.1:{port}"
    await server.start()
    try:
        with pytest.raises(RuntimeError):
            await server.start()
        server.add("www.test", "A", "127.0.0.1")
        assert rdata(await araw(server, "www.test")) == ["127.0.0.1"]
    finally:
        await server.stop()
    await server.start()  # again, same zone
    try:
        assert rdata(await araw(server, "www.test", tcp=True)) == ["127.0.0.1"]
    finally:
        await server.stop()


async def test_port_53_when_root() -> None:
    if os.environ.get("NETJAIL_INSIDE") != "1" or os.geteuid() != 0:
        pytest.skip("binds port 53: only as root inside netjail")
    try:
        server = DNSServer(host="127.0.0.1", port=53)
        await server.start()
    except OSError as exc:
        pytest.skip(f"port 53 unavailable: {exc}")
    try:
        server.add("bench.test", "A", "127.0.0.1")
        assert server.address == "127.0.0.1:53"
        result, err = await cares(server, "bench.test")
        assert err is None and result.answer[0].data.addr == "127.0.0.1"
    finally:
        await server.stop()


async def test_ipv6_fixture(dns_server_v6: DNSServer) -> None:
    assert dns_server_v6.address == f"[::1]:{dns_server_v6.port}"
    dns_server_v6.add_host("six.test", "::1", "127.0.0.1")
    result, err = await cares(dns_server_v6, "six.test", "AAAA")
    assert err is None and result.answer[0].data.addr == "::1"
    assert rdata(await araw(dns_server_v6, "six.test", tcp=True)) == ["127.0.0.1"]


# -- thread-hosted server and fixtures ------------------------------------------------


def test_threaded_server_sync() -> None:
    with ThreadedDNSServer() as server:
        thread = server._thread
        assert thread is not None and thread.is_alive()
        server.add("www.test", "A", "127.0.0.1", ttl=9)
        server.set_soa("test", minimum=4)
        reply = raw(server, "www.test")
        assert [(str(rr.rdata), rr.ttl) for rr in reply.rr] == [("127.0.0.1", 9)]
        assert raw(server, "no.test").auth[0].ttl == 4
        server.fault("www.test", "A", Fault.servfail())
        assert raw(server, "www.test", tcp=True).header.rcode == RCODE.SERVFAIL
        server.wait_for_queries(3)
        assert server.count("www.test") == 2
        with pytest.raises(asyncio.TimeoutError):  # TimeoutError on 3.11+
            server.wait_for_queries(10, timeout=0.05)

        # a query answered while this thread blocks in wait_for_queries
        later = threading.Timer(0.05, raw, (server, "late.test"))
        later.start()
        server.wait_for_queries(1, name="late.test", timeout=3)
        later.join()
        server.stop()
        server.stop()  # idempotent
        assert not thread.is_alive()


def test_threaded_server_bind_error_is_raised() -> None:
    with ThreadedDNSServer() as taken:
        clash = ThreadedDNSServer(port=taken.port)
        with pytest.raises(OSError):
            clash.start()
        clash.stop()  # never started: nothing to do


async def test_threaded_fixture_from_async_code(threaded_dns_server: ThreadedDNSServer) -> None:
    threaded_dns_server.add("www.test", "A", "127.0.0.1")
    result, err = await cares(threaded_dns_server, "www.test")
    assert err is None and result.answer[0].data.addr == "127.0.0.1"
    assert threaded_dns_server.queries[0].name == "www.test"


async def test_dns_server_fixture_is_running(dns_server: DNSServer) -> None:
    assert isinstance(dns_server, DNSServer)
    assert dns_server.host == "127.0.0.1"
    assert dns_server.address == f"127.0.0.1:{dns_server.port}"


def test_plugin_imports_no_http_client() -> None:
    code = (
        "import sys, asyncdns_connect.testing.plugin\n"
        "bad = {'aiohttp', 'httpx'} & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_bind_same_port_gives_one_port_on_both_loopbacks() -> None:
    try:
        socks = bind_same_port("127.0.0.1", "::1")
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback: {exc}")
    try:
        assert len({s.getsockname()[1] for s in socks}) == 1
        assert {s.family for s in socks} == {socket.AF_INET, socket.AF_INET6}
    finally:
        for s in socks:
            s.close()


def test_black_hole_leaves_connects_unanswered() -> None:
    with BlackHole.on("127.0.0.1") as hole:
        assert hole.hangs(wait=0.3)
        probe = socket.socket()
        probe.settimeout(0.3)
        with pytest.raises(TimeoutError):
            probe.connect((hole.host, hole.port))
        probe.close()
