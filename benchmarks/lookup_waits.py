"""What a lookup waits for beyond the upstream, per kind of field host.

Resolves ``--names`` fresh names of one kind (``asyncdns_connect.testing``'s
field population) through the modelled upstream (loss and SERVFAIL bursts off,
so every wait is the model's latency draw or the client's own), ``--inflight``
at a time, and compares each lookup's first answer with what the model's draws
allow: the sooner of "AAAA" and "A + Resolution Delay" for dual-stack kinds,
"A" for ``v4only``. ``--client aiodns`` runs aiohttp's ``AsyncResolver`` instead,
against the model on 127.0.0.1:53 (the netjail's resolv.conf), where the bound
is "A" (it resolves IPv4 only). Loopback only; run inside ``shared/netjail``::

    PYTHONPATH=$PWD ../shared/netjail python benchmarks/lookup_waits.py v4only
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from typing import Any

import _common  # noqa: F401  (puts the work tree on sys.path)

from asyncdns_connect import Resolver
from asyncdns_connect.testing import (
    DNSServer,
    FieldHost,
    NetworkModel,
    NetworkProfile,
    make_population,
    publish_population,
)

RESOLUTION_DELAY = 0.05


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def first_answer(client: str, resolver: Resolver, aiodns: Any, host: FieldHost
                       ) -> list[str] | str:
    try:
        if client == "aiodns":
            return [r["host"] for r in await aiodns.resolve(host.name, 80)]
        async for batch in resolver.stream(host.name):
            return [a.host for a in batch]
        return "no batch"
    except Exception as exc:  # a failed lookup is a result
        return f"{type(exc).__name__}: {exc}"[:70]


async def main(args: argparse.Namespace) -> int:
    network = NetworkModel(NetworkProfile(loss=0.0, burst_every=0), seed=args.seed)
    hosts = [h for h in make_population(20 * args.names, seed=args.seed)
             if h.kind == args.kind][:args.names]
    port = 53 if args.client == "aiodns" else 0
    async with DNSServer(port=port, network=network) as dns:
        publish_population(dns, hosts)
        aiodns = None
        if args.client == "aiodns":
            from aiohttp.resolver import AsyncResolver

            aiodns = AsyncResolver()
        async with Resolver([dns.address], timeout=1, tries=1) as resolver:
            gate = asyncio.Semaphore(args.inflight)
            rows: list[tuple[float, float, FieldHost, list[str] | str]] = []

            async def one(host: FieldHost) -> None:
                async with gate:
                    started = time.monotonic()
                    got = await first_answer(args.client, resolver, aiodns, host)
                    rows.append((started, time.monotonic() - started, host, got))

            await asyncio.gather(*(one(h) for h in hosts))
        if aiodns is not None:
            await aiodns.close()
    # The model's draws: when each (name, type) miss was due, monotonic.
    due = {key: ready for key, (ready, _until) in network._state.cache.items()}
    excess, failed = [], 0
    for started, took, host, got in rows:
        a = due.get((host.name, "A"))
        aaaa = due.get((host.name, "AAAA"))
        if isinstance(got, str) or a is None:
            failed += 1
            continue
        bound = a - started
        if args.client == "ours" and aaaa is not None and host.has_aaaa:
            six = aaaa - started + (host.aaaa_delay or 0)
            bound = min(six, bound + RESOLUTION_DELAY)
        excess.append(took - bound)
    took_all = [r[1] for r in rows]
    print(f"{args.kind}, {args.client}: {len(rows)} lookups, first answer p50 "
          f"{pct(took_all, .5):.0f} / p95 {pct(took_all, .95):.0f} / p99 "
          f"{pct(took_all, .99):.0f} ms; {failed} failed")
    if excess:
        print(f"waited beyond the model's draws: p50 {pct(excess, .5):.1f} / p95 "
              f"{pct(excess, .95):.1f} / max {max(excess) * 1000:.1f} ms")
    print(f"upstream: {network.counters()}")
    for _started, took, host, got in sorted(rows, key=lambda r: -r[1])[:args.show]:
        print(f"  {took * 1000:6.0f} ms  {host.name}  {got}")
    return 0


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("kind", choices=["cdn", "dual", "v4only", "slow6", "broken6", "zero"])
    p.add_argument("--client", choices=["ours", "aiodns"], default="ours")
    p.add_argument("--names", type=int, default=400)
    p.add_argument("--inflight", type=int, default=50)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--show", type=int, default=8, help="slowest lookups to list")
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
