"""The aiohttp plugin over real sockets: aiohttp client and server, loopback DNS.

Every request goes by host NAME through ``AiohttpResolver`` to a ``DNSServer`` on
127.0.0.1, and on to aiohttp web servers on 127.0.0.1 and ::1 started here.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from _blockbuster import blockbuster  # noqa: F401 (autouse: no blocking call on the loop)
from aiohttp import web

import asyncdns_connect.aiohttp as plugin_module
from asyncdns_connect import (
    AddressPolicy,
    AddressPolicyError,
    InvalidHostError,
    NameNotFoundError,
    Resolver,
    ResolverClosedError,
)
from asyncdns_connect._default import SharedResolver
from asyncdns_connect.aiohttp import AiohttpResolver, connector
from asyncdns_connect.testing import BlackHole, DNSServer, Fault

# Generous: the machine has 2 cores and other suites may run at the same time.
FAST = 0.8


# -- servers ---------------------------------------------------------------------


class Web:
    """aiohttp web servers on loopback; every request is counted."""

    def __init__(self) -> None:
        self.hits = 0
        self.runners: list[web.AppRunner] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        assert request.transport is not None
        # Which of our addresses the client reached.
        return web.Response(text=f"ok {request.transport.get_extra_info('sockname')[0]}")

    async def serve(self, host: str, port: int = 0) -> int:
        """Serve on ``host``:``port`` (0: a free port); return the port."""
        app = web.Application()
        app.router.add_get("/", self.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        self.runners.append(runner)
        site = web.TCPSite(runner, host, port)
        await site.start()
        return int(runner.addresses[0][1])

    async def serve_dual(self) -> int:
        """One port on both 127.0.0.1 and ::1 (retried if ::1 has it taken)."""
        for _ in range(20):
            port = await self.serve("127.0.0.1")
            try:
                await self.serve("::1", port)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    pytest.skip(f"cannot serve on ::1: {exc}")
                await self.runners.pop(-2).cleanup()
                continue
            return port
        pytest.skip("no port free on both 127.0.0.1 and ::1")

    async def close(self) -> None:
        for runner in self.runners:
            await runner.cleanup()


@pytest.fixture
async def webs() -> AsyncIterator[Web]:
    servers = Web()
    try:
        yield servers
    finally:
        await servers.close()


@pytest.fixture
async def resolver(dns_server: DNSServer) -> AsyncIterator[Resolver]:
    async with Resolver(nameservers=[dns_server.address]) as r:
        yield r


async def get(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url) as resp:
        assert resp.status == 200
        return await resp.text()


@contextlib.asynccontextmanager
async def session_for(resolver: Resolver, **options: Any
                      ) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=connector(resolver, **options)) as session:
        yield session


# -- requests by name ------------------------------------------------------------


async def test_request_by_name(dns_server: DNSServer, resolver: Resolver, webs: Web) -> None:
    port = await webs.serve("127.0.0.1")
    dns_server.add_host("app.test", "127.0.0.1")
    async with session_for(resolver) as session:
        assert await get(session, f"http://app.test:{port}/") == "ok 127.0.0.1"
    assert dns_server.count("app.test", "A") == 1


async def test_dual_stack_goes_in_the_resolvers_order(
        dns_server: DNSServer, resolver: Resolver, webs: Web) -> None:
    port = await webs.serve_dual()
    dns_server.add_host("dual.test", "127.0.0.1", "::1")
    first = (await resolver.resolve("dual.test"))[0].host
    async with session_for(resolver) as session:
        assert await get(session, f"http://dual.test:{port}/") == f"ok {first}"


async def test_ten_connections_within_the_ttl_make_one_query_per_family(
        dns_server: DNSServer, resolver: Resolver, webs: Web) -> None:
    port = await webs.serve_dual()
    dns_server.add_host("ten.test", "127.0.0.1", "::1", ttl=300)
    async with session_for(resolver, force_close=True) as session:
        for _ in range(10):
            await get(session, f"http://ten.test:{port}/")
    assert webs.hits == 10
    assert (dns_server.count("ten.test", "A"), dns_server.count("ten.test", "AAAA")) == (1, 1)


async def test_a_connection_after_the_ttl_asks_again(
        dns_server: DNSServer, resolver: Resolver, webs: Web) -> None:
    port = await webs.serve_dual()
    dns_server.add_host("short.test", "127.0.0.1", "::1", ttl=1)
    async with session_for(resolver, force_close=True) as session:
        await get(session, f"http://short.test:{port}/")
        assert dns_server.count("short.test", "A") == 1
        await asyncio.sleep(1.5)
        await get(session, f"http://short.test:{port}/")
    assert (dns_server.count("short.test", "A"), dns_server.count("short.test", "AAAA")) == (2, 2)


async def test_twenty_concurrent_requests_make_one_query(
        dns_server: DNSServer, resolver: Resolver, webs: Web) -> None:
    port = await webs.serve("127.0.0.1")
    dns_server.add_host("burst.test", "127.0.0.1")
    dns_server.fault("burst.test", "A", Fault.delay(0.1))  # all twenty wait on one query
    async with session_for(resolver) as session:
        bodies = await asyncio.gather(
            *(get(session, f"http://burst.test:{port}/") for _ in range(20)))
    assert bodies == ["ok 127.0.0.1"] * 20
    assert dns_server.count("burst.test", "A") == 1


# -- Happy Eyeballs and the Resolution Delay -------------------------------------


@contextlib.contextmanager
def black_hole(host: str, port: int) -> Iterator[None]:
    """A port on ``host`` where connect() hangs (skips the test where it cannot)."""
    try:
        hole = BlackHole.on(host, port)
    except OSError as exc:
        pytest.skip(f"cannot bind the black hole on [{host}]:{port}: {exc}")
    with hole:
        if not hole.hangs():
            pytest.skip("the kernel answers SYNs past a full accept queue: no black hole")
        yield


async def test_black_holed_ipv6_falls_back_to_ipv4_fast(
        dns_server: DNSServer, resolver: Resolver, webs: Web) -> None:
    port = await webs.serve("127.0.0.1")
    dns_server.add_host("hole.test", "127.0.0.1", "::1")
    with black_hole("::1", port):
        order = [a.host for a in await resolver.resolve("hole.test")]
        assert order[0] == "::1", "the test needs IPv6 tried first"
        async with session_for(resolver) as session:
            started = time.monotonic()
            assert await get(session, f"http://hole.test:{port}/") == "ok 127.0.0.1"
            assert time.monotonic() - started < FAST


async def test_a_new_connection_skips_the_address_that_just_failed(
        dns_server: DNSServer, resolver: Resolver, webs: Web) -> None:
    port = await webs.serve("127.0.0.1")
    dns_server.add_host("learn.test", "127.0.0.1", "::1")
    with black_hole("::1", port):
        # A 1 s attempt delay: paying it again shows far above a busy machine's noise.
        async with session_for(resolver, force_close=True,
                               happy_eyeballs_delay=1.0) as session:
            started = time.monotonic()
            await get(session, f"http://learn.test:{port}/")
            first = time.monotonic() - started
            started = time.monotonic()
            assert await get(session, f"http://learn.test:{port}/") == "ok 127.0.0.1"
            second = time.monotonic() - started
    assert first >= 0.9, "the first connection waits the Happy Eyeballs delay on ::1"
    assert second < 0.5, f"the second paid the fallback again ({second:.3f} s)"
    assert (await resolver.resolve("learn.test"))[0].host == "127.0.0.1"


async def test_slow_aaaa_answer_does_not_delay_the_request(
        dns_server: DNSServer, resolver: Resolver, webs: Web) -> None:
    port = await webs.serve("127.0.0.1")
    dns_server.add_host("slow6.test", "127.0.0.1", "::1")
    dns_server.fault("slow6.test", "AAAA", Fault.delay(1.0))
    async with session_for(resolver) as session:
        started = time.monotonic()
        assert await get(session, f"http://slow6.test:{port}/") == "ok 127.0.0.1"
        assert time.monotonic() - started < FAST


# -- failures --------------------------------------------------------------------


async def test_dead_dns_server_serves_the_stale_answer(
        dns_server: DNSServer, webs: Web) -> None:
    port = await webs.serve("127.0.0.1")
    dns_server.add_host("stale.test", "127.0.0.1", ttl=1)
    async with Resolver(nameservers=[dns_server.address], timeout=0.3, tries=1) as r, \
            session_for(r, force_close=True) as session:
        await get(session, f"http://stale.test:{port}/")
        await asyncio.sleep(1.5)
        dns_server.dead = True
        assert await get(session, f"http://stale.test:{port}/") == "ok 127.0.0.1"
        assert r.stats().stale == 1
    assert webs.hits == 2


async def test_nxdomain_is_a_dns_error_naming_host_and_reason(
        dns_server: DNSServer, resolver: Resolver) -> None:
    async with session_for(resolver) as session:
        with pytest.raises(aiohttp.ClientConnectorDNSError) as info:
            await get(session, "http://missing.test/")
    assert info.value.host == "missing.test"
    assert isinstance(info.value.os_error, NameNotFoundError)
    assert "missing.test" in str(info.value)
    assert "NXDOMAIN" in str(info.value)


@pytest.mark.parametrize(("host", "reason"), [
    ("bad_name..test", "empty label"),
    ("a" * 64 + ".test", "label longer than 63"),
])
async def test_invalid_name_fails_clearly_without_a_query(
        dns_server: DNSServer, resolver: Resolver, host: str, reason: str) -> None:
    async with session_for(resolver) as session:
        with pytest.raises(aiohttp.ClientConnectorDNSError) as info:
            await get(session, f"http://{host}/")
    assert isinstance(info.value.os_error, InvalidHostError)
    assert host in str(info.value)
    assert reason in str(info.value)
    assert dns_server.count() == 0


# -- aiohttp integration ---------------------------------------------------------


async def test_trace_hooks_still_fire(
        dns_server: DNSServer, resolver: Resolver, webs: Web) -> None:
    port = await webs.serve("127.0.0.1")
    dns_server.add_host("traced.test", "127.0.0.1")
    events: list[tuple[str, str]] = []

    def record(kind: str) -> Callable[..., Awaitable[None]]:
        async def hook(session: Any, ctx: SimpleNamespace, params: Any) -> None:
            events.append((kind, params.host))
        return hook

    trace = aiohttp.TraceConfig()
    trace.on_dns_resolvehost_start.append(record("start"))
    trace.on_dns_resolvehost_end.append(record("end"))
    async with aiohttp.ClientSession(connector=connector(resolver),
                                     trace_configs=[trace]) as session:
        await get(session, f"http://traced.test:{port}/")
    assert events == [("start", "traced.test"), ("end", "traced.test")]


async def test_resolve_gives_aiohttp_results_in_the_resolvers_order(
        dns_server: DNSServer, resolver: Resolver) -> None:
    dns_server.add_host("shape.test", "192.0.2.1", "192.0.2.2", "2001:db8::1")
    plugin = AiohttpResolver(resolver)
    core = await resolver.resolve("shape.test")
    results = await plugin.resolve("shape.test", 8080, socket.AF_UNSPEC)
    flags = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
    assert results == [
        {"hostname": "shape.test", "host": a.host, "port": 8080, "family": a.family,
         "proto": 0, "flags": flags} for a in core]
    v4 = await plugin.resolve("shape.test", 80)  # aiohttp's default family: AF_INET
    assert sorted(r["host"] for r in v4) == ["192.0.2.1", "192.0.2.2"]
    v6 = await plugin.resolve("shape.test", 80, socket.AF_INET6)
    assert [(r["host"], r["family"]) for r in v6] == [("2001:db8::1", socket.AF_INET6)]
    await plugin.close()
    assert not resolver.closed
    with pytest.raises(ResolverClosedError):
        await plugin.resolve("shape.test")


async def test_link_local_address_keeps_its_scope() -> None:
    # As aiohttp's own resolvers do (getnameinfo NI_NUMERICHOST): "fe80::1%lo".
    async with Resolver(nameservers=["127.0.0.1:9"], overrides={"ll.test": ["fe80::1%lo"]}
                        ) as r:
        [result] = await AiohttpResolver(r).resolve("ll.test", 80, socket.AF_UNSPEC)
    assert (result["host"], result["family"]) == ("fe80::1%lo", socket.AF_INET6)
    # asyncio's sock_connect turns that text into a sockaddr with the scope id.
    sockaddr = socket.getaddrinfo(result["host"], 80, socket.AF_INET6,
                                  flags=socket.AI_NUMERICHOST)[0][4]
    assert sockaddr[3:] == (socket.if_nametoindex("lo"),)


# -- the default Resolver --------------------------------------------------------


def test_plugin_is_built_outside_a_running_loop() -> None:
    plugin = AiohttpResolver()

    async def use() -> bool:
        shared = plugin.resolver
        await plugin.close()
        # The default is the loop's: closing the plugin leaves it to the next one.
        return shared is AiohttpResolver().resolver and not shared.closed

    assert asyncio.run(use()) is True


async def test_plugins_without_a_resolver_share_the_loops_default() -> None:
    first, second = AiohttpResolver(), AiohttpResolver()
    shared = first.resolver
    assert second.resolver is shared
    other = SharedResolver(None)  # what the httpx transport holds
    assert other.get() is shared
    await first.close()
    assert not shared.closed
    await second.close()
    assert not shared.closed
    await other.release()
    assert not shared.closed  # it lives as long as the loop, not the last adapter
    assert AiohttpResolver().resolver is shared


@pytest.mark.skipif(os.environ.get("NETJAIL_INSIDE") != "1",
                    reason="the system resolver is only safe to use inside ../shared/netjail")
async def test_default_resolver_end_to_end_on_port_53(webs: Web) -> None:
    server = DNSServer("127.0.0.1", 53)  # netjail's resolv.conf names 127.0.0.1
    try:
        await server.start()
    except OSError as exc:
        pytest.skip(f"cannot bind 127.0.0.1:53: {exc}")
    try:
        port = await webs.serve("127.0.0.1")
        server.add_host("system.test", "127.0.0.1")
        async with aiohttp.ClientSession(connector=connector()) as session:
            assert await get(session, f"http://system.test:{port}/") == "ok 127.0.0.1"
        assert server.count("system.test", "A") >= 1
    finally:
        await server.stop()


# -- connector() -----------------------------------------------------------------


async def test_connector_settings(resolver: Resolver) -> None:
    conn = connector(resolver)
    try:
        assert isinstance(conn, aiohttp.TCPConnector)
        assert conn.use_dns_cache is False
        assert conn._happy_eyeballs_delay == 0.25
        assert conn._interleave is None  # aiohttp's default
        assert isinstance(conn._resolver, AiohttpResolver)
    finally:
        await conn.close()
    conn = connector(resolver, happy_eyeballs_delay=0.1, limit=7)
    assert (conn._happy_eyeballs_delay, conn.limit) == (0.1, 7)
    await conn.close()
    with pytest.raises(ValueError, match="use_dns_cache"):
        connector(resolver, use_dns_cache=True)
    with pytest.raises(ValueError, match="interleave"):
        connector(resolver, interleave=0)


async def test_connector_closes_only_the_plugin_it_made(resolver: Resolver) -> None:
    conn = connector()
    made = conn._resolver
    assert isinstance(made, AiohttpResolver)
    shared = made.resolver
    await conn.close()
    assert made.closed and not shared.closed  # the loop's default outlives the connector

    conn = connector(resolver)
    made = conn._resolver
    assert isinstance(made, AiohttpResolver)
    async with aiohttp.ClientSession(connector=conn):
        pass
    assert made.closed and conn.closed
    assert not resolver.closed  # the user's Resolver is the user's to close

    plugin = AiohttpResolver(resolver)
    conn = connector(plugin)
    await conn.close()
    assert not plugin.closed
    await plugin.close()


# -- SSRF: IP literals skip the resolver, not the policy -------------------------


@pytest.fixture
async def public_only(dns_server: DNSServer) -> AsyncIterator[Resolver]:
    async with Resolver(nameservers=[dns_server.address],
                        address_policy=AddressPolicy.public_only()) as r:
        yield r


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "[::ffff:127.0.0.1]"])
async def test_ip_literal_refused_by_the_policy(
        public_only: Resolver, webs: Web, host: str) -> None:
    port = await webs.serve("127.0.0.1")
    async with session_for(public_only) as session:
        with pytest.raises(aiohttp.ClientConnectorDNSError) as info:
            await get(session, f"http://{host}:{port}/")
    assert isinstance(info.value.os_error, AddressPolicyError)
    # yarl writes the literal in its canonical form (::ffff:7f00:1); the text names that.
    assert f"refusing to connect to '{info.value.host}'" in str(info.value)
    assert "address policy" in str(info.value)
    assert webs.hits == 0


async def test_name_refused_by_the_policy(
        dns_server: DNSServer, public_only: Resolver, webs: Web) -> None:
    port = await webs.serve("127.0.0.1")
    dns_server.add_host("inside.test", "127.0.0.1")
    async with session_for(public_only) as session:
        with pytest.raises(aiohttp.ClientConnectorDNSError) as info:
            await get(session, f"http://inside.test:{port}/")
    assert isinstance(info.value.os_error, AddressPolicyError)
    assert "inside.test" in str(info.value)
    assert webs.hits == 0


async def test_ip_literal_allowed_by_the_policy(dns_server: DNSServer, webs: Web) -> None:
    port = await webs.serve("127.0.0.1")
    policy = AddressPolicy.public_only(allow=["127.0.0.0/8"])
    async with Resolver(nameservers=[dns_server.address], address_policy=policy) as r, \
            session_for(r) as session:
        assert await get(session, f"http://127.0.0.1:{port}/") == "ok 127.0.0.1"
    assert dns_server.count() == 0


# -- the race: aiohttp connects through ours --------------------------------------


async def test_every_address_refused_fails_once_naming_host_and_reason(
        dns_server: DNSServer, resolver: Resolver) -> None:
    # Nothing listens on this port at 127.0.0.2 / 127.0.0.3: both refuse.
    with socket.socket() as probe:
        probe.bind(("127.0.0.2", 0))
        port = probe.getsockname()[1]
    dns_server.add_host("down.test", "127.0.0.2", "127.0.0.3")
    async with session_for(resolver) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as info:
            await get(session, f"http://down.test:{port}/")
    assert not isinstance(info.value, aiohttp.ClientConnectorDNSError)
    assert info.value.host == "down.test"
    assert "refused" in str(info.value).lower()


async def test_the_connector_keeps_aiohttps_socket_factory(
        dns_server: DNSServer, resolver: Resolver, webs: Web) -> None:
    if "socket_factory" not in inspect.signature(aiohttp.TCPConnector).parameters:
        pytest.skip(f"aiohttp {aiohttp.__version__} has no socket_factory")
    port = await webs.serve("127.0.0.1")
    dns_server.add_host("made.test", "127.0.0.1")
    made: list[Any] = []

    def factory(info: Any) -> socket.socket:
        made.append(info[4][0])
        return socket.socket(info[0], info[1], info[2])

    async with session_for(resolver, socket_factory=factory) as session:
        assert await get(session, f"http://made.test:{port}/") == "ok 127.0.0.1"
    assert made == ["127.0.0.1"]


async def test_port_out_of_range_is_a_clear_error(resolver: Resolver) -> None:
    plugin = AiohttpResolver(resolver)
    with pytest.raises(ValueError, match=r"'app\.test'.*port 70000.*0-65535"):
        await plugin.resolve("app.test", 70000)
    async with session_for(resolver) as session:
        # yarl refuses the URL before any connection (aiohttp's own error).
        with pytest.raises(aiohttp.InvalidURL):
            await get(session, "http://app.test:70000/")


async def test_connector_refuses_an_aiohttp_that_moved_its_hooks(
        resolver: Resolver, monkeypatch: pytest.MonkeyPatch) -> None:
    async def moved(self: Any, *args: Any, **kwargs: Any) -> Any:
        return await self._somewhere_else(*args, **kwargs)

    monkeypatch.setattr(aiohttp.TCPConnector, "_create_direct_connection", moved)
    monkeypatch.setattr(plugin_module, "_HOOKS_OK", [])
    with pytest.raises(RuntimeError, match=rf"aiohttp {aiohttp.__version__}.*_resolve_host"):
        connector(resolver)
