"""``DNSResolver``: aiodns 4.0.4's resolver, on the project's engine.

Every method sends at call time and returns an ``asyncio.Future``, as aiodns does;
the engine's future (failing with ``QueryFailed``/``ResolverClosedError``) is relayed
to the caller's future as aiodns's ``DNSError(errno, message)``. The relay callback
holds the resolver, so ``await DNSResolver().query(...)`` on a temporary resolver
completes (aiodns issue 209).

What differs from aiodns, and why, is in docs/aiodns.md.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import socket
import warnings
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, TypeVar

import pycares

from .._engine import ChannelOptions, Engine, QueryFailed
from .._errors import ResolverClosedError
from . import error
from ._buffers import keep_channel_buffers
from .compat import AresHostResult, QueryResult, convert_result

__all__ = ["DNSResolver", "query_class_map", "query_type_map"]

_T = TypeVar("_T")
_R = TypeVar("_R")

query_type_map: dict[str, int] = {
    "A": pycares.QUERY_TYPE_A,
    "AAAA": pycares.QUERY_TYPE_AAAA,
    "ANY": pycares.QUERY_TYPE_ANY,
    "CAA": pycares.QUERY_TYPE_CAA,
    "CNAME": pycares.QUERY_TYPE_CNAME,
    "MX": pycares.QUERY_TYPE_MX,
    "NAPTR": pycares.QUERY_TYPE_NAPTR,
    "NS": pycares.QUERY_TYPE_NS,
    "PTR": pycares.QUERY_TYPE_PTR,
    "SOA": pycares.QUERY_TYPE_SOA,
    "SRV": pycares.QUERY_TYPE_SRV,
    "TXT": pycares.QUERY_TYPE_TXT,
    # pycares 5 parses these three; aiodns 4.0.4 rejects them with ValueError.
    "HTTPS": pycares.QUERY_TYPE_HTTPS,
    "TLSA": pycares.QUERY_TYPE_TLSA,
    "URI": pycares.QUERY_TYPE_URI,
}

query_class_map: dict[str, int] = {
    "IN": pycares.QUERY_CLASS_IN,
    "CHAOS": pycares.QUERY_CLASS_CHAOS,
    "HS": pycares.QUERY_CLASS_HS,
    "NONE": pycares.QUERY_CLASS_NONE,
    "ANY": pycares.QUERY_CLASS_ANY,
}

# ChannelOptions has a field for these; every other keyword goes to pycares as given.
_OPTION_FIELDS = ("timeout", "tries", "ndots", "rotate")
_DEFAULT_PORT_SUFFIX = ":53"
_CHANNEL_KEYWORDS = frozenset(inspect.signature(pycares.Channel).parameters)


def _dns_error(status: int) -> error.DNSError:
    return error.DNSError(status, pycares.errno.strerror(status))


def _channel_options(kwargs: dict[str, Any]) -> ChannelOptions:
    unknown = sorted(set(kwargs) - _CHANNEL_KEYWORDS)
    if unknown:
        # Checked here: pycares.Channel would raise too, then warn from its __del__.
        raise TypeError(f"DNSResolver() got unknown c-ares option(s): {', '.join(unknown)}")
    fields: dict[str, Any] = {k: kwargs.pop(k) for k in _OPTION_FIELDS if k in kwargs}
    if fields.get("rotate") is None:
        fields.pop("rotate", None)
    if fields.get("timeout") == 0:
        # c-ares reads a zero timeout as "the default" (aiodns users pass it so).
        fields["timeout"] = None
    servers = kwargs.pop("servers", None)
    if servers:
        fields["servers"] = tuple(servers)
    domains = kwargs.pop("domains", None)
    if domains:
        fields["domains"] = tuple(domains)
    return ChannelOptions(extra=tuple(kwargs.items()), **fields)


def _strip_default_port(server: str) -> str:
    """'8.8.8.8:53' -> '8.8.8.8', '[::1]:53' -> '::1'; any other port is kept."""
    if server.endswith(_DEFAULT_PORT_SUFFIX):
        server = server[: -len(_DEFAULT_PORT_SUFFIX)]
        if server.startswith("[") and server.endswith("]"):
            server = server[1:-1]
    return server


class DNSResolver:
    """An asynchronous DNS resolver with aiodns 4.0.4's API.

    ``nameservers``: IP addresses (``"ip:port"`` and ``"[v6]:port"`` work); ``None``
    reads /etc/resolv.conf. ``loop``: the event loop (default: the current one).
    Other keywords are c-ares channel options (``timeout``, ``tries``, ``ndots``,
    ``flags``, ``udp_port``, ``tcp_port``, ``domains``, ``rotate``, ``local_ip``,
    ``local_dev``, ``lookups``, ``resolvconf_path``, socket buffer sizes), passed to
    ``pycares.Channel``; an unknown keyword raises ``TypeError``.
    """

    def __init__(self, nameservers: Sequence[str] | None = None,
                 loop: asyncio.AbstractEventLoop | None = None, **kwargs: Any) -> None:
        self._closed = True
        self.loop = loop or asyncio.get_event_loop()
        # The engine watches c-ares's sockets itself; a caller's callback has no place.
        kwargs.pop("sock_state_cb", None)
        with keep_channel_buffers():
            self._engine = Engine(self.loop, _channel_options(kwargs))
            # The engine may build its channel lazily; reading the servers builds it
            # here, inside the guard, and fails now (as aiodns does) on a bad option.
            self._engine.servers  # noqa: B018
        if nameservers:
            self.nameservers = nameservers
        self._closed = False

    # -- servers ------------------------------------------------------------------

    @property
    def nameservers(self) -> Sequence[str]:
        """The servers queries go to; the default port 53 is left out, as aiodns does."""
        return [_strip_default_port(s) for s in self._engine.servers]

    @nameservers.setter
    def nameservers(self, value: Iterable[str | bytes]) -> None:
        self._engine.servers = [s.decode() if isinstance(s, bytes) else s for s in value]

    # -- lookups ------------------------------------------------------------------

    def query(self, host: str, qtype: str, qclass: str | None = None
              ) -> asyncio.Future[QueryResult]:
        """Deprecated: ``query_dns`` with the answer in pycares 4's per-type objects."""
        warnings.warn("query() is deprecated, use query_dns() instead",
                      DeprecationWarning, stacklevel=2)
        qtype_int, qclass_int = _types(qtype, qclass)
        return self._send(
            lambda: self._engine.query(host, qtype_int, qclass=qclass_int),
            functools.partial(convert_result, qtype=qtype_int),
        )

    def query_dns(self, host: str, qtype: str, qclass: str | None = None
                  ) -> asyncio.Future[pycares.DNSResult]:
        """Ask for one record type; the future gets pycares 5's ``DNSResult``."""
        qtype_int, qclass_int = _types(qtype, qclass)
        return self._send(
            lambda: self._engine.query(host, qtype_int, qclass=qclass_int),
            _same,
        )

    def gethostbyname(self, host: str, family: socket.AddressFamily
                      ) -> asyncio.Future[AresHostResult]:
        """Deprecated: the addresses of ``host`` of one family, via getaddrinfo."""
        warnings.warn("gethostbyname() is deprecated, use getaddrinfo() instead",
                      DeprecationWarning, stacklevel=2)
        return self._send(
            lambda: self._engine.getaddrinfo(host, None, family, 0, 0, 0),
            functools.partial(_host_result, host=host),
        )

    def getaddrinfo(self, host: str, family: socket.AddressFamily = socket.AF_UNSPEC,
                    port: int | None = None, proto: int = 0, type: int = 0, flags: int = 0
                    ) -> asyncio.Future[pycares.AddrInfoResult]:
        """c-ares getaddrinfo, in aiodns's argument order (``family`` second)."""
        return self._send(
            lambda: self._engine.getaddrinfo(host, port, family, type, proto, flags), _same)

    def getnameinfo(self, sockaddr: tuple[str, int] | tuple[str, int, int, int],
                    flags: int = 0) -> asyncio.Future[pycares.NameInfoResult]:
        """The name (and service) of an address.

        Asking for the service alone makes pycares 5 drop the answer and never call
        back (the future would hang), so the host is asked for too, numerically: no
        lookup, and ``node`` is the address as text.
        """
        if flags & pycares.ARES_NI_LOOKUPSERVICE and not flags & pycares.ARES_NI_LOOKUPHOST:
            flags |= pycares.ARES_NI_LOOKUPHOST | pycares.ARES_NI_NUMERICHOST
        return self._send(lambda: self._engine.getnameinfo(sockaddr, flags), _same)

    def gethostbyaddr(self, name: str) -> asyncio.Future[pycares.HostResult]:
        """The host entry of an address (reverse lookup, /etc/hosts first)."""
        return self._send(lambda: self._engine.gethostbyaddr(name), _same)

    # -- life ---------------------------------------------------------------------

    def cancel(self) -> None:
        """Fail every pending lookup with ``DNSError(ARES_ECANCELLED)``."""
        self._engine.cancel_all()

    async def close(self) -> None:
        """Fail pending lookups with ``ARES_ECANCELLED`` and free the channel; idempotent."""
        self._shut()

    def _shut(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.loop.is_closed():
            self._engine.cancel_all()
        self._engine.close()

    async def __aenter__(self) -> DNSResolver:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc_val: BaseException | None, exc_tb: TracebackType | None) -> None:
        await self.close()

    def __del__(self) -> None:
        # Unclosed and unreferenced (nothing pending holds it): free the channel's
        # sockets and the loop's watchers, as aiodns does.
        engine: Engine | None = getattr(self, "_engine", None)
        if engine is not None and not engine.closed:
            self._closed = True
            engine.close()

    # -- plumbing -----------------------------------------------------------------

    def _send(self, start: Callable[[], asyncio.Future[_T]], convert: Callable[[_T], _R]
              ) -> asyncio.Future[_R]:
        if self._closed:
            # aiodns: pycares raises this for a destroyed channel.
            raise RuntimeError("DNSResolver is closed, no new queries allowed")
        outer: asyncio.Future[_R] = self.loop.create_future()
        inner = start()
        if inner.done() and not inner.cancelled():
            bad = inner.exception()
            if isinstance(bad, (ValueError, TypeError)):
                # A bad argument pycares refused: aiodns lets it raise at the call.
                raise bad
        inner.add_done_callback(functools.partial(self._relay, outer, convert))
        return outer

    def _relay(self, outer: asyncio.Future[_R], convert: Callable[[Any], _R],
               inner: asyncio.Future[Any]) -> None:
        # A bound method on purpose: pending lookups keep the resolver alive.
        if inner.cancelled():
            if not outer.done():
                outer.cancel()
            return
        exc = inner.exception()  # read even if unused: no "never retrieved" warning
        if outer.done():
            return
        if exc is None:
            try:
                outer.set_result(convert(inner.result()))
            except Exception as bad:  # ENODATA from convert_result; never a hang
                outer.set_exception(bad)
        elif isinstance(exc, QueryFailed):
            outer.set_exception(_dns_error(exc.status))
        elif isinstance(exc, ResolverClosedError):
            # aiodns cancels what is pending before it closes: ECANCELLED, not 16.
            outer.set_exception(_dns_error(pycares.errno.ARES_ECANCELLED))
        else:
            outer.set_exception(exc)


def _types(qtype: str, qclass: str | None) -> tuple[int, int]:
    try:
        qtype_int = query_type_map[qtype]
    except KeyError:
        raise ValueError(f"invalid query type: {qtype}") from None
    if qclass is None:
        return qtype_int, pycares.QUERY_CLASS_IN
    try:
        return qtype_int, query_class_map[qclass]
    except KeyError:
        raise ValueError(f"invalid query class: {qclass}") from None


def _same(result: _T) -> _T:
    return result


def _host_result(result: pycares.AddrInfoResult, host: str) -> AresHostResult:
    addresses = [node.addr[0].decode() for node in result.nodes]
    name = result.cnames[0].name if result.cnames else host
    return AresHostResult(name=name, aliases=[], addresses=addresses)
