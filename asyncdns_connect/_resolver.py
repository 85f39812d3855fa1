"""``Resolver``: the one object both adapters and aiodns users talk to.

It wires the parts together and holds none of their rules: ``_sources`` answers
what needs no DNS (IP literals, overrides, special-use names, the hosts file),
``_scheduler`` keeps the per-(name, family) cache and decides when to ask DNS,
``_lookup`` composes the families into one ordered answer (RFC 8305), and the
engine asks DNS. A cache hit is answered here: a dict lookup and a clock read.
The aiodns-style methods are a thin facade over the engine.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import Any

import pycares

from ._cache import HostCache, HostEntry, Record, View
from ._config import ResolverConfig
from ._engine import ChannelOptions, Engine, QueryFailed, parse_servers
from ._errors import (
    DNSError,
    InvalidHostError,
    ResolverClosedError,
    error_for_status,
)
from ._fetcher import Fetcher
from ._hosts import HostsFile
from ._lookup import Lookup
from ._names import normalize_host
from ._policy import AddressPolicy
from ._resolvconf import SYSTEM_TIMEOUT, SYSTEM_TRIES
from ._scheduler import FAMILIES, Scheduler
from ._sources import HostsWatcher, Local, Sources
from ._stats import Stats
from ._types import Address

__all__ = ["Resolver"]

AF_INET = socket.AF_INET
AF_INET6 = socket.AF_INET6
AF_UNSPEC = socket.AF_UNSPEC
_QUERY_TYPES = {
    name[len("QUERY_TYPE_"):]: getattr(pycares, name)
    for name in dir(pycares) if name.startswith("QUERY_TYPE_")
}
# This process's id, kept current across fork(): os.getpid() is a system call,
# and every lookup checks it.
_pid = [os.getpid()]
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _pid.__setitem__(0, os.getpid()))


class Resolver:
    """A caching asyncio DNS resolver on c-ares.

    ``Resolver(nameservers=None, *, config=None, address_policy=None, clock=None,
    **options)``: ``options`` are the fields of :class:`ResolverConfig` (which
    documents each one and holds the only defaults), applied over ``config``.
    ``address_policy``: an AddressPolicy every answer is filtered through.
    ``clock``: the monotonic clock the cache reads; ``fetcher``: what asks DNS
    instead of the engine (both for tests: a fake clock and a fake DNS).
    """

    def __init__(self, nameservers: Sequence[str] | str | None = None, *,
                 config: ResolverConfig | None = None,
                 address_policy: AddressPolicy | None = None,
                 clock: Callable[[], float] | None = None,
                 fetcher: Fetcher | None = None,
                 **options: Any) -> None:
        config = config or ResolverConfig()
        if nameservers is not None:
            options["nameservers"] = nameservers
        servers = options.get("nameservers", config.nameservers)
        if servers is not None:
            # Checked and normalised however they came ("ip", "ip:port", "[v6]:port").
            options["nameservers"] = parse_servers(
                [servers] if isinstance(servers, str) else servers)
        if options:
            config = config.replace(**options)
        self._config = config
        self._policy = address_policy
        self._clock = clock or time.monotonic
        hosts = None
        if config.hosts_file:
            hosts = HostsFile(config.hosts_file if isinstance(config.hosts_file, str)
                              else "/etc/hosts")
        self._sources = Sources(config.overrides, hosts, address_policy)
        self._watcher = (HostsWatcher(hosts, config.hosts_check_interval, self._hosts_changed)
                         if hosts is not None else None)
        self._cache = HostCache(config.cache_size, config.first_family_count)
        self._stats = Stats()
        self._sched = Scheduler(self._cache, config, self._stats, clock=self._clock,
                                policy=address_policy)
        self._lookup = Lookup(self._sched, self._cache, config, self._stats, address_policy)
        self._engine: Engine | None = None
        self._fake_fetcher = fetcher
        self._closed = False
        self._pid = _pid[0]

    # -- life cycle -------------------------------------------------------------

    async def __aenter__(self) -> Resolver:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Fail pending lookups with ResolverClosedError and free the channel. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._watcher is not None:
            self._watcher.stop()
        if self._engine is not None:
            self._engine.close()
        self._sched.close()
        self._cache.clear()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def config(self) -> ResolverConfig:
        return self._config

    @property
    def address_policy(self) -> AddressPolicy | None:
        return self._policy

    def stats(self) -> Stats:
        """A snapshot of the counters (see Stats)."""
        snap = self._stats.copy()
        snap.cache_size = len(self._cache)
        if self._engine is not None:
            snap.queries = self._engine.queries_sent
        return snap

    def _bind(self) -> Engine:
        """The engine of the running loop; rebuilt after fork or on a new loop."""
        loop = asyncio.get_running_loop()
        engine = self._engine
        pid = _pid[0]
        if engine is not None and engine.loop is loop and self._pid == pid:
            return engine
        if self._closed:
            raise ResolverClosedError.for_host("", "resolver closed")
        if engine is not None and self._pid == pid:
            if engine.loop.is_running():
                raise RuntimeError(
                    "this Resolver is in use on another running event loop; "
                    "make one Resolver per event loop (thread)")
            engine.close()
        # After fork() the inherited channel and queries belong to the parent.
        self._pid = pid
        self._sched.forget_inflight()
        c = self._config
        timeout, tries = c.timeout, c.tries
        if c.nameservers is None:
            # The system's servers come with the system's retry options, as for
            # glibc and aiodns (a container's `options timeout:1 attempts:1`).
            timeout = SYSTEM_TIMEOUT if timeout is None else timeout
            tries = SYSTEM_TRIES if tries is None else tries
        self._engine = Engine(loop, ChannelOptions(
            servers=c.nameservers, timeout=timeout, tries=tries, rotate=c.rotate),
            c.max_concurrent_queries)
        self._sched.fetcher = self._fake_fetcher or self._engine
        self._sched.loop = loop
        return self._engine

    def _hosts_changed(self, names: set[str]) -> None:
        """A hosts-file change beats cached DNS answers of the names it touched."""
        for name in names:
            self._cache.discard(name)

    # -- the address lookup --------------------------------------------------------

    async def resolve(self, host: str, family: int = AF_UNSPEC) -> Sequence[Address]:
        """The addresses of ``host`` in the order to connect, or a DNSError.

        ``family`` AF_INET or AF_INET6 keeps only that family. Never empty. Waits
        for the second family at most ``resolution_delay`` once one answered.
        """
        # fresh()'s body, inline: this is the hit path every lookup takes.
        try:
            entry = self._cache.get(host)
        except TypeError:  # unhashable: no host name (_check says so)
            entry = None
        if entry is not None:
            view = entry.views.get(family)
            if view is None:
                view = entry.view(family, self._clock())
            if view is not None:
                now = self._clock()
                if now < view.expires and (view.error is None
                                           or not self._sched.retry_failure(entry.name, family)):
                    return self._hit(entry, view, family, now)
        self._check(host, family)
        if self._watcher is not None and (first := self._watcher.ready()) is not None:
            await first
        return await self._lookup.resolve(host, family, self._start(host, family))

    async def stream(self, host: str, family: int = AF_UNSPEC
                     ) -> AsyncIterator[tuple[Address, ...]]:
        """Batches of ``host``'s addresses as the families answer (for Happy Eyeballs).

        From the cache or a local source: one batch, the whole ordered answer. From
        DNS: AAAA's addresses as soon as they come; A's after waiting at most
        ``resolution_delay`` for AAAA (both interleaved if both came); a family that
        answers later comes as a later batch of its own addresses. Addresses
        reported failing go last. If every family fails, raises the DNSError
        before yielding; once something was yielded, a later failure just ends it.
        """
        hit = self.fresh(host, family)
        if hit is not None:
            yield hit
            return
        self._check(host, family)
        if self._watcher is not None and (first := self._watcher.ready()) is not None:
            await first
        local = self._start(host, family)
        async for batch in self._lookup.stream(host, family, local):
            yield batch

    async def _first_batch(self, host: str, family: int = AF_UNSPEC
                           ) -> tuple[tuple[Address, ...],
                                      AsyncIterator[tuple[Address, ...]] | None]:
        """``stream()``'s first batch, and the rest of it (None when nothing can follow).

        For the adapters: a hit, or a miss whose families all answered by the
        first batch, costs no async generator (nor a race task to drain one).
        """
        hit = self.fresh(host, family)
        if hit is not None:
            return hit, None
        self._check(host, family)
        if self._watcher is not None and (first := self._watcher.ready()) is not None:
            await first
        return await self._lookup.first(host, family, self._start(host, family))

    def fresh(self, host: str, family: int = AF_UNSPEC) -> tuple[Address, ...] | None:
        """The cached answer if it is fresh, else None; no waiting, no query.

        A hit like ``resolve()``'s: counted, a refresh started past the prefetch
        time, a cached negative answer raised. An adapter calls this before
        starting ``stream()``, which costs an async generator per connection.
        """
        try:
            entry = self._cache.get(host)
        except TypeError:  # unhashable: no host name (_check says so)
            return None
        if entry is not None:
            view = entry.views.get(family)
            if view is None:
                view = entry.view(family, self._clock())
            if view is not None:
                now = self._clock()
                if now < view.expires and (view.error is None
                                           or not self._sched.retry_failure(entry.name, family)):
                    return self._hit(entry, view, family, now)
        return None

    def _hit(self, entry: HostEntry, view: View, family: int, now: float
             ) -> tuple[Address, ...]:
        """Answer from a view; past its prefetch time, refresh behind it."""
        if now >= view.prefetch_at and not self._closed:
            self._bind()
            self._sched.prefetch(entry, family, now)
        if view.error is not None:
            self._stats.hits += 1
            self._stats.errors[type(view.error).__name__] += 1
            raise view.error.copy()
        if view.stale:
            self._stats.count_stale("failed")
        else:
            self._stats.hits += 1
        return view.addrs

    def _check(self, host: str, family: int) -> None:
        if family not in FAMILIES:
            raise ValueError(f"family must be AF_INET, AF_INET6 or AF_UNSPEC, not {family!r}")
        if self._closed:
            raise ResolverClosedError.for_host(host, "resolver closed")
        if not isinstance(host, str):
            raise InvalidHostError.for_host(repr(host), "host must be a str")

    def _start(self, host: str, family: int) -> Local:
        """Local sources, and the engine bound: what the lookup layer needs.

        After ``_check``, and after the hosts file's first read (``HostsWatcher.ready``).
        """
        local = self._sources.find(host)
        found = local.found
        if not found or not all(fam in found for fam in FAMILIES[family]):
            self._bind()
        return local

    # -- learned fallback --------------------------------------------------------

    def report_failure(self, host: str, address: str) -> None:
        """Remember that connecting to ``address`` of ``host`` failed.

        The address goes last for this host for ``failed_address_ttl`` (10 minutes
        by default), across refreshes of its answer, so the next connection does
        not wait on it first.
        """
        try:
            name = normalize_host(host)
        except DNSError:
            return
        self._sched.report_failure(name, address)

    def cached(self, host: str) -> Record | None:
        """Debug aid: the cached record of ``host`` that lives longest (None if absent).

        A ``Record`` has ``kind`` (positive, negative, failure), ``addrs``, ``error``,
        ``ttl`` and ``expires``.
        """
        entry = self._cache.get(normalize_host(host))
        if entry is None or not entry.records:
            return None
        return max(entry.records.values(), key=lambda r: r.expires)

    def clear_cache(self) -> None:
        """Forget every cached answer (for a network change)."""
        self._cache.clear()

    # -- the aiodns-compatible API ------------------------------------------------

    async def query_dns(self, name: str, qtype: str | int, qclass: int | None = None) -> Any:
        """Any record type, as a pycares DNSResult (aiodns's ``query_dns``)."""
        code = _QUERY_TYPES.get(qtype.upper()) if isinstance(qtype, str) else qtype
        if code is None:
            raise ValueError(f"unknown query type {qtype!r}")
        if qclass not in (None, pycares.QUERY_CLASS_IN):
            raise ValueError("only the IN query class is supported")
        engine = self._bind()
        try:
            return await engine.query(name.rstrip(".") or name, code)
        except QueryFailed as exc:
            err = error_for_status(name, exc.status)
            self._stats.errors[type(err).__name__] += 1
            raise err from None

    async def getaddrinfo(self, host: str, family: int = 0, port: int | str | None = None,
                          proto: int = 0, type: int = 0, flags: int = 0) -> Any:
        """pycares's getaddrinfo (system-style, no cache): an AddrInfoResult.

        The arguments come in aiodns's positional order: host, family, port,
        proto, type, flags.
        """
        engine = self._bind()
        try:
            return await engine.getaddrinfo(host, port, family, type, proto, flags)  # type: ignore[arg-type]
        except QueryFailed as exc:
            raise error_for_status(host, exc.status) from None

    async def gethostbyaddr(self, addr: str) -> Any:
        """Reverse lookup: a pycares HostResult."""
        engine = self._bind()
        try:
            return await engine.gethostbyaddr(addr)
        except QueryFailed as exc:
            raise error_for_status(addr, exc.status) from None
        except ValueError:
            raise InvalidHostError.for_host(addr, "not an IP address") from None

    async def getnameinfo(self, sockaddr: tuple[Any, ...], flags: int = 0) -> Any:
        """Address and port to names: a pycares NameInfoResult.

        c-ares never answers a request for the service alone; that part needs no
        DNS and is answered here.
        """
        want_host = bool(flags & pycares.ARES_NI_LOOKUPHOST) or not flags & \
            pycares.ARES_NI_LOOKUPSERVICE
        if not want_host:
            return pycares.NameInfoResult(node=None, service=_service_name(sockaddr[1], flags))  # type: ignore[arg-type]
        engine = self._bind()
        try:
            return await engine.getnameinfo(sockaddr, flags | pycares.ARES_NI_LOOKUPHOST)
        except QueryFailed as exc:
            raise error_for_status(str(sockaddr[0]), exc.status) from None

    def cancel(self) -> None:
        """Cancel every lookup in flight; their callers get a DNSError."""
        if self._engine is not None:
            self._engine.cancel_all()


def _service_name(port: int, flags: int) -> str:
    if flags & pycares.ARES_NI_NUMERICSERV:
        return str(port)
    proto = "udp" if flags & (pycares.ARES_NI_UDP | pycares.ARES_NI_DGRAM) else "tcp"
    try:
        return socket.getservbyport(port, proto)
    except OSError:
        return str(port)
