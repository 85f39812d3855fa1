"""The field model's servers in a child process: the DNS upstream and the web behind it.

Run as ``python -m asyncdns_connect._cli._backend``. The parent writes a spec as
one JSON line on standard input (population size and seed, network profile, DNS
address); the child starts ``DNSServer(network=NetworkModel(...))`` with the
population published and a ``FieldWeb``, answers with their addresses, then
obeys one JSON command per line until standard input closes:

* ``restart`` (optional ``outage_at``/``outage_for``): new model clock, empty
  upstream cache, empty query log; answers with the fault windows;
* ``count``: queries received since the restart, the model's counters, and the
  CPU seconds this process has used;
* ``dead``: answer nothing (``value`` true) or answer again.

A process of its own keeps the servers' work off the clients' loop and core;
uvloop is used when installed, to keep that work small.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from ..testing import (
    DNSServer,
    FieldWeb,
    NetworkModel,
    NetworkProfile,
    make_population,
    publish_population,
)
from ..testing._field import ipv6_loopback

__all__ = ["Backend"]

# The child must import this package from where the parent did.
_ROOT = str(Path(__file__).resolve().parents[2])


def _restart(dns: DNSServer, model: NetworkModel, cmd: dict[str, Any]) -> dict[str, Any]:
    changes = {k: cmd[k] for k in ("outage_at", "outage_for") if k in cmd}
    if changes:
        model.profile = dataclasses.replace(model.profile, **changes)
    model.restart()
    dns.dead = False
    dns.reset_log()
    return {"origin": model.origin, "windows": model.windows()}


def _obey(dns: DNSServer, model: NetworkModel, line: str) -> dict[str, Any]:
    cmd = json.loads(line)
    if cmd["cmd"] == "restart":
        return _restart(dns, model, cmd)
    if cmd["cmd"] == "count":
        # CPU seconds of this process (DNS and HTTP servers), so a run can show
        # the servers were not the bottleneck.
        return {"count": dns.count(), "network": model.counters(), "late": model.late(),
                "cpu_s": round(time.process_time(), 3)}
    if cmd["cmd"] == "dead":
        dns.dead = bool(cmd["value"])
    return {"ok": True}


async def _serve(stdin: IO[str], stdout: IO[str]) -> None:
    spec = json.loads(stdin.readline())
    ipv6 = bool(spec.get("ipv6", True)) and ipv6_loopback()
    hosts = make_population(spec["hosts"], spec["seed"], ipv6=ipv6)
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                              for k, v in spec.get("profile", {}).items()}
    profile = NetworkProfile(**fields)
    model = NetworkModel(profile, seed=spec["seed"])
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    dns = DNSServer(spec.get("dns_host", "127.0.0.1"), spec.get("dns_port", 0), network=model)
    async with dns, FieldWeb(ipv6=ipv6) as web:
        publish_population(dns, hosts, ipv6=ipv6)

        def reply(obj: dict[str, Any]) -> None:
            stdout.write(json.dumps(obj) + "\n")
            stdout.flush()

        def commands() -> None:
            try:
                for line in stdin:
                    reply(_obey(dns, model, line))
            finally:
                loop.call_soon_threadsafe(done.set_result, None)

        reply({"dns": dns.address, "port": web.port, "broken_port": web.broken_port,
               "black_hole": web.black_hole_works, "ipv6": ipv6, "pid": os.getpid()})
        threading.Thread(target=commands, daemon=True).start()
        await done


class Backend:
    """The parent's handle on the child process (``async with``)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self._spec = spec
        self._proc: asyncio.subprocess.Process | None = None
        self.info: dict[str, Any] = {}

    async def __aenter__(self) -> Backend:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "asyncdns_connect._cli._backend",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
            start_new_session=True)  # Ctrl-C goes to the parent, which stops the child
        try:
            self.info = await self._ask(self._spec)
            if "dns" not in self.info:
                raise OSError(f"the field servers did not start: {self.info}")
        except BaseException:
            await self.close()
            raise
        return self

    async def _ask(self, obj: dict[str, Any]) -> dict[str, Any]:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        proc.stdin.write((json.dumps(obj) + "\n").encode())
        await proc.stdin.drain()
        line = await proc.stdout.readline()
        if not line:
            raise OSError("the field server process ended unexpectedly")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def restart(self, **outage: float) -> dict[str, Any]:
        return await self._ask({"cmd": "restart", **outage})

    async def count(self) -> dict[str, Any]:
        return await self._ask({"cmd": "count"})

    async def set_dead(self, dead: bool) -> None:
        await self._ask({"cmd": "dead", "value": dead})

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            await asyncio.wait_for(proc.wait(), 5)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await asyncio.shield(proc.wait())
            raise

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()


def _main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        runner(_serve(sys.stdin, sys.stdout))


if __name__ == "__main__":
    _main()
