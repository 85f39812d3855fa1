"""Every example in ``examples/``, run as a user runs it, and its output checked.

Each example runs twice: alone (it starts its own loopback DNS and web servers)
and as ``python examples/x.py URL...`` with ``ASYNCDNS_NAMESERVER`` pointing at
the test's DNS server, fetching from the test's web server. ``testing_your_client``
is a pytest file and runs under pytest.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _servers import HTTPServer, bind_tcp, issue, new_ca

from asyncdns_connect.testing import ThreadedDNSServer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TESTED = {"aiohttp_scraper.py", "httpx_client.py", "shared_resolver.py",
          "testing_your_client.py"}


def run(*cmd: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("ASYNCDNS_NAMESERVER", "SSL_CERT_FILE")}
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, *cmd], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=60)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def example(name: str, *urls: str, nameserver: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    extra = dict(env or {})
    if nameserver is not None:
        extra["ASYNCDNS_NAMESERVER"] = nameserver
    return run(str(EXAMPLES / name), *urls, env=extra)


@pytest.fixture
def web() -> Iterator[HTTPServer]:
    with HTTPServer(bind_tcp("127.0.0.1")) as server:
        yield server


def test_every_example_has_a_test() -> None:
    found = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    assert found == TESTED


# -- aiohttp_scraper ---------------------------------------------------------------------


def test_scraper_alone() -> None:
    proc = example("aiohttp_scraper.py")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert re.fullmatch(r"fetched 120 of 121 pages from 41 hosts in [\d.]+ s, 10 at a time",
                        lines[0])
    assert lines[1] == ("failed x1: cannot resolve 'gone.scraper.test': "
                        "name does not exist (NXDOMAIN)")
    # Three pages per host, one lookup per host: the rest came from the cache
    # (or joined the lookup in flight).
    assert re.fullmatch(r"DNS: \d+ queries for 41 hosts; \d+ of 121 lookups answered from "
                        r"the cache", lines[2])


def test_scraper_with_urls(threaded_dns_server: ThreadedDNSServer, web: HTTPServer) -> None:
    names = ["a.crawl.test", "b.crawl.test"]
    for name in names:
        threaded_dns_server.add_host(name, "127.0.0.1")
    urls = [web.url(name, f"/{page}") for name in names for page in range(3)]
    proc = example("aiohttp_scraper.py", *urls, nameserver=threaded_dns_server.address)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("fetched 6 of 6 pages from 2 hosts in ")
    assert sorted(r["host"] for r in web.requests) == sorted(
        f"{name}:{web.port}" for name in names for _ in range(3))
    for name in names:  # cached across its 3 pages (a retry may add a query)
        assert 1 <= threaded_dns_server.count(name, "A") <= 2


# -- httpx_client ------------------------------------------------------------------------


def test_httpx_client_alone() -> None:
    proc = example("httpx_client.py")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    pages = [line for line in lines if line.startswith("https://")]
    assert len(pages) == 6
    for line in pages:
        assert re.fullmatch(r"https://(api|static)\.shop\.test:\d+(/a|/b|/): 200 HTTP/2: "
                            r"\S+ on \S+ over HTTP/2", line)
    assert lines[-1].startswith("DNS: ")


def test_httpx_client_with_urls(threaded_dns_server: ThreadedDNSServer,
                                tmp_path: Path) -> None:
    ca = new_ca()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    threaded_dns_server.add_host("api.tls.test", "127.0.0.1")
    with HTTPServer(bind_tcp("127.0.0.1"), cert=issue(ca, "api.tls.test")) as server:
        proc = example("httpx_client.py", server.url("api.tls.test", "/v1"),
                       nameserver=threaded_dns_server.address,
                       env={"SSL_CERT_FILE": str(ca_file)})
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.startswith(f"{server.url('api.tls.test', '/v1')}: 200 HTTP/2: ")
        assert [r["http_version"] for r in server.requests] == ["2"]


def test_httpx_client_reports_a_failure(threaded_dns_server: ThreadedDNSServer) -> None:
    proc = example("httpx_client.py", "https://nx.tls.test/",
                   nameserver=threaded_dns_server.address)
    assert proc.returncode == 1
    assert proc.stdout.startswith(
        "https://nx.tls.test/: failed: cannot resolve 'nx.tls.test': name does not exist")


# -- shared_resolver ---------------------------------------------------------------------


def test_shared_resolver_alone() -> None:
    proc = example("shared_resolver.py")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert re.fullmatch(r"aiohttp: 200 http://app\.shared\.test:\d+/", lines[0])
    assert re.fullmatch(r"httpx:   200 http://app\.shared\.test:\d+/", lines[1])
    assert lines[2:] == [
        "lookups sent to DNS: aiohttp 1, httpx 0; answered from the shared cache: httpx 1",
        "queries sent: 2 (A and AAAA per name looked up)",
        "queries the DNS server received: 2",
    ]


def test_shared_resolver_with_a_url(threaded_dns_server: ThreadedDNSServer,
                                    web: HTTPServer) -> None:
    threaded_dns_server.add_host("one.shared.test", "127.0.0.1")
    proc = example("shared_resolver.py", web.url("one.shared.test"),
                   nameserver=threaded_dns_server.address)
    assert proc.returncode == 0, proc.stderr
    assert "lookups sent to DNS: aiohttp 1, httpx 0" in proc.stdout
    assert len(web.requests) == 2  # one request from each client
    # One lookup for both clients (two would be 2 each; a retry may add one).
    assert 1 <= threaded_dns_server.count("one.shared.test", "A") <= 2
    assert 1 <= threaded_dns_server.count("one.shared.test", "AAAA") <= 2


# -- testing_your_client -----------------------------------------------------------------


def test_testing_your_client_passes_under_pytest() -> None:
    proc = run("-m", "pytest", "-q", "-p", "no:cacheprovider",
               str(EXAMPLES / "testing_your_client.py"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\b4 passed\b", proc.stdout)
