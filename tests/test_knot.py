"""The Resolver against a real authoritative server: Knot DNS (knotd) on loopback.

Our test server is written by us; knotd checks that the resolver reads the
answers of a server it did not write (CNAME chains, SOA in negative answers,
NODATA) the same way. Zone changes go through knotc.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pycares
import pytest
from _knot import KnotServer, knotd_available
from _resolving import no_loop_errors  # noqa: F401 (fixture)

from asyncdns_connect import Address, NameNotFoundError, NoAddressError, Resolver

pytestmark = [
    pytest.mark.knot,
    pytest.mark.skipif(not knotd_available(), reason="knotd is not installed"),
]

AF_INET, AF_INET6 = socket.AF_INET, socket.AF_INET6
NEGATIVE_TTL = 2  # the SOA MINIMUM below (the SOA's own TTL is larger)

ZONE = """\
$ORIGIN knot.test.
$TTL 300
@        3600 IN SOA ns.knot.test. hostmaster.knot.test. 1 3600 600 86400 2
@             IN NS    ns
ns            IN A     127.0.0.1
www      120  IN A     192.0.2.10
www      120  IN AAAA  2001:db8::10
alias    30   IN CNAME www
outer    300  IN CNAME alias
v4only        IN A     192.0.2.11
grows         IN A     192.0.2.13
@             IN MX    10 mail
@             IN MX    20 backup
mail          IN A     192.0.2.12
"""


@pytest.fixture(scope="module")
def knot() -> Iterator[KnotServer]:
    with KnotServer("knot.test", ZONE) as server:
        yield server




@pytest.fixture
async def resolver(knot: KnotServer) -> AsyncIterator[Resolver]:
    async with Resolver(nameservers=[knot.address], hosts_file=False, timeout=2.0,
                        tries=2) as r:
        yield r


async def test_both_families(resolver: Resolver) -> None:
    addrs = await resolver.resolve("WWW.knot.test.")
    assert sorted(addrs) == [Address("192.0.2.10", AF_INET, 120),
                             Address("2001:db8::10", AF_INET6, 120)]
    assert await resolver.resolve("www.knot.test", AF_INET6) == (
        Address("2001:db8::10", AF_INET6, 120),)
    queries = resolver.stats().queries
    await resolver.resolve("www.knot.test")
    assert resolver.stats().queries == queries  # cached


async def test_cname_chain_ttl_is_the_minimum(resolver: Resolver) -> None:
    addrs = await resolver.resolve("outer.knot.test")
    assert sorted(a.host for a in addrs) == ["192.0.2.10", "2001:db8::10"]
    assert {a.ttl for a in addrs} == {30}


async def test_nxdomain(resolver: Resolver) -> None:
    with pytest.raises(NameNotFoundError) as info:
        await resolver.resolve("nope.knot.test")
    assert "nope.knot.test" in str(info.value)
    assert info.value.status == pycares.errno.ARES_ENOTFOUND
    assert info.value.errno is None


async def test_nodata(resolver: Resolver) -> None:
    assert await resolver.resolve("v4only.knot.test") == (
        Address("192.0.2.11", AF_INET, 300),)
    with pytest.raises(NoAddressError):
        await resolver.resolve("v4only.knot.test", AF_INET6)


async def test_negative_answers_live_for_the_soa_minimum(knot: KnotServer,
                                                         resolver: Resolver) -> None:
    with pytest.raises(NameNotFoundError):
        await resolver.resolve("appears.knot.test")
    assert await resolver.resolve("grows.knot.test") == (Address("192.0.2.13", AF_INET, 300),)
    queries = resolver.stats().queries
    knot.edit(("set", "appears.knot.test.", "300", "A", "192.0.2.50"),
              ("set", "grows.knot.test.", "300", "AAAA", "2001:db8::13"))
    # Within the negative TTL: answered from the cache, nothing sent.
    with pytest.raises(NameNotFoundError):
        await resolver.resolve("appears.knot.test")
    assert [a.host for a in await resolver.resolve("grows.knot.test")] == ["192.0.2.13"]
    assert resolver.stats().queries == queries
    await asyncio.sleep(NEGATIVE_TTL + 0.5)
    # After it: asked again, and c-ares's own cache (an hour for NODATA) stays out.
    addrs = await resolver.resolve("appears.knot.test")
    assert [a.host for a in addrs] == ["192.0.2.50"]
    assert sorted(a.host for a in await resolver.resolve("grows.knot.test")) == [
        "192.0.2.13", "2001:db8::13"]
    assert resolver.stats().queries > queries


async def test_mx_via_query_dns(resolver: Resolver) -> None:
    result = await resolver.query_dns("knot.test", "MX")
    assert sorted((r.data.priority, r.data.exchange) for r in result.answer) == [
        (10, "mail.knot.test"), (20, "backup.knot.test")]
    soa = await resolver.query_dns("knot.test", pycares.QUERY_TYPE_SOA)
    assert soa.answer[0].data.minimum == NEGATIVE_TTL
