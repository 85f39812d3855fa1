"""``Resolver.stream``: address batches as families answer, for Happy Eyeballs.

Against the loopback DNS server; one family is slowed down with a fault so the
order of answers is known. Assertions are on batch contents, not on time.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import pytest
from _blockbuster import blockbuster  # noqa: F401 (autouse: no blocking call on the loop)
from _resolving import make, no_loop_errors  # noqa: F401 (fixture)

from asyncdns_connect import (
    Address,
    NameNotFoundError,
    Resolver,
    ServerFailureError,
)
from asyncdns_connect.testing import DNSServer, Fault

AF_INET, AF_INET6, AF_UNSPEC = socket.AF_INET, socket.AF_INET6, socket.AF_UNSPEC
SLOW = 0.4  # far beyond the 50 ms Resolution Delay


@pytest.fixture
async def resolver(dns_server: DNSServer) -> AsyncIterator[Resolver]:
    async with make(dns_server) as r:
        yield r


# The adapters take the first batch and the rest of the stream in one call
# (Resolver._first_batch, no async generator when nothing can follow): every
# batch test runs both ways.
VIA = ["stream"]


@pytest.fixture(autouse=True, params=["stream", "first_batch"])
def via(request: pytest.FixtureRequest) -> Iterator[str]:
    VIA[0] = request.param
    yield request.param
    VIA[0] = "stream"


async def batches(resolver: Resolver, host: str, family: int = AF_UNSPEC
                  ) -> list[list[str]]:
    if VIA[0] == "stream":
        return [[a.host for a in batch] async for batch in resolver.stream(host, family)]
    first, rest = await resolver._first_batch(host, family)
    later = [] if rest is None else [[a.host for a in batch] async for batch in rest]
    return [[a.host for a in first], *later]


async def test_cache_hit_is_one_batch_in_resolve_order(dns_server: DNSServer,
                                                       resolver: Resolver) -> None:
    dns_server.add_host("www.test", "192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2")
    full = await resolver.resolve("www.test")
    queries = len(dns_server.queries)
    assert await batches(resolver, "www.test") == [[a.host for a in full]]
    assert len(dns_server.queries) == queries


async def test_aaaa_first_is_yielded_before_a_answers(dns_server: DNSServer,
                                                      resolver: Resolver) -> None:
    dns_server.add_host("v6first.test", "192.0.2.1", "2001:db8::1")
    dns_server.fault("v6first.test", "A", Fault.delay(SLOW))
    stream = resolver.stream("v6first.test")
    first = await anext(stream)
    assert [a.host for a in first] == ["2001:db8::1"]
    assert dns_server.count("v6first.test", "A") == 1  # asked, not answered yet
    assert [[a.host for a in b] async for b in stream] == [["192.0.2.1"]]


async def test_a_first_waits_the_resolution_delay_then_aaaa_comes_later(
        dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add_host("v4first.test", "192.0.2.1", "2001:db8::1")
    dns_server.fault("v4first.test", "AAAA", Fault.delay(SLOW))
    assert await batches(resolver, "v4first.test") == [["192.0.2.1"], ["2001:db8::1"]]


async def test_both_within_the_delay_come_as_one_interleaved_batch(
        dns_server: DNSServer) -> None:
    dns_server.add_host("both.test", "192.0.2.1", "192.0.2.2", "2001:db8::1", "2001:db8::2")
    # A first (AAAA is a little slower), AAAA well within a long Resolution Delay.
    dns_server.fault("both.test", "AAAA", Fault.delay(0.02))
    async with make(dns_server, resolution_delay=1.0) as r:
        got = await batches(r, "both.test")
    assert len(got) == 1
    families = [":" in ip for ip in got[0]]
    assert families == [families[0], not families[0]] * 2  # interleaved


async def test_every_family_failing_raises_before_yielding(dns_server: DNSServer,
                                                           resolver: Resolver) -> None:
    seen: list[tuple[Address, ...]] = []
    with pytest.raises(NameNotFoundError) as info:
        async for batch in resolver.stream("nope.test"):
            seen.append(batch)
    assert seen == []
    assert info.value.host == "nope.test"


async def test_a_later_family_failing_just_ends(dns_server: DNSServer) -> None:
    dns_server.add_host("halfbroken.test", "192.0.2.1", "2001:db8::1")
    dns_server.fault("halfbroken.test", "AAAA", Fault.servfail())
    async with make(dns_server, tries=1) as r:
        assert await batches(r, "halfbroken.test") == [["192.0.2.1"]]


async def test_one_family_is_one_batch(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add_host("fam.test", "192.0.2.1", "2001:db8::1")
    dns_server.fault("fam.test", "AAAA", Fault.delay(SLOW))
    assert await batches(resolver, "fam.test", AF_INET) == [["192.0.2.1"]]


async def test_reported_failure_goes_last_in_a_batch(dns_server: DNSServer,
                                                     resolver: Resolver) -> None:
    dns_server.add_host("demote.test", "192.0.2.1", "2001:db8::1")
    [first, second] = [a.host for a in await resolver.resolve("demote.test")]
    resolver.report_failure("demote.test", first)
    assert await batches(resolver, "demote.test") == [[second, first]]


async def test_local_answers_are_one_batch(dns_server: DNSServer, resolver: Resolver) -> None:
    assert await batches(resolver, "localhost") == [["127.0.0.1", "::1"]]
    assert await batches(resolver, "192.0.2.9") == [["192.0.2.9"]]
    assert dns_server.queries == []


async def test_a_server_failure_with_nothing_cached_raises(dns_server: DNSServer) -> None:
    dns_server.add_host("down.test", "192.0.2.1", "2001:db8::1")
    dns_server.fault("down.test", None, Fault.servfail())
    async with make(dns_server, tries=1) as r:
        with pytest.raises(ServerFailureError):
            await anext(r.stream("down.test"))


async def test_fresh_answers_only_from_a_fresh_cache_entry(dns_server: DNSServer,
                                                           resolver: Resolver) -> None:
    # What the adapters ask before starting a stream: never a query, never a wait.
    dns_server.add_host("fresh.test", "192.0.2.7", "2001:db8::7")
    assert resolver.fresh("fresh.test") is None
    assert resolver.fresh(["not", "hashable"]) is None  # type: ignore[arg-type]
    assert dns_server.count("fresh.test", "A") == 0
    resolved = await resolver.resolve("fresh.test")
    hits = resolver.stats().hits
    assert resolver.fresh("fresh.test") == tuple(resolved)
    assert resolver.stats().hits == hits + 1
    assert resolver.fresh("fresh.test", AF_INET) == tuple(
        a for a in resolved if a.family == AF_INET)
    assert dns_server.count("fresh.test", "A") == 1


async def test_fresh_raises_a_cached_negative_answer(dns_server: DNSServer,
                                                     resolver: Resolver) -> None:
    dns_server.set_soa("test", minimum=60)
    with pytest.raises(NameNotFoundError):
        await resolver.resolve("gone.test")
    with pytest.raises(NameNotFoundError, match=r"gone\.test"):
        resolver.fresh("gone.test")


async def test_first_batch_has_no_feed_once_every_family_answered(
        dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add_host("whole.test", "192.0.2.1", "2001:db8::1")
    first, rest = await resolver._first_batch("whole.test")
    assert rest is None  # both families in: nothing to drain, no generator
    assert first == tuple(await resolver.resolve("whole.test"))
    dns_server.add_host("halfway.test", "192.0.2.2", "2001:db8::2")
    dns_server.fault("halfway.test", "A", Fault.delay(SLOW))
    first, rest = await resolver._first_batch("halfway.test")
    assert [a.host for a in first] == ["2001:db8::2"]
    assert rest is not None
    assert [[a.host for a in b] async for b in rest] == [["192.0.2.2"]]


async def test_first_batch_raises_when_every_family_fails(dns_server: DNSServer,
                                                          resolver: Resolver) -> None:
    with pytest.raises(NameNotFoundError) as info:
        await resolver._first_batch("nope.test")
    assert info.value.host == "nope.test"
