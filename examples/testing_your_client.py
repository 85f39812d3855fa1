"""Test your own client code against fake DNS names, with ``asyncdns_connect.testing``.

    python -m pytest examples/testing_your_client.py

The ``dns_server`` fixture comes with the package's pytest plugin (install
``asyncdns-connect[testing]``; it registers itself). It is a DNS server on
127.0.0.1 that each test fills with names. Point a Resolver at it and your code
resolves ``api.myapp.test`` to the loopback web server the test started, through
real DNS packets: the DNS side of your code is tested too, and nothing leaves
the machine. ``Fault`` makes the server misbehave, ``dead`` silences it, and
``count()`` tells what reached it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import TracebackType

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from asyncdns_connect import Resolver
from asyncdns_connect.aiohttp import connector
from asyncdns_connect.testing import DNSServer, Fault

# -- the code under test: yours ---------------------------------------------------------


class ServiceUnavailable(Exception):
    pass


class StatusClient:
    """Asks a service for its status. Taking the Resolver lets tests point it at fake DNS."""

    def __init__(self, base_url: str, resolver: Resolver | None = None) -> None:
        self._base_url = base_url
        # Status checks are rare: a new connection (and so a lookup) every time.
        self._session = aiohttp.ClientSession(
            connector=connector(resolver, force_close=True),
            timeout=aiohttp.ClientTimeout(total=5))

    async def status(self) -> str:
        try:
            async with self._session.get(f"{self._base_url}/status") as resp:
                resp.raise_for_status()
                return await resp.text()
        except aiohttp.ClientConnectorError as exc:
            raise ServiceUnavailable(exc.os_error.strerror or str(exc)) from exc

    async def __aenter__(self) -> StatusClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self._session.close()


# -- the tests --------------------------------------------------------------------------


@pytest_asyncio.fixture
async def web_port() -> AsyncIterator[int]:
    """A web server on 127.0.0.1 whose /status says ok; yields its port."""

    async def status(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/status", status)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert runner.addresses
    yield runner.addresses[0][1]
    await runner.cleanup()


@pytest.mark.asyncio
async def test_status_through_a_fake_name(dns_server: DNSServer, web_port: int) -> None:
    dns_server.add_host("api.myapp.test", "127.0.0.1")
    async with (Resolver(nameservers=[dns_server.address]) as resolver,
                StatusClient(f"http://api.myapp.test:{web_port}", resolver) as client):
        assert await client.status() == "ok"
        assert await client.status() == "ok"
    # The second call was answered from the resolver's cache.
    assert dns_server.count("api.myapp.test", "A") == 1


@pytest.mark.asyncio
async def test_a_name_that_does_not_exist(dns_server: DNSServer) -> None:
    async with (Resolver(nameservers=[dns_server.address]) as resolver,
                StatusClient("http://api.myapp.test", resolver) as client):
        with pytest.raises(ServiceUnavailable, match=r"'api\.myapp\.test'.*NXDOMAIN"):
            await client.status()


@pytest.mark.asyncio
async def test_a_failing_dns_server(dns_server: DNSServer) -> None:
    dns_server.add_host("api.myapp.test", "127.0.0.1")
    dns_server.fault("api.myapp.test", None, Fault.servfail())
    async with (Resolver(nameservers=[dns_server.address]) as resolver,
                StatusClient("http://api.myapp.test", resolver) as client):
        with pytest.raises(ServiceUnavailable, match="SERVFAIL"):
            await client.status()


@pytest.mark.asyncio
async def test_dns_outage_after_the_first_lookup(dns_server: DNSServer, web_port: int) -> None:
    dns_server.add_host("api.myapp.test", "127.0.0.1", ttl=1)
    # A short c-ares timeout so the outage is noticed quickly.
    async with Resolver(nameservers=[dns_server.address], timeout=0.2, tries=1) as resolver:
        async with StatusClient(f"http://api.myapp.test:{web_port}", resolver) as client:
            assert await client.status() == "ok"
            dns_server.dead = True
            await asyncio.sleep(1.2)  # the answer's TTL runs out
            # The expired answer is served stale (RFC 8767) while DNS is down.
            assert await client.status() == "ok"
        assert resolver.stats().stale == 1
