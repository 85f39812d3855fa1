"""Every Python snippet in README.md and docs/*.md runs, as a user would paste it.

Each fenced ``python`` block is written to a file of its own and run in a fresh
interpreter: a block defining ``test_...`` functions as a pytest file (no project
configuration, so pytest-asyncio is in strict mode), any other block as a script.
A block whose first line is ``# snippet: no-run`` is skipped, visibly.

The snippets use the system's DNS configuration, so they run only inside the
netjail (where /etc/resolv.conf names 127.0.0.1 and nothing leaves loopback), as
root (ports 53 and 80). There a test DNS server on 127.0.0.1:53 serves the names
docs/contributing.md lists, and an HTTP server on port 80 of 127.0.0.1 and ::1
answers ``{"ok": true}``.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from asyncdns_connect.testing import ThreadedDNSServer

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NO_RUN = "# snippet: no-run"
_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int
    code: str

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def is_test(self) -> bool:
        return re.search(r"^(async )?def test_", self.code, re.MULTILINE) is not None


def snippets() -> list[Snippet]:
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 2  # the block's first line
            found.append(Snippet(path, line, match.group(1)))
    return found


# -- the world the snippets see ------------------------------------------------------------


def _jailed() -> str | None:
    """Why the snippets cannot run here, or None when they can."""
    try:
        conf = Path("/etc/resolv.conf").read_text()
    except OSError as exc:
        return f"cannot read /etc/resolv.conf: {exc}"
    servers = re.findall(r"^\s*nameserver\s+(\S+)", conf, re.MULTILINE)
    if servers != ["127.0.0.1"]:
        return "not inside ../shared/netjail (the system resolver is not 127.0.0.1)"
    if os.geteuid() != 0:
        return "binding ports 53 and 80 needs root (run inside ../shared/netjail)"
    return None


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


@pytest.fixture(scope="module")
def world() -> Iterator[ThreadedDNSServer]:
    reason = _jailed()
    if reason:
        pytest.skip(reason)
    web = [http.server.ThreadingHTTPServer(("127.0.0.1", 80), _Handler),
           _Server6(("::1", 80), _Handler)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in web]
    for thread in threads:
        thread.start()
    try:
        with ThreadedDNSServer(port=53) as dns:
            for name in ("api.test", "app.test"):
                dns.add_host(name, "127.0.0.1", "::1", ttl=60)
            dns.add("www.app.test", "CNAME", "app.test", ttl=60)
            dns.add("app.test", "MX", "10 mail.app.test", ttl=60)
            yield dns
    finally:
        for server in web:
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join(10)


# -- the tests -------------------------------------------------------------------------------


ALL = snippets()


def test_the_readme_is_short_and_has_snippets() -> None:
    assert len((ROOT / "README.md").read_bytes()) < 12 * 1024
    assert sum(s.path.name == "README.md" for s in ALL) >= 5


def test_snippets_use_only_reserved_names() -> None:
    # RFC 6761 names only: a pasted snippet must never reach a real host.
    for snippet in ALL:
        hosts = re.findall(r"https?://([a-z0-9.-]+)", snippet.code)
        for host in hosts:
            assert host.endswith(".test") or host in ("127.0.0.1", "localhost"), (
                f"{snippet.id}: {host}")


# Written on other branches (issues 9-13); until merged, a link to them may dangle.
PENDING = {"engine.md", "cache.md", "aiodns.md", "field.md", "happy-eyeballs.md"}


def test_relative_links_point_to_files() -> None:
    for path in DOCS:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", path.read_text()):
            if not (path.parent / target).exists() and Path(target).name not in PENDING:
                pytest.fail(f"{path.relative_to(ROOT)} links to missing {target}")


@pytest.mark.parametrize("snippet", ALL, ids=[s.id for s in ALL])
def test_snippet_runs(snippet: Snippet, world: ThreadedDNSServer, tmp_path: Path) -> None:
    if snippet.code.startswith(NO_RUN):
        pytest.skip(f"{snippet.id} is marked {NO_RUN!r}")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    if snippet.is_test:
        path = tmp_path / "test_snippet.py"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", path.name]
    else:
        path = tmp_path / "snippet.py"
        cmd = [sys.executable, path.name]
    path.write_text(snippet.code, encoding="utf-8")
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, (
        f"{snippet.id} failed ({proc.returncode}):\n{snippet.code}\n"
        f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    if snippet.is_test:
        assert " passed" in proc.stdout and "failed" not in proc.stdout, proc.stdout
