"""The aiodns-facing calls (``query``, ``getaddrinfo``, ``gethostbyaddr``, ``getnameinfo``).

They run on a public ``pycares.Channel`` created on first use: it returns
pycares's own result objects, which aiodns users expect field for field, and
re-implementing pycares's argument and result handling for those calls would copy
most of pycares. c-ares's cache and adaptive per-try timer stay on there, as in
aiodns; given ``timeout`` and ``tries``, the loop's timer still ends each call
after ``timeout x tries x servers``. Its sockets are watched through ``_pump``,
as the fetch channels' are. Answers are handed to their futures in batches, once
per loop iteration, and ``max_concurrent`` bounds calls in flight (the rest wait
in a FIFO).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import pycares

from ._channel_options import RECV_BUFFER, SEND_BUFFER, ChannelOptions, ChannelSide
from ._errors import ResolverClosedError
from ._pump import Pump

__all__ = ["PublicChannel", "QueryFailed"]

# How often the loop wakes the public channel for its timers while queries are in flight.
_MAX_TIMER = 1.0
_ETIMEOUT = pycares.errno.ARES_ETIMEOUT
_ECANCELLED = pycares.errno.ARES_ECANCELLED


class QueryFailed(Exception):
    """A query ended with a c-ares status (NXDOMAIN, SERVFAIL, timeout, ...)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Job:
    """One aiodns-facing call on the public channel and the future its caller waits on."""

    __slots__ = ("args", "deadline", "fill_port", "future", "kind", "name", "qclass", "qtype")

    def __init__(self, future: asyncio.Future[Any], kind: str, name: str, qtype: int,
                 args: tuple[Any, ...] = (), qclass: int = pycares.QUERY_CLASS_IN) -> None:
        self.future = future
        self.kind = kind
        self.name = name
        self.qtype = qtype
        self.args = args
        self.qclass = qclass
        self.deadline: asyncio.TimerHandle | None = None
        self.fill_port = -1     # getaddrinfo: the port to put in each address


class PublicChannel(ChannelSide):
    """The aiodns-facing calls of one event loop, on one ``pycares.Channel``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, options: ChannelOptions,
                 timeout: float, tries: int, max_concurrent: int) -> None:
        super().__init__(loop, options, timeout, tries, max_concurrent)
        self._pub: pycares.Channel | None = None
        self._pub_pump = Pump(loop, self._pub_read, self._pub_write)
        self._pub_timer: asyncio.TimerHandle | None = None
        self._inflight: set[_Job] = set()
        self._pub_waiting: deque[_Job] = deque()
        self._done: list[tuple[_Job, Any, int | None]] = []
        self._drain_scheduled = False
        self._rearm_scheduled = False

    # -- life -----------------------------------------------------------------

    @property
    def servers(self) -> list[str]:
        return list(self._public().servers)

    @servers.setter
    def servers(self, servers: list[str]) -> None:
        self._servers = servers
        if self._pub is not None:
            self._pub.servers = servers

    def close(self) -> None:
        """Free the channel: pending calls get ResolverClosedError."""
        if self._closed:
            return
        self._closed = True
        self._pub_pump.close()
        if self._pub_timer is not None:
            self._pub_timer.cancel()
            self._pub_timer = None
        jobs = list(self._inflight) + list(self._pub_waiting)
        self._inflight.clear()
        self._pub_waiting.clear()
        if self._pub is not None:
            self._pub.close()
        if self._loop.is_closed():
            return
        for job in jobs:
            if job.deadline is not None:
                job.deadline.cancel()
            if not job.future.done():
                job.future.set_exception(
                    ResolverClosedError.for_host(job.name, "resolver closed"))

    def cancel_all(self) -> None:
        """Cancel every call: each fails with QueryFailed(ARES_ECANCELLED)."""
        if self._closed:
            return
        for job in self._pub_waiting:
            if not job.future.done():
                job.future.set_exception(QueryFailed(_ECANCELLED))
        self._pub_waiting.clear()
        if self._pub is not None:
            self._pub.cancel()

    # -- the calls ---------------------------------------------------------------

    def query(self, name: str, qtype: int, *, qclass: int = pycares.QUERY_CLASS_IN,
              search: bool = False) -> asyncio.Future[pycares.DNSResult]:
        """Send one query; the future gets the DNSResult or QueryFailed.

        ``search`` applies the search list and ndots. (Lookups with our TTL
        policy use ``fetch``.)
        """
        return self._enqueue("search" if search else "query", name, qtype, qclass=qclass)

    def getaddrinfo(self, host: str, port: int | None, family: int, type: int,
                    proto: int, flags: int) -> asyncio.Future[pycares.AddrInfoResult]:
        """c-ares's getaddrinfo; a numeric port is filled in here, not by c-ares.

        Given a port, c-ares calls getservbyname(), which reads /etc/services on
        every lookup, numeric ports included.
        """
        service: Any = port
        if isinstance(service, str) and service.isdigit():
            service = int(service)
        fill = -1
        if isinstance(service, int) and 0 <= service <= 65535:
            fill, service = service, None
        job = self._enqueue("getaddrinfo", host, 0, (service, family, type, proto, flags),
                            fill_port=fill)
        return job

    def gethostbyaddr(self, addr: str) -> asyncio.Future[pycares.HostResult]:
        return self._enqueue("gethostbyaddr", addr, 0)

    def getnameinfo(self, sockaddr: tuple[Any, ...], flags: int
                    ) -> asyncio.Future[pycares.NameInfoResult]:
        return self._enqueue("getnameinfo", "", 0, (sockaddr, flags))

    def _public(self) -> pycares.Channel:
        pub = self._pub
        if pub is None:
            o = self._options
            kwargs: dict[str, Any] = {
                # Passing flags replaces c-ares's defaults; keep EDNS on.
                "flags": pycares.ARES_FLAG_EDNS,
                # As given: None lets c-ares read resolv.conf, as aiodns users expect.
                "timeout": o.timeout,
                "tries": o.tries,
                "ndots": o.ndots,
                "servers": self._servers,
                "domains": list(o.domains) if o.domains else None,
                "rotate": o.rotate,
                "socket_receive_buffer_size": RECV_BUFFER,
                "socket_send_buffer_size": SEND_BUFFER,
            }
            kwargs.update(o.extra)
            pub = self._pub = pycares.Channel(sock_state_cb=self._pub_pump.sock_state, **kwargs)
        return pub

    def _enqueue(self, kind: str, name: str, qtype: int, args: tuple[Any, ...] = (),
                 qclass: int = pycares.QUERY_CLASS_IN, fill_port: int = -1
                 ) -> asyncio.Future[Any]:
        if self._closed:
            raise ResolverClosedError.for_host(name, "resolver closed")
        job = _Job(self._loop.create_future(), kind, name, qtype, args, qclass)
        job.fill_port = fill_port
        if len(self._inflight) < self._max_concurrent:
            self._submit(job)
        else:
            self._pub_waiting.append(job)
        return job.future

    def _submit(self, job: _Job) -> None:
        self._inflight.add(job)
        callback = _Callback(self, job)
        name = job.name
        try:
            channel = self._public()
            kind = job.kind
            if kind == "query":
                channel.query(name, job.qtype, query_class=job.qclass, callback=callback)
            elif kind == "search":
                channel.search(name, job.qtype, query_class=job.qclass, callback=callback)
            elif kind == "getaddrinfo":
                port, family, type_, proto, flags = job.args
                channel.getaddrinfo(name, port, family=family, type=type_, proto=proto,
                                    flags=flags, callback=callback)
            elif kind == "gethostbyaddr":
                channel.gethostbyaddr(name, callback=callback)
            else:
                sockaddr, flags = job.args
                channel.getnameinfo(sockaddr, flags, callback=callback)
            self.queries_sent += 1
        except (pycares.AresError, ValueError, TypeError, RuntimeError) as exc:
            self._inflight.discard(job)
            status = exc.args[0] if isinstance(exc, pycares.AresError) and exc.args else None
            if not job.future.done():
                job.future.set_exception(
                    QueryFailed(status) if isinstance(status, int) else exc)
            return
        if job in self._inflight and self._options.timeout and self._options.tries:
            # c-ares's adaptive per-try timer may give up early, never late: the
            # whole-lookup deadline is the loop's.
            job.deadline = self._loop.call_later(
                self._timeout * self._tries * max(1, len(self._servers or "-")), self._expire,
                job)
        if not self._rearm_scheduled:
            # Once per loop iteration, not per query: a burst submits hundreds.
            self._rearm_scheduled = True
            self._loop.call_soon(self._rearm)

    def _expire(self, job: _Job) -> None:
        job.deadline = None
        if job in self._inflight:
            self._finish_later(job, None, _ETIMEOUT)

    def _on_pub_answer(self, job: _Job, result: Any, status: int | None) -> None:
        if self._closed or job not in self._inflight:
            # pycares destroys a closed (or pre-fork) channel on its own thread and
            # cancels its queries there; their jobs were already failed by close().
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
            if job.deadline is not None:
                job.deadline.cancel()
                job.deadline = None
            fut = job.future
            if fut.done():
                continue
            if status is None:
                if job.fill_port >= 0:
                    for node in result.nodes:
                        node.addr = (node.addr[0], job.fill_port, *node.addr[2:])
                fut.set_result(result)
            else:
                fut.set_exception(QueryFailed(status))
        while (self._pub_waiting and len(self._inflight) < self._max_concurrent
               and not self._closed):
            job = self._pub_waiting.popleft()
            if not job.future.done():
                self._submit(job)

    def _pub_read(self, _pump: Pump, fd: int) -> None:
        self._pub_process(fd, pycares.ARES_SOCKET_BAD)

    def _pub_write(self, _pump: Pump, fd: int) -> None:
        self._pub_process(pycares.ARES_SOCKET_BAD, fd)

    def _pub_process(self, read_fd: int, write_fd: int) -> None:
        if self._closed or self._pub is None:
            return
        self._pub.process_fd(read_fd, write_fd)
        self._arm_pub_timer()

    def _rearm(self) -> None:
        self._rearm_scheduled = False
        self._arm_pub_timer()

    def _arm_pub_timer(self) -> None:
        if self._closed or not self._inflight or self._pub is None:
            return
        delay: float = self._pub.timeout(_MAX_TIMER)  # type: ignore[no-untyped-call]
        when = self._loop.time() + max(delay, 0.001)
        if self._pub_timer is not None:
            if self._pub_timer.when() <= when + 0.001:
                return
            self._pub_timer.cancel()
        self._pub_timer = self._loop.call_at(when, self._on_pub_timer)

    def _on_pub_timer(self) -> None:
        self._pub_timer = None
        if self._closed or self._pub is None:
            return
        self._pub.process_fd(pycares.ARES_SOCKET_BAD, pycares.ARES_SOCKET_BAD)
        self._arm_pub_timer()


class _Callback:
    """A callable c-ares keeps; a class, not a closure, so it stays small."""

    __slots__ = ("channel", "job")

    def __init__(self, channel: PublicChannel, job: _Job) -> None:
        self.channel = channel
        self.job = job

    def __call__(self, result: Any, status: int | None) -> None:
        self.channel._on_pub_answer(self.job, result, status)

