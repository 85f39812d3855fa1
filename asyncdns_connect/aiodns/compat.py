"""``aiodns.compat``: pycares-4-style results for the deprecated ``DNSResolver.query``.

pycares 5 answers every query with a ``DNSResult``; code written for pycares 4 reads
per-type objects (``.host``, ``.ttl``, ``.text`` as str ...). These are the classes
and the conversion aiodns 4.0.4 ships under the same names, so ``isinstance`` checks
and attribute access written against aiodns keep working. Hand-written because the
only other copy lives inside aiodns, which this package replaces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pycares

from .error import DNSError

__all__ = [
    "AresHostResult",
    "AresQueryAAAAResult",
    "AresQueryAResult",
    "AresQueryCAAResult",
    "AresQueryCNAMEResult",
    "AresQueryMXResult",
    "AresQueryNAPTRResult",
    "AresQueryNSResult",
    "AresQueryPTRResult",
    "AresQuerySOAResult",
    "AresQuerySRVResult",
    "AresQueryTXTResult",
    "ConvertedRecord",
    "QueryResult",
    "convert_result",
]


@dataclass(frozen=True, slots=True)
class AresQueryAResult:
    host: str
    ttl: int


@dataclass(frozen=True, slots=True)
class AresQueryAAAAResult:
    host: str
    ttl: int


@dataclass(frozen=True, slots=True)
class AresQueryCNAMEResult:
    cname: str
    ttl: int


@dataclass(frozen=True, slots=True)
class AresQueryMXResult:
    host: str
    priority: int
    ttl: int


@dataclass(frozen=True, slots=True)
class AresQueryNSResult:
    host: str
    ttl: int


@dataclass(frozen=True, slots=True)
class AresQueryTXTResult:
    text: str | bytes  # str when ASCII, as pycares 4 gave it
    ttl: int


@dataclass(frozen=True, slots=True)
class AresQuerySOAResult:
    nsname: str
    hostmaster: str
    serial: int
    refresh: int
    retry: int
    expires: int
    minttl: int
    ttl: int


@dataclass(frozen=True, slots=True)
class AresQuerySRVResult:
    host: str
    port: int
    priority: int
    weight: int
    ttl: int


@dataclass(frozen=True, slots=True)
class AresQueryNAPTRResult:
    order: int
    preference: int
    flags: str
    service: str
    regex: str
    replacement: str
    ttl: int


@dataclass(frozen=True, slots=True)
class AresQueryCAAResult:
    critical: int
    property: str
    value: str
    ttl: int


@dataclass(frozen=True, slots=True)
class AresQueryPTRResult:
    name: str
    ttl: int
    aliases: list[str]


@dataclass(frozen=True, slots=True)
class AresHostResult:
    """What ``gethostbyname`` gives (pycares 4's ``ares_host_result``)."""

    name: str
    aliases: list[str]
    addresses: list[str]


ConvertedRecord = (
    AresQueryAResult | AresQueryAAAAResult | AresQueryCNAMEResult | AresQueryMXResult
    | AresQueryNSResult | AresQueryTXTResult | AresQuerySOAResult | AresQuerySRVResult
    | AresQueryNAPTRResult | AresQueryCAAResult | AresQueryPTRResult
    | pycares.DNSRecord  # a type pycares 4 had no class for (HTTPS, TLSA, URI): as is
)
QueryResult = list[ConvertedRecord] | ConvertedRecord

# Types pycares 4 answered with one object rather than a list.
_SINGLE = frozenset({pycares.QUERY_TYPE_CNAME, pycares.QUERY_TYPE_SOA, pycares.QUERY_TYPE_PTR})


def _maybe_str(data: bytes) -> str | bytes:
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        return data


def _convert_record(record: pycares.DNSRecord) -> ConvertedRecord:
    t, ttl, d = record.type, record.ttl, record.data
    data: Any = d
    if t == pycares.QUERY_TYPE_A:
        return AresQueryAResult(host=data.addr, ttl=ttl)
    if t == pycares.QUERY_TYPE_AAAA:
        return AresQueryAAAAResult(host=data.addr, ttl=ttl)
    if t == pycares.QUERY_TYPE_CNAME:
        return AresQueryCNAMEResult(cname=data.cname, ttl=ttl)
    if t == pycares.QUERY_TYPE_MX:
        return AresQueryMXResult(host=data.exchange, priority=data.priority, ttl=ttl)
    if t == pycares.QUERY_TYPE_NS:
        return AresQueryNSResult(host=data.nsdname, ttl=ttl)
    if t == pycares.QUERY_TYPE_TXT:
        return AresQueryTXTResult(text=_maybe_str(data.data), ttl=ttl)
    if t == pycares.QUERY_TYPE_SOA:
        return AresQuerySOAResult(
            nsname=data.mname, hostmaster=data.rname, serial=data.serial,
            refresh=data.refresh, retry=data.retry, expires=data.expire,
            minttl=data.minimum, ttl=ttl,
        )
    if t == pycares.QUERY_TYPE_SRV:
        return AresQuerySRVResult(host=data.target, port=data.port, priority=data.priority,
                                  weight=data.weight, ttl=ttl)
    if t == pycares.QUERY_TYPE_NAPTR:
        return AresQueryNAPTRResult(
            order=data.order, preference=data.preference, flags=data.flags,
            service=data.service, regex=data.regexp, replacement=data.replacement, ttl=ttl,
        )
    if t == pycares.QUERY_TYPE_CAA:
        return AresQueryCAAResult(critical=data.critical, property=data.tag, value=data.value,
                                  ttl=ttl)
    if t == pycares.QUERY_TYPE_PTR:
        return AresQueryPTRResult(name=data.dname, ttl=ttl, aliases=[])
    return record


def convert_result(dns_result: pycares.DNSResult, qtype: int) -> QueryResult:
    """The pycares 4 shape of an answer to ``qtype``.

    Records of other types (the CNAMEs before an A) are left out, as pycares 4 did;
    an answer with none of ``qtype`` raises ``DNSError(ARES_ENODATA)``. ``ANY`` gives
    every record converted.
    """
    if qtype == pycares.QUERY_TYPE_ANY:
        return [_convert_record(r) for r in dns_result.answer]
    results: list[ConvertedRecord] = []
    for record in dns_result.answer:
        if record.type != qtype:
            continue
        if qtype in _SINGLE:
            return _convert_record(record)
        results.append(_convert_record(record))
    if not results:
        raise DNSError(pycares.errno.ARES_ENODATA,
                       pycares.errno.strerror(pycares.errno.ARES_ENODATA))
    return results
