"""Counters a Resolver keeps, and the snapshot ``Resolver.stats()`` returns."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Stats"]


@dataclass
class Stats:
    """What the resolver did since it was made.

    ``hits``: answered from a fresh cache entry; ``misses``: had to wait for DNS;
    ``stale``: answered from an expired entry because the refresh failed or was
    slow; ``prefetches``: background refreshes started by a hit near expiry;
    ``merged``: per-family queries a caller joined instead of sending (a caller
    of both families joining both counts two); ``queries``:
    queries handed to c-ares; ``errors``: failures by error class name;
    ``cache_size``: hosts in the cache now.
    """

    hits: int = 0
    misses: int = 0
    stale: int = 0
    prefetches: int = 0
    merged: int = 0
    queries: int = 0
    local: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    cache_size: int = 0

    def copy(self) -> Stats:
        return Stats(self.hits, self.misses, self.stale, self.prefetches, self.merged,
                     self.queries, self.local, Counter(self.errors), self.cache_size)

    def as_dict(self) -> dict[str, object]:
        return {
            "hits": self.hits, "misses": self.misses, "stale": self.stale,
            "prefetches": self.prefetches, "merged": self.merged, "queries": self.queries,
            "local": self.local, "errors": dict(self.errors), "cache_size": self.cache_size,
        }
