"""Reading one reply: addresses along a CNAME chain, and the RFC 2308 negative TTL.

The engine hands over the lean records of a reply (``_cares.read_records``):
the A/AAAA/CNAME answers and the SOA of the authority section. A negative
reply carries the SOA of the zone that said no, which for a name behind a CNAME
is the target's zone (RFC 2308 section 5): its ``min(TTL, MINIMUM)`` is the
negative TTL, with no further query. Hand-written: no library reads c-ares
replies this way.
"""

from __future__ import annotations

import pycares

from ._cares import Records
from ._fetcher import NO_SOA, OK, Reply

__all__ = ["MAX_CHAIN", "BadAnswer", "Chain", "direct_reply", "negative_reply"]

MAX_CHAIN = 16
_CNAME = pycares.QUERY_TYPE_CNAME
_NOTFOUND = pycares.errno.ARES_ENOTFOUND
_NODATA = pycares.errno.ARES_ENODATA
_new = tuple.__new__


class BadAnswer(Exception):
    """The answer is unusable (a CNAME loop, a chain too long)."""


class Chain:
    """The addresses of ``qtype`` at the end of the CNAME chain from ``qname``.

    Fed one reply at a time: ``follow`` returns the name to ask next when a
    reply ends in a CNAME whose target it does not hold and no SOA says that is
    all there is (servers cut long chains: knotd after 5, others after 8-16).
    ``ttl`` is the smallest TTL along the chain.
    """

    __slots__ = ("_seen", "addrs", "qname", "qtype", "ttl")

    def __init__(self, qname: str, qtype: int) -> None:
        self.qname = qname
        self.qtype = qtype
        self.addrs: tuple[str, ...] = ()
        self.ttl: int | None = None
        self._seen: set[str] = set()

    def follow(self, records: Records, asked: str, has_soa: bool) -> str | None:
        if not records:
            return None
        qtype = self.qtype
        if len(records) == 1 or all(r[1] == qtype for r in records):
            # The common reply: only addresses, all for the name asked.
            owner = records[0][0].lower().rstrip(".")
            if records[0][1] == qtype and (owner == asked or owner.startswith(asked + ".")):
                if owner in self._seen:
                    raise BadAnswer(f"CNAME loop at {owner!r}")
                self._seen.add(owner)
                ttl = min(r[2] for r in records)
                self.ttl = ttl if self.ttl is None else min(self.ttl, ttl)
                self.addrs = tuple(r[3] for r in records if r[0] == records[0][0])
                return None
        by_name: dict[str, list[tuple[str, int, int, str]]] = {}
        for rec in records:
            by_name.setdefault(rec[0].lower().rstrip("."), []).append(rec)
        name = asked
        if name not in by_name:
            # The search list appended a domain: the answer is for asked.<domain>.
            first = records[0][0].lower().rstrip(".")
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
                return None if has_soa else name
            self._seen.add(name)
            for r in recs:
                self.ttl = r[2] if self.ttl is None else min(self.ttl, r[2])
            self.addrs = tuple(r[3] for r in recs if r[1] == qtype)
            if self.addrs:
                return None
            cnames = [r[3] for r in recs if r[1] == _CNAME]
            if not cnames:
                return None
            name = cnames[0].lower().rstrip(".")


def direct_reply(records: Records, asked: str, qtype: int) -> Reply | None:
    """The Reply of the common first reply: only addresses, for the name asked.

    ``Chain.follow`` on a new chain gives the same; None when a chain is needed.
    """
    first = records[0]
    if first[1] != qtype:
        return None
    for r in records:  # per reply: no generator
        if r[1] != qtype:
            return None
    owner = first[0].lower().rstrip(".")
    if owner != asked and not owner.startswith(asked + "."):
        return None
    name = first[0]
    ttl = first[2]
    for r in records:
        if r[2] < ttl:
            ttl = r[2]
    if len(records) == 1:
        return _new(Reply, (OK, (first[3],), ttl, ""))
    return _new(Reply, (OK, tuple([r[3] for r in records if r[0] == name]), ttl, ""))


def negative_reply(status: int, soa: tuple[int, int] | None, chain: Chain) -> Reply:
    """NXDOMAIN/NODATA with its RFC 2308 TTL: min(SOA TTL, MINIMUM), or NO_SOA.

    A CNAME on the way caps it too: once the alias changes, the "no" may not hold.
    """
    if soa is None:
        return Reply(status, (), NO_SOA)
    ttl = min(soa)
    if chain.ttl is not None:
        ttl = min(ttl, chain.ttl)
    return Reply(status, (), ttl)


def positive_reply(chain: Chain, soa: tuple[int, int] | None) -> Reply:
    """The chain's addresses, or NODATA when it ended without any."""
    if chain.addrs:
        return Reply(OK, chain.addrs, chain.ttl or 0)
    return negative_reply(_NODATA, soa, chain)


NEGATIVE = (_NOTFOUND, _NODATA)
