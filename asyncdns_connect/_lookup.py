"""Composing families into one answer: ``resolve`` (a list) and ``stream`` (batches).

Per family the scheduler's ``Plan`` says what is known now and which query to
wait for; this module decides how long a caller waits (RFC 8305): once one
family has addresses, the others get ``resolution_delay`` more; a family whose
last query failed (SERVFAIL, timeout...) is only waited for when no family has
addresses; a family whose refresh is in flight answers from its expired entry;
one whose refresh is late answers stale: after three times the name's usual
query time plus 0.3 s, at most ``stale_answer_timeout`` (RFC 8767's 1.8 s), and
once another family has addresses, after the Resolution Delay.
``stream`` yields AAAA at once, A after at most the Resolution Delay, and a
family that answers later as a later batch.
"""

from __future__ import annotations

import asyncio
import bisect
import socket
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Mapping

from ._cache import POSITIVE, STALE_ANSWER_TTL, HostCache, Record
from ._config import ResolverConfig
from ._errors import AddressPolicyError, DNSError, NoAddressError, pick_error
from ._order import demote, order
from ._policy import AddressPolicy
from ._scheduler import ALONE, FAMILIES, NOW, STALE, WAIT, Plan, Scheduler
from ._sources import Local
from ._stats import Stats
from ._types import Address

__all__ = ["Lookup"]

AF_INET = socket.AF_INET
AF_INET6 = socket.AF_INET6
AF_UNSPEC = socket.AF_UNSPEC

Outcome = tuple[Address, ...] | DNSError
# A refresh not answered within 3x the name's query time plus 0.3 s is late.
_STALE_FACTOR = 3.0
_STALE_SLACK = 0.3


class _End:
    """What ``_Gather.next`` returns when no family can answer any more."""


_DONE = _End()


class Lookup:
    """Resolves a normalised name through the scheduler, family by family."""

    def __init__(self, scheduler: Scheduler, cache: HostCache, config: ResolverConfig,
                 stats: Stats, policy: AddressPolicy | None) -> None:
        self._sched = scheduler
        self._cache = cache
        self._config = config
        self._stats = stats
        self._policy = policy
        self.delays = _Delays()

    async def resolve(self, host: str, family: int, local: Local) -> tuple[Address, ...]:
        """Every address of ``host`` in connect order, waiting per RFC 8305."""
        miss = self._miss(family, local)
        if miss is not None:
            await miss.waiter
            return self._compose(host, local, miss.got, miss, family)
        gather = self._gather(host, family, local)
        delay = self._config.resolution_delay
        got: dict[int, Outcome] = {}
        if gather.only_waits():
            # The common miss: nothing known yet, nothing stale. Woken once.
            try:
                await gather.settle(got, delay)
            finally:
                gather.settled()
            return self._compose(host, local, got, gather, family)
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while True:
            timeout = None if deadline is None else deadline - loop.time()
            event = await gather.next(timeout)
            if event is None or isinstance(event, _End):
                break
            fam, outcome = event
            got[fam] = outcome
            if deadline is None and not isinstance(outcome, DNSError):
                # With no delay, still take what has landed already.
                deadline = loop.time() + max(delay, 0)
                # An expired family whose refresh is slow answers stale by then,
                # rather than being left out of the answer.
                gather.hurry_stale(deadline)
        return self._compose(host, local, got, gather, family)

    async def first(self, host: str, family: int, local: Local
                    ) -> tuple[tuple[Address, ...], AsyncIterator[tuple[Address, ...]] | None]:
        """``stream``'s first batch, and the rest of the stream (None if nothing can follow).

        For the adapters: in the common miss every family lands in the same read,
        and then there is no async generator (nor a race task draining it) at all.
        """
        miss = self._miss(family, local, eager6=True)
        if miss is not None:
            await miss.waiter
            batch = self._compose(host, local, miss.got, miss)
            if not miss.out:
                return batch, None
            # A family is still out (rare): the general machinery streams it.
            plans = [Plan(fam, WAIT, None, f) for f, fam in miss.out.items()]
            rest = _Gather(self, [], plans, [], "")
            return batch, self._later(host, local, rest)
        gather = self._gather(host, family, local)
        if gather.only_waits():
            got: dict[int, Outcome] = {}
            try:
                await gather.settle(got, self._config.resolution_delay, eager6=True)
            finally:
                gather.settled()
            batch = self._compose(host, local, got, gather)
            return batch, (self._later(host, local, gather) if gather.waiting() else None)
        feed = self._stream(gather, host, local)
        try:
            batch = await feed.__anext__()
        except BaseException:
            await feed.aclose()
            raise
        return batch, feed

    def stream(self, host: str, family: int, local: Local
               ) -> AsyncGenerator[tuple[Address, ...], None]:
        """Batches of addresses as families answer (see the module docstring).

        The queries start now, not at the first ``__anext__``.
        """
        return self._stream(self._gather(host, family, local), host, local)

    async def _stream(self, gather: _Gather, host: str, local: Local
                      ) -> AsyncGenerator[tuple[Address, ...], None]:
        got: dict[int, Outcome] = {}
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        delay = self._config.resolution_delay
        while True:
            timeout = None if deadline is None else deadline - loop.time()
            event = await gather.next(timeout)
            if event is None or isinstance(event, _End):
                break
            fam, outcome = event
            got[fam] = outcome
            if isinstance(outcome, DNSError) or gather.has_ready():
                continue  # what is known already goes into the first batch
            if fam == AF_INET6 or not gather.pending(AF_INET6) or delay <= 0:
                break
            if deadline is None:
                deadline = loop.time() + delay
                gather.hurry_stale(deadline)
        # A family still refreshing gets the Resolution Delay too, then joins stale.
        gather.hurry_stale(loop.time() + max(delay, 0))
        yield self._compose(host, local, got, gather)
        async for batch in self._later(host, local, gather):
            yield batch

    async def _later(self, host: str, local: Local, gather: _Gather
                     ) -> AsyncIterator[tuple[Address, ...]]:
        """The families that answer after the first batch, each as a batch."""
        while not isinstance(event := await gather.next(None), _End):
            assert event is not None
            fam, outcome = event
            if not isinstance(outcome, DNSError) and outcome:
                yield self._compose(host, local, {fam: outcome}, gather)

    def _miss(self, family: int, local: Local, *, eager6: bool = False) -> _Miss | None:
        """The common miss, lean: nothing local, nothing cached, so every family
        waits for its query (started or joined here). None: not that case."""
        name = local.name
        if local.found or self._cache.peek(name) is not None:
            return None
        miss = _Miss(self, self._config.resolution_delay, eager6,
                     self._sched.loop or asyncio.get_running_loop())
        sched = self._sched
        flights = [sched.fetch(name, fam) for fam in FAMILIES[family]]
        out = miss.out
        for fam, flight in zip(FAMILIES[family], flights, strict=True):
            if not flight.done():  # a closed engine answers at once
                out[flight] = fam
        for flight in flights:
            if flight in out:
                sched.listen(flight, miss)
            else:
                miss(flight)
        if not out and not miss.waiter.done():
            miss.waiter.set_result(None)
        return miss

    def _gather(self, host: str, family: int, local: Local) -> _Gather:
        now = self._sched.clock()
        name = local.name
        ready: list[tuple[int, Outcome]] = []
        plans: list[Plan] = []
        stale: list[str] = []
        for fam in FAMILIES[family]:
            ips = local.found.get(fam)
            if ips is not None:
                ready.append((fam, self._local(host, fam, ips, local.policed)))
                continue
            plan = self._sched.plan(name, fam, now)
            if plan.mode == NOW:
                assert plan.record is not None
                ready.append((fam, self._now(plan.record, now, stale)))
            else:
                plans.append(plan)
        kind = ("misses" if plans else
                "local" if any(fam in local.found for fam in FAMILIES[family]) else "hits")
        return _Gather(self, ready, plans, stale, kind)

    def stale_wait(self, r: Record) -> float:
        """How long a lookup of expired ``r`` waits for its refresh before answering stale.

        RFC 8767's client response timer (``stale_answer_timeout``, 1.8 s) at most,
        but no longer than the name's own query time allows (``_STALE_FACTOR`` times
        it plus ``_STALE_SLACK``, enough for one retransmission of a lost packet):
        a refresh that is that late is lost or stuck upstream, and every caller
        of an expired name would otherwise wait the full timer while the upstream
        is down.
        """
        return min(self._config.stale_answer_timeout,
                   _STALE_SLACK + _STALE_FACTOR * r.latency)

    def _local(self, host: str, family: int, ips: tuple[str, ...], policed: bool) -> Outcome:
        addrs = tuple(Address(ip, socket.AddressFamily(family), 0) for ip in ips)
        if not addrs:
            return NoAddressError.for_host(host, f"no address of family {_family_name(family)}")
        if self._policy is not None and policed:
            kept = tuple(self._policy.filter(addrs))
            if not kept:
                return AddressPolicyError.for_host(
                    host, "every address is refused by the address policy")
            addrs = kept
        return addrs

    def _now(self, r: Record, now: float, stale: list[str] | None, *, landed: bool = False,
             reason: str | None = None) -> Outcome:
        """What record ``r`` serves at ``now``: fresh or stale addresses, or its error.

        ``landed``: ``r`` was just fetched (fresh even with a TTL of 0). Why stale
        addresses were served goes into ``stale``.
        """
        if r.kind == POSITIVE and r.error is None and (landed or now < r.expires):
            return r.answer()
        fam = socket.AddressFamily(r.family)
        if r.stale_addrs(now):
            if stale is not None:
                stale.append(reason or ("failed" if r.kind != POSITIVE else "refreshing"))
            return tuple(Address(ip, fam, STALE_ANSWER_TTL) for ip in r.addrs)
        assert r.error is not None
        return r.error

    def _compose(self, host: str, local: Local, got: Mapping[int, Outcome],
                 gather: _Gather | _Miss, family: int = AF_UNSPEC) -> tuple[Address, ...]:
        addrs = [a for out in got.values() if not isinstance(out, DNSError) for a in out]
        if gather.kind:
            # Once per lookup: stale if any family was, else a hit, miss or local.
            if gather.stale:
                self._stats.count_stale(gather.stale[0])
            else:
                setattr(self._stats, gather.kind, getattr(self._stats, gather.kind) + 1)
            gather.kind = ""
        if addrs:
            if not local.sort:
                return tuple(addrs)
            # Ordered here, not by making the cache's view: a name looked up once
            # then keeps no view (three objects fewer for the garbage collector to
            # walk, per name of a crawl); its first hit makes it.
            entry = self._cache.peek(local.name)
            failed = entry.failed if entry is not None else None
            ordered = order(addrs, self._config.first_family_count) if len(addrs) > 1 else addrs
            if failed:
                now = self._sched.clock()
                ordered = demote(ordered, {ip for ip, u in failed.items() if u > now})
            return tuple(ordered)
        errors = [out for out in got.values() if isinstance(out, DNSError)]
        err = pick_error(host, errors) if errors else NoAddressError.for_host(host, "no address")
        self._stats.errors[type(err).__name__] += 1
        raise err.copy()


class _Gather:
    """The per-family outcomes of one lookup, handed out as they become known.

    Waiting is one future per wait, woken by the scheduler as the queries land
    (``Scheduler.listen``: no loop hop) and by a loop timer; ``asyncio.wait`` cost
    a waiter, a callback per future added and removed, and a timeout handle on
    every call, twice per lookup.
    """

    __slots__ = ("_alone", "_delay", "_delayed", "_eager6", "_got", "_hooked", "_lookup",
                 "_ready", "_stale_at", "_waiter", "_waits", "_with_addrs", "kind", "stale")

    def __init__(self, lookup: Lookup, ready: list[tuple[int, Outcome]],
                 plans: list[Plan], stale: list[str], kind: str) -> None:
        self._lookup = lookup
        self.kind = kind  # the Stats counter this lookup adds to, "" once counted
        self.stale = stale  # why stale addresses were handed out, not yet counted
        self._ready = ready
        self._waits: dict[asyncio.Future[Record], Plan] = {}
        self._alone: dict[asyncio.Future[Record], Plan] = {}
        self._stale_at: dict[asyncio.Future[Record], float] = {}
        self._waiter: asyncio.Future[None] | None = None
        self._with_addrs = False
        self._got: dict[int, Outcome] | None = None  # set while settle() waits
        self._delayed = False  # settle(): the Resolution Delay runs (Lookup.delays)
        self._eager6 = False  # settle(): IPv6 addresses end the wait at once (streaming)
        self._delay = 0.0
        self._hooked = False  # the scheduler calls _wake as each query lands
        loop = asyncio.get_running_loop() if plans else None
        for plan in plans:
            fut = plan.fut
            assert fut is not None
            if plan.mode == ALONE:
                self._alone[fut] = plan
            else:
                self._waits[fut] = plan
                if plan.mode == STALE:
                    assert loop is not None
                    assert plan.record is not None
                    self._stale_at[fut] = loop.time() + lookup.stale_wait(plan.record)

    def _wake(self, fut: object = None) -> None:
        """A query landed (``fut``) or a timer ran out (no argument)."""
        got = self._got
        if got is not None and fut is not None:
            # settle(): take the outcome here, even after the caller was woken
            # but before it ran, and wake the caller only when done.
            if fut not in self._waits:
                return
            assert isinstance(fut, asyncio.Future)
            waiter = self._waiter
            try:
                fam, outcome = self._take(fut)
            except Exception as exc:  # a bug: the caller gets it, rather than a hang
                if waiter is not None and not waiter.done():
                    waiter.set_exception(exc)
                return
            got[fam] = outcome
            if waiter is None or waiter.done():
                return
            if not self._waits:
                waiter.set_result(None)
            elif not isinstance(outcome, DNSError) and outcome:
                if self._delay <= 0 or (self._eager6 and fam == AF_INET6):
                    waiter.set_result(None)
                elif not self._delayed:
                    self._delayed = True
                    self._lookup.delays.add(waiter, self._delay)
            return
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    __call__ = _wake

    def _hook(self) -> None:
        if self._hooked:
            return
        self._hooked = True
        sched = self._lookup._sched
        for fut in (*self._waits, *self._alone):
            if not fut.done():
                sched.listen(fut, self)  # __call__ is _wake: no bound method to keep

    def only_waits(self) -> bool:
        """True if every family waits for a query still out (no stale, no fallback)."""
        if self._ready or self._alone or self._stale_at or not self._waits:
            return False
        for fut in self._waits:  # noqa: SIM110 - per miss: no generator
            if fut.done():
                return False
        return True

    def settle(self, got: dict[int, Outcome], delay: float, *,
               eager6: bool = False) -> asyncio.Future[None]:
        """A future done once every family's outcome is in ``got``, or those in by
        ``delay`` after the first addresses (with ``eager6``, at once after IPv6
        addresses, as ``stream`` does); call ``settled()`` after it.

        Only when ``only_waits()``: the queries' callbacks take the outcomes, so
        the caller is woken once, not once per family (and no coroutine waits).
        """
        self._got, self._delay, self._eager6 = got, delay, eager6
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        self._hook()
        return waiter

    def settled(self) -> None:
        # The Resolution Delay may still call _wake: with no waiter, it does nothing.
        self._waiter = self._got = None

    def waiting(self) -> bool:
        """True if some family's query is still out (a later ``next`` may give it)."""
        return bool(self._waits) or bool(self._alone)

    def has_ready(self) -> bool:
        return bool(self._ready)

    def pending(self, family: int) -> bool:
        """True if ``family`` may still answer (a later ``next`` could give it)."""
        return any(p.family == family for p in self._waits.values()) or (
            not self._with_addrs and any(p.family == family for p in self._alone.values()))

    async def next(self, timeout: float | None) -> tuple[int, Outcome] | _End | None:
        """The next family's outcome; None when ``timeout`` passed first; _DONE at the end."""
        loop: asyncio.AbstractEventLoop | None = None
        deadline = None
        while True:
            waits = self._waits
            for fut in [f for f in waits if f.done()]:
                self._ready.append(self._take(fut))
            if self._ready:
                fam, outcome = self._ready.pop(0)
                if not isinstance(outcome, DNSError) and outcome:
                    self._with_addrs = True
                return fam, outcome
            if not self._with_addrs and self._alone:
                waits.update(self._alone)
                self._alone.clear()
                continue  # an alone query may have landed already
            if not waits:
                return _DONE
            if loop is None:
                loop = asyncio.get_running_loop()
                deadline = None if timeout is None else loop.time() + timeout
            now = loop.time()
            wake = deadline
            for at in self._stale_at.values():
                wake = at if wake is None else min(wake, at)
            if wake is not None and wake <= now:
                if self._expire_stale(now) or deadline is None or deadline > now:
                    continue
                return None
            waiter = self._waiter = loop.create_future()
            self._hook()
            timer = None if wake is None else loop.call_at(wake, self._wake)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
            if not any(f.done() for f in waits):
                self._expire_stale(loop.time())

    def hurry_stale(self, at: float) -> None:
        """Answer stale no later than ``at`` (loop time) for families still refreshing.

        Once another family has addresses, a slow refresh must not keep its
        family's stale addresses out of the answer (a broken IPv6 path with an
        expired A would leave nothing that connects).
        """
        stale_at = self._stale_at
        for fut, when in stale_at.items():
            if when > at:
                stale_at[fut] = at

    def _expire_stale(self, now: float) -> bool:
        """Answer stale for families whose refresh took longer than allowed."""
        expired = [fut for fut, at in self._stale_at.items() if at <= now]
        clock_now = self._lookup._sched.clock()
        for fut in expired:
            plan = self._waits.pop(fut)
            del self._stale_at[fut]
            assert plan.record is not None
            self._ready.append((plan.family,
                                self._lookup._now(plan.record, clock_now, self.stale,
                                                  reason="slow")))
        return bool(expired)

    def _take(self, fut: asyncio.Future[Record]) -> tuple[int, Outcome]:
        """The outcome of a query that landed."""
        plan = self._waits.pop(fut)
        self._stale_at.pop(fut, None)
        record = fut.result()
        return plan.family, self._lookup._now(record, self._lookup._sched.clock(), self.stale,
                                              landed=True)


class _Miss:
    """A lookup in the common miss: each family's query out, nothing known or stale.

    What ``_Gather.settle`` does for it, with none of the general case's state:
    the queries' landing calls it (``Scheduler.listen``), it takes each outcome,
    and wakes the caller once every family landed or the Resolution Delay
    ran out after the first addresses (with ``eager6``, at once after IPv6
    addresses, as ``stream`` does).
    """

    __slots__ = ("_delay", "_delayed", "_eager6", "_lookup", "got", "kind", "out", "stale",
                 "waiter")

    def __init__(self, lookup: Lookup, delay: float, eager6: bool,
                 loop: asyncio.AbstractEventLoop) -> None:
        self._lookup = lookup
        self._delay = delay
        self._delayed = False
        self._eager6 = eager6
        self.got: dict[int, Outcome] = {}
        self.out: dict[asyncio.Future[Record], int] = {}  # queries not landed -> family
        self.kind = "misses"  # the Stats counter (see _Gather.kind)
        self.stale: list[str] = []
        self.waiter: asyncio.Future[None] = loop.create_future()

    def __call__(self, flight: asyncio.Future[Record]) -> None:
        """A family's query landed (after the caller composed its answer, or was
        cancelled, what it takes goes nowhere)."""
        waiter = self.waiter
        out = self.out
        out.pop(flight, None)
        try:
            record = flight.result()
            if record.kind == POSITIVE and record.error is None:
                outcome: Outcome = record.answer()
            else:
                lookup = self._lookup
                outcome = lookup._now(record, lookup._sched.clock(), self.stale, landed=True)
        except Exception as exc:  # a bug: the caller gets it, rather than a hang
            if not waiter.done():
                waiter.set_exception(exc)
            return
        # Taken even when the caller was woken but has not run yet.
        self.got[record.family] = outcome
        if waiter.done():
            return
        if not out:
            waiter.set_result(None)
        elif not isinstance(outcome, DNSError) and outcome:
            if self._delay <= 0 or (self._eager6 and record.family == AF_INET6):
                waiter.set_result(None)
            elif not self._delayed:
                self._delayed = True
                self._lookup.delays.add(waiter, self._delay)


class _Delays:
    """The Resolution Delays of every lookup of one Lookup, on one loop timer.

    A miss arms its delay when its first family lands and almost always ends
    it microseconds later, when the second lands in the same read. So a delay
    is only queued once the callbacks of that read have run (one ``call_soon``
    per read, not per lookup), and a lookup whose families all landed by then
    queues none. A queued delay that ended early finds its waiter done; only
    the waiter is held, not the lookup. Delays of one length are queued in
    time order, so a FIFO keeps them sorted: a shorter one (a changed
    ``resolution_delay``) is put in its place.
    """

    __slots__ = ("_arming", "_at", "_loop", "_queue", "_soon", "_timer")

    def __init__(self) -> None:
        self._queue: deque[tuple[float, asyncio.Future[None]]] = deque()
        self._soon: list[tuple[asyncio.Future[None], float]] = []  # to queue after this read
        self._arming = False  # _arm is scheduled
        self._timer: asyncio.TimerHandle | None = None
        self._at = 0.0  # when _timer runs
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, waiter: asyncio.Future[None], delay: float) -> None:
        """Wake ``waiter`` (if not done by then) ``delay`` seconds after the
        callbacks running now (the rest of this read) have run."""
        loop = waiter.get_loop()
        if loop is not self._loop:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._queue.clear()
            self._soon.clear()
            self._arming = False
            self._loop = loop
        self._soon.append((waiter, delay))
        if not self._arming:
            self._arming = True
            loop.call_soon(self._arm)

    def _arm(self) -> None:
        self._arming = False
        loop, soon = self._loop, self._soon
        if loop is None or loop.is_closed() or not soon:
            return
        self._soon = []
        now = loop.time()
        queue = self._queue
        for waiter, delay in soon:
            if waiter.done():
                continue  # every family landed in the same read
            when = now + delay
            if not queue or queue[-1][0] <= when:
                queue.append((when, waiter))
            else:
                queue.insert(bisect.bisect_right([w for w, _ in queue], when), (when, waiter))
            if self._timer is None or self._at > when:
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = loop.call_at(when, self._run)
                self._at = when

    def _run(self) -> None:
        self._timer = None
        loop, queue = self._loop, self._queue
        if loop is None or loop.is_closed():
            return
        now = loop.time()
        while queue and queue[0][0] <= now:
            waiter = queue.popleft()[1]
            if not waiter.done():
                waiter.set_result(None)
        if queue:
            self._at = queue[0][0]
            self._timer = loop.call_at(self._at, self._run)


def _family_name(family: int) -> str:
    return "IPv4" if family == AF_INET else "IPv6" if family == AF_INET6 else "any"

