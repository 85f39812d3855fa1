"""Bad input: generated host strings through the Resolver and both real clients.

Every input must give addresses or a typed error (a ``DNSError``, or the
client's own error wrapping one), within seconds; a name refused as invalid must
not reach the DNS server. Unknown names get NXDOMAIN from the loopback server.
The HTTP clients' resolvers only allow loopback addresses, so no generated IP
literal is ever connected to outside 127.0.0.0/8 and ::1.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest
import yarl
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from asyncdns_connect import AddressPolicy, DNSError, InvalidHostError, Resolver
from asyncdns_connect.aiohttp import AiohttpResolver, connector
from asyncdns_connect.httpx import AsyncResolverTransport
from asyncdns_connect.testing import DNSServer

WAIT = 5.0
LOOPBACK_ONLY = AddressPolicy(deny=["0.0.0.0/0", "::/0"], allow=["127.0.0.0/8", "::1/128"])
SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

_label_chars = st.sampled_from("abcxyz019-_.")
HOSTS = st.one_of(
    st.text(max_size=80),  # any unicode, control characters included
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=300),
    st.lists(st.text(_label_chars, max_size=70), max_size=8).map(".".join),
    st.builds(lambda n, tail: "a" * n + tail, st.integers(60, 300),
              st.sampled_from(["", ".test", ".", "..test"])),
    st.from_regex(r"\A[a-zA-Z0-9_-]{0,66}(\.[a-zA-Z0-9_-]{0,66}){0,5}\.?\Z"),
    st.from_regex(r"\A[a-z\u00e0-\u00ff\u4e00-\u4e10.-]{1,30}\.test\Z"),
    st.from_regex(r"\A\d{1,4}(\.\d{1,4}){0,4}\Z"),  # IPv4-like
    st.from_regex(r"\A\[?[0-9a-fA-F:.]{0,45}(%[a-z0-9]{0,6})?\]?\Z"),  # IPv6-like
    st.sampled_from(["known.test", "KNOWN.Test.", "localhost", "x.invalid", "a.onion",
                     "127.0.0.1", "[::1]", "::1", "0x7f.1", "127.1", ".", "", "..",
                     "known.test..", "xn--", "xn--a.test", "münchen.test", "a b.test"]),
)


@pytest.fixture
async def server(dns_server: DNSServer) -> DNSServer:
    dns_server.add_host("known.test", "127.0.0.1")
    return dns_server


@pytest.fixture
async def http_port() -> AsyncIterator[int]:
    """A real HTTP/1.1 server on 127.0.0.1 answering 200 to anything."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    http = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield int(http.sockets[0].getsockname()[1])
    http.close()
    await http.wait_closed()


@pytest.fixture
async def session(server: DNSServer) -> AsyncIterator[aiohttp.ClientSession]:
    """One session for every example of a test; its resolver only allows loopback."""
    resolver = fast(server, address_policy=LOOPBACK_ONLY)
    async with aiohttp.ClientSession(connector=connector(resolver)) as client:
        yield client
    await resolver.close()


@pytest.fixture
async def client(server: DNSServer) -> AsyncIterator[httpx.AsyncClient]:
    resolver = fast(server, address_policy=LOOPBACK_ONLY)
    async with httpx.AsyncClient(transport=AsyncResolverTransport(resolver)) as http:
        yield http
    await resolver.close()


def fast(server: DNSServer, **kwargs: object) -> Resolver:
    return Resolver(nameservers=[server.address], timeout=0.3, tries=1, hosts_file=False,
                    **kwargs)  # type: ignore[arg-type]


def root(exc: BaseException) -> BaseException:
    """The innermost cause: the DNSError or OSError under a client's own error."""
    while True:
        # httpcore's pool re-raises "from None": the DNSError is then only the context.
        inner = exc.__cause__ or exc.__context__ or getattr(exc, "os_error", None)
        if not isinstance(inner, BaseException) or inner is exc:
            return exc
        exc = inner


def check_no_query_if_invalid(err: BaseException | None, server: DNSServer, before: int) -> None:
    cause = None if err is None else root(err)
    if isinstance(cause, InvalidHostError):
        assert server.count() == before, f"an invalid name was sent to DNS: {cause}"


@given(host=HOSTS)
@SETTINGS
async def test_resolver_gives_addresses_or_a_dns_error(server: DNSServer, host: str) -> None:
    resolver = fast(server)
    before = server.count()
    try:
        addrs = await asyncio.wait_for(resolver.resolve(host), WAIT)
    except DNSError as exc:
        event(type(exc).__name__)
        check_no_query_if_invalid(exc, server, before)
    else:
        event("addresses")
        assert addrs, host
        assert all(a.family in (socket.AF_INET, socket.AF_INET6) for a in addrs)
    finally:
        await resolver.close()


@given(host=HOSTS)
@SETTINGS
async def test_aiohttp_plugin_gives_results_or_a_dns_error(server: DNSServer, host: str) -> None:
    resolver = fast(server)
    plugin = AiohttpResolver(resolver)
    before = server.count()
    try:
        results = await asyncio.wait_for(plugin.resolve(host, 0, socket.AF_UNSPEC), WAIT)
    except DNSError as exc:
        check_no_query_if_invalid(exc, server, before)
    else:
        assert results, host
        assert all(r["hostname"] == host and r["port"] == 0 for r in results)
    finally:
        await plugin.close()
        await resolver.close()


@given(host=HOSTS)
@SETTINGS
async def test_aiohttp_session_get_gives_a_response_or_a_client_error(
        server: DNSServer, session: aiohttp.ClientSession, http_port: int, host: str) -> None:
    try:
        url = yarl.URL.build(scheme="http", host=host, port=http_port, path="/")
    except (ValueError, TypeError, UnicodeError):
        event("URL not buildable")
        return  # the URL cannot be built: nothing reaches the client
    before = server.count()
    try:
        async with await asyncio.wait_for(session.get(url), WAIT) as resp:
            assert resp.status == 200
            event("200")
    except aiohttp.ClientConnectorError as exc:
        event(f"{type(exc).__name__}({type(root(exc)).__name__})")
        check_no_query_if_invalid(exc, server, before)
    except aiohttp.InvalidURL as exc:
        event(type(exc).__name__)


@given(host=HOSTS)
@SETTINGS
async def test_httpx_get_gives_a_response_or_a_client_error(
        server: DNSServer, client: httpx.AsyncClient, http_port: int, host: str) -> None:
    try:
        url = httpx.URL(scheme="http", host=host, port=http_port, path="/")
        # httpx builds "xn--a.test" but its Request then fails decoding it (idna):
        # httpx's own limit, before any transport runs.
        url.host  # noqa: B018
    except (httpx.InvalidURL, ValueError, TypeError, UnicodeError):
        event("URL not buildable")
        return
    before = server.count()
    try:
        resp = await asyncio.wait_for(client.get(url), WAIT)
        assert resp.status_code == 200
        event("200")
    except httpx.ConnectError as exc:
        event(f"ConnectError({type(root(exc)).__name__})")
        check_no_query_if_invalid(exc, server, before)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        event(type(exc).__name__)


INVALID = ["", ".", "..", "a..b.test", "a b.test", "tab\t.test", "nul\x00.test", "new\nline.test",
           "x" * 64 + ".test", ("a" * 60 + ".") * 5 + "test", "under/slash.test", "at@sign.test",
           "q?.test", "[127.0.0.1]", "::1::2", "\u200b.test", "\x7f.test"]


@pytest.mark.parametrize("host", INVALID, ids=range(len(INVALID)))
async def test_invalid_names_raise_invalid_host_error_and_send_nothing(
        server: DNSServer, host: str) -> None:
    resolver = fast(server)
    try:
        with pytest.raises(InvalidHostError) as caught:
            await asyncio.wait_for(resolver.resolve(host), WAIT)
    finally:
        await resolver.close()
    assert isinstance(caught.value, ValueError)  # and a ValueError for callers who check that
    assert server.count() == 0


@pytest.mark.parametrize("server", ["127.0.0.1:", "[::1]:", "127.0.0.1:0", "127.0.0.1:65536",
                                    "127.0.0.1:x", "[::1", "localhost", "300.1.1.1"])
def test_a_bad_nameserver_is_refused_at_construction(server: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"bad nameserver {server!r}")):
        Resolver(nameservers=[server])
