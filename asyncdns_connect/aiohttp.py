"""aiohttp plugin: ``AiohttpResolver`` and ``connector()``.

::

    import aiohttp
    from asyncdns_connect.aiohttp import connector

    async with aiohttp.ClientSession(connector=connector()) as session:
        ...

``AiohttpResolver`` adapts a :class:`~asyncdns_connect.Resolver` to
``aiohttp.abc.AbstractResolver``. ``connector()`` builds a ``TCPConnector`` set
up for it: aiohttp's own DNS cache off (it keeps every answer a fixed 10 s and
rotates the list on each hit, undoing the family order), connections made by
our Happy Eyeballs race (``_race``: the resolver's order kept, address families
answering late joining, learned fallback from true losers only) in place of
aiohttp's re-interleaving one, the plugin closed with the connector, and the
resolver's address policy applied to IP-literal URLs too (aiohttp never asks the
resolver about those, so a plain ``TCPConnector(resolver=AiohttpResolver(...))``
leaves them unchecked). Through a proxy the policy sees only the proxy's
address: the proxy resolves the target.

The race needs two private ``TCPConnector`` hooks (``_resolve_host``,
``_wrap_create_connection``); ``check_aiohttp_hooks()`` verifies them at
construction and names the aiohttp version if they moved (3.10 to 3.14 tested).
Hand-written glue: aiohttp's resolvers (threaded getaddrinfo, aiodns) keep no
TTLs, and its public ``socket_factory`` can neither reorder nor add addresses.
Imported only when the user imports it: ``import asyncdns_connect`` does not
import aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any

try:
    import aiohappyeyeballs
    import aiohttp
    from aiohttp.abc import AbstractResolver, ResolveResult
    from aiohttp.helpers import ceil_timeout, is_ip_address
except ImportError as exc:  # name the extra, not just the missing module
    raise ImportError(f'{exc}: pip install "asyncdns-connect[aiohttp]"') from exc

from ._connect import check_port, close_feed, report_losers
from ._default import SharedResolver
from ._errors import NoAddressError, ResolverClosedError
from ._race import RaceFailed, race
from ._resolver import Resolver
from ._types import Address

if TYPE_CHECKING:
    from aiohttp.client import ClientTimeout
    from aiohttp.client_proto import ResponseHandler
    from aiohttp.client_reqrep import ClientRequest
    from aiohttp.tracing import Trace

__all__ = ["AiohttpResolver", "connector"]

# What aiohttp's own resolvers put in ``flags``: the host is an IP, the port a number.
_NUMERIC_FLAGS = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
# aiohttp's Connection Attempt Delay default, RFC 8305's recommended value.
_HAPPY_EYEBALLS_DELAY = 0.25
# What aiohttp's _wrap_create_connection maps to its certificate and SSL errors.
_CERT_ERRORS = (ssl.CertificateError,)
_SSL_ERRORS = (ssl.SSLError,)
# TCPConnector.close() became a coroutine in aiohttp 3.x; before, it was a plain
# method returning an awaitable. The subclass must keep whichever shape it has.
_ASYNC_CLOSE = inspect.iscoroutinefunction(aiohttp.TCPConnector.close)


class AiohttpResolver(AbstractResolver):
    """aiohttp resolver backed by a :class:`~asyncdns_connect.Resolver`.

    With no ``resolver`` it uses the event loop's shared default Resolver (system
    configuration): every plugin or httpx transport made without one shares one
    cache and one channel, and the last of them to close closes it. ``close()``
    never closes a Resolver passed in. May be built outside a running loop.
    """

    __slots__ = ("_closed", "_shared")

    def __init__(self, resolver: Resolver | None = None) -> None:
        self._shared = SharedResolver(resolver)
        self._closed = False

    @property
    def resolver(self) -> Resolver:
        """The Resolver lookups go to (the loop's default needs a running loop)."""
        if self._closed:  # else the shared default would be taken again, never released
            raise ResolverClosedError(ResolverClosedError.default_errno,
                                      "the aiohttp resolver plugin is closed")
        return self._shared.get()

    @property
    def closed(self) -> bool:
        return self._closed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The addresses of ``host`` in connect order, as aiohttp wants them.

        ``family`` AF_INET or AF_INET6 keeps that family, AF_UNSPEC keeps all.
        Raises the Resolver's DNSError (an OSError); never returns an empty list.
        """
        if self._closed:
            raise ResolverClosedError.for_host(host, "resolver closed")
        bad_port = check_port(host, port)
        if bad_port is not None:
            raise ValueError(bad_port)
        return self.results(host, port, await self._shared.get().resolve(host, family))

    @staticmethod
    def results(host: str, port: int, addrs: Sequence[Address]) -> list[ResolveResult]:
        """``addrs`` as aiohttp's ``ResolveResult`` dicts, in the same order."""
        if not addrs:  # the Resolver promises never to; aiohttp would crash on []
            raise NoAddressError.for_host(host, "no address")
        # Address.host already carries an IPv6 scope (fe80::1%eth0), the text
        # aiohttp's resolvers make with getnameinfo(NI_NUMERICHOST). Dict literals:
        # this runs on every cache hit, and a TypedDict call costs three times more.
        return [
            {"hostname": host, "host": a.host, "port": port, "family": a.family,
             "proto": 0, "flags": _NUMERIC_FLAGS}
            for a in addrs
        ]

    async def close(self) -> None:
        """Drop this plugin's hold on the shared default; a user's Resolver stays open."""
        if self._closed:
            return
        self._closed = True
        await self._shared.release()

    async def __aenter__(self) -> AiohttpResolver:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()


_HOOKS_OK: list[bool] = []


def check_aiohttp_hooks() -> None:
    """RuntimeError naming the aiohttp version if its private hooks we override moved.

    ``connector()`` overrides ``TCPConnector._resolve_host`` (IP literals must
    meet the address policy; address batches start here) and
    ``_wrap_create_connection`` (our race replaces aiohttp's). If aiohttp stopped
    calling them, the policy and the race would silently stop applying.
    """
    if _HOOKS_OK:
        return
    base = aiohttp.TCPConnector
    problems = []
    direct = inspect.unwrap(getattr(base, "_create_direct_connection", None) or (lambda: None))
    names = set(getattr(getattr(direct, "__code__", None), "co_names", ()))
    for hook in ("_resolve_host", "_wrap_create_connection"):
        if not callable(getattr(base, hook, None)) or hook not in names:
            problems.append(f"TCPConnector._create_direct_connection no longer calls {hook}()")
    wrap = getattr(base, "_wrap_create_connection", None)
    if callable(wrap):
        params = inspect.signature(wrap).parameters
        problems += [f"_wrap_create_connection() has no {p!r} argument"
                     for p in ("addr_infos", "req", "timeout", "client_error") if p not in params]
    for attr in ("_happy_eyeballs_delay", "_local_addr_infos", "_family"):
        if attr not in base.__init__.__code__.co_names:
            problems.append(f"TCPConnector has no {attr}")
    if problems:
        raise RuntimeError(
            f"asyncdns_connect.aiohttp does not support aiohttp {aiohttp.__version__} "
            f"(tested on 3.10 to 3.14): {'; '.join(problems)}")
    _HOOKS_OK.append(True)


_CLOSING: set[asyncio.Task[None]] = set()  # strong references until done


def _forget(state: _Connecting | None) -> None:
    """Close the unused feed of a connection aiohttp never went on with."""
    if state is not None and state.feed is not None:
        feed, state.feed = state.feed, None
        with contextlib.suppress(RuntimeError):  # no running loop: the GC hook closes it
            task = asyncio.get_running_loop().create_task(close_feed(feed))
            _CLOSING.add(task)
            task.add_done_callback(_CLOSING.discard)


class _Connecting:
    """One request's connection, from the first address batch to the race.

    aiohttp resolves (``_resolve_host``) and then connects
    (``_wrap_create_connection``) in one coroutine with no await between the two,
    so the rest of the address feed passes from one to the other in a context
    variable. aiohttp calls the second again after a failure, with fewer
    addresses; ``failed`` keeps those this request already saw fail.
    """

    __slots__ = ("error", "failed", "feed", "host", "req")

    def __init__(self, host: str, feed: AsyncIterator[Sequence[Address]] | None) -> None:
        self.host = host
        self.feed = feed
        self.req: int | None = None  # id() of the request: no reference kept
        self.failed: frozenset[str] | set[str] = _NONE_FAILED  # a set once one fails
        self.error: RaceFailed | None = None


_NONE_FAILED: frozenset[str] = frozenset()
_CONNECTING: ContextVar[_Connecting | None] = ContextVar("asyncdns_connect_aiohttp", default=None)


class _Connector(aiohttp.TCPConnector):
    """TCPConnector connecting through our race, policing IP literals, closing its plugin."""

    def __init__(self, *, resolver: AiohttpResolver, owns_resolver: bool, **kwargs: Any) -> None:
        check_aiohttp_hooks()
        super().__init__(resolver=resolver, **kwargs)
        self._asyncdns_plugin = resolver
        self._asyncdns_owns = owns_resolver

    async def _resolve_host(
        self, host: str, port: int, traces: Sequence[Trace] | None = None
    ) -> list[ResolveResult]:
        stale = _CONNECTING.get()
        if stale is not None:
            _forget(stale)
            _CONNECTING.set(None)
        if is_ip_address(host):
            # aiohttp answers IP literals itself without asking the resolver, so
            # this is the one place to keep http://169.254.169.254/ from slipping
            # past the policy. The OSError becomes ClientConnectorDNSError.
            await self._asyncdns_plugin.resolve(host, port, socket.AF_UNSPEC)
            found = await super()._resolve_host(host, port, traces=traces)
            _CONNECTING.set(_Connecting(host, None))
            return found
        if traces:
            for trace in traces:
                await trace.send_dns_resolvehost_start(host)
        if self.closed:
            raise aiohttp.ClientConnectionError("Connector is closed")
        plugin = self._asyncdns_plugin
        if plugin.closed:
            raise ResolverClosedError.for_host(host, "resolver closed")
        resolver = plugin.resolver
        # A fresh cache entry is the whole answer (no coroutine); else the first
        # batch now (aiohttp needs a list), and later ones, if any family is
        # still out, join the race from the feed.
        feed: AsyncIterator[Sequence[Address]] | None = None
        first = resolver.fresh(host, self._family)
        if first is None:
            first, feed = await resolver._first_batch(host, self._family)
        if traces:
            for trace in traces:
                await trace.send_dns_resolvehost_end(host)
        _CONNECTING.set(_Connecting(host, feed))
        return plugin.results(host, port, first)

    async def _wrap_create_connection(
        self,
        *args: Any,
        addr_infos: list[aiohappyeyeballs.AddrInfoType],
        req: ClientRequest,
        timeout: ClientTimeout,
        client_error: type[Exception] = aiohttp.ClientConnectorError,
        **kwargs: Any,
    ) -> tuple[asyncio.Transport, ResponseHandler]:
        # aiohttp's own body, with our race in place of its start_connection():
        # the resolver's order kept (aiohttp re-interleaves it), late families
        # joining, and only true losers reported (learned fallback).
        state = _CONNECTING.get()
        if state is not None and state.req is not None and state.req != id(req):
            state = None
        more = None
        if state is not None:
            state.req = id(req)
            more, state.feed = state.feed, None
        port = int(addr_infos[0][4][1])
        first = [Address(str(info[4][0]), socket.AddressFamily(info[0])) for info in addr_infos
                 if state is None or str(info[4][0]) not in state.failed]
        if not first and state is not None and state.error is not None:
            # aiohttp retries with fewer addresses after a failure; all of them failed already.
            raise client_error(req.connection_key, state.error)
        try:
            async with ceil_timeout(timeout.sock_connect, ceil_threshold=timeout.ceil_threshold):
                try:
                    won = await race(
                        first, more, port, delay=self._happy_eyeballs_delay,
                        local_infos=self._local_addr_infos,
                        socket_factory=getattr(self, "_socket_factory", None))
                except RaceFailed as exc:
                    if state is not None:
                        state.failed = {*state.failed, *(a.address.host for a in exc.attempts)}
                        state.error = exc
                    raise
                finally:
                    await close_feed(more)
                if state is not None:
                    _CONNECTING.set(None)  # done: keep nothing of this request
                    if not self._asyncdns_plugin.closed:
                        report_losers(self._asyncdns_plugin.resolver, state.host, won)
                shutdown = getattr(self, "_ssl_shutdown_timeout", None)
                if kwargs.get("ssl") and shutdown and sys.version_info >= (3, 11):
                    kwargs["ssl_shutdown_timeout"] = shutdown  # aiohttp >= 3.12
                return await self._loop.create_connection(*args, **kwargs, sock=won.sock)
        except _CERT_ERRORS as exc:
            raise aiohttp.ClientConnectorCertificateError(req.connection_key, exc) from exc
        except _SSL_ERRORS as exc:
            raise aiohttp.ClientConnectorSSLError(req.connection_key, exc) from exc
        except OSError as exc:
            if exc.errno is None and isinstance(exc, asyncio.TimeoutError):
                raise
            raise client_error(req.connection_key, exc) from exc

    async def _release_plugin(self) -> None:
        if self._asyncdns_owns:
            await self._asyncdns_plugin.close()

    if _ASYNC_CLOSE or TYPE_CHECKING:

        async def close(self, **kwargs: Any) -> None:
            try:
                await super().close(**kwargs)
            finally:
                await self._release_plugin()

    else:  # pragma: no cover - older aiohttp: close() is sync, returns an awaitable

        def close(self, **kwargs: Any) -> Awaitable[None]:
            waiter: Awaitable[None] = super().close(**kwargs)

            async def finish() -> None:
                try:
                    await waiter
                finally:
                    await self._release_plugin()

            # A task, so the plugin is released even if the caller never awaits.
            return self._loop.create_task(finish())


def connector(
    resolver: Resolver | AiohttpResolver | None = None, **options: Any
) -> aiohttp.TCPConnector:
    """A ``TCPConnector`` resolving through ``resolver`` (default: the loop's shared one).

    Sets ``use_dns_cache=False`` (our cache honours TTLs and keeps the family
    order; aiohttp's would not) and ``happy_eyeballs_delay=0.25`` unless given
    (``None``: one attempt at a time). Connections go through our race in the
    resolver's order; ``interleave`` only changes which addresses aiohttp drops
    before it retries. ``socket_factory`` and ``local_addr`` are honoured. Other
    ``options`` go to ``TCPConnector``; RuntimeError if this aiohttp lacks the
    hooks the race needs. The connector closes the plugin it makes here when it
    closes; an ``AiohttpResolver`` passed in is left to its owner. IP-literal
    URLs are checked against the Resolver's ``address_policy`` as names are.
    Call it inside a running event loop, as ``TCPConnector`` requires.
    """
    if options.get("use_dns_cache"):
        raise ValueError(
            "use_dns_cache=True would put aiohttp's fixed 10 s cache in front of the "
            "resolver, ignoring TTLs and rotating the address order")
    if options.get("interleave", 1) == 0:
        raise ValueError("interleave=0 makes aiohttp retry forever when every address fails")
    options["use_dns_cache"] = False
    options.setdefault("happy_eyeballs_delay", _HAPPY_EYEBALLS_DELAY)
    if isinstance(resolver, AiohttpResolver):
        plugin, owns = resolver, False
    else:
        plugin, owns = AiohttpResolver(resolver), True
    return _Connector(resolver=plugin, owns_resolver=owns, **options)
