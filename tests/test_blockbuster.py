"""No blocking call on the event loop, checked with blockbuster (as aiohttp's suite is).

The hosts file is read in the loop's executor, the RFC 6724 source probe uses a
non-blocking socket, and the rest is c-ares on non-blocking sockets. One test
proves the detector is live; one walks the resolver and adapter paths under
it; the resolver and adapter test modules run under it (``_blockbuster``'s
autouse fixture, imported by each), which one more test checks.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import aiohttp
import httpx
import pytest
from _resolving import make, no_loop_errors  # noqa: F401 (fixture)
from blockbuster import BlockingError, blockbuster_ctx

from asyncdns_connect._hosts import HostsFile
from asyncdns_connect.aiohttp import connector
from asyncdns_connect.httpx import AsyncResolverTransport
from asyncdns_connect.testing import DNSServer

TESTS = Path(__file__).parent


async def test_the_detector_sees_a_hosts_file_read_on_the_loop(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text("192.0.2.1 a.test\n")
    hosts = HostsFile(str(tmp_path / "hosts"))
    with blockbuster_ctx(["asyncdns_connect"]), pytest.raises(BlockingError):
        hosts.reload_if_changed()  # what the lookup path did before: now off the loop


async def test_resolver_and_adapter_paths_do_not_block(dns_server: DNSServer,
                                                       tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("192.0.2.50 filed.test\n")
    dns_server.add_host("www.test", "127.0.0.1", "::1", "192.0.2.7", "2001:db8::7")
    server = await asyncio.start_server(_ok, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with blockbuster_ctx(["asyncdns_connect"],
                             excluded_modules=["asyncdns_connect.testing"]):
            async with make(dns_server, hosts_file=str(hosts)) as r:
                assert len(await r.resolve("www.test")) == 4  # sorted: the probe runs
                assert [a.host for a in await r.resolve("filed.test")] == ["192.0.2.50"]
                assert [b async for b in r.stream("localhost")]
                r.report_failure("www.test", "::1")
                hosts.write_text("192.0.2.51 filed.test\n")
                os.utime(hosts, (1, 1))
                for _ in range(50):  # re-read on the timer, in the executor
                    if [a.host for a in await r.resolve("filed.test")] == ["192.0.2.51"]:
                        break
                    await asyncio.sleep(0.1)
                assert [a.host for a in await r.resolve("filed.test")] == ["192.0.2.51"]
                url = f"http://www.test:{port}/"
                async with aiohttp.ClientSession(connector=connector(r)) as session, \
                        session.get(url) as response:
                    assert await response.text() == "ok"
                async with httpx.AsyncClient(transport=AsyncResolverTransport(r)) as client:
                    assert (await client.get(url)).text == "ok"
    finally:
        server.close()
        await server.wait_closed()


SUITES = ["test_resolver.py", "test_resolver_cache.py", "test_resolver_stream.py",
          "test_resolver_aiodns_api.py", "test_aiohttp_plugin.py", "test_httpx_transport.py"]


@pytest.mark.parametrize("module", SUITES)
def test_resolver_and_adapter_suites_run_under_blockbuster(module: str) -> None:
    # Each of these modules imports the autouse fixture, so the normal run is the
    # blockbuster run (it used to run them all a second time in a subprocess).
    source = (TESTS / module).read_text()
    assert "from _blockbuster import blockbuster" in source, module
    assert source.count("no_blockbuster") <= 1, "exempt only what is about speed"


async def _ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    await writer.drain()
    writer.close()
