"""Spelling of names and record types, shared by the zone, fault table and query log.

Names are compared as DNS compares them: case-insensitively, with or without the
trailing dot. Internally a name is kept as its lower-case text without the final
dot (``""`` is the root); record types are dnslib's mnemonics (``"A"``,
``"TYPE65280"`` for unnamed types).
"""

from __future__ import annotations

from typing import Any

from dnslib import QTYPE, DNSLabel


def name_key(name: Any) -> str:
    """The comparison key of a name (``str`` or ``dnslib.DNSLabel``)."""
    text = str(name if isinstance(name, DNSLabel) else DNSLabel(name)).lower()
    return text[:-1] if text.endswith(".") else text


def type_code(rtype: str | int) -> int:
    """``"aaaa"`` -> 28. Raises ``ValueError`` for a type dnslib does not know."""
    if isinstance(rtype, int):
        return rtype
    try:
        return int(getattr(QTYPE, rtype.upper()))
    except Exception as exc:
        raise ValueError(f"unknown record type {rtype!r}") from exc


def type_name(code: int) -> str:
    """28 -> ``"AAAA"``; an unnamed type becomes ``"TYPE<n>"``."""
    return str(QTYPE[code])


def suffixes(key: str) -> list[str]:
    """``"a.b.c"`` -> ``["a.b.c", "b.c", "c", ""]``: the name and every ancestor."""
    out = [key]
    while key:
        _, _, key = key.partition(".")
        out.append(key)
    return out
