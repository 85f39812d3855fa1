"""The demo's loopback HTTP servers, and the IPv6 black hole.

One aiohttp web app answers on ``127.0.0.1:port`` and ``[::1]:port`` (the healthy
hosts), and on ``127.0.0.1:broken_port``, where ``[::1]:broken_port`` is a black
hole: a listener whose accept queue is full, so the kernel drops further SYNs and
a connect there hangs as it would to an unreachable IPv6 route.
"""

from __future__ import annotations

import socket
from types import TracebackType

from aiohttp import web

from ..testing import BlackHole, bind_same_port

__all__ = ["LoopbackWeb", "ipv6_loopback", "listen_drops"]

def ipv6_loopback() -> bool:
    """True if ``::1`` can be bound here."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def listen_drops() -> int | None:
    """SYNs the kernel dropped at full accept queues so far (Linux), else None.

    The black hole is the demo's only full queue, so the growth of this counter
    over a client's run is the number of connection attempts into it. The
    counter belongs to the network namespace, so another program's full queue
    at the same moment would be counted too.
    """
    try:
        with open("/proc/net/netstat", encoding="ascii") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            row = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(row["ListenDrops"]) if "ListenDrops" in row else None
    return None


async def _handle(request: web.Request) -> web.Response:
    return web.Response(text=f"hello from {request.host}\n")


class LoopbackWeb:
    """Start with ``async with``; ``port`` serves both families, ``broken_port`` only IPv4.

    ``black_hole_works`` tells whether connects to ``[::1]:broken_port`` really hang.
    """

    def __init__(self, *, ipv6: bool) -> None:
        self.ipv6 = ipv6
        self.port = 0
        self.broken_port = 0
        self.black_hole_works = False
        self._runner: web.AppRunner | None = None
        self._hole: BlackHole | None = None

    async def __aenter__(self) -> LoopbackWeb:
        app = web.Application()
        app.router.add_get("/", _handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        try:
            hosts = ("127.0.0.1", "::1") if self.ipv6 else ("127.0.0.1",)
            healthy = bind_same_port(*hosts)
            broken = bind_same_port(*hosts)
            self.port = healthy[0].getsockname()[1]
            self.broken_port = broken[0].getsockname()[1]
            for sock in (*healthy, broken[0]):
                await web.SockSite(self._runner, sock).start()
            if self.ipv6:
                self._hole = BlackHole(broken[1])
                self.black_hole_works = self._hole.hangs()
        except BaseException:
            await self.close()
            raise
        return self

    async def close(self) -> None:
        if self._hole is not None:
            self._hole.close()
            self._hole = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()
