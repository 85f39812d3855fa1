"""Destination address order: RFC 6724 section 6, then RFC 8305 interleaving.

Hand-written because no library does it for addresses we resolved ourselves:
glibc and c-ares sort only inside their own ``getaddrinfo``, and
aiohappyeyeballs interleaves addrinfo tuples but never sorts. The source
address of each destination comes from a UDP ``connect()`` (no packet is sent,
nothing waits) on a reused socket; destinations that only the default route
covers share one such probe per family (``_route_table``, read in the loop's
executor). The destination's
whole sort key is cached with its source for a minute, so sorting a known
destination is a dict lookup; still, run the sort when an answer is stored in
a cache, not on every lookup.

Rules 3, 4 and 7 need facts a socket does not tell us (deprecated, home,
native) and are skipped, as Go does. Rule 9 applies to IPv6 only, also as Go
does: on IPv4 it pins every client to the round-robin address nearest its own.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Container, Mapping, Sequence
from itertools import zip_longest
from typing import Any

from ._route_table import RouteTable
from ._types import Address

__all__ = ["clear_route_cache", "demote", "interleave", "order", "sort_destinations"]

_V4_MAPPED = 0xFFFF << 32
_LINK_LOCAL, _SITE_LOCAL, _GLOBAL = 0x2, 0x5, 0xE

# RFC 6724 section 2.1 as (prefix length, prefix, precedence, label), longest
# prefix first so the first match is the longest.
_POLICY_TABLE = sorted(
    (
        (net.prefixlen, int(net.network_address), precedence, label)
        for net, precedence, label in (
            (ipaddress.IPv6Network("::1/128"), 50, 0),
            (ipaddress.IPv6Network("::/0"), 40, 1),
            (ipaddress.IPv6Network("::ffff:0:0/96"), 35, 4),
            (ipaddress.IPv6Network("2002::/16"), 30, 2),
            (ipaddress.IPv6Network("2001::/32"), 5, 5),
            (ipaddress.IPv6Network("fc00::/7"), 3, 13),
            (ipaddress.IPv6Network("::/96"), 1, 3),
            (ipaddress.IPv6Network("fec0::/10"), 1, 11),
            (ipaddress.IPv6Network("3ffe::/16"), 1, 12),
        )
    ),
    reverse=True,
)

_ROUTE_TTL = 60.0
_ROUTE_CACHE_SIZE = 4096
# destination IP -> (expiry on the monotonic clock, source IP or None if no route,
# the destination's sort key given that source)
_routes: OrderedDict[str, tuple[float, str | None, int]] = OrderedDict()
_routes_lock = threading.Lock()  # resolvers on several threads' loops share it


def sort_destinations(addrs: Sequence[Address]) -> list[Address]:
    """Sort by RFC 6724 rules 1, 2, 5, 6, 8, 9 and 10 (stable)."""
    if len(addrs) < 2:
        return list(addrs)
    now = time.monotonic()
    routes = _routes

    def key(addr: Address) -> int:
        entry = routes.get(addr.host)
        if entry is None or entry[0] <= now:
            entry = _learn(addr.host, now)
        return entry[2]

    if len(addrs) == 2:  # the usual answer, one A and one AAAA: one comparison
        first, second = addrs
        return [second, first] if key(second) < key(first) else [first, second]
    return sorted(addrs, key=key)


def _sort_with_sources(
    addrs: Sequence[Address], sources: Mapping[str, str | None]
) -> list[Address]:
    """Sort ``addrs`` given each one's source address (None: no route)."""

    def key(addr: Address) -> int:
        source = sources.get(addr.host)
        return _rank(_to_int(addr.host), None if source is None else _to_int(source))

    return sorted(addrs, key=key)


def _rank(dest: int, source: int | None) -> int:
    """Sort key for one destination: smaller sorts first; ties keep input order.

    The rules' fields packed into one int, most significant first: one int,
    unlike a tuple, leaves nothing in the route cache for the garbage collector
    to walk, and compares in one step.
    """
    precedence, label = _policy(dest)
    scope = _scope(dest)
    if source is None:  # rule 1; rules 2, 5 and 9 need a source
        return _key(1, 1, 1, precedence, scope, 0)
    prefix = 0
    if not _is_v4(dest) and not _is_v4(source):
        # Rule 9 up to the usual /64 subnet, as the source's own prefix is unknown.
        prefix = min(64, 128 - (dest ^ source).bit_length())
    facts = _source_facts.get(source)
    if facts is None:
        if len(_source_facts) >= 64:  # a host has few source addresses
            _source_facts.clear()
        facts = _source_facts[source] = (_scope(source), _policy(source)[1])
    return _key(0, int(scope != facts[0]), int(label != facts[1]), precedence, scope, prefix)


def _key(unusable: int, scope_mismatch: int, label_mismatch: int, precedence: int,
         scope: int, prefix: int) -> int:
    """Rules 1, 2, 5, 6 (higher precedence first), 8 (smaller scope first) and
    9 (longer prefix first) as one int: 1 + 1 + 1 + 8 + 4 + 8 bits."""
    return ((unusable << 22) | (scope_mismatch << 21) | (label_mismatch << 20)
            | ((255 - precedence) << 12) | (scope << 8) | (255 - prefix))


# source address (as an int) -> (scope, label): the few sources every destination uses
_source_facts: dict[int, tuple[int, int]] = {}


def _to_int(ip: str) -> int:
    """The address as 128 bits, IPv4 as IPv4-mapped, scope id dropped."""
    # inet_pton, not ipaddress: this runs for every address stored in the cache.
    text = ip.partition("%")[0]
    if ":" in text:
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    return int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big") | _V4_MAPPED


def _is_v4(ip: int) -> bool:
    return ip >> 32 == 0xFFFF


_DEFAULT_POLICY = (40, 1)  # ::/0
_V4_POLICY = (35, 4)  # ::ffff:0:0/96


def _policy(ip: int) -> tuple[int, int]:
    top = ip >> 112
    if top != 0:
        # Outside ::/16 only 2001::/32, 2002::/16, 3ffe::/16, fc00::/7 and
        # fec0::/10 are not ::/0: tell the usual global address by its first bits.
        if top != 0x2001 and top != 0x2002 and top != 0x3FFE and top >> 9 != 0x7E \
                and top >> 6 != 0x3FB:
            return _DEFAULT_POLICY
    elif ip >> 32 == 0xFFFF:
        return _V4_POLICY
    for prefixlen, prefix, precedence, label in _POLICY_TABLE:
        shift = 128 - prefixlen
        if ip >> shift == prefix >> shift:
            return precedence, label
    raise AssertionError("::/0 matches every address")


def _scope(ip: int) -> int:
    """RFC 6724 section 3.1 scope; IPv4 per section 3.2 (loopback is link-local)."""
    if _is_v4(ip):
        v4 = ip & 0xFFFFFFFF
        return _LINK_LOCAL if v4 >> 24 == 127 or v4 >> 16 == 0xA9FE else _GLOBAL
    if ip >> 120 == 0xFF:  # multicast carries its scope in the address
        return (ip >> 112) & 0xF
    if ip == 1 or ip >> 118 == 0x3FA:  # ::1, fe80::/10
        return _LINK_LOCAL
    if ip >> 118 == 0x3FB:  # fec0::/10
        return _SITE_LOCAL
    return _GLOBAL


def _source_for(dest: str, now: float) -> str | None:
    """The source address the kernel would use for ``dest``, cached for 60 s."""
    entry = _routes.get(dest)
    if entry is not None and entry[0] > now:
        return entry[1]
    return _learn(dest, now)[1]


def _learn(dest: str, now: float) -> tuple[float, str | None, int]:
    """Find ``dest``'s source and cache it with ``dest``'s sort key."""
    dest_int = _to_int(dest)
    source = _find_source(dest, dest_int, now)
    entry = (now + _ROUTE_TTL, source,
             _rank(dest_int, None if source is None else _to_int(source)))
    with _routes_lock:
        _routes.pop(dest, None)  # re-insert at the end: eviction drops the oldest
        if len(_routes) >= _ROUTE_CACHE_SIZE:
            # OrderedDict: a plain dict's first key is found by walking past
            # every slot deleted before it, which grows with the evictions.
            _routes.popitem(last=False)
        _routes[dest] = entry
    return entry


def _find_source(dest: str, dest_int: int, now: float) -> str | None:
    """``dest``'s source: shared by the default route's destinations, else probed."""
    table = _route_table(now)
    v4 = _is_v4(dest_int)
    if table is None or "%" in dest or not table.default_only(
            dest_int & 0xFFFFFFFF if v4 else dest_int, v4):
        return _probe_source(dest)
    source = _default_sources.get(v4, _UNKNOWN)
    if source is _UNKNOWN:
        source = _default_sources[v4] = _probe_source(dest)
    return source  # type: ignore[return-value]


def _route_table(now: float) -> RouteTable | None:
    """The routing table if read within ``_ROUTE_TTL``, else None (probe each one).

    Re-read as often as a probed source expires, so a route change shows by
    then. On an event loop the files are read in its executor (a file read is a
    blocking call) and the table in hand serves meanwhile; elsewhere, inline.
    """
    global _table_reading
    # A read whose loop closed before it finished never reports: try again later.
    if now < _table_until or now < _table_reading:
        return _table
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        _install_table(RouteTable.read(), now)
        return _table
    _table_reading = now + _READ_PATIENCE
    try:
        read = loop.run_in_executor(None, RouteTable.read)
    except RuntimeError:  # the executor is shutting down with the loop
        _table_reading = 0.0
        return _table
    read.add_done_callback(lambda fut: _table_read(fut, now))
    return _table


def _table_read(fut: asyncio.Future[RouteTable], asked: float) -> None:
    global _table_reading
    _table_reading = 0.0
    if not fut.cancelled() and fut.exception() is None:
        _install_table(fut.result(), asked)


def _install_table(table: RouteTable, now: float) -> None:
    global _table, _table_until
    with _routes_lock:
        _table, _table_until = table, now + _ROUTE_TTL
        _default_sources.clear()  # the default route may have changed


def _probe_source(dest: str) -> str | None:
    family = socket.AF_INET6 if ":" in dest else socket.AF_INET
    if _disconnect is None:
        return _probe_fresh(dest, family)
    global _probe_pid
    with _probe_lock:
        if _probe_pid != os.getpid():
            _probe_socks.clear()  # inherited through fork(): the parent's to use
            _probe_pid = os.getpid()
        sock = _probe_socks.get(family)
        if sock is None:
            try:
                sock = socket.socket(family, socket.SOCK_DGRAM)
            except OSError:  # no IPv6 at all
                return None
            sock.setblocking(False)
            _probe_socks[family] = sock
        try:
            sock.connect((dest, 9))
            source: str | None = sock.getsockname()[0]
        except OSError:  # ENETUNREACH, EADDRNOTAVAIL...
            source = None
        # A connected UDP socket keeps its source when connected again:
        # dissolve the association so the next probe picks afresh.
        if _disconnect(sock.fileno(), _UNSPEC_ADDR, len(_UNSPEC_ADDR)) != 0:
            del _probe_socks[family]
            sock.close()
    return source


def _probe_fresh(dest: str, family: int) -> str | None:
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            # Non-blocking: a UDP connect() only picks a route and a source (no
            # packet, no wait), and this runs on the event loop.
            sock.setblocking(False)
            sock.connect((dest, 9))
            source: str = sock.getsockname()[0]
    except OSError:  # ENETUNREACH, EADDRNOTAVAIL, no IPv6 at all...
        return None
    return source


def _libc_connect() -> Callable[[int, Any, int], int] | None:
    """libc's connect(), to dissolve a UDP association (Linux), or None.

    Python's ``socket.connect`` cannot pass an AF_UNSPEC address, the one way
    to disconnect a UDP socket; a fresh socket per probe cost 3-4x as much.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        func: Callable[[int, Any, int], int] = ctypes.CDLL(None, use_errno=True).connect
    except (ImportError, OSError, AttributeError):
        return None
    return func


# One probe socket per family, reused (see _libc_connect); _probe_pid notices a
# fork: the child must not connect the parent's sockets.
_disconnect = _libc_connect()
_UNSPEC_ADDR = bytes(16)  # a sockaddr whose family is AF_UNSPEC (0)
_probe_socks: dict[int, socket.socket] = {}
_probe_pid = 0
_probe_lock = threading.Lock()


# The routing table (see _route_table), read at most once per _ROUTE_TTL, and
# the source of each family's default route (IPv4: True), probed once per read.
_table: RouteTable | None = None
_table_until = 0.0
_table_reading = 0.0  # a read in the executor is awaited until then
_READ_PATIENCE = 5.0
_default_sources: dict[bool, str | None] = {}
_UNKNOWN = object()


def clear_route_cache() -> None:
    """Forget every probed source address (call when the network changed)."""
    global _table, _table_until
    with _routes_lock:
        _routes.clear()
        _table, _table_until = None, 0.0
        _default_sources.clear()
    with _probe_lock:
        socks = list(_probe_socks.values()) if _probe_pid == os.getpid() else []
        _probe_socks.clear()
    for sock in socks:
        sock.close()


def interleave(addrs: Sequence[Address], first_family_count: int = 1) -> list[Address]:
    """RFC 8305 section 4: ``first_family_count`` of the first family, then alternate."""
    by_family: dict[socket.AddressFamily, list[Address]] = {}
    for addr in addrs:
        by_family.setdefault(addr.family, []).append(addr)
    if not by_family:
        return []
    groups = list(by_family.values())
    head = groups[0][: max(first_family_count, 1) - 1]
    groups[0] = groups[0][len(head) :]
    return head + [a for row in zip_longest(*groups) for a in row if a is not None]


def order(addrs: Sequence[Address], first_family_count: int = 1) -> list[Address]:
    """Sort by RFC 6724, then interleave families by RFC 8305."""
    if len(addrs) <= 2:  # interleaving two addresses leaves them as they are
        return sort_destinations(addrs)
    return interleave(sort_destinations(addrs), first_family_count)


def demote(addrs: Sequence[Address], failed: Container[str]) -> list[Address]:
    """Move addresses whose host is in ``failed`` to the end, keeping order otherwise."""
    kept = [a for a in addrs if a.host not in failed]
    return kept + [a for a in addrs if a.host in failed]
