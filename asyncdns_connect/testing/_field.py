"""The field population: generated host names of realistic kinds, and the web behind them.

``make_population(n, seed)`` draws ``n`` ``FieldHost``s (shares in ``SHARES``):

* ``cdn``: A and AAAA, TTL 20 s (CDN-style short TTLs);
* ``dual``: A and AAAA, TTL 60-300 s;
* ``v4only``: A only (an AAAA query gets NODATA);
* ``broken6``: A and AAAA, but the IPv6 address is a black hole (SYNs unanswered);
* ``slow6``: A and AAAA, the AAAA answer 0.3-1.5 s later than the A;
* ``zero``: A and AAAA with TTL 0 (must not be cached);
* ``nx``: the name does not exist (NXDOMAIN, negative TTL 60 s).

``publish_population`` puts them in a ``DNSServer`` zone (A 127.0.0.1, AAAA ::1) and
``FieldWeb`` serves HTTP behind them: ``url(host)`` is the host's URL, on a port
where ``[::1]`` is a black hole for ``broken6`` hosts.

The HTTP server behind them is ``_http.OkResponder``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from dataclasses import dataclass
from types import TracebackType

from ._faults import Fault
from ._http import OkResponder
from ._server import DNSServer
from ._sockets import BlackHole, bind_same_port

__all__ = ["SHARES", "FieldHost", "FieldWeb", "ipv6_loopback", "make_population",
           "publish_population"]

DOMAIN = "field.test"
SHARES = {"cdn": 0.30, "dual": 0.30, "v4only": 0.18, "broken6": 0.03, "slow6": 0.05,
          "zero": 0.02, "nx": 0.12}
NEGATIVE_TTL = 60
_LONG_TTLS = (60, 120, 300)


@dataclass(frozen=True)
class FieldHost:
    """One generated name: ``kind`` (see ``SHARES``), address ``ttl``, AAAA delay."""

    name: str
    kind: str
    ttl: int
    aaaa_delay: float = 0.0

    @property
    def exists(self) -> bool:
        return self.kind != "nx"

    @property
    def has_aaaa(self) -> bool:
        return self.kind not in ("v4only", "nx")


def make_population(n: int, seed: int = 0, *, domain: str = DOMAIN,
                    ipv6: bool = True) -> list[FieldHost]:
    """``n`` hosts in a seeded random order. Without IPv6 loopback the kinds that
    need ``::1`` (``broken6``, ``slow6``) are drawn as ``v4only``."""
    rng = random.Random(seed)
    kinds = list(SHARES)
    weights = [SHARES[k] for k in kinds]
    hosts = []
    for i in range(n):
        kind = rng.choices(kinds, weights)[0]
        if not ipv6 and kind in ("broken6", "slow6"):
            kind = "v4only"
        name = f"{kind}-{i:05d}.{domain}"
        if kind == "cdn":
            hosts.append(FieldHost(name, kind, 20))
        elif kind == "zero":
            hosts.append(FieldHost(name, kind, 0))
        elif kind == "nx":
            hosts.append(FieldHost(name, kind, NEGATIVE_TTL))
        elif kind == "slow6":
            hosts.append(FieldHost(name, kind, rng.choice(_LONG_TTLS),
                                   round(rng.uniform(0.3, 1.5), 2)))
        else:
            hosts.append(FieldHost(name, kind, rng.choice(_LONG_TTLS)))
    return hosts


def publish_population(server: DNSServer, hosts: list[FieldHost], *, ipv6: bool = True) -> None:
    """Put ``hosts`` in ``server``'s zone, with the AAAA delays of ``slow6`` hosts."""
    domains = {h.name.split(".", 1)[1] for h in hosts}
    for domain in domains:
        server.set_soa(domain, ttl=3600, minimum=NEGATIVE_TTL)
    for host in hosts:
        if not host.exists:
            continue
        server.add(host.name, "A", "127.0.0.1", ttl=host.ttl)
        if host.has_aaaa and ipv6:
            server.add(host.name, "AAAA", "::1", ttl=host.ttl)
        if host.aaaa_delay:
            server.fault(host.name, "AAAA", Fault.delay(host.aaaa_delay))


class FieldWeb:
    """HTTP on ``127.0.0.1``/``[::1]``:``port``; on ``broken_port`` only IPv4 answers.

    ``async with FieldWeb() as web: web.url(host)``. ``black_hole_works`` tells
    whether connects to ``[::1]:broken_port`` really hang on this kernel.
    """

    def __init__(self, *, ipv6: bool = True) -> None:
        self.ipv6 = ipv6
        self.port = 0
        self.broken_port = 0
        self.black_hole_works = False
        self._servers: list[asyncio.Server] = []
        self._hole: BlackHole | None = None

    def url(self, host: FieldHost) -> str:
        port = self.broken_port if host.kind == "broken6" else self.port
        return f"http://{host.name}:{port}/"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            hosts = ("127.0.0.1", "::1") if self.ipv6 else ("127.0.0.1",)
            healthy, broken = bind_same_port(*hosts), bind_same_port(*hosts)
            self.port = healthy[0].getsockname()[1]
            self.broken_port = broken[0].getsockname()[1]
            for sock in (*healthy, broken[0]):
                self._servers.append(await loop.create_server(OkResponder, sock=sock,
                                                              backlog=4096))
            if self.ipv6:
                self._hole = BlackHole(broken[1])
                self.black_hole_works = self._hole.hangs()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self._hole is not None:
            self._hole.close()
            self._hole = None
        servers, self._servers = self._servers, []
        for server in servers:
            server.close()
            close_clients = getattr(server, "close_clients", None)  # 3.13+: keep-alives
            if close_clients is not None:
                close_clients()
        for server in servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5)

    async def __aenter__(self) -> FieldWeb:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()


def ipv6_loopback() -> bool:
    """True if ``::1`` can be bound here."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False
