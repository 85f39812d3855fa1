"""``asyncdns-connect demo``: the resolver at work on a scraper-like crawl, on loopback.

A child process (``_backend``) serves the generated zone (``_zone``) from the
test DNS server and runs loopback HTTP servers with an IPv6 black hole
(``_web``). Here one crawl schedule (``_crawl``) runs three times: aiohttp
through our plugin, httpx through our transport, and aiohttp with its stock
``AsyncResolver`` and default connector. The server's query log is reset
between clients; for the last round the DNS server answers nothing. Both
resolvers get the same c-ares timeout and tries, so a run does not depend on
the machine's resolv.conf.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import textwrap
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._resolver import Resolver
from .._stats import Stats
from ._args import UsageError
from ._output import Bar, print_table

if TYPE_CHECKING:  # at run time these load only once the demo's extras are known present
    from ._backend import Backend
    from ._crawl import Round, SetDead, Tally
    from ._zone import DemoHost

    Url = Callable[[DemoHost], str]

__all__ = ["run"]

DNS_TIMEOUT = 1.0
DNS_TRIES = 2
_NOTES = (
    "connect: time to a new connection, DNS included (p50/p95). black hole: connection "
    "attempts to the unanswering [::1] of broken6 hosts, each one a Happy Eyeballs "
    "fallback to 127.0.0.1 after 250 ms. past TTL: answers a cache gave after their "
    "TTL ran out while DNS was answering (aiohttp's own cache keeps every answer 10 s). "
    "stale: answers from an expired entry because DNS did not answer (RFC 8767). "
    "nx names fail by design. httpx keeps at most 20 idle connections by default, so it "
    "opens more.")


@dataclass
class Outcome:
    """One client's run: its tally, what the servers saw, our resolver's stats."""

    id: str
    label: str
    tally: Tally
    queries: int
    black_hole: int | None
    stats: Stats | None
    stale_before_dead: int


def _ms(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (nearest rank) in milliseconds."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000, 1)


def _summary(out: Outcome) -> dict[str, Any]:
    t = out.tally
    ok, failed = sum(t.ok.values()), sum(t.failed.values())
    if out.stats is not None:
        s = out.stats
        lookups, hits = s.hits + s.misses + s.stale, s.hits + s.stale
        past_up, stale_down = out.stale_before_dead, s.stale - out.stale_before_dead
    else:
        lookups, hits = t.cache_hits + t.cache_misses, t.cache_hits
        past_up, stale_down = t.past_ttl_up, t.past_ttl_down
    connects = t.connect_s
    return {
        "id": out.id, "client": out.label,
        "requests": {"ok": ok, "failed": failed, "total": ok + failed},
        "by_kind": {k: {"ok": t.ok[k], "failed": t.failed[k],
                        "new_connections": len(t.connects.get(k, ())),
                        "connect_p50_ms": _ms(t.connects.get(k, []), 0.5)}
                    for k in sorted(set(t.ok) | set(t.failed))},
        "errors": dict(t.errors),
        "wall_s": round(t.wall_s, 2), "busy_s": round(t.busy_s, 2),
        "dns_queries": out.queries,
        "cache_lookups": lookups, "cache_hits": hits,
        "cache_hit_rate": round(hits / lookups, 3) if lookups else None,
        "new_connections": len(connects),
        "connect_ms": {"p50": _ms(connects, 0.5), "p95": _ms(connects, 0.95),
                       "max": _ms(connects, 1.0)},
        "fallbacks": out.black_hole,
        "past_ttl_dns_up": past_up,
        "stale_dns_down": stale_down,
        "resolver_stats": out.stats.as_dict() if out.stats is not None else None,
    }


async def _measure(backend: Backend, crawl: Callable[[Tally, SetDead], Awaitable[None]],
                   ) -> tuple[Tally, int, int | None]:
    """Run ``crawl(tally, set_dead)``; the queries and black-hole SYNs it caused."""
    from ._crawl import Tally
    from ._web import listen_drops

    tally = Tally()
    await backend.set_dead(False)
    await backend.reset_log()
    drops = listen_drops()
    await crawl(tally, backend.set_dead)
    after = listen_drops()
    hole = None if drops is None or after is None else after - drops
    return tally, await backend.count(), hole


async def _ours(label: str, ident: str, make: Callable[[Resolver], Any], crawl: Any,
                backend: Backend, rounds: list[Round], url: Url, bar: Bar) -> Outcome:
    resolver = Resolver(nameservers=[backend.info["dns"]], timeout=DNS_TIMEOUT,
                        tries=DNS_TRIES)
    stale_before_dead = 0

    async def go(tally: Tally, set_dead: SetDead) -> None:
        async def dead(flag: bool) -> None:
            nonlocal stale_before_dead
            if flag:
                stale_before_dead = resolver.stats().stale
            await set_dead(flag)

        await crawl(make(resolver), rounds, url, tally, dead, bar.advance)

    async with resolver:
        tally, queries, hole = await _measure(backend, go)
        stats = resolver.stats()
    return Outcome(ident, label, tally, queries, hole, stats, stale_before_dead)


async def _stock(backend: Backend, rounds: list[Round], url: Url, bar: Bar) -> Outcome:
    import aiohttp
    from aiohttp.resolver import AsyncResolver

    from ._crawl import run_aiohttp

    resolver = AsyncResolver(nameservers=[backend.info["dns"]], timeout=DNS_TIMEOUT,
                             tries=DNS_TRIES)

    async def go(tally: Tally, set_dead: SetDead) -> None:
        await run_aiohttp(aiohttp.TCPConnector(resolver=resolver), rounds, url, tally,
                          set_dead, bar.advance)

    try:
        tally, queries, hole = await _measure(backend, go)
    finally:
        await resolver.close()
    return Outcome("aiohttp_stock", "aiohttp + stock AsyncResolver", tally, queries, hole,
                   None, 0)


def _render(report: dict[str, Any]) -> None:
    demo, clients = report["demo"], report["clients"]
    kinds = ", ".join(f"{n} {k}" for k, n in demo["kinds"].items())
    print(f"Zone: {demo['hosts']} names ({kinds}) on the DNS server {demo['dns_server']};"
          f" HTTP on 127.0.0.1{' and ::1' if demo['ipv6'] else ''}.")
    print(f"Rounds at {', '.join(f'{t:g}' for t in demo['rounds_at'])} s, DNS down for the "
          f"round at {demo['dead_at']:g} s; {demo['requests_per_client']} requests per "
          f"client, {demo['concurrency']} at once.")
    if not demo["black_hole"]:
        print("note: the IPv6 black hole does not hang on this machine.")

    def na(v: Any, fmt: str = "{}") -> str:
        return "n/a" if v is None else fmt.format(v)

    rows = [
        ("requests ok / failed", [f"{c['requests']['ok']} / {c['requests']['failed']}"
                                  for c in clients]),
        ("time crawling (s)", [f"{c['busy_s']:.2f}" for c in clients]),
        ("DNS queries at the server", [str(c["dns_queries"]) for c in clients]),
        ("cache hit rate", [na(c["cache_hit_rate"], "{:.0%}") for c in clients]),
        ("new connections", [str(c["new_connections"]) for c in clients]),
        ("connect p50 / p95 (ms)", [f"{na(c['connect_ms']['p50'], '{:.0f}')} / "
                                    f"{na(c['connect_ms']['p95'], '{:.0f}')}"
                                    for c in clients]),
        ("black hole (HE fallbacks)", [na(c["fallbacks"]) for c in clients]),
        ("past-TTL answers, DNS up", [str(c["past_ttl_dns_up"]) for c in clients]),
        ("stale answers, DNS down", [str(c["stale_dns_down"]) for c in clients]),
        ("failures", [", ".join(f"{k} {n}" for k, n in sorted(c["errors"].items())) or "-"
                      for c in clients]),
    ]
    names = [c["client"] for c in clients]
    print()
    print_table("What each client did", ["", *names], [(label, *v) for label, v in rows])
    per_kind = []
    for kind, count in demo["kinds"].items():
        cells = []
        for c in clients:
            k = c["by_kind"].get(kind, {})
            cells.append(f"{k.get('ok', 0)}/{k.get('ok', 0) + k.get('failed', 0)}, "
                         f"{na(k.get('connect_p50_ms'), '{:.0f}')} ms")
        per_kind.append((f"{kind} ({count})", *cells))
    print()
    print_table("By kind of host: requests ok/sent, connect p50", ["", *names], per_kind)
    print()
    print(textwrap.fill(_NOTES, 100))


async def run(args: argparse.Namespace) -> int:
    """The ``demo`` command; returns the exit status."""
    try:
        from ..aiohttp import connector
        from ..httpx import AsyncResolverTransport
        from . import _crawl
        from ._backend import Backend
        from ._web import ipv6_loopback
        from ._zone import KINDS, make_hosts
    except ImportError as exc:
        raise UsageError(f"the demo needs the [demo] extra ({exc.name} is missing): "
                         "pip install 'asyncdns-connect[demo]'") from None

    quick = args.quick
    n = args.hosts or (150 if quick else 300)
    ipv6 = ipv6_loopback()
    hosts = make_hosts(n, random.Random(args.seed), short_ttls=(1,) if quick else (1, 2),
                       ipv6=ipv6)
    times = (0.0, 1.3) if quick else (0.0, 2.5, 5.0, 7.5)
    # Full runs: past aiohttp's fixed 10 s cache, so the stock client needs DNS too.
    dead_at = 2.6 if quick else 11.5

    def rounds() -> list[_crawl.Round]:
        # The same schedule for every client.
        return _crawl.make_rounds(hosts, random.Random(args.seed), times=times,
                                  dead_at=dead_at)

    def transport(resolver: Resolver) -> Any:
        # httpx's defaults, as users get them: at most 20 idle connections kept.
        return AsyncResolverTransport(resolver)

    total = sum(len(r.requests) for r in rounds())
    outcomes: list[Outcome] = []
    async with Backend(hosts, ipv6=ipv6) as backend:
        info = backend.info

        def url(host: DemoHost) -> str:
            port = info["broken_port"] if host.kind == "broken6" else info["port"]
            return f"http://{host.name}:{port}/"

        with Bar(enabled=None) as bar:
            clients: list[tuple[str, Callable[[], Awaitable[Outcome]]]] = [
                ("aiohttp + asyncdns_connect", lambda: _ours(
                    "aiohttp + asyncdns_connect", "aiohttp_asyncdns", connector,
                    _crawl.run_aiohttp, backend, rounds(), url, bar)),
                ("httpx + asyncdns_connect", lambda: _ours(
                    "httpx + asyncdns_connect", "httpx_asyncdns", transport,
                    _crawl.run_httpx, backend, rounds(), url, bar)),
                ("aiohttp + stock AsyncResolver", lambda: _stock(
                    backend, rounds(), url, bar)),
            ]
            for label, start in clients:
                bar.start(label, total)
                outcome = await start()
                outcomes.append(outcome)
                if not bar.live:
                    bar.log(f"{label}: {total} requests in {outcome.tally.wall_s:.1f} s")

    report = {
        "demo": {
            "hosts": len(hosts), "quick": quick, "ipv6": info["ipv6"],
            "black_hole": info["black_hole"], "dns_server": info["dns"],
            "kinds": {k: sum(h.kind == k for h in hosts) for k in KINDS
                      if any(h.kind == k for h in hosts)},
            "rounds_at": list(times), "dead_at": dead_at,
            "requests_per_client": total, "concurrency": _crawl.CONCURRENCY,
        },
        "clients": [_summary(o) for o in outcomes],
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _render(report)
    return 0
