"""The one Happy Eyeballs race (``_race.race``) over real loopback sockets.

Addresses are real: 127.0.0.x and ::1 on one port, each either listening (the
kernel completes the handshake), black-holed (SYNs unanswered) or closed
(refused). Only the address feed is scripted, so a test decides when a late
address family "answers".
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator, Sequence

import pytest

from asyncdns_connect._race import RaceFailed, Won, race
from asyncdns_connect._types import Address
from asyncdns_connect.testing import BlackHole, bind_same_port

V4, V4B, V4C, V4D, V6 = "127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "::1"
DELAY = 0.25


def addr(ip: str) -> Address:
    return Address(ip, socket.AF_INET6 if ":" in ip else socket.AF_INET)


class Net:
    """One port on several loopback addresses, each listening, black-holed or closed."""

    def __init__(self) -> None:
        self.port = 0
        self._closers: list[contextlib.AbstractContextManager[object]] = []

    def setup(self, listening: Sequence[str] = (), holes: Sequence[str] = (),
              closed: Sequence[str] = ()) -> None:
        hosts = [*listening, *holes, *closed]
        try:
            socks = bind_same_port(*hosts)
        except OSError as exc:
            pytest.skip(f"cannot bind {hosts} on one port: {exc}")
        self.port = socks[0].getsockname()[1]
        for host, sock in zip(hosts, socks, strict=True):
            if host in listening:
                sock.listen(16)
                self._closers.append(contextlib.closing(sock))
            elif host in holes:
                hole = BlackHole(sock)
                self._closers.append(contextlib.closing(hole))
                if not hole.hangs():
                    pytest.skip("the kernel answers SYNs past a full accept queue")
            else:
                sock.close()  # bound then closed: connects are refused

    def close(self) -> None:
        for closer in self._closers:
            closer.__exit__(None, None, None)


@pytest.fixture
def net() -> Iterator[Net]:
    n = Net()
    try:
        yield n
    finally:
        n.close()


async def feed(*steps: tuple[asyncio.Event, Sequence[str]]) -> AsyncIterator[Sequence[Address]]:
    """Late batches: each one once its event is set."""
    for event, ips in steps:
        await event.wait()
        yield tuple(addr(ip) for ip in ips)


def tried(won: Won | RaceFailed) -> list[str]:
    return [a.address.host for a in won.attempts]


def later(seconds: float) -> asyncio.Event:
    event = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, event.set)
    return event


# -- order and pacing -------------------------------------------------------------------


async def test_the_given_order_is_kept_not_reinterleaved(net: Net) -> None:
    # aiohttp would re-interleave this to [.2, ::1, .3] and win on ::1 at 0.25 s.
    net.setup(listening=[V6], holes=[V4B, V4C])
    started = time.monotonic()
    won = await race([addr(V4B), addr(V4C), addr(V6)], None, net.port, delay=DELAY)
    took = time.monotonic() - started
    with contextlib.closing(won.sock):
        assert won.sock.getpeername()[0] == V6
    assert tried(won) == [V4B, V4C, V6]
    assert took >= 2 * DELAY * 0.9, "each attempt waited the Connection Attempt Delay"
    assert [a.host for a in won.losers] == [V4B, V4C]


async def test_a_failed_attempt_starts_the_next_at_once(net: Net) -> None:
    net.setup(listening=[V4], closed=[V4D])
    started = time.monotonic()
    won = await race([addr(V4D), addr(V4)], None, net.port, delay=2.0)
    with contextlib.closing(won.sock):
        assert won.address.host == V4
    assert time.monotonic() - started < 1.0, "did not wait the 2 s delay after a refusal"
    assert [a.host for a in won.losers] == [V4D]
    assert isinstance(won.attempts[0].error, OSError)


async def test_an_address_never_attempted_is_never_blamed(net: Net) -> None:
    net.setup(listening=[V4], holes=[V6])
    won = await race([addr(V4), addr(V6)], None, net.port, delay=DELAY)
    with contextlib.closing(won.sock):
        assert tried(won) == [V4]
    assert won.losers == ()


async def test_a_slower_attempt_started_later_is_not_blamed(net: Net) -> None:
    # ::1 black-holed gets 0.25 s, then .1 starts and wins; .2 never started.
    net.setup(listening=[V4], holes=[V6, V4B])
    won = await race([addr(V6), addr(V4), addr(V4B)], None, net.port, delay=DELAY)
    with contextlib.closing(won.sock):
        assert won.address.host == V4
    assert [a.host for a in won.losers] == [V6]


# -- the feed: late families ------------------------------------------------------------


async def test_a_late_family_joins_when_the_race_waits_for_addresses(net: Net) -> None:
    # AAAA answered (black hole); A answers at 0.6 s, long after the delay ran out.
    net.setup(listening=[V4], holes=[V6])
    arrives = later(0.6)
    started = time.monotonic()
    won = await race([addr(V6)], feed((arrives, [V4])), net.port, delay=DELAY)
    took = time.monotonic() - started
    with contextlib.closing(won.sock):
        assert won.address.host == V4
    assert tried(won) == [V6, V4]
    assert 0.55 <= took < 1.2, "connected as soon as the late family arrived"


async def test_a_late_family_is_interleaved_with_the_addresses_left(net: Net) -> None:
    net.setup(listening=[V4C], holes=[V4B, V6])
    won = await race([addr(V4B), addr(V4C)], feed((later(0.05), [V6])), net.port,
                     delay=DELAY)
    with contextlib.closing(won.sock):
        assert won.address.host == V4C
    assert tried(won) == [V4B, V6, V4C], "the other family goes next (RFC 8305 section 4)"


async def test_when_every_address_fails_the_race_waits_for_the_feed(net: Net) -> None:
    net.setup(listening=[V4], closed=[V4D])
    started = time.monotonic()
    won = await race([addr(V4D)], feed((later(0.3), [V4])), net.port, delay=DELAY)
    with contextlib.closing(won.sock):
        assert won.address.host == V4
    assert time.monotonic() - started >= 0.25


async def test_a_feed_that_fails_late_leaves_the_race_what_it_has(net: Net) -> None:
    net.setup(listening=[V4])

    async def broken() -> AsyncIterator[Sequence[Address]]:
        await asyncio.sleep(0.01)
        raise OSError(errno.EIO, "the AAAA lookup failed")
        yield ()  # pragma: no cover - makes this an async generator

    won = await race([addr(V4)], broken(), net.port, delay=DELAY)
    won.sock.close()


# -- failure and clean-up ---------------------------------------------------------------


async def test_every_address_refused_fails_with_every_attempt(net: Net) -> None:
    net.setup(closed=[V4B, V4D])
    with pytest.raises(RaceFailed) as info:
        await race([addr(V4B), addr(V4D)], None, net.port, delay=DELAY)
    assert tried(info.value) == [V4B, V4D]
    assert info.value.errno == errno.ECONNREFUSED
    assert "refused" in str(info.value).lower()


async def test_no_address_at_all_fails_clearly() -> None:
    with pytest.raises(RaceFailed, match="no address"):
        await race([], None, 80, delay=DELAY)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_cancelling_closes_every_attempt_and_the_feed(net: Net) -> None:
    net.setup(holes=[V4B, V6])
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[Sequence[Address]]:
        try:
            await asyncio.Event().wait()
            yield ()
        finally:
            closed.set()

    before = _open_fds()
    task = asyncio.ensure_future(race([addr(V4B), addr(V6)], endless(), net.port, delay=0.1))
    await asyncio.sleep(0.3)
    assert _open_fds() >= before + 2, "both attempts are connecting"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _open_fds() == before
    assert closed.is_set(), "the feed was closed"


async def test_a_timeout_around_the_race_leaves_nothing_open(net: Net) -> None:
    net.setup(holes=[V4B, V4C])
    before = _open_fds()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(race([addr(V4B), addr(V4C)], None, net.port, delay=0.1), 0.3)
    assert _open_fds() == before


async def test_a_late_batch_does_not_reshuffle_the_addresses_left(net: Net) -> None:
    # Left after .2: [.3, .4]; ::1 arrives and goes next; .3 and .4 keep their order.
    net.setup(listening=[V4C], holes=[V4B, V6], closed=[V4D])
    won = await race([addr(V4B), addr(V4C), addr(V4D)], feed((later(0.05), [V6])), net.port,
                     delay=DELAY)
    with contextlib.closing(won.sock):
        assert tried(won) == [V4B, V6, V4C]


async def test_a_cancel_while_tidying_up_after_a_win_is_not_swallowed(net: Net) -> None:
    # The feed is slow to close: the race, already won, is cancelled meanwhile.
    net.setup(listening=[V4])
    closing = asyncio.Event()

    async def slow_to_close() -> AsyncIterator[Sequence[Address]]:
        try:
            await asyncio.Event().wait()
            yield ()
        finally:
            closing.set()
            await asyncio.sleep(5)

    before = _open_fds()
    task = asyncio.ensure_future(race([addr(V4)], slow_to_close(), net.port, delay=DELAY))
    await closing.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _open_fds() == before, "the winning socket was closed"
