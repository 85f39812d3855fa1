"""ruff and mypy --strict over the package are part of the test suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_is_clean() -> None:
    proc = _run(sys.executable, "-m", "ruff", "check", "asyncdns_connect", "tests",
                "examples", "benchmarks")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_is_clean() -> None:
    proc = _run(sys.executable, "-m", "mypy", "--strict", "asyncdns_connect")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout


def test_importing_the_package_imports_neither_client() -> None:
    code = ("import sys, asyncdns_connect, asyncdns_connect.testing; "
            "print(sorted(m for m in ('aiohttp', 'httpx', 'httpcore') if m in sys.modules))")
    proc = _run(sys.executable, "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
