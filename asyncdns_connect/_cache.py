"""The cache's data: one ``Record`` per (name, family), views per name, an LRU.

A ``Record`` is what DNS last said about one family of one name: addresses
(positive), NXDOMAIN/NODATA (negative) or a failure (SERVFAIL, timeout...),
each with its own expiry, prefetch time and stale window. A ``HostEntry`` keeps
a name's records and its *views*: what a caller asking for AF_INET, AF_INET6 or
AF_UNSPEC gets, ordered, and until when, each made on first use after a record
changed. A cache hit is then a dict lookup and a clock read. The rules that write records live
in ``_scheduler``. Hand-written: the per-family expiry, failure and stale rules
are ours, and no LRU library keeps derived views per entry.
"""

from __future__ import annotations

import socket
from collections import OrderedDict
from dataclasses import dataclass

from ._errors import DNSError, pick_error
from ._order import demote, order, sort_destinations
from ._types import Address

__all__ = ["FAILURE", "NEGATIVE", "POSITIVE", "HostCache", "HostEntry", "Record", "View",
           "STALE_ANSWER_TTL"]

AF_INET = socket.AF_INET
AF_INET6 = socket.AF_INET6
AF_UNSPEC = socket.AF_UNSPEC

_new = tuple.__new__
_ENUM: dict[int, socket.AddressFamily] = {AF_INET: AF_INET, AF_INET6: AF_INET6}  # no enum call
POSITIVE, NEGATIVE, FAILURE = "positive", "negative", "failure"
# RFC 8767 section 4: a stale answer is handed out with a TTL of 30 s.
STALE_ANSWER_TTL = 30


@dataclass(slots=True)
class Record:
    """What DNS last said about one (name, family), and what to do about it when.

    ``kind``: POSITIVE, NEGATIVE or FAILURE. ``addrs``: the addresses of the last
    positive answer (a FAILURE keeps them for serve-stale). ``error``: why there
    are no addresses (NEGATIVE, FAILURE, or a POSITIVE the address policy emptied).
    ``expires``: fresh until (for a FAILURE: when DNS may be asked again).
    ``stale_until``: ``addrs`` may be served until then. ``prefetch_at``: a hit
    from then on refreshes this family in the background. ``failures``: failures
    in a row (the back-off exponent). ``latency``: the observed query time.
    """

    family: int
    kind: str
    addrs: tuple[str, ...]
    error: DNSError | None
    ttl: float
    expires: float
    stale_until: float
    prefetch_at: float
    failures: int = 0
    latency: float = 0.0

    def answer(self) -> tuple[Address, ...]:
        """``addrs`` as Addresses with this record's TTL, in RFC 6724 order.

        Made on each call, not kept: a name looked up once keeps only its
        records' strings (which the garbage collector stops tracking), not
        Address tuples it would walk for as long as the name is cached. The
        views keep what hits need.
        """
        fam = _ENUM[self.family]
        ttl = int(self.ttl)
        # tuple.__new__: Address's own __new__ is Python code, run per address.
        addrs = self.addrs
        if len(addrs) == 1:
            return (_new(Address, (addrs[0], fam, ttl)),)
        got = [_new(Address, (ip, fam, ttl)) for ip in addrs]
        return tuple(sort_destinations(got)) if len(got) > 1 else tuple(got)

    def stale_addrs(self, now: float) -> bool:
        """True if ``addrs`` may still be served although not fresh."""
        return bool(self.addrs) and now < self.stale_until


@dataclass(slots=True)
class View:
    """What a caller asking for one family gets from the cache, and until when.

    ``addrs`` ordered (learned fallback applied), or ``error`` when there are none.
    ``stale``: some addresses come from a failing family's expired answer.
    """

    addrs: tuple[Address, ...]
    error: DNSError | None
    expires: float
    prefetch_at: float
    stale: bool


class HostEntry:
    """One name: its records per family, its views, and the addresses that failed."""

    __slots__ = ("failed", "first_family_count", "name", "records", "views")

    def __init__(self, name: str, first_family_count: int) -> None:
        self.name = name
        self.first_family_count = first_family_count
        self.records: dict[int, Record] = {}
        self.views: dict[int, View] = {}
        # address -> until when it goes last (Resolver.report_failure)
        self.failed: dict[str, float] = {}

    def rebuild(self, now: float) -> None:
        """Forget the views (after any record changed): ``view`` makes each again.

        Lazily: a miss whose families land one by one would otherwise order
        three views per name, where callers usually ask for one.
        """
        if self.views:
            self.views.clear()

    def view(self, family: int, now: float) -> View | None:
        """What a caller asking for ``family`` gets, made once per change of the records.

        None when a family it needs has no record yet.
        """
        got = self.views.get(family)
        if got is not None:
            return got
        records = self.records
        if family == AF_UNSPEC:
            r4, r6 = records.get(AF_INET), records.get(AF_INET6)
            if r4 is None or r6 is None:
                return None
            recs: tuple[Record, ...] = (r4, r6)
        else:
            r = records.get(family)
            if r is None:
                return None
            recs = (r,)
        failed: set[str] = set()
        if self.failed:
            failed = {ip for ip, until in self.failed.items() if until > now}
            if len(failed) != len(self.failed):
                self.failed = {ip: u for ip, u in self.failed.items() if ip in failed}
        got = self.views[family] = self._view(recs, failed, now)
        return got

    def addresses(self, records: tuple[Record, ...], now: float) -> tuple[Address, ...]:
        """The ordered addresses ``records`` can serve at ``now`` (fresh or stale)."""
        failed = {ip for ip, until in self.failed.items() if until > now}
        return self._ordered(records, failed, now)[0]

    def _ordered(self, records: tuple[Record, ...], failed: set[str], now: float
                 ) -> tuple[tuple[Address, ...], bool]:
        if len(records) == 1 and not failed:
            r = records[0]
            if r.kind == POSITIVE and r.error is None:
                return r.answer(), False  # already in order
        addrs: list[Address] = []
        stale = False
        for r in records:
            if r.kind == POSITIVE and r.error is None:
                fam, ttl = _ENUM[r.family], int(r.ttl)
                addrs.extend([_new(Address, (ip, fam, ttl)) for ip in r.addrs])  # order() sorts
            elif r.kind == FAILURE and r.stale_addrs(now):
                stale = True
                addrs.extend(Address(ip, socket.AddressFamily(r.family), STALE_ANSWER_TTL)
                             for ip in r.addrs)
        if len(addrs) > 1:
            ordered = order(addrs, self.first_family_count)
            if failed:
                ordered = demote(ordered, failed)
            return tuple(ordered), stale
        return tuple(addrs), stale

    def _view(self, records: tuple[Record, ...], failed: set[str], now: float) -> View:
        addrs, stale = self._ordered(records, failed, now)
        expires = records[0].expires
        prefetch_at = records[0].prefetch_at
        for r in records[1:]:
            expires = min(expires, r.expires)
            prefetch_at = min(prefetch_at, r.prefetch_at)
        if addrs:
            return View(addrs, None, expires, prefetch_at, stale)
        errors = [r.error for r in records if r.error is not None]
        return View((), pick_error(self.name, errors), expires, prefetch_at, False)


class HostCache:
    """LRU of HostEntry by normalised name, bounded in names."""

    __slots__ = ("_entries", "first_family_count", "max_size")

    def __init__(self, max_size: int, first_family_count: int = 1) -> None:
        self.max_size = max_size
        self.first_family_count = first_family_count
        self._entries: OrderedDict[str, HostEntry] = OrderedDict()

    def get(self, name: str) -> HostEntry | None:
        entry = self._entries.get(name)
        if entry is not None:
            self._entries.move_to_end(name)
        return entry

    def peek(self, name: str) -> HostEntry | None:
        """``get`` without making it the most recently used."""
        return self._entries.get(name)

    def entry(self, name: str) -> HostEntry:
        """The entry for ``name``, made (and the oldest evicted) if absent."""
        entry = self._entries.get(name)
        if entry is None:
            entry = self._entries[name] = HostEntry(name, self.first_family_count)
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
