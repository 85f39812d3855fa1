"""``asyncdns_connect.aiodns`` as an aiodns user meets it, on the loopback DNS server.

Tests that take ``impl`` run twice: against real aiodns 4.0.4 and against the drop-in,
asserting the same outcome (the drop-in's promise is "behaves as aiodns"). The rest
check where the drop-in is deliberately better, and its own guarantees.
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
import socket
import struct
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import aiodns as real_aiodns
import pycares
import pytest
from _resolving import no_loop_errors  # noqa: F401 (fixture)
from dnslib import RD

import asyncdns_connect.aiodns as aiodns
from asyncdns_connect.testing import DNSServer

AF_INET, AF_INET6 = socket.AF_INET, socket.AF_INET6
ECANCELLED = pycares.errno.ARES_ECANCELLED


@pytest.fixture(params=["aiodns", "ours"])
def impl(request: pytest.FixtureRequest) -> ModuleType:
    return real_aiodns if request.param == "aiodns" else aiodns


@pytest.fixture
async def zone(dns_server: DNSServer) -> DNSServer:
    s = dns_server
    s.add_host("www.test", "192.0.2.1", "2001:db8::1", ttl=120)
    s.add("alias.test", "CNAME", "www.test.", ttl=60)
    s.add("www.test", "MX", "10 mail.test.")
    s.add("www.test", "TXT", "v=spf1 -all")
    s.add("www.test", "NAPTR", '100 10 "S" "SIP+D2U" "" _sip._udp.test.')
    s.add("www.test", "CAA", '0 issue "ca.test"')
    s.add("_sip._udp.test", "SRV", "10 5 5060 sip.test.")
    s.add("5.2.0.192.in-addr.arpa", "PTR", "host5.test.")
    s.add("version.bind", "TXT", "loopback")
    s.set_soa("test", serial=2024)
    s.add("www.test", "HTTPS", '1 . alpn="h2,h3" port=8443')
    s.add("_443._tcp.www.test", "TLSA", "3 1 1 0123456789abcdef")
    s.add("_http._tcp.test", "URI", RD(struct.pack("!HH", 10, 1) + b"https://www.test/"))
    return s


def make(impl: ModuleType, server: DNSServer, **kwargs: Any) -> Any:
    kwargs.setdefault("timeout", 5.0)
    kwargs.setdefault("tries", 1)
    return impl.DNSResolver(nameservers=[server.address], **kwargs)


@pytest.fixture
async def resolver(impl: ModuleType, zone: DNSServer) -> AsyncIterator[Any]:
    async with make(impl, zone) as r:
        yield r


def query(r: Any, *args: Any) -> asyncio.Future[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        fut: asyncio.Future[Any] = r.query(*args)
    return fut


# -- the surface ------------------------------------------------------------------------


def test_public_names_are_aiodns_names() -> None:
    for name in ("DNSResolver", "error", "compat", "query_type_map", "query_class_map"):
        assert hasattr(aiodns, name), name
    for name in dir(real_aiodns.error):
        if name.startswith("ARES_"):
            assert getattr(aiodns.error, name) == getattr(real_aiodns.error, name), name
    for name in dir(real_aiodns.compat):
        if name.startswith("Ares"):
            assert getattr(aiodns.compat, name).__dataclass_fields__.keys() == \
                getattr(real_aiodns.compat, name).__dataclass_fields__.keys(), name
    public = {n for n in dir(real_aiodns.DNSResolver) if not n.startswith("_")}
    assert public <= set(dir(aiodns.DNSResolver))
    # aiodns's DNSError is a plain Exception: `except OSError` must not start catching it.
    assert not issubclass(aiodns.error.DNSError, OSError)


# -- the same behaviour as aiodns -------------------------------------------------------


async def test_methods_send_at_call_time_and_return_futures(
        resolver: Any, zone: DNSServer) -> None:
    fut = resolver.query_dns("www.test", "A")
    assert isinstance(fut, asyncio.Future)
    await zone.wait_for_queries(1, "www.test", "A")  # reached the server, never awaited
    seen: list[Any] = []
    fut.add_done_callback(seen.append)
    result = await fut
    assert [rec.data.addr for rec in result.answer] == ["192.0.2.1"]
    await asyncio.sleep(0)
    assert seen == [fut]


async def test_query_gives_pycares4_objects(impl: ModuleType, resolver: Any) -> None:
    a = await query(resolver, "www.test", "A")
    assert [(x.host, x.ttl) for x in a] == [("192.0.2.1", 120)]
    assert isinstance(a[0], impl.compat.AresQueryAResult)
    assert [x.text for x in await query(resolver, "www.test", "TXT")] == ["v=spf1 -all"]
    assert [(x.host, x.priority) for x in await query(resolver, "www.test", "MX")] == \
        [("mail.test", 10)]
    cname = await query(resolver, "alias.test", "CNAME")
    assert (cname.cname, cname.ttl) == ("www.test", 60)
    assert (await query(resolver, "5.2.0.192.in-addr.arpa", "PTR")).name == "host5.test"
    assert (await query(resolver, "test", "SOA")).serial == 2024
    srv = await query(resolver, "_sip._udp.test", "SRV")
    assert [(x.host, x.port, x.priority, x.weight) for x in srv] == [("sip.test", 5060, 10, 5)]
    naptr = (await query(resolver, "www.test", "NAPTR"))[0]
    assert (naptr.flags, naptr.service, naptr.replacement) == ("S", "SIP+D2U", "_sip._udp.test")
    caa = (await query(resolver, "www.test", "CAA"))[0]
    assert (caa.property, caa.value) == ("issue", "ca.test")
    # An A query through a CNAME: only the A records, as pycares 4 gave them.
    assert [x.host for x in await query(resolver, "alias.test", "A")] == ["192.0.2.1"]


async def test_query_is_deprecated(resolver: Any) -> None:
    with pytest.warns(DeprecationWarning, match=r"query\(\) is deprecated") as record:
        await resolver.query("www.test", "A")
    assert record[0].filename == __file__  # points at the caller, not at us
    with pytest.warns(DeprecationWarning, match=r"gethostbyname\(\) is deprecated"):
        await resolver.gethostbyname("www.test", AF_INET)


@pytest.mark.parametrize(
    ("name", "qtype", "errno", "message"),
    [
        ("nope.test", "A", 4, "Domain name not found"),
        ("mail.test", "A", 4, "Domain name not found"),
        ("_sip._udp.test", "A", 1, "DNS server returned answer with no data"),
        ("www.test", "SRV", 1, "DNS server returned answer with no data"),
        ("example test", "A", 8, "Misformatted domain name"),
    ],
)
async def test_errors_carry_aiodns_numbers_and_messages(
        impl: ModuleType, resolver: Any, name: str, qtype: str, errno: int,
        message: str) -> None:
    for send in (lambda: resolver.query_dns(name, qtype), lambda: query(resolver, name, qtype)):
        fut = send()
        with pytest.raises(impl.error.DNSError) as caught:
            await fut
        assert caught.value.args == (errno, message)


async def test_bad_type_and_class_raise_value_error(resolver: Any) -> None:
    with pytest.raises(ValueError, match="invalid query type: XXX"):
        resolver.query_dns("www.test", "XXX")
    with pytest.raises(ValueError, match="invalid query class: INVALIDCLASS"):
        resolver.query_dns("www.test", "A", "INVALIDCLASS")


async def test_bad_arguments_raise_at_the_call(resolver: Any) -> None:
    with pytest.raises(ValueError, match="Invalid IPv4 address"):
        resolver.getnameinfo(("not-an-ip", 80))
    with pytest.raises(ValueError, match="Invalid address argument"):
        resolver.getnameinfo(("127.0.0.1",))


async def test_qclass_by_name_goes_on_the_wire(impl: ModuleType, resolver: Any) -> None:
    result = await resolver.query_dns("version.bind", "TXT", "IN")
    assert [rec.data.data for rec in result.answer] == [b"loopback"]
    # The test server serves class IN only and refuses CHAOS: the class was sent.
    with pytest.raises(impl.error.DNSError) as caught:
        await resolver.query_dns("version.bind", "TXT", "CHAOS")
    assert caught.value.args[0] == pycares.errno.ARES_EREFUSED


async def test_getaddrinfo_takes_family_second(resolver: Any) -> None:
    v4 = await resolver.getaddrinfo("www.test", AF_INET)
    assert [(n.family, n.addr[0], n.addr[1]) for n in v4.nodes] == [(AF_INET, b"192.0.2.1", 0)]
    v6 = await resolver.getaddrinfo("www.test", AF_INET6, 443)
    assert [(n.family, n.addr[0], n.addr[1]) for n in v6.nodes] == \
        [(AF_INET6, b"2001:db8::1", 443)]
    both = await resolver.getaddrinfo("www.test")
    assert {n.family for n in both.nodes} == {AF_INET, AF_INET6}


async def test_gethostbyname_follows_cnames(impl: ModuleType, resolver: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        host = await resolver.gethostbyname("alias.test", AF_INET)
        with pytest.raises(impl.error.DNSError) as caught:
            await resolver.gethostbyname("www.test", -1)
    assert isinstance(host, impl.compat.AresHostResult)
    assert (host.name, host.addresses) == ("www.test", ["192.0.2.1"])
    assert caught.value.args[0] == pycares.errno.ARES_ENOTIMP


async def test_nameservers_setter_moves_the_queries(
        impl: ModuleType, zone: DNSServer) -> None:
    async with DNSServer() as other:
        other.add_host("www.test", "198.51.100.7")
        async with make(impl, zone) as r:
            # aiodns drops any port from what it reports; we drop only the default 53.
            shown = zone.host if impl is real_aiodns else zone.address
            assert r.nameservers == [shown]
            r.nameservers = [other.address]
            result = await r.query_dns("www.test", "A")
        assert [rec.data.addr for rec in result.answer] == ["198.51.100.7"]
        assert other.count("www.test", "A") == 1
        assert zone.count("www.test", "A") == 0


async def test_cancel_fails_pending_with_ecancelled(
        impl: ModuleType, resolver: Any, zone: DNSServer) -> None:
    zone.dead = True
    futs = [resolver.query_dns("www.test", "A"), resolver.getaddrinfo("www.test")]
    await zone.wait_for_queries(2)
    resolver.cancel()
    for fut in futs:
        with pytest.raises(impl.error.DNSError) as caught:
            await fut
        assert caught.value.args == (ECANCELLED, "DNS query cancelled")
    zone.dead = False
    assert (await resolver.query_dns("www.test", "A")).answer  # still usable


async def test_close_fails_in_flight_with_ecancelled(
        impl: ModuleType, zone: DNSServer) -> None:
    zone.dead = True
    r = make(impl, zone)
    fut = r.query_dns("www.test", "A")
    await zone.wait_for_queries(1)
    await r.close()
    with pytest.raises(impl.error.DNSError) as caught:
        await fut
    assert caught.value.args == (ECANCELLED, "DNS query cancelled")
    await r.close()  # idempotent
    with pytest.raises(RuntimeError):
        r.query_dns("www.test", "A")


async def test_cancelling_the_future_leaves_the_resolver_working(resolver: Any) -> None:
    fut = resolver.query_dns("www.test", "A")
    fut.cancel()
    with pytest.raises(asyncio.CancelledError):
        await fut
    assert (await resolver.query_dns("www.test", "AAAA")).answer


async def test_temporary_resolver_lives_until_its_answer(
        impl: ModuleType, zone: DNSServer) -> None:
    fut = impl.DNSResolver(nameservers=[zone.address]).query_dns("www.test", "A")
    gc.collect()
    assert (await fut).answer


def test_explicit_loop(impl: ModuleType, zone: DNSServer) -> None:
    loop = asyncio.new_event_loop()
    try:
        r = impl.DNSResolver(nameservers=[zone.address], loop=loop, timeout=5.0)
        # The server runs on the test's loop; this one only asks.
        assert r.loop is loop
        loop.run_until_complete(r.close())
    finally:
        loop.close()


# -- c-ares options pass through ------------------------------------------------------


async def test_channel_options_reach_c_ares(impl: ModuleType, zone: DNSServer) -> None:
    # udp_port: the server named without a port is asked on this one.
    async with impl.DNSResolver(nameservers=["127.0.0.1"], udp_port=zone.port,
                                tcp_port=zone.port, timeout=5.0, tries=1) as r:
        assert (await r.query_dns("www.test", "A")).answer
    # domains + ndots: getaddrinfo applies the search list.
    async with make(impl, zone, domains=["test"], ndots=2,
                    flags=pycares.ARES_FLAG_EDNS) as r:
        result = await r.getaddrinfo("www", AF_INET)
        assert [n.addr[0] for n in result.nodes] == [b"192.0.2.1"]
    # A bad server fails the constructor as in aiodns, leaving nothing open behind.
    with pytest.raises(pycares.AresError):
        impl.DNSResolver(nameservers=["not-an-ip"])
    # timeout=0 means c-ares's default, not "fail at once".
    async with make(impl, zone, timeout=0) as r:
        assert (await r.query_dns("www.test", "A")).answer
    if impl is aiodns:  # aiodns raises too, and pycares then warns from Channel.__del__
        with pytest.raises(TypeError, match="no_such_option"):
            impl.DNSResolver(no_such_option=1)


async def test_resolvconf_path_is_read_every_time(tmp_path: Path, zone: DNSServer) -> None:
    # pycares frees this buffer before c-ares reads it: without the drop-in's guard
    # about 3 channels in 100 read the system resolv.conf instead (measured).
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.5\n")
    wrong = 0
    for _ in range(500):
        r = aiodns.DNSResolver(resolvconf_path=str(conf), lookups="b")
        wrong += r.nameservers != ["127.0.0.5"]
        await r.close()
    assert wrong == 0


# -- where the drop-in is better --------------------------------------------------------


async def test_https_tlsa_uri_records(resolver: Any, impl: ModuleType) -> None:
    if impl is real_aiodns:
        with pytest.raises(ValueError):
            resolver.query_dns("www.test", "HTTPS")
        return
    https = (await resolver.query_dns("www.test", "HTTPS")).answer[0].data
    assert (https.priority, https.target) == (1, "")
    tlsa = (await resolver.query_dns("_443._tcp.www.test", "TLSA")).answer[0].data
    assert (tlsa.cert_usage, tlsa.selector, tlsa.matching_type) == (3, 1, 1)
    uri = (await resolver.query_dns("_http._tcp.test", "URI")).answer[0].data
    assert (uri.priority, uri.weight, uri.target) == (10, 1, "https://www.test/")


async def test_service_only_getnameinfo_answers(zone: DNSServer) -> None:
    # aiodns's future never completes here (pycares drops the NULL host name).
    async with make(aiodns, zone) as r:
        result = await asyncio.wait_for(
            r.getnameinfo(("127.0.0.1", 80), pycares.ARES_NI_LOOKUPSERVICE), 10)
    assert (result.node, result.service) == ("127.0.0.1", "http")
    assert zone.queries == []  # numeric host: nothing asked


async def test_ipv6_nameserver_reads_back_without_brackets(zone: DNSServer) -> None:
    async with aiodns.DNSResolver(nameservers=["::1", "127.0.0.1"]) as r:
        assert r.nameservers == ["::1", "127.0.0.1"]


# -- nothing left behind ----------------------------------------------------------------


def _open_fds() -> int:
    return len(list(Path("/proc/self/fd").iterdir()))


async def _fds_back_to(baseline: int) -> None:
    # pycares destroys a closed channel on its own thread: wait for it, generously.
    for _ in range(500):
        gc.collect()
        if _open_fds() <= baseline:
            return
        await asyncio.sleep(0.01)
    assert _open_fds() <= baseline


async def test_close_and_garbage_collection_free_the_sockets(zone: DNSServer) -> None:
    # STAYOPEN: c-ares keeps its socket after the answer (it closes idle ones otherwise).
    stay_open = pycares.ARES_FLAG_STAYOPEN | pycares.ARES_FLAG_EDNS
    baseline = _open_fds()
    r = make(aiodns, zone, flags=stay_open)
    assert (await r.query_dns("www.test", "A")).answer
    assert _open_fds() > baseline
    await r.close()
    await _fds_back_to(baseline)
    # Never closed, just dropped: aiodns frees the channel on collection, so do we.
    dropped = make(aiodns, zone, flags=stay_open)
    assert (await dropped.query_dns("www.test", "A")).answer
    assert _open_fds() > baseline
    del dropped
    await _fds_back_to(baseline)


# -- the migration guide ------------------------------------------------------------------


def test_docs_snippets_run() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "aiodns.md").read_text()
    snippets = re.findall(r"```python\n(.*?)```", text, re.S)
    assert snippets
    for code in snippets:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(os.environ.get("NETJAIL_INSIDE") != "1",
                    reason="the benchmark starts knotd on loopback: run inside netjail")
def test_benchmark_runs(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "bench_aiodns.py"), "--quick",
         "--out", str(tmp_path)], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "asyncdns_connect.aiodns" in (tmp_path / "aiodns.md").read_text()
