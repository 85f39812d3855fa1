"""Issue 12's rules, each checked on both clients (aiohttp and httpx) end to end.

Real parts only: the loopback DNS server, hypercorn on 127.0.0.x / ::1, black
holes (SYNs never answered), closed ports (refused), aiohttp and httpx clients.
Every request builds a new client, so every request makes a new connection; the
clock runs around the request alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path

import aiohttp
import httpx
import pytest
from _servers import HTTPServer, bind_tcp

from asyncdns_connect import DNSError, Resolver
from asyncdns_connect.aiohttp import connector
from asyncdns_connect.httpx import AsyncResolverTransport
from asyncdns_connect.testing import BlackHole, DNSServer, Fault

NAME = "he.test"
ROOT = Path(__file__).resolve().parent.parent
# (resolver, url, connect timeout, happy_eyeballs_delay=0.25)
Fetch = Callable[..., Awaitable[str]]


async def _aiohttp(resolver: Resolver, url: str, connect_timeout: float,
                   delay: float = 0.25) -> str:
    timeout = aiohttp.ClientTimeout(total=10, sock_connect=connect_timeout)
    conn = connector(resolver, happy_eyeballs_delay=delay)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as s:
        started = time.monotonic()
        async with s.get(url) as response:
            data = await response.json()
        _took.append(time.monotonic() - started)
    return str(data["server"][0])


async def _httpx(resolver: Resolver, url: str, connect_timeout: float,
                 delay: float = 0.25) -> str:
    transport = AsyncResolverTransport(resolver, happy_eyeballs_delay=delay)
    async with httpx.AsyncClient(transport=transport,
                                 timeout=httpx.Timeout(10, connect=connect_timeout)) as c:
        started = time.monotonic()
        response = await c.get(url)
        _took.append(time.monotonic() - started)
    return str(response.json()["server"][0])


_took: list[float] = []


@pytest.fixture(params=[_aiohttp, _httpx], ids=["aiohttp", "httpx"])
def fetch(request: pytest.FixtureRequest) -> Iterator[Fetch]:
    _took.clear()
    yield request.param


def took() -> float:
    return _took[-1]


@pytest.fixture
async def resolver(dns_server: DNSServer) -> AsyncIterator[Resolver]:
    async with Resolver(nameservers=[dns_server.address]) as res:
        yield res


@contextlib.contextmanager
def serving(listening: Sequence[str], holes: Sequence[str] = (),
            closed: Sequence[str] = ()) -> Iterator[HTTPServer]:
    """hypercorn on ``listening``; the same port black-holed or closed elsewhere."""
    hosts = [*listening, *holes, *closed]
    try:
        socks = bind_tcp(*hosts)
    except OSError as exc:
        pytest.skip(f"cannot bind {hosts} on one port: {exc}")
    black = []
    for host, sock in zip(hosts, socks, strict=True):
        if host in holes:
            black.append(BlackHole(sock))
        elif host in closed:
            sock.close()
    try:
        if black and not black[0].hangs():
            pytest.skip("the kernel answers SYNs past a full accept queue")
        with HTTPServer(socks[:len(listening)]) as server:
            yield server
    finally:
        for hole in black:
            hole.close()


# -- broken IPv6: the first connection pays the delay once, later ones do not ----------


async def test_broken6_first_pays_one_delay_later_ones_are_fast(
        fetch: Fetch, dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add_host(NAME, "127.0.0.1", "::1")
    with serving(["127.0.0.1"], holes=["::1"]) as server:
        assert (await resolver.resolve(NAME))[0].host == "::1"
        # A 1 s attempt delay: what waits on ::1 shows far above a busy machine's noise.
        assert await fetch(resolver, server.url(NAME), 5, 1.0) == "127.0.0.1"
        first = took()
        for _ in range(5):
            assert await fetch(resolver, server.url(NAME), 5, 1.0) == "127.0.0.1"
        later = statistics.median(_took[1:])
    assert first >= 0.9, "the first connection waited the delay on the black-holed ::1"
    assert later < 0.5, f"later connections p50 {later:.3f} s: the failure was not learned"
    assert later < first / 2


async def test_broken6_stays_fast_across_a_ttl_refresh(
        fetch: Fetch, dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add_host(NAME, "127.0.0.1", "::1", ttl=1)
    with serving(["127.0.0.1"], holes=["::1"]) as server:
        assert await fetch(resolver, server.url(NAME), 5, 1.0) == "127.0.0.1"
        queries = dns_server.count(NAME, "A")
        await asyncio.sleep(1.3)  # the records expire: the next lookup refreshes them
        assert await fetch(resolver, server.url(NAME), 5, 1.0) == "127.0.0.1"
        assert dns_server.count(NAME, "A") > queries, "the answer was refreshed"
    # Forgetting the failure would wait the 1 s attempt delay on ::1 again.
    assert took() < 0.5, f"after the refresh {took():.3f} s: the failure was forgotten"


# -- our order is the order attempted ---------------------------------------------------


async def test_the_resolvers_order_is_the_attempt_order(
        fetch: Fetch, dns_server: DNSServer, resolver: Resolver) -> None:
    # Order [.2 refused, .3 up, ::1 learned-failed]. aiohttp's own interleaving
    # would try ::1 second and wait 0.25 s on it; ours goes to .3 at once.
    dns_server.add_host(NAME, "127.0.0.2", "127.0.0.3", "::1")
    with serving(["127.0.0.3"], holes=["::1"], closed=["127.0.0.2"]) as server:
        await resolver.resolve(NAME)
        resolver.report_failure(NAME, "::1")
        assert [a.host for a in await resolver.resolve(NAME)] == [
            "127.0.0.2", "127.0.0.3", "::1"]
        # A 1 s attempt delay: trying ::1 before .3 would wait it out.
        assert await fetch(resolver, server.url(NAME), 5, 1.0) == "127.0.0.3"
        assert took() < 0.5, f"took {took():.3f} s: ::1 was attempted before 127.0.0.3"
        # The refused address truly failed: learned, it goes behind the one that works.
        order = [a.host for a in await resolver.resolve(NAME)]
        assert order[0] == "127.0.0.3"
        assert set(order[1:]) == {"127.0.0.2", "::1"}


async def test_an_address_never_attempted_is_not_blamed(
        fetch: Fetch, dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add_host(NAME, "127.0.0.1", "::1")
    with serving(["127.0.0.1", "::1"]) as server:
        before = [a.host for a in await resolver.resolve(NAME)]
        assert await fetch(resolver, server.url(NAME), 3) == before[0]
        assert [a.host for a in await resolver.resolve(NAME)] == before


# -- address families answering late ----------------------------------------------------


async def test_slow_a_with_black_holed_aaaa_connects_over_ipv4(
        fetch: Fetch, dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add_host(NAME, "127.0.0.1", "::1")
    dns_server.fault(NAME, "A", Fault.delay(0.6))
    with serving(["127.0.0.1"], holes=["::1"]) as server:
        assert await fetch(resolver, server.url(NAME), 3) == "127.0.0.1"
    assert 0.55 <= took() < 2.5, "connected once the A answer came, within the timeout"


async def test_aaaa_answering_first_connects_without_waiting_for_a(
        fetch: Fetch, dns_server: DNSServer) -> None:
    # A long Resolution Delay and a slower A: waiting for A would show.
    async with Resolver(nameservers=[dns_server.address], resolution_delay=1.0) as resolver:
        dns_server.add_host(NAME, "127.0.0.1", "::1")
        dns_server.fault(NAME, "A", Fault.delay(1.5))
        with serving(["127.0.0.1", "::1"]) as server:
            assert await fetch(resolver, server.url(NAME), 5) == "::1"
        assert took() < 0.5, f"took {took():.3f} s: waited for the A answer"
        # Let the slow A query end (answer or time out) before the Resolver closes.
        with contextlib.suppress(DNSError):
            await resolver.resolve(NAME, socket.AF_INET)


# -- each adapter needs only its own client ----------------------------------------------

_BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError(f"{{name}} is not installed")
sys.meta_path.insert(0, Block())
import asyncdns_connect.{adapter}
print("ok")
"""


@pytest.mark.parametrize(("adapter", "blocked"), [
    ("aiohttp", ("httpx", "httpcore", "anyio")), ("httpx", ("aiohttp",))])
def test_each_adapter_imports_without_the_other_client(adapter: str, blocked: tuple[str, ...]
                                                       ) -> None:
    code = _BLOCK.format(adapter=adapter, blocked=set(blocked))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.strip() == "ok", proc.stderr
