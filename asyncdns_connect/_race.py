"""One Happy Eyeballs connection race (RFC 8305), used by the aiohttp and httpx adapters.

In the shape of aiohappyeyeballs's ``staggered_race``: attempts are pulled one
at a time from the remaining addresses; the next starts when ``delay`` has
passed since the last one started, or at once when an attempt fails; the
first to connect wins and the rest are cancelled and closed.

aiohappyeyeballs still makes every attempt (``start_connection`` with one
address: socket, socket factory, local bind, connect, close on failure or
cancel). The loop around the attempts is written here because
``staggered_race`` cannot do what this one must:

- it pulls from a plain iterator and stops pulling once that is empty, so an
  address family whose DNS answer arrives after the race began never joins it
  (RFC 8305 section 4: a late family joins the remaining list);
- it reports outcomes by index in its own order, not by address, so the
  caller cannot tell which addresses truly lost (learned fallback must never
  blame an address it never attempted).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohappyeyeballs

from ._types import Address

__all__ = ["Attempt", "RaceFailed", "Won", "race", "sockaddr"]

SocketFactory = Callable[[aiohappyeyeballs.AddrInfoType], socket.socket]


@dataclass(eq=False)
class Attempt:
    """One connection attempt: the address, and its error if it failed."""

    address: Address
    error: BaseException | None = None


@dataclass(frozen=True, eq=False)
class Won:
    """The race's winner: a connected non-blocking socket, and every attempt made, in order."""

    sock: socket.socket
    winner: Attempt
    attempts: tuple[Attempt, ...]

    @property
    def address(self) -> Address:
        return self.winner.address

    @property
    def losers(self) -> tuple[Address, ...]:
        """Addresses that truly lost: failed, or started earlier and still connecting.

        An attempt started before the winner had either failed or gone
        ``delay`` without connecting; one started after it counts only if it failed.
        """
        index = self.attempts.index(self.winner)
        return tuple(a.address for i, a in enumerate(self.attempts)
                     if i < index or a.error is not None)


class RaceFailed(OSError):
    """Every address was attempted and failed; ``attempts`` says how each ended."""

    def __init__(self, attempts: Sequence[Attempt], reason: str) -> None:
        codes = {getattr(a.error, "errno", None) for a in attempts}
        # One errno for all: keep it, as asyncio does. Always a strerror: aiohttp shows it.
        super().__init__(codes.pop() if len(codes) == 1 else None, reason)
        self.attempts = tuple(attempts)


def sockaddr(ip: str, family: int, port: int) -> tuple[Any, ...]:
    """The socket address for ``ip`` (IPv6 zone as a scope id, never a DNS lookup)."""
    if family != socket.AF_INET6:
        return (ip, port)
    addr, _, scope = ip.partition("%")
    if not scope:
        return (addr, port, 0, 0)
    scope_id = int(scope) if scope.isdigit() else socket.if_nametoindex(scope)
    return (addr, port, 0, scope_id)


async def race(
    first: Sequence[Address],
    more: AsyncIterator[Sequence[Address]] | None,
    port: int,
    *,
    delay: float | None,
    local_infos: Sequence[aiohappyeyeballs.AddrInfoType] | None = None,
    socket_factory: SocketFactory | None = None,
) -> Won:
    """Connect to the first of ``first`` (then of batches from ``more``) to answer.

    ``delay`` is the Connection Attempt Delay (None: the next attempt waits
    for the last one to fail). ``local_infos``: addresses to bind to, as
    aiohappyeyeballs takes them; ``socket_factory`` makes each socket.
    Batches from ``more`` join the addresses not yet attempted, interleaved by
    family, and start at once if the race was waiting for addresses. Raises
    :class:`RaceFailed` once every address failed and the feed is over;
    cancelling the race cancels and closes every attempt.
    """
    loop = asyncio.get_running_loop()
    remaining = list(first)
    attempts: list[Attempt] = []
    running: dict[asyncio.Future[socket.socket], Attempt] = {}
    wake: asyncio.Future[None] = loop.create_future()
    batches: list[Sequence[Address]] = []
    timer: asyncio.TimerHandle | None = None
    state = {"timer_fired": False}

    def poke(_: object = None) -> None:
        if not wake.done():
            wake.set_result(None)

    def fire() -> None:
        state["timer_fired"] = True
        poke()

    feeder = None if more is None else loop.create_task(_drain(more, batches, poke))
    ready = True
    winner: tuple[socket.socket, Attempt] | None = None
    try:
        while True:
            if batches:
                seen = {a.address for a in attempts} | set(remaining)
                new = [a for batch in batches for a in batch if a not in seen]
                batches.clear()
                remaining = _join(remaining, new, attempts[-1].address.family if attempts
                                  else None)
            if ready and remaining:
                attempt = Attempt(remaining.pop(0))
                info = (attempt.address.family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                        sockaddr(attempt.address.host, attempt.address.family, port))
                task = loop.create_task(aiohappyeyeballs.start_connection(
                    [info], local_addr_infos=local_infos, socket_factory=socket_factory))
                task.add_done_callback(poke)
                running[task] = attempt
                attempts.append(attempt)
                ready = False
                state["timer_fired"] = False
                if timer is not None:
                    timer.cancel()
                timer = loop.call_later(delay, fire) if delay is not None else None
            feeding = feeder is not None and not feeder.done()
            if not running and not remaining and not feeding and not batches:
                raise RaceFailed(attempts, _failure_reason(attempts))
            await wake
            wake = loop.create_future()
            for finished in [t for t in running if t.done()]:
                attempt = running.pop(finished)
                exc = finished.exception()
                if exc is None:
                    winner = (finished.result(), attempt)
                    break
                attempt.error = exc
                ready = True  # a failure starts the next attempt at once
            if winner is not None:
                return Won(winner[0], winner[1], tuple(attempts))
            if state["timer_fired"]:
                ready = True
    finally:
        if timer is not None:
            timer.cancel()
        try:
            await _stop(running, winner[0] if winner else None)
            if feeder is not None:
                feeder.cancel()
                await asyncio.wait([feeder])  # never raises: a cancel of ours still does
            close = getattr(more, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
        except BaseException:
            if winner is not None:  # cancelled while tidying up: the winner is nobody's
                winner[0].close()
            raise


def _join(remaining: list[Address], new: list[Address], last: int | None) -> list[Address]:
    """Late addresses alternate with those left, each list keeping its own order.

    The new ones lead if their family is not the one attempted last (RFC 8305
    section 4); the Resolver's order of the addresses left (demotions included)
    is not reshuffled.
    """
    if not new:
        return remaining
    lead, other = (new, remaining) if new[0].family != last else (remaining, new)
    out: list[Address] = []
    for i in range(max(len(lead), len(other))):
        out.extend(x[i] for x in (lead, other) if i < len(x))
    return out


async def _drain(more: AsyncIterator[Sequence[Address]], batches: list[Sequence[Address]],
                 poke: Callable[[], None]) -> None:
    """Collect late batches; a family failing late ends the feed quietly."""
    try:
        async for batch in more:
            batches.append(batch)
            poke()
    except Exception:  # the addresses we have still race
        return
    finally:
        poke()


async def _stop(running: dict[asyncio.Future[socket.socket], Attempt],
                keep: socket.socket | None) -> None:
    """Cancel the attempts still running; close a socket that connected anyway."""
    if not running:
        return
    for task in running:
        task.cancel()
    await asyncio.wait(running)
    for task in running:
        if not task.cancelled() and task.exception() is None and task.result() is not keep:
            with contextlib.suppress(OSError):
                task.result().close()


def _failure_reason(attempts: Sequence[Attempt]) -> str:
    if not attempts:
        return "no address to connect to"
    reasons = {reason_of(a.error) for a in attempts if a.error is not None}
    return "; ".join(sorted(reasons))


def reason_of(exc: BaseException | None) -> str:
    """A short human reason for a connect failure (asyncio's text names only the address)."""
    if exc is None:
        return "unknown error"
    text = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code in errno.errorcode and (
            not text or text.startswith(("Connect call failed", "Multiple exceptions"))):
        return os.strerror(code).lower()
    return text or type(exc).__name__
