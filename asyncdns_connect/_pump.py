"""The loop integration of c-ares: a channel's sockets watched by the loop's selector.

c-ares reports through ``sock_state_cb`` which sockets it wants read or written;
the pump registers them with ``add_reader``/``add_writer``, so answers arrive on
the loop thread with no thread hop and no polling. Both kinds of channel (the raw
per-server channels of ``_transactions`` and the public channel of
``_public_channel``) use it. Hand-written: no library drives pycares 5 from
asyncio this way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = ["Pump"]


class Pump:
    """Watches one channel's sockets for the loop: c-ares's sock_state_cb."""

    __slots__ = ("__weakref__", "_loop", "_on_read", "_on_write", "_readers", "_writers",
                 "closed", "owner")

    def __init__(self, loop: asyncio.AbstractEventLoop, on_read: Callable[[Pump, int], None],
                 on_write: Callable[[Pump, int], None]) -> None:
        self._loop = loop
        self.owner: Any = None
        self._on_read = on_read
        self._on_write = on_write
        self._readers: set[int] = set()
        self._writers: set[int] = set()
        self.closed = False

    def sock_state(self, fd: int, readable: bool, writable: bool) -> None:
        if self.closed:
            return
        if readable:
            if fd not in self._readers:
                self._readers.add(fd)
                self._loop.add_reader(fd, self._on_read, self, fd)
        elif fd in self._readers:
            self._readers.discard(fd)
            self._loop.remove_reader(fd)
        if writable:
            if fd not in self._writers:
                self._writers.add(fd)
                self._loop.add_writer(fd, self._on_write, self, fd)
        elif fd in self._writers:
            self._writers.discard(fd)
            self._loop.remove_writer(fd)

    def close(self) -> None:
        self.closed = True
        if not self._loop.is_closed():
            for fd in self._readers:
                self._loop.remove_reader(fd)
            for fd in self._writers:
                self._loop.remove_writer(fd)
        self._readers.clear()
        self._writers.clear()
