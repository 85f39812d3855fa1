"""One shared default ``Resolver`` per event loop, for adapters given none.

Two aiohttp plugins, or a plugin and an httpx transport, made without a
resolver share one cache and one channel. The default belongs to its loop: it
is made on first use and lives exactly as long as the loop, whatever adapters
come and go (a new ``ClientSession`` or ``AsyncClient`` per batch keeps the
cache). It is stored on the loop object itself, so nothing global refers to the
loop or the resolver: when the loop is dropped (``asyncio.run()`` returning),
both go together and the c-ares channel is destroyed with them.
"""

from __future__ import annotations

import asyncio

from ._resolver import Resolver

__all__ = ["SharedResolver", "default_resolver"]

_ATTR = "_asyncdns_connect_default_resolver"


def default_resolver() -> Resolver:
    """The running loop's shared default Resolver (system configuration)."""
    loop = asyncio.get_running_loop()
    resolver: Resolver | None = getattr(loop, _ATTR, None)
    if resolver is None or resolver.closed:
        resolver = Resolver()
        # Every asyncio and uvloop loop takes attributes; a global map keyed by
        # the loop would keep it alive (the resolver refers to its loop).
        setattr(loop, _ATTR, resolver)
    return resolver


class SharedResolver:
    """An adapter's handle on a Resolver: the user's own, or the loop's default."""

    __slots__ = ("_owned",)

    def __init__(self, resolver: Resolver | None) -> None:
        self._owned = resolver

    @property
    def is_default(self) -> bool:
        return self._owned is None

    def get(self) -> Resolver:
        if self._owned is not None:
            return self._owned
        return default_resolver()

    async def release(self) -> None:
        """Nothing to do: a user's resolver is theirs, the default is its loop's."""
