"""No blocking call on the event loop, checked with blockbuster (as aiohttp's suite is).

The hosts file is read in the loop's executor, the RFC 6724 source probe uses a
non-blocking socket, and the rest is c-ares on non-blocking sockets. One test
proves the detector is live; one walks the resolver and adapter paths under
it; one runs the resolver and adapter test modules with ``-p _blockbuster``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
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


@pytest.mark.timeout(900)
def test_resolver_and_adapter_suites_pass_under_blockbuster() -> None:
    modules = ["test_resolver.py", "test_resolver_cache.py", "test_resolver_stream.py",
               "test_resolver_aiodns_api.py", "test_aiohttp_plugin.py",
               "test_httpx_transport.py"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(TESTS.parent), str(TESTS), env.get("PYTHONPATH", "")) if p)
    # Its 150 ms bound on a learned-fallback connect is about speed, which
    # blockbuster's stack walk on every socket call slows; it runs in the suite.
    timing = "test_httpx_transport.py::test_sync_transport_falls_back_and_learns"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "_blockbuster",
         "--deselect", f"tests/{timing}", *(f"tests/{m}" for m in modules)],
        cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=850, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "BlockingError" not in done.stdout


async def _ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    await writer.drain()
    writer.close()
