"""Faults survived: dead, failing and hostile DNS servers, over the wire on loopback.

Every lookup is wrapped in ``asyncio.wait_for`` so a hang fails the test instead
of stalling the suite. Servers are ``asyncdns_connect.testing.DNSServer``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Sequence

import pytest

from asyncdns_connect import (
    Address,
    DNSError,
    DNSTimeoutError,
    Resolver,
    ServerFailureError,
)
from asyncdns_connect.testing import DNSServer, Fault

WAIT = 5.0  # no single lookup here may take longer: a hang is a failure
# Failures are remembered (RFC 9520); here briefly, so a test can outwait one.
FAILURE_TTL = 0.2


def make(*servers: DNSServer, timeout: float = 0.3, tries: int = 1,
         **kwargs: object) -> Resolver:
    kwargs.setdefault("failure_ttl", FAILURE_TTL)
    return Resolver(nameservers=[s.address for s in servers], timeout=timeout, tries=tries,
                    hosts_file=False, **kwargs)  # type: ignore[arg-type]


async def past_remembered_failure() -> None:
    await asyncio.sleep(FAILURE_TTL * 1.5)


async def resolve(resolver: Resolver, host: str,
                  family: int = socket.AF_UNSPEC) -> Sequence[Address]:
    return await asyncio.wait_for(resolver.resolve(host, family), WAIT)


def ips(addrs: Sequence[Address]) -> set[str]:
    return {a.host for a in addrs}


@pytest.fixture
async def second() -> AsyncIterator[DNSServer]:
    async with DNSServer() as server:
        yield server


# -- one server down or failing ---------------------------------------------------------


async def test_dead_first_server_costs_its_timeout_once(
        dns_server: DNSServer, second: DNSServer) -> None:
    dead, good = dns_server, second
    dead.dead = True
    names = [f"h{i}.test" for i in range(20)]
    for i, name in enumerate(names):
        good.add_host(name, f"192.0.2.{i + 1}", f"2001:db8::{i + 1:x}")
    resolver = make(dead, good, timeout=0.5, tries=2)
    try:
        started = time.monotonic()
        for i, name in enumerate(names):
            assert ips(await resolve(resolver, name)) == {f"192.0.2.{i + 1}",
                                                          f"2001:db8::{i + 1:x}"}
        elapsed = time.monotonic() - started
    finally:
        await resolver.close()
    # Paying the dead server's 0.5 s per lookup would take 10 s; once is ~0.5 s
    # (a bound that holds with the other core busy).
    assert elapsed < 5, f"20 lookups took {elapsed:.2f} s"
    # 40 queries (A and AAAA per name); a busy machine may add a retry or two.
    assert 40 <= good.count() < 60
    assert dead.count() <= 4, "the dead server kept being asked first"


@pytest.mark.parametrize("fault", [Fault.servfail(), Fault.refused()], ids=["servfail", "refused"])
async def test_servfail_or_refused_from_one_server_the_other_answers(
        dns_server: DNSServer, second: DNSServer, fault: Fault) -> None:
    for server in (dns_server, second):
        server.add_host("www.test", "192.0.2.10")
    dns_server.fault("www.test", None, fault)
    resolver = make(dns_server, second, tries=2)
    try:
        assert ips(await resolve(resolver, "www.test")) == {"192.0.2.10"}
    finally:
        await resolver.close()
    assert dns_server.count("www.test") >= 1, "the faulty server was never asked"
    assert second.count("www.test") >= 1


async def test_truncated_udp_answer_is_completed_over_tcp(dns_server: DNSServer) -> None:
    dns_server.add_host("big.test", "192.0.2.11")
    dns_server.fault("big.test", None, Fault.truncate())
    resolver = make(dns_server)
    try:
        assert ips(await resolve(resolver, "big.test", socket.AF_INET)) == {"192.0.2.11"}
    finally:
        await resolver.close()
    # Asked over UDP, completed over TCP (a retry on a busy machine may add one).
    assert 1 <= dns_server.count("big.test", "A", "udp") <= 2
    assert 1 <= dns_server.count("big.test", "A", "tcp") <= 2


async def test_200_addresses_all_returned_via_tcp(dns_server: DNSServer) -> None:
    dns_server.add_host("many.test", "192.0.2.12")
    dns_server.fault("many.test", "A", Fault.oversized(200))
    resolver = make(dns_server)
    try:
        addrs = await resolve(resolver, "many.test", socket.AF_INET)
    finally:
        await resolver.close()
    assert len(addrs) == 200
    assert len(ips(addrs)) == 200
    assert all(a.family == socket.AF_INET for a in addrs)
    assert 1 <= dns_server.count("many.test", "A", "tcp") <= 2


# -- hostile or broken answers -------------------------------------------------------------


BROKEN = [Fault.garbage(), Fault.short(), Fault.wrong_id(), Fault.wrong_name()]


@pytest.mark.parametrize("fault", BROKEN, ids=[f.kind for f in BROKEN])
async def test_broken_answer_is_a_typed_error_and_never_cached(
        dns_server: DNSServer, fault: Fault) -> None:
    name = f"{fault.kind.replace('_', '-')}.test"
    # What the broken answer is built from; it must never be returned for the name.
    dns_server.add_host(name, "192.0.2.66", "2001:db8::66")
    dns_server.fault(name, None, fault)
    resolver = make(dns_server)
    try:
        started = time.monotonic()
        with pytest.raises(DNSError) as caught:
            await resolve(resolver, name)
        assert time.monotonic() - started < 5  # at most the timeout, never a hang
        assert isinstance(caught.value, (ServerFailureError, DNSTimeoutError))
        assert caught.value.host == name
        # The fault is gone and the name moved: the next lookup asks again.
        dns_server.clear_faults()
        dns_server.remove(name)
        dns_server.add_host(name, "192.0.2.7")
        await past_remembered_failure()
        addrs = await resolve(resolver, name)
    finally:
        await resolver.close()
    assert ips(addrs) == {"192.0.2.7"}


async def test_wrong_name_answer_never_shows_up_for_the_asked_name(
        dns_server: DNSServer) -> None:
    # The answer for "wrong-name.invalid" carries 192.0.2.66; the asked name's real
    # address is published only after the fault.
    dns_server.add_host("asked.test", "192.0.2.66")
    dns_server.fault("asked.test", None, Fault.wrong_name())
    resolver = make(dns_server)
    seen: set[str] = set()
    try:
        for _ in range(3):
            with contextlib.suppress(DNSError):
                seen |= ips(await resolve(resolver, "asked.test"))
        dns_server.clear_faults()
        dns_server.remove("asked.test")
        dns_server.add_host("asked.test", "192.0.2.8")
        await past_remembered_failure()
        seen |= ips(await resolve(resolver, "asked.test"))
    finally:
        await resolver.close()
    assert seen == {"192.0.2.8"}


async def test_cname_loop_is_a_server_failure(dns_server: DNSServer) -> None:
    dns_server.add("loop1.test", "CNAME", "loop2.test")
    dns_server.add("loop2.test", "CNAME", "loop1.test")
    resolver = make(dns_server)
    try:
        with pytest.raises(ServerFailureError, match="loop"):
            await resolve(resolver, "loop1.test")
        # Remembered only as a brief failure (RFC 9520), never as an answer.
        record = resolver.cached("loop1.test")
        assert record is not None and record.kind == "failure" and not record.addrs
        assert record.ttl <= resolver.config.failure_ttl
    finally:
        await resolver.close()


async def test_short_cname_chain_resolves(dns_server: DNSServer) -> None:
    for i in range(10):
        dns_server.add(f"d{i}.test", "CNAME", f"d{i + 1}.test")
    dns_server.add_host("d10.test", "192.0.2.10")
    resolver = make(dns_server)
    try:
        assert ips(await resolve(resolver, "d0.test", socket.AF_INET)) == {"192.0.2.10"}
    finally:
        await resolver.close()


async def test_20_step_cname_chain_is_a_server_failure_not_cached(
        dns_server: DNSServer) -> None:
    for i in range(20):
        dns_server.add(f"c{i}.test", "CNAME", f"c{i + 1}.test")
    dns_server.add_host("c20.test", "192.0.2.20")
    resolver = make(dns_server)
    try:
        with pytest.raises(ServerFailureError):
            await resolve(resolver, "c0.test", socket.AF_INET)
        # Nothing negative may stay: once the chain is short, the name resolves.
        dns_server.remove("c0.test")
        dns_server.add("c0.test", "CNAME", "c20.test")
        await past_remembered_failure()
        assert ips(await resolve(resolver, "c0.test", socket.AF_INET)) == {"192.0.2.20"}
    finally:
        await resolver.close()


# -- every server dead ----------------------------------------------------------------------


async def test_all_servers_dead_serve_stale_until_stale_ttl(dns_server: DNSServer) -> None:
    dns_server.add_host("cached.test", "192.0.2.30", ttl=1)
    resolver = make(dns_server, stale_ttl=2)
    try:
        assert ips(await resolve(resolver, "cached.test", socket.AF_INET)) == {"192.0.2.30"}
        stored = time.monotonic()
        await asyncio.sleep(1.1)  # time is the subject: let the TTL run out
        dns_server.dead = True
        # Expired, server dead: the stale answer, again and again.
        for _ in range(3):
            got = await resolve(resolver, "cached.test", socket.AF_INET)
            assert ips(got) == {"192.0.2.30"}
        # Past TTL + stale_ttl (3 s after it was stored) it is gone.
        await asyncio.sleep(max(0.0, stored + 3.2 - time.monotonic()))
        with pytest.raises(DNSTimeoutError):
            await resolve(resolver, "cached.test", socket.AF_INET)
    finally:
        await resolver.close()


async def test_all_servers_dead_uncached_name_times_out_in_configured_time(
        dns_server: DNSServer, second: DNSServer) -> None:
    dns_server.dead = second.dead = True
    resolver = make(dns_server, second, timeout=0.3, tries=2)
    try:
        started = time.monotonic()
        with pytest.raises(DNSTimeoutError) as caught:
            await resolve(resolver, "nowhere.test")
        elapsed = time.monotonic() - started
    finally:
        await resolver.close()
    assert caught.value.host == "nowhere.test"
    # About 1.6 s here (c-ares doubles the timeout each round); generous for a busy
    # machine, far below a hang.
    assert 0.25 < elapsed < 8, f"timed out after {elapsed:.2f} s"
