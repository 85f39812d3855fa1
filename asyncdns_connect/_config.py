"""``ResolverConfig``: every knob a Resolver has, with its one set of defaults.

``Resolver(**fields)`` and ``Resolver(config=ResolverConfig(...))`` build the
same thing; nothing else carries a default of its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["ResolverConfig"]


@dataclass(frozen=True)
class ResolverConfig:
    """How a Resolver asks, caches and orders (times in seconds).

    Where to ask:
      ``nameservers``: ``"ip"``, ``"ip:port"`` or ``"[v6]:port"`` strings, or None for
      the system configuration (which also gives the search list and ndots).
      ``timeout``: seconds one try waits at one server (None: with the system's
      nameservers, resolv.conf's ``timeout:`` if set, else 2); ``tries``: tries per
      server (None: likewise ``attempts:``, else 2); a lookup ends after
      at most timeout x tries x servers (docs/engine.md). ``rotate``: spread queries
      over the servers. ``max_concurrent_queries``: queries in flight at once; more
      wait their turn.

    Local answers, before DNS:
      ``hosts_file``: True for /etc/hosts, a path, or False. It is re-read off the
      event loop when it changes, looked at every ``hosts_check_interval``.
      ``overrides``: host -> IPs, answered before anything else (like curl
      ``--resolve``).

    The cache, per (name, family):
      ``cache_size``: names kept (LRU). Positive answers live for the smallest TTL of
      the answer clamped to ``[min_ttl, max_ttl]``; TTL 0 is not cached (RFC 1035)
      unless ``min_ttl`` says so. NXDOMAIN/NODATA live for the zone's SOA negative TTL
      (RFC 2308) capped at ``max_negative_ttl``, or ``negative_ttl`` when the reply
      carried no SOA. A failure (SERVFAIL, REFUSED, timeout, unusable answer) is
      remembered ``failure_ttl``, doubling on each repeat up to ``max_failure_ttl``
      (RFC 9520), so a failing server sees a bounded query rate.
      ``prefetch_fraction``: a hit in the last part of a TTL refreshes the family in
      the background; the lead is at least three times the name's observed query
      time, so the refresh lands before expiry. ``stale_ttl``: how long an expired
      answer may still be served while its refresh is in flight or failing
      (RFC 8767); ``stale_answer_timeout``: the longest a lookup of an expired name
      waits for the refresh before answering stale (RFC 8767's 1.8 s); it answers
      stale sooner once the refresh is late for that name (three times its usual
      query time plus 0.3 s) or another family already has addresses.
      ``failed_address_ttl``: how long an address reported as failing
      (``Resolver.report_failure``) goes last for its host.

    Order:
      ``resolution_delay``: how long to wait for AAAA once A answered (RFC 8305);
      ``first_family_count``: addresses of the first family before alternating.
    """

    nameservers: tuple[str, ...] | None = None
    timeout: float | None = None
    tries: int | None = None
    rotate: bool = False
    max_concurrent_queries: int = 512

    hosts_file: bool | str = True
    hosts_check_interval: float = 1.0
    overrides: Mapping[str, Iterable[str]] = field(default_factory=dict)

    cache_size: int = 10_000
    min_ttl: float = 0
    max_ttl: float = 3600
    negative_ttl: float = 10
    max_negative_ttl: float = 300
    failure_ttl: float = 1.0
    max_failure_ttl: float = 30.0
    prefetch_fraction: float = 0.1
    stale_ttl: float = 86400
    stale_answer_timeout: float = 1.8
    failed_address_ttl: float = 600

    resolution_delay: float = 0.05
    first_family_count: int = 1

    def __post_init__(self) -> None:
        if self.timeout is not None and not self.timeout > 0:
            raise ValueError(f"timeout must be a number of seconds > 0, not {self.timeout!r}")
        if self.tries is not None and self.tries < 1:
            raise ValueError(f"tries must be >= 1, not {self.tries!r}")
        for name in ("min_ttl", "max_ttl", "negative_ttl", "max_negative_ttl", "stale_ttl",
                     "stale_answer_timeout", "failed_address_ttl", "hosts_check_interval"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.min_ttl > self.max_ttl:
            raise ValueError("min_ttl must not exceed max_ttl")
        if not 0 < self.failure_ttl <= self.max_failure_ttl:
            raise ValueError("failure_ttl must be positive and at most max_failure_ttl")
        if not 0 <= self.prefetch_fraction < 1:
            raise ValueError("prefetch_fraction must be within [0, 1)")
        if self.cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        if not 0 <= self.resolution_delay <= 2:
            raise ValueError("resolution_delay must be within [0, 2] seconds")
        if self.first_family_count < 1:
            raise ValueError("first_family_count must be at least 1")
        if self.max_concurrent_queries < 1:
            raise ValueError("max_concurrent_queries must be at least 1")

    def replace(self, **changes: object) -> ResolverConfig:
        """A copy with ``changes``; an unknown name is a TypeError naming it."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise TypeError(f"unknown Resolver option(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def positive_life(self, ttl: int) -> float:
        """Cache life of a positive answer whose smallest record TTL is ``ttl``."""
        if ttl <= 0 and self.min_ttl <= 0:
            return 0.0
        return float(min(max(ttl, self.min_ttl), self.max_ttl))

    def negative_life(self, soa_ttl: float | None) -> float:
        """Cache life of a negative answer; ``soa_ttl`` is min(SOA TTL, MINIMUM)."""
        if soa_ttl is None:
            return float(min(self.negative_ttl, self.max_negative_ttl))
        return float(min(max(soa_ttl, 0), self.max_negative_ttl))

    def failure_life(self, failures: int) -> float:
        """How long the ``failures``-th failure in a row is remembered (RFC 9520)."""
        return min(self.failure_ttl * 2.0 ** min(failures - 1, 30), self.max_failure_ttl)
