"""What both adapters share around the race: the address feed, outcomes, checks.

The address feed is ``Resolver.stream()`` itself; ``close_feed`` ends one not
read to its end; ``report_losers`` tells the Resolver which addresses truly
lost a race (learned fallback); ``check_port`` and ``check_delay`` validate
input. Needs neither aiohttp nor httpx.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from ._names import parse_ip_literal
from ._race import Won
from ._types import Address

if TYPE_CHECKING:
    from ._resolver import Resolver

__all__ = ["DEFAULT_DELAY", "MAX_DELAY", "MIN_DELAY", "check_delay",
           "check_port", "close_feed", "report_losers"]

# RFC 8305 section 8: Connection Attempt Delay 250 ms, never below 100 ms (10 ms
# is its hard floor, but 100 ms is its recommended minimum), at most 2 s.
DEFAULT_DELAY = 0.25
MIN_DELAY = 0.1
MAX_DELAY = 2.0


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
