"""The demo's crawl: one schedule of requests, run by three clients, measured alike.

The schedule is a few rounds; each round asks every host for ``/`` once (twice
in the first), in random order, at most ``CONCURRENCY`` requests at once, and
about a third of the requests say ``Connection: close``, so later ones open new
connections and look the name up again. Rounds are spaced so short TTLs expire
between them; during the last round the DNS server answers nothing.

``Tally`` keeps, per client: requests by host kind, the time to every new
connection (DNS included, as a user waits for both), and, from aiohttp's own
DNS cache where it is on, hits and answers used after their TTL had run out.
"""

from __future__ import annotations

import asyncio
import collections
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
import httpx

from ._zone import DemoHost

__all__ = ["CONCURRENCY", "Request", "Round", "Tally", "make_rounds", "run_aiohttp",
           "run_httpx"]

CONCURRENCY = 50
REQUEST_TIMEOUT = 5.0
_CLOSE_SHARE = 0.35

Advance = Callable[[], None]
SetDead = Callable[[bool], Awaitable[None]]


@dataclass(frozen=True)
class Request:
    host: DemoHost
    close: bool


@dataclass(frozen=True)
class Round:
    """Requests started ``at`` seconds after the client's start; ``dead``: DNS is down."""

    at: float
    dead: bool
    requests: tuple[Request, ...]


def make_rounds(hosts: list[DemoHost], rng: random.Random, *, times: tuple[float, ...],
                dead_at: float) -> list[Round]:
    """One round per time in ``times``, then the round at ``dead_at`` with DNS down."""
    rounds = []
    for i, at in enumerate((*times, dead_at)):
        reqs = [Request(h, rng.random() < _CLOSE_SHARE) for h in hosts
                for _ in range(2 if i == 0 else 1)]
        rng.shuffle(reqs)
        rounds.append(Round(at, at == dead_at, tuple(reqs)))
    return rounds


@dataclass
class Tally:
    """What one client did."""

    ok: collections.Counter[str] = field(default_factory=collections.Counter)
    failed: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    connects: dict[str, list[float]] = field(
        default_factory=lambda: collections.defaultdict(list))
    busy_s: float = 0.0
    wall_s: float = 0.0
    dns_down: bool = False
    # From aiohttp's own DNS cache (only the stock client has it on).
    cache_hits: int = 0
    cache_misses: int = 0
    past_ttl_up: int = 0
    past_ttl_down: int = 0

    @property
    def connect_s(self) -> list[float]:
        return [s for times in self.connects.values() for s in times]


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorDNSError) or "cannot resolve" in str(exc):
        return "dns"
    if isinstance(exc, (asyncio.TimeoutError, httpx.TimeoutException)):
        return "timeout"
    if isinstance(exc, (aiohttp.ClientConnectorError, httpx.ConnectError)):
        return "connect"
    return type(exc).__name__


async def _run_rounds(rounds: list[Round], fetch: Callable[[Request], Awaitable[None]],
                      tally: Tally, set_dead: SetDead, advance: Advance) -> None:
    start = time.monotonic()
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(req: Request) -> None:
        async with limit:
            try:
                await fetch(req)
            except Exception as exc:  # a failed request is a result, not a crash
                tally.failed[req.host.kind] += 1
                tally.errors[_error_kind(exc)] += 1
            else:
                tally.ok[req.host.kind] += 1
            finally:
                advance()

    for rnd in rounds:
        delay = start + rnd.at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await set_dead(rnd.dead)
        tally.dns_down = rnd.dead
        began = time.monotonic()
        await asyncio.gather(*(one(r) for r in rnd.requests))
        tally.busy_s += time.monotonic() - began
    tally.wall_s = time.monotonic() - start


# -- aiohttp -------------------------------------------------------------------------


def _aiohttp_trace(tally: Tally) -> aiohttp.TraceConfig:
    """Times new connections; follows aiohttp's own DNS cache where it is on."""
    trace = aiohttp.TraceConfig()
    resolved_at: dict[str, float] = {}

    async def create_start(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
        ctx.create_started = time.monotonic()

    async def create_end(_s: Any, ctx: SimpleNamespace, _p: Any) -> None:
        host: DemoHost = ctx.trace_request_ctx["host"]
        tally.connects[host.kind].append(time.monotonic() - ctx.create_started)

    async def dns_end(_s: Any, _ctx: SimpleNamespace, params: Any) -> None:
        resolved_at[params.host] = time.monotonic()

    async def cache_hit(_s: Any, ctx: SimpleNamespace, params: Any) -> None:
        tally.cache_hits += 1
        host: DemoHost = ctx.trace_request_ctx["host"]
        at = resolved_at.get(params.host)
        if at is not None and time.monotonic() - at > host.ttl:
            if tally.dns_down:
                tally.past_ttl_down += 1
            else:
                tally.past_ttl_up += 1

    async def cache_miss(_s: Any, _ctx: SimpleNamespace, _p: Any) -> None:
        tally.cache_misses += 1

    trace.on_connection_create_start.append(create_start)
    trace.on_connection_create_end.append(create_end)
    trace.on_dns_resolvehost_end.append(dns_end)
    trace.on_dns_cache_hit.append(cache_hit)
    trace.on_dns_cache_miss.append(cache_miss)
    return trace


async def run_aiohttp(connector: aiohttp.BaseConnector, rounds: list[Round],
                      url: Callable[[DemoHost], str], tally: Tally, set_dead: SetDead,
                      advance: Advance) -> None:
    """Crawl with one aiohttp session over ``connector`` (closed at the end)."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     trace_configs=[_aiohttp_trace(tally)]) as session:

        async def fetch(req: Request) -> None:
            headers = {"Connection": "close"} if req.close else None
            async with session.get(url(req.host), headers=headers,
                                   trace_request_ctx={"host": req.host}) as resp:
                resp.raise_for_status()
                await resp.read()

        await _run_rounds(rounds, fetch, tally, set_dead, advance)


# -- httpx ---------------------------------------------------------------------------


async def run_httpx(transport: httpx.AsyncBaseTransport, rounds: list[Round],
                    url: Callable[[DemoHost], str], tally: Tally, set_dead: SetDead,
                    advance: Advance) -> None:
    """Crawl with one httpx client over ``transport`` (closed at the end)."""
    async with httpx.AsyncClient(transport=transport, timeout=REQUEST_TIMEOUT) as client:

        async def fetch(req: Request) -> None:
            started: list[float] = []

            async def trace(event: str, _info: dict[str, Any]) -> None:
                # connect_tcp covers our DNS lookup and the connection race.
                if event == "connection.connect_tcp.started":
                    started.append(time.monotonic())
                elif event == "connection.connect_tcp.complete" and started:
                    tally.connects[req.host.kind].append(time.monotonic() - started[0])

            headers = {"Connection": "close"} if req.close else None
            resp = await client.get(url(req.host), headers=headers,
                                    extensions={"trace": trace})
            resp.raise_for_status()

        await _run_rounds(rounds, fetch, tally, set_dead, advance)
