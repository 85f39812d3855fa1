"""``aiodns.error``: the exception and the c-ares status numbers, as aiodns 4.0.4 has them.

``DNSError(errno, message)`` is a plain ``Exception`` (not an ``OSError``), exactly as
in aiodns, so ``except`` clauses written for aiodns catch the same things.
"""

from __future__ import annotations

from pycares.errno import (
    ARES_EADDRGETNETWORKPARAMS,
    ARES_EBADFAMILY,
    ARES_EBADFLAGS,
    ARES_EBADHINTS,
    ARES_EBADNAME,
    ARES_EBADQUERY,
    ARES_EBADRESP,
    ARES_EBADSTR,
    ARES_ECANCELLED,
    ARES_ECONNREFUSED,
    ARES_EDESTRUCTION,
    ARES_EFILE,
    ARES_EFORMERR,
    ARES_ELOADIPHLPAPI,
    ARES_ENODATA,
    ARES_ENOMEM,
    ARES_ENONAME,
    ARES_ENOTFOUND,
    ARES_ENOTIMP,
    ARES_ENOTINITIALIZED,
    ARES_EOF,
    ARES_EREFUSED,
    ARES_ESERVFAIL,
    ARES_ESERVICE,
    ARES_ETIMEOUT,
    ARES_SUCCESS,
)

__all__ = [
    "ARES_EADDRGETNETWORKPARAMS",
    "ARES_EBADFAMILY",
    "ARES_EBADFLAGS",
    "ARES_EBADHINTS",
    "ARES_EBADNAME",
    "ARES_EBADQUERY",
    "ARES_EBADRESP",
    "ARES_EBADSTR",
    "ARES_ECANCELLED",
    "ARES_ECONNREFUSED",
    "ARES_EDESTRUCTION",
    "ARES_EFILE",
    "ARES_EFORMERR",
    "ARES_ELOADIPHLPAPI",
    "ARES_ENODATA",
    "ARES_ENOMEM",
    "ARES_ENONAME",
    "ARES_ENOTFOUND",
    "ARES_ENOTIMP",
    "ARES_ENOTINITIALIZED",
    "ARES_EOF",
    "ARES_EREFUSED",
    "ARES_ESERVFAIL",
    "ARES_ESERVICE",
    "ARES_ETIMEOUT",
    "ARES_SUCCESS",
    "DNSError",
]


class DNSError(Exception):
    """A lookup failed: ``args`` is ``(errno, message)`` with c-ares's number and text."""
