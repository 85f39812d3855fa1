"""asyncdns_connect: a fast, TTL-correct asyncio DNS layer for aiohttp and httpx.

``Resolver`` is the shared engine (c-ares, per-host TTL cache, serve-stale,
RFC 6724/8305 ordering). ``asyncdns_connect.aiohttp`` and ``asyncdns_connect.httpx``
plug it into those clients; ``asyncdns_connect.testing`` is a loopback DNS server
for tests. Importing this package imports neither aiohttp nor httpx.
"""

from __future__ import annotations

from ._config import ResolverConfig
from ._errors import (
    AddressPolicyError,
    DNSError,
    DNSTimeoutError,
    InvalidHostError,
    NameNotFoundError,
    NoAddressError,
    RefusedError,
    ResolverClosedError,
    ServerFailureError,
)
from ._policy import AddressPolicy
from ._resolver import Resolver
from ._stats import Stats
from ._types import Address

__all__ = [
    "Address",
    "AddressPolicy",
    "AddressPolicyError",
    "DNSError",
    "DNSTimeoutError",
    "InvalidHostError",
    "NameNotFoundError",
    "NoAddressError",
    "RefusedError",
    "Resolver",
    "ResolverClosedError",
    "ResolverConfig",
    "ServerFailureError",
    "Stats",
]
__version__ = "0.1.0"
