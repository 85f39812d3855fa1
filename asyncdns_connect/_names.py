"""Host name checks: normalisation, IP literals, special-use names.

Hand-written because no library does it: ``idna`` encodes labels but neither
refuses the whole class of strings that must never reach a DNS query (spaces,
control characters, '/', '@', over-long names) with a reason a user can read,
nor knows the RFC 6761/7686 special-use names. ``ipaddress`` does the IP parsing.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Literal

import idna

from ._errors import InvalidHostError

__all__ = ["SpecialUse", "normalize_host", "parse_ip_literal", "special_use"]

SpecialUse = Literal["localhost", "invalid", "onion"]

# The common case in one regex; only a miss pays for the slower diagnosis.
_VALID = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*")
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
_SPECIAL: dict[str, SpecialUse] = {"localhost": "localhost", "invalid": "invalid", "onion": "onion"}


def normalize_host(host: str) -> str:
    """Return ``host`` as the lower-case ASCII name to query, without its trailing dot.

    Raises :class:`InvalidHostError` for anything that is not a host name. IP
    literals are not host names: check :func:`parse_ip_literal` first. A name of
    digits such as ``127.1`` is a valid name (``ipaddress`` refuses it as an IP),
    so it goes to DNS like any other.
    """
    name = host.lower() if host.isascii() else _idna_encode(host)
    if name.endswith("."):
        name = name[:-1]
    if len(name) <= 253 and _VALID.fullmatch(name):
        return name
    raise InvalidHostError.for_host(host, _why_invalid(host, name))


def _idna_encode(host: str) -> str:
    # Before idna: UTS 46 maps some spaces to ' ', and its message then misleads.
    reason = _bad_char(host)
    if reason:
        raise InvalidHostError.for_host(host, reason)
    try:
        # As yarl does, so the name we look up is the one in the URL.
        return idna.encode(host, uts46=True).decode("ascii")
    except UnicodeError as exc:  # idna.IDNAError, or punycode failing
        raise InvalidHostError.for_host(
            host, f"not a valid internationalised name ({exc})"
        ) from None


def _why_invalid(host: str, name: str) -> str:
    """Say what is wrong with ``name`` (``host`` lower-cased and encoded)."""
    if not host:
        return "empty host name"
    if not name:
        return "name is only a dot"
    reason = _bad_char(name)
    if reason:
        return reason
    labels = name.split(".")
    if "" in labels:
        return "empty label"
    for label in labels:
        bad = next((c for c in label if c not in _LABEL_CHARS), None)
        if bad is not None:
            hint = " (IPv6 literal?)" if bad in ":[]" else ""
            return f"character {bad!r} not allowed in a host name{hint}"
        if len(label) > 63:
            return "label longer than 63 bytes"
    return "name longer than 253 bytes"


def _bad_char(text: str) -> str:
    """Name the whitespace or control character in ``text``, or return ''."""
    for c in text:
        if c.isspace():
            return "contains whitespace"
        if c < "!" or c == "\x7f":
            return "contains a control character"
    return ""


def parse_ip_literal(host: str) -> tuple[str, socket.AddressFamily] | None:
    """Return the canonical text and family if ``host`` is an IP address, else None.

    Accepts ``[::1]`` brackets and keeps an IPv6 scope id (``fe80::1%eth0``).
    """
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if ":" not in host:  # brackets are for IPv6 only
            return None
    elif ":" not in host and not host[-1:].isdigit():
        return None  # a name: skip ipaddress's two failing parses
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if ip.version == 4:
        return str(ip), socket.AF_INET
    return str(ip), socket.AF_INET6


def special_use(name: str) -> SpecialUse | None:
    """Which special-use domain a normalised name is in, if any.

    ``localhost`` (RFC 6761) is answered locally with loopback; ``invalid``
    (RFC 6761) always fails; ``onion`` (RFC 7686) must never go to DNS.
    """
    return _SPECIAL.get(name.rpartition(".")[2])
