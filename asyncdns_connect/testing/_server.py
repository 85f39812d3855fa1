"""``DNSServer``: the programmable authoritative server on an asyncio loop.

This module only binds sockets and runs the lifecycle; answers come from
``_responder`` (built on dnslib), zone/fault/log methods from ``_controls``.
UDP and TCP listen on the same port: with ``port=0`` a free UDP port is picked
and TCP bound to it, retrying if TCP's side of that port happens to be taken.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from types import TracebackType

from ._controls import ServerControls
from ._faults import FaultTable
from ._log import QueryLog
from ._network import NetworkModel
from ._protocols import Dispatcher, TCPProtocol, UDPProtocol
from ._responder import Responder
from ._zone import Zone

_BIND_ATTEMPTS = 20
_SOCKET_BUFFER = 4 * 1024 * 1024  # absorb query bursts (the kernel may cap it)


class DNSServer(ServerControls):
    """A DNS server on ``host``:``port`` (UDP and TCP), answering from its zone.

    ``host`` is an IP literal (``"127.0.0.1"``, ``"::1"``; brackets allowed);
    ``port=0`` picks a free port. Use ``await start()``/``await stop()`` or
    ``async with``. ``network``: a ``NetworkModel`` every answer passes through
    (delayed, lost, turned into SERVFAIL); its clock restarts when the server starts.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 network: NetworkModel | None = None) -> None:
        self._ip = ipaddress.ip_address(host.strip("[]"))
        self._requested_port = port
        self._port: int | None = None
        self._zone = Zone()
        self._faults = FaultTable()
        self._log = QueryLog()
        self.network = network
        self._dispatcher: Dispatcher | None = None
        self._udp: UDPProtocol | None = None
        self._tcp: asyncio.Server | None = None
        self._connections: set[TCPProtocol] = set()

    # -- where ------------------------------------------------------------------

    @property
    def host(self) -> str:
        return str(self._ip)

    @property
    def port(self) -> int:
        """The bound port (the requested one before ``start()`` if not 0)."""
        port = self._port if self._port is not None else self._requested_port
        if port == 0:
            raise RuntimeError("the server has not started: no port chosen yet")
        return port

    @property
    def address(self) -> str:
        """``"127.0.0.1:PORT"`` or ``"[::1]:PORT"``, as c-ares takes a server."""
        host = self.host if self._ip.version == 4 else f"[{self.host}]"
        return f"{host}:{self.port}"

    # -- lifecycle --------------------------------------------------------------

    async def start(self) -> None:
        if self._dispatcher is not None:
            raise RuntimeError("the server is already running")
        loop = asyncio.get_running_loop()
        udp_sock, tcp_sock = _bind_pair(self.host, self._ip.version, self._requested_port)
        if self.network is not None:
            self.network.restart()
        responder = Responder(self._zone, self._faults, self._log, self.network)
        dispatcher = Dispatcher(loop, responder.respond)
        try:
            _, self._udp = await loop.create_datagram_endpoint(
                lambda: UDPProtocol(dispatcher), sock=udp_sock
            )
            self._tcp = await loop.create_server(
                lambda: TCPProtocol(dispatcher, self._connections), sock=tcp_sock
            )
        except BaseException:
            udp_sock.close()
            tcp_sock.close()
            await self._close()
            raise
        self._port = int(udp_sock.getsockname()[1])
        self._dispatcher = dispatcher

    async def stop(self) -> None:
        """Close both sockets and every TCP connection; drop pending delayed replies."""
        if self._dispatcher is None:
            return
        self._dispatcher.cancel_all()
        self._dispatcher = None
        await self._close()
        self._port = None

    async def _close(self) -> None:
        closing = []
        if self._udp is not None:
            if self._udp.transport is not None:
                self._udp.transport.close()
                closing.append(self._udp.closed)
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.close()
            closing.append(connection.closed)
        if closing:
            await asyncio.wait(closing, timeout=5)
        if self._tcp is not None:
            await self._tcp.wait_closed()
            self._tcp = None

    async def __aenter__(self) -> DNSServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- query log --------------------------------------------------------------

    async def wait_for_queries(
        self,
        n: int,
        name: str | None = None,
        qtype: str | None = None,
        timeout: float | None = 5.0,
    ) -> None:
        """Wait until at least ``n`` matching queries arrived (they may have already).

        Raises ``asyncio.TimeoutError`` (``TimeoutError`` on 3.11+) after ``timeout``.
        """
        await self._log.wait(n, name, qtype, timeout)


def _bind_pair(host: str, version: int, port: int) -> tuple[socket.socket, socket.socket]:
    """A UDP and a listening TCP socket on the same ``host``:port."""
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    for attempt in range(_BIND_ATTEMPTS if port == 0 else 1):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER)
            udp.bind((host, port))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((host, udp.getsockname()[1]))
            tcp.listen(128)
        except OSError as exc:
            udp.close()
            tcp.close()
            if exc.errno == errno.EADDRINUSE and port == 0 and attempt + 1 < _BIND_ATTEMPTS:
                continue
            raise
        return udp, tcp
    raise AssertionError("unreachable")
