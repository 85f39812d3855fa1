"""Zone content and the authoritative answer to one question. No I/O here.

The server answers for any name. A name "exists" when it has records, when it is
an empty non-terminal (an ancestor of a name with records) or when it is a zone
apex. Negative answers carry the SOA of the closest enclosing zone in AUTHORITY,
with TTL = min(SOA TTL, SOA MINIMUM) as RFC 2308 asks.

Zones: every ``set_soa`` apex, and otherwise, for a name under no such apex, a
default zone at its last label (``"test"`` for ``"x.test"``) whose SOA MINIMUM is
``default_negative_ttl`` (no default zone at all when that is ``None``).

All methods take one lock, so a test thread may edit the zone of a server whose
event loop runs in another thread (``ThreadedDNSServer``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from dnslib import QTYPE, RCODE, RR, SOA, DNSLabel

from ._names import name_key, suffixes

MAX_CNAME_CHAIN = 16

_SOA = int(QTYPE.SOA)
_CNAME = int(QTYPE.CNAME)
_ANY = int(QTYPE.ANY)


@dataclass(frozen=True)
class SOASpec:
    """One zone's SOA. ``ttl`` is the SOA record's own TTL."""

    apex: str
    ttl: int = 3600
    minimum: int = 60
    mname: str | None = None
    rname: str | None = None
    serial: int = 1
    refresh: int = 3600
    retry: int = 600
    expire: int = 86400

    def record(self, negative: bool) -> Any:
        """The SOA RR: with TTL ``ttl``, or min(ttl, minimum) in a negative answer."""
        suffix = f"{self.apex}." if self.apex else ""
        rdata = SOA(
            self.mname or f"ns.{suffix}",
            self.rname or f"hostmaster.{suffix}",
            (self.serial, self.refresh, self.retry, self.expire, self.minimum),
        )
        ttl = min(self.ttl, self.minimum) if negative else self.ttl
        return RR(DNSLabel(self.apex or "."), _SOA, ttl=ttl, rdata=rdata)


@dataclass
class Resolution:
    """What the zone says about a question."""

    rcode: int = int(RCODE.NOERROR)
    answer: list[Any] = field(default_factory=list)
    authority: list[Any] = field(default_factory=list)


class Zone:
    """Records by name and type, SOAs by apex."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # name key -> type code -> [(ttl, rdata)]
        self._records: dict[str, dict[int, list[tuple[int, Any]]]] = {}
        self._soas: dict[str, SOASpec] = {}
        self._parents: set[str] | None = None  # ancestors of names with records; lazy
        self.default_negative_ttl: int | None = 60

    # -- editing ----------------------------------------------------------------

    def add(self, name: str, code: int, rdata: Any, ttl: int) -> None:
        """Add one record; the same data again only replaces its TTL."""
        with self._lock:
            rrset = self._records.setdefault(name_key(name), {}).setdefault(code, [])
            rrset[:] = [(t, rd) for t, rd in rrset if rd != rdata]
            rrset.append((ttl, rdata))
            self._parents = None

    def remove(self, name: str, code: int | None) -> None:
        with self._lock:
            key = name_key(name)
            types = self._records.get(key, {})
            if code is None:
                types.clear()
            else:
                types.pop(code, None)
            if not types:
                self._records.pop(key, None)
            self._parents = None

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._soas.clear()
            self._parents = None

    def set_soa(self, soa: SOASpec) -> None:
        with self._lock:
            self._soas[soa.apex] = soa

    # -- answering --------------------------------------------------------------

    def resolve(self, qname: Any, qtype: int) -> Resolution:
        """Answer ``qname``/``qtype``, following CNAMEs within the zone.

        Records owned by the question name carry the question's own spelling
        (``qname`` is the query's ``DNSLabel``); later owners are spelled as the
        CNAME that led to them.
        """
        result = Resolution()
        owner = qname
        seen: set[str] = set()
        with self._lock:
            while True:
                key = name_key(owner)
                types = self._records.get(key, {})
                if qtype == _ANY and types:
                    for code, rrset in types.items():
                        result.answer += _rrs(owner, code, rrset)
                    return result
                if qtype in types:
                    result.answer += _rrs(owner, qtype, types[qtype])
                    return result
                zone = self._zone_of(key)
                if qtype == _SOA and zone is not None and zone.apex == key:
                    result.answer.append(zone.record(negative=False))
                    return result
                cname = types.get(_CNAME) if qtype != _CNAME else None
                if cname and key not in seen and len(seen) < MAX_CNAME_CHAIN:
                    seen.add(key)
                    result.answer += _rrs(owner, _CNAME, cname[:1])
                    owner = cname[0][1].label
                    continue
                if cname:  # a CNAME loop or an over-long chain: what we have
                    return result
                exists = (
                    bool(types)
                    or key in self._parent_names()
                    or (zone is not None and zone.apex == key)
                )
                if not exists:
                    result.rcode = int(RCODE.NXDOMAIN)
                if zone is not None:
                    result.authority.append(zone.record(negative=True))
                return result

    def _zone_of(self, key: str) -> SOASpec | None:
        """The SOA of the closest enclosing zone of ``key`` (the lock is held)."""
        for candidate in suffixes(key):
            if candidate in self._soas:
                return self._soas[candidate]
        minimum = self.default_negative_ttl
        if minimum is None or not key:
            return None
        return SOASpec(apex=key.rpartition(".")[2], ttl=max(3600, minimum), minimum=minimum)

    def _parent_names(self) -> set[str]:
        if self._parents is None:
            self._parents = {p for key in self._records for p in suffixes(key)[1:]}
        return self._parents


def _rrs(owner: Any, code: int, rrset: list[tuple[int, Any]]) -> list[Any]:
    return [RR(owner, code, ttl=ttl, rdata=rdata) for ttl, rdata in rrset]
