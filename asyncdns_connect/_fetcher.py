"""The seam between the cache and DNS: one (name, family) question, one ``Reply``.

The cache and refresh scheduler ask DNS only through ``Fetcher``; the engine
implements it on c-ares, and unit tests implement it with a fake that answers
when told to, so the cache's rules run with a fake clock and no sockets.
"""

from __future__ import annotations

import asyncio
from typing import NamedTuple, Protocol

__all__ = ["NO_SOA", "OK", "Fetcher", "Reply"]

OK = 0
"""``Reply.status`` of an answer that holds addresses."""

NO_SOA = -1
"""``Reply.ttl`` of a negative answer whose reply carried no SOA."""


class Reply(NamedTuple):
    """What DNS said about one (name, family).

    ``status``: ``OK``, or the c-ares status of the failure (``ARES_ENOTFOUND``
    NXDOMAIN, ``ARES_ENODATA`` NODATA, ``ARES_ESERVFAIL``, ``ARES_EREFUSED``,
    ``ARES_ETIMEOUT``, ``ARES_ECONNREFUSED``, ``ARES_EBADRESP`` for an unusable
    answer, ``ARES_ECANCELLED`` when cancelled, ``ARES_EDESTRUCTION`` when the
    engine closed).
    ``addrs``: the addresses at the end of the CNAME chain (``OK`` only).
    ``ttl``: for ``OK`` the smallest TTL along the chain; for NXDOMAIN/NODATA
    ``min(SOA TTL, SOA MINIMUM)`` of the SOA in the reply's authority section
    (RFC 2308: the zone of the last name in the chain), capped by the TTLs of the
    CNAMEs on the way, or ``NO_SOA``.
    ``reason``: optional detail for the error message (``"CNAME loop at 'x'"``).

    A named tuple: made twice per lookup, and a frozen dataclass's ``__init__``
    costs three times as much.
    """

    status: int
    addrs: tuple[str, ...] = ()
    ttl: int = 0
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK


class Fetcher(Protocol):
    """Asks DNS for the addresses of one family of one name."""

    def fetch(self, name: str, family: int) -> asyncio.Future[Reply]:
        """Send the query now; the future always gets a ``Reply``, never an exception.

        ``name`` is normalised (IDNA, lower case, no trailing dot); ``family`` is
        ``AF_INET`` (A) or ``AF_INET6`` (AAAA). The fetcher follows CNAME chains
        a server cut short and applies the search list when it was configured
        from the system. Cancelling the future abandons the query.

        A fetcher with a true ``calls_back`` attribute (the engine) also has
        ``send(name, family, on_reply)``: the same query with no future,
        ``on_reply`` called with the Reply as soon as it is known (it must not
        call the fetcher), which saves the scheduler a future and a loop hop.
        """
        ...
