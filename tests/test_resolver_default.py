"""The per-loop default Resolver: as long-lived as its loop, never keeping it alive.

Adapters made without a resolver use the loop's default, which asks the system's
nameserver: inside ../shared/netjail that is 127.0.0.1:53, where these tests run
the loopback DNS server. Real aiohttp and httpx clients; no mocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import socket
import weakref
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest

from asyncdns_connect import DNSError
from asyncdns_connect._default import default_resolver
from asyncdns_connect.aiohttp import AiohttpResolver, connector
from asyncdns_connect.httpx import AsyncResolverTransport
from asyncdns_connect.testing import DNSServer

pytestmark = pytest.mark.skipif(
    os.environ.get("NETJAIL_INSIDE") != "1",
    reason="the system resolver is only safe to use inside ../shared/netjail")


@pytest.fixture
async def port53() -> AsyncIterator[DNSServer]:
    server = DNSServer("127.0.0.1", 53)  # netjail's resolv.conf names 127.0.0.1
    try:
        await server.start()
    except OSError as exc:
        pytest.skip(f"cannot bind 127.0.0.1:53: {exc}")
    try:
        yield server
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def http_server() -> AsyncIterator[int]:
    """A minimal HTTP/1.1 server on 127.0.0.1 answering "ok" and closing."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_unclosed_adapters_leave_no_loop_alive() -> None:
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def batch() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        plugin = AiohttpResolver()
        transport = AsyncResolverTransport()
        assert plugin.resolver is transport.network_backend.resolver is default_resolver()
        # A lookup binds the default's c-ares channel to this loop (no server: refused).
        with contextlib.suppress(DNSError):
            await plugin.resolve("unanswered.test", 80, socket.AF_INET)
        # Neither adapter is closed.

    asyncio.run(batch())  # the first run sets up the thread pool and imports
    gc.collect()
    fds = open_fds()
    for _ in range(10):
        asyncio.run(batch())
    gc.collect()
    assert [ref for ref in loops if ref() is not None] == []
    assert open_fds() <= fds + 2


async def test_closed_httpx_client_and_a_later_aiohttp_plugin_share_one_cache(
        port53: DNSServer) -> None:
    port53.add_host("shared-default.test", "127.0.0.1")
    async with http_server() as port:
        url = f"http://shared-default.test:{port}/"
        async with httpx.AsyncClient(transport=AsyncResolverTransport()) as client:
            assert (await client.get(url)).text == "ok"
        # A new session per batch, as scrapers do: the loop's cache is still there.
        async with aiohttp.ClientSession(connector=connector()) as session, \
                session.get(url) as response:
            assert await response.text() == "ok"
        [result] = await AiohttpResolver().resolve("shared-default.test", port,
                                                   socket.AF_INET)
        assert result["host"] == "127.0.0.1"
    assert port53.count("shared-default.test", "A") == 1
    assert not default_resolver().closed
