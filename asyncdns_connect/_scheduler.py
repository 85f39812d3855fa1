"""The cache's rules: when to ask DNS for one (name, family), and what to keep.

Everything here reads time from the ``clock`` it was given and asks DNS only
through a ``Fetcher``, so unit tests drive it with a fake clock and a fake
fetcher. Per (name, family):

- one query in flight however many callers wait (``fetch``);
- a positive answer lives its clamped TTL; NXDOMAIN/NODATA the SOA negative TTL
  (RFC 2308); a failure (SERVFAIL, timeout...) ``failure_ttl``, doubling on each
  failure in a row up to ``max_failure_ttl`` (RFC 9520), so a failing upstream
  sees a bounded query rate, prefetches included;
- a hit from ``prefetch_at`` on refreshes that family only, early enough for the
  query time this name showed (three times it, at least the last
  ``prefetch_fraction`` of the TTL, at most half the TTL);
- an expired answer is served while its refresh is in flight or failing, until
  ``stale_ttl`` (RFC 8767); a lookup that finds nothing in flight waits for its
  refresh at most ``stale_answer_timeout`` before answering stale (less when the
  refresh is late for the name: ``Lookup.stale_wait``).

``plan`` tells the lookup layer, per family, what it may answer now and which
query (if any) to wait for.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import NamedTuple

import pycares

from ._cache import FAILURE, NEGATIVE, POSITIVE, HostCache, HostEntry, Record
from ._config import ResolverConfig
from ._errors import (
    AddressPolicyError,
    DNSError,
    NoAddressError,
    ResolverClosedError,
    error_for_status,
)
from ._fetcher import NO_SOA, OK, Fetcher, Reply
from ._policy import AddressPolicy
from ._stats import Stats

__all__ = ["ALONE", "NOW", "STALE", "WAIT", "Plan", "Scheduler"]

AF_INET = socket.AF_INET
AF_INET6 = socket.AF_INET6
AF_UNSPEC = socket.AF_UNSPEC
FAMILIES: dict[int, tuple[int, ...]] = {
    AF_UNSPEC: (AF_INET, AF_INET6), AF_INET: (AF_INET,), AF_INET6: (AF_INET6,)}

_E = pycares.errno
_NEGATIVE = (_E.ARES_ENOTFOUND, _E.ARES_ENODATA)
# Outcomes that say nothing about the name and must not be remembered.
_NOT_KEPT = (_E.ARES_ECANCELLED, _E.ARES_EDESTRUCTION, _E.ARES_EBADNAME, _E.ARES_EBADQUERY)
_LATENCY_FACTOR = 3.0

# Plan modes.
NOW = "now"  # answer with Plan.record; Plan.fut, if any, refreshes in the background
WAIT = "wait"  # wait for Plan.fut (nothing to answer meanwhile)
STALE = "stale"  # wait for Plan.fut at most stale_answer_timeout, else Plan.record stale
ALONE = "alone"  # Plan.record failed; wait for Plan.fut only if no family has addresses


class Plan(NamedTuple):
    family: int
    mode: str
    record: Record | None
    fut: asyncio.Future[Record] | None


class Scheduler:
    """Per-(name, family) records in ``cache``, written from ``Fetcher`` replies."""

    def __init__(self, cache: HostCache, config: ResolverConfig, stats: Stats, *,
                 clock: Callable[[], float] = time.monotonic,
                 policy: AddressPolicy | None = None,
                 fetcher: Fetcher | None = None) -> None:
        self.cache = cache
        self.config = config
        self.stats = stats
        self.clock = clock
        self.policy = policy
        self.fetcher = fetcher
        # The loop the fetcher runs on, set with it (asyncio.get_running_loop()
        # is a system call, getpid, on Python 3.11 and older).
        self.loop: asyncio.AbstractEventLoop | None = None
        self.inflight: dict[tuple[str, int], _Flight] = {}
        # (name, family) -> the fetcher's reply count when its lookup timed out
        self._timed_out: dict[tuple[str, int], int] = {}

    # -- asking DNS --------------------------------------------------------------

    def fetch(self, name: str, family: int) -> asyncio.Future[Record]:
        """The query for (name, family) in flight, started if none is.

        The future always gets a Record (never an exception); waiters must not
        cancel it (``asyncio.wait`` does not).
        """
        key = (name, family)
        fut = self.inflight.get(key)
        if fut is not None:
            self.stats.merged += 1
            return fut
        fetcher = self.fetcher
        assert fetcher is not None, "bind a fetcher first"
        flight = _Flight(self, key, self.clock(), self.loop or asyncio.get_running_loop())
        # In flight before asking: a closed engine answers at once.
        self.inflight[key] = flight
        if getattr(fetcher, "calls_back", False):
            fetcher.send(name, family, flight)  # type: ignore[attr-defined]
        else:
            fetcher.fetch(name, family).add_done_callback(flight.reply_done)
        return flight

    def listen(self, fut: asyncio.Future[Record],
               callback: Callable[[asyncio.Future[Record]], None]) -> None:
        """Call ``callback(fut)`` right when the pending ``fut`` is given its Record.

        For the lookup layer: unlike a done callback, no loop hop. ``callback``
        must not ask DNS (it may run inside the engine's callback).
        """
        assert isinstance(fut, _Flight), "only fetch()'s futures are listened to"
        # _Flight's listeners, set here: one call per family less on every miss.
        if fut.listener is None:
            fut.listener = callback
        elif fut.more is None:
            fut.more = [callback]
        else:
            fut.more.append(callback)

    def close(self) -> None:
        """Give every waiter a ResolverClosedError record; forget what is in flight."""
        inflight, self.inflight = self.inflight, {}
        for (name, family), flight in inflight.items():
            if not flight.done() and not flight.get_loop().is_closed():
                flight.land(self._unkept(name, family,
                                         ResolverClosedError.for_host(name, "resolver closed")))

    def forget_inflight(self) -> None:
        """Drop queries of another loop (after a rebind or fork); their callers are gone."""
        self.inflight = {}

    # -- what to keep --------------------------------------------------------------

    def store(self, name: str, family: int, reply: Reply, started: float) -> Record:
        """Turn ``reply`` into a Record, keep it if the rules say so, and return it."""
        now = self.clock()
        latency = now - started if now > started else 0.0
        if self._timed_out:
            self._timed_out.pop((name, family), None)
        entry = self.cache.get(name)
        prev = entry.records.get(family) if entry is not None else None
        cfg = self.config
        if prev is not None and prev.latency / 2 > latency:
            latency = prev.latency / 2
        status = reply.status
        if status == OK:
            addrs, error = reply.addrs, None
            if self.policy is not None:
                addrs = tuple(ip for ip in addrs if self.policy.allows(ip))
                if not addrs:
                    error = AddressPolicyError.for_host(
                        name, "every address is refused by the address policy")
            life = cfg.positive_life(reply.ttl)
            expires = now + life
            record = Record(family, POSITIVE, addrs, error, life, expires,
                            expires + cfg.stale_ttl if addrs else expires,
                            expires - self._lead(life, latency), 0, latency)
        elif status in _NEGATIVE:
            err = error_for_status(name, status)
            if status == _E.ARES_ENODATA:
                err = NoAddressError.for_host(name, f"the name has no {_family_name(family)}"
                                                    " address (NODATA)")
            life = cfg.negative_life(None if reply.ttl == NO_SOA else reply.ttl)
            record = Record(family, NEGATIVE, (), err, life, now + life, now + life,
                            now + life - self._lead(life, latency), 0, latency)
        elif status in _NOT_KEPT:
            return self._unkept(name, family, _error(name, reply))
        else:
            answers = getattr(self.fetcher, "answers", None)
            if status == _E.ARES_ETIMEOUT and isinstance(answers, int):
                self._note_timeout(name, family, answers)
            return self._failed(name, family, _error(name, reply), entry, prev, now, latency)
        if record.ttl <= 0:
            # Not cached (TTL 0): and an older answer must not outlive this one.
            if entry is not None and entry.records.pop(family, None) is not None:
                entry.rebuild(now)
            return record
        entry = self.cache.entry(name) if entry is None else entry
        entry.records[family] = record
        entry.rebuild(now)
        return record

    def _failed(self, name: str, family: int, err: DNSError, entry: HostEntry | None,
                prev: Record | None, now: float, latency: float) -> Record:
        """RFC 9520: remember the failure, backing off; keep what may still be served."""
        cfg = self.config
        stats = self.stats
        failures = (prev.failures if prev is not None else 0) + 1
        life = cfg.failure_life(failures)
        stats.backoffs += 1
        if prev is not None:
            stats.refresh_failures[type(err).__name__] += 1
        if entry is not None and prev is not None and prev.kind != FAILURE \
                and now < prev.expires:
            # A refresh ahead of expiry failed: the answer is still good; only the
            # next refresh waits out the back-off.
            prev.failures = failures
            prev.prefetch_at = now + life
            entry.rebuild(now)
            return Record(family, FAILURE, prev.addrs, err, prev.ttl, now + life,
                          prev.stale_until, now + life, failures, latency)
        keep = prev if prev is not None and prev.stale_addrs(now) else None
        record = Record(family, FAILURE, keep.addrs if keep else (), err,
                        keep.ttl if keep else 0, now + life,
                        keep.stale_until if keep else now, now + life, failures, latency)
        entry = self.cache.entry(name) if entry is None else entry
        entry.records[family] = record
        entry.rebuild(now)
        return record

    def _note_timeout(self, name: str, family: int, answers: int) -> None:
        timed_out = self._timed_out
        timed_out[(name, family)] = answers
        if len(timed_out) > self.cache.max_size:
            for key in list(timed_out)[:len(timed_out) // 2]:  # the oldest half
                del timed_out[key]

    def _answered_since(self, name: str, family: int) -> bool:
        """True if the upstream has replied to anything since (name, family) timed out.

        A timeout is no reply at all: a lost packet or an outage. Once the
        upstream replies again, remembering the timeout (RFC 9520) would only
        fail callers of a name DNS can answer; one query per name in flight (the
        merge) already bounds what a dead name costs. SERVFAIL and other replies
        that say the upstream is failing keep their back-off.
        """
        at = self._timed_out.get((name, family))
        if at is None:
            return False
        answers = getattr(self.fetcher, "answers", None)
        return isinstance(answers, int) and answers > at

    def retry_failure(self, name: str, family: int) -> bool:
        """True if a remembered failure of ``name`` should be asked again now
        (a cache hit on it goes to ``plan`` instead)."""
        return bool(self._timed_out) and any(
            self._answered_since(name, fam) for fam in FAMILIES[family])

    def _unkept(self, name: str, family: int, err: DNSError) -> Record:
        now = self.clock()
        return Record(family, FAILURE, (), err, 0, now, now, now)

    def _lead(self, life: float, latency: float) -> float:
        """How long before expiry a hit starts the refresh."""
        return min(life / 2, max(life * self.config.prefetch_fraction,
                                 _LATENCY_FACTOR * latency))

    # -- what a lookup does ------------------------------------------------------------

    def plan(self, name: str, family: int, now: float) -> Plan:
        """What a lookup of (name, family) answers now, and what it waits for."""
        entry = self.cache.get(name)
        r = entry.records.get(family) if entry is not None else None
        if r is None:
            return Plan(family, WAIT, None, self.fetch(name, family))
        if now < r.expires and not (r.kind == FAILURE and self._timed_out
                                    and self._answered_since(name, family)):
            fut = None
            if r.kind != FAILURE and now >= r.prefetch_at:
                fut = self._prefetch_one(name, family)
            return Plan(family, NOW, r, fut)
        refreshing = (name, family) in self.inflight
        fut = self.fetch(name, family)
        if r.stale_addrs(now):
            return Plan(family, NOW if refreshing else STALE, r, fut)
        if r.kind == FAILURE:
            # Failing: waited for only when no other family has addresses.
            return Plan(family, ALONE, r, fut)
        return Plan(family, WAIT, None, fut)

    def prefetch(self, entry: HostEntry, family: int, now: float) -> None:
        """From a cache hit past its view's prefetch time: refresh the families due."""
        for fam in FAMILIES[family]:
            r = entry.records.get(fam)
            if r is not None and r.kind != FAILURE and now >= r.prefetch_at:
                self._prefetch_one(entry.name, fam)

    def _prefetch_one(self, name: str, family: int) -> asyncio.Future[Record] | None:
        if (name, family) in self.inflight:
            return None
        self.stats.prefetches += 1
        return self.fetch(name, family)

    # -- learned fallback ------------------------------------------------------------

    def report_failure(self, name: str, address: str) -> None:
        entry = self.cache.get(name)
        if entry is None:
            return
        now = self.clock()
        until = entry.failed.get(address)
        if until is None or until <= now:
            entry.failed[address] = now + self.config.failed_address_ttl
            entry.rebuild(now)


class _Flight(asyncio.Future[Record]):
    """The query of one (name, family) in flight: the Record its waiters get.

    Also the fetcher's reply callback and the holder of the lookups' listeners,
    so a query in flight is one object, not a future, a partial and a list
    (each one more for the garbage collector to walk while 500 are out).
    """

    __slots__ = ("key", "listener", "more", "sched", "started")

    def __init__(self, sched: Scheduler, key: tuple[str, int], started: float,
                 loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self.sched = sched
        self.key = key
        self.started = started
        # Usually one listener: no list for it.
        self.listener: Callable[[asyncio.Future[Record]], None] | None = None
        self.more: list[Callable[[asyncio.Future[Record]], None]] | None = None

    def __call__(self, reply: Reply) -> None:
        """The fetcher's ``on_reply``: keep what the reply says, then land."""
        sched, key = self.sched, self.key
        if sched.inflight.get(key) is self:
            del sched.inflight[key]
        try:
            record = sched.store(key[0], key[1], reply, self.started)
        except Exception as exc:  # a bug: report it, but never leave waiters hanging
            self.get_loop().call_exception_handler(
                {"message": "storing a DNS reply failed", "exception": exc})
            record = sched._unkept(key[0], key[1], _error(key[0], Reply(
                _E.ARES_EBADRESP, reason=f"internal error: {exc!r}")))
        self.land(record)

    def reply_done(self, reply: asyncio.Future[Reply]) -> None:
        """A plain fetcher's future is done."""
        if reply.cancelled():
            result = Reply(_E.ARES_ECANCELLED)
        elif reply.exception() is not None:  # a Fetcher breaking its promise
            result = Reply(_E.ARES_EBADRESP, reason=repr(reply.exception()))
        else:
            result = reply.result()
        self(result)

    def land(self, record: Record) -> None:
        """Give the waiters ``record``; the listeners first hear of it now."""
        if self.done():
            return
        self.set_result(record)
        listener, more = self.listener, self.more
        self.listener = self.more = None
        for callback in (listener, *(more or ())):
            if callback is None:
                continue
            try:
                callback(self)
            except Exception as exc:  # a bug in one waiter must not strand the others
                self.get_loop().call_exception_handler(
                    {"message": "a DNS lookup's listener failed", "exception": exc})


def _error(name: str, reply: Reply) -> DNSError:
    err = error_for_status(name, reply.status)
    if reply.reason:
        err = type(err).for_host(name, reply.reason, reply.status)
    return err


def _family_name(family: int) -> str:
    return "IPv6" if family == AF_INET6 else "IPv4"
