"""``OkResponder``: the smallest HTTP/1.1 server a client test or benchmark needs.

Every request gets ``200 OK`` with the body ``ok\\n``; the connection stays open
unless the request says ``Connection: close``. Requests are expected without
bodies: one response per header block. Hand-written (plain asyncio, about 20
lines): the ``testing`` extra carries no web framework, and a framework would
make the server, not the client under test, the slow side.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["OkResponder"]

_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
             b"Connection: %s\r\n\r\nok\n")


class OkResponder(asyncio.Protocol):
    """200 ``ok`` to every request (no bodies expected); honours ``Connection: close``."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer and self.transport is not None:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            close = b"connection: close" in head.lower()
            self.transport.write(_RESPONSE % (b"close" if close else b"keep-alive"))
            if close:
                self.transport.close()
                return
