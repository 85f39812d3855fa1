"""Loopback servers for tests: HTTP/1.1 and HTTP/2 (hypercorn), TLS (trustme),
a forward/CONNECT proxy, and a TCP black hole.

Every server runs its own asyncio loop in a daemon thread, so async tests, sync
tests and trio tests can all use it, and the client under test never shares a
loop with the server. Nothing here listens beyond 127.0.0.1 and ::1.

::

    socks = bind_tcp("127.0.0.1", "::1")          # one port on both addresses
    with HTTPServer(socks, cert=issue(ca, "app.test")) as server:
        ... server.port, server.requests ...
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import trustme

from asyncdns_connect.testing import BlackHole, bind_same_port

__all__ = [
    "BlackHole",
    "ForwardProxy",
    "HTTPServer",
    "bind_tcp",
    "black_holes",
    "client_context",
    "issue",
    "new_ca",
    "wait_until",
]

# -- sockets ---------------------------------------------------------------------------


def bind_tcp(*hosts: str, port: int = 0) -> list[socket.socket]:
    """TCP sockets bound to the same port on every one of ``hosts`` (not listening).

    The test is skipped if an address cannot be bound (no IPv6 loopback).
    """
    try:
        return bind_same_port(*hosts, port=port)
    except OSError as exc:
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):  # no ::1 here
            pytest.skip(f"cannot bind {hosts}: {exc}")
        raise


def black_holes(*hosts: str, port: int = 0) -> list[BlackHole]:
    """Black holes on one port on every host; the test is skipped if they do not hang."""
    holes = [BlackHole(s) for s in bind_tcp(*hosts, port=port)]
    for hole in holes:
        if not hole.hangs():
            for h in holes:
                h.close()
            pytest.skip(f"a full accept queue on {hole.host} does not black-hole SYNs here")
    return holes


# -- certificates ----------------------------------------------------------------------


def new_ca() -> trustme.CA:
    return trustme.CA()


def issue(ca: trustme.CA, *names: str) -> trustme.LeafCert:
    """A server certificate for ``names`` (host names or IPs)."""
    return ca.issue_cert(*names)


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    """A client SSLContext trusting only ``ca``, with host name checks on."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.load_verify_locations(cadata=ca.cert_pem.bytes().decode("ascii"))
    return ctx


# -- a loop in a thread ----------------------------------------------------------------


class _ThreadedServer:
    """Runs ``self._serve(stop)`` on a private event loop in a daemon thread."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    async def _serve(self, stop: asyncio.Event, ready: Callable[[], None]) -> None:
        raise NotImplementedError

    def start(self) -> None:
        started = threading.Event()
        errors: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            stop = asyncio.Event()
            self._stop = stop
            try:
                loop.run_until_complete(self._serve(stop, started.set))
            except BaseException as exc:
                errors.append(exc)
                started.set()
            finally:
                # As asyncio.run() does: end what is left (connection handlers)
                # here, not when the garbage collector finds them.
                tasks = asyncio.all_tasks(loop)
                for task in tasks:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, daemon=True, name=type(self).__name__)
        self._thread.start()
        started.wait(10)
        if errors:
            raise errors[0]

    def stop(self) -> None:
        loop, thread, stop = self._loop, self._thread, self._stop
        if loop is None or thread is None or stop is None:
            return
        self._loop = self._thread = None
        with contextlib.suppress(RuntimeError):  # the loop already ended
            loop.call_soon_threadsafe(stop.set)
        thread.join(10)

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


# -- HTTP ------------------------------------------------------------------------------


class HTTPServer(_ThreadedServer):
    """hypercorn serving ``app`` (default: an echo of the request as JSON) on ``socks``.

    ``socks``: bound sockets (see ``bind_tcp``), taken over by the server.
    ``cert``: serve TLS with it; ``http2``: offer h2 by ALPN (TLS only).
    ``requests`` records, per request, the ``http_version``, ``host`` header,
    ``path``, ``client`` and ``server`` (address, port).
    """

    def __init__(self, socks: Sequence[socket.socket], *, cert: trustme.LeafCert | None = None,
                 http2: bool = True, app: Any = None) -> None:
        super().__init__()
        self.port: int = socks[0].getsockname()[1]
        self.hosts = [s.getsockname()[0] for s in socks]
        self.requests: list[dict[str, Any]] = []
        self._socks = list(socks)
        for sock in self._socks:
            sock.listen(128)  # queue clients that come before hypercorn runs
        self._cert = cert
        self._http2 = http2
        self._app = app or self._echo
        self._tmp = tempfile.TemporaryDirectory()

    async def _echo(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]],
                    send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        record = {
            "http_version": scope["http_version"],
            "host": headers.get("host", headers.get(":authority", "")),
            "path": scope["path"],
            "client": list(scope["client"] or ()),
            "server": list(scope["server"] or ()),
        }
        self.requests.append(record)
        body = json.dumps(record).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _serve(self, stop: asyncio.Event, ready: Callable[[], None]) -> None:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"fd://{sock.detach()}" for sock in self._socks]
        config.accesslog = None
        config.errorlog = None
        config.graceful_timeout = 0.5
        if self._cert is not None:
            path = Path(self._tmp.name) / "server.pem"
            self._cert.private_key_and_cert_chain_pem.write_to_path(str(path))
            config.certfile = config.keyfile = str(path)
            config.alpn_protocols = ["h2", "http/1.1"] if self._http2 else ["http/1.1"]
        ready()  # the sockets already listen: clients queue until hypercorn accepts
        await serve(self._app, config, shutdown_trigger=stop.wait, mode="asgi")

    def stop(self) -> None:
        super().stop()
        self._tmp.cleanup()

    def url(self, host: str, path: str = "/") -> str:
        scheme = "https" if self._cert is not None else "http"
        return f"{scheme}://{host}:{self.port}{path}"


# -- proxy -----------------------------------------------------------------------------


class ForwardProxy(_ThreadedServer):
    """An HTTP proxy on 127.0.0.1: absolute-form requests and CONNECT tunnels.

    Every connection goes to ``upstream`` (host, port) whatever the target says,
    so tests need no DNS inside the proxy. ``seen`` lists (method, target) per
    proxied connection.
    """

    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1") -> None:
        super().__init__()
        self.upstream = upstream
        self.seen: list[tuple[str, str]] = []
        [self._sock] = bind_tcp(host)
        self._sock.listen(128)
        self.host = host
        self.port: int = self._sock.getsockname()[1]

    async def _serve(self, stop: asyncio.Event, ready: Callable[[], None]) -> None:
        server = await asyncio.start_server(self._handle, sock=self._sock)
        ready()
        async with server:
            await stop.wait()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            self.seen.append((method, target))
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            if method == "CONNECT":
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                up_writer.write(head)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``predicate`` (for sync tests); True once it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
