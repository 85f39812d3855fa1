"""httpcore's ``connect_tcp`` on our DNS and race: a connected socket, or an httpcore error.

One deadline (the connect timeout) covers DNS and connecting; every failure is
``httpcore.ConnectError`` or ``httpcore.ConnectTimeout`` naming the host, which
httpx shows as ``httpx.ConnectError``/``ConnectTimeout``. Every socket gets
``TCP_NODELAY``, as httpcore's own backends set it. Used by both httpx
transports (the sync one runs it on its loop thread).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING

import aiohappyeyeballs
import anyio
import httpcore

from ._connect import DEFAULT_DELAY, check_port, close_feed, report_losers
from ._errors import DNSError
from ._names import parse_ip_literal
from ._race import RaceFailed, race, reason_of, sockaddr
from ._types import Address

if TYPE_CHECKING:
    from ._resolver import Resolver

__all__ = ["open_socket"]

SocketOption = httpcore.SOCKET_OPTION


async def open_socket(
    resolver: Resolver,
    host: str,
    port: int,
    *,
    connect_timeout: float | None,
    local_address: str | None = None,
    socket_options: Iterable[SocketOption] | None = None,
    delay: float = DEFAULT_DELAY,
) -> socket.socket:
    """A connected non-blocking socket to ``host``:``port``, with TCP_NODELAY set.

    ``connect_timeout`` covers DNS and connecting together. Raises
    ``httpcore.ConnectError`` (bad port, DNS failure, policy refusal, every
    address failed) or ``httpcore.ConnectTimeout``, each naming the host.
    """
    bad_port = check_port(host, port)
    if bad_port is not None:
        raise httpcore.ConnectError(bad_port)
    local = _local_address(host, local_address)
    options = list(socket_options or ())
    phase = "resolving"
    family = socket.AF_UNSPEC if local is None else local[1]
    feed: AsyncIterator[Sequence[Address]] | None = None
    try:
        with anyio.fail_after(connect_timeout):
            try:
                # The first batch, and a feed only while a family is still out
                # (IP literals too: it answers them without DNS, under its policy).
                first, feed = await resolver._first_batch(host, family)
            except DNSError as exc:  # its message names the host and the reason
                raise httpcore.ConnectError(exc.strerror or str(exc)) from exc
            phase = "connecting to"
            try:
                won = await race(first, feed, port, delay=delay, local_infos=_local_infos(local),
                                 socket_factory=_socket_factory(options))
            except (RaceFailed, OSError, RuntimeError) as exc:  # uvloop may raise RuntimeError
                tried = ", ".join(a.address.host for a in getattr(exc, "attempts", ()))
                raise httpcore.ConnectError(
                    f"cannot connect to {host!r} port {port} (tried {tried or 'nothing'}): "
                    f"{reason_of(exc)}") from exc
    except TimeoutError:
        # Only anyio's deadline gets here: a kernel ETIMEDOUT is one failed attempt.
        raise httpcore.ConnectTimeout(
            f"timed out {phase} {host!r} (connect timeout {connect_timeout} s, DNS included)"
        ) from None
    finally:
        await close_feed(feed)
    report_losers(resolver, host, won)
    return won.sock


def _local_address(host: str, local_address: str | None
                   ) -> tuple[str, socket.AddressFamily] | None:
    if local_address is None:
        return None
    parsed = parse_ip_literal(local_address)
    if parsed is None:
        raise httpcore.ConnectError(
            f"local_address must be an IP address, not {local_address!r}")
    literal = parse_ip_literal(host)
    if literal is not None and literal[1] != parsed[1]:
        raise httpcore.ConnectError(
            f"cannot connect to {host!r} from local_address {parsed[0]!r}: "
            "different address families")
    return parsed


def _local_infos(local: tuple[str, socket.AddressFamily] | None
                 ) -> list[aiohappyeyeballs.AddrInfoType] | None:
    if local is None:
        return None
    return [(local[1], socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr(local[0], local[1], 0))]


def _socket_factory(options: list[SocketOption]) -> aiohappyeyeballs.SocketFactoryType:
    def make(info: aiohappyeyeballs.AddrInfoType) -> socket.socket:
        sock = socket.socket(info[0], info[1], info[2])
        try:
            for option in options:
                sock.setsockopt(*option)
            # As httpcore does: without it small keep-alive writes wait on delayed ACKs.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            sock.close()
            raise
        return sock
    return make
