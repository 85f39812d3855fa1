"""The advice of docs/testing.md about aioresponses stays true.

aioresponses patches ``ClientSession._request``: mocked URLs never reach our
connector (no DNS query), URLs let through do (our resolver answers them). On
aiohttp 3.14 it needs the ``MockedResponse`` workaround; the last test fails once
it no longer does, so that the page is updated.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aioresponses import aioresponses
from yarl import URL

from asyncdns_connect import Resolver
from asyncdns_connect.aiohttp import connector
from asyncdns_connect.testing import DNSServer


class MockedResponse(aiohttp.ClientResponse):
    """As in docs/testing.md: supply the writer aioresponses 0.7.9 does not pass."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


@pytest.fixture
async def resolver(dns_server: DNSServer) -> AsyncIterator[Resolver]:
    async with Resolver(nameservers=[dns_server.address], hosts_file=False) as resolver:
        yield resolver


@pytest.fixture
async def app_port() -> AsyncIterator[int]:
    async def hello(request: web.Request) -> web.Response:
        return web.json_response({"real": True, "host": request.host})

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def test_mocked_url_on_our_connector_sends_no_dns_query(
        dns_server: DNSServer, resolver: Resolver) -> None:
    with aioresponses() as mocked:
        mocked.get("http://api.test/items", payload={"items": [1, 2]},
                   response_class=MockedResponse)
        async with aiohttp.ClientSession(connector=connector(resolver)) as session, \
                session.get("http://api.test/items") as resp:
            assert resp.status == 200
            assert await resp.json() == {"items": [1, 2]}
    assert dns_server.count() == 0
    assert resolver.stats().queries == 0


async def test_passthrough_url_goes_through_our_resolver(
        dns_server: DNSServer, resolver: Resolver, app_port: int) -> None:
    dns_server.add_host("real.test", "127.0.0.1")
    real = f"http://real.test:{app_port}"
    with aioresponses(passthrough=[real]) as mocked:
        mocked.get("http://api.test/", payload={"mocked": True},
                   response_class=MockedResponse)
        async with aiohttp.ClientSession(connector=connector(resolver)) as session:
            async with session.get(f"{real}/") as resp:
                assert await resp.json() == {"real": True, "host": f"real.test:{app_port}"}
            async with session.get("http://api.test/") as resp:
                assert await resp.json() == {"mocked": True}
    assert dns_server.count("real.test", "A") >= 1
    assert dns_server.count("api.test") == 0


async def test_aioresponses_still_needs_the_workaround(resolver: Resolver) -> None:
    # If this fails, aioresponses works on this aiohttp without MockedResponse:
    # update docs/testing.md (and drop the workaround there and above).
    with aioresponses() as mocked:
        mocked.get("http://api.test/", payload={})
        async with aiohttp.ClientSession(connector=connector(resolver)) as session:
            with pytest.raises(TypeError, match="stream_writer"):
                await session.get("http://api.test/")
