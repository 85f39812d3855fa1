"""The field crawl measures clients alike: a request that failed counts against
connect time, so a client that gives up on slow lookups does not look fast.

Found by measurement (docs/field.md): stock aiohttp's connect p95 sat at ~252 ms
on every kind of host because aiodns, under resolv.conf's ``attempts:1``, fails a
lookup at c-ares's adaptive retry timeout (250 ms floor); those requests failed,
and only the lookups faster than that were timed.
"""

from __future__ import annotations

import pytest

from asyncdns_connect._cli import _crawl
from asyncdns_connect.testing import (
    DNSServer,
    Fault,
    FieldWeb,
    make_population,
    publish_population,
)


def test_failed_requests_rank_after_every_connect() -> None:
    fast = [0.01] * 90
    # Without the failures the p95 is fast; with 10% failed it is "never".
    assert _crawl.pct(fast, 0.95) == 10.0
    assert _crawl.pct(fast, 0.95, never=10) is None
    # A few failures only push the quantile up the successes' ranks.
    times = [i / 1000 for i in range(1, 101)]
    assert _crawl.pct(times, 0.95) == 95.0
    assert _crawl.pct(times, 0.95, never=2) == 97.0


async def test_crawl_counts_failed_requests_per_kind() -> None:
    hosts = [h for h in make_population(400, seed=5) if h.kind in ("dual", "v4only")][:40]
    dead = {h.name for h in hosts if h.kind == "v4only"}
    assert dead and len(dead) < len(hosts)
    async with DNSServer() as dns, FieldWeb() as web:
        publish_population(dns, hosts)
        for name in dead:  # these lookups time out: the requests fail, no connect
            dns.fault(name, "A", Fault.drop())
            dns.fault(name, "AAAA", Fault.drop())
        plan = _crawl.Plan(hosts=400, seed=5, seconds=1.0, concurrency=8,
                           nameserver=dns.address, dns_timeout=0.2, dns_tries=1)
        # Only the chosen hosts: the stream draws from the same population.
        chosen = {h.name for h in hosts}
        stream = _crawl.stream
        try:
            _crawl.stream = lambda p: (x for x in stream(p) if x[0].name in chosen)  # type: ignore[assignment]
            tally = await _crawl.crawl("aiohttp-ours", plan, web.url, [])
        finally:
            _crawl.stream = stream  # type: ignore[assignment]
    assert tally.connects_by_kind["dual"], "the live hosts connected"
    assert "v4only" not in tally.connects_by_kind
    assert tally.failed_by_kind["v4only"] > 0
    assert tally.failed_by_kind["dual"] == 0
    summary = _crawl.summarize("aiohttp-ours", tally)
    assert summary["failed_by_kind"]["v4only"] == tally.failed_by_kind["v4only"]
    # Half the requests failed: their p95, counting failures, is "never".
    every = [t for ts in tally.connects_by_kind.values() for t in ts]
    assert _crawl.pct(every, 0.95, sum(tally.failed_by_kind.values())) is None


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
