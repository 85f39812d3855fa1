"""The c-ares channel, driven from the asyncio event loop.

pycares offers two ways to run a channel: its own event thread, or a
``sock_state_cb`` through which the caller watches c-ares's sockets. We use the
second: the loop's selector watches the sockets (``add_reader``), so answers
arrive on the loop thread with no thread hop (measured in
``benchmarks/engine_modes.py``). Hand-written because no library drives pycares 5
from asyncio this way (aiodns uses the event thread, one hop per answer).

Three rules shape this module:

* Callbacks from c-ares only record the answer; everything that touches the
  channel again (the next queued query, a retry) runs later from the loop, since
  re-entering the channel from its own callback can deadlock.
* ``max_concurrent`` bounds the queries in flight; the rest wait in a FIFO, so a
  burst of 10,000 names does not overflow the UDP receive buffer.
* c-ares keeps its own query cache (up to an hour, NODATA always an hour) that
  pycares cannot switch off. A hit calls back *during* ``query()``; for lookups
  whose TTL policy is ours, such an answer is dropped, c-ares's cache is flushed
  (it flushes when the server list changes) and the query is sent again.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pycares

from ._errors import ResolverClosedError

__all__ = ["ChannelOptions", "Engine", "QueryFailed"]

# Large enough that a burst of answers to max_concurrent queries is never dropped
# by the kernel before the loop reads it.
_RECV_BUFFER = 4 * 1024 * 1024
_SEND_BUFFER = 1 * 1024 * 1024
# How often the loop wakes c-ares for its timers while queries are in flight.
_MAX_TIMER = 1.0
_PLACEHOLDERS = ("127.0.0.1:9", "127.0.0.2:9")


class QueryFailed(Exception):
    """A query ended with a c-ares status (NXDOMAIN, SERVFAIL, timeout, ...)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class ChannelOptions:
    """What the channel is built with; ``None`` means c-ares's default."""

    servers: tuple[str, ...] | None = None
    timeout: float | None = None
    tries: int | None = None
    rotate: bool = False
    ndots: int | None = None
    domains: tuple[str, ...] | None = None
    # Any other pycares.Channel keyword (flags, udp_port, tcp_port, local_ip, ...),
    # passed through as given (the aiodns drop-in forwards its caller's options).
    extra: tuple[tuple[str, Any], ...] = ()


class _Job:
    """One submitted query and the future its caller waits on."""

    __slots__ = ("args", "cached", "flushed", "future", "kind", "name", "ours", "qclass",
                 "qtype", "sync_hit")

    def __init__(
        self,
        future: asyncio.Future[Any],
        kind: str,
        name: str,
        qtype: int,
        ours: bool,
        args: tuple[Any, ...] = (),
        qclass: int = pycares.QUERY_CLASS_IN,
    ) -> None:
        self.future = future
        self.qclass = qclass
        self.kind = kind
        self.name = name
        self.qtype = qtype
        self.ours = ours
        self.args = args
        self.sync_hit = False
        self.cached: tuple[Any, int | None] = (None, None)
        self.flushed = False


class Engine:
    """One pycares channel bound to one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, options: ChannelOptions,
                 max_concurrent: int = 512) -> None:
        self._loop = loop
        self._options = options
        self._max_concurrent = max(1, max_concurrent)
        self._closed = False
        self._readers: set[int] = set()
        self._writers: set[int] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._inflight: set[_Job] = set()
        self._waiting: deque[_Job] = deque()
        self._done: list[tuple[_Job, Any, int | None]] = []
        self._drain_scheduled = False
        self._rearm_scheduled = False
        self._submitting: _Job | None = None
        self.queries_sent = 0
        self.cache_flushes = 0
        self._channel = self._new_channel()

    # -- channel life --------------------------------------------------------

    def _new_channel(self) -> pycares.Channel:
        o = self._options
        kwargs: dict[str, Any] = {
            # Passing flags replaces c-ares's defaults; keep EDNS on.
            "flags": pycares.ARES_FLAG_EDNS,
            "timeout": o.timeout,
            "tries": o.tries,
            "ndots": o.ndots,
            "servers": list(o.servers) if o.servers else None,
            "domains": list(o.domains) if o.domains else None,
            "rotate": o.rotate,
            "socket_receive_buffer_size": _RECV_BUFFER,
            "socket_send_buffer_size": _SEND_BUFFER,
        }
        kwargs.update(o.extra)
        return pycares.Channel(sock_state_cb=self._sock_state, **kwargs)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def servers(self) -> list[str]:
        return list(self._channel.servers)

    @servers.setter
    def servers(self, servers: Sequence[str]) -> None:
        self._channel.servers = list(servers)

    def close(self) -> None:
        """Fail every pending query with ResolverClosedError and free the channel."""
        if self._closed:
            return
        self._closed = True
        jobs = list(self._inflight) + list(self._waiting)
        self._inflight.clear()
        self._waiting.clear()
        live = not self._loop.is_closed()
        if live:
            for fd in self._readers:
                self._loop.remove_reader(fd)
            for fd in self._writers:
                self._loop.remove_writer(fd)
        self._readers.clear()
        self._writers.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._channel.close()
        if not live:
            return
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(
                    ResolverClosedError.for_host(job.name, "resolver closed"))

    @property
    def closed(self) -> bool:
        return self._closed

    def cancel_all(self) -> None:
        """Cancel every query; their callers get ResolverClosedError('cancelled')."""
        for job in self._waiting:
            if not job.future.done():
                job.future.set_exception(QueryFailed(pycares.errno.ARES_ECANCELLED))
        self._waiting.clear()
        if not self._closed:
            self._channel.cancel()

    # -- submitting ----------------------------------------------------------

    def query(self, name: str, qtype: int, *, qclass: int = pycares.QUERY_CLASS_IN,
              search: bool = False, ours: bool = True) -> asyncio.Future[pycares.DNSResult]:
        """Send one query; the future gets the DNSResult or QueryFailed.

        ``ours``: the caller applies its own TTL policy, so an answer from c-ares's
        cache is not accepted. ``search`` applies the search list and ndots.
        """
        return self._enqueue("search" if search else "query", name, qtype, ours,
                             qclass=qclass)

    def getaddrinfo(self, host: str, port: int | None, family: int, type: int, proto: int,
                    flags: int) -> asyncio.Future[pycares.AddrInfoResult]:
        return self._enqueue("getaddrinfo", host, 0, False, (port, family, type, proto, flags))

    def gethostbyaddr(self, addr: str) -> asyncio.Future[pycares.HostResult]:
        return self._enqueue("gethostbyaddr", addr, 0, False)

    def getnameinfo(self, sockaddr: tuple[Any, ...], flags: int
                    ) -> asyncio.Future[pycares.NameInfoResult]:
        return self._enqueue("getnameinfo", "", 0, False, (sockaddr, flags))

    def _enqueue(self, kind: str, name: str, qtype: int, ours: bool,
                 args: tuple[Any, ...] = (), qclass: int = pycares.QUERY_CLASS_IN
                 ) -> asyncio.Future[Any]:
        if self._closed:
            raise ResolverClosedError.for_host(name, "resolver closed")
        job = _Job(self._loop.create_future(), kind, name, qtype, ours, args, qclass)
        if len(self._inflight) < self._max_concurrent:
            self._submit(job)
        else:
            self._waiting.append(job)
        return job.future

    def _submit(self, job: _Job, name: str | None = None) -> None:
        self._inflight.add(job)
        callback = _Callback(self, job)
        name = job.name if name is None else name
        self._submitting = job
        try:
            kind = job.kind
            if kind == "query":
                self._channel.query(name, job.qtype, query_class=job.qclass,
                                    callback=callback)
            elif kind == "search":
                self._channel.search(name, job.qtype, query_class=job.qclass,
                                     callback=callback)
            elif kind == "getaddrinfo":
                port, family, type_, proto, flags = job.args
                self._channel.getaddrinfo(name, port, family=family, type=type_,
                                          proto=proto, flags=flags, callback=callback)
            elif kind == "gethostbyaddr":
                self._channel.gethostbyaddr(name, callback=callback)
            else:
                sockaddr, flags = job.args
                self._channel.getnameinfo(sockaddr, flags, callback=callback)
            self.queries_sent += 1
        except (pycares.AresError, ValueError, TypeError, RuntimeError) as exc:
            self._inflight.discard(job)
            status = exc.args[0] if isinstance(exc, pycares.AresError) and exc.args else None
            if not job.future.done():
                job.future.set_exception(
                    QueryFailed(status) if isinstance(status, int) else exc)
            return
        finally:
            self._submitting = None
        if job.sync_hit:
            self._retry_uncached(job)
        elif not self._rearm_scheduled:
            # Once per loop iteration, not per query: a burst submits hundreds.
            self._rearm_scheduled = True
            self._loop.call_soon(self._rearm)

    def _retry_uncached(self, job: _Job) -> None:
        """c-ares answered from its own cache during submit: flush it, ask again."""
        job.sync_hit = False
        if not job.flushed:
            job.flushed = True
            self._flush_ares_cache()
            self._inflight.discard(job)
            self._submit(job)
            return
        self._finish_later(job, *job.cached)

    def _flush_ares_cache(self) -> None:
        # c-ares flushes its query cache when the server list changes, and keeps
        # in-flight queries and per-server state for servers that stay. Nothing
        # runs between the two calls, so the placeholder is never sent anything.
        servers = list(self._channel.servers)
        placeholder = next(p for p in _PLACEHOLDERS if p not in servers)
        self._channel.servers = [*servers, placeholder]
        self._channel.servers = servers
        self.cache_flushes += 1

    # -- callbacks (c-ares thread context: the loop thread, inside a channel call) --

    def _on_answer(self, job: _Job, result: Any, status: int | None) -> None:
        if self._closed or job not in self._inflight:
            # pycares destroys a closed (or pre-fork) channel on its own thread and
            # cancels its queries there; their jobs were already failed by close().
            return
        if job is self._submitting and job.ours and job.kind in ("query", "search"):
            # Answered from c-ares's cache; kept in case the retry is answered from it too.
            job.sync_hit = True
            job.cached = (result, status)
            return
        self._finish_later(job, result, status)

    def _finish_later(self, job: _Job, result: Any, status: int | None) -> None:
        self._done.append((job, result, status))
        if not self._drain_scheduled:
            self._drain_scheduled = True
            self._loop.call_soon(self._drain)

    def _drain(self) -> None:
        """Hand a batch of answers to their futures, then start queued queries."""
        self._drain_scheduled = False
        done, self._done = self._done, []
        for job, result, status in done:
            self._inflight.discard(job)
            fut = job.future
            if fut.done():
                continue
            if status is None:
                fut.set_result(result)
            else:
                fut.set_exception(QueryFailed(status))
        while self._waiting and len(self._inflight) < self._max_concurrent and not self._closed:
            job = self._waiting.popleft()
            if not job.future.done():
                self._submit(job)

    # -- sockets and timers --------------------------------------------------

    def _sock_state(self, fd: int, readable: bool, writable: bool) -> None:
        if self._closed:
            return
        if readable:
            if fd not in self._readers:
                self._readers.add(fd)
                self._loop.add_reader(fd, self._process, fd, pycares.ARES_SOCKET_BAD)
        elif fd in self._readers:
            self._readers.discard(fd)
            self._loop.remove_reader(fd)
        if writable:
            if fd not in self._writers:
                self._writers.add(fd)
                self._loop.add_writer(fd, self._process, pycares.ARES_SOCKET_BAD, fd)
        elif fd in self._writers:
            self._writers.discard(fd)
            self._loop.remove_writer(fd)

    def _process(self, read_fd: int, write_fd: int) -> None:
        if self._closed:
            return
        self._channel.process_fd(read_fd, write_fd)
        self._arm_timer()

    def _rearm(self) -> None:
        self._rearm_scheduled = False
        self._arm_timer()

    def _arm_timer(self) -> None:
        if self._closed or not self._inflight:
            return
        delay: float = self._channel.timeout(_MAX_TIMER)  # type: ignore[no-untyped-call]
        when = self._loop.time() + max(delay, 0.001)
        if self._timer is not None:
            if self._timer.when() <= when + 0.001:
                return
            self._timer.cancel()
        self._timer = self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed:
            return
        self._channel.process_fd(pycares.ARES_SOCKET_BAD, pycares.ARES_SOCKET_BAD)
        self._arm_timer()


class _Callback:
    """A callable c-ares keeps; a class, not a closure, so it stays small."""

    __slots__ = ("engine", "job")

    def __init__(self, engine: Engine, job: _Job) -> None:
        self.engine = engine
        self.job = job

    def __call__(self, result: Any, status: int | None) -> None:
        self.engine._on_answer(self.job, result, status)


def parse_server(server: str) -> str:
    """Check an 'ip', 'ip:port' or '[v6]:port' nameserver and return it for c-ares."""
    text = server.strip()
    host, port = text, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"bad nameserver {server!r}: missing ']'")
        host, rest = text[1:end], text[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"bad nameserver {server!r}")
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        socket.inet_pton(family, host.split("%")[0])
    except OSError:
        raise ValueError(f"bad nameserver {server!r}: not an IP address") from None
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"bad nameserver {server!r}: bad port")
    if family == socket.AF_INET6:
        return f"[{host}]:{port}" if port else host
    return f"{host}:{port}" if port else host


def parse_servers(servers: Sequence[str] | None) -> tuple[str, ...] | None:
    if servers is None:
        return None
    parsed = tuple(parse_server(s) for s in servers)
    if not parsed:
        raise ValueError("nameservers must name at least one server, or be None")
    return parsed

