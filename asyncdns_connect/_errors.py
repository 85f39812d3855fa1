"""The error types, and the one place where c-ares status codes become them.

Every failure a caller can see is a :class:`DNSError`: an ``OSError`` built as
``(errno, message)`` so that aiohttp's connector wraps it in
``ClientConnectorDNSError`` and httpx users can catch ``OSError``. ``errno`` is
``None``, as in the errors aiohttp's own resolvers raise: a c-ares status is not an
errno (NXDOMAIN's 4 would read as EINTR), and generic retry-on-errno code must not
misfire. The c-ares status (aiodns's numbers) is ``status``; the message names the
host and the reason.
"""

from __future__ import annotations

import pycares.errno as ares_errno

__all__ = [
    "AddressPolicyError",
    "DNSError",
    "InvalidHostError",
    "NameNotFoundError",
    "NoAddressError",
    "RefusedError",
    "ResolverClosedError",
    "ServerFailureError",
    "DNSTimeoutError",
    "error_for_status",
    "pick_error",
]


class DNSError(OSError):
    """A lookup failed.

    ``host``: the name asked for; ``reason``: a short text; ``status``: the c-ares
    status code (``pycares.errno.ARES_*``, the numbers aiodns reports); ``errno``:
    always ``None`` (see the module docstring); ``strerror`` and ``str()``: the
    message, ``"cannot resolve 'host': reason"``.
    """

    host: str
    reason: str
    status: int

    def __init__(self, status: int | None, message: str, *, host: str = "",
                 reason: str = "") -> None:
        super().__init__(None, message)
        self.status = type(self).default_status if status is None else status
        self.host = host
        self.reason = reason or message

    def __str__(self) -> str:
        return str(self.strerror)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.status, str(self.strerror), self.host,
                           self.reason))

    @classmethod
    def for_host(cls, host: str, reason: str, status: int | None = None) -> DNSError:
        return cls(status, f"cannot resolve {host!r}: {reason}", host=host, reason=reason)

    def copy(self) -> DNSError:
        """A new exception like this one: raising one object twice chains tracebacks."""
        return type(self)(self.status, str(self.strerror), host=self.host, reason=self.reason)

    default_status: int = ares_errno.ARES_EBADRESP
    # The name before the status moved out of errno; kept for callers that use it.
    default_errno: int = ares_errno.ARES_EBADRESP

    @property
    def transient(self) -> bool:
        """True for failures that say nothing about the name (serve stale on these)."""
        return False


class NameNotFoundError(DNSError):
    """NXDOMAIN: the name does not exist."""

    default_status = default_errno = ares_errno.ARES_ENOTFOUND


class NoAddressError(DNSError):
    """NODATA: the name exists but has no address of the family asked for."""

    default_status = default_errno = ares_errno.ARES_ENODATA


class ServerFailureError(DNSError):
    """The server answered SERVFAIL, sent a broken answer, or could not be reached."""

    default_status = default_errno = ares_errno.ARES_ESERVFAIL

    @property
    def transient(self) -> bool:
        return True


class DNSTimeoutError(DNSError):
    """No server answered in time."""

    default_status = default_errno = ares_errno.ARES_ETIMEOUT

    @property
    def transient(self) -> bool:
        return True


class RefusedError(DNSError):
    """The server refused the query."""

    default_status = default_errno = ares_errno.ARES_EREFUSED

    @property
    def transient(self) -> bool:
        return True


class InvalidHostError(DNSError, ValueError):
    """The host name is not a name that can be looked up; no query was sent."""

    default_status = default_errno = ares_errno.ARES_EBADNAME


class ResolverClosedError(DNSError):
    """The resolver was closed before or during the lookup."""

    default_status = default_errno = ares_errno.ARES_EDESTRUCTION


class AddressPolicyError(DNSError):
    """Every address of the name was refused by the resolver's address policy."""

    default_status = default_errno = ares_errno.ARES_ENOTFOUND


_BY_STATUS: dict[int, tuple[type[DNSError], str]] = {
    ares_errno.ARES_ENOTFOUND: (NameNotFoundError, "name does not exist (NXDOMAIN)"),
    ares_errno.ARES_ENODATA: (NoAddressError, "no record of that type (NODATA)"),
    ares_errno.ARES_ESERVFAIL: (ServerFailureError, "server failure (SERVFAIL)"),
    ares_errno.ARES_EREFUSED: (RefusedError, "query refused by the server (REFUSED)"),
    ares_errno.ARES_ETIMEOUT: (DNSTimeoutError, "no answer from the DNS server (timeout)"),
    ares_errno.ARES_ECONNREFUSED: (
        ServerFailureError, "DNS server unreachable (connection refused)"),
    ares_errno.ARES_EFORMERR: (ServerFailureError, "server rejected the query (FORMERR)"),
    ares_errno.ARES_ENOTIMP: (ServerFailureError, "server does not implement the query (NOTIMP)"),
    ares_errno.ARES_EBADRESP: (ServerFailureError, "malformed answer from the DNS server"),
    ares_errno.ARES_EBADNAME: (InvalidHostError, "invalid host name"),
    ares_errno.ARES_EBADQUERY: (InvalidHostError, "invalid query"),
    ares_errno.ARES_EDESTRUCTION: (ResolverClosedError, "resolver closed"),
    ares_errno.ARES_ECANCELLED: (ResolverClosedError, "lookup cancelled"),
}


def pick_error(host: str, errors: list[DNSError]) -> DNSError:
    """The one error to report when every family failed.

    NXDOMAIN is final; a policy refusal is what a caller guarding against SSRF
    looks for; server trouble beats NODATA, since the other family may exist.
    """
    for kind in (NameNotFoundError, AddressPolicyError):
        for err in errors:
            if isinstance(err, kind):
                return err
    for err in errors:
        if err.transient or isinstance(err, ResolverClosedError):
            return err
    if len(errors) == 1:
        return errors[0]
    return NoAddressError.for_host(host, "the name has no address record (NODATA)")


def error_for_status(host: str, status: int) -> DNSError:
    """Map a c-ares status code to the typed error naming ``host``."""
    cls, reason = _BY_STATUS.get(status, (ServerFailureError, ""))
    if not reason:
        text = ares_errno.strerror(status)
        if isinstance(text, bytes):
            text = text.decode("ascii", "replace")
        reason = f"{text} (c-ares status {status})"
    return cls.for_host(host, reason, status)


def _rebuild(cls: type[DNSError], status: int, message: str, host: str,
             reason: str) -> DNSError:
    return cls(status, message, host=host, reason=reason)
