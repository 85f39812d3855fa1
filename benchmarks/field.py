"""The field test: a crawler against a network that behaves like the internet.

One run, one seeded model (``asyncdns_connect.testing.NetworkModel`` on
127.0.0.1:53, in its own process, with ``FieldWeb`` behind the names), and five
clients side by side, each in its own child process, one after the other, each
from a restarted model (same draws, same fault windows, empty upstream cache):

    aiohttp ThreadedResolver (named: aiohttp picks AsyncResolver by default when
    aiodns is installed), aiohttp AsyncResolver (each with its 10 s cache),
    httpx default, aiohttp + ours (``connector()``), httpx + ours
    (``AsyncResolverTransport``).

Every client resolves through the system's configuration (the netjail's
resolv.conf: ``nameserver 127.0.0.1``, ``options timeout:1 attempts:1``), so
glibc, aiodns and ours all ask the model. Then the fleet tier (``fleet.py``):
N worker processes, each with its own Resolver, with and without unbound in
front of the model's authoritative server.

Run inside ``shared/netjail`` (binding port 53 needs its root)::

    ../shared/netjail python benchmarks/field.py [--quick] [--docs] [--no-fleet]

Writes ``field.md``, ``field.json``, ``field.png`` to ``--out`` (default
``benchmarks/results``); ``--docs`` also rewrites the generated part of
``docs/field.md`` and ``docs/field.png``. Full run under 3 minutes, ``--quick``
under 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import _common as c  # first: puts the work tree on sys.path

from asyncdns_connect._cli import _crawl
from asyncdns_connect._cli._backend import Backend

DOCS = os.path.join(c.ROOT, "docs")
SELF = os.path.abspath(__file__)
# Per pass; every client runs two passes.
FULL = {"hosts": 12000, "seconds": 10.0, "concurrency": 100}
QUICK = {"hosts": 3000, "seconds": 2.0, "concurrency": 100}
STOCK_AIOHTTP = ("aiohttp-threaded", "aiohttp-aiodns")
# How far back from a failed lookup a late answer (>= 1 s, the model's
# late_after and resolv.conf's timeout:1) is looked for: one budget and slack.
LATE_WINDOW = 1.5


def profile(seconds: float) -> dict[str, Any]:
    """The network: defaults of ``NetworkProfile``, an outage in the second half."""
    return {"outage_at": round(0.55 * seconds, 2), "outage_for": round(0.12 * seconds, 2)}


# -- one client, in its own process ----------------------------------------------------


async def client_main(client: str, plan: _crawl.Plan, ports: dict[str, int]) -> None:
    """Child: READY, read the fault windows, crawl, print the summary as JSON."""
    loop = asyncio.get_running_loop()
    print("READY", flush=True)
    line = await loop.run_in_executor(None, sys.stdin.readline)
    windows = [tuple(w) for w in json.loads(line)]

    def url(host: Any) -> str:
        port = ports["broken_port"] if host.kind == "broken6" else ports["port"]
        return f"http://{host.name}:{port}/"

    tally = await _crawl.crawl(client, plan, url, windows)  # type: ignore[arg-type]
    summary = _crawl.summarize(client, tally)
    summary["connects_s"] = [round(t, 5) for t in tally.connects]
    summary["connects_by_kind_s"] = {k: [round(t, 5) for t in v]
                                     for k, v in tally.connects_by_kind.items()}
    print(json.dumps(summary), flush=True)


async def run_client(client: str, plan: _crawl.Plan, backend: Backend) -> dict[str, Any]:
    ports = {"port": backend.info["port"], "broken_port": backend.info["broken_port"]}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, SELF, "--client", client,
        "--plan", json.dumps(asdict(plan)), "--ports", json.dumps(ports),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        ready = await proc.stdout.readline()
        if not ready.startswith(b"READY"):
            raise RuntimeError(f"{client} did not start: {ready!r}")
        cpu0 = (await backend.count())["cpu_s"]
        started = await backend.restart(**profile(plan.seconds))
        # The model draws bursts for an hour; only this pass's matter.
        end = started["origin"] + plan.seconds + plan.grace
        started["windows"] = [w for w in started["windows"] if w[1] < end]
        proc.stdin.write((json.dumps(started["windows"]) + "\n").encode())
        await proc.stdin.drain()
        out = await proc.stdout.read()
        if await proc.wait() != 0:
            raise RuntimeError(f"{client} failed (exit {proc.returncode})")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    counted = await backend.count()
    # Every client's budget is resolv.conf's timeout:1 attempts:1: an answer the
    # model sent a second or more after its query is the upstream's doing.
    _crawl.separate_late(result, counted["late"], LATE_WINDOW)
    result["dns_queries"] = counted["count"]
    result["network"] = counted["network"]
    result["server_cpu_share"] = round((counted["cpu_s"] - cpu0) / plan.seconds, 2)
    result["queries_per_host"] = (round(counted["count"] / result["distinct_hosts"], 3)
                                  if result["distinct_hosts"] else None)
    result["windows"] = started["windows"]
    return result


def merge(passes: list[dict[str, Any]]) -> dict[str, Any]:
    """One client's passes as one result: counts added, percentiles over all connects."""
    first = passes[0]
    out = {k: first[k] for k in ("id", "client")}
    for key in ("requests", "ok", "failed", "lost_to_dns", "new_connections",
                "distinct_hosts", "dns_queries", "cpu_s", "seconds"):
        out[key] = round(sum(p[key] for p in passes), 3)
    for key in ("failures", "ok_by_kind", "failed_by_kind", "past_ttl", "network"):
        total: dict[str, int] = {}
        for p in passes:
            for k, v in p.get(key, {}).items():
                total[k] = total.get(k, 0) + v
        out[key] = dict(sorted(total.items()))
    connects = [t for p in passes for t in p["connects_s"]]
    out["connect_ms"] = {f"p{q}": _crawl.pct(connects, q / 100) for q in (50, 95, 99)}
    sec = out["seconds"]
    out["requests_per_s"] = round(out["requests"] / sec, 1) if sec else None
    out["ok_per_s"] = round(out["ok"] / sec, 1) if sec else None
    out["cpu_ms_per_request"] = (round(1000 * out["cpu_s"] / out["requests"], 3)
                                 if out["requests"] else None)
    out["queries_per_host"] = (round(out["dns_queries"] / out["distinct_hosts"], 3)
                               if out["distinct_hosts"] else None)
    # Retransmissions (and unmerged duplicates) aside: queries for a (name, type)
    # whose earlier query the model had not answered yet.
    first = out["dns_queries"] - out["network"].get("repeats", 0)
    out["first_queries_per_host"] = (round(first / out["distinct_hosts"], 3)
                                     if out["distinct_hosts"] else None)
    out["server_cpu_share"] = round(sum(p["server_cpu_share"] for p in passes) / len(passes),
                                    2)
    by_kind: dict[str, list[float]] = {}
    for p in passes:
        for kind, times in p["connects_by_kind_s"].items():
            by_kind.setdefault(kind, []).extend(times)
    # A request that failed never connected: counting it as slower than every
    # connect (p95_all) keeps a client that gives up early (aiodns fails a
    # lookup at c-ares's 250 ms retry timeout under attempts:1) from looking fast.
    failed = out["failed_by_kind"]
    out["connect_ms_by_kind"] = {
        kind: {"n": len(v), "failed": failed.get(kind, 0), "p50": _crawl.pct(v, 0.5),
               "p95": _crawl.pct(v, 0.95),
               "p95_all": _crawl.pct(v, 0.95, failed.get(kind, 0))}
        for kind, v in sorted(by_kind.items())}
    n_failed = sum(failed.values())
    out["connect_ms"]["p95_all"] = _crawl.pct(connects, 0.95, n_failed)
    out["passes"] = [{k: v for k, v in p.items()
                      if k not in ("connects_s", "connects_by_kind_s")} for p in passes]
    return out


# -- targets -------------------------------------------------------------------------


def targets(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets for the product, each with today's figures and a verdict."""
    out: list[dict[str, Any]] = []

    def get(cid: str, *keys: str) -> Any:
        v: Any = results.get(cid)
        for k in keys:
            v = None if v is None else v.get(k)
        return v

    def add(text: str, measured: str, met: bool | None) -> None:
        out.append({"target": text, "measured": measured, "met": met})

    best = max((get(k, "ok_per_s") or 0 for k in STOCK_AIOHTTP), default=0)
    ours = get("aiohttp-ours", "ok_per_s")
    r = c.ratio(ours, best)
    add("aiohttp + ours >= 1.3x the better stock aiohttp (ok requests/s)",
        f"{c.times(r)} ({c.num(ours)} vs {c.num(best)})", None if r is None else r >= 1.3)
    ours, stock = get("httpx-ours", "ok_per_s"), get("httpx", "ok_per_s")
    r = c.ratio(ours, stock)
    add("httpx + ours >= 2x httpx default (ok requests/s)",
        f"{c.times(r)} ({c.num(ours)} vs {c.num(stock)})", None if r is None else r >= 2)
    for mine, peers in (("aiohttp-ours", STOCK_AIOHTTP), ("httpx-ours", ("httpx",))):
        p95 = get(mine, "connect_ms", "p95")
        peer = [v for v in (get(p, "connect_ms", "p95") for p in peers) if v is not None]
        bar = min(peer) if peer else None
        add(f"{_crawl.CLIENTS[mine]}: connect p95 <= the better stock client's",
            f"{c.num(p95)} ms vs {c.num(bar)} ms",
            None if p95 is None or bar is None else p95 <= bar)
    inf = float("inf")
    for mine, peers in (("aiohttp-ours", STOCK_AIOHTTP), ("httpx-ours", ("httpx",))):
        if mine not in results or not any(p in results for p in peers):
            add(f"{_crawl.CLIENTS[mine]}: connect p95 counting failed requests "
                "<= the better stock client's", "n/a", None)
            continue
        # None: more than 5% failed, the p95 is a connect that never finished.
        mine_all = get(mine, "connect_ms", "p95_all")
        peer_all = [get(p, "connect_ms", "p95_all") for p in peers if p in results]
        bar_all = min(inf if v is None else v for v in peer_all)
        add(f"{_crawl.CLIENTS[mine]}: connect p95 counting failed requests as never "
            "connected <= the better stock client's",
            f"{c.num(mine_all) if mine_all is not None else 'failed'} ms vs "
            f"{c.num(bar_all) if bar_all != inf else 'failed'} ms",
            (inf if mine_all is None else mine_all) <= bar_all)
    for mine in _crawl.OURS:
        lost = get(mine, "lost_to_dns")
        add(f"{_crawl.CLIENTS[mine]}: 0 requests lost to DNS while the upstream answers",
            f"{lost}", None if lost is None else lost == 0)
    base = get("aiohttp-aiodns", "first_queries_per_host")
    for mine in _crawl.OURS:
        q = get(mine, "first_queries_per_host")
        add(f"{_crawl.CLIENTS[mine]}: upstream queries per host, retransmissions aside, "
            "<= AsyncResolver's + 5%",
            f"{c.num(q, 2)} vs {c.num(base, 2)}",
            None if q is None or base is None else q <= base * 1.05)
    return out


# -- output --------------------------------------------------------------------------


def _failures(r: dict[str, Any]) -> str:
    short = {"dns:nx": "nx", "dns:upstream-failing": "dns in fault",
             "dns:upstream-answering": "dns LOST", "dns:upstream-late": "dns late",
             "timeout": "timeout", "connect": "connect"}
    parts = [f"{short.get(k, k)} {n}" for k, n in r["failures"].items()]
    return ", ".join(parts) or "-"


def _by_kind(res: dict[str, Any]) -> str:
    kinds = sorted({k for r in res.values() for k in r["connect_ms_by_kind"]})
    rows = []
    for kind in kinds:
        row = [kind]
        for r in res.values():
            v = r["connect_ms_by_kind"].get(kind)
            if not v:
                row.append("-")
                continue
            share = v["failed"] / max(1, v["n"] + v["failed"])
            worst = "failed" if v["p95_all"] is None else c.num(v["p95_all"])
            row.append(f"{c.num(v['p50'])} / {c.num(v['p95'])} ({share:.1%} failed; {worst})")
        rows.append(row)
    return c.md_table(["kind"] + [r["client"] for r in res.values()], rows)


def _per_mille(r: dict[str, Any]) -> float:
    return 1000 * r["lost_to_dns"] / max(1, r["requests"])


def markdown(data: dict[str, Any]) -> str:
    res = data["results"]
    rows = []
    for r in res.values():
        cm = r["connect_ms"]
        rows.append([
            r["client"], c.num(r["ok_per_s"]), f"{r['ok']:,} / {r['failed']:,}",
            _failures(r), f"{r['lost_to_dns']} ({_per_mille(r):.1f}‰)",
            f"{c.num(cm['p50'])} / {c.num(cm['p95'])} / {c.num(cm['p99'])}",
            f"{c.num(r['queries_per_host'], 2)} ({c.num(r['first_queries_per_host'], 2)})",
            c.num(r["cpu_ms_per_request"], 2),
            f"{r['past_ttl']['upstream_up']} / {r['past_ttl']['upstream_failing']}",
            f"{r['server_cpu_share']:.0%}",
        ])
    s = data["setup"]
    prof = s["profile"]
    lines = [
        "# Field test: a crawler against a modelled network",
        "",
        f"{s['hosts']:,} names ({', '.join(f'{k} {v:.0%}' for k, v in s['shares'].items())}),"
        f" {s['concurrency']} requests in flight for 2 x {s['seconds']:g} s per client "
        "(two passes, the second in reverse client order), "
        f"{s['new_share']:.0%} of requests to a host not seen before, "
        f"{s['close_share']:.0%} with `Connection: close` (requests still in flight at "
        "the end are not counted). Upstream (the model on "
        f"127.0.0.1:53): misses lognormal median {prof['miss_median'] * 1000:g} ms, "
        f"p99 {prof['miss_p99'] * 1000:g} ms; hits {prof['hit_latency'][0] * 1000:g}-"
        f"{prof['hit_latency'][1] * 1000:g} ms; {prof['loss']:.1%} of answers lost; SERVFAIL "
        f"bursts of {prof['burst_length']:g} s about every {prof['burst_every']:g} s; an "
        f"outage at {prof['outage_at']:g} s for {prof['outage_for']:g} s. resolv.conf: "
        "`timeout:1 attempts:1`.",
        "",
        c.md_table(["client", "ok req/s", "ok / failed", "failures", "lost to DNS",
                    "connect p50/p95/p99 ms", "upstream queries / host (repeats aside)",
                    "CPU ms / req",
                    "past TTL (up / failing)", "servers' CPU"], rows),
        "",
        "ok req/s: successful requests per second of crawling. lost to DNS: requests to "
        "existing names that failed in DNS while the upstream was answering (and per 1,000 "
        "requests; outside the "
        "outage and SERVFAIL windows, plus 1.2 s, and not explained by an answer the model "
        "sent 1 s or more after the query, which no client with resolv.conf's 1 s budget "
        "could use: those are \"dns late\"). nx: names that do not exist (fail by "
        "design). upstream queries / host: queries the model received per distinct host "
        "the client asked for (A and AAAA make 2; retransmissions and re-asks after the "
        "TTL add); in brackets without repeats, the queries for a name and type whose "
        "earlier query was still unanswered (retransmissions, unmerged duplicates). past "
        "TTL: answers a cache gave after their TTL ran out (aiohttp's own 10 s cache, "
        "which also keeps TTL-0 names and so sends fewer queries for them; our stale "
        "answers), while the upstream was up / failing. servers' CPU: "
        "the model's process (DNS and HTTP) in share of one CPU while the client ran.",
        "",
        "Connect time by kind of host, p50 / p95 ms (new connections, DNS included); in "
        "brackets the share of requests to that kind of (existing) host that failed, and "
        "the p95 counting each failed request as a connect that never finished (\"failed\" "
        "when more than 5% failed). A client that gives up on a slow lookup drops it "
        "from the first two numbers, not from the bracket:",
        "",
        _by_kind(res),
        "",
        "## Targets (for the product; today's figures as measured)",
        "",
        c.md_table(["target", "measured", "met"],
                   [[t["target"], t["measured"],
                     {True: "yes", False: "**no**", None: "n/a"}[t["met"]]]
                    for t in data["targets"]]),
    ]
    fleet = data.get("fleet")
    if fleet:
        import fleet as fl

        lines += ["", fl.markdown(fleet)]
    short = [r["client"] for r in res.values()
             if any(p["distinct_hosts"] >= s["hosts"] for p in r["passes"])]
    if short:
        lines += ["", f"**Warning**: {', '.join(short)} ran out of new hosts (raise --hosts); "
                  "from then on it only revisited hosts, which flatters its figures."]
    m = data["machine"]
    lines += ["", f"Machine: {m['cpus']} CPUs shared with other work; load average "
              f"{m['load_before']} before, {m['load_after']} after; CPUs "
              f"{m['cpu_busy_before']:.0%} busy just before. Python {data['versions']['python']}"
              f", aiohttp {data['versions']['aiohttp']}, httpx {data['versions']['httpx']}, "
              f"pycares {data['versions']['pycares']}. {m['time']}."]
    return "\n".join(lines) + "\n"


def chart(data: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = list(data["results"].values())
    names = [r["client"].replace(" + ", "\n+ ").replace(" default", "\ndefault")
             .replace(" Async", "\nAsync") for r in res]
    colors = ["#2a7" if r["id"] in _crawl.OURS else "#999" for r in res]
    fig, axes = plt.subplots(1, 4, figsize=(16, 4))
    panels = [
        ("ok requests/s (higher is better)", [r["ok_per_s"] or 0 for r in res], False),
        ("connect p95, ms, log scale (lower is better)",
         [r["connect_ms"]["p95"] or 0 for r in res], True),
        ("lost to DNS while it answered, per 1,000 requests",
         [_per_mille(r) for r in res], False),
        ("upstream queries per host", [r["queries_per_host"] or 0 for r in res], False),
    ]
    for ax, (title, values, log) in zip(axes, panels, strict=True):
        bars = ax.bar(range(len(res)), values, color=colors)
        ax.bar_label(bars, labels=[f"{v:,.0f}" if v >= 100 else f"{v:.3g}" for v in values],
                     fontsize=8)
        if log:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(len(res)), names, fontsize=7)
    fig.suptitle(f"Field test (2 x {data['setup']['seconds']:g} s per client; "
                 f"green: asyncdns_connect)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def update_docs(text: str) -> None:
    """Replace the generated part of docs/field.md (between the markers)."""
    path = os.path.join(DOCS, "field.md")
    with open(path) as f:
        doc = f.read()
    begin, end = "<!-- field:begin -->", "<!-- field:end -->"
    body = text.split("\n", 2)[2]  # drop the title: the doc has its own
    new, n = re.subn(re.escape(begin) + r".*?" + re.escape(end),
                     lambda _m: f"{begin}\n{body}{end}", doc, flags=re.S)
    if n != 1:
        raise SystemExit(f"{path}: no {begin} ... {end} section to replace")
    with open(path, "w") as f:
        f.write(new)


# -- main ----------------------------------------------------------------------------


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from asyncdns_connect.testing import NetworkProfile
    from asyncdns_connect.testing._field import SHARES

    size = QUICK if args.quick else FULL
    hosts = args.hosts or size["hosts"]
    seconds = args.seconds or size["seconds"]
    plan = _crawl.Plan(hosts=hosts, seed=args.seed, seconds=seconds,
                       concurrency=args.concurrency or size["concurrency"])
    prof = {**asdict(NetworkProfile()), **profile(seconds)}
    clients = args.clients.split(",") if args.clients else list(_crawl.CLIENTS)
    spec = {"hosts": hosts, "seed": args.seed, "dns_host": "127.0.0.1", "dns_port": 53,
            "profile": profile(seconds)}
    passes: dict[str, list[dict[str, Any]]] = {k: [] for k in clients}
    async with Backend(spec) as backend:
        # Two passes, the second in reverse order (A B C D E E D C B A), so a
        # change in the shared machine's load mid-run hits every client alike.
        for order in (clients, clients[::-1]):
            for client in order:
                r = await run_client(client, plan, backend)
                passes[client].append(r)
                print(f"{r['client']}: {r['ok']:,} ok / {r['failed']:,} failed in "
                      f"{r['seconds']:.1f} s (servers' process: {r['server_cpu_share']:.0%}"
                      " of a CPU)", file=sys.stderr)
    results = {k: merge(v) for k, v in passes.items()}
    data: dict[str, Any] = {
        "setup": {**asdict(plan), "profile": prof, "shares": SHARES,
                  "black_hole": backend.info["black_hole"], "ipv6": backend.info["ipv6"]},
        "results": results,
        "targets": targets(results),
    }
    if not args.no_fleet:
        import fleet

        data["fleet"] = await fleet.run(quick=args.quick, seed=args.seed)
    return data


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a run under a minute")
    p.add_argument("--hosts", type=int, default=None, help="names in the population")
    p.add_argument("--seconds", type=float, default=None,
                   help="crawl time per client and pass (two passes)")
    p.add_argument("--concurrency", type=int, default=None, help="requests in flight")
    p.add_argument("--clients", default=None,
                   help=f"comma-separated subset of {','.join(_crawl.CLIENTS)}")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-fleet", action="store_true", help="skip the fleet tier")
    p.add_argument("--docs", action="store_true",
                   help="also rewrite the generated part of docs/field.md and docs/field.png")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                   help="first wait up to S seconds for idle CPUs")
    p.add_argument("--out", default=c.RESULTS, help="output directory")
    # The child-process mode (one client); not for people.
    p.add_argument("--client", help=argparse.SUPPRESS)
    p.add_argument("--plan", help=argparse.SUPPRESS)
    p.add_argument("--ports", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.client:
        plan = _crawl.Plan(**json.loads(args.plan))
        asyncio.run(client_main(args.client, plan, json.loads(args.ports)))
        return 0
    if os.environ.get("NETJAIL_INSIDE") != "1":
        print("error: run inside shared/netjail: the model serves on 127.0.0.1:53 for "
              "every client's system resolver", file=sys.stderr)
        return 2
    busy = c.wait_for_quiet(args.wait_quiet) if args.wait_quiet else c.cpu_busy(0.5)
    machine = c.machine(busy)
    started = time.monotonic()
    data = asyncio.run(main_async(args))
    machine["load_after"] = [round(x, 2) for x in os.getloadavg()]
    machine["run_seconds"] = round(time.monotonic() - started, 1)
    data["machine"] = machine
    data["versions"] = c.versions("aiohttp", "httpx", "pycares", "aiodns")
    text = markdown(data)
    c.report(args, data, text, "field")
    chart(data, os.path.join(args.out, "field.png"))
    if args.docs:
        update_docs(text)
        chart(data, os.path.join(DOCS, "field.png"))
    print(f"({machine['run_seconds']:g} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
