"""``Resolver``: the one object both adapters and aiodns users talk to.

It decides, per lookup, where the answer comes from: an IP literal, an
override, a special-use name, /etc/hosts, the TTL cache (fresh, about to
expire, or stale), or DNS, where A and AAAA go out together, one query per
(name, type) however many callers wait, and the Resolution Delay of RFC 8305
decides when a caller stops waiting for the slower family.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import pycares

from ._cache import Answer, HostCache, HostEntry, View, fresh_error
from ._config import ResolverConfig, TtlConfig
from ._engine import ChannelOptions, Engine, QueryFailed, parse_servers
from ._errors import (
    AddressPolicyError,
    DNSError,
    InvalidHostError,
    NameNotFoundError,
    NoAddressError,
    ResolverClosedError,
    ServerFailureError,
    error_for_status,
    pick_error,
)
from ._fetcher import NO_SOA
from ._hosts import HostsFile
from ._names import normalize_host, parse_ip_literal, special_use
from ._order import demote, order
from ._policy import AddressPolicy
from ._stats import Stats
from ._types import Address

__all__ = ["Resolver"]

AF_INET = socket.AF_INET
AF_INET6 = socket.AF_INET6
AF_UNSPEC = socket.AF_UNSPEC
_QTYPE: dict[int, int] = {AF_INET: pycares.QUERY_TYPE_A, AF_INET6: pycares.QUERY_TYPE_AAAA}
_FAMILIES: dict[int, tuple[int, ...]] = {
    AF_UNSPEC: (AF_INET, AF_INET6), AF_INET: (AF_INET,), AF_INET6: (AF_INET6,)}
_QUERY_TYPES = {
    name[len("QUERY_TYPE_"):]: getattr(pycares, name)
    for name in dir(pycares) if name.startswith("QUERY_TYPE_")
}
_STALE_ANSWER_TTL = 30
_LOCALHOST = ((("127.0.0.1",), AF_INET), (("::1",), AF_INET6))


class Resolver:
    """A caching asyncio DNS resolver on c-ares.

    ``nameservers``: ``"ip"``, ``"ip:port"`` or ``"[v6]:port"`` strings, or None for
    the system configuration (which also gives the search list and ndots).
    ``cache_size``: hosts kept (LRU). ``min_ttl``/``max_ttl``: clamp of positive
    TTLs. ``negative_ttl``: life of a negative answer when no SOA is visible;
    ``max_negative_ttl``: cap of SOA-derived negative TTLs. ``stale_ttl``: how long
    an expired answer may still be served when DNS fails. ``resolution_delay``:
    how long to wait for the second family once the first answered.
    ``first_family_count``: addresses of the first family before alternating.
    ``hosts_file``: True for /etc/hosts, a path, or False. ``overrides``: host ->
    IPs, answered before anything else (like curl --resolve). ``timeout``: seconds
    one try waits at one server (default 2); ``tries``: tries per server (default 2);
    a lookup ends after at most timeout x tries x servers (docs/engine.md).
    ``rotate``: spread queries over the servers.
    ``max_concurrent_queries``: queries in flight at once; more wait their turn.
    ``address_policy``: an AddressPolicy every answer is filtered through.
    """

    def __init__(
        self,
        nameservers: Sequence[str] | None = None,
        *,
        cache_size: int = 10_000,
        min_ttl: float = 0,
        max_ttl: float = 3600,
        negative_ttl: float = 10,
        max_negative_ttl: float = 300,
        stale_ttl: float = 86400,
        resolution_delay: float = 0.05,
        first_family_count: int = 1,
        hosts_file: bool | str = True,
        overrides: Mapping[str, Iterable[str]] | None = None,
        timeout: float | None = None,
        tries: int | None = None,
        rotate: bool = False,
        max_concurrent_queries: int = 512,
        address_policy: AddressPolicy | None = None,
    ) -> None:
        if isinstance(nameservers, str):
            nameservers = [nameservers]
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be a number of seconds > 0, not {timeout!r}")
        if tries is not None and tries < 1:
            raise ValueError(f"tries must be >= 1, not {tries!r}")
        self._config = ResolverConfig(
            nameservers=parse_servers(nameservers),
            ttl=TtlConfig(min_ttl=min_ttl, max_ttl=max_ttl, negative_ttl=negative_ttl,
                          max_negative_ttl=max_negative_ttl, stale_ttl=stale_ttl),
            cache_size=cache_size,
            resolution_delay=resolution_delay,
            first_family_count=first_family_count,
            hosts_file=hosts_file,
            timeout=timeout,
            tries=tries,
            rotate=rotate,
            max_concurrent_queries=max_concurrent_queries,
        )
        self._ttl = self._config.ttl
        self._policy = address_policy
        self._overrides = self._parse_overrides(overrides or {})
        path = hosts_file if isinstance(hosts_file, str) else "/etc/hosts"
        self._hosts = HostsFile(path) if hosts_file else None
        self._cache = HostCache(cache_size)
        self._stats = Stats()
        self._inflight: dict[tuple[str, int], asyncio.Task[Answer]] = {}
        self._engine: Engine | None = None
        self._closed = False
        self._pid = os.getpid()
        self._background: set[asyncio.Task[Any]] = set()

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
        if self._engine is not None:
            self._engine.close()
        for task in list(self._inflight.values()) + list(self._background):
            if not task.get_loop().is_closed():
                task.cancel()
        self._inflight.clear()
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
        if engine is not None and engine.loop is loop and self._pid == os.getpid():
            return engine
        if self._closed:
            raise ResolverClosedError.for_host("", "resolver closed")
        if engine is not None and self._pid == os.getpid():
            if engine.loop.is_running():
                raise RuntimeError(
                    "this Resolver is in use on another running event loop; "
                    "make one Resolver per event loop (thread)")
            engine.close()
        # After fork() the inherited channel and tasks belong to the parent.
        self._pid = os.getpid()
        self._inflight = {}
        self._background = set()
        c = self._config
        self._engine = Engine(loop, ChannelOptions(
            servers=c.nameservers, timeout=c.timeout, tries=c.tries, rotate=c.rotate),
            c.max_concurrent_queries)
        return self._engine

    # -- the address lookup --------------------------------------------------------

    async def resolve(self, host: str, family: int = AF_UNSPEC) -> Sequence[Address]:
        """The addresses of ``host`` in the order to connect, or a DNSError.

        ``family`` AF_INET or AF_INET6 keeps only that family. Never empty.
        """
        entry = self._cache.get(host)
        if entry is not None:
            view = entry.views.get(family)
            if view is not None:
                now = time.monotonic()
                hosts = self._hosts
                # Once a second a hit takes the slow path, which reads a changed
                # hosts file first: a name added there beats its cached DNS answer.
                if now < view.expires and (hosts is None or now < hosts.next_check):
                    return self._hit(entry, view, family, now)
        return await self._resolve_slow(host, family)

    def _hit(self, entry: HostEntry, view: View, family: int, now: float
             ) -> Sequence[Address]:
        """Answer from a fresh view; in the last tenth of its TTL, refresh behind it."""
        self._stats.hits += 1
        if now >= view.prefetch_at:
            self._prefetch(entry, family)
        if isinstance(view.result, DNSError):
            raise fresh_error(view.result)
        return view.result

    async def _resolve_slow(self, host: str, family: int) -> Sequence[Address]:
        if family not in _FAMILIES:
            raise ValueError(f"family must be AF_INET, AF_INET6 or AF_UNSPEC, not {family!r}")
        if self._closed:
            raise ResolverClosedError.for_host(host, "resolver closed")
        if not isinstance(host, str):
            raise InvalidHostError.for_host(repr(host), "host must be a str")
        literal = parse_ip_literal(host)
        if literal is not None:
            # The adapters send IP-literal URLs here too: one place polices them.
            if self._policy is not None and not self._policy.allows(literal[0]):
                reason = "the address policy forbids it"
                raise AddressPolicyError(AddressPolicyError.default_errno,
                                         f"refusing to connect to {host!r}: {reason}",
                                         host=host, reason=reason)
            return self._local(host, ((literal[0],), literal[1]), family=family, policed=False)
        name = normalize_host(host)
        if name in self._overrides:
            return self._local(host, *self._overrides[name], family=family, policed=False)
        use = special_use(name)
        if use == "localhost":
            return self._local(host, *_LOCALHOST, family=family)
        if use == "invalid":
            raise NameNotFoundError.for_host(host, "'.invalid' names never resolve (RFC 6761)")
        if use == "onion":
            raise NameNotFoundError.for_host(
                host, "'.onion' names are not resolved by DNS (RFC 7686)")
        if self._hosts is not None:
            found = self._hosts.lookup(name)
            if found is not None:
                return self._local(host, (found[0], AF_INET), (found[1], AF_INET6),
                                   family=family)
        self._bind()
        return await self._from_cache_or_dns(name, family)

    def _local(self, host: str, *groups: tuple[Sequence[str], int], family: int,
               policed: bool = True) -> Sequence[Address]:
        """Addresses that need no DNS, ordered and policed like DNS ones."""
        self._stats.local += 1
        addrs = [Address(ip, socket.AddressFamily(fam), 0) for ips, fam in groups for ip in ips
                 if family in (AF_UNSPEC, fam)]
        if policed and self._policy is not None and addrs:
            kept = self._policy.filter(addrs)
            if not kept:
                raise AddressPolicyError.for_host(
                    host, "every address is refused by the address policy")
            addrs = kept
        if not addrs:
            raise NoAddressError.for_host(host, f"no address of family {_family_name(family)}")
        return tuple(order(addrs, self._config.first_family_count))

    async def _from_cache_or_dns(self, name: str, family: int) -> Sequence[Address]:
        now = time.monotonic()
        entry = self._cache.get(name)
        if entry is not None:
            view = entry.views.get(family)
            if view is not None and now < view.expires:
                return self._hit(entry, view, family, now)
            stale = entry.stale_result(family, now)
            if stale is not None:
                return await self._refresh_or_stale(entry, family, stale, now)
        self._stats.misses += 1
        return await self._lookup(name, family, entry)

    async def _lookup(self, name: str, family: int, entry: HostEntry | None) -> Sequence[Address]:
        """Wait on DNS for the families not fresh in the cache (Resolution Delay)."""
        now = time.monotonic()
        have: dict[int, Answer] = {}
        tasks: dict[int, asyncio.Task[Answer]] = {}
        for fam in _FAMILIES[family]:
            answer = entry.answers.get(fam) if entry is not None else None
            if answer is not None and now < answer.expires:
                have[fam] = answer
            else:
                tasks[fam] = self._fetch_task(name, fam)
        pending: set[asyncio.Task[Answer]] = set(tasks.values())
        while pending:
            if any(a.positive for a in have.values()):
                # One family has addresses: give the other resolution_delay more.
                if self._config.resolution_delay <= 0:
                    break
                done, pending = await asyncio.wait(pending,
                                                   timeout=self._config.resolution_delay)
            else:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                break
            for task in done:
                fam = next(f for f, t in tasks.items() if t is task)
                if task.cancelled():
                    raise ResolverClosedError.for_host(name, "resolver closed")
                exc = task.exception()
                if exc is None:
                    have[fam] = task.result()
                elif isinstance(exc, DNSError):
                    have[fam] = _failed(fam, exc)
                else:
                    raise exc
        return self._compose(name, family, have)

    def _compose(self, name: str, family: int, have: dict[int, Answer]) -> Sequence[Address]:
        entry = self._cache.get(name)
        if entry is not None and len(have) == len(_FAMILIES[family]) and all(
                entry.answers.get(f) is a for f, a in have.items()):
            # Every answer came from (or went into) the cache: its view is ordered already.
            view = entry.views.get(family)
            if view is not None and not isinstance(view.result, DNSError):
                return view.result
        addrs = [Address(ip, a.family, int(a.ttl)) for a in have.values() for ip in a.addrs]
        if addrs:
            ordered = order(addrs, self._config.first_family_count)
            if entry is not None and entry.failed:
                ordered = demote(ordered, entry.failed)
            return tuple(ordered)
        errors = [a.error for a in have.values() if a.error is not None]
        err = pick_error(name, errors)
        self._stats.errors[type(err).__name__] += 1
        raise fresh_error(err)

    def _fetch_task(self, name: str, family: int) -> asyncio.Task[Answer]:
        key = (name, family)
        task = self._inflight.get(key)
        if task is not None:
            self._stats.merged += 1
            return task
        task = asyncio.ensure_future(self._fetch(name, family))
        self._inflight[key] = task
        task.add_done_callback(functools.partial(self._fetched, key))
        return task

    def _fetched(self, key: tuple[str, int], task: asyncio.Task[Answer]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved here so an unawaited failure is never logged

    async def _fetch(self, name: str, family: int) -> Answer:
        """One query for (name, family); the answer goes into the cache."""
        reply = await self._bind().fetch(name, family)
        if not reply.ok:
            if reply.reason:
                self._stats.errors["ServerFailureError"] += 1
                raise ServerFailureError.for_host(name, reply.reason)
            return self._negative_or_raise(name, family, reply.status, reply.ttl)
        addrs, ttl = reply.addrs, reply.ttl
        error: DNSError | None = None
        if self._policy is not None:
            kept = tuple(ip for ip in addrs if self._policy.allows(ip))
            if not kept:
                error = AddressPolicyError.for_host(
                    name, "every address is refused by the address policy")
            addrs = kept
        life = self._ttl.positive(ttl)
        now = time.monotonic()
        answer = Answer(socket.AddressFamily(family), addrs, error, life, now + life,
                        now + life + self._ttl.stale_ttl)
        if life > 0:
            self._store(name, answer, now)
        return answer

    def _negative_or_raise(self, name: str, family: int, status: int, soa_ttl: int) -> Answer:
        err = error_for_status(name, status)
        if not isinstance(err, (NameNotFoundError, NoAddressError)):
            # Server trouble says nothing about the name: never cached as negative.
            raise err
        if isinstance(err, NoAddressError):
            err = NoAddressError.for_host(
                name, f"the name has no {'IPv6' if family == AF_INET6 else 'IPv4'} address"
                      " (NODATA)")
        life = self._ttl.negative(None if soa_ttl == NO_SOA else float(soa_ttl))
        now = time.monotonic()
        answer = Answer(socket.AddressFamily(family), (), err, life, now + life, now + life)
        if life > 0:
            self._store(name, answer, now)
        return answer

    def _store(self, name: str, answer: Answer, now: float) -> None:
        entry = self._cache.entry(name)
        entry.store(answer, self._config.first_family_count, self._ttl.prefetch_fraction, now)

    # -- refresh: prefetch and serve-stale -----------------------------------------

    def _prefetch(self, entry: HostEntry, family: int) -> None:
        if self._closed:
            return
        started = False
        for fam in _FAMILIES[family]:
            if (entry.name, fam) not in self._inflight:
                self._fetch_task(entry.name, fam)
                started = True
        if started:
            self._stats.prefetches += 1

    async def _refresh_or_stale(self, entry: HostEntry, family: int,
                                stale: tuple[Address, ...], now: float) -> Sequence[Address]:
        """RFC 8767: refresh, but answer from the expired entry if DNS fails or is slow."""
        if now - entry.failed_refresh_at < self._ttl.stale_refresh_interval:
            self._stats.stale += 1
            return _as_stale(stale)
        refresh = asyncio.ensure_future(self._lookup(entry.name, family, entry))
        try:
            done, _ = await asyncio.wait({refresh}, timeout=self._ttl.stale_answer_timeout)
        except asyncio.CancelledError:
            refresh.cancel()
            raise
        if done:
            exc = refresh.exception()
            if exc is None:
                self._stats.misses += 1
                return refresh.result()
            if not (isinstance(exc, DNSError) and exc.transient):
                raise exc
        else:
            # Let the refresh finish in the background: its answer fills the cache.
            self._background.add(refresh)
            refresh.add_done_callback(_forget(self._background))
        entry.failed_refresh_at = time.monotonic()
        self._stats.stale += 1
        return _as_stale(stale)

    # -- learned fallback --------------------------------------------------------

    def report_failure(self, host: str, address: str) -> None:
        """Remember that connecting to ``address`` of ``host`` failed.

        The address goes last for this host while the cache entry lives (at most
        10 minutes), so the next connection does not wait on it first.
        """
        try:
            name = normalize_host(host)
        except DNSError:
            return
        entry = self._cache.get(name)
        if entry is not None and address not in entry.failed:
            entry.mark_failed(address, time.monotonic(), self._config.first_family_count,
                              self._ttl.prefetch_fraction)

    def cached(self, host: str) -> Answer | None:
        """Debug aid: the freshest cached answer of ``host`` (None if absent)."""
        entry = self._cache.get(normalize_host(host))
        if entry is None or not entry.answers:
            return None
        return max(entry.answers.values(), key=lambda a: a.expires)

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

    async def getaddrinfo(self, host: str, port: int | str | None = None, family: int = 0,
                          type: int = 0, proto: int = 0, flags: int = 0) -> Any:
        """pycares's getaddrinfo (system-style, no cache): an AddrInfoResult."""
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

    @staticmethod
    def _parse_overrides(raw: Mapping[str, Iterable[str]]
                         ) -> dict[str, tuple[tuple[tuple[str, ...], int], ...]]:
        out: dict[str, tuple[tuple[tuple[str, ...], int], ...]] = {}
        for host, ips in raw.items():
            if isinstance(ips, str):
                ips = [ips]
            v4: list[str] = []
            v6: list[str] = []
            for ip in ips:
                lit = parse_ip_literal(ip)
                if lit is None:
                    raise ValueError(f"override for {host!r}: {ip!r} is not an IP address")
                (v6 if lit[1] == AF_INET6 else v4).append(lit[0])
            out[normalize_host(host)] = ((tuple(v4), AF_INET), (tuple(v6), AF_INET6))
        return out


def _failed(family: int, err: DNSError) -> Answer:
    return Answer(socket.AddressFamily(family), (), err, 0, 0, 0)


def _as_stale(addrs: tuple[Address, ...]) -> tuple[Address, ...]:
    """Stale answers carry a TTL of 30 s (RFC 8767 section 4)."""
    return tuple(a._replace(ttl=_STALE_ANSWER_TTL) for a in addrs)


def _family_name(family: int) -> str:
    return "IPv4" if family == AF_INET else "IPv6" if family == AF_INET6 else "any"


def _service_name(port: int, flags: int) -> str:
    if flags & pycares.ARES_NI_NUMERICSERV:
        return str(port)
    proto = "udp" if flags & (pycares.ARES_NI_UDP | pycares.ARES_NI_DGRAM) else "tcp"
    try:
        return socket.getservbyport(port, proto)
    except OSError:
        return str(port)


def _forget(tasks: set[asyncio.Task[Any]]) -> Any:
    def done(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()
    return done

