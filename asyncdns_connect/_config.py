"""Resolver settings: the TTL policy in one type, and the resolver's other knobs."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ResolverConfig", "TtlConfig"]


@dataclass(frozen=True)
class TtlConfig:
    """How long answers live in the cache (seconds).

    Positive answers live for the smallest TTL along the answer, clamped to
    ``[min_ttl, max_ttl]``; a TTL of 0 is not cached (RFC 1035). Negative answers
    (NXDOMAIN, NODATA) live for the zone's SOA negative TTL (RFC 2308), at most
    ``max_negative_ttl``, or ``negative_ttl`` where no SOA is visible. Expired
    positive answers are kept ``stale_ttl`` more for serve-stale (RFC 8767).
    """

    min_ttl: float = 0
    max_ttl: float = 3600
    negative_ttl: float = 10
    max_negative_ttl: float = 300
    stale_ttl: float = 86400
    # RFC 8767: answer stale data when a refresh has not answered within 1.8 s,
    # and ask the upstream again at most every 30 s while it keeps failing.
    stale_answer_timeout: float = 1.8
    stale_refresh_interval: float = 30.0
    # A hit in the last tenth of a TTL starts one background refresh.
    prefetch_fraction: float = 0.1

    def __post_init__(self) -> None:
        for name in ("min_ttl", "max_ttl", "negative_ttl", "max_negative_ttl", "stale_ttl"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.min_ttl > self.max_ttl:
            raise ValueError("min_ttl must not exceed max_ttl")

    def positive(self, ttl: int) -> float:
        """Cache life of a positive answer whose smallest record TTL is ``ttl``."""
        if ttl <= 0 and self.min_ttl <= 0:
            return 0.0
        return float(min(max(ttl, self.min_ttl), self.max_ttl))

    def negative(self, soa_ttl: float | None) -> float:
        """Cache life of a negative answer; ``soa_ttl`` is min(SOA TTL, MINIMUM)."""
        if soa_ttl is None:
            return float(min(self.negative_ttl, self.max_negative_ttl))
        return float(min(max(soa_ttl, 0), self.max_negative_ttl))


@dataclass(frozen=True)
class ResolverConfig:
    """Everything a Resolver is built with (see ``Resolver`` for the meaning)."""

    nameservers: tuple[str, ...] | None = None
    ttl: TtlConfig = field(default_factory=TtlConfig)
    cache_size: int = 10_000
    resolution_delay: float = 0.05
    first_family_count: int = 1
    hosts_file: bool | str = True
    timeout: float | None = None
    tries: int | None = None
    rotate: bool = False
    max_concurrent_queries: int = 512

    def __post_init__(self) -> None:
        if self.cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        if not 0 <= self.resolution_delay <= 2:
            raise ValueError("resolution_delay must be within [0, 2] seconds")
        if self.first_family_count < 1:
            raise ValueError("first_family_count must be at least 1")
        if self.max_concurrent_queries < 1:
            raise ValueError("max_concurrent_queries must be at least 1")
