"""benchmarks/bench_connect.py runs (``--quick``) and shows what issue 12 promises.

Inside netjail only: the stock clients ask the system resolver, which there is
the script's own DNS server on 127.0.0.1:53.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    os.environ.get("NETJAIL_INSIDE") != "1",
    reason="binds 127.0.0.1:53 and uses the system resolver: run inside netjail",
)


def test_broken6_later_connections_are_fast_for_ours_only(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_connect.py"), "--quick",
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((tmp_path / "connect.json").read_text())
    runs = data["broken6"]
    for ours in ("aiohttp + asyncdns_connect", "httpx + asyncdns_connect"):
        later = sorted(runs[ours]["later"])
        assert later[len(later) // 2] < 0.15, (ours, later)
        assert runs[ours]["first"][0] >= 0.2, "the first connection tried the black hole"
    later = sorted(runs["httpx (stock)"]["later"])
    assert later[len(later) // 2] >= 0.2, "stock httpx pays the delay every time"
    posts = data["keep_alive_post"]
    assert posts["ours_p50_ms"] < 3 * posts["stock_p50_ms"] + 5, posts
    assert "| aiohttp + asyncdns_connect |" in (tmp_path / "connect.md").read_text()
