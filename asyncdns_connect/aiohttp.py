"""aiohttp plugin: ``AiohttpResolver`` and ``connector()``.

::

    import aiohttp
    from asyncdns_connect.aiohttp import connector

    async with aiohttp.ClientSession(connector=connector()) as session:
        ...

``AiohttpResolver`` adapts a :class:`~asyncdns_connect.Resolver` to
``aiohttp.abc.AbstractResolver``. ``connector()`` builds a ``TCPConnector`` set
up for it: aiohttp's own DNS cache off (it keeps every answer a fixed 10 s and
rotates the list on each hit, undoing the family order), Happy Eyeballs on, the
plugin closed with the connector, and the resolver's address policy applied to
IP-literal URLs too (aiohttp never asks the resolver about those, so a plain
``TCPConnector(resolver=AiohttpResolver(...))`` leaves them unchecked). Through a
proxy the policy sees only the proxy's address: the proxy resolves the target.

Hand-written glue: aiohttp's resolvers (threaded getaddrinfo, aiodns) keep no
TTLs, so nothing off the shelf plugs a TTL cache in. Imported only when the
user imports it: ``import asyncdns_connect`` does not import aiohttp.
"""

from __future__ import annotations

import inspect
import socket
from collections.abc import Awaitable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

try:
    import aiohttp
    from aiohttp.abc import AbstractResolver, ResolveResult
    from aiohttp.helpers import is_ip_address
except ImportError as exc:  # name the extra, not just the missing module
    raise ImportError(f'{exc}: pip install "asyncdns-connect[aiohttp]"') from exc

from ._default import SharedResolver
from ._errors import NoAddressError, ResolverClosedError
from ._resolver import Resolver

if TYPE_CHECKING:
    from aiohttp.tracing import Trace

__all__ = ["AiohttpResolver", "connector"]

# What aiohttp's own resolvers put in ``flags``: the host is an IP, the port a number.
_NUMERIC_FLAGS = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
# aiohttp's Connection Attempt Delay default, RFC 8305's recommended value.
_HAPPY_EYEBALLS_DELAY = 0.25
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
        addrs = await self._shared.get().resolve(host, family)
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


class _Connector(aiohttp.TCPConnector):
    """TCPConnector that polices IP literals and closes the plugin it was made with."""

    def __init__(self, *, resolver: AiohttpResolver, owns_resolver: bool, **kwargs: Any) -> None:
        super().__init__(resolver=resolver, **kwargs)
        self._asyncdns_plugin = resolver
        self._asyncdns_owns = owns_resolver

    async def _resolve_host(
        self, host: str, port: int, traces: Sequence[Trace] | None = None
    ) -> list[ResolveResult]:
        # aiohttp answers IP literals itself without asking the resolver, so
        # this is the one place to keep http://169.254.169.254/ from slipping past
        # the policy. The OSError becomes ClientConnectorDNSError naming the host.
        if is_ip_address(host):
            # The resolver answers a literal without DNS, raising if its policy refuses.
            await self._asyncdns_plugin.resolve(host, port, socket.AF_UNSPEC)
        return await super()._resolve_host(host, port, traces=traces)

    async def _wrap_create_connection(
        self, *args: Any, addr_infos: list[Any], req: Any, **kwargs: Any
    ) -> Any:
        # Learned fallback: addresses tried before the one that connected lost the
        # race (broken path, black hole). The resolver puts them last for this host
        # while its entry lives, so the next connection does not wait on them.
        tried = [info[4][0] for info in addr_infos]
        transport, protocol = await super()._wrap_create_connection(
            *args, addr_infos=addr_infos, req=req, **kwargs)
        peer = transport.get_extra_info("peername")
        if tried and peer and peer[0] != tried[0] and not self._asyncdns_plugin.closed:
            resolver = self._asyncdns_plugin.resolver
            for ip in tried:
                if ip == peer[0]:
                    break
                resolver.report_failure(req.host, ip)
        return transport, protocol

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
    order; aiohttp's would not) and ``happy_eyeballs_delay=0.25`` unless given;
    leaves ``interleave`` at aiohttp's default. Other ``options`` go to
    ``TCPConnector``. The connector closes the plugin it makes here when it
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
