"""Faults: the ways the server can misbehave, and the table of which name gets which.

A fault is chosen per (name, qtype); qtype ``"*"`` (or ``None``) matches every type
of that name and loses to an exact type. ``dead`` and ``refuse_all`` switch the
whole server. The table is locked so another thread may change it while the
server runs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

from ._names import name_key

FaultKind = Literal[
    "delay",
    "drop",
    "servfail",
    "refused",
    "truncate",
    "garbage",
    "short",
    "wrong_id",
    "wrong_name",
    "oversized",
]


@dataclass(frozen=True)
class Fault:
    """One misbehaviour. Build it with the named constructors."""

    kind: FaultKind
    seconds: float = 0.0
    n: int = 0

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """The normal answer, sent ``seconds`` later (other queries go on meanwhile)."""
        return cls("delay", seconds=seconds)

    @classmethod
    def drop(cls) -> Fault:
        """No answer at all."""
        return cls("drop")

    @classmethod
    def servfail(cls) -> Fault:
        """RCODE SERVFAIL, no records."""
        return cls("servfail")

    @classmethod
    def refused(cls) -> Fault:
        """RCODE REFUSED, no records."""
        return cls("refused")

    @classmethod
    def truncate(cls) -> Fault:
        """TC=1 and no records over UDP, whatever the size; the full answer over TCP."""
        return cls("truncate")

    @classmethod
    def garbage(cls) -> Fault:
        """The query's ID followed by random bytes (so the client must parse, not drop it)."""
        return cls("garbage")

    @classmethod
    def short(cls) -> Fault:
        """The first 5 bytes of the real answer."""
        return cls("short")

    @classmethod
    def wrong_id(cls) -> Fault:
        """The real answer under another message ID."""
        return cls("wrong_id")

    @classmethod
    def wrong_name(cls) -> Fault:
        """The real answer, its question and records renamed to ``wrong-name.invalid``."""
        return cls("wrong_name")

    @classmethod
    def oversized(cls, n: int = 200) -> Fault:
        """A valid answer with ``n`` addresses (AAAA for an AAAA query, A otherwise)."""
        return cls("oversized", n=n)


def _type_key(qtype: str | None) -> str:
    return "*" if qtype is None else qtype.upper()


class FaultTable:
    """Faults by (name key, type mnemonic or "*"), plus the two global switches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[tuple[str, str], Fault] = {}
        self.dead = False
        self.refuse_all = False

    def set(self, name: str, qtype: str | None, fault: Fault) -> None:
        with self._lock:
            self._faults[(name_key(name), _type_key(qtype))] = fault

    def clear(self, name: str | None = None, qtype: str | None = None) -> None:
        """Forget faults: all, all of ``name``, or the one for ``name``/``qtype``."""
        with self._lock:
            if name is None:
                self._faults.clear()
                return
            key = name_key(name)
            if qtype is not None:
                self._faults.pop((key, _type_key(qtype)), None)
            else:
                for entry in [e for e in self._faults if e[0] == key]:
                    del self._faults[entry]

    def get(self, key: str, qtype: str) -> Fault | None:
        """The fault for a query (``key`` from ``name_key``, ``qtype`` a mnemonic)."""
        if not self._faults:  # the common case: no lock, no lookups
            return None
        with self._lock:
            return self._faults.get((key, qtype)) or self._faults.get((key, "*"))
