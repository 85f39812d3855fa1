"""The SSRF-safe address policy end to end: real DNS answers, real HTTP clients.

Documentation addresses (192.0.2.x, 2001:db8::x) stand for "public" and are only
ever data, never connected to; every connection goes to an HTTP server the test
starts on 127.0.0.1, which counts the connections it accepts.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Sequence

import aiohttp
import pytest

from asyncdns_connect import (
    Address,
    AddressPolicy,
    AddressPolicyError,
    DNSError,
    Resolver,
)
from asyncdns_connect.aiohttp import AiohttpResolver, connector
from asyncdns_connect.testing import DNSServer

WAIT = 5.0


class CountingHTTPServer:
    """A tiny HTTP/1.1 server on 127.0.0.1 that counts accepted connections."""

    def __init__(self) -> None:
        self.connections = 0
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                         b"Connection: close\r\n\r\nok")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> CountingHTTPServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def http_server() -> AsyncIterator[CountingHTTPServer]:
    async with CountingHTTPServer() as server:
        yield server


def policed(server: DNSServer, *allow: str, **kwargs: object) -> Resolver:
    return Resolver(nameservers=[server.address], timeout=0.3, tries=1, hosts_file=False,
                    address_policy=AddressPolicy.public_only(allow=allow),
                    **kwargs)  # type: ignore[arg-type]


async def resolve(resolver: Resolver, host: str,
                  family: int = socket.AF_UNSPEC) -> Sequence[Address]:
    return await asyncio.wait_for(resolver.resolve(host, family), WAIT)


# -- the resolver path -----------------------------------------------------------------------


async def test_refused_addresses_are_dropped_from_answers(dns_server: DNSServer) -> None:
    dns_server.add_host("mixed.test", "192.0.2.10", "127.0.0.1", "2001:db8::10", "::1")
    resolver = policed(dns_server)
    try:
        addrs = await resolve(resolver, "mixed.test")
    finally:
        await resolver.close()
    assert {a.host for a in addrs} == {"192.0.2.10", "2001:db8::10"}


async def test_name_with_only_refused_addresses_raises_address_policy_error(
        dns_server: DNSServer) -> None:
    dns_server.add_host("internal.test", "10.0.0.5", "fd00::5")
    resolver = policed(dns_server)
    try:
        with pytest.raises(AddressPolicyError) as caught:
            await resolve(resolver, "internal.test")
    finally:
        await resolver.close()
    err = caught.value
    assert isinstance(err, DNSError)
    assert err.host == "internal.test"
    assert "policy" in str(err)


REFUSED = {
    "loopback-v4": "127.0.0.1",
    "loopback-v4-high": "127.255.255.254",
    "loopback-v6": "::1",
    "rfc1918-10": "10.1.2.3",
    "rfc1918-172": "172.16.0.1",
    "rfc1918-192": "192.168.1.1",
    "ula-fc": "fc00::1",
    "ula-fd": "fd12:3456::1",
    "link-local-v4": "169.254.169.254",
    "link-local-v6": "fe80::1",
    "cgnat": "100.64.0.1",
    "multicast-v4": "224.0.0.1",
    "multicast-v6": "ff02::1",
    "unspecified-v4": "0.0.0.0",
    "unspecified-v6": "::",
    "v4-mapped-loopback": "::ffff:127.0.0.1",
    "v4-mapped-metadata": "::ffff:169.254.169.254",
    "nat64-loopback": "64:ff9b::7f00:1",
}


@pytest.mark.parametrize("ip", REFUSED.values(), ids=REFUSED.keys())
async def test_non_public_address_refused_through_the_real_resolver(
        dns_server: DNSServer, ip: str) -> None:
    dns_server.add_host("target.test", ip)
    resolver = policed(dns_server)
    try:
        with pytest.raises(AddressPolicyError):
            await resolve(resolver, "target.test")
        with pytest.raises(DNSError):  # and again, from the cache: still no address
            await resolve(resolver, "target.test")
    finally:
        await resolver.close()
    assert dns_server.count("target.test") >= 1  # it went over the wire


async def test_policy_error_is_the_same_from_the_cache(dns_server: DNSServer) -> None:
    dns_server.add_host("v6only.test", "::1")  # AAAA refused, no A at all
    resolver = policed(dns_server)
    try:
        with pytest.raises(AddressPolicyError):
            await resolve(resolver, "v6only.test")
        with pytest.raises(AddressPolicyError):
            await resolve(resolver, "v6only.test")
    finally:
        await resolver.close()


async def test_allow_list_lets_loopback_through(
        dns_server: DNSServer, http_server: CountingHTTPServer) -> None:
    dns_server.add_host("local.test", "127.0.0.1")
    resolver = policed(dns_server, "127.0.0.0/8")
    try:
        assert [a.host for a in await resolve(resolver, "local.test")] == ["127.0.0.1"]
        async with aiohttp.ClientSession(connector=connector(resolver)) as session, \
                session.get(f"http://local.test:{http_server.port}/") as resp:
            assert resp.status == 200
            assert await resp.text() == "ok"
    finally:
        await resolver.close()
    assert http_server.connections == 1


async def test_aiohttp_plugin_refuses_a_policed_name(
        dns_server: DNSServer, http_server: CountingHTTPServer) -> None:
    dns_server.add_host("sneaky.test", "127.0.0.1")
    resolver = policed(dns_server)
    try:
        with pytest.raises(AddressPolicyError):
            await AiohttpResolver(resolver).resolve("sneaky.test", 0, socket.AF_UNSPEC)
        async with aiohttp.ClientSession(connector=connector(resolver)) as session:
            with pytest.raises(aiohttp.ClientConnectorError) as caught:
                await session.get(f"http://sneaky.test:{http_server.port}/")
    finally:
        await resolver.close()
    assert "sneaky.test" in str(caught.value)
    assert isinstance(caught.value.os_error, AddressPolicyError)
    assert http_server.connections == 0


# -- IP literals in URLs ----------------------------------------------------------------------


async def test_aiohttp_ip_literal_url_refused(
        dns_server: DNSServer, http_server: CountingHTTPServer) -> None:
    resolver = policed(dns_server)
    url = f"http://127.0.0.1:{http_server.port}/"
    try:
        async with aiohttp.ClientSession(connector=connector(resolver)) as session:
            with pytest.raises(aiohttp.ClientConnectorError) as caught:
                await asyncio.wait_for(session.get(url), WAIT)
    finally:
        await resolver.close()
    assert "127.0.0.1" in str(caught.value)
    assert isinstance(caught.value.os_error, AddressPolicyError)
    assert http_server.connections == 0
    assert dns_server.count() == 0


async def test_aiohttp_ip_literal_url_allowed(
        dns_server: DNSServer, http_server: CountingHTTPServer) -> None:
    resolver = policed(dns_server, "127.0.0.0/8")
    try:
        async with aiohttp.ClientSession(connector=connector(resolver)) as session, \
                session.get(f"http://127.0.0.1:{http_server.port}/") as resp:
            assert resp.status == 200
    finally:
        await resolver.close()
    assert http_server.connections == 1


async def test_httpx_ip_literal_url_refused(
        dns_server: DNSServer, http_server: CountingHTTPServer) -> None:
    httpx = pytest.importorskip("httpx")
    from asyncdns_connect.httpx import AsyncResolverTransport

    resolver = policed(dns_server)
    url = f"http://127.0.0.1:{http_server.port}/"
    try:
        async with httpx.AsyncClient(transport=AsyncResolverTransport(resolver)) as client:
            with pytest.raises(httpx.ConnectError) as caught:
                await asyncio.wait_for(client.get(url), WAIT)
    finally:
        await resolver.close()
    assert "127.0.0.1" in str(caught.value)
    assert "policy" in str(caught.value)
    assert http_server.connections == 0


async def test_httpx_ip_literal_url_allowed(
        dns_server: DNSServer, http_server: CountingHTTPServer) -> None:
    httpx = pytest.importorskip("httpx")
    from asyncdns_connect.httpx import AsyncResolverTransport

    resolver = policed(dns_server, "127.0.0.0/8")
    try:
        async with httpx.AsyncClient(transport=AsyncResolverTransport(resolver)) as client:
            resp = await asyncio.wait_for(
                client.get(f"http://127.0.0.1:{http_server.port}/"), WAIT)
    finally:
        await resolver.close()
    assert resp.status_code == 200
    assert resp.text == "ok"
    assert http_server.connections == 1


async def test_httpx_policed_name_refused(
        dns_server: DNSServer, http_server: CountingHTTPServer) -> None:
    httpx = pytest.importorskip("httpx")
    from asyncdns_connect.httpx import AsyncResolverTransport

    dns_server.add_host("sneaky.test", "127.0.0.1")
    resolver = policed(dns_server)
    try:
        async with httpx.AsyncClient(transport=AsyncResolverTransport(resolver)) as client:
            with pytest.raises(httpx.ConnectError) as caught:
                await asyncio.wait_for(
                    client.get(f"http://sneaky.test:{http_server.port}/"), WAIT)
    finally:
        await resolver.close()
    assert "sneaky.test" in str(caught.value)
    assert http_server.connections == 0


# -- DNS rebinding ---------------------------------------------------------------------------


async def _rebind(server: DNSServer, name: str) -> None:
    server.remove(name)
    server.add_host(name, "127.0.0.1", ttl=1)


async def test_rebinding_after_expiry_never_reaches_loopback(
        dns_server: DNSServer, http_server: CountingHTTPServer) -> None:
    dns_server.add_host("rebind.test", "192.0.2.10", ttl=1)
    resolver = policed(dns_server)
    url = f"http://rebind.test:{http_server.port}/"
    seen: set[str] = set()
    try:
        seen |= {a.host for a in await resolve(resolver, "rebind.test", socket.AF_INET)}
        await _rebind(dns_server, "rebind.test")
        await asyncio.sleep(1.1)  # the public answer expires
        async with aiohttp.ClientSession(connector=connector(resolver)) as session:
            for _ in range(3):
                with contextlib.suppress(AddressPolicyError):
                    seen |= {a.host for a in await resolve(resolver, "rebind.test")}
                with pytest.raises(aiohttp.ClientConnectorError):
                    await asyncio.wait_for(session.get(url), WAIT)
    finally:
        await resolver.close()
    assert dns_server.count("rebind.test", "A") >= 2  # the refresh did happen
    assert "127.0.0.1" not in seen
    assert http_server.connections == 0


async def test_rebinding_through_prefetch_never_returns_loopback(
        dns_server: DNSServer) -> None:
    dns_server.add_host("prefetch.test", "192.0.2.11", ttl=2)
    resolver = policed(dns_server)
    seen: set[str] = set()
    try:
        seen |= {a.host for a in await resolve(resolver, "prefetch.test", socket.AF_INET)}
        stored = time.monotonic()
        await _rebind(dns_server, "prefetch.test")
        # Hits in the last tenth of the TTL start a background refresh (prefetch).
        await asyncio.sleep(max(0.0, stored + 1.85 - time.monotonic()))
        seen |= {a.host for a in await resolve(resolver, "prefetch.test", socket.AF_INET)}
        await dns_server.wait_for_queries(2, "prefetch.test", "A", timeout=WAIT)
        await asyncio.sleep(max(0.0, stored + 2.05 - time.monotonic()))
        for _ in range(3):
            with contextlib.suppress(AddressPolicyError):
                seen |= {a.host for a in
                         await resolve(resolver, "prefetch.test", socket.AF_INET)}
    finally:
        await resolver.close()
    assert seen == {"192.0.2.11"}


async def test_rebinding_to_a_mixed_answer_keeps_only_public(dns_server: DNSServer) -> None:
    dns_server.add_host("half.test", "192.0.2.12", ttl=1)
    resolver = policed(dns_server)
    try:
        await resolve(resolver, "half.test", socket.AF_INET)
        dns_server.add_host("half.test", "127.0.0.1", ttl=1)
        await asyncio.sleep(1.1)
        addrs = await resolve(resolver, "half.test", socket.AF_INET)
    finally:
        await resolver.close()
    assert [a.host for a in addrs] == ["192.0.2.12"]
    assert dns_server.count("half.test", "A") >= 2  # the second lookup asked again
