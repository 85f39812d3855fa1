"""The cache's life cycle against the loopback DNS server, counted at the server.

What issue 11 measured as broken, checked end to end: a failing upstream sees a
bounded query rate; a failing family does not disable the cache; only the due
family is refreshed; a hot name on a slow server never waits; learned fallback
survives a refresh; localhost follows the hosts file; the errors aiohttp wraps
carry no fake errno. Timing bounds are generous; the counts are what matter.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import aiohttp
import pytest
from _resolving import make, no_loop_errors  # noqa: F401 (fixture)

from asyncdns_connect import NoAddressError, ServerFailureError
from asyncdns_connect.aiohttp import connector
from asyncdns_connect.testing import DNSServer, Fault

AF_INET, AF_INET6, AF_UNSPEC = socket.AF_INET, socket.AF_INET6, socket.AF_UNSPEC


async def test_servfailing_upstream_sees_a_bounded_query_rate(dns_server: DNSServer) -> None:
    dns_server.fault("down.test", None, Fault.servfail())
    async with make(dns_server, tries=1) as r:
        lookups = 0
        end = time.monotonic() + 3.2
        while time.monotonic() < end:
            with pytest.raises(ServerFailureError):
                await r.resolve("down.test")
            lookups += 1
            await asyncio.sleep(0.001)
        # Asked at about 0, 1 and 3 s per family (failures remembered 1 s, doubling).
        assert lookups > 500
        assert dns_server.count("down.test") <= 8
        assert r.stats().hits >= lookups - 8


async def test_a_failing_aaaa_does_not_disable_the_cache(dns_server: DNSServer) -> None:
    dns_server.add_host("www.test", "192.0.2.1", "2001:db8::1")
    dns_server.fault("www.test", "AAAA", Fault.servfail())
    async with make(dns_server, tries=1) as r:
        for _ in range(20):
            assert [a.host for a in await r.resolve("www.test")] == ["192.0.2.1"]
        stats = r.stats()
        assert stats.hits == 19
        assert dns_server.count("www.test", "A") == 1
        assert dns_server.count("www.test", "AAAA") == 1


async def test_only_the_due_family_is_refreshed(dns_server: DNSServer) -> None:
    # A with TTL 300, NODATA AAAA with a negative TTL of 1 s, looked up every 50 ms.
    dns_server.set_soa("v4.test", ttl=3600, minimum=1)
    dns_server.add_host("www.v4.test", "192.0.2.1", ttl=300)
    async with make(dns_server) as r:
        end = time.monotonic() + 3.5
        while time.monotonic() < end:
            assert [a.host for a in await r.resolve("www.v4.test")] == ["192.0.2.1"]
            await asyncio.sleep(0.05)
    assert dns_server.count("www.v4.test", "A") == 1
    assert dns_server.count("www.v4.test", "AAAA") >= 3


async def test_hot_name_on_a_slow_server_never_waits(dns_server: DNSServer) -> None:
    # TTL 2 s, a 300 ms server, a lookup every 50 ms, across 3 expiries.
    dns_server.add_host("hot.test", "192.0.2.1", "2001:db8::1", ttl=2)
    dns_server.fault("hot.test", None, Fault.delay(0.3))
    async with make(dns_server) as r:
        await r.resolve("hot.test")  # the one lookup that waits
        worst = 0.0
        end = time.monotonic() + 6.5
        while time.monotonic() < end:
            start = time.perf_counter()
            await r.resolve("hot.test")
            worst = max(worst, time.perf_counter() - start)
            await asyncio.sleep(0.05)
        stats = r.stats()
    assert stats.misses == 1 and stats.stale == 0  # every later lookup was a fresh hit
    assert worst < 0.05
    for qtype in ("A", "AAAA"):
        # The first query, then one refresh per answer's life (about every 1.1 s
        # here: each lands 0.9 s ahead of expiry), never two for one answer.
        assert 4 <= dns_server.count("hot.test", qtype) <= 8


async def test_learned_fallback_survives_a_refresh(dns_server: DNSServer) -> None:
    dns_server.add_host("lb.test", "192.0.2.1", "192.0.2.2", ttl=1)
    async with make(dns_server) as r:
        first, second = (a.host for a in await r.resolve("lb.test", AF_INET))
        r.report_failure("lb.test", first)
        assert [a.host for a in await r.resolve("lb.test", AF_INET)] == [second, first]
        await asyncio.sleep(1.3)
        assert [a.host for a in await r.resolve("lb.test", AF_INET)] == [second, first]
        assert dns_server.count("lb.test", "A") == 2  # it was refreshed


@pytest.mark.parametrize(
    ("hosts", "expected", "v6"),
    [("127.0.0.1 localhost\n", ["127.0.0.1"], NoAddressError),
     ("127.0.0.1 other\n", ["127.0.0.1", "::1"], ["::1"]),
     ("::1 localhost\n127.0.0.1 localhost\n", ["::1", "127.0.0.1"], ["::1"])],
    ids=["v4-only", "not-named", "both"])
async def test_localhost_follows_the_hosts_file(dns_server: DNSServer, tmp_path: Path,
                                                hosts: str, expected: list[str],
                                                v6: object) -> None:
    (tmp_path / "hosts").write_text(hosts)
    async with make(dns_server, hosts_file=str(tmp_path / "hosts")) as r:
        assert [a.host for a in await r.resolve("localhost")] == expected
        if isinstance(v6, list):
            assert [a.host for a in await r.resolve("localhost", AF_INET6)] == v6
        else:
            with pytest.raises(NoAddressError):
                await r.resolve("localhost", AF_INET6)
    assert dns_server.queries == []


async def test_aiohttp_sees_no_fake_errno(dns_server: DNSServer) -> None:
    async with make(dns_server) as r, aiohttp.ClientSession(connector=connector(r)) as session:
        with pytest.raises(aiohttp.ClientConnectorDNSError) as info:
            await session.get("http://nope.test/")
    err = info.value
    assert err.os_error.errno is None  # as with aiohttp's own resolvers (4 read as EINTR)
    assert "nope.test" in str(err) and "NXDOMAIN" in str(err)
    assert getattr(err.os_error, "status", None) == 4  # ARES_ENOTFOUND, aiodns's number
