"""One shared default ``Resolver`` per event loop, for adapters given none.

Two aiohttp plugins, or a plugin and an httpx transport, made without a
resolver share one cache and one channel. Each holder takes a reference on
first use in a loop and drops it on close; the last one closes the resolver.
"""

from __future__ import annotations

import asyncio
import weakref

from ._resolver import Resolver

__all__ = ["SharedResolver", "default_resolver"]

class _Slot:
    __slots__ = ("refs", "resolver")

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.refs = 0


_registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Slot] = (
    weakref.WeakKeyDictionary())


def default_resolver() -> Resolver:
    """The running loop's shared default Resolver (system configuration).

    Made on first call; this does not take a reference (see SharedResolver).
    """
    loop = asyncio.get_running_loop()
    slot = _registry.get(loop)
    if slot is None or slot.resolver.closed:
        slot = _registry[loop] = _Slot(Resolver())
    return slot.resolver


class SharedResolver:
    """An adapter's handle on a Resolver: the user's own, or the loop's default."""

    __slots__ = ("_held", "_owned")

    def __init__(self, resolver: Resolver | None) -> None:
        self._owned = resolver
        self._held: dict[asyncio.AbstractEventLoop, Resolver] = {}

    @property
    def is_default(self) -> bool:
        return self._owned is None

    def get(self) -> Resolver:
        if self._owned is not None:
            return self._owned
        loop = asyncio.get_running_loop()
        held = self._held.get(loop)
        if held is not None and not held.closed:
            return held
        resolver = default_resolver()
        slot = _registry[loop]
        slot.refs += 1
        self._held[loop] = resolver
        return resolver

    async def release(self) -> None:
        """Drop this handle's references; never closes a user's own resolver."""
        held, self._held = self._held, {}
        for loop, resolver in held.items():
            slot = _registry.get(loop)
            if slot is None or slot.resolver is not resolver:
                continue
            slot.refs -= 1
            if slot.refs <= 0:
                del _registry[loop]
                await resolver.close()
