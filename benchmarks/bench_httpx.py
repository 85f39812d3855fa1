"""httpx fetching from many host names: our transport against httpx's default.

Each request goes to its own host name (``h{i}.web.test``, A 127.0.0.1 and AAAA
::1), so each opens a new connection and needs a DNS lookup first. All names
point at one HTTP/1.1 responder in a child process (``_httpserver``). Contenders:

* httpx's default transport: anyio resolves with glibc ``getaddrinfo`` in
  worker threads (inside netjail, glibc asks 127.0.0.1:53, our server);
* ``asyncdns_connect.httpx.AsyncResolverTransport`` with a fresh Resolver
  (cold cache) per round pointed at the same server.

Both with the same ``httpx.Limits``; the DNS server (knotd, own process) answers
at once, then 20 ms late (``_dnsserver.DelayProxy``). Reports requests/s,
median of ``--rounds`` rounds (a new client each round), and the ratio.

    ../shared/netjail python benchmarks/bench_httpx.py [--names 300]
        [--concurrency 100] [--rounds 3] [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import _common as c  # first: puts the work tree on sys.path
import _dnsserver as ds
import httpx
from _httpserver import HTTPServer

from asyncdns_connect import Resolver

BASE = "httpx-default"
OURS = "asyncdns-transport"
DELAYS = (0.0, 0.02)


def web_hosts(n: int) -> dict[str, tuple[str, str]]:
    return {f"h{i}.web.test": ("127.0.0.1", "::1") for i in range(n)}


async def one_round(kind: str, dns: str, port: int, names: Sequence[str], concurrency: int
                    ) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=20)
    resolver: Resolver | None = None
    transport: httpx.AsyncBaseTransport
    if kind == OURS:
        from asyncdns_connect.httpx import AsyncResolverTransport

        resolver = Resolver([dns])
        transport = AsyncResolverTransport(resolver, limits=limits)
    else:
        transport = httpx.AsyncHTTPTransport(limits=limits)
    drops = c.udp_drops()
    try:
        async with httpx.AsyncClient(transport=transport, trust_env=False,
                                     timeout=10) as client:
            async def fetch(name: str) -> int:
                response = await client.get(f"http://{name}:{port}/")
                response.raise_for_status()
                return 2
            seconds, failures, _ = await c.run_concurrently(fetch, names, concurrency)
    finally:
        if resolver is not None:
            await resolver.close()
    return {"rps": len(names) / seconds, "seconds": seconds, "failures": failures,
            "udp_drops": c.udp_drops() - drops}


def contenders(system_dns: bool) -> tuple[list[str], dict[str, str]]:
    chosen, skipped = [], {}
    if system_dns:
        chosen.append(BASE)
    else:
        skipped[BASE] = ("glibc would not reach the benchmark server "
                         "(needs netjail and 127.0.0.1:53)")
    try:
        import asyncdns_connect.httpx  # noqa: F401
    except ImportError as exc:
        skipped[OURS] = f"asyncdns_connect.httpx not importable: {exc}"
    else:
        chosen.append(OURS)
    return chosen, skipped


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    hosts = web_hosts(args.names)
    names = list(hosts)
    system = ds.system_dns_is_ours()
    kinds, skipped = contenders(system)
    data: dict[str, Any] = {
        "benchmark": "bench_httpx",
        "settings": {"names": args.names, "concurrency": args.concurrency,
                     "rounds": args.rounds, "quick": args.quick, "loop": args.loop,
                     "keepalive": 20, "delays_ms": [d * 1000 for d in DELAYS]},
        "machine": c.machine(args.busy),
        "versions": c.versions("httpx", "httpcore", "anyio", "pycares", "asyncdns-connect"),
        "skipped": skipped,
        "servers": {},
        "results": {k: {} for k in kinds},
    }
    port = ds.free_port()
    with HTTPServer(port):
        for delay in DELAYS:
            label = f"{delay * 1000:.0f}ms"
            with ds.reference_dns(hosts, delay) as info:
                data["servers"][label] = {"kind": info.kind, "address": info.address,
                                          "note": info.note}
                if delay == DELAYS[0]:
                    for kind in kinds:  # warm-up: imports and first-use costs
                        await one_round(kind, info.address, port, names[:20], 10)
                runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
                for _ in range(args.rounds):
                    for kind in kinds:
                        r = await one_round(kind, info.address, port, names, args.concurrency)
                        runs[kind].append(r)
                        print(f"  +{label} {kind}: {r['rps']:,.0f} requests/s",
                              file=sys.stderr)
                for kind, rs in runs.items():
                    data["results"][kind][label] = {
                        "rps": c.median([r["rps"] for r in rs]),
                        "runs": [round(r["rps"]) for r in rs],
                        "failures": sum(r["failures"] for r in rs),
                        "udp_drops": sum(r["udp_drops"] for r in rs)}
    for entry in data["results"].values():
        for label, r in entry.items():
            r["ratio"] = c.ratio(r["rps"], data["results"].get(BASE, {}).get(label, {}).get("rps"))
    data["errors"] = dict(c.ERRORS)
    return data


def markdown(data: dict[str, Any]) -> str:
    s = data["settings"]
    labels = [f"{d:.0f}ms" for d in s["delays_ms"]]
    out = [f"# httpx: many host names, a new connection each ({data['machine']['time']})", "",
           f"{s['names']} names (A 127.0.0.1 + AAAA ::1) on one loopback HTTP/1.1 server, "
           f"{s['concurrency']} requests in flight, httpx.Limits(max_connections="
           f"{s['concurrency']}, max_keepalive_connections={s['keepalive']}), a new client "
           f"(and for ours a new Resolver: cold cache) per round; median of {s['rounds']} "
           "rounds. DNS: " + "; ".join(
               f"+{k}: {v['kind']}" for k, v in data["servers"].items()) + ".", ""]
    names = {BASE: "httpx default transport (anyio, glibc getaddrinfo in threads)",
             OURS: "asyncdns_connect.httpx.AsyncResolverTransport"}
    rows = []
    for kind, entry in data["results"].items():
        row = [names[kind]]
        for label in labels:
            r = entry.get(label)
            row += [c.num(r and r["rps"]), c.times(r and r["ratio"])]
        rows.append(row)
    headers = ["transport"]
    for label in labels:
        headers += [f"requests/s, DNS +{label}", "x default"]
    out.append(c.md_table(headers, rows))
    out += ["", "httpx's default transport resolves through anyio, whose asyncio backend "
            "calls loop.getaddrinfo: the loop's default executor, min(32, CPUs + 4) = "
            f"{min(32, (data['machine']['cpus'] or 1) + 4)} threads here, so at most that "
            "many lookups at a time."]
    for kind, why in data["skipped"].items():
        out.append(f"\n- skipped {kind}: {why}")
    trouble = [(k, lab, r) for k, e in data["results"].items() for lab, r in e.items()
               if r["failures"] or r["udp_drops"]]
    if trouble:
        out += ["", "Rounds with failures or kernel UDP drops:", ""]
        out += [f"- {k} +{lab}: failures {r['failures']}, UDP drops {r['udp_drops']}"
                for k, lab, r in trouble]
    if data.get("errors"):
        out += ["", "Errors seen: " + "; ".join(f"{k} x{v}" for k, v in data["errors"].items())]
    out += ["", "Versions: " + ", ".join(f"{k} {x}" for k, x in data["versions"].items()) +
            ". " + c.machine_line(data["machine"])]
    return "\n".join(out) + "\n"


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--names", type=int, default=300, help="host names, one request each")
    p.add_argument("--concurrency", type=int, default=100, help="requests in flight (100)")
    p.add_argument("--rounds", type=int, default=5, help="rounds per transport (median)")
    p.add_argument("--quick", action="store_true", help="tiny counts: proves the script runs")
    c.add_common_args(p)
    args = p.parse_args(argv)
    if args.quick:
        args.names = min(args.names, 20)
        args.concurrency = min(args.concurrency, 10)
        args.rounds = 1
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    c.prepare(args)
    data = c.run(main_async(args), args.loop)
    c.report(args, data, markdown(data), "httpx")
    return 0


if __name__ == "__main__":
    sys.exit(main())
