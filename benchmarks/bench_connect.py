"""Connecting to a host with a broken IPv6 path: ours against stock aiohttp and httpx.

Each "broken6" host name has A 127.0.0.1 (an HTTP responder) and AAAA ::1 (a
black hole on the same port: SYNs never answered). Every request opens a new
connection. Per contender and round, a fresh name is fetched: the first
connection, four later ones, then one more after the records' TTL (1 s) ran out
(the refresh). The clock runs around each request only.

Contenders (same DNS server, ``asyncdns_connect.testing`` on 127.0.0.1:53, which
inside netjail is what glibc and aiodns ask):

* aiohttp + asyncdns_connect (``connector(resolver)``) and httpx +
  asyncdns_connect (``AsyncResolverTransport``);
* stock aiohttp (``TCPConnector()``: its default resolver, its 10 s DNS cache)
  and stock httpx (anyio: getaddrinfo, then its own Happy Eyeballs).

Then small keep-alive POSTs (100 bytes) over one connection through the sync
``ResolverTransport`` against httpx's own ``HTTPTransport``, side by side.

    ../shared/netjail python benchmarks/bench_connect.py [--rounds 5] [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import _common as c  # first: puts the work tree on sys.path
import aiohttp
import httpx

from asyncdns_connect import Resolver
from asyncdns_connect.aiohttp import connector
from asyncdns_connect.httpx import AsyncResolverTransport, ResolverTransport
from asyncdns_connect.testing import BlackHole, ThreadedDNSServer, bind_same_port

OURS_AIOHTTP = "aiohttp + asyncdns_connect"
OURS_HTTPX = "httpx + asyncdns_connect"
STOCK_AIOHTTP = "aiohttp (stock)"
STOCK_HTTPX = "httpx (stock)"
TTL = 1
LATER = 4


class Responder(asyncio.Protocol):
    """HTTP/1.1 keep-alive: answers each request once its whole body is in."""

    def __init__(self) -> None:
        self.buf = b""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, _, rest = self.buf.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(rest) < length:
                return
            self.buf = rest[length:]
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


@contextlib.contextmanager
def broken6_web() -> Iterator[int]:
    """The responder on 127.0.0.1:P (its own thread and loop), a black hole on [::1]:P."""
    v4, v6 = bind_same_port("127.0.0.1", "::1")
    port = v4.getsockname()[1]
    hole = BlackHole(v6)
    loop = asyncio.new_event_loop()
    v4.listen(128)
    server = loop.run_until_complete(loop.create_server(Responder, sock=v4))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()
        hole.close()


Fetch = Callable[[str], Awaitable[None]]


@contextlib.asynccontextmanager
async def contender(kind: str, dns: str) -> Any:
    """A fetch function making one new connection per call."""
    if kind in (OURS_AIOHTTP, STOCK_AIOHTTP):
        conn = (connector(_shared(dns), force_close=True) if kind == OURS_AIOHTTP
                else aiohttp.TCPConnector(force_close=True))
        async with aiohttp.ClientSession(connector=conn) as session:
            async def fetch(url: str) -> None:
                async with session.get(url) as response:
                    response.raise_for_status()
                    await response.read()
            yield fetch
        return
    limits = httpx.Limits(max_keepalive_connections=0)
    transport = (AsyncResolverTransport(_shared(dns), limits=limits) if kind == OURS_HTTPX
                 else httpx.AsyncHTTPTransport(limits=limits))
    async with httpx.AsyncClient(transport=transport, trust_env=False, timeout=10) as client:
        async def fetch_httpx(url: str) -> None:
            (await client.get(url)).raise_for_status()
        yield fetch_httpx


_RESOLVERS: dict[str, Resolver] = {}


def _shared(dns: str) -> Resolver:
    """One Resolver per run for our two clients, as an application would have."""
    if dns not in _RESOLVERS:
        _RESOLVERS[dns] = Resolver([dns])
    return _RESOLVERS[dns]


async def timed(fetch: Fetch, url: str) -> float:
    started = time.perf_counter()
    await fetch(url)
    return time.perf_counter() - started


async def broken6(dns_server: ThreadedDNSServer, port: int, kinds: list[str], rounds: int
                  ) -> dict[str, dict[str, list[float]]]:
    dns = dns_server.address
    out: dict[str, dict[str, list[float]]] = {
        k: {"first": [], "later": [], "after_refresh": []} for k in kinds}
    for r in range(rounds):
        names = {k: f"r{r}-{i}.broken6.test" for i, k in enumerate(kinds)}
        for name in names.values():
            dns_server.add_host(name, "127.0.0.1", "::1", ttl=TTL)
        async with contextlib.AsyncExitStack() as stack:
            fetches = {k: await stack.enter_async_context(contender(k, dns)) for k in kinds}
            for k in kinds:
                url = f"http://{names[k]}:{port}/"
                out[k]["first"].append(await timed(fetches[k], url))
                for _ in range(LATER):
                    out[k]["later"].append(await timed(fetches[k], url))
            await asyncio.sleep(TTL + 0.3)  # every name's records have expired
            for k in kinds:
                url = f"http://{names[k]}:{port}/"
                out[k]["after_refresh"].append(await timed(fetches[k], url))
    for resolver in _RESOLVERS.values():
        await resolver.close()
    _RESOLVERS.clear()
    return out


def keep_alive_posts(dns_server: ThreadedDNSServer, port: int, n: int) -> dict[str, float]:
    dns_server.add_host("post.test", "127.0.0.1")
    resolver = Resolver([dns_server.address])
    ours: list[float] = []
    stock: list[float] = []
    body = b"x" * 100
    with httpx.Client(transport=ResolverTransport(resolver)) as a, \
            httpx.Client(trust_env=False) as b:
        for _ in range(n):
            for client, times, host in ((a, ours, "post.test"), (b, stock, "127.0.0.1")):
                started = time.perf_counter()
                client.post(f"http://{host}:{port}/", content=body).raise_for_status()
                times.append(time.perf_counter() - started)
    asyncio.run(resolver.close())
    return {"ours_p50_ms": statistics.median(ours[5:]) * 1e3,
            "stock_p50_ms": statistics.median(stock[5:]) * 1e3}


def ms(values: list[float], q: float = 0.5) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--posts", type=int, default=200)
    p.add_argument("--quick", action="store_true", help="1 round, 30 posts")
    c.add_common_args(p)
    args = p.parse_args()
    if args.quick:
        args.rounds, args.posts = 1, 30
    c.prepare(args)
    kinds = [OURS_AIOHTTP, OURS_HTTPX]
    dns_port = 53 if c.jail_warning() is None else 0
    if dns_port:
        kinds += [STOCK_AIOHTTP, STOCK_HTTPX]
    with ThreadedDNSServer("127.0.0.1", dns_port) as dns_server, broken6_web() as port:
        results = c.run(broken6(dns_server, port, kinds, args.rounds), args.loop)
        posts = keep_alive_posts(dns_server, port, args.posts)
    rows = [[k, c.num(ms(v["first"]), 1), c.num(ms(v["later"]), 1),
             c.num(ms(v["later"], 0.95), 1), c.num(ms(v["after_refresh"]), 1)]
            for k, v in results.items()]
    ratio = posts["ours_p50_ms"] / posts["stock_p50_ms"]
    text = "\n\n".join([
        "# Connecting to a broken-IPv6 host (black-holed AAAA, working A)",
        c.machine_line(c.machine(args.busy)),
        f"{args.rounds} rounds; each a fresh name: 1 first connection, {LATER} later ones, "
        f"1 after the TTL ({TTL} s) ran out. Milliseconds, every request a new connection.",
        c.md_table(["client", "first p50", "later p50", "later p95", "after refresh p50"],
                   rows),
        "## Sync keep-alive POST (100 bytes), one connection",
        c.md_table(["transport", "p50 ms"], [
            ["httpx.Client + ResolverTransport", c.num(posts["ours_p50_ms"], 2)],
            ["httpx.Client (httpx's HTTPTransport)", c.num(posts["stock_p50_ms"], 2)],
            ["ratio", f"{ratio:.2f}x"]]),
    ]) + "\n"
    data = {"machine": c.machine(args.busy), "rounds": args.rounds, "broken6": results,
            "keep_alive_post": posts,
            "versions": c.versions("aiohttp", "httpx", "httpcore", "aiohappyeyeballs")}
    c.report(args, data, text, "connect")


if __name__ == "__main__":
    main()
