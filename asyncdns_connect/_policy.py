"""Which resolved addresses a client may connect to (SSRF protection).

Hand-written because no library does it: ``ipaddress`` has ``is_private`` and
friends, but their lists change between Python versions, count documentation
ranges as private, and ignore IPv4 hidden inside IPv6 (``::ffff:127.0.0.1``,
NAT64, 6to4), which is how a denied IPv4 address slips through.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from ._types import Address

__all__ = ["PUBLIC_ONLY", "AddressPolicy", "NON_PUBLIC_NETWORKS"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_Ip = ipaddress.IPv4Address | ipaddress.IPv6Address

# What a public-only client must not reach. Documentation ranges (192.0.2.0/24,
# 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are left out on purpose, so
# tests can use them as "public" addresses.
NON_PUBLIC_NETWORKS: tuple[str, ...] = (
    "0.0.0.0/8",  # "this network", unspecified
    "10.0.0.0/8",  # RFC 1918
    "100.64.0.0/10",  # carrier-grade NAT
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local (cloud metadata lives here)
    "172.16.0.0/12",  # RFC 1918
    "192.168.0.0/16",  # RFC 1918
    "198.18.0.0/15",  # benchmarking
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, includes broadcast 255.255.255.255
    "::/128",  # unspecified
    "::1/128",  # loopback
    "fc00::/7",  # unique local
    "fe80::/10",  # link-local
    "fec0::/10",  # site-local (deprecated, still routed by some)
    "ff00::/8",  # multicast
)

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_CACHE_SIZE = 4096


class AddressPolicy:
    """Deny-list and allow-list of networks; an allow entry wins over a deny entry.

    An IPv6 address that embeds an IPv4 one (IPv4-mapped, IPv4-compatible,
    NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) is also judged as that IPv4.
    The default deny list is :data:`NON_PUBLIC_NETWORKS`.
    """

    __slots__ = ("_allow", "_cache", "_deny", "_rules")

    _deny: tuple[_Network, ...]
    _allow: tuple[_Network, ...]
    _rules: dict[int, tuple[tuple[_Network, ...], tuple[_Network, ...]]]
    _cache: dict[str, bool]

    def __init__(
        self, deny: Iterable[str] = NON_PUBLIC_NETWORKS, allow: Iterable[str] = ()
    ) -> None:
        deny_nets, allow_nets = _networks(deny), _networks(allow)
        rules = {v: (_of_version(v, allow_nets), _of_version(v, deny_nets)) for v in (4, 6)}
        object.__setattr__(self, "_deny", deny_nets)
        object.__setattr__(self, "_allow", allow_nets)
        object.__setattr__(self, "_rules", rules)  # IP version -> (allow, deny)
        object.__setattr__(self, "_cache", {})  # ip text -> decision; not state

    @classmethod
    def public_only(cls, allow: Iterable[str] = ()) -> AddressPolicy:
        """Deny every non-public network, except those in ``allow``."""
        return cls(NON_PUBLIC_NETWORKS, allow)

    @property
    def deny(self) -> tuple[_Network, ...]:
        return self._deny

    @property
    def allow(self) -> tuple[_Network, ...]:
        return self._allow

    def allows(self, ip: str) -> bool:
        """May a client connect to ``ip``? Text that is not an IP is refused."""
        decision = self._cache.get(ip)
        if decision is None:
            decision = self._decide(ip)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()  # cheaper than LRU bookkeeping; refills fast
            self._cache[ip] = decision
        return decision

    def filter(self, addrs: Sequence[Address]) -> list[Address]:
        """The addresses of ``addrs`` this policy allows, in order."""
        return [a for a in addrs if self.allows(a.host)]

    def _decide(self, ip: str) -> bool:
        try:
            parsed = ipaddress.ip_address(ip.partition("%")[0])
        except ValueError:
            return False
        forms = [(form, self._rules[form.version]) for form in _forms(parsed)]
        if any(form in net for form, (allow, _) in forms for net in allow):
            return True
        return not any(form in net for form, (_, deny) in forms for net in deny)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AddressPolicy):
            return NotImplemented
        return (self._deny, self._allow) == (other._deny, other._allow)

    def __hash__(self) -> int:
        return hash((self._deny, self._allow))

    def __repr__(self) -> str:
        deny = [str(n) for n in self._deny]
        allow = [str(n) for n in self._allow]
        return f"{type(self).__name__}(deny={deny!r}, allow={allow!r})"


def _networks(specs: Iterable[str]) -> tuple[_Network, ...]:
    # strict=False: "10.1.2.3/8" means 10.0.0.0/8, as a firewall rule would.
    return tuple(ipaddress.ip_network(spec, strict=False) for spec in specs)


def _of_version(version: int, networks: tuple[_Network, ...]) -> tuple[_Network, ...]:
    return tuple(net for net in networks if net.version == version)


def _forms(ip: _Ip) -> tuple[_Ip, ...]:
    """``ip`` and the IPv4 address it embeds, if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return (ip,)
    embedded = ip.ipv4_mapped
    if embedded is None:
        embedded = ip.sixtofour
    if embedded is None and (int(ip) >> 32 == 0 or ip in _NAT64):  # IPv4-compatible, NAT64
        embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return (ip,) if embedded is None else (ip, embedded)


PUBLIC_ONLY = AddressPolicy.public_only()
