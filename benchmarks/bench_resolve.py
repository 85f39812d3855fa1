"""Resolver throughput: asyncdns_connect against aiohttp's resolvers and raw pycares.

In one run, against one loopback reference server (knotd in its own process,
see ``_dnsserver``), for each contender:

* distinct names: N names, AF_UNSPEC (A and AAAA each), C lookups in flight;
* cache hits: the same names again, already resolved, one after another;
* distinct names again with the server adding 20 ms to every answer;

plus the bytes a cached host costs (tracemalloc) and the ceiling of the
servers themselves. Ratios are against aiohttp's ``AsyncResolver`` (aiodns).

aiohttp's resolvers keep no cache: aiohttp's lives in ``TCPConnector``
(``use_dns_cache=True``, fixed 10 s). Their "cache hit" is that path,
``TCPConnector._resolve_host`` (private, but it is what every aiohttp request
runs); our plugin's connector (``use_dns_cache=False``) goes through the same
method, so those two rows compare like with like.

Run inside ``shared/netjail`` (only loopback; glibc asks 127.0.0.1:53)::

    ../shared/netjail python benchmarks/bench_resolve.py [--names N] [--concurrency C]
        [--quick] [--profile] [--out DIR]

Writes ``resolve.md``, ``resolve.json`` and ``resolve.png`` to ``--out``
(default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import pstats
import socket
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import _common as c  # first: puts the work tree on sys.path
import _dnsserver as ds
import pycares

from asyncdns_connect import Resolver
from asyncdns_connect._order import clear_route_cache

AF_UNSPEC = socket.AF_UNSPEC
BASE = "aiohttp-async"
DELAY = 0.02
_BUFFER = 4 * 1024 * 1024


# -- contenders ------------------------------------------------------------------------


class Contender:
    """One way to resolve. ``lookup`` returns how many addresses came back."""

    key = ""
    label = ""
    cache_path = "n/a"
    needs_system_dns = False
    cache_is_lookup = False  # the cache a user gets is behind lookup() itself

    async def open(self, server: str, n: int) -> None:
        raise NotImplementedError

    async def lookup(self, host: str) -> int:
        raise NotImplementedError

    async def prepare_cache(self, names: Sequence[str], concurrency: int) -> bool:
        """Fill the cache the hit test reads; False: this contender has none."""
        return True

    async def cache_lookup(self, host: str) -> int:
        return await self.lookup(host)

    async def close(self) -> None:
        pass


class Ours(Contender):
    key, label = "asyncdns", "asyncdns_connect Resolver.resolve"
    cache_path = "Resolver.resolve (its TTL cache)"
    cache_is_lookup = True

    async def open(self, server: str, n: int) -> None:
        # The source-address probes of RFC 6724 are cached per process: forget
        # them, so every run pays what a fresh process pays.
        clear_route_cache()
        self.resolver = Resolver([server], cache_size=max(n, 10_000))

    async def lookup(self, host: str) -> int:
        return len(await self.resolver.resolve(host, AF_UNSPEC))

    async def close(self) -> None:
        await self.resolver.close()


class EngineFetch(Contender):
    """The engine alone: ``Engine.fetch`` of A and AAAA, no cache, no ordering."""

    key, label = "asyncdns-engine", "asyncdns_connect Engine.fetch (A+AAAA, no cache)"

    async def open(self, server: str, n: int) -> None:
        from asyncdns_connect._engine import ChannelOptions, Engine

        self.engine = Engine(asyncio.get_running_loop(),
                             ChannelOptions(servers=(server,), timeout=2.0, tries=2))

    async def lookup(self, host: str) -> int:
        a = self.engine.fetch(host, socket.AF_INET)
        aaaa = self.engine.fetch(host, socket.AF_INET6)
        return len((await a).addrs) + len((await aaaa).addrs)

    async def prepare_cache(self, names: Sequence[str], concurrency: int) -> bool:
        return False

    async def close(self) -> None:
        self.engine.close()


class OursPlugin(Ours):
    key, label = "asyncdns-plugin", "asyncdns_connect.aiohttp AiohttpResolver.resolve"
    cache_path = "AiohttpResolver.resolve (the Resolver's cache)"

    async def open(self, server: str, n: int) -> None:
        from asyncdns_connect.aiohttp import AiohttpResolver

        await super().open(server, n)
        self.plugin = AiohttpResolver(self.resolver)

    async def lookup(self, host: str) -> int:
        return len(await self.plugin.resolve(host, 0, AF_UNSPEC))

    async def close(self) -> None:
        await self.plugin.close()
        await super().close()


class OursConnector(Ours):
    key, label = "asyncdns-connector", "asyncdns_connect.aiohttp connector()._resolve_host"
    cache_path = "TCPConnector._resolve_host, use_dns_cache=False (the Resolver's cache)"

    async def open(self, server: str, n: int) -> None:
        from asyncdns_connect.aiohttp import connector

        await super().open(server, n)
        self.connector = connector(self.resolver)

    async def lookup(self, host: str) -> int:
        return len(await self.connector._resolve_host(host, 0))

    async def close(self) -> None:
        await self.connector.close()
        await super().close()


class AiohttpBase(Contender):
    """An aiohttp resolver; its cache hits go through a TCPConnector's DNS cache."""

    cache_path = "TCPConnector._resolve_host, use_dns_cache=True (aiohttp's 10 s cache)"
    resolver: Any

    async def lookup(self, host: str) -> int:
        return len(await self.resolver.resolve(host, 0, AF_UNSPEC))

    async def prepare_cache(self, names: Sequence[str], concurrency: int) -> bool:
        import aiohttp

        self.connector = aiohttp.TCPConnector(
            resolver=self.resolver, use_dns_cache=True, ttl_dns_cache=10,
            dns_cache_max_size=max(len(names), 1000))

        async def fill(host: str) -> int:
            return len(await self.connector._resolve_host(host, 0))

        await c.run_concurrently(fill, names, concurrency)
        return True

    async def cache_lookup(self, host: str) -> int:
        return len(await self.connector._resolve_host(host, 0))

    async def close(self) -> None:
        if getattr(self, "connector", None) is not None:
            await self.connector.close()
        await self.resolver.close()


class AiohttpAsync(AiohttpBase):
    key, label = BASE, "aiohttp AsyncResolver (aiodns)"

    async def open(self, server: str, n: int) -> None:
        from aiohttp.resolver import AsyncResolver

        self.resolver = AsyncResolver(nameservers=[server])


class AiohttpThreaded(AiohttpBase):
    key, label = "aiohttp-threaded", "aiohttp ThreadedResolver (glibc in threads)"
    needs_system_dns = True

    async def open(self, server: str, n: int) -> None:
        from aiohttp.resolver import ThreadedResolver

        self.resolver = ThreadedResolver()


class RawPycares(Contender):
    """The engine floor: a thread-mode channel, one future per query, no cache, no order."""

    key, label = "pycares-raw", "raw pycares (thread mode, A+AAAA, no cache)"

    async def open(self, server: str, n: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.channel = pycares.Channel(servers=[server], socket_receive_buffer_size=_BUFFER)

    def _query(self, name: str, qtype: int) -> asyncio.Future[Any]:
        fut = self.loop.create_future()
        call = self.loop.call_soon_threadsafe

        def done(result: Any, error: int | None) -> None:  # on c-ares's thread
            call(_deliver, fut, result, error)

        self.channel.query(name, qtype, callback=done)
        return fut

    async def lookup(self, host: str) -> int:
        a = self._query(host, pycares.QUERY_TYPE_A)
        aaaa = self._query(host, pycares.QUERY_TYPE_AAAA)
        try:
            n = len((await a).answer)
        except BaseException:
            aaaa.add_done_callback(_retrieve)
            raise
        return n + len((await aaaa).answer)

    async def prepare_cache(self, names: Sequence[str], concurrency: int) -> bool:
        return False

    async def close(self) -> None:
        self.channel.close()


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


def _deliver(fut: asyncio.Future[Any], result: Any, error: int | None) -> None:
    if fut.done():
        return
    if error is not None:
        fut.set_exception(OSError(error, pycares.errno.strerror(error)))
    else:
        fut.set_result(result)


def contenders(system_dns: bool) -> tuple[list[type[Contender]], dict[str, str]]:
    """The contenders that can run here, and why the others cannot."""
    chosen: list[type[Contender]] = [Ours, EngineFetch]
    skipped: dict[str, str] = {}
    try:
        import asyncdns_connect.aiohttp  # noqa: F401
    except ImportError as exc:
        skipped["asyncdns-plugin"] = f"asyncdns_connect.aiohttp not importable: {exc}"
    else:
        chosen += [OursPlugin, OursConnector]
    chosen.append(AiohttpAsync)
    if system_dns:
        chosen.append(AiohttpThreaded)
    else:
        skipped["aiohttp-threaded"] = ("glibc would not reach the benchmark server "
                                       "(needs netjail and 127.0.0.1:53)")
    chosen.append(RawPycares)
    return chosen, skipped


# -- measurements ----------------------------------------------------------------------


async def distinct(cls: type[Contender], server: str, names: Sequence[str],
                   concurrency: int, keep_open: bool = False) -> tuple[dict[str, Any], Contender]:
    con = cls()
    await con.open(server, len(names))
    # Each contender pays for its own garbage only: a full collection of what the
    # previous one left would otherwise land in this one's timed run.
    gc.collect()
    drops = c.udp_drops()
    cpu = c.cpu_seconds()
    try:
        seconds, failures, short = await c.run_concurrently(con.lookup, names, concurrency)
    except BaseException:
        await con.close()
        raise
    result = {"rate": len(names) / seconds, "seconds": seconds, "failures": failures,
              "short": short, "udp_drops": c.udp_drops() - drops,
              "cpu_us": (c.cpu_seconds() - cpu) / len(names) * 1e6}
    if not keep_open:
        await con.close()
    return result, con


async def repeat_rate(lookup: Callable[[str], Awaitable[int]], names: Sequence[str],
                      min_seconds: float, repeat: int) -> dict[str, Any]:
    """Lookups/s of already-resolved names, looked up one after another."""
    for name in names[:100]:  # warm: first-call costs are not what is measured
        await lookup(name)
    rates = []
    failures = 0
    for _ in range(repeat):
        count = 0
        start = time.perf_counter()
        elapsed = 0.0
        while elapsed < min_seconds:
            for i in range(0, len(names), 100):
                for name in names[i:i + 100]:
                    try:
                        await lookup(name)
                    except Exception:
                        failures += 1
                count += len(names[i:i + 100])
                elapsed = time.perf_counter() - start
                if elapsed >= min_seconds:
                    break
        rates.append(count / elapsed)
    return {"rate": c.median(rates), "runs": [round(r) for r in rates], "failures": failures}


async def cache_hits(con: Contender, names: Sequence[str], concurrency: int,
                     min_seconds: float, repeat: int) -> dict[str, Any] | None:
    """The cache a user of this contender gets (aiohttp's: the connector's)."""
    if not await con.prepare_cache(names, concurrency):
        return None
    hit = await repeat_rate(con.cache_lookup, names, min_seconds, repeat)
    hit["path"] = con.cache_path
    return hit


async def bytes_per_host(server: str, names: Sequence[str], concurrency: int
                         ) -> dict[str, Any]:
    """tracemalloc growth per host: our Resolver's cache, and aiohttp's connector cache.

    Python allocations only: c-ares's own (C) query cache is not counted.
    """
    import aiohttp
    from aiohttp.resolver import AsyncResolver

    out: dict[str, Any] = {}
    warm, rest = names[0], names[1:]

    async def measure(lookup: Callable[[str], Awaitable[int]]) -> float:
        await lookup(warm)  # the channel, engine and first-use objects are not per host
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        await c.run_concurrently(lookup, rest, concurrency)
        await asyncio.sleep(0)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return (after - before) / len(rest)

    resolver = Resolver([server], cache_size=max(len(names), 10_000))
    try:
        async def ours(host: str) -> int:
            return len(await resolver.resolve(host, AF_UNSPEC))
        out["asyncdns"] = await measure(ours)
        cached = resolver.stats().cache_size
    finally:
        await resolver.close()
    aio = AsyncResolver(nameservers=[server])
    conn = aiohttp.TCPConnector(resolver=aio, use_dns_cache=True,
                                dns_cache_max_size=max(len(names), 1000))
    try:
        async def theirs(host: str) -> int:
            return len(await conn._resolve_host(host, 0))
        out[BASE] = await measure(theirs)
    finally:
        await conn.close()
        await aio.close()
    out["hosts"] = len(rest)
    out["cached_hosts"] = cached
    return out


# Where our distinct-name path spends its time: (label, file, function) whose
# cumulative time is reported as a share of the whole profile.
_COMPONENTS = (
    ("RFC 6724 sort + interleave (_order.order)", "_order.py", "order"),
    ("  of which new destinations' keys and source probes (_order._learn)", "_order.py",
     "_learn"),
    ("cache writes (Scheduler.store)", "_scheduler.py", "store"),
    ("views made on first use, ordered (HostEntry.view)", "_cache.py", "view"),
    ("answer composed for the caller (Lookup._compose)", "_lookup.py", "_compose"),
    ("lookup set-up: local sources, plans, queries sent (Lookup._gather)", "_lookup.py",
     "_gather"),
    ("query submission, from set-up or queued (Transactions._send)", "_transactions.py",
     "_send"),
    ("  of which c-ares ares_query_dnsrec", "~", "<built-in method _cares.ares_query_dnsrec>"),
    ("socket reads + c-ares parsing + callbacks (Transactions._raw_read)", "_transactions.py",
     "_raw_read"),
    ("  of which the reply read, cache write included (Transactions._on_answer)",
     "_transactions.py",
     "_on_answer"),
    ("  of which the lean record read (_cares.read_records)", "_cares.py", "read_records"),
    ("  of which addresses from the answer (_answers.Chain.follow)", "_answers.py", "follow"),
    ("retries, follow-ups, queued lookups (Transactions._after)", "_transactions.py", "_after"),
    ("name checks (_names.normalize_host)", "_names.py", "normalize_host"),
    ("/etc/hosts lookup (HostsFile.lookup)", "_hosts.py", "lookup"),
)


def profile_components(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Each component's share; one the run never called (renamed?) is left out."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = max(v[3] for v in raw.values())  # the outermost frame's cumulative time
    out = []
    for label, file, func in _COMPONENTS:
        found = [v[3] for (f, _line, fn), v in raw.items()
                 if fn == func and (f.endswith(file) or f == file)]
        if found and total:
            out.append((label, sum(found) / total))
    return out


async def profile_ours(server: str, names: Sequence[str], concurrency: int, out_dir: str,
                       name: str) -> list[tuple[str, float]]:
    """cProfile of our distinct-name path; the top functions go to a text file."""
    con = Ours()
    await con.open(server, len(names))
    prof = cProfile.Profile()
    prof.enable()
    await c.run_concurrently(con.lookup, names, concurrency)
    prof.disable()
    await con.close()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    components = profile_components(stats)
    stats.strip_dirs()
    buf.write(f"cProfile of Resolver.resolve over {len(names)} distinct names, "
              f"{concurrency} in flight (AF_UNSPEC). cProfile inflates Python-heavy "
              "parts; read shares, not absolute times.\n\nShare of the whole run "
              "(cumulative time):\n")
    for label, share in components:
        buf.write(f"  {share:6.1%}  {label}\n")
    buf.write("\n-- by own time --\n")
    stats.sort_stats("tottime").print_stats(25)
    buf.write("\n-- by cumulative time --\n")
    stats.sort_stats("cumulative").print_stats(40)
    c.write(out_dir, name, buf.getvalue())
    return components


async def ceilings(info: ds.ServerInfo, names: Sequence[str], window: int
                   ) -> dict[str, Any]:
    """The server's own answers/s from the cheapest Python client (A queries)."""
    rate, lost = await asyncio.to_thread(ds.server_ceiling, info.host, info.port, names, window)
    return {"server": info.kind, "window": window, "answers_per_s": rate, "lost": lost}


# -- the run ---------------------------------------------------------------------------


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    n, conc = args.names, args.concurrency
    hosts = ds.bench_hosts(max(n, args.delay_names))
    names = list(hosts)[:n]
    delay_names = list(hosts)[:args.delay_names]
    system = ds.system_dns_is_ours()
    classes, skipped = contenders(system)
    data: dict[str, Any] = {
        "benchmark": "bench_resolve",
        "settings": {"names": n, "concurrency": conc, "delay_names": args.delay_names,
                     "delay_ms": DELAY * 1000, "repeat": args.repeat,
                     "delay_repeat": args.delay_repeat, "cache_repeat": args.cache_repeat,
                     "loop": args.loop, "quick": args.quick,
                     "cache_min_seconds": args.cache_seconds},
        "machine": c.machine(args.busy),
        "versions": c.versions("aiohttp", "aiodns", "pycares", "dnslib", "asyncdns-connect"),
        "contenders": {cls.key: {"label": cls.label, "cache_path": cls.cache_path}
                       for cls in classes},
        "skipped": skipped,
        "results": {cls.key: {} for cls in classes},
        "ceilings": [],
        "servers": {},
    }
    res = data["results"]

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    # -- no added latency --
    with ds.reference_dns(hosts, 0.0, prefer_knot=not args.test_server) as info:
        data["servers"]["direct"] = {"kind": info.kind, "address": info.address,
                                     "system_dns": info.system, "note": info.note}
        log(f"server: {info.kind} on {info.address}")
        if not args.quick:
            data["ceilings"].append(await ceilings(info, list(hosts), 100))
            data["ceilings"].append(await ceilings(info, list(hosts), 2 * conc))
        for cls in classes:  # warm-up: imports and first-use costs are not measured
            await distinct(cls, info.address, names[:min(200, n)], conc)
        runs: dict[str, list[dict[str, Any]]] = {cls.key: [] for cls in classes}
        for round_ in range(args.repeat):
            for cls in classes:
                first = round_ == 0
                result, con = await distinct(cls, info.address, names, conc, keep_open=first)
                runs[cls.key].append(result)
                log(f"  distinct {cls.key}: {result['rate']:,.0f} names/s")
                if first:
                    try:
                        again = await repeat_rate(con.lookup, names, args.cache_seconds,
                                                  args.cache_repeat)
                        hit = dict(again, path=con.cache_path) if con.cache_is_lookup \
                            else await cache_hits(con, names, conc, args.cache_seconds,
                                                  args.cache_repeat)
                    finally:
                        await con.close()
                    res[cls.key]["again"] = again
                    res[cls.key]["cache"] = hit
                    log(f"  again    {cls.key}: {again['rate']:,.0f} lookups/s")
                    if hit:
                        log(f"  cache    {cls.key}: {hit['rate']:,.0f} lookups/s")
        for key, rs in runs.items():
            res[key]["distinct"] = _summary(rs)
        data["memory"] = await bytes_per_host(info.address, names[:args.memory_names], conc)
        log(f"  bytes/host: {data['memory']['asyncdns']:,.0f}")
        if args.profile:
            data["profile"] = "resolve_profile.txt"
            data["profile_components"] = await profile_ours(
                info.address, names, conc, args.out, "resolve_profile.txt")

    # -- the server adds 20 ms to every answer --
    with ds.reference_dns(hosts, DELAY, prefer_knot=not args.test_server) as info:
        data["servers"]["delayed"] = {"kind": info.kind, "address": info.address,
                                      "system_dns": info.system, "note": info.note}
        log(f"server: {info.kind} on {info.address}")
        if not args.quick:
            data["ceilings"].append(await ceilings(info, list(hosts), 2 * conc))
        runs = {cls.key: [] for cls in classes}
        for _ in range(args.delay_repeat):
            for cls in classes:
                result, _con = await distinct(cls, info.address, delay_names, conc)
                runs[cls.key].append(result)
                log(f"  distinct+{DELAY * 1000:.0f}ms {cls.key}: {result['rate']:,.0f} names/s")
        for key, rs in runs.items():
            res[key]["distinct_delay"] = _summary(rs)

    # -- why knotd: the dnslib test server's own ceiling, with raw pycares too --
    if args.server_check and not args.test_server:
        with ds.reference_dns(hosts, 0.0, prefer_knot=False) as info:
            check = await ceilings(info, list(hosts), 100)
            result, _con = await distinct(RawPycares, info.address, names, conc)
            check["raw_pycares_names_per_s"] = result["rate"]
            data["ceilings"].append(check)

    _ratios(data)
    data["errors"] = dict(c.ERRORS)
    return data


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"rate": c.median([r["rate"] for r in runs]),
            "best": max(r["rate"] for r in runs),
            "runs": [round(r["rate"]) for r in runs],
            "cpu_us": c.median([r["cpu_us"] for r in runs]),
            "failures": sum(r["failures"] for r in runs),
            "short": sum(r["short"] for r in runs),
            "udp_drops": sum(r["udp_drops"] for r in runs)}


def _ratios(data: dict[str, Any]) -> None:
    res = data["results"]
    base = res.get(BASE, {})
    for entry in res.values():
        entry["ratio"] = {
            m: c.ratio((entry.get(m) or {}).get("rate"), (base.get(m) or {}).get("rate"))
            for m in ("distinct", "cache", "again", "distinct_delay")}
        # Our cache against AsyncResolver asked again with no aiohttp cache in front.
        entry["ratio"]["cache_vs_again"] = c.ratio(
            (entry.get("cache") or {}).get("rate"), (base.get("again") or {}).get("rate"))
    targets = {}
    for key in ("asyncdns", "asyncdns-plugin", "asyncdns-connector"):
        if key not in res:
            continue
        r = res[key]["ratio"]
        targets[key] = {
            "distinct_2x": r["distinct"] is not None and r["distinct"] >= 2,
            "cache_30x": r["cache"] is not None and r["cache"] >= 30,
            "cache_30x_vs_resolver_alone": (r["cache_vs_again"] is not None
                                            and r["cache_vs_again"] >= 30),
        }
    data["targets"] = targets


# -- output ----------------------------------------------------------------------------


def markdown(data: dict[str, Any]) -> str:
    s = data["settings"]
    res = data["results"]
    out = [f"# Resolver throughput ({data['machine']['time']})", ""]
    out.append(f"Server: {data['servers']['direct']['kind']} on "
               f"{data['servers']['direct']['address']}; delayed runs: "
               f"{data['servers']['delayed']['kind']}. {s['names']:,} names "
               f"(A + AAAA each, AF_UNSPEC), {s['concurrency']} lookups in flight; "
               f"{s['delay_names']:,} names with +{s['delay_ms']:.0f} ms. Median of "
               f"{s['repeat']} runs (distinct), {s['delay_repeat']} (+{s['delay_ms']:.0f} ms), "
               f"{s['cache_repeat']} timed passes of >= {s['cache_min_seconds']} s (cache); "
               f"{s['loop']} event loop; contenders take turns. Ratios against aiohttp's "
               "AsyncResolver. Server notes: "
               f"{data['servers']['direct']['note'] or 'none'}.")
    out.append("")
    rows = []
    for key, entry in res.items():
        d, h, dd = entry.get("distinct"), entry.get("cache"), entry.get("distinct_delay")
        a = entry.get("again")
        r = entry["ratio"]
        rows.append([data["contenders"][key]["label"],
                     c.num(d and d["rate"]), c.times(r["distinct"]),
                     c.num(h and h["rate"]) if h else "n/a", c.times(r["cache"]),
                     c.num(a and a["rate"]), c.times(r["again"]),
                     c.num(dd and dd["rate"]), c.times(r["distinct_delay"])])
    out.append(c.md_table(
        ["contender", "distinct names/s", "x", "cache hits/s", "x",
         "again, own call/s", "x", f"distinct +{s['delay_ms']:.0f} ms names/s", "x"], rows))
    out += ["", "Distinct names in detail: every run, and the client's CPU per name "
            "(user + system of the benchmark process, every thread: c-ares's event "
            "thread and glibc's executor threads too; the DNS server's CPU is not in it). "
            "CPU per name moves less than names/s when other work shares the CPUs.", ""]
    detail = []
    for key, entry in res.items():
        d, dd = entry.get("distinct") or {}, entry.get("distinct_delay") or {}
        detail.append([data["contenders"][key]["label"], c.num(d.get("rate")),
                       c.num(d.get("best")), ", ".join(f"{x:,}" for x in d.get("runs", [])),
                       c.num(d.get("cpu_us")), c.num(dd.get("cpu_us"))])
    out.append(c.md_table(["contender", "median names/s", "best", "runs",
                           "CPU µs/name", f"CPU µs/name, +{s['delay_ms']:.0f} ms"], detail))
    out += ["", "- *cache hits*: the cache a user of the contender gets (for aiohttp's "
            "resolvers, the TCPConnector's; see below). *again, own call*: the "
            "contender's own lookup call over the same names again, with no aiohttp "
            "cache in front (aiodns: c-ares's query cache; glibc: no cache, the "
            "server is asked again; raw pycares: c-ares's query cache)."]
    out += ["- ThreadedResolver runs getaddrinfo in the loop's default executor: "
            f"min(32, CPUs + 4) = {min(32, (data['machine']['cpus'] or 1) + 4)} threads here, "
            "so that many lookups at a time whatever the concurrency asked for; with "
            "+20 ms per answer that caps it near threads / 20 ms."]
    out += ["", "Cache-hit path per contender:", ""]
    for info in data["contenders"].values():
        out.append(f"- {info['label']}: {info['cache_path']}")
    for key, why in data["skipped"].items():
        out.append(f"- skipped {key}: {why}")
    out += ["", "Targets (our rows against AsyncResolver):", ""]
    for key, t in data["targets"].items():
        r = res[key]["ratio"]
        out.append(f"- {key}: distinct >= 2x: {'met' if t['distinct_2x'] else 'MISSED'} "
                   f"({c.times(r['distinct'])}); cache hits >= 30x aiohttp's connector "
                   f"cache: {'met' if t['cache_30x'] else 'MISSED'} ({c.times(r['cache'])}); "
                   f"cache hits >= 30x AsyncResolver asked again: "
                   f"{'met' if t['cache_30x_vs_resolver_alone'] else 'MISSED'} "
                   f"({c.times(r['cache_vs_again'])})")
    m = data.get("memory")
    if m:
        out += ["", f"Bytes per cached host (tracemalloc, {m['hosts']:,} hosts with 1 A + "
                    f"1 AAAA; Python objects only, c-ares's C-side cache not counted): "
                    f"asyncdns_connect Resolver {m['asyncdns']:,.0f} B; aiohttp "
                    f"TCPConnector cache (AsyncResolver) {m[BASE]:,.0f} B."]
    trouble = [(k, e[m]) for k, e in res.items() for m in ("distinct", "distinct_delay")
               if e.get(m) and (e[m]["failures"] or e[m]["short"] or e[m]["udp_drops"])]
    if trouble:
        out += ["", "Runs with failures, short answers (one family) or kernel UDP drops:", ""]
        out += [f"- {k}: failures {t['failures']}, short {t['short']}, "
                f"UDP drops {t['udp_drops']}" for k, t in trouble]
    if data.get("errors"):
        out += ["", "Errors seen: " + "; ".join(f"{k} x{v}" for k, v in data["errors"].items())]
    if data["ceilings"]:
        out += ["", "Server ceilings (a raw UDP client keeping `window` A queries out):", ""]
        out.append(c.md_table(
            ["server", "window", "answers/s", "lost", "raw pycares names/s"],
            [[x["server"], x["window"], c.num(x["answers_per_s"]), x["lost"],
              c.num(x.get("raw_pycares_names_per_s"))] for x in data["ceilings"]]))
    if data.get("profile"):
        out += ["", f"Where our distinct-name path spends its time (cProfile, full listing in "
                    f"`{data['profile']}`; shares of the run, nested rows are part of the "
                    "row above):", ""]
        out.append(c.md_table(["part", "share"], [[label.replace("  of which", "&nbsp;&nbsp;"
                                                                 "of which"), f"{x:.1%}"]
                                                  for label, x in data["profile_components"]]))
    v = data["versions"]
    out += ["", "Versions: " + ", ".join(f"{k} {x}" for k, x in v.items()) +
            ". " + c.machine_line(data["machine"])]
    return "\n".join(out) + "\n"


def chart(data: dict[str, Any], out_dir: str, name: str) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    res = data["results"]
    keys = list(res)
    measures = [("distinct", "distinct names"), ("cache", "cache hits"),
                ("again", "again, own call"),
                ("distinct_delay", f"distinct, +{data['settings']['delay_ms']:.0f} ms")]
    fig, ax = plt.subplots(figsize=(10, 5.2), dpi=110)
    width = 0.8 / len(measures)
    for i, (m, label) in enumerate(measures):
        xs = [k + (i - (len(measures) - 1) / 2) * width for k in range(len(keys))]
        ys = [res[k]["ratio"][m] or 0 for k in keys]
        bars = ax.bar(xs, ys, width, label=label)
        for bar, y in zip(bars, ys, strict=True):
            if y:
                ax.annotate(f"{y:.1f}" if y < 10 else f"{y:.0f}",
                            (bar.get_x() + bar.get_width() / 2, y),
                            ha="center", va="bottom", fontsize=7)
    ax.axhline(1, color="grey", linewidth=0.8)
    for target, what in ((2, "distinct\ntarget 2x"), (30, "cache\ntarget 30x")):
        ax.axhline(target, color="grey", linewidth=0.6, linestyle=":")
        ax.text(1.005, target, what, transform=ax.get_yaxis_transform(), ha="left",
                va="center", fontsize=7, color="grey")
    ax.set_yscale("log")
    ax.set_ylabel("x aiohttp AsyncResolver (log scale)")
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([k.replace("-", "-\n", 1) for k in keys], fontsize=8)
    ax.set_title("Resolver throughput relative to aiohttp's AsyncResolver (higher is faster)")
    ax.legend(fontsize=8, loc="upper center")
    fig.tight_layout()
    path = f"{out_dir}/{name}"
    fig.savefig(path)
    plt.close(fig)
    return path


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--names", type=int, default=5000, help="distinct names (default 5000)")
    p.add_argument("--concurrency", type=int, default=500, help="lookups in flight (500)")
    p.add_argument("--delay-names", type=int, default=2000,
                   help="names for the +20 ms runs (default 2000)")
    p.add_argument("--repeat", type=int, default=5, help="distinct-name runs (median)")
    p.add_argument("--cache-repeat", type=int, default=3, help="timed cache passes (median)")
    p.add_argument("--delay-repeat", type=int, default=2, help="runs of each +20 ms measure")
    p.add_argument("--quick", action="store_true", help="tiny counts: proves the script runs")
    p.add_argument("--profile", action="store_true",
                   help="cProfile our distinct-name path into resolve_profile.txt")
    p.add_argument("--test-server", action="store_true",
                   help="use asyncdns_connect.testing.DNSServer instead of knotd")
    c.add_common_args(p)
    args = p.parse_args(argv)
    args.cache_seconds = 0.5
    args.memory_names = args.names
    args.server_check = True
    if args.quick:
        args.names = min(args.names, 200)
        args.concurrency = min(args.concurrency, 50)
        args.delay_names = min(args.delay_names, 100)
        args.repeat = args.delay_repeat = args.cache_repeat = 1
        args.cache_seconds = 0.02
        args.memory_names = min(args.names, 100)
        args.server_check = False
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    c.prepare(args)
    data = c.run(main_async(args), args.loop)
    c.report(args, data, markdown(data), "resolve")
    chart(data, args.out, "resolve.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
