"""The demo's generated zone: a few hundred names of six kinds, on the test server.

Kinds (share of the names): ``dual`` A and AAAA, both served; ``v4only`` A
only; ``broken6`` A and AAAA whose IPv6 port is a black hole (SYNs never
answered); ``slow6`` A and AAAA with the AAAA answer held back 0.5-1 s;
``short`` A and AAAA with a 1-2 s TTL; ``nx`` names that do not exist.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..testing import DNSServer, Fault

__all__ = ["KINDS", "DemoHost", "make_hosts", "publish"]

DOMAIN = "demo.test"
KINDS = ("dual", "v4only", "broken6", "slow6", "short", "nx")
# Few black-holed hosts: each new connection to one costs a Happy Eyeballs delay.
_SHARES = {"v4only": 0.15, "broken6": 0.04, "slow6": 0.08, "short": 0.12, "nx": 0.05}
_TTL = 300
_NEGATIVE_TTL = 30


@dataclass(frozen=True)
class DemoHost:
    """One generated name. ``ttl`` is its address TTL (0 for ``nx``)."""

    name: str
    kind: str
    ttl: int
    aaaa_delay: float = 0.0

    @property
    def has_aaaa(self) -> bool:
        return self.kind not in ("v4only", "nx")

    @property
    def exists(self) -> bool:
        return self.kind != "nx"


def make_hosts(n: int, rng: random.Random, *, short_ttls: tuple[int, ...],
               ipv6: bool) -> list[DemoHost]:
    """``n`` hosts, every kind at least once when ``n`` allows. Without IPv6
    loopback the IPv6 kinds become ``v4only`` (nothing can listen on ::1)."""
    counts = {kind: max(1, round(n * share)) for kind, share in _SHARES.items()}
    counts["dual"] = max(1, n - sum(counts.values()))
    hosts: list[DemoHost] = []
    for kind in KINDS:
        for i in range(counts[kind]):
            real = kind if ipv6 or kind in ("nx", "short") else "v4only"
            name = f"{kind}-{i + 1:03d}.{DOMAIN}"
            if real == "nx":
                hosts.append(DemoHost(name, real, 0))
            elif real == "short":
                hosts.append(DemoHost(name, real, rng.choice(short_ttls)))
            elif real == "slow6":
                hosts.append(DemoHost(name, real, _TTL, round(rng.uniform(0.5, 1.0), 2)))
            else:
                hosts.append(DemoHost(name, real, _TTL))
    return hosts[:n] if len(hosts) > n else hosts


def publish(server: DNSServer, hosts: list[DemoHost], *, ipv6: bool) -> None:
    """Put ``hosts`` in the server's zone (A 127.0.0.1, AAAA ::1) with their faults."""
    server.set_soa(DOMAIN, ttl=3600, minimum=_NEGATIVE_TTL)
    for host in hosts:
        if not host.exists:
            continue
        server.add(host.name, "A", "127.0.0.1", ttl=host.ttl)
        if host.has_aaaa and ipv6:
            server.add(host.name, "AAAA", "::1", ttl=host.ttl)
        if host.aaaa_delay:
            server.fault(host.name, "AAAA", Fault.delay(host.aaaa_delay))
