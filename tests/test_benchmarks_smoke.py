"""The benchmark scripts still run: each once with ``--quick`` (tiny counts).

They start their own loopback servers (knotd, a delay relay, an HTTP responder)
in child processes, so these run only inside ``shared/netjail``, where only
loopback exists and the system resolver asks 127.0.0.1. Output goes to a temp
directory, never over the committed results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"

pytestmark = pytest.mark.skipif(
    os.environ.get("NETJAIL_INSIDE") != "1",
    reason="benchmarks start DNS servers and use the system resolver: run inside netjail",
)


def run(script: str, out: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", "--out", str(out), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=90,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def test_bench_resolve_runs(tmp_path: Path) -> None:
    stdout = run("bench_resolve.py", tmp_path)
    assert "| contender |" in stdout
    data = load(tmp_path / "resolve.json")
    ours = data["results"]["asyncdns"]
    # Every name resolved, through our resolver and the baseline, at both latencies.
    for key in ("asyncdns", "aiohttp-async"):
        for measure in ("distinct", "distinct_delay"):
            assert data["results"][key][measure]["rate"] > 0
            assert data["results"][key][measure]["failures"] == 0
    assert ours["cache"]["rate"] > ours["distinct"]["rate"]
    assert data["memory"]["asyncdns"] > 0
    assert (tmp_path / "resolve.md").read_text().startswith("# Resolver throughput")
    assert (tmp_path / "resolve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_engine_modes_runs(tmp_path: Path) -> None:
    stdout = run("engine_modes.py", tmp_path)
    assert "is faster" in stdout
    data = load(tmp_path / "engine_modes.json")
    (size, modes), = data["results"].items()
    assert set(modes) == {"sock_state_cb", "thread-batched", "thread-per-answer"}
    assert all(m["qps"] > 0 and m["failures"] == 0 for m in modes.values())
    assert data["verdict"][size]["faster"] in modes
    assert (tmp_path / "engine_modes.md").exists()


def test_bench_httpx_runs(tmp_path: Path) -> None:
    stdout = run("bench_httpx.py", tmp_path)
    assert "| transport |" in stdout
    data = load(tmp_path / "httpx.json")
    ours = data["results"]["asyncdns-transport"]
    for label in ("0ms", "20ms"):
        assert ours[label]["rps"] > 0
        assert ours[label]["failures"] == 0
    assert (tmp_path / "httpx.md").exists()


# -- the field test (issue 9): its own functions, so timing edits elsewhere leave it be --


def test_field_runs_tiny(tmp_path: Path) -> None:
    import shutil

    fleet = shutil.which("unbound") or os.path.exists("/usr/sbin/unbound")
    extra = () if fleet else ("--no-fleet",)
    stdout = run("field.py", tmp_path, "--seconds", "1.5", "--hosts", "1000", *extra)
    assert "| client | ok req/s |" in stdout and "## Targets" in stdout
    data = load(tmp_path / "field.json")
    assert list(data["results"]) == ["aiohttp-threaded", "aiohttp-aiodns", "httpx",
                                     "aiohttp-ours", "httpx-ours"]
    for r in data["results"].values():
        # Every client reached the model on 127.0.0.1:53 and the web behind it.
        assert r["requests"] > 0 and r["dns_queries"] > 0, r["id"]
    assert len(data["targets"]) == 10
    # None only where a client had nothing to compare (stock httpx may finish
    # no request in so short a run on a busy machine).
    assert sum(t["met"] is None for t in data["targets"]) <= 3
    assert (tmp_path / "field.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if fleet:
        rows = {(r["workers"], r["tier"]): r for r in data["fleet"]["rows"]}
        # Behind the shared cache the authoritative sees far fewer queries.
        assert rows[(4, "shared")]["per_host"] < rows[(4, "direct")]["per_host"] / 2
        stale = data["fleet"]["stale"]
        assert stale["serve-stale (default)"]["down_ok"] > stale["stale_ttl=0"]["down_ok"]
