"""``NetworkModel``: the upstream a datacenter's recursive resolver looks like, on loopback.

Given to ``DNSServer(network=...)``, it decides for every query the server would
answer whether the answer goes out, when, and whether it is a SERVFAIL:

* the upstream's own cache: the first query for a (name, type) is a *miss*,
  answered after a lognormal delay (median ``miss_median``, 99th percentile
  ``miss_p99``); queries arriving while that miss is pending wait for it (a
  recursive resolver merges them); later queries within the answer's TTL are
  *hits*, answered in ``hit_latency``. TTL 0 is never cached upstream.
* loss: each query (or its answer) is lost with probability ``loss``.
* SERVFAIL bursts: windows of ``burst_length`` seconds, on average every
  ``burst_every`` seconds, in which misses fail with SERVFAIL.
* an outage: from ``outage_at`` for ``outage_for`` seconds nothing is answered.

``late()`` lists the answers that went out ``late_after`` seconds or more after
their query (a client whose timeout is shorter could not have had them), so a
benchmark can tell a lookup the network lost from one the upstream answered
too late.

All of it is drawn from ``random.Random(seed)`` and measured from ``restart()``
(called by the server's ``start()``), so a run is reproducible up to the order
in which queries arrive. Delays are only returned here; the server schedules
the delayed answer on its loop, so a slow answer holds up nothing else.

Hand-written: ``tc netem`` needs privileges and delays packets, not answers by
name, and no Python library models a recursive resolver's cache.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["NetworkModel", "NetworkProfile", "Verdict"]

_Z99 = 2.3263  # the standard normal's 99th percentile


@dataclass(frozen=True)
class NetworkProfile:
    """The numbers of a ``NetworkModel``; the defaults are a datacenter's resolver."""

    hit_latency: tuple[float, float] = (0.001, 0.004)
    miss_median: float = 0.030
    miss_p99: float = 0.800
    max_latency: float = 5.0
    loss: float = 0.015
    burst_every: float = 20.0
    burst_length: float = 0.3
    outage_at: float | None = None
    outage_for: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.loss < 1:
            raise ValueError(f"loss must be in [0, 1), not {self.loss!r}")
        if not 0 < self.miss_median <= self.miss_p99:
            raise ValueError("need 0 < miss_median <= miss_p99")
        if self.hit_latency[0] < 0 or self.hit_latency[1] < self.hit_latency[0]:
            raise ValueError(f"bad hit_latency range {self.hit_latency!r}")


Action = Literal["answer", "drop", "servfail"]


@dataclass(frozen=True)
class Verdict:
    """What happens to one query: ``action`` after ``delay`` seconds."""

    action: Action
    delay: float = 0.0
    miss: bool = False


@dataclass
class NetworkCounters:
    hits: int = 0
    misses: int = 0
    merged: int = 0
    lost: int = 0
    servfail: int = 0
    outage: int = 0
    # Queries for a (name, type) whose earlier query had no answer out yet (pending,
    # or dropped less than ``late_after`` ago): retransmissions and unmerged duplicates.
    repeats: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _State:
    origin: float
    rng: random.Random
    bursts: list[tuple[float, float]]
    # (name key, qtype) -> (answer ready at, cached until), monotonic seconds
    cache: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    counters: NetworkCounters = field(default_factory=NetworkCounters)
    # (name key, qtype, query time, seconds until the answer went out)
    late: list[tuple[str, str, float, float]] = field(default_factory=list)
    # (name key, qtype) -> when the answer to its latest query goes (or would have) out
    unanswered: dict[tuple[str, str], float] = field(default_factory=dict)


class NetworkModel:
    """A seeded model of the network between a client and its recursive resolver."""

    def __init__(self, profile: NetworkProfile | None = None, *, seed: int = 0,
                 horizon: float = 3600.0, late_after: float = 1.0) -> None:
        self.profile = profile or NetworkProfile()
        self.seed = seed
        self.late_after = late_after
        self._horizon = horizon
        self._sigma = math.log(self.profile.miss_p99 / self.profile.miss_median) / _Z99
        self._lock = threading.Lock()
        self._state = self._new_state(time.monotonic())

    def _new_state(self, origin: float) -> _State:
        rng = random.Random(self.seed)
        p = self.profile
        bursts: list[tuple[float, float]] = []
        if p.burst_every > 0 and p.burst_length > 0:
            at = rng.expovariate(1 / p.burst_every)
            while at < self._horizon:
                bursts.append((origin + at, origin + at + p.burst_length))
                at += p.burst_length + rng.expovariate(1 / p.burst_every)
        return _State(origin, rng, bursts)

    def restart(self, origin: float | None = None) -> None:
        """Start the clock again (at ``origin``, monotonic, or now): empty upstream
        cache, counters at 0, the same seeded draws and windows as the first time."""
        state = self._new_state(time.monotonic() if origin is None else origin)
        with self._lock:
            self._state = state

    @property
    def origin(self) -> float:
        """The ``time.monotonic()`` the clock started at (same clock in every process)."""
        return self._state.origin

    def windows(self) -> list[tuple[str, float, float]]:
        """The fault windows as (``"outage"`` or ``"servfail"``, start, end), monotonic."""
        state, p = self._state, self.profile
        out = [("servfail", a, b) for a, b in state.bursts]
        if p.outage_at is not None and p.outage_for > 0:
            start = state.origin + p.outage_at
            out.append(("outage", start, start + p.outage_for))
        return sorted(out, key=lambda w: w[1])

    def counters(self) -> dict[str, int]:
        with self._lock:
            return self._state.counters.as_dict()

    def sent(self, key: str, qtype: str, delay: float, now: float | None = None) -> None:
        """Note that the answer to a query for ``key``/``qtype`` goes out after ``delay``
        (the server calls this with the whole delay, its own faults included)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._state.unanswered[(key, qtype)] = now + delay
            if delay >= self.late_after:
                self._state.late.append((key, qtype, now, delay))

    def late(self) -> list[tuple[str, str, float, float]]:
        """Answers sent ``late_after`` or more after their query, since the restart:
        (name, type, query time (monotonic), delay)."""
        with self._lock:
            return list(self._state.late)

    def judge(self, key: str, qtype: str, ttl: float, now: float | None = None) -> Verdict:
        """The fate of a query for ``key``/``qtype`` whose answer has TTL ``ttl``."""
        p = self.profile
        now = time.monotonic() if now is None else now
        with self._lock:
            s = self._state
            c = s.counters
            qkey = (key, qtype)
            if now < s.unanswered.get(qkey, 0.0):
                c.repeats += 1
            if p.outage_at is not None and 0 <= now - s.origin - p.outage_at < p.outage_for:
                c.outage += 1
                s.unanswered[qkey] = max(s.unanswered.get(qkey, 0.0), now + self.late_after)
                return Verdict("drop")
            if s.rng.random() < p.loss:
                c.lost += 1
                s.unanswered[qkey] = max(s.unanswered.get(qkey, 0.0), now + self.late_after)
                return Verdict("drop")
            ready, until = s.cache.get((key, qtype), (0.0, 0.0))
            hit = s.rng.uniform(*p.hit_latency)
            if now < ready:  # a miss for this name is pending upstream: wait for it
                c.merged += 1
                return Verdict("answer", ready - now + hit)
            if now < until:
                c.hits += 1
                return Verdict("answer", hit)
            delay = min(p.max_latency, s.rng.lognormvariate(math.log(p.miss_median),
                                                            self._sigma))
            if any(a <= now < b for a, b in s.bursts):
                c.servfail += 1
                return Verdict("servfail", delay, miss=True)
            c.misses += 1
            s.cache[(key, qtype)] = (now + delay, now + delay + max(0.0, ttl))
            return Verdict("answer", delay, miss=True)
