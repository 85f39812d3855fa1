"""A stand-in internet on loopback, so every example runs on a machine with no network.

``loopback(names)`` starts ``asyncdns_connect.testing.DNSServer`` answering for
``names`` (A 127.0.0.1 and, where this machine has it, AAAA ::1) and a web
server (hypercorn) on those addresses, optionally with TLS and HTTP/2. The web
server answers every path with a line naming the path, host and HTTP version.

This is scaffolding, not part of the lessons: real code points its Resolver at
real DNS (the system's, or ``ASYNCDNS_NAMESERVER`` in these examples).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncdns_connect.testing import DNSServer, bind_same_port

__all__ = ["Loopback", "loopback"]


@dataclass
class Loopback:
    """Where the stand-in servers are; ``ssl_context`` trusts their certificate."""

    nameserver: str
    port: int
    scheme: str
    dns: DNSServer
    ssl_context: ssl.SSLContext | None = None

    def url(self, host: str, path: str = "/") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


async def _app(scope: dict[str, Any], receive: Callable[[], Awaitable[Any]],
               send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    headers = dict(scope["headers"])
    host = (headers.get(b"host") or headers.get(b":authority") or b"?").decode()
    body = f"{scope['path']} on {host} over HTTP/{scope['http_version']}\n".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def _listen_same_port(hosts: Iterable[str]) -> list[socket.socket]:
    """Listening TCP sockets on one free port, one per loopback address."""
    socks = bind_same_port(*hosts)
    for sock in socks:
        sock.listen(128)
    return socks


@contextlib.asynccontextmanager
async def loopback(names: Iterable[str], *, tls: bool = False) -> AsyncIterator[Loopback]:
    """DNS for ``names`` (any other name answers NXDOMAIN) and a web server for them.

    ``tls``: serve HTTPS with HTTP/2 and HTTP/1.1, from a throwaway CA (trustme)
    whose certificate covers ``names``; ``Loopback.ssl_context`` trusts it.
    """
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    names = list(names)
    hosts = ["127.0.0.1", "::1"] if _has_ipv6() else ["127.0.0.1"]
    socks = _listen_same_port(hosts)
    port = socks[0].getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}" for sock in socks]
    config.accesslog = config.errorlog = None
    config.graceful_timeout = 0.5
    client_ctx = None
    with tempfile.TemporaryDirectory() as tmp:
        if tls:
            import trustme

            ca = trustme.CA()
            pem = Path(tmp) / "server.pem"
            ca.issue_cert(*names).private_key_and_cert_chain_pem.write_to_path(str(pem))
            config.certfile = config.keyfile = str(pem)
            config.alpn_protocols = ["h2", "http/1.1"]
            client_ctx = ssl.create_default_context()
            ca.configure_trust(client_ctx)
        stop = asyncio.Event()
        server = asyncio.ensure_future(
            serve(_app, config, shutdown_trigger=stop.wait, mode="asgi"))
        try:
            async with DNSServer() as dns:
                for name in names:
                    dns.add_host(name, *hosts, ttl=60)
                yield Loopback(dns.address, port, "https" if tls else "http", dns, client_ctx)
        finally:
            stop.set()
            await server
