"""Helpers shared by the benchmark scripts: timing, drop counters, output files."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from importlib import metadata
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")

if ROOT not in sys.path:  # run as a script from anywhere: import the work tree
    sys.path.insert(0, ROOT)


def cpu_seconds() -> float:
    """User + system CPU of this process so far, every thread counted."""
    return time.process_time()


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def udp_drops() -> int:
    """Datagrams the kernel dropped for a full receive buffer (this network namespace).

    Inside netjail the namespace holds only the benchmark, so a rise during a run
    means the server or a client lost queries and the run waited on retries.
    """
    try:
        with open("/proc/net/snmp") as f:
            rows = [line.split() for line in f if line.startswith("Udp:")]
        return int(dict(zip(rows[0], rows[1], strict=True))["RcvbufErrors"])
    except (OSError, KeyError, IndexError, ValueError):
        return 0


ERRORS: Counter[str] = Counter()  # every failure seen, by kind, for the report


async def run_concurrently(lookup: Callable[[str], Awaitable[int]], names: Iterable[str],
                           concurrency: int) -> tuple[float, int, int]:
    """Run ``lookup`` over ``names`` with ``concurrency`` in flight.

    Returns (seconds, failures, short answers); ``lookup`` returns how many
    addresses it got and a result under 2 (A + AAAA) counts as short. Failures
    are also counted by kind in ``ERRORS``.
    """
    it = iter(names)
    failures = short = 0

    async def worker() -> None:
        nonlocal failures, short
        for name in it:
            try:
                n = await lookup(name)
            except Exception as exc:
                failures += 1
                ERRORS[f"{type(exc).__name__}: {exc}"[:120]] += 1
                continue
            if n < 2:
                short += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, failures, short


def versions(*packages: str) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def cpu_busy(sample: float = 1.0) -> float:
    """The share of all CPUs busy over ``sample`` seconds (from /proc/stat)."""
    def read() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle

    try:
        total0, idle0 = read()
        time.sleep(sample)
        total1, idle1 = read()
    except (OSError, ValueError, IndexError):
        return float("nan")
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_for_quiet(max_seconds: float, busy_below: float = 0.15) -> float:
    """Wait (at most ``max_seconds``) until other work leaves the CPUs idle.

    Returns the last busy share seen. Other test suites on a 2-core machine
    skew every number here, so a full run waits for them to finish first.
    """
    deadline = time.monotonic() + max_seconds
    busy = cpu_busy()
    while busy >= busy_below and time.monotonic() < deadline:
        print(f"waiting for a quiet machine: CPUs {busy:.0%} busy", file=sys.stderr)
        time.sleep(4)
        busy = cpu_busy()
    return busy


def machine(busy: float | None = None) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "cpu_busy_before": None if busy is None else round(busy, 3),
        "platform": platform.platform(),
        "netjail": os.environ.get("NETJAIL_INSIDE") == "1",
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def machine_line(m: dict[str, Any]) -> str:
    busy = m.get("cpu_busy_before")
    quiet = "" if busy is None else f", CPUs {busy:.0%} busy just before"
    return (f"Machine: {m['cpus']} CPUs, load average before {m['load_before']}{quiet}; "
            "client, DNS server and relay share them.")


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def num(x: float | None, digits: int = 0) -> str:
    if x is None or x != x:
        return "n/a"
    return f"{x:,.{digits}f}"


def ratio(x: float | None, base: float | None) -> float | None:
    if not x or not base or x != x or base != base:
        return None
    return x / base


def times(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.2f}x" if r < 10 else f"{r:.0f}x"


def write(out_dir: str, name: str, text: str) -> str:
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def write_json(out_dir: str, name: str, data: Any) -> str:
    return write(out_dir, name, json.dumps(data, indent=2, sort_keys=False) + "\n")


def run(main: Awaitable[Any], loop_kind: str) -> Any:
    """Run ``main`` to completion on a new loop of ``loop_kind`` (asyncio or uvloop)."""
    loop = new_loop(loop_kind)
    try:
        return loop.run_until_complete(main)
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def add_common_args(p: Any) -> None:
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio",
                   help="event loop (default asyncio)")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                   help="first wait up to S seconds for idle CPUs (other test runs)")
    p.add_argument("--out", default=RESULTS, help="output directory")


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def jail_warning() -> str | None:
    if os.environ.get("NETJAIL_INSIDE") == "1":
        return None
    return ("not inside shared/netjail: contenders that use the system resolver "
            "(glibc getaddrinfo) are skipped")


class ChildProcess:
    """A child process that prints READY once it serves."""

    proc: subprocess.Popen[bytes] | None = None

    def _spawn(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line.startswith("READY"):
            self.stop()
            raise RuntimeError(f"{argv[1:4]} failed to start: {line!r}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        end_process(proc)
        if proc.stdout is not None:
            proc.stdout.close()


def end_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 5 s: a benchmark never leaves a child behind."""
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def prepare(args: Any) -> None:
    """Warn outside the jail; wait for quiet CPUs if asked (``args.busy`` records it)."""
    warning = jail_warning()
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    args.busy = wait_for_quiet(args.wait_quiet) if args.wait_quiet else None


def report(args: Any, data: Any, text: str, stem: str) -> None:
    """Print the Markdown and write ``stem``.md and ``stem``.json under ``args.out``."""
    print(text)
    write(args.out, f"{stem}.md", text)
    write_json(args.out, f"{stem}.json", data)
