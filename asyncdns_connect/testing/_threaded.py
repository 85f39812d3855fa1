"""``ThreadedDNSServer``: a ``DNSServer`` on a private event loop in a daemon thread.

For synchronous tests and for serving outside any event loop. Zone, fault and log
methods work on shared locked state directly; only start, stop and
``wait_for_queries`` hop onto the server's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from types import TracebackType

from ._controls import ServerControls
from ._network import NetworkModel
from ._server import DNSServer

_STOP_TIMEOUT = 10.0


class ThreadedDNSServer(ServerControls):
    """Same zone/fault/log API as ``DNSServer``; ``start()``/``stop()`` block."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 network: NetworkModel | None = None) -> None:
        self._server = DNSServer(host, port, network=network)
        self._zone = self._server._zone
        self._faults = self._server._faults
        self._log = self._server._log
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def address(self) -> str:
        return self._server.address

    def start(self) -> None:
        """Bind and serve; returns once the sockets are bound (or raises the bind error)."""
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        loop = asyncio.new_event_loop()
        started: concurrent.futures.Future[None] = concurrent.futures.Future()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                try:
                    loop.run_until_complete(self._server.start())
                except BaseException as exc:
                    started.set_exception(exc)
                    return
                started.set_result(None)
                loop.run_forever()
                loop.run_until_complete(self._server.stop())  # if stop() did not
            finally:
                loop.close()

        thread = threading.Thread(target=run, name=f"ThreadedDNSServer-{id(self):x}", daemon=True)
        thread.start()
        try:
            started.result()
        except BaseException:
            thread.join()
            raise
        self._loop, self._thread = loop, thread

    def stop(self) -> None:
        """Stop serving and join the thread. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._server.stop(), loop).result(_STOP_TIMEOUT)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            self._loop = self._thread = None

    def __enter__(self) -> ThreadedDNSServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_for_queries(
        self,
        n: int,
        name: str | None = None,
        qtype: str | None = None,
        timeout: float | None = 5.0,
    ) -> None:
        """Block until at least ``n`` matching queries arrived; ``TimeoutError`` after
        ``timeout`` (``asyncio.TimeoutError`` on 3.10)."""
        if self._loop is None:
            raise RuntimeError("the server is not running")
        coro = self._server.wait_for_queries(n, name, qtype, timeout)
        asyncio.run_coroutine_threadsafe(coro, self._loop).result()
