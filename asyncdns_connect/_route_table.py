"""Which destinations the default route alone covers, from the kernel's routing table.

RFC 6724 sorts by each destination's source address, which a UDP ``connect()``
probe reveals (``_order``). Every destination that no more specific route covers
leaves by the default route (or by none), so they share one source: one probe
per family serves them all, where a crawler's thousands of new hosts cost one
probe each. A destination inside any more specific route is probed on its own.

Read from ``/proc/net/fib_trie`` (IPv4: the main and local tables, so
loopback and the host's own addresses count as specific) and
``/proc/net/ipv6_route`` (IPv6, every table). Policy routing can send the
destinations of one route to different tables, which these files do not tell
apart, so when it shows (``fib_trie`` lists an IPv4 table besides Main and
Local; IPv6 has more than one usable default route, or a source-specific
route) that family is probed per destination, as it is where the files cannot
be read (not Linux). Hand-written: no library reads
these files, and netlink would be far more code for the same answer.
"""

from __future__ import annotations

import socket

__all__ = ["RouteTable"]

_RTF_REJECT = 0x0200


class RouteTable:
    """The specific (non-default) route prefixes per family, and whether to trust them."""

    __slots__ = ("_v4", "_v6")

    def __init__(self, v4: dict[int, set[int]] | None, v6: dict[int, set[int]] | None) -> None:
        # prefix length -> network prefixes (the address shifted right to that
        # length); None: probe every destination of the family.
        self._v4 = v4
        self._v6 = v6

    @classmethod
    def read(cls, proc: str = "/proc/net") -> RouteTable:
        """The table as the kernel has it now (per-destination probing where unknown)."""
        return cls(_read_v4(proc), _read_v6(proc))

    def default_only(self, dest: int, v4: bool) -> bool:
        """True if no route but the default one covers ``dest``.

        ``dest``: the address as an int (IPv4 as 32 bits).
        """
        table, bits = (self._v4, 32) if v4 else (self._v6, 128)
        if table is None:
            return False
        for plen, nets in table.items():  # noqa: SIM110 - per new address: no generator
            if dest >> (bits - plen) in nets:
                return False
        return True


def _read_v4(proc: str) -> dict[int, set[int]] | None:
    try:
        with open(f"{proc}/fib_trie", encoding="ascii") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    # Each table, then its trie: a leaf "|-- 192.0.2.0" is followed by one line
    # per prefix at that address ("/24 link UNICAST").
    out: dict[int, set[int]] = {}
    leaf = 0
    try:
        for line in lines:
            if line[:1].strip():
                if line not in ("Main:", "Local:"):
                    return None  # policy routing: another table holds routes
                continue
            item = line.strip()
            if item.startswith("|-- "):
                leaf = int.from_bytes(socket.inet_aton(item[4:]), "big")
            elif item.startswith("/"):
                plen = int(item[1:].split()[0])
                if plen:
                    out.setdefault(plen, set()).add(leaf >> (32 - plen))
    except (OSError, ValueError, IndexError):  # inet_aton raises OSError
        return None
    return out


def _read_v6(proc: str) -> dict[int, set[int]] | None:
    try:
        with open(f"{proc}/ipv6_route", encoding="ascii") as f:
            rows = [line.split() for line in f]
    except (OSError, UnicodeDecodeError):
        return None
    out: dict[int, set[int]] = {}
    defaults = 0
    try:
        for row in rows:
            dest, plen, flags = int(row[0], 16), int(row[1], 16), int(row[8], 16)
            if int(row[3], 16):
                return None  # source-specific routing: the source picks the route
            if plen:
                out.setdefault(plen, set()).add(dest >> (128 - plen))
            elif not flags & _RTF_REJECT:  # the kernel lists "unreachable" defaults too
                defaults += 1
    except (IndexError, ValueError):
        return None
    if defaults > 1:
        return None  # several default routes: perhaps several tables
    return out
