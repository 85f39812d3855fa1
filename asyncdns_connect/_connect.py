"""From a host name to a connected socket: the Resolver's address feed, then the race.

Shared by both adapters. ``address_feed`` yields the Resolver's addresses in
batches as address families answer; ``report_losers`` tells the Resolver
which addresses truly lost a race (learned fallback). ``open_socket`` is the
whole path for the httpx transports: one deadline over DNS and connecting,
every failure an httpcore error naming the host.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING

import aiohappyeyeballs
import anyio
import httpcore

from ._errors import DNSError
from ._names import parse_ip_literal
from ._race import RaceFailed, Won, race, reason_of, sockaddr
from ._types import Address

if TYPE_CHECKING:
    from ._resolver import Resolver

__all__ = ["DEFAULT_DELAY", "MAX_DELAY", "MIN_DELAY", "address_feed", "check_delay",
           "check_port", "open_socket", "report_losers"]

# RFC 8305 section 8: Connection Attempt Delay 250 ms, never below 100 ms (10 ms
# is its hard floor, but 100 ms is its recommended minimum), at most 2 s.
DEFAULT_DELAY = 0.25
MIN_DELAY = 0.1
MAX_DELAY = 2.0

SocketOption = httpcore.SOCKET_OPTION


def check_delay(delay: float) -> float:
    """``delay`` as a float, or ValueError if outside RFC 8305's 100 ms to 2 s."""
    if isinstance(delay, bool) or not isinstance(delay, (int, float)):
        raise TypeError(f"happy_eyeballs_delay must be a number of seconds, not {delay!r}")
    if not MIN_DELAY <= delay <= MAX_DELAY:
        raise ValueError(
            f"happy_eyeballs_delay must be between {MIN_DELAY} and {MAX_DELAY} seconds "
            f"(RFC 8305), not {delay!r}")
    return float(delay)


def check_port(host: str, port: object) -> str | None:
    """Why ``port`` cannot be connected to, or None if it is a TCP port number."""
    if isinstance(port, bool) or not isinstance(port, int):
        return f"cannot connect to {host!r}: port {port!r} is not an integer"
    if not 0 <= port <= 65535:
        return f"cannot connect to {host!r}: port {port} is outside 0-65535"
    return None


def address_feed(resolver: Resolver, host: str, family: int = socket.AF_UNSPEC
                 ) -> AsyncIterator[Sequence[Address]]:
    """Batches of ``host``'s addresses as families answer, in connect order.

    ``Resolver.stream()``: one batch from the cache or a local source; from DNS,
    AAAA at once, A after at most the Resolution Delay, a late family as a later
    batch. Raises the DNSError before the first batch if the name has no address.
    """
    return resolver.stream(host, family)


async def close_feed(feed: AsyncIterator[Sequence[Address]] | None) -> None:
    """Close a feed not read to its end (its pending DNS wait ends with it)."""
    close = getattr(feed, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()


def report_losers(resolver: Resolver, host: str, won: Won) -> None:
    """Learned fallback: the addresses that truly lost go last for ``host`` next time."""
    if parse_ip_literal(host) is not None:
        return  # an IP literal has no cache entry to reorder
    for address in won.losers:
        resolver.report_failure(host, address.host)


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
    feed = address_feed(resolver, host, socket.AF_UNSPEC if local is None else local[1])
    try:
        with anyio.fail_after(connect_timeout):
            try:
                # IP literals too: the resolver answers them without DNS, under its policy.
                first = await feed.__anext__()
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
