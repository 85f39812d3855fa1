"""The field crawl: one seeded stream of requests, run by one client, measured alike.

Shared by ``benchmarks/field.py`` and the ``demo`` command. A client keeps
``concurrency`` requests in flight for ``seconds``, pulling from an endless
seeded stream where each request goes to a host not seen before with
probability ``new_share`` and otherwise to one already visited; about
``close_share`` of requests say ``Connection: close``, so later visits open new
connections (and look the name up again).

Measured per client: requests by outcome, the time to each new connection (DNS
included, as a user waits for both), failures by reason and whether they fell
in a window where the upstream was failing (an outage or a SERVFAIL burst, plus
``grace`` seconds for lookups already under way), CPU seconds of the process,
and answers used after their TTL had run out (aiohttp's own cache, or our
Resolver's stale answers).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
import httpx

from .._errors import DNSError
from ..testing import FieldHost, make_population

__all__ = ["CLIENTS", "Plan", "Tally", "crawl", "pct", "separate_late", "summarize"]

CLIENTS = {
    "aiohttp-threaded": "aiohttp ThreadedResolver",
    "aiohttp-aiodns": "aiohttp AsyncResolver",
    "httpx": "httpx default",
    "aiohttp-ours": "aiohttp + ours",
    "httpx-ours": "httpx + ours",
}
OURS = ("aiohttp-ours", "httpx-ours")
LOST = "dns:upstream-answering"
LATE = "dns:upstream-late"
REQUEST_TIMEOUT = 10.0


@dataclass(frozen=True)
class Plan:
    """What every client runs. ``nameserver`` None: the system's resolver config."""

    hosts: int
    seed: int = 1
    seconds: float = 20.0
    concurrency: int = 100
    new_share: float = 0.5
    close_share: float = 0.3
    ipv6: bool = True
    nameserver: str | None = None
    dns_timeout: float | None = None
    dns_tries: int | None = None
    grace: float = 1.2


def stream(plan: Plan) -> Iterator[tuple[FieldHost, bool]]:
    """(host, close) forever: new hosts in population order, repeats drawn at random."""
    hosts = make_population(plan.hosts, plan.seed, ipv6=plan.ipv6)
    rng = random.Random(plan.seed + 1)
    seen: list[FieldHost] = []
    fresh = iter(hosts)
    while True:
        host = None
        if not seen or rng.random() < plan.new_share:
            host = next(fresh, None)
            if host is not None:
                seen.append(host)
        if host is None:
            host = rng.choice(seen)
        yield host, rng.random() < plan.close_share


@dataclass
class Tally:
    """What one client did."""

    ok: collections.Counter[str] = field(default_factory=collections.Counter)
    failed: collections.Counter[str] = field(default_factory=collections.Counter)
    connects: list[float] = field(default_factory=list)
    connects_by_kind: dict[str, list[float]] = field(
        default_factory=lambda: collections.defaultdict(list))
    # requests to existing names that failed (no connection), per kind: a client
    # that gives up on a slow lookup drops it from ``connects``, not from here
    failed_by_kind: collections.Counter[str] = field(default_factory=collections.Counter)
    distinct: set[str] = field(default_factory=set)
    past_ttl: collections.Counter[str] = field(default_factory=collections.Counter)
    # (host name, time) of each DNS failure of an existing name outside the windows
    lost: list[tuple[str, float, str]] = field(default_factory=list)
    seconds: float = 0.0
    cpu_s: float = 0.0
    resolver_stats: dict[str, Any] | None = None


def _reason(exc: BaseException) -> str:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (DNSError, socket.gaierror, aiohttp.ClientConnectorDNSError)):
            return "dns"
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, (asyncio.TimeoutError, httpx.TimeoutException)):
        return "timeout"
    if isinstance(exc, (aiohttp.ClientConnectorError, httpx.ConnectError)):
        return "connect"
    return type(exc).__name__


def _cause(exc: BaseException) -> str:
    """The DNS error behind a failed request, as "Type: message"."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (DNSError, socket.gaierror)):
            return f"{type(seen).__name__}: {seen}"[:160]
        seen = seen.__cause__ or seen.__context__
    return f"{type(exc).__name__}: {exc}"[:160]


def _classify(exc: BaseException, host: FieldHost, spans: _Windows) -> str:
    reason = _reason(exc)
    if reason != "dns":
        return reason
    if not host.exists:
        return "dns:nx"
    return "dns:upstream-failing" if time.monotonic() in spans else LOST


class _Windows:
    def __init__(self, windows: list[tuple[str, float, float]], grace: float) -> None:
        self._spans = [(a, b + grace) for _, a, b in windows]

    def __contains__(self, t: float) -> bool:
        return any(a <= t < b for a, b in self._spans)


# -- clients -------------------------------------------------------------------------

Fetch = Callable[[FieldHost, str, bool], Awaitable[None]]


def _aiohttp_trace(tally: Tally, windows: _Windows) -> aiohttp.TraceConfig:
    """Times new connections; follows aiohttp's own DNS cache where it is on."""
    trace = aiohttp.TraceConfig()
    resolved_at: dict[str, float] = {}

    async def create_start(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
        ctx.create_started = time.monotonic()

    async def create_end(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
        took = time.monotonic() - ctx.create_started
        tally.connects.append(took)
        tally.connects_by_kind[ctx.trace_request_ctx["host"].kind].append(took)

    async def dns_end(_s: Any, _ctx: SimpleNamespace, params: Any) -> None:
        resolved_at[params.host] = time.monotonic()

    async def cache_hit(_s: Any, ctx: SimpleNamespace, params: Any) -> None:
        host: FieldHost = ctx.trace_request_ctx["host"]
        now = time.monotonic()
        at = resolved_at.get(params.host)
        if at is not None and now - at > host.ttl:
            tally.past_ttl["fault" if now in windows else "up"] += 1

    trace.on_connection_create_start.append(create_start)
    trace.on_connection_create_end.append(create_end)
    trace.on_dns_resolvehost_end.append(dns_end)
    trace.on_dns_cache_hit.append(cache_hit)
    return trace


@contextlib.asynccontextmanager
async def _aiohttp(client: str, plan: Plan, tally: Tally, windows: _Windows,
                   resolver: Any) -> AsyncIterator[Fetch]:
    from aiohttp.resolver import AsyncResolver, ThreadedResolver

    from ..aiohttp import connector as our_connector

    if client == "aiohttp-ours":
        conn: aiohttp.TCPConnector = our_connector(resolver)
    elif client == "aiohttp-aiodns":
        options: dict[str, Any] = {}
        if plan.nameserver:
            options["nameservers"] = [plan.nameserver]
        if plan.dns_timeout is not None:
            options["timeout"] = plan.dns_timeout
        if plan.dns_tries is not None:
            options["tries"] = plan.dns_tries
        conn = aiohttp.TCPConnector(resolver=AsyncResolver(**options))
    else:
        # Named: aiohttp's default is AsyncResolver whenever aiodns is installed,
        # which would make this column a second AsyncResolver.
        conn = aiohttp.TCPConnector(resolver=ThreadedResolver())
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout,
                                     trace_configs=[_aiohttp_trace(tally, windows)]) as session:

        async def fetch(host: FieldHost, url: str, close: bool) -> None:
            headers = {"Connection": "close"} if close else None
            async with session.get(url, headers=headers,
                                   trace_request_ctx={"host": host}) as resp:
                resp.raise_for_status()
                await resp.read()

        yield fetch


@contextlib.asynccontextmanager
async def _httpx(client: str, tally: Tally, resolver: Any) -> AsyncIterator[Fetch]:
    from ..httpx import AsyncResolverTransport

    transport = AsyncResolverTransport(resolver) if client == "httpx-ours" else None
    async with httpx.AsyncClient(transport=transport, timeout=REQUEST_TIMEOUT) as session:

        async def fetch(host: FieldHost, url: str, close: bool) -> None:
            started: list[float] = []

            async def trace(event: str, _info: dict[str, Any]) -> None:
                # connect_tcp covers the DNS lookup and the connection race.
                if event == "connection.connect_tcp.started":
                    started.append(time.monotonic())
                elif event == "connection.connect_tcp.complete" and started:
                    took = time.monotonic() - started[0]
                    tally.connects.append(took)
                    tally.connects_by_kind[host.kind].append(took)

            headers = {"Connection": "close"} if close else None
            resp = await session.get(url, headers=headers, extensions={"trace": trace})
            resp.raise_for_status()

        yield fetch


async def _watch_stale(resolver: Any, tally: Tally, windows: _Windows) -> None:
    """Attribute our Resolver's stale answers to fault windows or to normal times."""
    last = 0
    try:
        while True:
            await asyncio.sleep(0.05)
            now, stale = time.monotonic(), resolver.stats().stale
            if stale > last:
                tally.past_ttl["fault" if now in windows else "up"] += stale - last
                last = stale
    except asyncio.CancelledError:
        stale = resolver.stats().stale
        if stale > last:
            tally.past_ttl["up"] += stale - last
        raise


# -- the crawl -----------------------------------------------------------------------


async def crawl(client: str, plan: Plan, url: Callable[[FieldHost], str],
                windows: list[tuple[str, float, float]],
                advance: Callable[[], None] = lambda: None) -> Tally:
    """Run ``client`` over ``plan``'s stream for ``plan.seconds``; its tally."""
    from .._resolver import Resolver

    tally = Tally()
    spans = _Windows(windows, plan.grace)
    requests = stream(plan)
    resolver: Resolver | None = None
    if client in OURS:
        resolver = Resolver([plan.nameserver] if plan.nameserver else None,
                            timeout=plan.dns_timeout, tries=plan.dns_tries)
    maker = (_aiohttp(client, plan, tally, spans, resolver) if client.startswith("aiohttp")
             else _httpx(client, tally, resolver))
    cpu0 = time.process_time()
    watcher = None
    try:
        async with maker as fetch:
            if resolver is not None:
                watcher = asyncio.ensure_future(_watch_stale(resolver, tally, spans))
            start = time.monotonic()
            stopping = False

            async def worker() -> None:
                while not stopping:
                    host, close = next(requests)
                    tally.distinct.add(host.name)
                    try:
                        await fetch(host, url(host), close)
                    except Exception as exc:  # a failed request is a result
                        if stopping:  # a client turned our cancellation into a timeout
                            return
                        why = _classify(exc, host, spans)
                        tally.failed[why] += 1
                        if host.exists:
                            tally.failed_by_kind[host.kind] += 1
                        if why == LOST:
                            tally.lost.append((host.name, time.monotonic(), _cause(exc)))
                    else:
                        tally.ok[host.kind] += 1
                    advance()

            # Stop on time: what is still in flight then is cut, not counted, so a
            # request stuck in a 10 s timeout cannot stretch one client's run.
            workers = [asyncio.ensure_future(worker()) for _ in range(plan.concurrency)]
            try:
                await asyncio.wait(workers, timeout=plan.seconds)
            finally:
                stopping = True
                for w in workers:
                    w.cancel()
                await asyncio.wait(workers, timeout=REQUEST_TIMEOUT + 2)
            for w in workers:
                if w.done() and not w.cancelled() and w.exception() is not None:
                    raise w.exception()  # type: ignore[misc]
            tally.seconds = time.monotonic() - start
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if resolver is not None:
            tally.resolver_stats = resolver.stats().as_dict()
            await resolver.close()
    tally.cpu_s = time.process_time() - cpu0
    return tally


def pct(values: list[float], q: float, never: int = 0) -> float | None:
    """The ``q`` quantile (nearest rank) in milliseconds.

    ``never``: that many more values that never finished (failed requests),
    ranked after all others; None if the quantile falls among them.
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, math.ceil(q * (len(ordered) + never)) - 1)
    if rank >= len(ordered):
        return None
    return round(ordered[rank] * 1000, 1)


def summarize(client: str, tally: Tally) -> dict[str, Any]:
    ok, failed = sum(tally.ok.values()), sum(tally.failed.values())
    total = ok + failed
    return {
        "id": client, "client": CLIENTS[client],
        "requests": total, "ok": ok, "failed": failed,
        "failures": dict(sorted(tally.failed.items())),
        "lost_to_dns": tally.failed[LOST],
        "lost_events": [[n, round(t, 4), why] for n, t, why in tally.lost],
        "ok_by_kind": dict(sorted(tally.ok.items())),
        "failed_by_kind": dict(sorted(tally.failed_by_kind.items())),
        "seconds": round(tally.seconds, 2),
        "requests_per_s": round(total / tally.seconds, 1) if tally.seconds else None,
        "ok_per_s": round(ok / tally.seconds, 1) if tally.seconds else None,
        "new_connections": len(tally.connects),
        "connect_ms": {"p50": pct(tally.connects, 0.5), "p95": pct(tally.connects, 0.95),
                       "p99": pct(tally.connects, 0.99),
                       # each failed request to an existing name as a connect that
                       # never finished (None: more than 5% failed)
                       "p95_all": pct(tally.connects, 0.95,
                                      sum(tally.failed_by_kind.values()))},
        "connect_ms_by_kind": {
            kind: {"n": len(v), "p50": pct(v, 0.5), "p95": pct(v, 0.95)}
            for kind, v in sorted(tally.connects_by_kind.items())},
        "distinct_hosts": len(tally.distinct),
        "cpu_s": round(tally.cpu_s, 2),
        "cpu_ms_per_request": round(1000 * tally.cpu_s / total, 3) if total else None,
        "past_ttl": {"upstream_up": tally.past_ttl["up"],
                     "upstream_failing": tally.past_ttl["fault"]},
        "resolver_stats": tally.resolver_stats,
    }


def separate_late(summary: dict[str, Any], late: list[Any], window: float) -> None:
    """Move DNS failures the upstream caused by answering late out of "lost".

    ``late``: the model's ``NetworkModel.late()`` rows (name, type, query time,
    delay), answers that took at least the clients' timeout. A failure of a name
    with such an answer to a query made up to ``window`` seconds before the
    failure is the upstream's doing (no retransmission helps), counted as
    ``dns:upstream-late``; what stays "lost" the network dropped and the client
    did not recover.
    """
    slow: dict[str, list[float]] = {}
    for name, _qtype, at, _delay in late:
        slow.setdefault(name, []).append(at)
    kept = []
    moved = 0
    for event in summary.pop("lost_events", []):
        name, t = event[0], event[1]
        if any(t - window <= at <= t for at in slow.get(name.lower().rstrip("."), ())):
            moved += 1
        else:
            kept.append(event)
    summary["lost_events"] = kept
    if moved:
        failures = summary["failures"]
        failures[LOST] -= moved
        if not failures[LOST]:
            del failures[LOST]
        failures[LATE] = failures.get(LATE, 0) + moved
        summary["failures"] = dict(sorted(failures.items()))
        summary["lost_to_dns"] -= moved
