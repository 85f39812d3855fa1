"""The Resolver's TTL cache, counted at the loopback DNS server.

Positive TTLs (CNAME chains, clamps, TTL 0), RFC 2308 negative caching, c-ares's
own cache kept from overriding ours, prefetch, serve-stale (RFC 8767), the LRU
bound, and what is never cached (SERVFAIL, REFUSED, timeouts).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _blockbuster import blockbuster  # noqa: F401 (autouse: no blocking call on the loop)
from _resolving import make, no_loop_errors  # noqa: F401 (fixture)

from asyncdns_connect import (
    Address,
    DNSError,
    DNSTimeoutError,
    NameNotFoundError,
    NoAddressError,
    RefusedError,
    Resolver,
    ServerFailureError,
)
from asyncdns_connect.testing import DNSServer, Fault

AF_INET, AF_INET6, AF_UNSPEC = socket.AF_INET, socket.AF_INET6, socket.AF_UNSPEC
# Past a 1 s TTL with room for a busy machine.
PAST_ONE_SECOND = 1.3






@pytest.fixture
async def resolver(dns_server: DNSServer) -> AsyncIterator[Resolver]:
    async with make(dns_server) as r:
        yield r


def ips(addrs: Any) -> list[str]:
    return sorted(a.host for a in addrs)


def replace_host(server: DNSServer, name: str, *new_ips: str, ttl: int = 300) -> None:
    server.remove(name)
    server.add_host(name, *new_ips, ttl=ttl)


# -- positive TTLs ----------------------------------------------------------------------


async def test_repeat_lookups_within_ttl_send_no_query(dns_server: DNSServer,
                                                       resolver: Resolver) -> None:
    dns_server.add_host("www.test", "192.0.2.1", "2001:db8::1")
    first = await resolver.resolve("www.test")
    for family in (AF_UNSPEC, AF_INET, AF_INET6, AF_UNSPEC):
        await resolver.resolve("www.test", family)
    assert await resolver.resolve("WWW.test.") == first
    assert dns_server.count("www.test", "A") == 1
    assert dns_server.count("www.test", "AAAA") == 1
    stats = resolver.stats()
    assert stats.misses == 1
    assert stats.hits == 5


async def test_requery_after_ttl(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add_host("short.test", "192.0.2.1", "2001:db8::1", ttl=1)
    assert ips(await resolver.resolve("short.test")) == ["192.0.2.1", "2001:db8::1"]
    replace_host(dns_server, "short.test", "192.0.2.2", "2001:db8::2", ttl=1)
    assert ips(await resolver.resolve("short.test")) == ["192.0.2.1", "2001:db8::1"]
    assert dns_server.count("short.test", "A") == 1
    await asyncio.sleep(PAST_ONE_SECOND)
    assert ips(await resolver.resolve("short.test")) == ["192.0.2.2", "2001:db8::2"]
    assert dns_server.count("short.test", "A") == 2
    assert dns_server.count("short.test", "AAAA") == 2


async def test_ttl_is_the_smallest_along_a_cname_chain(dns_server: DNSServer,
                                                        resolver: Resolver) -> None:
    dns_server.add("alias.test", "CNAME", "mid.test", ttl=100)
    dns_server.add("mid.test", "CNAME", "target.test", ttl=40)
    dns_server.add_host("target.test", "192.0.2.1", "2001:db8::1", ttl=300)
    dns_server.add("target.test", "A", "192.0.2.2", ttl=250)
    addrs = await resolver.resolve("alias.test")
    assert {a.ttl for a in addrs} == {40}
    assert ips(addrs) == ["192.0.2.1", "192.0.2.2", "2001:db8::1"]
    # The smallest TTL within one RRset counts too.
    direct = await resolver.resolve("target.test", AF_INET)
    assert {a.ttl for a in direct} == {250}


async def test_cname_chain_expires_with_its_shortest_link(dns_server: DNSServer,
                                                          resolver: Resolver) -> None:
    dns_server.add("alias.test", "CNAME", "target.test", ttl=1)
    dns_server.add_host("target.test", "192.0.2.1", ttl=300)
    assert ips(await resolver.resolve("alias.test", AF_INET)) == ["192.0.2.1"]
    await resolver.resolve("alias.test", AF_INET)
    assert dns_server.count("alias.test", "A") == 1
    dns_server.remove("alias.test")
    dns_server.add("alias.test", "CNAME", "other.test", ttl=1)
    dns_server.add_host("other.test", "192.0.2.9")
    await asyncio.sleep(PAST_ONE_SECOND)
    assert ips(await resolver.resolve("alias.test", AF_INET)) == ["192.0.2.9"]
    assert dns_server.count("alias.test", "A") == 2


async def test_ttls_clamped_to_min_and_max(dns_server: DNSServer) -> None:
    dns_server.add_host("short.test", "192.0.2.1", "2001:db8::1", ttl=1)
    dns_server.add_host("long.test", "192.0.2.2", "2001:db8::2", ttl=86400)
    async with make(dns_server, min_ttl=30) as raised, make(dns_server, max_ttl=1) as capped:
        short = await raised.resolve("short.test")
        assert {a.ttl for a in short} == {30}
        long = await capped.resolve("long.test")
        assert {a.ttl for a in long} == {1}
        await asyncio.sleep(PAST_ONE_SECOND)
        assert await raised.resolve("short.test") == short
        await capped.resolve("long.test")
    assert dns_server.count("short.test", "A") == 1
    assert dns_server.count("short.test", "AAAA") == 1
    assert dns_server.count("long.test", "A") == 2
    assert dns_server.count("long.test", "AAAA") == 2


async def test_ttl_zero_is_not_cached(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add_host("zero.test", "192.0.2.1", "2001:db8::1", ttl=0)
    for _ in range(2):
        addrs = await resolver.resolve("zero.test")
        assert ips(addrs) == ["192.0.2.1", "2001:db8::1"]
        assert {a.ttl for a in addrs} == {0}
    assert dns_server.count("zero.test", "A") == 2
    assert dns_server.count("zero.test", "AAAA") == 2
    assert resolver.stats().hits == 0


async def test_ttl_zero_with_min_ttl_is_cached(dns_server: DNSServer) -> None:
    dns_server.add_host("zero.test", "192.0.2.1", ttl=0)
    async with make(dns_server, min_ttl=5) as r:
        for _ in range(2):
            assert [a.ttl for a in await r.resolve("zero.test", AF_INET)] == [5]
    assert dns_server.count("zero.test", "A") == 1


async def test_clear_cache_forgets(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add_host("www.test", "192.0.2.1")
    await resolver.resolve("www.test", AF_INET)
    resolver.clear_cache()
    assert resolver.stats().cache_size == 0
    await resolver.resolve("www.test", AF_INET)
    assert dns_server.count("www.test", "A") == 2


# -- negative answers (RFC 2308) ------------------------------------------------------------


async def test_nxdomain_cached_for_min_of_soa_ttl_and_minimum(
    dns_server: DNSServer, resolver: Resolver
) -> None:
    dns_server.set_soa("min.test", ttl=3600, minimum=1)  # MINIMUM is the smaller
    dns_server.set_soa("ttl.test", ttl=1, minimum=3600)  # the SOA's TTL is the smaller
    names = ("gone.min.test", "gone.ttl.test")
    for _ in range(3):
        for name in names:
            with pytest.raises(NameNotFoundError):
                await resolver.resolve(name)
    for name in names:
        assert dns_server.count(name, "A") == 1
        assert dns_server.count(name, "AAAA") == 1
    await asyncio.sleep(PAST_ONE_SECOND)
    for name in names:
        with pytest.raises(NameNotFoundError):
            await resolver.resolve(name)
        assert dns_server.count(name, "A") == 2
        assert dns_server.count(name, "AAAA") == 2


async def test_name_that_appears_is_found_after_negative_ttl(
    dns_server: DNSServer, resolver: Resolver
) -> None:
    dns_server.set_soa("neg.test", ttl=3600, minimum=1)
    with pytest.raises(NameNotFoundError):
        await resolver.resolve("new.neg.test")
    dns_server.add_host("new.neg.test", "192.0.2.5", "2001:db8::5")
    with pytest.raises(NameNotFoundError):
        await resolver.resolve("new.neg.test")  # still cached: correct
    await asyncio.sleep(PAST_ONE_SECOND)
    assert ips(await resolver.resolve("new.neg.test")) == ["192.0.2.5", "2001:db8::5"]


async def test_negative_ttl_capped_by_max_negative_ttl(dns_server: DNSServer) -> None:
    dns_server.set_soa("neg.test", ttl=3600, minimum=3600)
    async with make(dns_server, max_negative_ttl=1) as r:
        with pytest.raises(NameNotFoundError):
            await r.resolve("gone.neg.test", AF_INET)
        with pytest.raises(NameNotFoundError):
            await r.resolve("gone.neg.test", AF_INET)
        assert dns_server.count("gone.neg.test", "A") == 1
        await asyncio.sleep(PAST_ONE_SECOND)
        with pytest.raises(NameNotFoundError):
            await r.resolve("gone.neg.test", AF_INET)
    assert dns_server.count("gone.neg.test", "A") == 2


async def test_negative_ttl_used_without_soa(dns_server: DNSServer) -> None:
    dns_server.default_negative_ttl = None  # negative answers carry no SOA
    async with make(dns_server, negative_ttl=1) as r:
        with pytest.raises(NameNotFoundError):
            await r.resolve("gone.test", AF_INET)
        with pytest.raises(NameNotFoundError):
            await r.resolve("gone.test", AF_INET)
        assert dns_server.count("gone.test", "A") == 1
        await asyncio.sleep(PAST_ONE_SECOND)
        with pytest.raises(NameNotFoundError):
            await r.resolve("gone.test", AF_INET)
    assert dns_server.count("gone.test", "A") == 2


async def test_negative_ttl_zero_without_soa_is_not_cached(dns_server: DNSServer) -> None:
    dns_server.default_negative_ttl = None
    async with make(dns_server, negative_ttl=0) as r:
        for _ in range(2):
            with pytest.raises(NameNotFoundError):
                await r.resolve("gone.test", AF_INET)
    assert dns_server.count("gone.test", "A") == 2


async def test_nodata_cached_per_family(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.set_soa("neg.test", ttl=3600, minimum=1)
    dns_server.add_host("v4.neg.test", "192.0.2.4")
    assert await resolver.resolve("v4.neg.test") == (Address("192.0.2.4", AF_INET, 300),)
    for _ in range(2):
        with pytest.raises(NoAddressError) as info:
            await resolver.resolve("v4.neg.test", AF_INET6)
        assert "v4.neg.test" in str(info.value)
    assert await resolver.resolve("v4.neg.test") == (Address("192.0.2.4", AF_INET, 300),)
    assert dns_server.count("v4.neg.test", "A") == 1
    assert dns_server.count("v4.neg.test", "AAAA") == 1
    await asyncio.sleep(PAST_ONE_SECOND)
    with pytest.raises(NoAddressError):
        await resolver.resolve("v4.neg.test", AF_INET6)
    assert dns_server.count("v4.neg.test", "AAAA") == 2
    assert dns_server.count("v4.neg.test", "A") == 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [(Fault.servfail(), ServerFailureError), (Fault.refused(), RefusedError),
     (Fault.drop(), DNSTimeoutError)],
    ids=["servfail", "refused", "timeout"],
)
async def test_server_trouble_is_remembered_briefly(dns_server: DNSServer, fault: Fault,
                                                    error: type[DNSError]) -> None:
    # RFC 9520: a failure is remembered (here 0.3 s), doubling while it repeats.
    dns_server.add_host("flaky.test", "192.0.2.1")
    dns_server.fault("flaky.test", None, fault)
    async with make(dns_server, timeout=0.3, tries=1, failure_ttl=0.3) as r:
        for _ in range(3):
            with pytest.raises(error):
                await r.resolve("flaky.test", AF_INET)
        assert dns_server.count("flaky.test", "A") == 1
        await asyncio.sleep(0.4)
        with pytest.raises(error):
            await r.resolve("flaky.test", AF_INET)
        assert dns_server.count("flaky.test", "A") == 2
        assert r.stats().backoffs == 2
        dns_server.clear_faults()
        await asyncio.sleep(0.7)  # past the doubled 0.6 s
        assert ips(await r.resolve("flaky.test", AF_INET)) == ["192.0.2.1"]
    assert dns_server.count("flaky.test", "A") == 3


# -- c-ares's own cache must not override ours ------------------------------------------------


async def test_new_aaaa_seen_after_our_negative_ttl(dns_server: DNSServer,
                                                    resolver: Resolver) -> None:
    # c-ares alone caches this NODATA for an hour whatever the SOA says.
    dns_server.set_soa("grow.test", ttl=3600, minimum=1)
    dns_server.add_host("www.grow.test", "192.0.2.1")
    assert ips(await resolver.resolve("www.grow.test")) == ["192.0.2.1"]
    dns_server.add_host("www.grow.test", "2001:db8::1")
    await asyncio.sleep(PAST_ONE_SECOND)
    assert ips(await resolver.resolve("www.grow.test")) == ["192.0.2.1", "2001:db8::1"]
    assert dns_server.count("www.grow.test", "AAAA") == 2
    assert dns_server.count("www.grow.test", "A") == 1  # A (TTL 300) still fresh


async def test_new_aaaa_seen_by_an_ipv6_lookup(dns_server: DNSServer,
                                               resolver: Resolver) -> None:
    dns_server.set_soa("grow.test", ttl=3600, minimum=1)
    dns_server.add_host("v6.grow.test", "192.0.2.1")
    with pytest.raises(NoAddressError):
        await resolver.resolve("v6.grow.test", AF_INET6)
    dns_server.add_host("v6.grow.test", "2001:db8::6")
    await asyncio.sleep(PAST_ONE_SECOND)
    assert ips(await resolver.resolve("v6.grow.test", AF_INET6)) == ["2001:db8::6"]
    assert dns_server.count("v6.grow.test", "AAAA") == 2


async def test_cache_flush_leaves_other_queries_in_flight(dns_server: DNSServer,
                                                          resolver: Resolver) -> None:
    # Keeping c-ares's cache out flushes it; a query in flight for another name must
    # neither fail nor be sent again.
    dns_server.set_soa("grow.test", ttl=3600, minimum=1)
    dns_server.add_host("www.grow.test", "192.0.2.1")
    dns_server.add_host("slow.test", "192.0.2.7", "2001:db8::7")
    with pytest.raises(NoAddressError):
        await resolver.resolve("www.grow.test", AF_INET6)
    await asyncio.sleep(PAST_ONE_SECOND)
    # Under 250 ms: c-ares's adaptive timeout would otherwise retry it.
    dns_server.fault("slow.test", None, Fault.delay(0.15))
    slow = asyncio.ensure_future(resolver.resolve("slow.test"))
    await dns_server.wait_for_queries(1, "slow.test", "AAAA")
    with pytest.raises(NoAddressError):
        await resolver.resolve("www.grow.test", AF_INET6)  # c-ares cache hit: flushed
    assert dns_server.count("www.grow.test", "AAAA") == 2
    assert ips(await slow) == ["192.0.2.7", "2001:db8::7"]
    assert dns_server.count("slow.test", "A") == 1
    assert dns_server.count("slow.test", "AAAA") == 1


# -- prefetch ---------------------------------------------------------------------------------


async def test_hit_near_expiry_prefetches_once(dns_server: DNSServer,
                                               resolver: Resolver) -> None:
    dns_server.add_host("pre.test", "192.0.2.1", "2001:db8::1", ttl=3)
    old = await resolver.resolve("pre.test")
    stored = time.monotonic()
    # The answer is slow to come back now, and different.
    replace_host(dns_server, "pre.test", "192.0.2.2", "2001:db8::2", ttl=3)
    dns_server.fault("pre.test", None, Fault.delay(0.2))
    # Into the last 10% of the 3 s TTL (from 2.7 s), before expiry.
    await asyncio.sleep(stored + 2.75 - time.monotonic())
    assert await resolver.resolve("pre.test") == old
    assert await resolver.resolve("pre.test") == old  # no second prefetch
    assert resolver.stats().misses == 1  # the callers did not wait for it
    await dns_server.wait_for_queries(2, "pre.test", "A", timeout=2)
    await dns_server.wait_for_queries(2, "pre.test", "AAAA", timeout=2)
    assert resolver.stats().prefetches == 2  # one per family
    for _ in range(50):  # the delayed answers arrive and refresh the cache
        if ips(await resolver.resolve("pre.test")) == ["192.0.2.2", "2001:db8::2"]:
            break
        await asyncio.sleep(0.05)
    assert ips(await resolver.resolve("pre.test")) == ["192.0.2.2", "2001:db8::2"]
    assert dns_server.count("pre.test", "A") == 2
    assert dns_server.count("pre.test", "AAAA") == 2
    assert resolver.stats().prefetches == 2


async def test_no_prefetch_early_in_the_ttl(dns_server: DNSServer,
                                            resolver: Resolver) -> None:
    dns_server.add_host("pre.test", "192.0.2.1", ttl=2)
    await resolver.resolve("pre.test", AF_INET)
    await asyncio.sleep(0.5)
    await resolver.resolve("pre.test", AF_INET)
    await asyncio.sleep(0.1)
    assert resolver.stats().prefetches == 0
    assert dns_server.count("pre.test", "A") == 1


# -- serve stale (RFC 8767) -------------------------------------------------------------------


async def test_stale_served_when_server_dead(dns_server: DNSServer) -> None:
    dns_server.add_host("www.test", "192.0.2.1", "2001:db8::1", ttl=1)
    async with make(dns_server, timeout=0.3, tries=1) as r:
        fresh = await r.resolve("www.test")
        await asyncio.sleep(PAST_ONE_SECOND)
        dns_server.dead = True
        start = time.monotonic()
        stale = await r.resolve("www.test")
        assert time.monotonic() - start < 1.5
        assert ips(stale) == ips(fresh)
        assert {a.ttl for a in stale} == {30}  # RFC 8767: stale answers carry TTL 30
        assert r.stats().stale == 1
        queries = len(dns_server.queries)
        # Upstream is asked again at most every 30 s while it keeps failing.
        assert ips(await r.resolve("www.test")) == ips(fresh)
        assert ips(await r.resolve("www.test", AF_INET)) == [
            a.host for a in fresh if a.family == AF_INET]
        assert len(dns_server.queries) == queries
        assert r.stats().stale == 3


async def test_stale_served_on_servfail(dns_server: DNSServer) -> None:
    dns_server.add_host("www.test", "192.0.2.1", "2001:db8::1", ttl=1)
    async with make(dns_server) as r:
        fresh = await r.resolve("www.test")
        await asyncio.sleep(PAST_ONE_SECOND)
        dns_server.fault("www.test", None, Fault.servfail())
        start = time.monotonic()
        assert ips(await r.resolve("www.test")) == ips(fresh)
        assert time.monotonic() - start < 1.5  # not the 1.8 s timer: the failure is known
        assert r.stats().stale == 1
        asked = len(dns_server.queries)
        assert asked > 2  # the refresh reached the server
        assert ips(await r.resolve("www.test")) == ips(fresh)
        assert len(dns_server.queries) == asked
        assert r.stats().stale == 2


async def test_stale_served_once_the_refresh_is_late(dns_server: DNSServer) -> None:
    # DNS has not failed yet (many tries left) but stopped answering: the caller
    # gets the stale data once the refresh is late for this name (its answers came
    # in about a millisecond), not only at RFC 8767's 1.8 s client response timer,
    # and the refresh goes on in the background.
    dns_server.add_host("www.test", "192.0.2.1", "2001:db8::1", ttl=1)
    async with make(dns_server, timeout=0.5, tries=10) as r:
        fresh = await r.resolve("www.test")
        await asyncio.sleep(PAST_ONE_SECOND)
        dns_server.dead = True
        start = time.monotonic()
        assert ips(await r.resolve("www.test")) == ips(fresh)
        assert time.monotonic() - start < 1.2  # well before the 1.8 s timer
        assert r.stats().stale == 1
        assert r.stats().misses == 1


async def test_stale_waits_at_most_the_client_response_timer(dns_server: DNSServer) -> None:
    # A name whose answers are slow (0.8 s) gets its usual time, capped at
    # stale_answer_timeout.
    dns_server.add_host("slow.test", "192.0.2.1", ttl=1)
    dns_server.fault("slow.test", None, Fault.delay(0.8))
    async with make(dns_server, timeout=3, tries=3, stale_answer_timeout=1.0) as r:
        fresh = await r.resolve("slow.test", AF_INET)
        await asyncio.sleep(PAST_ONE_SECOND)
        dns_server.dead = True
        start = time.monotonic()
        assert ips(await r.resolve("slow.test", AF_INET)) == ips(fresh)
        assert 0.9 < time.monotonic() - start < 1.7  # 1.0 s, not 3x 0.8 s + 0.3 s
        assert r.stats().stale == 1


async def test_stale_family_joins_when_the_other_family_is_fresh(
        dns_server: DNSServer) -> None:
    # The A expired and its refresh is lost; the AAAA is still fresh. The answer
    # must carry the stale A (after the Resolution Delay), not the AAAA alone:
    # on a broken IPv6 path the AAAA alone connects nowhere.
    dns_server.add("mixed.test", "A", "192.0.2.1", ttl=1)
    dns_server.add("mixed.test", "AAAA", "2001:db8::1", ttl=300)
    async with make(dns_server, timeout=1.0, tries=2) as r:
        assert ips(await r.resolve("mixed.test")) == ["192.0.2.1", "2001:db8::1"]
        await asyncio.sleep(PAST_ONE_SECOND)
        dns_server.fault("mixed.test", "A", Fault.drop())
        start = time.monotonic()
        addrs = await r.resolve("mixed.test")
        assert ips(addrs) == ["192.0.2.1", "2001:db8::1"]
        assert time.monotonic() - start < 1.0  # not the 1.8 s client response timer
        assert [a.ttl for a in addrs if a.family == AF_INET] == [30]  # served stale
        assert r.stats().stale == 1
        # The streaming feed (the connection race) gets the stale A too, at once
        # after the AAAA rather than at 1.8 s.
        start = time.monotonic()
        batches = [ips(b) async for b in r.stream("mixed.test")]
        assert sorted(ip for b in batches for ip in b) == ["192.0.2.1", "2001:db8::1"]
        assert time.monotonic() - start < 1.0


async def test_stale_not_served_past_stale_ttl(dns_server: DNSServer) -> None:
    dns_server.add_host("www.test", "192.0.2.1", ttl=1)
    async with make(dns_server, stale_ttl=0.2) as r:
        await r.resolve("www.test", AF_INET)
        await asyncio.sleep(1.5)
        dns_server.fault("www.test", None, Fault.servfail())
        with pytest.raises(ServerFailureError):
            await r.resolve("www.test", AF_INET)
        assert r.stats().stale == 0


async def test_stale_not_served_when_the_name_is_gone(dns_server: DNSServer) -> None:
    # NXDOMAIN is an answer, not a failure: the stale addresses are not used.
    dns_server.add_host("www.test", "192.0.2.1", "2001:db8::1", ttl=1)
    async with make(dns_server) as r:
        await r.resolve("www.test")
        dns_server.remove("www.test")
        await asyncio.sleep(PAST_ONE_SECOND)
        with pytest.raises(NameNotFoundError):
            await r.resolve("www.test")
        assert r.stats().stale == 0


# -- the LRU bound ------------------------------------------------------------------------------


async def test_cache_size_bounds_hosts(dns_server: DNSServer) -> None:
    names = [f"h{i}.lru.test" for i in range(200)]
    for i, name in enumerate(names):
        dns_server.add_host(name, f"192.0.2.{i % 250 + 1}", f"2001:db8::{i + 1:x}")
    async with make(dns_server, cache_size=50) as r:
        for name in names:
            await r.resolve(name)
        assert r.stats().cache_size == 50
        dns_server.reset_log()
        # The most recent 50 are kept; the oldest were evicted.
        for name in names[-50:]:
            await r.resolve(name)
        assert dns_server.queries == []
        await r.resolve(names[0])
        assert dns_server.count(names[0], "A") == 1
        assert r.stats().cache_size == 50


async def test_recently_used_host_survives_eviction(dns_server: DNSServer) -> None:
    names = [f"h{i}.lru.test" for i in range(10)]
    for i, name in enumerate(names):
        dns_server.add_host(name, f"192.0.2.{i + 1}")
    async with make(dns_server, cache_size=5) as r:
        for name in names[:5]:
            await r.resolve(name, AF_INET)
        await r.resolve(names[0], AF_INET)  # now the most recently used
        for name in names[5:9]:
            await r.resolve(name, AF_INET)
        dns_server.reset_log()
        await r.resolve(names[0], AF_INET)
        assert dns_server.queries == []
        await r.resolve(names[1], AF_INET)
        assert dns_server.count(names[1], "A") == 1


# -- learned fallback ----------------------------------------------------------------------------


async def test_report_failure_moves_the_address_last(dns_server: DNSServer,
                                                     resolver: Resolver) -> None:
    dns_server.add_host("multi.test", "192.0.2.1", "192.0.2.2", "2001:db8::1")
    first = await resolver.resolve("multi.test")
    bad = first[0].host
    resolver.report_failure("Multi.Test.", bad)
    again = await resolver.resolve("multi.test")
    assert [a.host for a in again][-1] == bad
    assert sorted(again) == sorted(first)
    assert dns_server.count("multi.test", "A") == 1


async def test_a_timeout_is_forgotten_once_the_upstream_answers_again(
        dns_server: DNSServer) -> None:
    # An outage: lookups time out. Once the upstream answers again, a name whose
    # lookup timed out is asked again at once, not failed from the failure memory
    # (RFC 9520 still holds for replies that say the upstream fails: SERVFAIL).
    dns_server.add_host("a.test", "192.0.2.1")
    dns_server.add_host("b.test", "192.0.2.2")
    async with make(dns_server, timeout=0.3, tries=1, failure_ttl=5,
                    max_failure_ttl=5) as r:
        dns_server.dead = True
        with pytest.raises(DNSTimeoutError):
            await r.resolve("a.test", AF_INET)
        with pytest.raises(DNSTimeoutError):  # remembered while nothing answers
            await r.resolve("a.test", AF_INET)
        assert dns_server.count("a.test", "A") == 1
        dns_server.dead = False
        assert ips(await r.resolve("b.test", AF_INET)) == ["192.0.2.2"]
        assert ips(await r.resolve("a.test", AF_INET)) == ["192.0.2.1"]
        assert ips([a async for b in r.stream("a.test", AF_INET) for a in b]) == [
            "192.0.2.1"]
