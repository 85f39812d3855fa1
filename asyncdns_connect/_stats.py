"""Counters a Resolver keeps, and the snapshot ``Resolver.stats()`` returns."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Stats"]


@dataclass
class Stats:
    """What the resolver did since it was made.

    ``hits``: answered from the cache without waiting (fresh answers, remembered
    negatives and failures); ``misses``: had to wait for DNS;
    ``local``: answered from an IP literal, an override, a special-use name or the
    hosts file; ``stale``: answers that used an expired address, and
    ``stale_by_reason`` why: ``"refreshing"`` (its refresh was in flight),
    ``"failed"`` (the refresh failed), ``"slow"`` (the refresh took longer than
    ``stale_answer_timeout``); ``prefetches``: background refreshes started by a
    hit before expiry; ``merged``: per-family queries a caller joined instead of
    sending; ``backoffs``: failures remembered (each starts or doubles a
    back-off, RFC 9520); ``refresh_failures``: by error class, failures of a
    refresh of a name already cached; ``errors``: errors raised to callers, by
    class; ``queries``: queries handed to c-ares; ``cache_size``: names cached now.
    """

    hits: int = 0
    misses: int = 0
    local: int = 0
    stale: int = 0
    stale_by_reason: Counter[str] = field(default_factory=Counter)
    prefetches: int = 0
    merged: int = 0
    backoffs: int = 0
    refresh_failures: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    queries: int = 0
    cache_size: int = 0

    def count_stale(self, reason: str) -> None:
        self.stale += 1
        self.stale_by_reason[reason] += 1

    def copy(self) -> Stats:
        return dataclasses.replace(
            self, stale_by_reason=Counter(self.stale_by_reason),
            refresh_failures=Counter(self.refresh_failures), errors=Counter(self.errors))

    def as_dict(self) -> dict[str, object]:
        return {f.name: (dict(v) if isinstance(v := getattr(self, f.name), Counter) else v)
                for f in dataclasses.fields(self)}
