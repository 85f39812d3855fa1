"""Loopback servers for the benchmarks, each in its own process.

A benchmark's client must not share an event loop or the GIL with the server it
measures, so every server here is a child process:

* ``KnotServer``: knotd serving the benchmark zones (the fast reference; about
  10x the queries/s of the dnslib test server, see ``server_ceiling``).
* ``DelayProxy``: a UDP relay in front of a server that holds every answer
  ``delay`` seconds before passing it on (the "server adding 20 ms" runs:
  knotd cannot add latency and ``tc netem`` is not available here).
* ``TestServerProcess``: ``asyncdns_connect.testing.DNSServer`` (dnslib) with
  per-name ``Fault.delay``; the fallback where knotd is not installed.

``reference_dns(hosts, delay)`` picks among them and puts the server on
127.0.0.1:53 when it can, so glibc's ``getaddrinfo`` (whose resolv.conf inside
``shared/netjail`` names 127.0.0.1) reaches it too.

Hand-written: the relay is a few lines of ID rewriting, and no package starts
knotd for a test. Run as a script it *is* the child (``proxy`` / ``testserver``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import _common as c

from asyncdns_connect.testing._sockets import grow_udp_buffers

KNOTD = shutil.which("knotd") or ("/usr/sbin/knotd" if os.path.exists("/usr/sbin/knotd") else None)
_BUFFER = 4 * 1024 * 1024
_START_TIMEOUT = 15.0

Hosts = Mapping[str, Sequence[str]]


# -- zone data -------------------------------------------------------------------


def bench_hosts(n: int, zone: str = "bench.test") -> dict[str, tuple[str, str]]:
    """``h{i}.<zone>`` with one A (documentation ranges) and one AAAA (2001:db8::/32).

    The addresses are data only: nothing ever connects to them.
    """
    nets = ("192.0.2", "198.51.100", "203.0.113")
    return {
        f"h{i}.{zone}": (f"{nets[(i >> 8) % 3]}.{i & 255}", f"2001:db8::{i:x}")
        for i in range(n)
    }


def _zones(hosts: Hosts) -> dict[str, list[tuple[str, str]]]:
    """Records grouped by zone apex (the name's last two labels)."""
    zones: dict[str, list[tuple[str, str]]] = {}
    for name, ips in hosts.items():
        apex = ".".join(name.rstrip(".").split(".")[-2:])
        for ip in ips:
            zones.setdefault(apex, []).append((name, ip))
    return zones


# -- ports -----------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on ``host``."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


def can_bind(host: str, port: int) -> bool:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, port))
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((host, port))
    except OSError:
        return False
    return True


def system_dns_is_ours() -> bool:
    """True when /etc/resolv.conf names only 127.0.0.1 (as inside ``shared/netjail``).

    Only then may a benchmark let glibc (ThreadedResolver, httpx's default
    transport) resolve: anywhere else the system resolver is off-limits.
    """
    if os.environ.get("NETJAIL_INSIDE") != "1":
        return False
    try:
        with open("/etc/resolv.conf") as f:
            servers = [line.split()[1] for line in f
                       if line.startswith("nameserver") and len(line.split()) > 1]
    except OSError:
        return False
    return bool(servers) and all(s == "127.0.0.1" for s in servers)


def wait_until_answering(host: str, port: int, name: str, timeout: float) -> None:
    """Poll with an A query for ``name`` until an answer with a record comes back."""
    from dnslib import DNSRecord

    deadline = time.monotonic() + timeout
    query = DNSRecord.question(name, "A")
    while True:
        with contextlib.suppress(OSError, socket.timeout):
            reply = DNSRecord.parse(query.send(host, port, timeout=0.2))
            if reply.rr:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"DNS server on {host}:{port} did not answer {name}")
        time.sleep(0.05)


# -- child processes -------------------------------------------------------------


class KnotServer:
    """knotd on ``host``:``port`` (UDP and TCP) serving ``hosts``, TTL ``ttl``."""

    def __init__(self, hosts: Hosts, host: str = "127.0.0.1", port: int = 53,
                 ttl: int = 3600, workers: int = 1) -> None:
        if KNOTD is None:
            raise RuntimeError("knotd is not installed")
        self.hosts, self.host, self.port, self.ttl, self.workers = hosts, host, port, ttl, workers
        self._dir: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.buffers_grown = 0

    def start(self) -> None:
        self._dir = d = tempfile.mkdtemp(prefix="bench-knot-")
        zone_conf = []
        for apex, records in _zones(self.hosts).items():
            lines = [f"$ORIGIN {apex}.", f"$TTL {self.ttl}",
                     f"@ SOA ns.{apex}. hostmaster.{apex}. 1 3600 600 86400 60",
                     f"@ NS ns.{apex}.", "ns A 127.0.0.1"]
            for name, ip in records:
                rtype = "AAAA" if ":" in ip else "A"
                lines.append(f"{name}. {rtype} {ip}")
            with open(os.path.join(d, f"{apex}.zone"), "w") as f:
                f.write("\n".join(lines) + "\n")
            zone_conf.append(f"  - domain: {apex}\n    file: {d}/{apex}.zone\n"
                             "    journal-content: none\n")
        with open(os.path.join(d, "knot.conf"), "w") as f:
            f.write(f"server:\n    rundir: {d}\n    listen: {self.host}@{self.port}\n"
                    f"    udp-workers: {self.workers}\n    tcp-workers: 1\n"
                    f"    background-workers: 1\n"
                    f"database:\n    storage: {d}\n"
                    "log:\n  - target: stderr\n    any: error\n"
                    "zone:\n" + "".join(zone_conf))
        assert KNOTD is not None
        self.proc = subprocess.Popen([KNOTD, "-c", os.path.join(d, "knot.conf")],
                                     stdin=subprocess.DEVNULL)
        try:
            wait_until_answering(self.host, self.port, next(iter(self.hosts)), _START_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        self.buffers_grown = grow_udp_buffers(self.proc.pid, _BUFFER)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            c.end_process(proc)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


class DelayProxy(c.ChildProcess):
    """A UDP relay on ``host``:``port`` to ``upstream`` holding answers ``delay`` s."""

    def __init__(self, upstream: tuple[str, int], delay: float, host: str = "127.0.0.1",
                 port: int = 53) -> None:
        self.upstream, self.delay, self.host, self.port = upstream, delay, host, port

    def start(self) -> None:
        self._spawn([sys.executable, os.path.abspath(__file__), "proxy",
                     f"{self.host}:{self.port}", f"{self.upstream[0]}:{self.upstream[1]}",
                     str(self.delay)])


class TestServerProcess(c.ChildProcess):
    """``asyncdns_connect.testing.DNSServer`` in a child, every name delayed ``delay`` s."""

    def __init__(self, hosts: Hosts, delay: float = 0.0, host: str = "127.0.0.1",
                 port: int = 53, ttl: int = 3600) -> None:
        self.hosts, self.delay, self.host, self.port, self.ttl = hosts, delay, host, port, ttl
        self._file: str | None = None

    def start(self) -> None:
        fd, self._file = tempfile.mkstemp(prefix="bench-zone-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump({k: list(v) for k, v in self.hosts.items()}, f)
        self._spawn([sys.executable, os.path.abspath(__file__), "testserver",
                     f"{self.host}:{self.port}", self._file, str(self.delay), str(self.ttl)])

    def stop(self) -> None:
        super().stop()
        if self._file is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._file)
            self._file = None


@dataclass(frozen=True)
class ServerInfo:
    """Where the reference server listens and what it is."""

    host: str
    port: int
    kind: str
    delay: float
    system: bool  # glibc getaddrinfo reaches it (127.0.0.1:53 inside netjail)
    note: str = ""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@contextlib.contextmanager
def reference_dns(hosts: Hosts, delay: float = 0.0, *, prefer_knot: bool = True,
                  port: int | None = None) -> Iterator[ServerInfo]:
    """Serve ``hosts`` on loopback answering after ``delay`` s, in child processes.

    knotd directly (no delay) or behind ``DelayProxy`` (delay); the dnslib test
    server where knotd is missing. On 127.0.0.1:53 when that port is free.
    """
    host = "127.0.0.1"
    if port is None:
        port = 53 if can_bind(host, 53) else free_port(host)
    system = port == 53 and system_dns_is_ours()
    started: list[Any] = []
    note = ""
    try:
        if prefer_knot and KNOTD is not None:
            if delay > 0:
                knot = KnotServer(hosts, host, free_port(host))
                knot.start()
                started.append(knot)
                note = _buffer_note(knot)
                proxy = DelayProxy((host, knot.port), delay, host, port)
                proxy.start()
                started.append(proxy)
                kind = f"knotd behind a delay relay (+{delay * 1000:.0f} ms)"
            else:
                knot = KnotServer(hosts, host, port)
                knot.start()
                started.append(knot)
                note = _buffer_note(knot)
                kind = "knotd"
        else:
            server = TestServerProcess(hosts, delay, host, port)
            server.start()
            started.append(server)
            kind = "asyncdns_connect.testing.DNSServer (child process)" + (
                f", Fault.delay({delay})" if delay > 0 else "")
        yield ServerInfo(host, port, kind, delay, system, note)
    finally:
        for server in reversed(started):
            server.stop()


def _buffer_note(knot: KnotServer) -> str:
    if knot.buffers_grown:
        return f"knotd's UDP receive buffer raised to {_BUFFER >> 20} MiB (pidfd_getfd)"
    return ("knotd's UDP receive buffer left at the kernel default: bursts may be "
            "dropped (see the UDP drop counts)")


# -- a raw UDP client: the server's own ceiling -------------------------------------


def server_ceiling(host: str, port: int, names: Sequence[str], window: int = 500,
                   timeout: float = 1.0) -> tuple[float, int]:
    """Answers/s and answers lost: A queries from a blocking socket, ``window`` out.

    The cheapest client Python has (prebuilt queries, no parsing): what it
    measures is the server, or the relay in front of it.
    """
    from dnslib import DNSRecord

    queries = []
    for i, name in enumerate(names):
        q = DNSRecord.question(name, "A")
        q.header.id = i & 0xFFFF
        queries.append(q.pack())
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _BUFFER)
    sock.connect((host, port))
    sock.settimeout(timeout)
    sent = received = 0
    start = last = time.perf_counter()
    try:
        while sent < min(window, len(queries)):
            sock.send(queries[sent])
            sent += 1
        while received < sent:
            try:
                sock.recv(4096)
            except TimeoutError:
                break  # lost answers: count what came back
            received += 1
            last = time.perf_counter()
            if sent < len(queries):
                sock.send(queries[sent])
                sent += 1
    finally:
        sock.close()
    return received / (last - start), sent - received


# -- the children ----------------------------------------------------------------


def _split(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":")
    return host, int(port)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class _Relay:
    """Client queries get a relay-unique ID upstream; answers are sent back later."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float) -> None:
        self.loop, self.delay = loop, delay
        self.pending: dict[int, tuple[bytes, Any]] = {}
        self.next_id = 0
        self.down: asyncio.DatagramTransport | None = None
        self.up: asyncio.DatagramTransport | None = None

    def from_client(self, data: bytes, addr: Any) -> None:
        if len(data) < 12 or self.up is None:
            return
        for _ in range(len(self.pending) + 1):
            nid = self.next_id
            self.next_id = (nid + 1) & 0xFFFF
            if nid not in self.pending:
                break
        else:
            return
        self.pending[nid] = (data[:2], addr)
        self.up.sendto(nid.to_bytes(2, "big") + data[2:])

    def from_upstream(self, data: bytes, _addr: Any) -> None:
        entry = self.pending.pop(int.from_bytes(data[:2], "big"), None)
        if entry is None or self.down is None:
            return
        reply = entry[0] + data[2:]
        if self.delay > 0:
            self.loop.call_later(self.delay, self.down.sendto, reply, entry[1])
        else:
            self.down.sendto(reply, entry[1])


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, handler: Any) -> None:
        self.handler = handler

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.handler(data, addr)


def _udp_socket(bind: tuple[str, int] | None = None,
                connect: tuple[str, int] | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        sock.setsockopt(socket.SOL_SOCKET, opt, _BUFFER)
    if bind:
        sock.bind(bind)
    if connect:
        sock.connect(connect)
    sock.setblocking(False)
    return sock


async def _run_proxy(listen: tuple[str, int], upstream: tuple[str, int], delay: float) -> None:
    loop = asyncio.get_running_loop()
    relay = _Relay(loop, delay)
    relay.down, _ = await loop.create_datagram_endpoint(
        lambda: _Datagrams(relay.from_client), sock=_udp_socket(bind=listen))
    relay.up, _ = await loop.create_datagram_endpoint(
        lambda: _Datagrams(relay.from_upstream), sock=_udp_socket(connect=upstream))
    print("READY", flush=True)
    await asyncio.Event().wait()


async def _run_testserver(listen: tuple[str, int], hosts: dict[str, list[str]], delay: float,
                          ttl: int) -> None:
    from asyncdns_connect.testing import DNSServer, Fault

    server = DNSServer(listen[0], listen[1])
    for name, ips in hosts.items():
        server.add_host(name, *ips, ttl=ttl)
        if delay > 0:
            server.fault(name, None, Fault.delay(delay))
    await server.start()
    print("READY", flush=True)
    await asyncio.Event().wait()


def _child_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("proxy")
    p.add_argument("listen")
    p.add_argument("upstream")
    p.add_argument("delay", type=float)
    t = sub.add_parser("testserver")
    t.add_argument("listen")
    t.add_argument("zone_file")
    t.add_argument("delay", type=float)
    t.add_argument("ttl", type=int)
    args = parser.parse_args(argv)
    loop = _new_loop() if args.what == "proxy" else asyncio.new_event_loop()
    if args.what == "proxy":
        coro = _run_proxy(_split(args.listen), _split(args.upstream), args.delay)
    else:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        with open(args.zone_file) as f:
            hosts = json.load(f)
        coro = _run_testserver(_split(args.listen), hosts, args.delay, args.ttl)
    with contextlib.suppress(KeyboardInterrupt):
        loop.run_until_complete(coro)


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    _child_main(sys.argv[1:])
