"""The demo's servers, run in a child process so they do not share the clients' loop.

Run as ``python -m asyncdns_connect._cli._backend``. The parent writes the zone
as one JSON line on standard input; the child starts the test DNS server and
the loopback HTTP servers, answers with their addresses, then obeys one JSON
command per line (``dead``, ``reset``, ``count``) until standard input closes.
The DNS server's controls are thread-safe, so commands run on a reader thread.

Measured client timings were dominated by the servers' own work when all ran
on one event loop; a second process gives the clients a loop of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from ..testing import DNSServer
from ._web import LoopbackWeb, ipv6_loopback
from ._zone import DemoHost, publish

__all__ = ["Backend"]

# The child must import this package from where the parent did.
_ROOT = str(Path(__file__).resolve().parents[2])


def _obey(dns: DNSServer, line: str) -> dict[str, Any]:
    cmd = json.loads(line)
    if cmd["cmd"] == "dead":
        dns.dead = bool(cmd["value"])
    elif cmd["cmd"] == "reset":
        dns.reset_log()
    elif cmd["cmd"] == "count":
        return {"count": dns.count()}
    return {"ok": True}


async def _serve(stdin: IO[str], stdout: IO[str]) -> None:
    spec = json.loads(stdin.readline())
    hosts = [DemoHost(**h) for h in spec["hosts"]]
    ipv6 = bool(spec["ipv6"]) and ipv6_loopback()
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    async with DNSServer() as dns, LoopbackWeb(ipv6=ipv6) as web:
        publish(dns, hosts, ipv6=ipv6)

        def reply(obj: dict[str, Any]) -> None:
            stdout.write(json.dumps(obj) + "\n")
            stdout.flush()

        def commands() -> None:
            for line in stdin:
                reply(_obey(dns, line))
            loop.call_soon_threadsafe(done.set_result, None)

        reply({"dns": dns.address, "port": web.port, "broken_port": web.broken_port,
               "black_hole": web.black_hole_works, "ipv6": ipv6})
        threading.Thread(target=commands, daemon=True).start()
        await done


class Backend:
    """The parent's handle on the child process (``async with``)."""

    def __init__(self, hosts: list[DemoHost], *, ipv6: bool) -> None:
        self._spec = {"hosts": [asdict(h) for h in hosts], "ipv6": ipv6}
        self._proc: asyncio.subprocess.Process | None = None
        self.info: dict[str, Any] = {}

    async def __aenter__(self) -> Backend:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "asyncdns_connect._cli._backend",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env)
        try:
            self.info = await self._ask(self._spec)
            if "dns" not in self.info:
                raise OSError(f"the demo's servers did not start: {self.info}")
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
            raise OSError("the demo's server process ended unexpectedly")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def set_dead(self, dead: bool) -> None:
        await self._ask({"cmd": "dead", "value": dead})

    async def reset_log(self) -> None:
        await self._ask({"cmd": "reset"})

    async def count(self) -> int:
        return int((await self._ask({"cmd": "count"}))["count"])

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):  # the parent was interrupted too
        asyncio.run(_serve(sys.stdin, sys.stdout))
