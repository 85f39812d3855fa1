"""The field network model: its draws (fake clock), and the server and web it drives."""

from __future__ import annotations

import asyncio
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pycares
import pytest

from asyncdns_connect import Resolver
from asyncdns_connect.aiohttp import connector
from asyncdns_connect.testing import (
    DNSServer,
    FieldWeb,
    NetworkModel,
    NetworkProfile,
    make_population,
    publish_population,
)

QUIET = NetworkProfile(loss=0, burst_every=0)


def test_upstream_cache_miss_then_hits_within_ttl() -> None:
    model = NetworkModel(QUIET, seed=1)
    t0 = model.origin
    first = model.judge("a.test", "A", ttl=20, now=t0)
    assert first.action == "answer" and first.miss
    ready = t0 + first.delay
    during = model.judge("a.test", "A", ttl=20, now=t0 + first.delay / 2)
    assert during.delay >= first.delay / 2  # waits for the pending miss
    hit = model.judge("a.test", "A", ttl=20, now=ready + 1)
    assert not hit.miss and hit.delay <= QUIET.hit_latency[1]
    again = model.judge("a.test", "A", ttl=20, now=ready + 21)
    assert again.miss  # the upstream's copy expired with the TTL
    assert model.counters()["merged"] == 1


def test_ttl_zero_is_never_cached_upstream() -> None:
    model = NetworkModel(QUIET, seed=1)
    t = model.origin + 10
    assert all(model.judge("z.test", "A", ttl=0, now=t + i).miss for i in range(5))


def test_miss_latency_has_the_asked_median_and_tail() -> None:
    model = NetworkModel(QUIET, seed=7)
    t = model.origin
    delays = sorted(model.judge(f"h{i}.test", "A", 300, now=t).delay for i in range(20000))
    assert 0.025 < statistics.median(delays) < 0.036
    p99 = delays[int(0.99 * len(delays))]
    assert 0.6 < p99 < 1.0


def test_loss_outage_and_bursts() -> None:
    profile = NetworkProfile(loss=0.02, burst_every=5, burst_length=0.5,
                             outage_at=30, outage_for=2)
    model = NetworkModel(profile, seed=3, horizon=60)
    t = model.origin
    verdicts = [model.judge(f"h{i}.test", "A", 300, now=t + 31).action for i in range(100)]
    assert set(verdicts) == {"drop"}  # the outage answers nothing
    lost = sum(model.judge(f"x{i}.test", "A", 300, now=t + 40 + i * 1e-5).action == "drop"
               for i in range(10000) if not any(a <= t + 40 + i * 1e-5 < b
                                                for _, a, b in model.windows()))
    assert 100 < lost < 320
    burst = next(w for w in model.windows() if w[0] == "servfail")
    assert model.judge("new.test", "A", 300, now=burst[1] + 0.01).action == "servfail"


def test_same_seed_same_draws() -> None:
    def draws(seed: int) -> list[float]:
        model = NetworkModel(NetworkProfile(), seed=seed)
        return [model.judge(f"h{i}", "A", 60, now=model.origin + i).delay for i in range(50)]

    assert draws(5) == draws(5)
    assert draws(5) != draws(6)


def test_bad_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="loss"):
        NetworkProfile(loss=1.5)


async def test_server_delays_misses_not_hits_and_stays_responsive() -> None:
    slow = NetworkProfile(miss_median=0.3, miss_p99=0.3, loss=0, burst_every=0)
    async with DNSServer(network=NetworkModel(slow)) as dns:
        dns.add("slow.test", "A", "127.0.0.1", ttl=60)
        dns.add("other.test", "A", "127.0.0.1", ttl=60)
        channel_opts = {"servers": [dns.address], "timeout": 2.0, "tries": 1}

        async def ask(name: str) -> float:
            loop = asyncio.get_running_loop()
            done: asyncio.Future[float] = loop.create_future()
            start = time.monotonic()
            channel = pycares.Channel(**channel_opts)  # type: ignore[arg-type]

            def cb(result: object, error: int | None) -> None:
                loop.call_soon_threadsafe(
                    done.set_exception if error else done.set_result,
                    *([OSError(error)] if error else [time.monotonic() - start]))

            channel.query(name, pycares.QUERY_TYPE_A, callback=cb)
            try:
                return await done
            finally:
                channel.close()

        miss, other = await asyncio.gather(ask("slow.test"), ask("other.test"))
        assert miss >= 0.28 and other >= 0.28
        hit = await ask("slow.test")
        assert hit < miss / 2  # the upstream cached it


async def test_population_behind_fieldweb_through_our_client() -> None:
    hosts = make_population(60, seed=2)
    kinds = {h.kind for h in hosts}
    assert {"cdn", "dual", "v4only", "nx"} <= kinds
    async with DNSServer(network=NetworkModel(QUIET)) as dns, FieldWeb() as web:
        publish_population(dns, hosts)
        async with Resolver([dns.address], timeout=2, tries=2) as resolver, \
                aiohttp.ClientSession(connector=connector(resolver)) as session:

            async def get(url: str) -> int:
                try:
                    async with session.get(url, timeout=aiohttp.ClientTimeout(total=5)) as r:
                        return r.status
                except aiohttp.ClientConnectorDNSError:
                    return -1

            picks = [h for h in hosts if h.kind in ("dual", "v4only", "nx", "broken6")][:20]
            statuses = await asyncio.gather(*(get(web.url(h)) for h in picks))
        for host, status in zip(picks, statuses, strict=True):
            assert status == (-1 if host.kind == "nx" else 200), host


def test_docs_field_snippets_run(tmp_path: Path) -> None:
    # Every Python snippet in docs/field.md runs as written (loopback only).
    doc = (Path(__file__).resolve().parent.parent / "docs" / "field.md").read_text()
    snippets = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    assert snippets
    for i, code in enumerate(snippets):
        script = tmp_path / f"snippet{i}.py"
        script.write_text(code)
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr


def test_threaded_server_takes_a_network_too() -> None:
    import socket as socketlib

    from dnslib import DNSRecord

    from asyncdns_connect.testing import ThreadedDNSServer

    dead = NetworkProfile(loss=0, burst_every=0, outage_at=0, outage_for=60)
    with ThreadedDNSServer(network=NetworkModel(dead)) as dns:
        dns.add("a.test", "A", "127.0.0.1")
        with socketlib.socket(socketlib.AF_INET, socketlib.SOCK_DGRAM) as sock:
            sock.settimeout(0.5)
            sock.sendto(DNSRecord.question("a.test").pack(), (dns.host, dns.port))
            with pytest.raises(TimeoutError):
                sock.recvfrom(4096)  # the outage answers nothing
        assert dns.count("a.test") == 1  # but the query arrived and was logged


def test_repeats_of_unanswered_queries_and_late_answers_are_told_apart() -> None:
    # A benchmark must not call a retransmission a new query, nor a lookup the
    # upstream answered after the client's timeout "lost".
    model = NetworkModel(NetworkProfile(loss=0, burst_every=0, miss_median=0.05,
                                        miss_p99=0.05), late_after=1.0)
    t = model.origin + 1
    assert model.judge("a.test", "A", 60, now=t).delay == pytest.approx(0.05)
    model.sent("a.test", "A", 0.05, now=t)
    model.judge("a.test", "A", 60, now=t + 0.01)  # the answer is not out yet: a repeat
    model.judge("a.test", "A", 60, now=t + 0.2)  # answered and cached: a hit, no repeat
    assert model.counters()["repeats"] == 1
    model.sent("slow.test", "AAAA", 1.3, now=t)
    model.sent("quick.test", "AAAA", 0.9, now=t)
    assert model.late() == [("slow.test", "AAAA", t, 1.3)]
    model.restart()
    assert model.late() == [] and model.counters()["repeats"] == 0


def test_failures_explained_by_a_late_answer_are_not_counted_lost() -> None:
    from asyncdns_connect._cli._crawl import LATE, LOST, separate_late

    summary = {"failures": {LOST: 3, "dns:nx": 1}, "lost_to_dns": 3,
               "lost_events": [["slow.test", 10.0], ["slow.test", 30.0], ["ok.test", 10.0]]}
    separate_late(summary, [("slow.test", "A", 9.2, 1.4)], 1.5)
    assert summary["failures"] == {LATE: 1, LOST: 2, "dns:nx": 1}
    assert summary["lost_to_dns"] == 2  # the failure 20 s later is still lost
