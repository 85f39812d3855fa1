"""The per-host TTL cache: one entry per normalised name, one answer per family.

An entry keeps the answer of each family (addresses or a negative error, with
its own expiry) and, computed once when an answer changes, the *views* a caller
gets: the ordered addresses for AF_INET, AF_INET6 and AF_UNSPEC with the time
they expire. A cache hit is then a dict lookup and a clock read. The LRU bound
counts hosts. Hand-written: the expiry, stale and prefetch rules are ours, and
no LRU library keeps views per entry.
"""

from __future__ import annotations

import socket
from collections import OrderedDict
from dataclasses import dataclass

from ._errors import DNSError, pick_error
from ._order import demote, order
from ._types import Address

__all__ = ["Answer", "HostCache", "HostEntry", "View", "fresh_error"]

AF_INET = socket.AF_INET
AF_INET6 = socket.AF_INET6
AF_UNSPEC = socket.AF_UNSPEC

# Forget a failed connect after this long even if the entry lives on.
_FAILURE_MEMORY = 600.0


def fresh_error(err: DNSError) -> DNSError:
    """A new exception like ``err``: raising one object twice chains tracebacks."""
    return type(err)(err.errno or 0, err.strerror or str(err), host=err.host, reason=err.reason)


@dataclass(slots=True)
class Answer:
    """One family's answer: addresses, or the negative error; with its life."""

    family: socket.AddressFamily
    addrs: tuple[str, ...]
    error: DNSError | None
    ttl: float
    expires: float
    stale_until: float

    @property
    def positive(self) -> bool:
        return self.error is None


@dataclass(slots=True)
class View:
    """What a caller asking for one family gets, and until when."""

    result: tuple[Address, ...] | DNSError
    expires: float
    stale_until: float
    prefetch_at: float


class HostEntry:
    __slots__ = ("answers", "failed", "failed_refresh_at", "name", "views")

    def __init__(self, name: str) -> None:
        self.name = name
        self.answers: dict[int, Answer] = {}
        self.views: dict[int, View] = {}
        self.failed: dict[str, float] = {}
        self.failed_refresh_at = -1e18

    def store(self, answer: Answer, first_family_count: int, prefetch_fraction: float,
              now: float) -> None:
        """Keep ``answer``; a new answer also forgets the addresses that failed."""
        self.answers[answer.family] = answer
        whole = bool(self.failed)
        self.failed.clear()
        self.rebuild(first_family_count, prefetch_fraction, now,
                     None if whole else answer.family)

    def mark_failed(self, host: str, now: float, first_family_count: int,
                    prefetch_fraction: float) -> None:
        self.failed[host] = now + _FAILURE_MEMORY
        self.rebuild(first_family_count, prefetch_fraction, now)

    def rebuild(self, first_family_count: int, prefetch_fraction: float, now: float,
                family: int | None = None) -> None:
        """Rebuild the views; with ``family``, only the ones its answer is part of."""
        failed = {h for h, until in self.failed.items() if until > now}
        views = {} if family is None else dict(self.views)
        for fam in (AF_INET, AF_INET6) if family is None else (family,):
            a = self.answers.get(fam)
            if a is not None:
                views[fam] = _view((a,), self.name, failed, first_family_count,
                                   prefetch_fraction)
        a4, a6 = self.answers.get(AF_INET), self.answers.get(AF_INET6)
        if a4 is not None and a6 is not None:
            views[AF_UNSPEC] = _view((a4, a6), self.name, failed, first_family_count,
                                     prefetch_fraction)
        self.views = views

    def stale_result(self, family: int, now: float) -> tuple[Address, ...] | None:
        """Addresses of an expired entry still within its stale window, if any."""
        view = self.views.get(family)
        if view is None or isinstance(view.result, DNSError) or now >= view.stale_until:
            return None
        return view.result


def _view(answers: tuple[Answer, ...], name: str, failed: set[str], first_family_count: int,
          prefetch_fraction: float) -> View:
    expires = min(a.expires for a in answers)
    ttl = min(a.ttl for a in answers)
    addrs = [Address(h, a.family, int(a.ttl)) for a in answers for h in a.addrs]
    stale_until = min((a.stale_until for a in answers if a.addrs), default=expires)
    prefetch_at = expires - ttl * prefetch_fraction
    if addrs:
        ordered = order(addrs, first_family_count)
        if failed:
            ordered = demote(ordered, failed)
        return View(tuple(ordered), expires, stale_until, prefetch_at)
    errors = [a.error for a in answers if a.error is not None]
    return View(pick_error(name, errors), expires, expires, prefetch_at)


class HostCache:
    """LRU of HostEntry by normalised name, bounded in hosts."""

    __slots__ = ("_entries", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._entries: OrderedDict[str, HostEntry] = OrderedDict()

    def get(self, name: str) -> HostEntry | None:
        entry = self._entries.get(name)
        if entry is not None:
            self._entries.move_to_end(name)
        return entry

    def entry(self, name: str) -> HostEntry:
        """The entry for ``name``, made (and the oldest evicted) if absent."""
        entry = self._entries.get(name)
        if entry is None:
            entry = self._entries[name] = HostEntry(name)
            if len(self._entries) > self.max_size:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(name)
        return entry

    def discard(self, name: str) -> None:
        self._entries.pop(name, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
