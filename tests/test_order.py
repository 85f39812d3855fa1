"""RFC 6724 destination sorting, RFC 8305 interleaving, demotion."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator, Mapping

import pytest

from asyncdns_connect import _order
from asyncdns_connect._order import (
    _sort_with_sources,
    clear_route_cache,
    demote,
    interleave,
    order,
    sort_destinations,
)
from asyncdns_connect._route_table import RouteTable
from asyncdns_connect._types import Address

V4, V6 = socket.AF_INET, socket.AF_INET6


def a(host: str) -> Address:
    return Address(host, V6 if ":" in host else V4, 0)


def hosts(addrs: list[Address]) -> list[str]:
    return [x.host for x in addrs]


def sort(dests: list[str], sources: Mapping[str, str | None]) -> list[str]:
    return hosts(_sort_with_sources([a(d) for d in dests], sources))


@pytest.fixture(autouse=True)
def fresh_routes() -> Iterator[None]:
    clear_route_cache()
    yield
    clear_route_cache()


# Pure rules: sources injected, no sockets.


def test_rule1_avoid_unusable() -> None:
    sources: dict[str, str | None] = {"2001:db8::1": None, "192.0.2.1": "198.51.100.5"}
    assert sort(["2001:db8::1", "192.0.2.1"], sources) == ["192.0.2.1", "2001:db8::1"]
    # a destination missing from the mapping has no route either
    assert sort(["2001:db8::2", "192.0.2.1"], sources) == ["192.0.2.1", "2001:db8::2"]


def test_rule2_prefer_matching_scope() -> None:
    # RFC 6724 section 10.2 example: link-local source for the global destination.
    sources = {"2001:db8:1::1": "fe80::1", "fe80::2": "fe80::1"}
    assert sort(["2001:db8:1::1", "fe80::2"], sources) == ["fe80::2", "2001:db8:1::1"]
    # IPv4 loopback is link-local scope: a global source does not match it
    sources = {"127.0.0.1": "192.0.2.9", "198.51.100.1": "192.0.2.9"}
    assert sort(["127.0.0.1", "198.51.100.1"], sources) == ["198.51.100.1", "127.0.0.1"]


def test_rule5_prefer_matching_label() -> None:
    # Section 10.2: 2002:c633:6401::1 via a 6to4 source beats 2001:db8:1::1.
    sources = {"2001:db8:1::1": "2002:c633:6401::2", "2002:c633:6401::1": "2002:c633:6401::2"}
    assert sort(["2001:db8:1::1", "2002:c633:6401::1"], sources) == [
        "2002:c633:6401::1",
        "2001:db8:1::1",
    ]


def test_rule6_prefer_higher_precedence() -> None:
    # Section 10.2: native IPv6 (40) before IPv4 (35), both with matching sources.
    sources = {"2001:db8:1::1": "2001:db8:1::2", "198.51.100.121": "192.0.2.66"}
    assert sort(["198.51.100.121", "2001:db8:1::1"], sources) == [
        "2001:db8:1::1",
        "198.51.100.121",
    ]
    # ::1 (50) before 127.0.0.1 (35)
    sources = {"127.0.0.1": "127.0.0.1", "::1": "::1"}
    assert sort(["127.0.0.1", "::1"], sources) == ["::1", "127.0.0.1"]
    # unique local (3) after IPv4 (35) when both match label and scope
    sources = {"fd00::1": "fd00::2", "192.0.2.1": "192.0.2.2"}
    assert sort(["fd00::1", "192.0.2.1"], sources) == ["192.0.2.1", "fd00::1"]


def test_rule6_applies_to_unusable_too() -> None:
    sources: dict[str, str | None] = {}
    assert sort(["192.0.2.1", "2001:db8::1"], sources) == ["2001:db8::1", "192.0.2.1"]


def test_rule8_prefer_smaller_scope() -> None:
    # Rules 2, 5 and 6 tie (both scopes mismatch, labels 1, precedence 40).
    sources = {"2001:db8::1": "fe80::9", "fe80::1": "2001:db8::9"}
    assert sort(["2001:db8::1", "fe80::1"], sources) == ["fe80::1", "2001:db8::1"]
    # The same for IPv4: link-local before global.
    sources = {"192.0.2.1": "169.254.0.9", "169.254.0.1": "192.0.2.9"}
    assert sort(["192.0.2.1", "169.254.0.1"], sources) == ["169.254.0.1", "192.0.2.1"]


def test_rule9_longest_matching_prefix_ipv6() -> None:
    sources = {"2001:db8:2::1": "2001:db8:1::9", "2001:db8:1::1": "2001:db8:1::9"}
    assert sort(["2001:db8:2::1", "2001:db8:1::1"], sources) == [
        "2001:db8:1::1",
        "2001:db8:2::1",
    ]


def test_rule9_stops_at_64_bits() -> None:
    # Same /64 as the source: the interface identifier does not count.
    sources = {"2001:db8:1::ffff": "2001:db8:1::1", "2001:db8:1::2": "2001:db8:1::1"}
    assert sort(["2001:db8:1::ffff", "2001:db8:1::2"], sources) == [
        "2001:db8:1::ffff",
        "2001:db8:1::2",
    ]


def test_rule9_not_for_ipv4() -> None:
    # Round-robin order survives although the second shares more bits with the source.
    sources = {"198.51.100.1": "192.0.2.9", "192.0.2.1": "192.0.2.9"}
    assert sort(["198.51.100.1", "192.0.2.1"], sources) == ["198.51.100.1", "192.0.2.1"]


def test_rule10_keeps_order() -> None:
    dests = ["2001:db8::3", "2001:db8::1", "2001:db8::2"]
    sources = dict.fromkeys(dests, "2001:db8::9")
    assert sort(dests, sources) == dests


def test_scope_id_is_ignored_for_comparison() -> None:
    sources = {"fe80::1%eth0": "fe80::9%eth0", "2001:db8::1": "fe80::9%eth0"}
    assert sort(["2001:db8::1", "fe80::1%eth0"], sources) == ["fe80::1%eth0", "2001:db8::1"]


def test_ipv4_mapped_destination_ranks_as_ipv4() -> None:
    sources = {"::ffff:192.0.2.1": "::ffff:192.0.2.9", "2001:db8::1": "2001:db8::9"}
    assert sort(["::ffff:192.0.2.1", "2001:db8::1"], sources) == [
        "2001:db8::1",
        "::ffff:192.0.2.1",
    ]


@pytest.mark.parametrize("address", [
    "::1", "::", "::2", "::ffff:192.0.2.1", "::192.0.2.1", "2002::1", "2002:ffff::1",
    "2001::1", "2001:0:ffff::1", "2001:1::1", "2001:db8::1", "2003::1", "3ffe::1", "3fff::1",
    "fc00::1", "fd12::1", "fe00::1", "fe80::1", "fec0::1", "feff::1", "ff02::1", "2600::1",
    "1::1", "::1:0:0:1"])
def test_policy_shortcut_agrees_with_the_rfc_6724_table(address: str) -> None:
    """The precedence and label of each address are the longest matching prefix's."""
    ip = _order._to_int(address)
    expected = next((precedence, label) for prefixlen, prefix, precedence, label
                    in _order._POLICY_TABLE
                    if ip >> (128 - prefixlen) == prefix >> (128 - prefixlen))
    assert _order._policy(ip) == expected


# With real sockets: inside netjail only loopback is routable.


def _routable(dest: str) -> bool:
    return _order._probe_source(dest) is not None


needs_loopback_only = pytest.mark.skipif(
    _routable("192.0.2.1") or _routable("2001:db8::1") or not _routable("::1"),
    reason="needs a host where only loopback (with ::1) is routable: run under netjail",
)


@needs_loopback_only
def test_sort_destinations_rule1_with_sockets() -> None:
    addrs = [a("192.0.2.1"), a("2001:db8::1"), a("127.0.0.1"), a("::1")]
    assert hosts(sort_destinations(addrs)) == ["::1", "127.0.0.1", "2001:db8::1", "192.0.2.1"]


@needs_loopback_only
def test_route_probe_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = _order._probe_source

    def counting(dest: str) -> str | None:
        calls.append(dest)
        return real(dest)

    monkeypatch.setattr(_order, "_probe_source", counting)
    addrs = [a("127.0.0.1"), a("::1")]
    sort_destinations(addrs)
    sort_destinations(addrs)
    assert sorted(calls) == ["127.0.0.1", "::1"]
    clear_route_cache()
    sort_destinations(addrs)
    assert len(calls) == 4


def test_route_cache_expires_and_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def fake(dest: str) -> str | None:
        calls.append(dest)
        return "192.0.2.99"

    monkeypatch.setattr(_order, "_probe_source", fake)
    monkeypatch.setattr(_order, "_ROUTE_CACHE_SIZE", 2)
    # A table that covers nothing: every destination is probed on its own.
    monkeypatch.setattr(_order, "_table", RouteTable(None, None))
    monkeypatch.setattr(_order, "_table_until", float("inf"))
    for dest in ("192.0.2.1", "192.0.2.2"):
        assert _order._source_for(dest, 1000.0) == "192.0.2.99"
    for dest in ("192.0.2.1", "192.0.2.2"):
        _order._source_for(dest, 1059.0)
    assert calls == ["192.0.2.1", "192.0.2.2"]
    _order._source_for("192.0.2.1", 1061.0)  # expired: probed again, now the newest
    assert calls[-1] == "192.0.2.1"
    _order._source_for("192.0.2.3", 1061.0)  # full: the oldest (192.0.2.2) goes
    assert list(_order._routes) == ["192.0.2.1", "192.0.2.3"]


@pytest.fixture
def second_source() -> Iterator[str]:
    """A second local address, 198.18.0.1, the source for 198.19.0.0/16 (jail only)."""
    ip = shutil.which("ip")
    if os.environ.get("NETJAIL_INSIDE") != "1" or ip is None or os.geteuid() != 0:
        pytest.skip("needs root inside netjail's own network namespace and iproute2")
    steps = (["addr", "add", "198.18.0.1/32", "dev", "lo"],
             ["route", "add", "198.19.0.0/16", "dev", "lo", "src", "198.18.0.1"])
    for step in steps:
        subprocess.run([ip, *step], check=True)
    try:
        yield "198.18.0.1"
    finally:
        subprocess.run([ip, "route", "del", "198.19.0.0/16"], check=False)
        subprocess.run([ip, "addr", "del", "198.18.0.1/32", "dev", "lo"], check=False)


def test_reused_probe_socket_finds_each_destinations_source(second_source: str) -> None:
    # A UDP socket connected again keeps its first source unless disconnected.
    assert _order._probe_source("127.0.0.1") == "127.0.0.1"
    assert _order._probe_source("198.19.0.7") == second_source
    assert _order._probe_source("192.0.2.1") is None  # no route
    assert _order._probe_source("127.0.0.1") == "127.0.0.1"
    assert _order._probe_source("198.19.0.8") == second_source


def test_default_route_destinations_share_one_probe(second_source: str) -> None:
    # Inside the jail: no default route; 198.19.0.0/16 goes out with second_source.
    clear_route_cache()  # the table is read again, with the fixture's route
    probed: list[str] = []
    real = _order._probe_source

    def counting(dest: str) -> str | None:
        probed.append(dest)
        return real(dest)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_order, "_probe_source", counting)
        for i in range(1, 30):
            assert _order._source_for(f"203.0.113.{i}", 0.0) is None
            assert _order._source_for(f"2001:db8::{i:x}", 0.0) is None
        assert _order._source_for("198.19.0.7", 0.0) == second_source
        assert _order._source_for("198.19.0.8", 0.0) == second_source
        assert _order._source_for("127.0.0.2", 0.0) == "127.0.0.1"
    # One probe per family for the default route; each specific one on its own.
    assert probed == ["203.0.113.1", "2001:db8::1", "198.19.0.7", "198.19.0.8", "127.0.0.2"]
    # The order is what per-destination probes give: loopback, the routed one, then
    # the unreachable.
    got = sort_destinations([a("203.0.113.9"), a("198.19.0.9"), a("::1"), a("2001:db8::9")])
    assert hosts(got) == ["::1", "198.19.0.9", "2001:db8::9", "203.0.113.9"]


def test_probe_sockets_closed_with_the_route_cache() -> None:
    _order._probe_source("127.0.0.1")
    fds = len(os.listdir("/proc/self/fd"))
    for i in range(50):
        _order._probe_source(f"127.0.0.{i + 1}")
    assert len(os.listdir("/proc/self/fd")) == fds  # one socket per family, reused
    clear_route_cache()
    assert len(os.listdir("/proc/self/fd")) <= fds - int(_order._disconnect is not None)


def test_probe_source_unusable_is_none() -> None:
    assert _order._probe_source("fe80::1%nonexistent0") is None


def test_single_address_needs_no_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(dest: str) -> str | None:
        raise AssertionError("probed")

    monkeypatch.setattr(_order, "_probe_source", boom)
    assert sort_destinations([a("192.0.2.1")]) == [a("192.0.2.1")]
    assert sort_destinations([]) == []


# RFC 8305 interleaving.


SIX = [a(f"2001:db8::{i}") for i in range(1, 4)]
FOUR = [a(f"192.0.2.{i}") for i in range(1, 3)]


@pytest.mark.parametrize(
    ("addrs", "count", "expected"),
    [
        ([], 1, []),
        (SIX, 1, SIX),
        (SIX + FOUR, 1, [SIX[0], FOUR[0], SIX[1], FOUR[1], SIX[2]]),
        (SIX + FOUR, 2, [SIX[0], SIX[1], FOUR[0], SIX[2], FOUR[1]]),
        (SIX + FOUR, 0, [SIX[0], FOUR[0], SIX[1], FOUR[1], SIX[2]]),
        (SIX + FOUR, 9, SIX + FOUR),
        (FOUR + SIX, 1, [FOUR[0], SIX[0], FOUR[1], SIX[1], SIX[2]]),
        ([FOUR[0], SIX[0], SIX[1], FOUR[1]], 1, [FOUR[0], SIX[0], FOUR[1], SIX[1]]),
    ],
)
def test_interleave(addrs: list[Address], count: int, expected: list[Address]) -> None:
    assert interleave(addrs, count) == expected


@needs_loopback_only
def test_order_sorts_then_interleaves() -> None:
    addrs = [a("127.0.0.1"), a("127.0.0.2"), a("::1"), a("2001:db8::1")]
    assert hosts(order(addrs)) == ["::1", "127.0.0.1", "2001:db8::1", "127.0.0.2"]


def test_demote() -> None:
    addrs = [a("2001:db8::1"), a("192.0.2.1"), a("2001:db8::2"), a("192.0.2.2")]
    failed = {"2001:db8::1", "192.0.2.1"}
    assert hosts(demote(addrs, failed)) == ["2001:db8::2", "192.0.2.2", "2001:db8::1", "192.0.2.1"]
    assert demote(addrs, ()) == addrs
