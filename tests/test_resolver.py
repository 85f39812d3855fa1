"""Resolver.resolve against the loopback DNS server: what a caller sees, and what
reaches the server (queries are counted there, not inside the resolver).

Names, local answers, ordering, errors, merging of concurrent lookups, bursts,
the Resolution Delay, the life cycle, and a subset again on uvloop.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pycares
import pytest
from _blockbuster import blockbuster  # noqa: F401 (autouse: no blocking call on the loop)
from _resolving import make, no_loop_errors  # noqa: F401 (fixture)

from asyncdns_connect import (
    Address,
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
T = TypeVar("T")






@pytest.fixture
async def resolver(dns_server: DNSServer) -> AsyncIterator[Resolver]:
    async with make(dns_server) as r:
        yield r


def ips(addrs: Any) -> list[str]:
    return [a.host for a in addrs]


# -- families and order -------------------------------------------------------------


async def test_resolve_returns_both_families(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add_host("www.test", "192.0.2.1", "2001:db8::1", ttl=120)
    addrs = await resolver.resolve("www.test")
    assert sorted(ips(addrs)) == ["192.0.2.1", "2001:db8::1"]
    by_ip = {a.host: a for a in addrs}
    assert by_ip["192.0.2.1"] == Address("192.0.2.1", AF_INET, 120)
    assert by_ip["2001:db8::1"] == Address("2001:db8::1", AF_INET6, 120)
    assert isinstance(by_ip["192.0.2.1"].family, socket.AddressFamily)
    assert isinstance(addrs, tuple)
    assert dns_server.count("www.test", "A") == 1
    assert dns_server.count("www.test", "AAAA") == 1


async def test_family_filter(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add_host("www.test", "192.0.2.1", "192.0.2.2", "2001:db8::1")
    v4 = await resolver.resolve("www.test", AF_INET)
    v6 = await resolver.resolve("www.test", AF_INET6)
    assert ips(v4) == ["192.0.2.1", "192.0.2.2"]
    assert ips(v6) == ["2001:db8::1"]
    assert {a.family for a in v4} == {AF_INET}
    assert {a.family for a in v6} == {AF_INET6}
    # A family-filtered lookup asks only for that family.
    assert dns_server.count("www.test", "A") == 1
    assert dns_server.count("www.test", "AAAA") == 1


async def test_bad_family_is_a_value_error(resolver: Resolver) -> None:
    with pytest.raises(ValueError, match="family"):
        await resolver.resolve("www.test", socket.AF_UNIX)


async def test_interleaved_in_rfc6724_order(dns_server: DNSServer, resolver: Resolver) -> None:
    # No route to documentation prefixes in the jail: RFC 6724 precedence decides,
    # 2001:db8::/32 (::/0, 40) before IPv4 (35); then the families alternate (RFC 8305).
    dns_server.add_host("multi.test", "192.0.2.1", "192.0.2.2", "192.0.2.3",
                        "2001:db8::1", "2001:db8::2")
    addrs = await resolver.resolve("multi.test")
    assert ips(addrs) == ["2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2", "192.0.2.3"]


async def test_loopback_v6_precedes_v4(dns_server: DNSServer, resolver: Resolver) -> None:
    # ::1 has precedence 50, IPv4 35: IPv6 first when both are reachable.
    dns_server.add_host("lo.test", "127.0.0.1", "127.0.0.2", "::1")
    addrs = await resolver.resolve("lo.test")
    assert ips(addrs) == ["::1", "127.0.0.1", "127.0.0.2"]


async def test_first_family_count(dns_server: DNSServer) -> None:
    dns_server.add_host("multi.test", "192.0.2.1", "192.0.2.2", "192.0.2.3",
                        "2001:db8::1", "2001:db8::2", "2001:db8::3")
    async with make(dns_server, first_family_count=2) as r:
        addrs = await r.resolve("multi.test")
    assert ips(addrs) == ["2001:db8::1", "2001:db8::2", "192.0.2.1", "2001:db8::3",
                          "192.0.2.2", "192.0.2.3"]


async def test_cached_answer_keeps_its_order(dns_server: DNSServer, resolver: Resolver) -> None:
    # Unlike aiohttp's own cache, a hit does not rotate the list.
    dns_server.add_host("multi.test", "192.0.2.1", "192.0.2.2", "2001:db8::1")
    first = await resolver.resolve("multi.test")
    for _ in range(3):
        assert await resolver.resolve("multi.test") == first


# -- names --------------------------------------------------------------------------


async def test_name_is_normalised(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add_host("www.test", "192.0.2.1")
    dns_server.reset_log()
    for host in ("WWW.Test", "www.test.", "Www.TEST."):
        assert ips(await resolver.resolve(host, AF_INET)) == ["192.0.2.1"]
    # One name in the cache, one query, asked in lower case without the dot.
    assert [(q.name, q.qtype) for q in dns_server.queries] == [("www.test", "A")]


async def test_idna_name_is_queried_as_a_label(dns_server: DNSServer,
                                               resolver: Resolver) -> None:
    dns_server.add_host("xn--bcher-kva.test", "192.0.2.8")
    assert ips(await resolver.resolve("bücher.test", AF_INET)) == ["192.0.2.8"]
    assert ips(await resolver.resolve("BÜCHER.test.", AF_INET)) == ["192.0.2.8"]
    assert [q.name for q in dns_server.queries] == ["xn--bcher-kva.test"]


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("", "empty"),
        ("a" * 64 + ".test", "63"),
        (".".join(["a" * 63] * 4) + ".test", "253"),
        ("a..test", "empty label"),
        (".test", "empty label"),
        ("bad host.test", "whitespace"),
        ("bad\x00host.test", "control"),
        ("bad\nhost.test", "whitespace"),
        ("bad/host.test", "'/'"),
        ("user@host.test", "'@'"),
        ("bäd host.test", "whitespace"),
    ],
)
async def test_invalid_names_raise_without_a_query(
    dns_server: DNSServer, resolver: Resolver, host: str, reason: str
) -> None:
    with pytest.raises(InvalidHostError) as info:
        await resolver.resolve(host)
    err = info.value
    assert isinstance(err, DNSError)
    assert isinstance(err, ValueError)
    assert err.host == host
    assert repr(host) in str(err)
    assert reason in err.reason
    assert err.errno is None  # a c-ares status is no errno
    assert err.status == pycares.errno.ARES_EBADNAME
    assert dns_server.queries == []


async def test_non_str_host_is_invalid(dns_server: DNSServer, resolver: Resolver) -> None:
    for host in (b"www.test", ["www.test"], None):
        with pytest.raises(InvalidHostError):
            await resolver.resolve(host)  # type: ignore[arg-type]
        with pytest.raises(InvalidHostError):
            await anext(resolver.stream(host))  # type: ignore[arg-type]
    assert dns_server.queries == []


# -- answers that need no DNS ---------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("192.0.2.1", Address("192.0.2.1", AF_INET, 0)),
        ("2001:db8::1", Address("2001:db8::1", AF_INET6, 0)),
        ("[2001:db8::1]", Address("2001:db8::1", AF_INET6, 0)),
        ("2001:DB8:0::1", Address("2001:db8::1", AF_INET6, 0)),
        ("::1", Address("::1", AF_INET6, 0)),
    ],
)
async def test_ip_literal_returned_without_query(
    dns_server: DNSServer, resolver: Resolver, literal: str, expected: Address
) -> None:
    assert await resolver.resolve(literal) == (expected,)
    assert dns_server.queries == []


async def test_ip_literal_of_other_family_is_no_address(
    dns_server: DNSServer, resolver: Resolver
) -> None:
    with pytest.raises(NoAddressError) as info:
        await resolver.resolve("192.0.2.1", AF_INET6)
    assert "192.0.2.1" in str(info.value)
    assert dns_server.queries == []


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "app.localhost", "a.b.localhost"])
async def test_localhost_answered_locally(dns_server: DNSServer, resolver: Resolver,
                                          host: str) -> None:
    addrs = await resolver.resolve(host)
    assert sorted(ips(addrs)) == ["127.0.0.1", "::1"]
    assert ips(await resolver.resolve(host, AF_INET)) == ["127.0.0.1"]
    assert ips(await resolver.resolve(host, AF_INET6)) == ["::1"]
    assert dns_server.queries == []


@pytest.mark.parametrize("host", ["svc.onion", "x.y.onion", "thing.invalid", "invalid"])
async def test_onion_and_invalid_refused_without_query(
    dns_server: DNSServer, resolver: Resolver, host: str
) -> None:
    with pytest.raises(NameNotFoundError) as info:
        await resolver.resolve(host)
    assert repr(host) in str(info.value)
    assert dns_server.queries == []


async def test_overrides_answered_first(dns_server: DNSServer) -> None:
    dns_server.add_host("api.test", "192.0.2.99")
    overrides = {"API.test.": ["192.0.2.7", "2001:db8::7"], "one.test": "192.0.2.8"}
    async with make(dns_server, overrides=overrides) as r:
        assert sorted(ips(await r.resolve("api.test"))) == ["192.0.2.7", "2001:db8::7"]
        assert ips(await r.resolve("api.test", AF_INET)) == ["192.0.2.7"]
        assert ips(await r.resolve("one.test")) == ["192.0.2.8"]
        with pytest.raises(NoAddressError):
            await r.resolve("one.test", AF_INET6)
        assert r.stats().local >= 3
    assert dns_server.queries == []


def test_override_that_is_not_an_ip_is_refused() -> None:
    with pytest.raises(ValueError, match="not an IP"):
        Resolver(nameservers=["127.0.0.1:9"], overrides={"api.test": ["api2.test"]})


def rewrite(path: Path, text: str) -> None:
    """Change a file so that a stat() sees it, even on a coarse-clock file system."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


async def test_hosts_file_answers_and_is_reread(dns_server: DNSServer, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("192.0.2.20 filed.test alias.test\n2001:db8::20 filed.test\n")
    dns_server.add_host("filed.test", "192.0.2.99")
    dns_server.add_host("alias.test", "192.0.2.97", "2001:db8::97")
    dns_server.add_host("dns.test", "192.0.2.98")
    async with make(dns_server, hosts_file=str(hosts)) as r:
        assert sorted(ips(await r.resolve("filed.test"))) == ["192.0.2.20", "2001:db8::20"]
        assert ips(await r.resolve("filed.test", AF_INET6)) == ["2001:db8::20"]
        # The file names alias.test for IPv4 only: its IPv6 comes from DNS.
        assert sorted(ips(await r.resolve("ALIAS.test."))) == ["192.0.2.20", "2001:db8::97"]
        assert ips(await r.resolve("alias.test", AF_INET6)) == ["2001:db8::97"]
        assert ips(await r.resolve("dns.test", AF_INET)) == ["192.0.2.98"]  # not in the file
        assert dns_server.count("filed.test") == 0
        assert dns_server.count("alias.test", "A") == 0

        rewrite(hosts, "192.0.2.21 filed.test\n192.0.2.23 new.test\n")
        # The file is looked at once a second, off the event loop.
        for _ in range(50):
            if ips(await r.resolve("filed.test", AF_INET)) == ["192.0.2.21"]:
                break
            await asyncio.sleep(0.1)
        assert ips(await r.resolve("new.test", AF_INET)) == ["192.0.2.23"]
        # Gone from the file: now asked of DNS.
        assert sorted(ips(await r.resolve("alias.test"))) == ["192.0.2.97", "2001:db8::97"]
    assert dns_server.count("filed.test", "A") == 0
    assert dns_server.count("new.test") == 0
    assert dns_server.count("alias.test", "A") == 1


async def test_hosts_file_change_wins_over_cached_dns(dns_server: DNSServer,
                                                      tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("192.0.2.20 filed.test\n")
    dns_server.add_host("later.test", "192.0.2.98")
    async with make(dns_server, hosts_file=str(hosts)) as r:
        assert ips(await r.resolve("later.test", AF_INET)) == ["192.0.2.98"]
        rewrite(hosts, "192.0.2.22 later.test\n")
        for _ in range(50):  # the file is looked at once a second
            if ips(await r.resolve("later.test", AF_INET)) == ["192.0.2.22"]:
                break
            await asyncio.sleep(0.1)
        assert ips(await r.resolve("later.test", AF_INET)) == ["192.0.2.22"]
        assert dns_server.count("later.test", "A") == 1


# -- errors ---------------------------------------------------------------------------


def check_error(err: DNSError, host: str, status: int, *words: str) -> None:
    assert isinstance(err, OSError)
    assert err.status == status
    assert err.errno is None  # a c-ares status is no errno (aiohttp's resolvers agree)
    assert err.host == host
    assert repr(host) in str(err)
    assert err.reason and err.reason in str(err)
    for word in words:
        assert word in str(err)


async def test_nxdomain_is_name_not_found(dns_server: DNSServer, resolver: Resolver) -> None:
    with pytest.raises(NameNotFoundError) as info:
        await resolver.resolve("nope.test")
    check_error(info.value, "nope.test", pycares.errno.ARES_ENOTFOUND, "NXDOMAIN")


async def test_nodata_is_no_address(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add("txt-only.test", "TXT", "hello")
    with pytest.raises(NoAddressError) as info:
        await resolver.resolve("txt-only.test")
    check_error(info.value, "txt-only.test", pycares.errno.ARES_ENODATA, "NODATA")


async def test_nodata_of_one_family(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add_host("v4only.test", "192.0.2.4")
    assert await resolver.resolve("v4only.test") == (Address("192.0.2.4", AF_INET, 300),)
    with pytest.raises(NoAddressError) as info:
        await resolver.resolve("v4only.test", AF_INET6)
    check_error(info.value, "v4only.test", pycares.errno.ARES_ENODATA, "IPv6")
    assert ips(await resolver.resolve("v4only.test", AF_INET)) == ["192.0.2.4"]


async def test_servfail_is_server_failure(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.fault("broken.test", None, Fault.servfail())
    with pytest.raises(ServerFailureError) as info:
        await resolver.resolve("broken.test")
    check_error(info.value, "broken.test", pycares.errno.ARES_ESERVFAIL, "SERVFAIL")
    assert info.value.transient


async def test_refused_is_refused_error(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.refuse_all = True
    with pytest.raises(RefusedError) as info:
        await resolver.resolve("www.test")
    check_error(info.value, "www.test", pycares.errno.ARES_EREFUSED, "REFUSED")


async def test_drop_is_timeout(dns_server: DNSServer) -> None:
    dns_server.add_host("www.test", "192.0.2.1")
    dns_server.fault("www.test", None, Fault.drop())
    start = time.monotonic()
    with pytest.raises(DNSTimeoutError) as info:
        async with make(dns_server, timeout=0.3, tries=1) as r:
            await r.resolve("www.test")
    elapsed = time.monotonic() - start
    assert 0.25 <= elapsed < 1.5
    check_error(info.value, "www.test", pycares.errno.ARES_ETIMEOUT, "timeout")


async def test_one_family_failing_still_returns_the_other(
    dns_server: DNSServer, resolver: Resolver
) -> None:
    dns_server.add_host("half.test", "192.0.2.1", "2001:db8::1")
    dns_server.fault("half.test", "AAAA", Fault.servfail())
    assert ips(await resolver.resolve("half.test")) == ["192.0.2.1"]
    with pytest.raises(ServerFailureError):
        await resolver.resolve("half.test", AF_INET6)


async def test_errors_are_counted_by_kind(dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add_host("v4only.test", "192.0.2.4")
    dns_server.fault("broken.test", None, Fault.servfail())
    for host, family in (("nope.test", AF_UNSPEC), ("v4only.test", AF_INET6),
                         ("broken.test", AF_UNSPEC)):
        with pytest.raises(DNSError):
            await resolver.resolve(host, family)
    errors = resolver.stats().errors
    assert errors["NameNotFoundError"] == 1
    assert errors["NoAddressError"] == 1
    assert errors["ServerFailureError"] == 1


# -- one query per (name, type) -----------------------------------------------------------


async def test_concurrent_lookups_share_one_query(dns_server: DNSServer) -> None:
    dns_server.add_host("slow.test", "192.0.2.1", "2001:db8::1")
    dns_server.fault("slow.test", None, Fault.delay(0.3))
    async with make(dns_server) as r:
        results = await asyncio.gather(*(r.resolve("slow.test") for _ in range(50)))
        assert all(res == results[0] for res in results)
        assert sorted(ips(results[0])) == ["192.0.2.1", "2001:db8::1"]
        assert r.stats().merged >= 49
    assert dns_server.count("slow.test", "A") == 1
    assert dns_server.count("slow.test", "AAAA") == 1


async def test_cancelled_callers_leave_the_query_and_others_alone(
    dns_server: DNSServer,
) -> None:
    dns_server.add_host("slow.test", "192.0.2.1", "2001:db8::1")
    dns_server.fault("slow.test", None, Fault.delay(0.3))
    async with make(dns_server) as r:
        tasks = [asyncio.ensure_future(r.resolve("slow.test")) for _ in range(10)]
        await dns_server.wait_for_queries(1, "slow.test", "AAAA")
        for task in tasks[:5]:
            task.cancel()
        done = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(d, asyncio.CancelledError) for d in done[:5])
        assert all(sorted(ips(d)) == ["192.0.2.1", "2001:db8::1"] for d in done[5:])
    assert dns_server.count("slow.test", "A") == 1
    assert dns_server.count("slow.test", "AAAA") == 1


async def test_query_outlives_all_its_cancelled_callers(dns_server: DNSServer) -> None:
    dns_server.add_host("slow.test", "192.0.2.1", "2001:db8::1")
    dns_server.fault("slow.test", None, Fault.delay(0.3))
    async with make(dns_server) as r:
        tasks = [asyncio.ensure_future(r.resolve("slow.test")) for _ in range(3)]
        await dns_server.wait_for_queries(1, "slow.test", "AAAA")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0.5)  # the answers arrive and fill the cache anyway
        assert sorted(ips(await r.resolve("slow.test"))) == ["192.0.2.1", "2001:db8::1"]
        assert r.stats().hits == 1
    assert dns_server.count("slow.test", "A") == 1
    assert dns_server.count("slow.test", "AAAA") == 1


async def test_burst_of_5000_names(dns_server: DNSServer) -> None:
    n = 5000
    for i in range(n):
        dns_server.add_host(f"h{i}.burst.test", f"192.0.2.{i % 256}", f"2001:db8::{i + 1:x}")
    async with make(dns_server) as r:
        results = await asyncio.gather(*(r.resolve(f"h{i}.burst.test") for i in range(n)),
                                       return_exceptions=True)
        failures = [res for res in results if isinstance(res, BaseException)]
        assert failures == []
        for i, res in enumerate(results):
            assert sorted(ips(res)) == [f"192.0.2.{i % 256}", f"2001:db8::{i + 1:x}"]
        assert r.stats().cache_size == n
    assert dns_server.count(qtype="A") == n
    assert dns_server.count(qtype="AAAA") == n


# -- Resolution Delay (RFC 8305) ------------------------------------------------------------


async def test_slow_aaaa_does_not_hold_the_a_answer(dns_server: DNSServer) -> None:
    dns_server.add_host("slow6.test", "192.0.2.1", "2001:db8::1")
    dns_server.fault("slow6.test", "AAAA", Fault.delay(0.8))
    async with make(dns_server, timeout=3, tries=1) as r:
        addrs = await r.resolve("slow6.test")
        assert ips(addrs) == ["192.0.2.1"]  # it did not wait the 0.8 s for AAAA
        # A second caller while the AAAA is still out joins it: no new query.
        assert ips(await r.resolve("slow6.test")) == ["192.0.2.1"]
        assert r.stats().merged == 1
        await asyncio.sleep(1.0)  # the AAAA answer arrives and is cached
        assert sorted(ips(await r.resolve("slow6.test"))) == ["192.0.2.1", "2001:db8::1"]
    assert dns_server.count("slow6.test", "A") == 1
    # Once the A answered, the AAAA query unanswered after 250 ms is presumed lost
    # and sent once more (the engine's retransmission); the first stays open.
    assert dns_server.count("slow6.test", "AAAA") <= 2


async def test_slow_a_does_not_hold_the_aaaa_answer(dns_server: DNSServer) -> None:
    # The core waits resolution_delay for the other family whichever came first.
    dns_server.add_host("slow4.test", "192.0.2.1", "2001:db8::1")
    dns_server.fault("slow4.test", "A", Fault.delay(0.8))
    async with make(dns_server, timeout=3, tries=1) as r:
        addrs = await r.resolve("slow4.test")
        assert ips(addrs) == ["2001:db8::1"]  # it did not wait the 0.8 s for A
        await asyncio.sleep(1.0)
        assert sorted(ips(await r.resolve("slow4.test"))) == ["192.0.2.1", "2001:db8::1"]
    assert dns_server.count("slow4.test", "A") <= 2  # one retransmission, as above
    assert dns_server.count("slow4.test", "AAAA") == 1


async def test_both_families_within_resolution_delay(dns_server: DNSServer) -> None:
    dns_server.add_host("both.test", "192.0.2.1", "2001:db8::1")
    dns_server.fault("both.test", "AAAA", Fault.delay(0.1))
    async with make(dns_server, resolution_delay=0.5) as r:
        addrs = await r.resolve("both.test")
    assert sorted(ips(addrs)) == ["192.0.2.1", "2001:db8::1"]


async def test_negative_first_family_waits_for_the_other(dns_server: DNSServer) -> None:
    # A NODATA for A gives nothing to connect to: wait for the AAAA however long.
    dns_server.add_host("v6only.test", "2001:db8::6")
    dns_server.fault("v6only.test", "AAAA", Fault.delay(0.4))
    async with make(dns_server) as r:
        assert ips(await r.resolve("v6only.test")) == ["2001:db8::6"]


# -- life cycle -----------------------------------------------------------------------------


async def test_close_is_idempotent_and_final(dns_server: DNSServer) -> None:
    dns_server.add_host("www.test", "192.0.2.1")
    r = make(dns_server)
    assert ips(await r.resolve("www.test")) == ["192.0.2.1"]
    assert not r.closed
    await r.close()
    await r.close()
    assert r.closed
    for host in ("www.test", "other.test"):
        with pytest.raises(ResolverClosedError) as info:
            await r.resolve(host)
        assert isinstance(info.value, OSError)
        assert repr(host) in str(info.value)
    assert r.stats().cache_size == 0
    assert dns_server.count("www.test", "A") == 1


async def test_close_fails_pending_lookups(dns_server: DNSServer) -> None:
    dns_server.add_host("slow.test", "192.0.2.1", "2001:db8::1")
    dns_server.fault("slow.test", None, Fault.delay(1.0))
    r = make(dns_server)
    tasks = [asyncio.ensure_future(r.resolve("slow.test", fam))
             for fam in (AF_UNSPEC, AF_UNSPEC, AF_INET, AF_INET6)]
    await dns_server.wait_for_queries(1, "slow.test", "AAAA")
    await r.close()
    # Failed at once: the answers (1 s away) would have made them succeed.
    done = await asyncio.gather(*tasks, return_exceptions=True)
    for outcome in done:
        assert isinstance(outcome, ResolverClosedError), outcome
        assert "slow.test" in str(outcome)


async def test_async_with_closes(dns_server: DNSServer) -> None:
    dns_server.add_host("www.test", "192.0.2.1")
    async with make(dns_server) as r:
        assert isinstance(r, Resolver)
        await r.resolve("www.test")
    assert r.closed
    with pytest.raises(ResolverClosedError):
        await r.resolve("www.test")


async def test_close_without_use(dns_server: DNSServer) -> None:
    r = make(dns_server)
    await r.close()
    assert r.closed


async def test_stats_fields(dns_server: DNSServer) -> None:
    dns_server.add_host("www.test", "192.0.2.1", "2001:db8::1")
    dns_server.add_host("slow.test", "192.0.2.2")
    dns_server.fault("slow.test", None, Fault.delay(0.1))
    async with make(dns_server, timeout=0.3, tries=1) as r:
        empty = r.stats()
        assert (empty.hits, empty.misses, empty.stale, empty.prefetches, empty.merged,
                empty.queries, empty.cache_size) == (0, 0, 0, 0, 0, 0, 0)
        assert not empty.errors
        await r.resolve("www.test")  # miss: A + AAAA
        await r.resolve("www.test")  # hit
        await r.resolve("www.test", AF_INET)  # hit
        await asyncio.gather(r.resolve("slow.test"), r.resolve("slow.test"))  # 1 miss, merged
        with pytest.raises(NameNotFoundError):
            await r.resolve("nope.test")
        s = r.stats()
        assert s.hits == 2
        assert s.misses == 4
        assert s.merged == 2
        assert s.stale == 0 and s.prefetches == 0
        assert s.errors == {"NameNotFoundError": 1}
        assert s.cache_size == 3
        # A/AAAA for three names plus SOA queries for the negative TTL.
        assert s.queries == len(dns_server.queries)
        assert s.queries >= 6
        assert set(s.as_dict()) >= {"hits", "misses", "stale", "prefetches", "merged",
                                    "queries", "errors", "cache_size"}
        # A snapshot: later lookups do not change it.
        await r.resolve("www.test")
        assert s.hits == 2


# -- uvloop -----------------------------------------------------------------------------------

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
try:
    import uvloop

    LOOPS["uvloop"] = uvloop.new_event_loop
except ImportError:  # pragma: no cover - uvloop is a test dependency
    pass


def run_in_new_loop(factory: Callable[[], asyncio.AbstractEventLoop],
                    coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.Runner(loop_factory=...).run(coro), also on Python 3.10."""
    loop = factory()
    try:
        return loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


@pytest.fixture(params=sorted(LOOPS))
def run_on(request: pytest.FixtureRequest) -> Iterator[Callable[[Callable[[DNSServer],
                                                                  Awaitable[None]]], None]]:
    """Run ``test(server)`` on a fresh loop of the given kind with its own DNS server."""

    def run(test: Callable[[DNSServer], Awaitable[None]]) -> None:
        async def main() -> None:
            loop = asyncio.get_running_loop()
            errors: list[dict[str, Any]] = []
            loop.set_exception_handler(lambda _loop, context: errors.append(context))
            async with DNSServer() as server:
                await test(server)
            gc.collect()
            await asyncio.sleep(0)
            assert not errors, errors

        run_in_new_loop(LOOPS[request.param], main())

    yield run


def test_loops_basic_resolve(run_on: Callable[..., None]) -> None:
    async def test(server: DNSServer) -> None:
        server.add_host("www.test", "192.0.2.1", "2001:db8::1")
        async with make(server) as r:
            assert ips(await r.resolve("www.test")) == ["2001:db8::1", "192.0.2.1"]
            assert ips(await r.resolve("www.test", AF_INET6)) == ["2001:db8::1"]
            with pytest.raises(NameNotFoundError):
                await r.resolve("nope.test")
        assert server.count("www.test", "A") == 1
        assert server.count("www.test", "AAAA") == 1

    run_on(test)


def test_loops_concurrency_merge(run_on: Callable[..., None]) -> None:
    async def test(server: DNSServer) -> None:
        server.add_host("slow.test", "192.0.2.1", "2001:db8::1")
        server.fault("slow.test", None, Fault.delay(0.3))
        async with make(server) as r:
            results = await asyncio.gather(*(r.resolve("slow.test") for _ in range(50)))
        assert {tuple(ips(res)) for res in results} == {("2001:db8::1", "192.0.2.1")}
        assert server.count("slow.test", "A") == 1
        assert server.count("slow.test", "AAAA") == 1

    run_on(test)


def test_loops_timeout(run_on: Callable[..., None]) -> None:
    async def test(server: DNSServer) -> None:
        server.fault("www.test", None, Fault.drop())
        async with make(server, timeout=0.3, tries=1) as r:
            start = time.monotonic()
            with pytest.raises(DNSTimeoutError):
                await r.resolve("www.test")
            assert 0.25 <= time.monotonic() - start < 1.5

    run_on(test)


def test_loops_close_fails_pending(run_on: Callable[..., None]) -> None:
    async def test(server: DNSServer) -> None:
        server.add_host("slow.test", "192.0.2.1")
        server.fault("slow.test", None, Fault.delay(1.0))
        r = make(server)
        task = asyncio.ensure_future(r.resolve("slow.test"))
        await server.wait_for_queries(2, "slow.test")
        await r.close()
        with pytest.raises(ResolverClosedError):
            await task

    run_on(test)


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_one_resolver_on_successive_loops(threaded_dns_server: Any, loop_name: str) -> None:
    # asyncio.run() twice, as sync code and some test suites do: the channel is rebuilt.
    threaded_dns_server.add_host("www.test", "192.0.2.1")
    threaded_dns_server.add_host("two.test", "192.0.2.2")
    r = Resolver(nameservers=[threaded_dns_server.address], hosts_file=False,
                 timeout=2.0, tries=2)
    factory = LOOPS[loop_name]
    for name, ip in (("www.test", "192.0.2.1"), ("two.test", "192.0.2.2")):
        assert ips(run_in_new_loop(factory, r.resolve(name, AF_INET))) == [ip]

    async def cached_then_close() -> Any:
        try:
            return await r.resolve("www.test", AF_INET)
        finally:
            await r.close()

    assert ips(run_in_new_loop(factory, cached_then_close())) == ["192.0.2.1"]
    assert threaded_dns_server.count("www.test", "A") == 1



# -- configuration ----------------------------------------------------------------------


def test_every_config_field_is_a_resolver_keyword() -> None:
    import dataclasses

    from asyncdns_connect import ResolverConfig

    other: dict[str, object] = {
        "nameservers": ("127.0.0.1:5353",), "timeout": 0.5, "tries": 4, "rotate": True,
        "max_concurrent_queries": 8, "hosts_file": False, "hosts_check_interval": 5.0,
        "overrides": {"a.test": ["192.0.2.1"]}, "cache_size": 7, "min_ttl": 1.0,
        "max_ttl": 60.0, "negative_ttl": 3.0, "max_negative_ttl": 30.0, "failure_ttl": 2.0,
        "max_failure_ttl": 8.0, "prefetch_fraction": 0.2, "stale_ttl": 10.0,
        "stale_answer_timeout": 0.5, "failed_address_ttl": 60.0, "resolution_delay": 0.1,
        "first_family_count": 2,
    }
    names = {f.name for f in dataclasses.fields(ResolverConfig)}
    assert names == set(other)  # a new knob needs a line here
    for name, value in other.items():
        assert getattr(ResolverConfig(), name) != value
        assert getattr(Resolver(**{name: value}).config, name) == value, name


def test_config_and_keywords_merge_and_unknown_keywords_fail() -> None:
    from asyncdns_connect import ResolverConfig

    base = ResolverConfig(nameservers=("127.0.0.1:5353",), cache_size=5)
    r = Resolver(config=base, min_ttl=3)
    assert (r.config.nameservers, r.config.cache_size, r.config.min_ttl) == (
        ("127.0.0.1:5353",), 5, 3)
    with pytest.raises(TypeError, match="cache_sise"):
        Resolver(cache_sise=5)
    with pytest.raises(ValueError, match="failure_ttl"):
        Resolver(failure_ttl=0)


async def test_this_module_runs_under_blockbuster(tmp_path: Path) -> None:
    # The imported autouse fixture is live: a blocking read on the loop fails.
    from blockbuster import BlockingError

    from asyncdns_connect._hosts import HostsFile

    (tmp_path / "hosts").write_text("192.0.2.1 a.test\n")
    with pytest.raises(BlockingError):
        HostsFile(str(tmp_path / "hosts")).reload_if_changed()
