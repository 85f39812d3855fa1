"""``asyncdns-connect demo``: the field model in small, run as a program.

One ``demo --quick --json`` run (about 10 s) is shared by the checks on its
numbers; they assert what holds on any run, not figures of one machine (the
model loses answers at random and the machine is shared). Ctrl-C is sent at
several moments of a run, as a terminal sends it: to the whole process group.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ["aiohttp-ours", "httpx-ours", "aiohttp-aiodns"]


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


def test_three_clients_crawled_the_model(report: dict[str, Any]) -> None:
    assert [c["id"] for c in report["clients"]] == CLIENTS
    for c in report["clients"]:
        assert c["ok"] > 100, c["id"]
        assert c["ok_by_kind"]["dual"] > 0 and c["ok_by_kind"]["v4only"] > 0
        assert "nx" not in c["ok_by_kind"]  # names that do not exist never succeed
        assert c["failures"].get("dns:nx", 0) > 0
        assert c["dns_queries"] > 0 and c["queries_per_host"] >= 1
        assert c["connect_ms"]["p50"] is not None
        assert c["cpu_ms_per_request"] > 0


def test_our_clients_report_their_resolver_at_work(report: dict[str, Any]) -> None:
    # Repeat visits hit our cache; the stock client has no Resolver to report.
    by = {c["id"]: c for c in report["clients"]}
    assert by["aiohttp-aiodns"]["resolver_stats"] is None
    for ident in ("aiohttp-ours", "httpx-ours"):
        stats = by[ident]["resolver_stats"]
        assert stats["misses"] > 0 and stats["hits"] > 0


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def test_one_table_in_80_columns() -> None:
    proc = demo("--quick", "--hosts", "400")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    out = proc.stdout
    assert out.startswith("400 names, 100 requests in flight, 2.5 s per client.")
    for text in ("Three clients, one modelled network", "aiohttp+ours", "httpx+ours",
                 "aiohttp stock", "ok requests/s", "lost to DNS", "connect p50/p95 ms",
                 "DNS queries / host", "aiohttp + ours against stock aiohttp:"):
        assert text in out, text
    assert all(len(line) <= 80 for line in _lines(out)), out
    verdicts = [line.split()[0] for line in _lines(out) if line.startswith("  ")]
    assert verdicts and set(verdicts) <= {"win", "lose"}
    assert proc.stderr.count("requests in") == 3


def test_plain_table_without_rich(report: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    # rich is optional (the [cli] extra): the same table comes out as plain text.
    from asyncdns_connect._cli import _output
    from asyncdns_connect._cli import demo as demo_cli

    monkeypatch.setattr(_output, "HAVE_RICH", False)
    demo_cli._render(report)
    out = capsys.readouterr().out
    assert "┃" not in out
    assert all(len(line) <= 80 for line in _lines(out)), out
    row = next(line for line in _lines(out) if line.startswith("DNS queries / host"))
    assert row.split()[-3:] == [f"{c['queries_per_host']:.2f}" for c in report["clients"]]


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


@pytest.mark.parametrize("after", [0.3, 2.0, 5.0])
def test_ctrl_c_one_line_exit_130_no_orphans(after: float) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "asyncdns_connect", "demo", "--quick"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + after
        kids: set[int] = set()
        while time.monotonic() < deadline:  # note the servers' process once it exists
            kids.update(_children(proc.pid))
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C does
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Error" not in err.replace("error: interrupted", "")
    assert err.splitlines()[-1] == "error: interrupted"
    assert [line for line in err.splitlines() if "requests in" not in line] == [
        "error: interrupted"]
    for kid in kids:
        assert not os.path.exists(f"/proc/{kid}"), f"process {kid} outlived the demo"
