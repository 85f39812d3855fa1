"""The engine: every DNS transaction of one event loop, from send to answer, on c-ares.

A small façade over the two kinds of channel, each in its own module:

* ``_transactions``: ``fetch``, the Resolver's A/AAAA lookups, on raw c-ares
  channels (one per nameserver) with the engine's own tries, failover and
  retransmission;
* ``_public_channel``: the aiodns-facing calls (``query``, ``getaddrinfo``,
  ``gethostbyaddr``, ``getnameinfo``) on a public ``pycares.Channel``, which
  returns pycares's own result objects.

Both share one loop integration (``_pump``), the options in
``_channel_options``, and the nameserver checks in ``_servers``. Both are built
lazily (no socket until the first call) and closed together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ._channel_options import DEFAULT_TIMEOUT, DEFAULT_TRIES, ChannelOptions
from ._public_channel import PublicChannel, QueryFailed
from ._servers import parse_server, parse_servers
from ._transactions import Transactions

__all__ = ["ChannelOptions", "Engine", "QueryFailed", "parse_server", "parse_servers"]


class Engine:
    """The c-ares channels of one event loop."""

    calls_back = True  # has send() (see _fetcher.Fetcher)

    def __init__(self, loop: asyncio.AbstractEventLoop, options: ChannelOptions,
                 max_concurrent: int = 512) -> None:
        self._loop = loop
        max_concurrent = max(1, max_concurrent)
        self._timeout = options.timeout if options.timeout is not None else DEFAULT_TIMEOUT
        self._tries = options.tries if options.tries is not None else DEFAULT_TRIES
        if not self._timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, not {options.timeout!r}")
        if self._tries < 1:
            raise ValueError(f"tries must be >= 1, not {options.tries!r}")
        self._closed = False
        self._tx = Transactions(loop, options, self._timeout, self._tries, max_concurrent)
        self._pub = PublicChannel(loop, options, self._timeout, self._tries, max_concurrent)
        self.fetch = self._tx.fetch
        self.send = self._tx.send
        self.query = self._pub.query
        self.getaddrinfo = self._pub.getaddrinfo
        self.gethostbyaddr = self._pub.gethostbyaddr
        self.getnameinfo = self._pub.getnameinfo

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def timeout(self) -> float:
        return self._timeout

    @property
    def tries(self) -> int:
        return self._tries

    @property
    def queries_sent(self) -> int:
        """Queries sent on either kind of channel (retries and resends included)."""
        return self._tx.queries_sent + self._pub.queries_sent

    @property
    def answers(self) -> int:
        """Replies received from any server by ``fetch``."""
        return self._tx.answers

    @property
    def servers(self) -> list[str]:
        tx = self._tx.servers
        return tx if tx is not None else self._pub.servers

    @servers.setter
    def servers(self, servers: Sequence[str]) -> None:
        # Lookups in flight on the fetch channels start over on the new servers.
        listed = list(servers)
        self._tx.servers = listed
        self._pub.servers = listed

    def close(self) -> None:
        """Free the channels: pending fetches get ARES_EDESTRUCTION, queries ResolverClosedError."""
        if self._closed:
            return
        self._closed = True
        self._tx.close()
        self._pub.close()

    def cancel_all(self) -> None:
        """Cancel every lookup: fetches get ARES_ECANCELLED, queries QueryFailed(ECANCELLED)."""
        if self._closed:
            return
        self._tx.cancel_all()
        self._pub.cancel_all()
