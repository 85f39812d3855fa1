"""The cache's rules, driven with a fake clock and a fake DNS (no sockets, no sleeps).

A ``Resolver`` is built with ``clock=`` and ``fetcher=``: the fake fetcher
records every (name, family) it is asked and answers when the test says (or at
once, from a rule). Time only moves when the test moves it. Each test is one
rule a user would notice: queries a failing server sees, a family that fails
not blocking the other, only the due family refreshed, hot names never
waiting, learned fallback surviving refreshes, serve-stale.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Callable, Sequence
from typing import Any

import pycares
import pytest

from asyncdns_connect import (
    Address,
    NoAddressError,
    Resolver,
    ServerFailureError,
)
from asyncdns_connect._fetcher import NO_SOA, OK, Reply

AF_INET, AF_INET6, AF_UNSPEC = socket.AF_INET, socket.AF_INET6, socket.AF_UNSPEC
SERVFAIL = Reply(pycares.errno.ARES_ESERVFAIL)
V4, V6 = "192.0.2.1", "2001:db8::1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeDNS:
    """A Fetcher: answers from ``rule`` at once, or holds the question for ``answer``."""

    def __init__(self, clock: Clock,
                 rule: Callable[[str, int], Reply | None] | None = None) -> None:
        self.clock = clock
        self.rule = rule
        self.sent: list[tuple[str, int, float]] = []
        self.held: dict[tuple[str, int], list[asyncio.Future[Reply]]] = {}

    def fetch(self, name: str, family: int) -> asyncio.Future[Reply]:
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self.sent.append((name, family, self.clock.now))
        reply = self.rule(name, family) if self.rule is not None else None
        if reply is not None:
            fut.set_result(reply)
        else:
            self.held.setdefault((name, family), []).append(fut)
        return fut

    def answer(self, name: str, family: int, reply: Reply) -> None:
        for fut in self.held.pop((name, family), []):
            if not fut.done():
                fut.set_result(reply)

    def count(self, name: str, family: int | None = None) -> int:
        return sum(1 for n, f, _ in self.sent if n == name and family in (None, f))

    def times(self, name: str, family: int) -> list[float]:
        return [t for n, f, t in self.sent if n == name and f == family]


def ok(*ips: str, ttl: int = 300) -> Reply:
    return Reply(OK, ips, ttl)


def nodata(ttl: int = NO_SOA) -> Reply:
    return Reply(pycares.errno.ARES_ENODATA, ttl=ttl)


def make(clock: Clock, dns: FakeDNS, **options: Any) -> Resolver:
    return Resolver(["127.0.0.1:9"], clock=clock, fetcher=dns, hosts_file=False, **options)


async def settle() -> None:
    """Let callbacks and woken tasks run (no time passes on the fake clock)."""
    for _ in range(10):
        await asyncio.sleep(0)


def hosts(addrs: Sequence[Address]) -> list[str]:
    return [a.host for a in addrs]


async def lookup(r: Resolver, name: str, family: int = AF_UNSPEC) -> list[str] | Exception:
    """One lookup, then one turn of the loop (a cache hit itself never yields to it)."""
    try:
        return hosts(await r.resolve(name, family))
    except Exception as exc:  # the outcome is what the test checks
        return exc
    finally:
        await asyncio.sleep(0)


# -- RFC 9520: failures are remembered, with back-off ----------------------------------------


async def test_servfailing_upstream_sees_a_bounded_query_rate() -> None:
    clock = Clock()
    dns = FakeDNS(clock, lambda name, family: SERVFAIL)
    async with make(clock, dns) as r:
        for _ in range(10_000):  # 10,000 lookups in 10 s
            clock.now += 0.001
            assert isinstance(await lookup(r, "down.test"), ServerFailureError)
        # 1 s, then doubling: asked at 0, 1, 3, 7 s per family.
        assert dns.count("down.test") <= 20
        assert dns.times("down.test", AF_INET) == pytest.approx(
            [1000.001, 1001.001, 1003.001, 1007.001], abs=0.01)
        assert r.stats().backoffs == dns.count("down.test")


async def test_back_off_stops_at_max_failure_ttl() -> None:
    clock = Clock()
    dns = FakeDNS(clock, lambda name, family: SERVFAIL)
    async with make(clock, dns, failure_ttl=1, max_failure_ttl=4) as r:
        for _ in range(2000):
            clock.now += 0.01
            await lookup(r, "down.test", AF_INET)
        sent = dns.times("down.test", AF_INET)
        gaps = [b - a for a, b in itertools.pairwise(sent)]
        assert gaps[:3] == pytest.approx([1, 2, 4], abs=0.02)
        assert max(gaps) == pytest.approx(4, abs=0.02)


async def test_a_cached_name_whose_server_fails_is_served_stale_at_a_bounded_rate() -> None:
    clock = Clock()
    failing = False
    dns = FakeDNS(clock, lambda n, f: SERVFAIL if failing else ok(V4 if f == AF_INET else V6,
                                                                  ttl=1))
    async with make(clock, dns) as r:
        assert sorted(await lookup(r, "www.test")) == [V4, V6]  # type: ignore[type-var]
        failing = True
        for _ in range(10_000):
            clock.now += 0.001
            assert sorted(await lookup(r, "www.test")) == [V4, V6]  # type: ignore[type-var]
        assert dns.count("www.test") <= 20
        stats = r.stats()
        assert stats.stale >= 8990  # every lookup after the 1 s TTL
        assert stats.stale_by_reason["failed"] >= 8990
        assert stats.refresh_failures["ServerFailureError"] == dns.count("www.test") - 2


async def test_a_failing_family_does_not_block_the_cached_other() -> None:
    clock = Clock()
    dns = FakeDNS(clock, lambda n, f: ok(V4) if f == AF_INET else SERVFAIL)
    async with make(clock, dns) as r:
        assert await lookup(r, "www.test") == [V4]
        hits = r.stats().hits
        for _ in range(100):
            clock.now += 0.001
            assert await lookup(r, "www.test") == [V4]
        assert r.stats().hits == hits + 100
        assert dns.count("www.test", AF_INET) == 1
        assert dns.count("www.test", AF_INET6) == 1  # remembered for 1 s
        clock.now += 1.0
        assert await lookup(r, "www.test") == [V4]  # the retry does not hold the answer
        await settle()
        assert dns.count("www.test", AF_INET6) == 2


async def test_failure_is_not_a_negative_answer() -> None:
    clock = Clock()
    dns = FakeDNS(clock)
    async with make(clock, dns) as r:
        task = asyncio.ensure_future(r.resolve("flaky.test", AF_INET))
        await settle()
        dns.answer("flaky.test", AF_INET, SERVFAIL)
        with pytest.raises(ServerFailureError):
            await task
        clock.now += 1.01  # past the remembered failure: asked again, and it answers
        task = asyncio.ensure_future(r.resolve("flaky.test", AF_INET))
        await settle()
        dns.answer("flaky.test", AF_INET, ok(V4))
        assert hosts(await task) == [V4]


# -- per family -------------------------------------------------------------------------------


async def test_only_the_family_that_is_due_is_refreshed() -> None:
    # A with TTL 300, NODATA AAAA with a negative TTL of 2 s, looked up every 50 ms.
    clock = Clock()
    dns = FakeDNS(clock, lambda n, f: ok(V4, ttl=300) if f == AF_INET else nodata(ttl=2))
    async with make(clock, dns) as r:
        for _ in range(200):  # 10 s
            assert await lookup(r, "v4only.test") == [V4]
            await settle()
            clock.now += 0.05
        assert dns.count("v4only.test", AF_INET) == 1
        assert 4 <= dns.count("v4only.test", AF_INET6) <= 6


async def test_negative_ttl_comes_from_the_reply_or_the_default() -> None:
    clock = Clock()
    dns = FakeDNS(clock, lambda n, f: nodata(ttl=5) if n == "soa.test" else nodata())
    async with make(clock, dns, negative_ttl=20) as r:
        for name in ("soa.test", "nosoa.test"):
            assert isinstance(await lookup(r, name, AF_INET6), NoAddressError)
        clock.now += 6
        for name in ("soa.test", "nosoa.test"):
            await lookup(r, name, AF_INET6)
        assert (dns.count("soa.test"), dns.count("nosoa.test")) == (2, 1)


async def test_ttl_zero_is_not_cached_and_drops_the_old_answer() -> None:
    clock = Clock()
    ttl = 300
    dns = FakeDNS(clock, lambda n, f: ok(V4, ttl=ttl))
    async with make(clock, dns) as r:
        await lookup(r, "zero.test", AF_INET)
        clock.now += 301
        ttl = 0
        await lookup(r, "zero.test", AF_INET)
        await lookup(r, "zero.test", AF_INET)
        assert dns.count("zero.test") == 3


# -- refresh ahead of expiry ---------------------------------------------------------------------


async def test_hot_name_never_waits_and_each_family_refreshes_once_per_ttl() -> None:
    # TTL 2 s, a server that takes 300 ms, a lookup every 50 ms, 3 expiries.
    clock = Clock()
    dns = FakeDNS(clock)
    due: list[tuple[float, str, int]] = []

    def deliver() -> None:
        for when, name, family in list(due):
            if when <= clock.now:
                due.remove((when, name, family))
                dns.answer(name, family, ok(V4 if family == AF_INET else V6, ttl=2))

    async with make(clock, dns) as r:
        first = asyncio.ensure_future(r.resolve("hot.test"))
        await settle()
        waited = 0
        for _ in range(140):  # 7 s
            for name, family, sent in dns.sent:
                if (sent + 0.3, name, family) not in due and sent + 0.3 > clock.now - 0.05:
                    due.append((sent + 0.3, name, family))
            clock.now += 0.05
            deliver()
            await settle()
            if first.done():
                task = asyncio.ensure_future(r.resolve("hot.test"))
                await settle()
                waited += not task.done()
                await task
        assert waited == 0
        for family in (AF_INET, AF_INET6):
            sent = dns.times("hot.test", family)
            gaps = [b - a for a, b in itertools.pairwise(sent)]
            assert len(sent) >= 4  # refreshed ahead of each of the 3 expiries
            assert min(gaps) >= 1.0  # and never twice for one answer
        assert r.stats().stale == 0


async def test_prefetch_into_a_failing_server_backs_off() -> None:
    clock = Clock()
    failing = False
    dns = FakeDNS(clock, lambda n, f: SERVFAIL if failing else ok(V4, ttl=100))
    async with make(clock, dns) as r:
        await lookup(r, "pre.test", AF_INET)
        failing = True
        clock.now += 91  # in the prefetch window (last 10 s)
        for _ in range(900):  # 9 s of hits, 10 ms apart
            assert await lookup(r, "pre.test", AF_INET) == [V4]
            clock.now += 0.01
        # 1 + refreshes at +1, +3, +7 s: not one per hit.
        assert dns.count("pre.test") == 1 + 4


async def test_expired_entry_answers_while_its_refresh_is_in_flight() -> None:
    clock = Clock()
    dns = FakeDNS(clock)
    async with make(clock, dns, stale_ttl=5) as r:
        task = asyncio.ensure_future(r.resolve("slow.test", AF_INET))
        await settle()
        dns.answer("slow.test", AF_INET, ok(V4, ttl=10))
        await task
        clock.now += 9.5  # the prefetch goes out and hangs
        assert await lookup(r, "slow.test", AF_INET) == [V4]
        clock.now += 1  # expired: still answered, from the stale entry
        addrs = await r.resolve("slow.test", AF_INET)
        assert [(a.host, a.ttl) for a in addrs] == [(V4, 30)]
        assert r.stats().stale_by_reason["refreshing"] == 1
        clock.now += 5  # past stale_ttl: the caller waits for DNS
        task = asyncio.ensure_future(r.resolve("slow.test", AF_INET))
        await settle()
        assert not task.done()
        dns.answer("slow.test", AF_INET, ok("192.0.2.2"))
        assert hosts(await task) == ["192.0.2.2"]
        assert dns.count("slow.test") == 2


# -- learned fallback ------------------------------------------------------------------------------


async def test_reported_failure_survives_refreshes_for_its_lifetime() -> None:
    clock = Clock()
    dns = FakeDNS(clock, lambda n, f: ok("192.0.2.1", "192.0.2.2", ttl=60))
    async with make(clock, dns) as r:
        first, second = await lookup(r, "lb.test", AF_INET)  # type: ignore[misc]
        r.report_failure("lb.test", first)
        assert await lookup(r, "lb.test", AF_INET) == [second, first]
        for _ in range(9):  # 9 refreshes in 9 minutes
            clock.now += 61
            assert await lookup(r, "lb.test", AF_INET) == [second, first]
        assert dns.count("lb.test") == 10
        clock.now += 61  # 10 min 9 s after the report: forgotten at the refresh
        await lookup(r, "lb.test", AF_INET)
        assert await lookup(r, "lb.test", AF_INET) == [first, second]


async def test_a_failing_listener_does_not_strand_the_other_waiters() -> None:
    clock = Clock()
    dns = FakeDNS(clock)
    r = make(clock, dns)
    r._bind()
    sched = r._sched
    seen: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: seen.append(ctx))
    fut = sched.fetch("x.test", AF_INET)
    heard: list[str] = []

    def broken(_fut: object) -> None:
        raise RuntimeError("listener bug")

    sched.listen(fut, broken)
    sched.listen(fut, lambda _fut: heard.append("second"))
    dns.answer("x.test", AF_INET, ok("192.0.2.1"))
    record = await asyncio.wait_for(fut, 5)
    assert record.addrs == ("192.0.2.1",)
    assert heard == ["second"]
    assert [str(c["exception"]) for c in seen] == ["listener bug"]


class CallingBackDNS(FakeDNS):
    """A Fetcher like the engine's: ``send`` calls back, here at once when ``rule`` answers."""

    calls_back = True

    def send(self, name: str, family: int, on_reply: Callable[[Reply], None]) -> None:
        fut = self.fetch(name, family)
        if fut.done():
            on_reply(fut.result())
        else:
            fut.add_done_callback(lambda f: on_reply(f.result()))


async def test_a_family_answered_within_the_send_still_waits_for_the_other() -> None:
    """One family lands before the other's query is even sent (a closed engine does
    that): the lookup still waits for the second, then answers with both."""
    clock = Clock()
    dns = CallingBackDNS(clock, rule=lambda name, fam: ok(V4) if fam == AF_INET else None)
    r = make(clock, dns)
    task = asyncio.create_task(r.resolve("sync.test", AF_UNSPEC))
    await settle()
    assert not task.done()
    dns.answer("sync.test", AF_INET6, ok(V6))
    assert sorted(hosts(await asyncio.wait_for(task, 5))) == sorted([V4, V6])
    await r.close()
