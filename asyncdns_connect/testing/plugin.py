"""pytest plugin (entry point ``pytest11``): DNS server fixtures, function scope.

- ``dns_server``: a started ``DNSServer`` on 127.0.0.1, on the test's event loop.
  Without pytest-asyncio it is a started ``ThreadedDNSServer`` instead (same
  zone/fault/log methods; ``wait_for_queries`` blocks).
- ``dns_server_v6``: the same on ::1; the test is skipped if ::1 cannot be bound.
- ``threaded_dns_server``: a started ``ThreadedDNSServer`` on 127.0.0.1.

Every pytest run of a project that installed asyncdns-connect loads this module,
so it imports nothing beyond pytest at load time: not dnslib (the ``[testing]``
extra), not aiohttp nor httpx, and pytest-asyncio only if it is installed. A
fixture used without dnslib fails that test with a message naming the extra.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import pytest

from . import require_dnslib

if TYPE_CHECKING:
    from ._server import DNSServer
    from ._threaded import ThreadedDNSServer


def _need_dnslib() -> None:
    try:
        require_dnslib()
    except ImportError as exc:
        pytest.fail(str(exc), pytrace=False)


def _threaded(host: str) -> Iterator[ThreadedDNSServer]:
    _need_dnslib()
    from ._threaded import ThreadedDNSServer

    server = ThreadedDNSServer(host=host)
    try:
        server.start()
    except OSError as exc:
        pytest.skip(f"cannot bind a DNS server on {host}: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def threaded_dns_server() -> Iterator[ThreadedDNSServer]:
    yield from _threaded("127.0.0.1")


if importlib.util.find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    async def _start(host: str) -> DNSServer:
        _need_dnslib()
        from ._server import DNSServer

        server = DNSServer(host=host)
        try:
            await server.start()
        except OSError as exc:
            pytest.skip(f"cannot bind a DNS server on {host}: {exc}")
        return server

    @pytest_asyncio.fixture(name="dns_server")
    async def _dns_server() -> AsyncIterator[DNSServer]:
        server = await _start("127.0.0.1")
        try:
            yield server
        finally:
            await server.stop()

    @pytest_asyncio.fixture(name="dns_server_v6")
    async def _dns_server_v6() -> AsyncIterator[DNSServer]:
        server = await _start("::1")
        try:
            yield server
        finally:
            await server.stop()

else:  # pragma: no cover - exercised only where pytest-asyncio is missing

    @pytest.fixture(name="dns_server")
    def _dns_server_threaded() -> Iterator[ThreadedDNSServer]:
        yield from _threaded("127.0.0.1")

    @pytest.fixture(name="dns_server_v6")
    def _dns_server_v6_threaded() -> Iterator[ThreadedDNSServer]:
        yield from _threaded("::1")
