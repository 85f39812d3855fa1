"""The query log: what reached the server, in order, and waiting for it.

Records are appended on the server's event loop; reading, counting and resetting
may come from any thread (a lock guards the list). ``wait`` must run on the
server's loop, since the loop is what wakes it.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Literal

from ._names import name_key

Transport = Literal["udp", "tcp"]


@dataclass(frozen=True)
class QueryRecord:
    """One query as received: ``name`` lower-case without the trailing dot."""

    name: str
    qtype: str
    transport: Transport
    time: float


class QueryLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[QueryRecord] = []
        self._waiters: set[asyncio.Event] = set()

    def append(self, record: QueryRecord) -> None:
        with self._lock:
            self._records.append(record)
        for event in self._waiters:
            event.set()

    def snapshot(self) -> list[QueryRecord]:
        with self._lock:
            return list(self._records)

    def reset(self) -> None:
        with self._lock:
            self._records.clear()

    def count(
        self,
        name: str | None = None,
        qtype: str | None = None,
        transport: Transport | None = None,
    ) -> int:
        key = None if name is None else name_key(name)
        kind = None if qtype is None else qtype.upper()
        with self._lock:
            return sum(
                1
                for r in self._records
                if (key is None or r.name == key)
                and (kind is None or r.qtype == kind)
                and (transport is None or r.transport == transport)
            )

    async def wait(
        self, n: int, name: str | None, qtype: str | None, timeout: float | None
    ) -> None:
        """Return once ``count(name, qtype) >= n``; ``asyncio.TimeoutError`` after ``timeout``."""
        event = asyncio.Event()

        async def until() -> None:
            while self.count(name, qtype) < n:
                event.clear()
                await event.wait()

        self._waiters.add(event)
        try:
            await asyncio.wait_for(until(), timeout)
        except asyncio.TimeoutError:
            seen = self.count(name, qtype)
            what = f"name={name!r} qtype={qtype!r}"
            raise asyncio.TimeoutError(
                f"saw {seen} of {n} queries ({what}) in {timeout} s"
            ) from None
        finally:
            self._waiters.discard(event)
