"""The SSRF address policy: deny and allow lists, embedded IPv4, filter()."""

from __future__ import annotations

import socket

import pytest

from asyncdns_connect._policy import NON_PUBLIC_NETWORKS, PUBLIC_ONLY, AddressPolicy
from asyncdns_connect._types import Address

DENIED = [
    "127.0.0.1",
    "127.255.255.254",
    "::1",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "fc00::1",
    "fd12:3456::1",
    "169.254.169.254",
    "fe80::1",
    "fe80::1%eth0",
    "100.64.0.1",
    "100.127.255.255",
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",
    "0.0.0.0",
    "0.1.2.3",
    "::",
    "255.255.255.255",
    "240.0.0.1",
    "198.18.0.1",
    "198.19.255.255",
    "fec0::1",
    # IPv4 hidden in IPv6
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",  # IPv4-compatible
    "::a00:1",  # IPv4-compatible 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:c0a8:101::",  # 6to4 of 192.168.1.1
    # not an IP at all
    "localhost",
    "",
    "999.1.1.1",
]

ALLOWED = [
    "192.0.2.1",  # documentation ranges count as public, on purpose
    "198.51.100.7",
    "203.0.113.9",
    "2001:db8::1",
    "2001:db8::1%eth0",
    "172.32.0.1",  # just outside 172.16/12
    "100.128.0.1",  # just outside 100.64/10
    "198.20.0.1",  # just outside 198.18/15
    "11.0.0.1",
    "::ffff:192.0.2.1",
    "64:ff9b::c000:201",  # NAT64 of 192.0.2.1
    "2002:c000:201::1",  # 6to4 of 192.0.2.1
]


@pytest.mark.parametrize("ip", DENIED)
def test_public_only_denies(ip: str) -> None:
    assert not PUBLIC_ONLY.allows(ip)
    assert not PUBLIC_ONLY.allows(ip)  # the cached answer is the same


@pytest.mark.parametrize("ip", ALLOWED)
def test_public_only_allows(ip: str) -> None:
    assert PUBLIC_ONLY.allows(ip)


@pytest.mark.parametrize(
    ("allow", "ip", "expected"),
    [
        (["10.0.0.0/8"], "10.1.2.3", True),
        (["10.0.0.0/8"], "::ffff:10.1.2.3", True),  # allow sees the embedded IPv4 too
        (["10.0.0.0/8"], "64:ff9b::a01:203", True),
        (["10.0.0.0/8"], "192.168.0.1", False),
        (["127.0.0.1"], "127.0.0.1", True),
        (["127.0.0.1"], "127.0.0.2", False),
        (["::1"], "::1", True),
        (["fe80::/10"], "fe80::1%eth0", True),
        (["fd00::/8"], "fc00::1", False),
        (["10.1.2.3/8"], "10.9.9.9", True),  # host bits ignored
    ],
)
def test_allow_list_wins(allow: list[str], ip: str, expected: bool) -> None:
    assert AddressPolicy.public_only(allow=allow).allows(ip) is expected


def test_custom_deny_list() -> None:
    policy = AddressPolicy(deny=["192.0.2.0/24", "2001:db8::/32"])
    assert not policy.allows("192.0.2.1")
    assert not policy.allows("::ffff:192.0.2.1")
    assert not policy.allows("2001:db8::5")
    assert policy.allows("127.0.0.1")
    assert policy.allows("198.51.100.1")


def test_empty_policy_allows_every_ip() -> None:
    policy = AddressPolicy(deny=())
    assert policy.allows("127.0.0.1")
    assert not policy.allows("not-an-ip")


def test_default_deny_is_public_only() -> None:
    assert AddressPolicy() == PUBLIC_ONLY == AddressPolicy.public_only()
    assert hash(AddressPolicy()) == hash(PUBLIC_ONLY)
    assert [str(n) for n in PUBLIC_ONLY.deny] == list(NON_PUBLIC_NETWORKS)
    assert PUBLIC_ONLY.allow == ()
    assert AddressPolicy.public_only(allow=["10.0.0.0/8"]) != PUBLIC_ONLY


def test_bad_network_is_refused() -> None:
    with pytest.raises(ValueError):
        AddressPolicy(deny=["10.0.0.0/33"])
    with pytest.raises(ValueError):
        AddressPolicy(allow=["nonsense"])


def test_immutable() -> None:
    with pytest.raises(AttributeError):
        PUBLIC_ONLY._deny = ()
    with pytest.raises(AttributeError):
        del PUBLIC_ONLY._allow


def test_repr() -> None:
    assert repr(AddressPolicy(deny=["10.0.0.0/8"], allow=["10.1.0.0/16"])) == (
        "AddressPolicy(deny=['10.0.0.0/8'], allow=['10.1.0.0/16'])"
    )


def test_filter_keeps_order() -> None:
    addrs = [
        Address("127.0.0.1", socket.AF_INET, 0),
        Address("2001:db8::1", socket.AF_INET6, 30),
        Address("::ffff:10.0.0.1", socket.AF_INET6, 30),
        Address("192.0.2.1", socket.AF_INET, 30),
        Address("fe80::1%eth0", socket.AF_INET6, 30),
    ]
    assert PUBLIC_ONLY.filter(addrs) == [addrs[1], addrs[3]]
    assert PUBLIC_ONLY.filter([]) == []


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from asyncdns_connect import _policy

    monkeypatch.setattr(_policy, "_CACHE_SIZE", 3)
    policy = AddressPolicy()
    for i in range(10):
        assert policy.allows(f"192.0.2.{i}")
        assert len(policy._cache) <= 3
