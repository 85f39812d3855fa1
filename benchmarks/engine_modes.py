"""pycares on the event loop (``sock_state_cb``) against pycares's own event thread.

Three ways to drive one pycares channel from asyncio, on the same loopback
server (knotd in its own process), with the same names (A queries, each name
once) and the same number of queries in flight:

* ``sock_state_cb``: what ``asyncdns_connect._engine.Engine`` does: the loop
  watches c-ares's sockets and answers arrive on the loop thread.
* thread, batched: c-ares's event thread; its callbacks append to a list and one
  ``loop.call_soon_threadsafe`` per batch wakes the loop (``BatchedThreadEngine``
  below), not one per answer.
* thread, per answer: one ``call_soon_threadsafe`` per answer (aiodns's way).

Reports queries/s and CPU per query (process user+sys, both threads counted),
median of ``--repeat`` runs taken in turn.

    ../shared/netjail python benchmarks/engine_modes.py [--sizes 2000,10000]
        [--concurrency 500] [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from collections.abc import Sequence
from typing import Any

import _common as c  # first: puts the work tree on sys.path
import _dnsserver as ds
import pycares

from asyncdns_connect._engine import ChannelOptions, Engine

_BUFFER = 4 * 1024 * 1024
A = pycares.QUERY_TYPE_A


class BatchedThreadEngine:
    """A thread-mode channel whose answers reach the loop in batches.

    c-ares calls back on its own thread; the callback only appends to a list
    under a lock, and the first answer of a batch schedules one ``_drain`` on the
    loop. Everything that touches a future runs on the loop thread.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, server: str) -> None:
        self._loop = loop
        self._channel = pycares.Channel(servers=[server], socket_receive_buffer_size=_BUFFER,
                                        socket_send_buffer_size=1024 * 1024)
        self._lock = threading.Lock()
        self._done: list[tuple[asyncio.Future[Any], Any, int | None]] = []
        self._scheduled = False
        self.wakeups = 0

    def query(self, name: str, qtype: int) -> asyncio.Future[Any]:
        fut = self._loop.create_future()

        def answered(result: Any, error: int | None) -> None:  # on c-ares's thread
            with self._lock:
                self._done.append((fut, result, error))
                if self._scheduled:
                    return
                self._scheduled = True
            self._loop.call_soon_threadsafe(self._drain)

        self._channel.query(name, qtype, callback=answered)
        return fut

    def _drain(self) -> None:
        with self._lock:
            done, self._done = self._done, []
            self._scheduled = False
        self.wakeups += 1
        for fut, result, error in done:
            _settle(fut, result, error)

    def close(self) -> None:
        self._channel.close()


class PerAnswerThreadEngine:
    """A thread-mode channel with one loop wake-up per answer (as aiodns does)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server: str) -> None:
        self._loop = loop
        self._channel = pycares.Channel(servers=[server], socket_receive_buffer_size=_BUFFER,
                                        socket_send_buffer_size=1024 * 1024)

    def query(self, name: str, qtype: int) -> asyncio.Future[Any]:
        fut = self._loop.create_future()
        call = self._loop.call_soon_threadsafe

        def answered(result: Any, error: int | None) -> None:
            call(_settle, fut, result, error)

        self._channel.query(name, qtype, callback=answered)
        return fut

    def close(self) -> None:
        self._channel.close()


class LoopEngine:
    """``asyncdns_connect._engine.Engine``: the sock_state_cb integration."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server: str, concurrency: int) -> None:
        self._engine = Engine(loop, ChannelOptions(servers=(server,)), max(concurrency, 512))

    def query(self, name: str, qtype: int) -> asyncio.Future[Any]:
        return self._engine.query(name, qtype)

    def close(self) -> None:
        self._engine.close()


def _settle(fut: asyncio.Future[Any], result: Any, error: int | None) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(OSError(error, pycares.errno.strerror(error)))
    else:
        fut.set_result(result)


MODES = {
    "sock_state_cb": ("sock_state_cb on the loop (asyncdns_connect Engine)", LoopEngine),
    "thread-batched": ("event thread, batched hand-off (one wake-up per batch)",
                       BatchedThreadEngine),
    "thread-per-answer": ("event thread, one call_soon_threadsafe per answer (aiodns)",
                          PerAnswerThreadEngine),
}


async def run_mode(mode: str, server: str, names: Sequence[str], concurrency: int
                   ) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    cls = MODES[mode][1]
    engine: Any = cls(loop, server, concurrency) if cls is LoopEngine else cls(loop, server)

    async def one(name: str) -> int:
        result = await engine.query(name, A)
        return 2 if result.answer else 0  # run_concurrently counts under 2 as short

    drops = c.udp_drops()
    cpu = c.cpu_seconds()
    try:
        seconds, failures, short = await c.run_concurrently(one, names, concurrency)
    finally:
        used = c.cpu_seconds() - cpu
        engine.close()
    out = {"qps": len(names) / seconds, "seconds": seconds, "failures": failures,
           "empty": short, "cpu_us_per_query": used / len(names) * 1e6,
           "udp_drops": c.udp_drops() - drops}
    if isinstance(engine, BatchedThreadEngine):
        out["answers_per_wakeup"] = len(names) / max(engine.wakeups, 1)
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    hosts = ds.bench_hosts(max(args.sizes))
    data: dict[str, Any] = {
        "benchmark": "engine_modes",
        "settings": {"sizes": args.sizes, "concurrency": args.concurrency,
                     "repeat": args.repeat, "loop": args.loop, "quick": args.quick},
        "machine": c.machine(args.busy),
        "versions": c.versions("pycares", "asyncdns-connect"),
        "modes": {k: v[0] for k, v in MODES.items()},
        "results": {},
    }
    with ds.reference_dns(hosts, 0.0) as info:
        data["server"] = {"kind": info.kind, "address": info.address, "note": info.note}
        names_all = list(hosts)
        for mode in MODES:  # warm-up: first-use costs of each code path are not measured
            await run_mode(mode, info.address, names_all[:min(500, len(names_all))],
                           args.concurrency)
        for size in args.sizes:
            names = names_all[:size]
            runs: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
            for _ in range(args.repeat):
                for mode in MODES:
                    r = await run_mode(mode, info.address, names, args.concurrency)
                    runs[mode].append(r)
                    print(f"  {size} names {mode}: {r['qps']:,.0f} q/s", file=sys.stderr)
            data["results"][str(size)] = {m: _summary(rs) for m, rs in runs.items()}
    data["verdict"] = _verdict(data)
    data["errors"] = dict(c.ERRORS)
    return data


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = {"qps": c.median([r["qps"] for r in runs]),
           "best_qps": max(r["qps"] for r in runs),
           "runs": [round(r["qps"]) for r in runs],
           "cpu_us_per_query": c.median([r["cpu_us_per_query"] for r in runs]),
           "failures": sum(r["failures"] for r in runs),
           "udp_drops": sum(r["udp_drops"] for r in runs)}
    if "answers_per_wakeup" in runs[0]:
        out["answers_per_wakeup"] = c.median([r["answers_per_wakeup"] for r in runs])
    return out


def _verdict(data: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for size, res in data["results"].items():
        loop_q, batch_q = res["sock_state_cb"]["qps"], res["thread-batched"]["qps"]
        faster = "sock_state_cb" if loop_q >= batch_q else "thread-batched"
        loop_b, batch_b = res["sock_state_cb"]["best_qps"], res["thread-batched"]["best_qps"]
        out[size] = {"faster": faster, "ratio": max(loop_q, batch_q) / min(loop_q, batch_q),
                     "faster_best": "sock_state_cb" if loop_b >= batch_b else "thread-batched",
                     "ratio_best": max(loop_b, batch_b) / min(loop_b, batch_b)}
    return out


def markdown(data: dict[str, Any]) -> str:
    s = data["settings"]
    out = [f"# pycares engine modes ({data['machine']['time']})", "",
           f"Server: {data['server']['kind']} on {data['server']['address']} "
           f"({data['server']['note']}). Distinct names, A queries, "
           f"{s['concurrency']} in flight, {s['loop']} loop; median of {s['repeat']} runs "
           "taken in turn. CPU: process user+sys per query (both threads).", ""]
    rows = []
    for size, res in data["results"].items():
        for mode, r in res.items():
            extra = (f"{r['answers_per_wakeup']:.1f} answers per wake-up"
                     if "answers_per_wakeup" in r else "")
            rows.append([f"{int(size):,}", data["modes"][mode], c.num(r["qps"]),
                         c.num(r["best_qps"]), ", ".join(f"{x:,}" for x in r["runs"]),
                         f"{r['cpu_us_per_query']:.0f}", r["failures"], r["udp_drops"], extra])
    out.append(c.md_table(["names", "mode", "queries/s (median)", "best", "runs",
                           "CPU µs/query", "failures", "UDP drops", ""], rows))
    out.append("")
    for size, v in data["verdict"].items():
        out.append(f"- {int(size):,} names: **{v['faster']}** is faster, by {v['ratio']:.2f}x "
                   "in the median (sock_state_cb against thread mode with batched "
                   f"hand-off); best runs: {v['faster_best']} by {v['ratio_best']:.2f}x.")
    out += ["", "Other work on the machine (test suites) makes single runs vary a lot; "
            "the median and the CPU per query are the numbers to compare. Thread mode "
            "can use the second CPU for c-ares's socket reads, the loop mode cannot."]
    if data.get("errors"):
        out += ["", "Errors seen: " + "; ".join(f"{k} x{v}" for k, v in data["errors"].items())]
    out += ["", "Versions: " + ", ".join(f"{k} {x}" for k, x in data["versions"].items()) +
            ". " + c.machine_line(data["machine"])]
    return "\n".join(out) + "\n"


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="2000,10000", help="names per run, comma-separated")
    p.add_argument("--concurrency", type=int, default=500, help="queries in flight (500)")
    p.add_argument("--repeat", type=int, default=5, help="runs per mode and size (median)")
    p.add_argument("--quick", action="store_true", help="tiny counts: proves the script runs")
    c.add_common_args(p)
    args = p.parse_args(argv)
    args.sizes = [int(x) for x in str(args.sizes).split(",") if x]
    if args.quick:
        args.sizes = [min(x, 200) for x in args.sizes][:1]
        args.concurrency = min(args.concurrency, 50)
        args.repeat = 1
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    c.prepare(args)
    data = c.run(main_async(args), args.loop)
    c.report(args, data, markdown(data), "engine_modes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
