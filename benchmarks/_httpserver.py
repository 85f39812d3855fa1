"""A minimal HTTP/1.1 responder for the httpx benchmark, run as a child process.

Every request on every connection gets ``200 OK`` with a 3-byte body
(``asyncdns_connect.testing._http.OkResponder``, shared with ``FieldWeb``); the
connection stays open unless a request says ``Connection: close``. It listens on
127.0.0.1 and ::1 (one port), so a name with A and AAAA records connects
whichever family a client tries first.

    python benchmarks/_httpserver.py PORT      # prints READY when serving
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys

import _common as c

from asyncdns_connect.testing._http import OkResponder


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    servers = []
    for host, family in (("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)):
        with contextlib.suppress(OSError):  # no ::1: serve IPv4 only
            servers.append(await loop.create_server(
                OkResponder, host, port, family=family, backlog=4096, reuse_address=True))
    if not servers:
        raise OSError(f"cannot listen on port {port}")
    print("READY", flush=True)
    await asyncio.Event().wait()


class HTTPServer(c.ChildProcess):
    """The responder in a child process on ``port`` (127.0.0.1 and ::1)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def start(self) -> None:
        self._spawn([sys.executable, os.path.abspath(__file__), str(self.port)])

    def __enter__(self) -> HTTPServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    with contextlib.suppress(KeyboardInterrupt):
        loop.run_until_complete(_serve(int(sys.argv[1])))


if __name__ == "__main__":
    _main()
