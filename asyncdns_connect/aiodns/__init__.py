"""A drop-in for aiodns 4.0.4: ``import asyncdns_connect.aiodns as aiodns``.

Same ``DNSResolver`` (constructor, methods returning ``asyncio.Future``, ``query``'s
pycares-4-style results, ``nameservers``, ``cancel``, ``close``, ``async with``), same
``error.DNSError`` numbers and messages, same ``compat`` result classes; running on
the project's engine (c-ares driven from the event loop, no thread hop). See
docs/aiodns.md for the few differences.
"""

from __future__ import annotations

# Besides __all__, aiodns's namespace carries these; code reaches for them as aiodns.X.
from . import compat, error  # noqa: F401
from ._dnsresolver import DNSResolver, query_class_map, query_type_map  # noqa: F401
from .compat import (  # noqa: F401
    AresHostResult,
    AresQueryAAAAResult,
    AresQueryAResult,
    AresQueryCAAResult,
    AresQueryCNAMEResult,
    AresQueryMXResult,
    AresQueryNAPTRResult,
    AresQueryNSResult,
    AresQueryPTRResult,
    AresQuerySOAResult,
    AresQuerySRVResult,
    AresQueryTXTResult,
    QueryResult,
    convert_result,
)

# The aiodns release whose public surface this mirrors.
__version__ = "4.0.4"

__all__ = ("DNSResolver", "error")

