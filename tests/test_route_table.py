"""Reading the kernel's routing table: which destinations only the default route covers."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from asyncdns_connect._route_table import RouteTable

FIB_TRIE = """\
Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        |-- 127.0.0.0
           /8 host LOCAL
     +-- 192.0.2.0/24 2 0 2
        |-- 192.0.2.0
           /24 link UNICAST
        |-- 192.0.2.2
           /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 127.0.0.0
        /8 host LOCAL
"""

# dest, plen, src, src plen, next hop, metric, refcnt, use, flags, device
IPV6_ROUTE = """\
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 \
00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 \
fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 \
00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
00000000000000000000000000000000 00 00000000000000000000000000000000 00 \
00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
"""


def v4(ip: str) -> int:
    return int(ipaddress.IPv4Address(ip))


def v6(ip: str) -> int:
    return int(ipaddress.IPv6Address(ip))


def proc(tmp_path: Path, fib_trie: str = FIB_TRIE, ipv6_route: str = IPV6_ROUTE) -> str:
    (tmp_path / "fib_trie").write_text(fib_trie)
    (tmp_path / "ipv6_route").write_text(ipv6_route)
    return str(tmp_path)


def test_specific_routes_and_local_addresses_are_not_default(tmp_path: Path) -> None:
    table = RouteTable.read(proc(tmp_path))
    assert table.default_only(v4("203.0.113.7"), True)
    assert table.default_only(v4("198.51.100.7"), True)
    assert not table.default_only(v4("192.0.2.77"), True)  # the LAN's own route
    assert not table.default_only(v4("127.0.0.5"), True)  # loopback, local table
    assert table.default_only(v6("2001:db8::5"), False)
    assert not table.default_only(v6("fd00::9"), False)  # fd00::/64 on eth0
    assert not table.default_only(v6("::1"), False)


def test_another_ipv4_table_means_probe_every_destination(tmp_path: Path) -> None:
    trie = FIB_TRIE + ("Id 51820:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n"
                       "        /0 universe UNICAST\n")
    table = RouteTable.read(proc(tmp_path, fib_trie=trie))
    assert not table.default_only(v4("203.0.113.7"), True)
    assert table.default_only(v6("2001:db8::5"), False)  # IPv6 is unaffected


def test_two_usable_ipv6_defaults_mean_probe_every_destination(tmp_path: Path) -> None:
    lines = IPV6_ROUTE.splitlines(keepends=True)
    second_default = lines[1].replace("00000400", "00000064")
    table = RouteTable.read(proc(tmp_path, ipv6_route=IPV6_ROUTE + second_default))
    assert not table.default_only(v6("2001:db8::5"), False)
    assert table.default_only(v4("203.0.113.7"), True)


def test_source_specific_ipv6_route_means_probe_every_destination(tmp_path: Path) -> None:
    row = ("20010db8000000000000000000000000 20 20010db8000000000000000000000000 30 "
           "00000000000000000000000000000000 00000400 00000001 00000000 00000001 eth0\n")
    table = RouteTable.read(proc(tmp_path, ipv6_route=IPV6_ROUTE + row))
    assert not table.default_only(v6("2600::1"), False)


def test_unreadable_or_garbled_tables_mean_probe_every_destination(tmp_path: Path) -> None:
    table = RouteTable.read(str(tmp_path / "missing"))
    assert not table.default_only(v4("203.0.113.7"), True)
    assert not table.default_only(v6("2001:db8::5"), False)
    garbled = RouteTable.read(proc(tmp_path, fib_trie="Main:\n     |-- 300.1.2.3\n        /8 x\n",
                                   ipv6_route="zz 80\n"))
    assert not garbled.default_only(v4("203.0.113.7"), True)
    assert not garbled.default_only(v6("2001:db8::5"), False)


def test_this_machines_table_reads() -> None:
    # Whatever the kernel has: loopback is never only the default route's.
    table = RouteTable.read()
    assert not table.default_only(v4("127.0.0.1"), True)
