"""``asyncdns-connect demo``: the self-contained loopback crawl, run as a program.

One ``demo --quick --json`` run (about 15 s) is shared by the checks on its
numbers; they assert what holds on any run, not figures of one machine. A
smaller run checks the tables a person sees.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("aiohttp_asyncdns", "httpx_asyncdns")
STOCK = "aiohttp_stock"


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "asyncdns_connect", "demo", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=110)


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    proc = demo("--quick", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def client(report: dict[str, Any], ident: str) -> dict[str, Any]:
    [found] = [c for c in report["clients"] if c["id"] == ident]
    return found


def test_three_clients_ran_the_same_schedule(report: dict[str, Any]) -> None:
    assert [c["id"] for c in report["clients"]] == [*OURS, STOCK]
    total = report["demo"]["requests_per_client"]
    kinds = report["demo"]["kinds"]
    assert set(kinds) >= {"dual", "v4only", "short", "nx"}
    assert sum(kinds.values()) == report["demo"]["hosts"] == 150
    for c in report["clients"]:
        assert c["requests"]["total"] == total
        assert c["dns_queries"] > 0
        assert c["cache_hit_rate"] is not None


def test_every_request_to_an_existing_name_succeeds_with_ours(report: dict[str, Any]) -> None:
    # Including the last round, when the DNS server answers nothing: serve-stale.
    for ident in OURS:
        by_kind = client(report, ident)["by_kind"]
        for kind, counts in by_kind.items():
            if kind == "nx":
                assert counts["ok"] == 0
            else:
                assert counts["failed"] == 0, (ident, kind, counts)
        assert set(client(report, ident)["errors"]) == {"dns"}


def test_all_dual_stack_requests_ok_for_every_client(report: dict[str, Any]) -> None:
    for c in report["clients"]:
        assert c["by_kind"]["dual"]["failed"] == 0
        assert c["by_kind"]["dual"]["ok"] > 0


def test_ours_served_stale_answers_while_dns_was_down(report: dict[str, Any]) -> None:
    for ident in OURS:
        c = client(report, ident)
        assert c["stale_dns_down"] > 0
        assert c["resolver_stats"]["stale"] == c["stale_dns_down"]


def test_only_aiohttps_own_cache_outlives_ttls(report: dict[str, Any]) -> None:
    # Ours re-asks once a 1 s TTL has run out; aiohttp's cache keeps answers 10 s.
    for ident in OURS:
        assert client(report, ident)["past_ttl_dns_up"] == 0
    assert client(report, STOCK)["past_ttl_dns_up"] > 0


def test_fallbacks_into_the_black_hole_are_counted(report: dict[str, Any]) -> None:
    if not report["demo"]["black_hole"] or client(report, STOCK)["fallbacks"] is None:
        pytest.skip("no IPv6 black hole, or no kernel counter to count it with")
    for c in report["clients"]:
        assert c["fallbacks"] > 0, c["id"]
        assert c["by_kind"]["broken6"]["failed"] == 0


def test_connect_times(report: dict[str, Any]) -> None:
    for ident in OURS:
        c = client(report, ident)
        assert c["new_connections"] > 0
        # Most connections wait neither on DNS nor on the Happy Eyeballs delay.
        assert c["connect_ms"]["p50"] < 250
    # A slow AAAA answer: ours connects over IPv4 after the 50 ms Resolution
    # Delay; aiohttp's stock resolver waits for c-ares to give up on the AAAA.
    ours = client(report, "aiohttp_asyncdns")["by_kind"]["slow6"]["connect_p50_ms"]
    stock = client(report, STOCK)["by_kind"]["slow6"]["connect_p50_ms"]
    assert ours < stock


def test_tables_for_a_person() -> None:
    proc = demo("--quick", "--hosts", "24")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    out = proc.stdout
    assert out.startswith("Zone: 24 names (")
    for text in ("What each client did", "aiohttp + asyncdns_connect",
                 "httpx + asyncdns_connect", "aiohttp + stock AsyncResolver",
                 "DNS queries at the server", "cache hit rate", "connect p50 / p95 (ms)",
                 "stale answers, DNS down", "By kind of host", "dual ("):
        assert text in out, text
    # Without a terminal, progress is a plain line per client on stderr.
    assert proc.stderr.count("requests in") == 3


def test_plain_tables_without_rich(report: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    # rich is optional (the [cli] extra): the same tables come out as plain text.
    from asyncdns_connect._cli import _output
    from asyncdns_connect._cli import demo as demo_cli

    monkeypatch.setattr(_output, "HAVE_RICH", False)
    demo_cli._render(report)
    out = capsys.readouterr().out
    assert "┃" not in out
    lines = out.splitlines()
    header = next(line for line in lines if "aiohttp + asyncdns_connect" in line)
    assert header.split("  ")[-1].strip() == "aiohttp + stock AsyncResolver"
    queries = next(line for line in lines if line.startswith("DNS queries at the server"))
    assert queries.split()[-3:] == [str(c["dns_queries"]) for c in report["clients"]]
