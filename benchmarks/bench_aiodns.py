"""The aiodns drop-in against aiodns itself: same calls, same server, same run.

Against one loopback reference server (knotd in its own process, see ``_dnsserver``),
rounds alternate between aiodns and ``asyncdns_connect.aiodns`` (who goes first swaps
every round), each round on names neither has asked before (c-ares's query cache
stays cold):

* ``query_dns(name, "A")`` and ``getaddrinfo(name)`` (AF_UNSPEC: A and AAAA), bursts
  of ``--burst`` lookups at once, ``tries=3``: lookups per second, median of rounds;
* a large burst (``--flood`` lookups, ``getaddrinfo``, ``tries=1``, ``timeout=1.5``):
  how many lookups fail (each try lost is a failure), median of rounds.

Run inside ``shared/netjail``::

    ../shared/netjail python benchmarks/bench_aiodns.py [--rounds R] [--quick] [--out DIR]

Writes ``aiodns.md`` and ``aiodns.json`` to ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

import _common as c  # first: puts the work tree on sys.path
import _dnsserver as ds
import aiodns

import asyncdns_connect.aiodns as ours

CONTENDERS: dict[str, ModuleType] = {"aiodns": aiodns, "asyncdns_connect.aiodns": ours}


async def burst(module: ModuleType, server: str, names: Sequence[str], kind: str,
                tries: int, timeout: float) -> tuple[float, int]:
    """(lookups per second, failed lookups) for ``names`` all sent at once."""
    async with module.DNSResolver(nameservers=[server], timeout=timeout, tries=tries) as r:
        start = time.perf_counter()
        if kind == "query_dns":
            futs = [r.query_dns(name, "A") for name in names]
        else:
            futs = [r.getaddrinfo(name) for name in names]
        results = await asyncio.gather(*futs, return_exceptions=True)
        elapsed = time.perf_counter() - start
    failed = sum(isinstance(x, BaseException) for x in results)
    return len(names) / elapsed, failed


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    per_round = 2 * args.burst + args.flood
    hosts = ds.bench_hosts(per_round * len(CONTENDERS) * args.rounds)
    fresh: Iterator[str] = iter(hosts)

    def take(n: int) -> list[str]:
        return [next(fresh) for _ in range(n)]

    rates: dict[str, dict[str, list[float]]] = {k: {} for k in ("query_dns", "getaddrinfo")}
    lost: dict[str, list[int]] = {}
    with ds.reference_dns(hosts) as info:
        for rnd in range(args.rounds):
            order = list(CONTENDERS.items())[:: 1 if rnd % 2 else -1]
            for label, module in order:
                for kind in ("query_dns", "getaddrinfo"):
                    rate, failed = await burst(module, info.address, take(args.burst), kind,
                                               tries=3, timeout=2.0)
                    if failed:
                        raise RuntimeError(f"{label} {kind}: {failed} lookups failed")
                    rates[kind].setdefault(label, []).append(rate)
                _, failed = await burst(module, info.address, take(args.flood), "getaddrinfo",
                                        tries=1, timeout=1.5)
                lost.setdefault(label, []).append(failed)
        server = info.kind
    return {
        "server": server, "burst": args.burst, "flood": args.flood, "rounds": args.rounds,
        "rates": rates, "lost": lost, "machine": c.machine(args.busy),
        "versions": c.versions("aiodns", "pycares"),
    }


def markdown(data: dict[str, Any]) -> str:
    base = "aiodns"
    rows = []
    for kind, by in data["rates"].items():
        for label, values in by.items():
            median = c.median(values)
            rows.append((kind, label, c.num(median),
                         c.times(c.ratio(median, c.median(by[base])))))
    flood = [(label, " ".join(str(v) for v in values), c.num(c.median(values)))
             for label, values in data["lost"].items()]
    return "\n".join([
        "# asyncdns_connect.aiodns against aiodns",
        "",
        f"{c.machine_line(data['machine'])} Server: {data['server']}; "
        f"{data['rounds']} alternating rounds, fresh names each.",
        "",
        f"Bursts of {data['burst']} lookups at once (tries=3), lookups per second:",
        "",
        c.md_table(("call", "library", "lookups/s (median)", "vs aiodns"), rows),
        "",
        f"A flood of {data['flood']} getaddrinfo lookups at once, tries=1, timeout=1.5 s: "
        "lookups failed",
        "",
        c.md_table(("library", "per round", "median"), flood),
        "",
    ])


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=10, help="alternating rounds (default 10)")
    p.add_argument("--burst", type=int, default=200, help="lookups per burst (default 200)")
    p.add_argument("--flood", type=int, default=1000, help="lookups in the flood (1000)")
    p.add_argument("--quick", action="store_true", help="tiny counts: proves the script runs")
    c.add_common_args(p)
    args = p.parse_args(argv)
    if args.quick:
        args.rounds, args.burst, args.flood = 2, 20, 50
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    c.prepare(args)
    data = c.run(main_async(args), args.loop)
    c.report(args, data, markdown(data), "aiodns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
