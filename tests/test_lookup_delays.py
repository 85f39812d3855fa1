"""The Resolution Delay timer shared by a Resolver's lookups (``_lookup._Delays``)."""

from __future__ import annotations

import asyncio

from asyncdns_connect._lookup import _Delays


async def test_delays_end_in_deadline_order_whatever_order_they_were_added() -> None:
    delays = _Delays()
    loop = asyncio.get_running_loop()
    ended: list[str] = []
    long, short, middle = (loop.create_future() for _ in range(3))
    for name, fut in (("long", long), ("short", short), ("middle", middle)):
        fut.add_done_callback(lambda _f, name=name: ended.append(name))
    delays.add(long, 0.4)
    delays.add(short, 0.05)  # shorter than the one before it: put in its place
    delays.add(middle, 0.2)
    await asyncio.wait_for(asyncio.gather(long, short, middle), 10)
    assert ended == ["short", "middle", "long"]


async def test_a_delay_whose_waiter_is_done_is_skipped() -> None:
    delays = _Delays()
    loop = asyncio.get_running_loop()
    done_early, later = loop.create_future(), loop.create_future()
    delays.add(done_early, 0.05)
    delays.add(later, 0.1)
    done_early.set_result(None)  # the second family landed first: the delay ended
    await asyncio.wait_for(later, 10)
    assert later.result() is None


async def test_a_delay_ended_within_the_same_read_is_never_queued() -> None:
    """The common miss: the second family lands in the same read as the first, so
    the delay armed by the first never reaches the timer's queue."""
    delays = _Delays()
    loop = asyncio.get_running_loop()
    ended_at_once, still_waiting = loop.create_future(), loop.create_future()
    delays.add(ended_at_once, 0.05)
    delays.add(still_waiting, 0.05)
    ended_at_once.set_result(None)  # within the same callback, before the loop turns
    await asyncio.sleep(0)
    assert [waiter for _, waiter in delays._queue] == [still_waiting]
    await asyncio.wait_for(still_waiting, 10)
