"""asyncio protocols carrying messages between sockets and the ``Responder``.

UDP: one datagram, one message. TCP: messages framed by a 2-byte big-endian length
(RFC 1035 4.2.2; ``struct`` does that framing, it is not DNS wire format). Several
queries on one connection are answered in turn, and a delayed one does not hold up
the rest (RFC 7766 allows replies out of order). Delayed replies are timer
callbacks, not tasks, so cancelling them on stop leaves nothing pending.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from typing import Any

from ._log import Transport
from ._responder import Reply

log = logging.getLogger(__name__)

Respond = Callable[[bytes, Transport], Reply | None]


class Dispatcher:
    """Sends replies now or later, and can cancel the later ones."""

    def __init__(self, loop: asyncio.AbstractEventLoop, respond: Respond) -> None:
        self.loop = loop
        self.respond = respond
        self._timers: set[asyncio.TimerHandle] = set()

    def handle(self, message: bytes, transport: Transport, send: Callable[[bytes], None]) -> None:
        try:
            reply = self.respond(message, transport)
        except Exception:  # a bug or unpackable zone data: say so, keep serving
            log.exception("DNS test server failed to answer a %s query", transport)
            return
        if reply is None:
            return
        if reply.delay <= 0:
            send(reply.data)
            return

        def fire() -> None:
            self._timers.discard(timer)
            send(reply.data)

        timer = self.loop.call_later(reply.delay, fire)
        self._timers.add(timer)

    def cancel_all(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()


class _Closable:
    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.closed: asyncio.Future[None] = dispatcher.loop.create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class UDPProtocol(_Closable, asyncio.DatagramProtocol):
    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.dispatcher.handle(data, "udp", lambda reply: self._send(reply, addr))

    def _send(self, data: bytes, addr: Any) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # e.g. ICMP port unreachable from a client that went away


class TCPProtocol(_Closable, asyncio.Protocol):
    transport: asyncio.Transport | None = None

    def __init__(self, dispatcher: Dispatcher, connections: set[TCPProtocol]) -> None:
        super().__init__(dispatcher)
        self._buffer = bytearray()
        self._connections = connections

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._connections.add(self)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= 2:
            (size,) = struct.unpack_from("!H", buffer)
            if len(buffer) < 2 + size:
                break
            message = bytes(buffer[2 : 2 + size])
            del buffer[: 2 + size]
            self.dispatcher.handle(message, "tcp", self._send)

    def _send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(struct.pack("!H", len(data)) + data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        super().connection_lost(exc)
