"""``asyncdns-connect demo``: the field model in small, three clients side by side.

A child process (``_backend``) runs the field model: a DNS server answering like
a datacenter's recursive resolver (``NetworkModel``: long-tailed latency, lost
answers, SERVFAIL bursts, an outage) for a generated population of names, and
the loopback web behind them. Here the same seeded crawl (``_crawl``) runs for a
few seconds with aiohttp through our plugin, httpx through our transport, and
aiohttp with its stock ``AsyncResolver``; the model restarts for each. All
three ask the model directly, with the timeout and tries of the netjail's
resolv.conf (1 s, 1), so a run does not depend on the machine's DNS. Clients
that only use the system resolver (aiohttp's and httpx's defaults) need the
model on port 53: ``benchmarks/field.py`` runs them.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import Any

from ._args import UsageError
from ._output import print_table

__all__ = ["run"]

DNS_TIMEOUT = 1.0
DNS_TRIES = 1
SHORT = {"aiohttp-ours": "aiohttp+ours", "httpx-ours": "httpx+ours",
         "aiohttp-aiodns": "aiohttp stock"}
_NOTES = """\
ok/s: successful requests per second (the one time figure). lost to DNS: lookups
of existing names that failed while the model was answering; in fault: during
its outage or a SERVFAIL burst. nx: names that do not exist. past TTL: answers
used after their TTL (aiohttp's own 10 s cache; our stale answers)."""


def _row(label: str, clients: list[dict[str, Any]], cell: Any) -> list[str]:
    return [label, *(cell(c) for c in clients)]


def _num(v: float | None, fmt: str = "{:,.0f}") -> str:
    return "-" if v is None else fmt.format(v)


def _fails(c: dict[str, Any], *keys: str) -> int:
    return sum(int(c["failures"].get(k, 0)) for k in keys)


def verdicts(clients: dict[str, dict[str, Any]]) -> list[str]:
    """Where aiohttp + ours wins and loses against stock aiohttp, one line each."""
    ours, stock = clients.get("aiohttp-ours"), clients.get("aiohttp-aiodns")
    if ours is None or stock is None:
        return []
    lines = []

    def say(win: bool, text: str) -> None:
        lines.append(f"{'win ' if win else 'lose'}  {text}")

    a, b = ours["ok_per_s"] or 0, stock["ok_per_s"] or 0
    say(a >= b, f"requests/s: {a:,.0f} vs {b:,.0f} ({a / b:.2f}x)" if b else "requests/s")
    a, b = ours["connect_ms"]["p95"], stock["connect_ms"]["p95"]
    if a is not None and b is not None:
        say(a <= b, f"connect p95: {a:,.0f} ms vs {b:,.0f} ms")
    # A client that gives up on slow lookups drops them from its connect times:
    # count each failed request to an existing name as a connect never finished.
    a, b = ours["connect_ms"].get("p95_all"), stock["connect_ms"].get("p95_all")
    if a is not None or b is not None:
        never = float("inf")
        say((never if a is None else a) <= (never if b is None else b),
            f"connect p95 counting failed requests: {_num(a)} ms vs {_num(b)} ms"
            .replace("- ms", "failed"))
    a, b = ours["lost_to_dns"], stock["lost_to_dns"]
    say(a <= b, f"requests lost to DNS while it answered: {a} vs {b}")
    a, b = ours["queries_per_host"], stock["queries_per_host"]
    if a is not None and b is not None:
        say(a <= b * 1.05, f"DNS queries per host: {a:.2f} vs {b:.2f}"
                           f"{' (within 5%)' if b < a <= b * 1.05 else ''}")
    a, b = ours["past_ttl"]["upstream_up"], stock["past_ttl"]["upstream_up"]
    say(a <= b, f"answers used past their TTL while DNS was up: {a} vs {b}")
    return lines


def _render(report: dict[str, Any]) -> None:
    d = report["demo"]
    clients = report["clients"]
    print(textwrap.fill(
        f"{d['hosts']:,} names, {d['concurrency']} requests in flight, {d['seconds']:g} s "
        "per client. DNS: misses ~30 ms (p99 800 ms), 1.5% of answers lost, SERVFAIL "
        f"bursts, an outage at {d['outage_at']:g} s for {d['outage_for']:g} s.", 80))
    rows = [
        _row("ok requests/s", clients, lambda c: _num(c["ok_per_s"])),
        _row("requests ok / failed", clients, lambda c: f"{c['ok']:,} / {c['failed']:,}"),
        _row("lost to DNS", clients, lambda c: str(c["lost_to_dns"])),
        _row("DNS failed in fault", clients,
             lambda c: str(_fails(c, "dns:upstream-failing"))),
        _row("DNS answered > 1 s", clients, lambda c: str(_fails(c, "dns:upstream-late"))),
        _row("nx / other failures", clients, lambda c: f"{_fails(c, 'dns:nx')} / " + str(
            c["failed"] - _fails(c, "dns:nx", "dns:upstream-failing",
                                 "dns:upstream-answering", "dns:upstream-late"))),
        _row("connect p50/p95 ms", clients,
             lambda c: f"{_num(c['connect_ms']['p50'])} / {_num(c['connect_ms']['p95'])}"),
        _row("DNS queries / host", clients, lambda c: _num(c["queries_per_host"], "{:.2f}")),
        _row("CPU ms / request", clients, lambda c: _num(c["cpu_ms_per_request"], "{:.2f}")),
        _row("past TTL (DNS up)", clients, lambda c: str(c["past_ttl"]["upstream_up"])),
    ]
    print()
    print_table("Three clients, one modelled network", ["", *(SHORT[c["id"]] for c in clients)],
                rows)
    lines = verdicts({c["id"]: c for c in clients})
    if lines:
        print()
        print("aiohttp + ours against stock aiohttp:")
        for line in lines:
            print(f"  {line}")
    print()
    print(_NOTES)


async def _run_all(args: argparse.Namespace) -> dict[str, Any]:
    from . import _crawl
    from ._backend import Backend

    quick = args.quick
    hosts = args.hosts or (8000 if quick else 20000)
    seconds = 2.5 if quick else 6.0
    outage = {"outage_at": round(0.55 * seconds, 2), "outage_for": round(0.12 * seconds, 2)}
    spec = {"hosts": hosts, "seed": args.seed, "profile": outage}
    results = []
    async with Backend(spec) as backend:
        info = backend.info
        plan = _crawl.Plan(hosts=hosts, seed=args.seed, seconds=seconds, concurrency=100,
                           ipv6=info["ipv6"], nameserver=info["dns"],
                           dns_timeout=DNS_TIMEOUT, dns_tries=DNS_TRIES)

        def url(host: Any) -> str:
            port = info["broken_port"] if host.kind == "broken6" else info["port"]
            return f"http://{host.name}:{port}/"

        for client in ("aiohttp-ours", "httpx-ours", "aiohttp-aiodns"):
            started = await backend.restart(**outage)
            windows = [(str(k), float(a), float(b)) for k, a, b in started["windows"]]
            tally = await _crawl.crawl(client, plan, url, windows)
            summary = _crawl.summarize(client, tally)
            counted = await backend.count()
            # Answers the model sent after the 1 s timeout are its doing, not lost.
            _crawl.separate_late(summary, counted["late"], DNS_TIMEOUT * DNS_TRIES + 0.5)
            summary["dns_queries"] = counted["count"]
            summary["queries_per_host"] = (round(counted["count"] / summary["distinct_hosts"],
                                                 3) if summary["distinct_hosts"] else None)
            results.append(summary)
            print(f"{SHORT[client]}: {summary['requests']:,} requests in {seconds:g} s",
                  file=sys.stderr, flush=True)
    return {
        "demo": {"hosts": hosts, "quick": quick, "seconds": seconds, "concurrency": 100,
                 "dns_server": info["dns"], "ipv6": info["ipv6"],
                 "black_hole": info["black_hole"], **outage},
        "clients": results,
    }


async def run(args: argparse.Namespace) -> int:
    """The ``demo`` command; returns the exit status."""
    try:
        import aiohttp  # noqa: F401
        import dnslib  # noqa: F401
        import httpx  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"the demo needs the [demo] extra ({exc.name} is missing): "
                         "pip install 'asyncdns-connect[demo]'") from None
    report = await _run_all(args)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _render(report)
    return 0
