"""The fleet tier: many worker processes, each with its own Resolver, and a shared cache.

Behind everything, the model (``NetworkModel``: no loss, misses lognormal
around 30 ms) plays the authoritative server for the field population. For N
worker processes (each its own ``Resolver``, the names resolved A+AAAA, all
workers at once):

* direct: every worker asks the authoritative itself;
* shared: every worker asks unbound (started here on loopback, forwarding to the
  authoritative), a node-local caching resolver as Kubernetes' NodeLocal
  DNSCache is;
* shared tier down: the workers' caches have expired (``max_ttl=2``) when unbound
  stops answering (SIGSTOP); half the workers keep our serve-stale default,
  half run with ``stale_ttl=0``.

Reported: queries reaching the authoritative per distinct host, and lookups
answered while the shared tier is down. Run alone or from ``field.py``::

    ../shared/netjail python benchmarks/fleet.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import _common as c  # first: puts the work tree on sys.path

from asyncdns_connect._cli._backend import Backend

SELF = os.path.abspath(__file__)
UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
NAMES = {"full": 400, "quick": 120}
WORKERS = {"full": (4, 8), "quick": (4,)}
CONCURRENCY = 50
_UNBOUND_CONF = """server:
    interface: 127.0.0.1
    port: {port}
    do-ip6: no
    do-daemonize: no
    use-syslog: no
    logfile: ""
    verbosity: 0
    username: ""
    chroot: ""
    directory: "{dir}"
    pidfile: ""
    module-config: "iterator"
    qname-minimisation: no
    do-not-query-localhost: no
    num-threads: 1
    prefetch: no
    serve-expired: no
    cache-min-ttl: 0
    access-control: 127.0.0.0/8 allow
    # unbound answers .test itself (RFC 6761) unless told not to
    local-zone: "test." nodefault
remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: {upstream}
"""


# -- a worker process ------------------------------------------------------------------


async def worker_main(server: str, names: list[str], options: dict[str, Any]) -> None:
    """Child: READY; then one JSON result line per ``go`` line on stdin."""
    from asyncdns_connect import Resolver

    loop = asyncio.get_running_loop()
    async with Resolver([server], hosts_file=False, **options) as resolver:
        print("READY", flush=True)
        while (await loop.run_in_executor(None, sys.stdin.readline)).strip() == "go":
            print(json.dumps(await _resolve_all(resolver, names)), flush=True)


async def _resolve_all(resolver: Any, names: list[str]) -> dict[str, Any]:
    stale0 = resolver.stats().stale
    it = iter(names)
    ok = failed = 0
    times: list[float] = []

    async def one() -> None:
        nonlocal ok, failed
        for name in it:
            start = time.monotonic()
            try:
                await resolver.resolve(name)
            except OSError:
                failed += 1
            else:
                ok += 1
            times.append(time.monotonic() - start)

    await asyncio.gather(*(one() for _ in range(CONCURRENCY)))
    times.sort()
    return {"ok": ok, "failed": failed, "stale": resolver.stats().stale - stale0,
            "p50_ms": round(1000 * times[len(times) // 2], 1)}


class Workers:
    """N worker processes, each with its own Resolver, driven in step."""

    def __init__(self, n: int, server: str, names_file: str,
                 options: Sequence[dict[str, Any]]) -> None:
        self.argv = [[sys.executable, SELF, "--worker", server, names_file, json.dumps(o)]
                     for o in (list(options) * n)[:n]]
        self.procs: list[asyncio.subprocess.Process] = []

    async def __aenter__(self) -> Workers:
        try:
            for argv in self.argv:
                self.procs.append(await asyncio.create_subprocess_exec(
                    *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE))
            for p in self.procs:
                assert p.stdout is not None
                if not (await p.stdout.readline()).startswith(b"READY"):
                    raise RuntimeError("a fleet worker did not start")
        except BaseException:
            await self.close()
            raise
        return self

    async def go(self) -> list[dict[str, Any]]:
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write(b"go\n")
            await p.stdin.drain()
        out = []
        for p in self.procs:
            assert p.stdout is not None
            out.append(json.loads(await p.stdout.readline()))
        return out

    async def close(self) -> None:
        for p in self.procs:
            if p.stdin is not None:
                p.stdin.close()
        for p in self.procs:
            try:
                await asyncio.wait_for(p.wait(), 5)
            except asyncio.TimeoutError:
                p.kill()
                await p.wait()
        self.procs = []

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# -- unbound -------------------------------------------------------------------------


class _PortTaken(Exception):
    pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_conf(directory: str, port: int, upstream: str) -> str:
    conf = os.path.join(directory, "unbound.conf")
    with open(conf, "w") as f:
        f.write(_UNBOUND_CONF.format(port=port, dir=directory, upstream=upstream))
    return conf


class Unbound:
    """unbound on 127.0.0.1:<free port>, forwarding everything to ``upstream``."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = f"{host}@{port}"
        self.port = 0
        self.dir = tempfile.mkdtemp(prefix="fleet-unbound-")
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> Unbound:
        for attempt in range(5):  # the free port may be taken before unbound binds it
            try:
                await self._start()
                return self
            except _PortTaken:
                if attempt == 4:
                    raise RuntimeError("unbound found no free port") from None
        raise AssertionError("unreachable")

    async def _start(self) -> None:
        self.port = _free_port()
        conf = _write_conf(self.dir, self.port, self.upstream)
        proc = self.proc = await asyncio.create_subprocess_exec(
            UNBOUND, "-d", "-c", conf, stdin=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:  # ready once it accepts TCP on its port
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                if proc.returncode is not None or time.monotonic() > deadline:
                    err = b"" if proc.stderr is None else await proc.stderr.read()
                    await self.close(keep_dir=True)
                    if b"already in use" in err:
                        raise _PortTaken from None
                    raise RuntimeError(f"unbound did not start: {err.decode()[-300:]}") from None
                await asyncio.sleep(0.05)

    def pause(self, paused: bool) -> None:
        """Stop (SIGSTOP) or resume answering: queries queue up unanswered."""
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGSTOP if paused else signal.SIGCONT)

    async def close(self, keep_dir: bool = False) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        if not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# -- the run -------------------------------------------------------------------------


async def run(*, quick: bool, seed: int = 1) -> dict[str, Any]:
    from asyncdns_connect.testing import make_population

    size = "quick" if quick else "full"
    n_names = NAMES[size]
    # Existing names only: a failed lookup here is a finding, not the design.
    names = [h.name for h in make_population(n_names, seed + 100) if h.exists]
    options = {"timeout": 1.0, "tries": 2}
    spec = {"hosts": n_names, "seed": seed + 100,
            "profile": {"loss": 0.0, "burst_every": 0.0}}
    rows: list[dict[str, Any]] = []
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(names, f)
    try:
        async with Backend(spec) as auth:
            authority = auth.info["dns"]

            async def phase(n: int, tier: str, server: str) -> None:
                async with Workers(n, server, f.name, [options]) as workers:
                    await auth.restart()
                    results = await workers.go()
                queries = (await auth.count())["count"]
                rows.append({"workers": n, "tier": tier, "authoritative_queries": queries,
                             "per_host": round(queries / len(names), 2),
                             "failed": sum(r["failed"] for r in results)})

            for n in WORKERS[size]:
                await phase(n, "direct", authority)
                async with Unbound(authority) as unbound:
                    await phase(n, "shared", unbound.address)
            stale = await _stale_phase(auth, f.name, options)
    finally:
        os.unlink(f.name)
    return {"names": len(names), "resolver_options": options, "rows": rows, "stale": stale}


async def _stale_phase(auth: Backend, names_file: str, options: dict[str, Any]
                       ) -> dict[str, Any]:
    """Warm 4 workers through unbound, let their entries expire, then pause unbound."""
    kinds = [{**options, "max_ttl": 2}, {**options, "max_ttl": 2, "stale_ttl": 0}]
    await auth.restart()
    async with Unbound(auth.info["dns"]) as unbound, \
            Workers(4, unbound.address, names_file, kinds) as workers:
        warm = await workers.go()
        await asyncio.sleep(2.5)
        unbound.pause(True)
        try:
            down = await workers.go()
        finally:
            unbound.pause(False)
    out = {}
    for label, idx in (("serve-stale (default)", (0, 2)), ("stale_ttl=0", (1, 3))):
        out[label] = {
            "warm_ok": sum(warm[i]["ok"] for i in idx),
            "down_ok": sum(down[i]["ok"] for i in idx),
            "down_failed": sum(down[i]["failed"] for i in idx),
            "down_stale": sum(down[i]["stale"] for i in idx),
            "down_p50_ms": max(down[i]["p50_ms"] for i in idx),
        }
    return out


def markdown(data: dict[str, Any]) -> str:
    by = {(r["workers"], r["tier"]): r for r in data["rows"]}
    rows = []
    for n in sorted({r["workers"] for r in data["rows"]}):
        d, s = by.get((n, "direct")), by.get((n, "shared"))
        rows.append([n, c.num(d and d["per_host"], 2), c.num(s and s["per_host"], 2),
                     f"{d and d['failed']} / {s and s['failed']}"])
    stale_rows = [[label, v["warm_ok"], f"{v['down_ok']} ({v['down_stale']} stale)",
                   v["down_failed"], c.num(v["down_p50_ms"])]
                  for label, v in data["stale"].items()]
    opts = data["resolver_options"]
    return "\n".join([
        "## Fleet tier: per-process caches, with and without a shared caching resolver",
        "",
        f"{data['names']} names, every worker resolving all of them (A+AAAA) at once; "
        f"Resolver timeout {opts['timeout']:g} s, tries {opts['tries']}. The "
        "authoritative is the model without loss (misses lognormal, median 30 ms).",
        "",
        c.md_table(["workers", "authoritative queries / host, direct",
                    "... behind unbound", "failed lookups (direct / shared)"], rows),
        "",
        "Shared tier down (unbound stopped with SIGSTOP) after the workers' entries "
        "expired (max_ttl 2 s); 2 workers per row:",
        "",
        c.md_table(["workers' Resolver", "lookups ok (warm)", "lookups ok (tier down)",
                    "failed", "p50 ms (tier down)"], stale_rows),
    ]) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "--worker":
        server, names_file, options = argv[1:4]
        with open(names_file) as f:
            names = json.load(f)
        asyncio.run(worker_main(server, names, json.loads(options)))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=c.RESULTS)
    args = p.parse_args(argv)
    data = asyncio.run(run(quick=args.quick))
    c.report(args, data, markdown(data), "fleet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
