"""The aiodns-compatible half of Resolver: query_dns, getaddrinfo, gethostbyaddr,
getnameinfo, cancel, against the loopback DNS server, and beside aiodns itself.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import aiodns
import pycares
import pytest
from _blockbuster import blockbuster  # noqa: F401 (autouse: no blocking call on the loop)
from _resolving import make, no_loop_errors  # noqa: F401 (fixture)
from dnslib import RD

from asyncdns_connect import (
    DNSError,
    DNSTimeoutError,
    InvalidHostError,
    NameNotFoundError,
    NoAddressError,
    RefusedError,
    Resolver,
    ResolverClosedError,
    ServerFailureError,
)
from asyncdns_connect.testing import DNSServer, Fault

AF_INET, AF_INET6, AF_UNSPEC = socket.AF_INET, socket.AF_INET6, socket.AF_UNSPEC






@pytest.fixture
async def zone(dns_server: DNSServer) -> DNSServer:
    s = dns_server
    s.add_host("www.test", "192.0.2.1", "2001:db8::1", ttl=120)
    s.add("alias.test", "CNAME", "www.test", ttl=60)
    s.add("www.test", "MX", "10 mail.test")
    s.add("www.test", "MX", "20 backup.test")
    s.add("test", "NS", "ns1.test")
    s.add("5.2.0.192.in-addr.arpa", "PTR", "host5.test")
    s.add("1.0.0.127.in-addr.arpa", "PTR", "loopback.test")
    s.set_soa("test", ttl=3600, minimum=60, serial=2024)
    s.add("_sip._udp.test", "SRV", "10 5 5060 sip.test")
    s.add("www.test", "TXT", "v=spf1 -all")
    s.add("www.test", "CAA", '0 issue "ca.test"')
    s.add("www.test", "NAPTR", '100 10 "S" "SIP+D2U" "" _sip._udp.test.')
    s.add("www.test", "HTTPS", '1 . alpn="h2,h3" port=8443')
    s.add("_443._tcp.www.test", "TLSA", "3 1 1 0123456789abcdef")
    # dnslib has no URI type: its wire form by hand (RFC 7553: priority, weight, target).
    s.add("_http._tcp.test", "URI", RD(struct.pack("!HH", 10, 1) + b"https://www.test/"))
    return s


@pytest.fixture
async def resolver(zone: DNSServer) -> AsyncIterator[Resolver]:
    async with make(zone) as r:
        yield r


def datas(result: Any) -> list[Any]:
    return [rec.data for rec in result.answer]


# -- query_dns ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "qtype", "check"),
    [
        ("www.test", "A", lambda d: [x.addr for x in d] == ["192.0.2.1"]),
        ("www.test", "AAAA", lambda d: [x.addr for x in d] == ["2001:db8::1"]),
        ("alias.test", "CNAME", lambda d: [x.cname for x in d] == ["www.test"]),
        ("www.test", "MX", lambda d: sorted((x.priority, x.exchange) for x in d)
         == [(10, "mail.test"), (20, "backup.test")]),
        ("test", "NS", lambda d: [x.nsdname for x in d] == ["ns1.test"]),
        ("5.2.0.192.in-addr.arpa", "PTR", lambda d: [x.dname for x in d] == ["host5.test"]),
        ("test", "SOA", lambda d: len(d) == 1 and d[0].serial == 2024 and d[0].minimum == 60),
        ("_sip._udp.test", "SRV", lambda d: [(x.priority, x.weight, x.port, x.target)
                                             for x in d] == [(10, 5, 5060, "sip.test")]),
        ("www.test", "TXT", lambda d: [x.data for x in d] == [b"v=spf1 -all"]),
        ("www.test", "CAA", lambda d: [(x.critical, x.tag, x.value) for x in d]
         == [(0, "issue", "ca.test")]),
        ("www.test", "NAPTR", lambda d: [(x.order, x.preference, x.service) for x in d]
         == [(100, 10, "SIP+D2U")]),
        ("www.test", "HTTPS", lambda d: d[0].priority == 1
         and dict(d[0].params)[1] == b"\x02h2\x02h3"
         and dict(d[0].params)[3] == struct.pack("!H", 8443)),
        ("_443._tcp.www.test", "TLSA", lambda d: [(x.cert_usage, x.selector, x.matching_type,
                                                   x.cert_association_data) for x in d]
         == [(3, 1, 1, bytes.fromhex("0123456789abcdef"))]),
        ("_http._tcp.test", "URI", lambda d: [(x.priority, x.weight, x.target) for x in d]
         == [(10, 1, "https://www.test/")]),
    ],
    ids=lambda v: v if isinstance(v, str) and v.isupper() else "",
)
async def test_query_dns_record_types(zone: DNSServer, resolver: Resolver, name: str,
                                      qtype: str, check: Any) -> None:
    code = getattr(pycares, f"QUERY_TYPE_{qtype}")
    for spelled in (qtype, qtype.lower(), code):
        result = await resolver.query_dns(name, spelled)
        assert isinstance(result, pycares.DNSResult)
        assert all(rec.type == code for rec in result.answer) or qtype == "CNAME"
        assert check(datas(result)), result
    assert zone.count(name, qtype) >= 1


async def test_query_dns_ttl_and_name(resolver: Resolver) -> None:
    result = await resolver.query_dns("WWW.test.", "A")
    [rec] = result.answer
    assert rec.ttl == 120
    assert rec.name.lower() == "www.test"
    assert rec.record_class == pycares.QUERY_CLASS_IN


@pytest.mark.parametrize("qtype", ["A", "MX", "TXT", "SOA", "CAA", "NAPTR", "SRV"])
async def test_query_dns_same_as_aiodns(zone: DNSServer, resolver: Resolver, qtype: str) -> None:
    name = {"SOA": "test", "SRV": "_sip._udp.test"}.get(qtype, "www.test")
    theirs = aiodns.DNSResolver(nameservers=[zone.address], timeout=2.0, tries=2)
    try:
        expected = await theirs.query_dns(name, qtype)
    finally:
        await theirs.close()
    assert await resolver.query_dns(name, qtype) == expected


@pytest.mark.parametrize(
    ("setup", "name", "qtype", "error"),
    [
        (None, "nope.test", "A", NameNotFoundError),
        (None, "www.test", "SRV", NoAddressError),
        (Fault.servfail(), "www.test", "MX", ServerFailureError),
        (Fault.refused(), "www.test", "TXT", RefusedError),
    ],
    ids=["nxdomain", "nodata", "servfail", "refused"],
)
async def test_query_dns_errors(zone: DNSServer, resolver: Resolver, setup: Fault | None,
                                name: str, qtype: str, error: type[DNSError]) -> None:
    if setup is not None:
        zone.fault(name, qtype, setup)
    with pytest.raises(error) as info:
        await resolver.query_dns(name, qtype)
    assert isinstance(info.value, OSError)
    assert info.value.status == error.default_status
    assert info.value.errno is None
    assert repr(name) in str(info.value)
    assert resolver.stats().errors[error.__name__] == 1


async def test_query_dns_timeout(zone: DNSServer) -> None:
    zone.fault("www.test", "MX", Fault.drop())
    async with make(zone, timeout=0.3, tries=1) as r:
        start = time.monotonic()
        with pytest.raises(DNSTimeoutError):
            await r.query_dns("www.test", "MX")
        assert 0.25 <= time.monotonic() - start < 1.5


async def test_query_dns_bad_arguments(zone: DNSServer, resolver: Resolver) -> None:
    with pytest.raises(ValueError, match="query type"):
        await resolver.query_dns("www.test", "NOPE")
    with pytest.raises(ValueError, match="class"):
        await resolver.query_dns("www.test", "A", pycares.QUERY_CLASS_CHAOS)
    assert zone.queries == []


async def test_query_dns_merges_nothing_and_sends_each(zone: DNSServer,
                                                       resolver: Resolver) -> None:
    # aiodns semantics: query_dns is not the address cache; resolve() is unaffected.
    await resolver.query_dns("www.test", "A")
    assert resolver.stats().cache_size == 0
    await resolver.resolve("www.test")
    assert zone.count("www.test", "A") == 2


# -- getaddrinfo -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        (AF_UNSPEC, {(AF_INET, b"192.0.2.1"), (AF_INET6, b"2001:db8::1")}),
        (AF_INET, {(AF_INET, b"192.0.2.1")}),
        (AF_INET6, {(AF_INET6, b"2001:db8::1")}),
    ],
)
async def test_getaddrinfo(resolver: Resolver, family: int,
                           expected: set[tuple[int, bytes]]) -> None:
    result = await resolver.getaddrinfo("www.test", family, 443)  # aiodns order
    assert isinstance(result, pycares.AddrInfoResult)
    assert {(n.family, n.addr[0]) for n in result.nodes} == expected
    assert {n.addr[1] for n in result.nodes} == {443}
    assert {n.ttl for n in result.nodes} == {120}


async def test_getaddrinfo_same_as_aiodns(zone: DNSServer, resolver: Resolver) -> None:
    theirs = aiodns.DNSResolver(nameservers=[zone.address], timeout=2.0, tries=2)
    try:
        expected = await theirs.getaddrinfo("alias.test", port=80)
    finally:
        await theirs.close()
    result = await resolver.getaddrinfo("alias.test", port=80)
    assert result.nodes == expected.nodes
    assert result.cnames == expected.cnames


async def test_getaddrinfo_error(resolver: Resolver) -> None:
    with pytest.raises(NameNotFoundError) as info:
        await resolver.getaddrinfo("nope.test", 0, 80)
    assert "nope.test" in str(info.value)


# -- gethostbyaddr and getnameinfo -------------------------------------------------------------


async def test_gethostbyaddr_uses_ptr(zone: DNSServer, resolver: Resolver) -> None:
    result = await resolver.gethostbyaddr("192.0.2.5")
    assert isinstance(result, pycares.HostResult)
    assert result.name == "host5.test"
    assert result.addresses == ["192.0.2.5"]
    assert zone.count("5.2.0.192.in-addr.arpa", "PTR") == 1


async def test_gethostbyaddr_loopback(resolver: Resolver) -> None:
    # c-ares reads /etc/hosts first (localhost), else the PTR: either name will do.
    result = await asyncio.wait_for(resolver.gethostbyaddr("127.0.0.1"), 3)
    assert result.name in ("localhost", "loopback.test")
    assert "127.0.0.1" in result.addresses


async def test_gethostbyaddr_errors(resolver: Resolver) -> None:
    with pytest.raises(NameNotFoundError):
        await resolver.gethostbyaddr("192.0.2.9")
    with pytest.raises(InvalidHostError):
        await resolver.gethostbyaddr("not-an-ip")


_NI_FLAGS = [
    pycares.ARES_NI_LOOKUPHOST, pycares.ARES_NI_LOOKUPSERVICE, pycares.ARES_NI_NUMERICHOST,
    pycares.ARES_NI_NUMERICSERV, pycares.ARES_NI_NAMEREQD, pycares.ARES_NI_NOFQDN,
    pycares.ARES_NI_UDP,
]
ALL_NI_COMBINATIONS = sorted({
    sum(combo) for n in range(len(_NI_FLAGS) + 1) for combo in itertools.combinations(_NI_FLAGS, n)
})


async def test_getnameinfo_never_hangs(resolver: Resolver) -> None:
    async def one(flags: int) -> Any:
        try:
            return await resolver.getnameinfo(("127.0.0.1", 80), flags)
        except DNSError as exc:
            return exc

    results = await asyncio.wait_for(
        asyncio.gather(*(one(flags) for flags in ALL_NI_COMBINATIONS)), 5)
    for flags, result in zip(ALL_NI_COMBINATIONS, results, strict=True):
        assert isinstance(result, (pycares.NameInfoResult, DNSError)), (flags, result)


# c-ares's rule: the node only with LOOKUPHOST or without LOOKUPSERVICE; the service
# only with LOOKUPSERVICE.
@pytest.mark.parametrize(
    ("flags", "port", "node", "service"),
    [
        (pycares.ARES_NI_LOOKUPSERVICE, 80, None, "http"),
        (pycares.ARES_NI_LOOKUPSERVICE | pycares.ARES_NI_NUMERICSERV, 80, None, "80"),
        (pycares.ARES_NI_LOOKUPSERVICE | pycares.ARES_NI_UDP, 53, None, "domain"),
        (pycares.ARES_NI_LOOKUPSERVICE, 1, None, "tcpmux"),
        (pycares.ARES_NI_NUMERICHOST | pycares.ARES_NI_NUMERICSERV, 80, "127.0.0.1", None),
        (pycares.ARES_NI_NUMERICHOST | pycares.ARES_NI_LOOKUPSERVICE
         | pycares.ARES_NI_NUMERICSERV, 80, None, "80"),
        (pycares.ARES_NI_NUMERICHOST | pycares.ARES_NI_LOOKUPHOST
         | pycares.ARES_NI_LOOKUPSERVICE, 80, "127.0.0.1", "http"),
        (pycares.ARES_NI_NUMERICHOST, 80, "127.0.0.1", None),
    ],
)
async def test_getnameinfo_results(resolver: Resolver, flags: int, port: int,
                                   node: str | None, service: str | None) -> None:
    if service is not None and not service.isdigit():
        proto = "udp" if flags & pycares.ARES_NI_UDP else "tcp"
        try:
            assert socket.getservbyport(port, proto) == service
        except OSError:
            pytest.skip(f"no {service}/{proto} in this machine's services database")
    result = await asyncio.wait_for(resolver.getnameinfo(("127.0.0.1", port), flags), 3)
    assert isinstance(result, pycares.NameInfoResult)
    assert result.node == node
    assert result.service == service


async def test_getnameinfo_same_as_aiodns_where_it_answers(zone: DNSServer,
                                                           resolver: Resolver) -> None:
    theirs = aiodns.DNSResolver(nameservers=[zone.address], timeout=2.0, tries=2)
    try:
        # Not LOOKUPSERVICE without LOOKUPHOST: there aiodns never answers (pycares
        # fails inside the callback on the NULL node).
        for flags in (0, pycares.ARES_NI_NUMERICHOST, pycares.ARES_NI_NAMEREQD,
                      pycares.ARES_NI_LOOKUPHOST | pycares.ARES_NI_LOOKUPSERVICE,
                      pycares.ARES_NI_NUMERICHOST | pycares.ARES_NI_LOOKUPHOST
                      | pycares.ARES_NI_LOOKUPSERVICE | pycares.ARES_NI_NUMERICSERV):
            expected = await asyncio.wait_for(theirs.getnameinfo(("192.0.2.5", 443), flags), 3)
            assert await resolver.getnameinfo(("192.0.2.5", 443), flags) == expected
    finally:
        await theirs.close()


# -- cancel and life cycle ---------------------------------------------------------------------


async def test_cancel_fails_queries_in_flight(zone: DNSServer, resolver: Resolver) -> None:
    zone.fault("www.test", None, Fault.drop())
    pending = [asyncio.ensure_future(resolver.query_dns("www.test", t)) for t in ("A", "MX")]
    await zone.wait_for_queries(2, "www.test")
    start = time.monotonic()
    resolver.cancel()
    for task in pending:
        with pytest.raises(DNSError) as info:
            await task
        assert isinstance(info.value, ResolverClosedError)
        assert "cancel" in str(info.value)
    assert time.monotonic() - start < 0.5
    # The resolver still works afterwards.
    zone.clear_faults()
    assert datas(await resolver.query_dns("www.test", "A"))[0].addr == "192.0.2.1"


async def test_cancel_fails_resolve_in_flight(zone: DNSServer, resolver: Resolver) -> None:
    zone.fault("www.test", None, Fault.drop())
    task = asyncio.ensure_future(resolver.resolve("www.test"))
    await zone.wait_for_queries(2, "www.test")
    resolver.cancel()
    with pytest.raises(DNSError):
        await asyncio.wait_for(task, 1)


async def test_cancel_without_queries_is_harmless(zone: DNSServer) -> None:
    async with make(zone) as r:
        r.cancel()
        await r.query_dns("www.test", "A")
        r.cancel()


async def test_async_with_and_closed(zone: DNSServer) -> None:
    async with make(zone) as r:
        await r.query_dns("www.test", "A")
    assert r.closed
    with pytest.raises(ResolverClosedError):
        await r.query_dns("www.test", "A")
    with pytest.raises(ResolverClosedError):
        await r.getaddrinfo("www.test", port=80)


async def test_close_fails_query_dns_in_flight(zone: DNSServer) -> None:
    zone.fault("www.test", "MX", Fault.drop())
    r = make(zone)
    task = asyncio.ensure_future(r.query_dns("www.test", "MX"))
    await zone.wait_for_queries(1, "www.test", "MX")
    await r.close()
    with pytest.raises(ResolverClosedError):
        await asyncio.wait_for(task, 1)
