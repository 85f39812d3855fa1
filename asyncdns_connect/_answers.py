"""Reading answers: addresses along a CNAME chain, and the RFC 2308 negative TTL.

pycares hands over the records of a positive answer but throws a negative
reply away, SOA included. The negative TTL is therefore found the way a
resolver would: an SOA query for the enclosing names until the zone apex
answers, its ``min(TTL, MINIMUM)`` cached per zone. Hand-written: no library
does either on top of pycares.
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

import pycares

from ._engine import Engine, QueryFailed

__all__ = ["MAX_CHAIN", "BadAnswer", "Chain", "SoaFinder"]

MAX_CHAIN = 16
_MAX_WALK = 8
_SOA_CACHE_SIZE = 4096
_NEGATIVE = (pycares.errno.ARES_ENOTFOUND, pycares.errno.ARES_ENODATA)


class BadAnswer(Exception):
    """The answer is unusable (a CNAME loop, a chain too long)."""


class Chain:
    """The addresses of ``qtype`` at the end of the CNAME chain from ``qname``.

    Fed one answer at a time: ``follow`` returns the name to ask next when an
    answer ends in a CNAME whose target it does not hold and no SOA says that is
    all there is (servers cut long chains: knotd after 5, others after 8-16).
    ``ttl`` is the smallest TTL along the chain.
    """

    def __init__(self, qname: str, qtype: int) -> None:
        self.qname = qname
        self.qtype = qtype
        self.addrs: tuple[str, ...] = ()
        self.ttl: int | None = None
        self._seen: set[str] = set()

    def follow(self, result: Any, asked: str) -> str | None:
        records = result.answer
        if not records:
            return None
        by_name: dict[str, list[Any]] = {}
        for rec in records:
            by_name.setdefault(rec.name.lower().rstrip("."), []).append(rec)
        name = asked
        if name not in by_name:
            # The search list appended a domain: the answer is for asked.<domain>.
            first = records[0].name.lower().rstrip(".")
            if not first.startswith(asked + "."):
                return None
            name = first
        while True:
            if name in self._seen:
                raise BadAnswer(f"CNAME loop at {name!r}")
            if len(self._seen) > MAX_CHAIN:
                raise BadAnswer(f"CNAME chain longer than {MAX_CHAIN}")
            recs = by_name.get(name)
            if recs is None:
                has_soa = any(r.type == pycares.QUERY_TYPE_SOA for r in result.authority)
                return None if has_soa else name
            self._seen.add(name)
            for r in recs:
                self.ttl = r.ttl if self.ttl is None else min(self.ttl, r.ttl)
            self.addrs = tuple(r.data.addr for r in recs if r.type == self.qtype)
            if self.addrs:
                return None
            cnames = [r.data.cname for r in recs if r.type == pycares.QUERY_TYPE_CNAME]
            if not cnames:
                return None
            name = cnames[0].lower().rstrip(".")


class SoaFinder:
    """Finds and caches the negative TTL of the zone enclosing a name."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._zones: dict[str, tuple[float, float]] = {}  # zone -> (neg ttl, expires)
        self._inflight: dict[str, asyncio.Future[Any]] = {}

    async def negative_ttl(self, name: str, nxdomain: bool) -> float | None:
        """min(SOA TTL, MINIMUM) of the zone holding ``name``; None if no SOA is seen."""
        labels = name.split(".")
        # A name that does not exist cannot be a zone apex: start at its parent.
        start = 1 if nxdomain else 0
        for i in range(start, min(len(labels), start + _MAX_WALK)):
            zone = ".".join(labels[i:])
            known = self._zones.get(zone)
            if known is not None and known[1] > time.monotonic():
                return known[0]
            found = await self._ask(zone)
            if found is not False:
                return found if isinstance(found, float) else None
        return None

    async def _ask(self, zone: str) -> float | bool | None:
        """The zone's negative TTL; False if ``zone`` is no apex; None if unknown."""
        fut = self._inflight.get(zone)
        if fut is None:
            try:
                fut = self._engine.query(zone, pycares.QUERY_TYPE_SOA, ours=False)
            except Exception:
                return None
            self._inflight[zone] = fut
            fut.add_done_callback(functools.partial(self._forget, zone))
        try:
            result = await asyncio.shield(fut)
        except QueryFailed as exc:
            return False if exc.status in _NEGATIVE else None
        except Exception:
            return None
        for rec in result.answer:
            if rec.type == pycares.QUERY_TYPE_SOA and rec.name.lower().rstrip(".") == zone:
                neg = float(min(rec.ttl, rec.data.minimum))
                if len(self._zones) >= _SOA_CACHE_SIZE:
                    self._zones.clear()
                self._zones[zone] = (neg, time.monotonic() + rec.ttl)
                return neg
        return False

    def _forget(self, zone: str, _fut: asyncio.Future[Any]) -> None:
        self._inflight.pop(zone, None)
