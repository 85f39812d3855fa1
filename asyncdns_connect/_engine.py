"""The engine: every DNS transaction, from send to answer, on c-ares.

Two channels share one loop integration (``_Pump``: c-ares's sockets watched by
the loop's selector through ``sock_state_cb``, answers arriving on the loop
thread with no thread hop, hand-written because no library drives pycares 5
from asyncio this way):

* ``fetch`` (the Resolver's A/AAAA lookups) runs on a raw c-ares channel built in
  ``_cares`` through pycares's cffi layer, because only there can c-ares's query
  cache be switched off, the SOA of a negative reply be read, and sockets be read
  without running c-ares's adaptive timeouts. One future per (name, family) is
  completed from the c-ares callback: no Task per lookup.
* The aiodns-facing API (``query``, ``getaddrinfo``, ``gethostbyaddr``,
  ``getnameinfo``) keeps running on a public ``pycares.Channel``, created on
  first use: it returns pycares's own result objects, which aiodns users expect
  field for field, and re-implementing pycares's argument and result handling
  for five calls would copy most of pycares. Its deadline is enforced by the
  loop's timer too (see below); c-ares's query cache stays on there, as in aiodns.

Timeouts (docs/engine.md): ``timeout`` is the time one try waits at one server,
``tries`` the tries per server; a lookup ends after at most ``timeout x tries x
servers``. c-ares alone would shorten each try to 5x the server's average latency
(floor 250 ms) and lose the answer to a retried try; on the fetch channel c-ares
runs its timeouts only when a try of ours has really waited ``timeout``, its
per-try timeout is capped at ``timeout``, and the loop's timer enforces the
whole-lookup deadline.

Rules: callbacks from c-ares only record (a follow-up query or a queued lookup
is sent after the channel call returns: re-entering a channel from its own
callback can deadlock); ``max_concurrent`` bounds lookups in flight, the rest
wait in a FIFO so a burst does not overflow the UDP receive buffer.
"""

from __future__ import annotations

import asyncio
import heapq
import socket
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pycares

from ._answers import NEGATIVE, BadAnswer, Chain, negative_reply, positive_reply
from ._cares import SUCCESS, RawChannel, read_records
from ._errors import ResolverClosedError
from ._fetcher import Reply

__all__ = ["ChannelOptions", "Engine", "QueryFailed"]

# Large enough that a burst of answers to max_concurrent queries is never dropped
# by the kernel before the loop reads it.
_RECV_BUFFER = 4 * 1024 * 1024
_SEND_BUFFER = 1 * 1024 * 1024
# How often the loop wakes the public channel for its timers while queries are in flight.
_MAX_TIMER = 1.0
DEFAULT_TIMEOUT = 2.0
DEFAULT_TRIES = 2
_QTYPE: dict[int, int] = {
    socket.AF_INET: pycares.QUERY_TYPE_A, socket.AF_INET6: pycares.QUERY_TYPE_AAAA}
_ETIMEOUT = pycares.errno.ARES_ETIMEOUT
_ECANCELLED = pycares.errno.ARES_ECANCELLED
_EDESTRUCTION = pycares.errno.ARES_EDESTRUCTION
_EBADRESP = pycares.errno.ARES_EBADRESP
_RAW_EXTRA = frozenset({"flags", "udp_port", "tcp_port", "local_ip", "local_dev",
                        "socket_send_buffer_size", "socket_receive_buffer_size"})


class QueryFailed(Exception):
    """A query ended with a c-ares status (NXDOMAIN, SERVFAIL, timeout, ...)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class ChannelOptions:
    """What the channels are built with; ``None`` means the default.

    ``timeout`` (seconds, default 2) is one try at one server; ``tries``
    (default 2) the tries per server.
    """

    servers: tuple[str, ...] | None = None
    timeout: float | None = None
    tries: int | None = None
    rotate: bool = False
    ndots: int | None = None
    domains: tuple[str, ...] | None = None
    # Any other pycares.Channel keyword (flags, udp_port, tcp_port, local_ip, ...),
    # passed through as given (the aiodns drop-in forwards its caller's options).
    extra: tuple[tuple[str, Any], ...] = ()


class _Pump:
    """Watches one channel's sockets for the loop: c-ares's sock_state_cb."""

    __slots__ = ("_loop", "_on_read", "_on_write", "_readers", "_writers", "closed")

    def __init__(self, loop: asyncio.AbstractEventLoop, on_read: Callable[[int], None],
                 on_write: Callable[[int], None]) -> None:
        self._loop = loop
        self._on_read = on_read
        self._on_write = on_write
        self._readers: set[int] = set()
        self._writers: set[int] = set()
        self.closed = False

    def sock_state(self, fd: int, readable: bool, writable: bool) -> None:
        if self.closed:
            return
        if readable:
            if fd not in self._readers:
                self._readers.add(fd)
                self._loop.add_reader(fd, self._on_read, fd)
        elif fd in self._readers:
            self._readers.discard(fd)
            self._loop.remove_reader(fd)
        if writable:
            if fd not in self._writers:
                self._writers.add(fd)
                self._loop.add_writer(fd, self._on_write, fd)
        elif fd in self._writers:
            self._writers.discard(fd)
            self._loop.remove_writer(fd)

    def close(self) -> None:
        self.closed = True
        if not self._loop.is_closed():
            for fd in self._readers:
                self._loop.remove_reader(fd)
            for fd in self._writers:
                self._loop.remove_writer(fd)
        self._readers.clear()
        self._writers.clear()


class _Fetch:
    """One (name, family) lookup: its future, its CNAME chain, its deadline."""

    __slots__ = ("asked", "chain", "deadline", "done", "future", "name", "qtype", "sent")

    def __init__(self, future: asyncio.Future[Reply], name: str, qtype: int) -> None:
        self.future = future
        self.name = name
        self.qtype = qtype
        self.chain = Chain(name, qtype)
        self.asked = name
        self.deadline = 0.0
        self.done = False
        self.sent = False


class _Job:
    """One aiodns-facing call on the public channel and the future its caller waits on."""

    __slots__ = ("args", "deadline", "future", "kind", "name", "qclass", "qtype")

    def __init__(self, future: asyncio.Future[Any], kind: str, name: str, qtype: int,
                 args: tuple[Any, ...] = (), qclass: int = pycares.QUERY_CLASS_IN) -> None:
        self.future = future
        self.kind = kind
        self.name = name
        self.qtype = qtype
        self.args = args
        self.qclass = qclass
        self.deadline: asyncio.TimerHandle | None = None


class Engine:
    """The c-ares channels of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, options: ChannelOptions,
                 max_concurrent: int = 512) -> None:
        self._loop = loop
        self._options = options
        self._max_concurrent = max(1, max_concurrent)
        self._timeout = options.timeout if options.timeout is not None else DEFAULT_TIMEOUT
        self._tries = options.tries if options.tries is not None else DEFAULT_TRIES
        if not self._timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, not {options.timeout!r}")
        if self._tries < 1:
            raise ValueError(f"tries must be >= 1, not {options.tries!r}")
        self._servers: list[str] | None = list(options.servers) if options.servers else None
        self._closed = False
        self.queries_sent = 0
        # The fetch channel.
        self._raw: RawChannel | None = None
        self._raw_pump = _Pump(loop, self._raw_read, self._raw_write)
        self._jobs: dict[int, _Fetch] = {}      # c-ares query token -> lookup
        self._next_token = 1
        self._live = 0                          # lookups whose future is not done
        self._waiting: deque[_Fetch] = deque()
        self._follow: list[_Fetch] = []         # CNAME chains to ask on
        self._dues: list[tuple[float, int]] = []  # (when a try has waited timeout, token)
        self._raw_timer: asyncio.TimerHandle | None = None
        self._budget = 0.0
        # The aiodns-facing channel.
        self._pub: pycares.Channel | None = None
        self._pub_pump = _Pump(loop, self._pub_read, self._pub_write)
        self._pub_timer: asyncio.TimerHandle | None = None
        self._inflight: set[_Job] = set()
        self._pub_waiting: deque[_Job] = deque()
        self._done: list[tuple[_Job, Any, int | None]] = []
        self._drain_scheduled = False
        self._rearm_scheduled = False

    # -- life -----------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def timeout(self) -> float:
        return self._timeout

    @property
    def tries(self) -> int:
        return self._tries

    @property
    def servers(self) -> list[str]:
        if self._raw is not None:
            return self._raw.servers
        return list(self._public().servers)

    @servers.setter
    def servers(self, servers: Sequence[str]) -> None:
        self._servers = list(servers)
        if self._raw is not None:
            self._raw.servers = self._servers
            self._budget = self._lookup_budget()
        if self._pub is not None:
            self._pub.servers = self._servers

    def close(self) -> None:
        """Free the channels: pending fetches get ARES_EDESTRUCTION, queries ResolverClosedError."""
        if self._closed:
            return
        self._closed = True
        live = not self._loop.is_closed()
        self._raw_pump.close()
        self._pub_pump.close()
        for timer in (self._raw_timer, self._pub_timer):
            if timer is not None:
                timer.cancel()
        self._raw_timer = self._pub_timer = None
        if self._raw is not None:
            # c-ares calls back every pending query with ARES_EDESTRUCTION.
            self._raw.destroy()
        fetches = list(self._waiting) + self._follow + list(self._jobs.values())
        self._waiting.clear()
        self._follow.clear()
        self._jobs.clear()
        jobs = list(self._inflight) + list(self._pub_waiting)
        self._inflight.clear()
        self._pub_waiting.clear()
        if self._pub is not None:
            self._pub.close()
        if not live:
            return
        for fetch in fetches:
            self._finish(fetch, Reply(_EDESTRUCTION))
        for job in jobs:
            if job.deadline is not None:
                job.deadline.cancel()
            if not job.future.done():
                job.future.set_exception(
                    ResolverClosedError.for_host(job.name, "resolver closed"))

    def cancel_all(self) -> None:
        """Cancel every lookup: fetches get ARES_ECANCELLED, queries QueryFailed(ECANCELLED)."""
        if self._closed:
            return
        for fetch in list(self._waiting) + self._follow:
            self._finish(fetch, Reply(_ECANCELLED))
        self._waiting.clear()
        self._follow.clear()
        if self._raw is not None:
            self._raw.cancel()
        for job in self._pub_waiting:
            if not job.future.done():
                job.future.set_exception(QueryFailed(_ECANCELLED))
        self._pub_waiting.clear()
        if self._pub is not None:
            self._pub.cancel()

    # -- fetch: the Resolver's lookups on the raw channel ------------------------

    def fetch(self, name: str, family: int) -> asyncio.Future[Reply]:
        """Send the A or AAAA query of ``name`` now; the future always gets a Reply.

        Implements ``_fetcher.Fetcher``. The search list applies when the servers
        come from the system configuration.
        """
        future: asyncio.Future[Reply] = self._loop.create_future()
        if self._closed:
            future.set_result(Reply(_EDESTRUCTION))
            return future
        fetch = _Fetch(future, name, _QTYPE[family])
        fetch.deadline = self._loop.time() + (self._budget or self._lookup_budget())
        if self._live < self._max_concurrent:
            self._live += 1
            fetch.sent = True
            self._send(fetch)
            self._after()
        else:
            self._waiting.append(fetch)
        return future

    def _channel(self) -> RawChannel:
        raw = self._raw
        if raw is None:
            o = self._options
            extra = dict(o.extra)
            unknown = set(extra) - _RAW_EXTRA
            if unknown:
                raise TypeError(f"unsupported channel options for lookups: {sorted(unknown)}")
            raw = self._raw = RawChannel(
                on_answer=self._on_answer, on_sock_state=self._raw_pump.sock_state,
                timeout=self._timeout, tries=self._tries, servers=self._servers,
                ndots=o.ndots, domains=o.domains, rotate=o.rotate,
                socket_send_buffer_size=_SEND_BUFFER,
                socket_receive_buffer_size=_RECV_BUFFER, **extra)
            self._budget = self._lookup_budget()
        return raw

    def _lookup_budget(self) -> float:
        """timeout x tries x servers: the most a lookup may take."""
        servers = len(self._raw.servers) if self._raw is not None else len(self._servers or ())
        return self._timeout * self._tries * max(1, servers)

    def _send(self, fetch: _Fetch) -> None:
        """One c-ares query for the lookup's current name (not from a callback)."""
        token = self._next_token
        self._next_token = token + 1
        self._jobs[token] = fetch
        try:
            raw = self._channel()
            status = raw.query(token, fetch.asked, fetch.qtype,
                               search=self._servers is None and fetch.asked == fetch.name)
        except (pycares.AresError, UnicodeError, ValueError, TypeError) as exc:
            self._jobs.pop(token, None)
            status = exc.args[0] if isinstance(exc, pycares.AresError) else _EBADRESP
            self._finish(fetch, Reply(status, reason=str(exc)))
            return
        self.queries_sent += 1
        if status != SUCCESS:
            # c-ares refused the query, perhaps after calling back already.
            if self._jobs.pop(token, None) is not None:
                self._finish(fetch, Reply(status))
            return
        if token in self._jobs:
            when = min(self._loop.time() + self._timeout, fetch.deadline)
            heapq.heappush(self._dues, (when, token))
            timer = self._raw_timer
            if timer is None or timer.when() > when:
                if timer is not None:
                    timer.cancel()
                self._raw_timer = self._loop.call_at(when, self._on_due)

    def _on_answer(self, token: int, status: int, dnsrec: Any) -> None:
        """c-ares's callback, inside a channel call: read the reply, record the outcome."""
        fetch = self._jobs.pop(token, None)
        if fetch is None or fetch.done or self._closed:
            return
        if status == SUCCESS or status in NEGATIVE:
            records, soa = read_records(dnsrec)
            try:
                follow = fetch.chain.follow(records, fetch.asked, soa is not None)
            except BadAnswer as exc:
                self._finish(fetch, Reply(_EBADRESP, reason=f"{exc}"))
                return
            if status != SUCCESS:
                self._finish(fetch, negative_reply(status, soa, fetch.chain))
            elif follow is not None:
                # A server cut the CNAME chain short: ask on from its end, later.
                fetch.asked = follow
                self._follow.append(fetch)
            else:
                self._finish(fetch, positive_reply(fetch.chain, soa))
        else:
            self._finish(fetch, Reply(status))

    def _finish(self, fetch: _Fetch, reply: Reply) -> None:
        if fetch.done:
            return
        fetch.done = True
        if fetch.sent:
            self._live -= 1
        if not fetch.future.done():
            fetch.future.set_result(reply)

    def _after(self) -> None:
        """After a channel call: send CNAME follow-ups and queued lookups."""
        while self._follow or (self._waiting and self._live < self._max_concurrent):
            if self._closed:
                return
            if self._follow:
                self._send(self._follow.pop())
                continue
            fetch = self._waiting.popleft()
            if fetch.future.done():
                fetch.done = True
            else:
                self._live += 1
                fetch.sent = True
                fetch.deadline = self._loop.time() + self._budget
                self._send(fetch)

    def _raw_read(self, fd: int) -> None:
        if self._raw is not None and not self._closed:
            self._raw.process_fd(fd, False)
            self._after()

    def _raw_write(self, fd: int) -> None:
        if self._raw is not None and not self._closed:
            self._raw.process_fd(fd, True)
            self._after()

    def _on_due(self) -> None:
        """A try has waited ``timeout``: let c-ares retry or fail it; enforce deadlines."""
        self._raw_timer = None
        raw = self._raw
        if raw is None or self._closed:
            return
        now = self._loop.time()
        dues = self._dues
        due: list[int] = []
        while dues and dues[0][0] <= now:
            token = heapq.heappop(dues)[1]
            if token in self._jobs:
                due.append(token)
        if due:
            # Every try c-ares runs is capped at timeout, so this try's has passed.
            raw.process_timeouts()
            for token in due:
                fetch = self._jobs.get(token)
                if fetch is None:
                    continue
                if now >= fetch.deadline:
                    # Out of budget: answer now; c-ares's query ends at a later due.
                    self._finish(fetch, Reply(_ETIMEOUT))
                    heapq.heappush(dues, (now + self._timeout, token))
                else:
                    heapq.heappush(dues, (min(now + self._timeout, fetch.deadline), token))
            self._after()
        while dues and dues[0][1] not in self._jobs:
            heapq.heappop(dues)
        if dues and not self._closed:
            self._raw_timer = self._loop.call_at(dues[0][0], self._on_due)

    # -- the aiodns-facing API on the public channel --------------------------------

    def query(self, name: str, qtype: int, *, qclass: int = pycares.QUERY_CLASS_IN,
              search: bool = False, ours: bool = False) -> asyncio.Future[pycares.DNSResult]:
        """Send one query; the future gets the DNSResult or QueryFailed.

        ``search`` applies the search list and ndots. ``ours`` is accepted for
        compatibility and ignored (lookups with our TTL policy use ``fetch``).
        """
        return self._enqueue("search" if search else "query", name, qtype, qclass=qclass)

    def getaddrinfo(self, host: str, port: int | None, family: int, type: int, proto: int,
                    flags: int) -> asyncio.Future[pycares.AddrInfoResult]:
        return self._enqueue("getaddrinfo", host, 0, (port, family, type, proto, flags))

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
                "timeout": self._timeout,
                "tries": self._tries,
                "ndots": o.ndots,
                "servers": self._servers,
                "domains": list(o.domains) if o.domains else None,
                "rotate": o.rotate,
                "socket_receive_buffer_size": _RECV_BUFFER,
                "socket_send_buffer_size": _SEND_BUFFER,
            }
            kwargs.update(o.extra)
            pub = self._pub = pycares.Channel(sock_state_cb=self._pub_pump.sock_state, **kwargs)
        return pub

    def _enqueue(self, kind: str, name: str, qtype: int, args: tuple[Any, ...] = (),
                 qclass: int = pycares.QUERY_CLASS_IN) -> asyncio.Future[Any]:
        if self._closed:
            raise ResolverClosedError.for_host(name, "resolver closed")
        job = _Job(self._loop.create_future(), kind, name, qtype, args, qclass)
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
        if job in self._inflight:
            # c-ares's adaptive per-try timer may give up early, never late: the
            # whole-lookup deadline is the loop's.
            job.deadline = self._loop.call_later(
                self._budget or self._lookup_budget(), self._expire, job)
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
                fut.set_result(result)
            else:
                fut.set_exception(QueryFailed(status))
        while (self._pub_waiting and len(self._inflight) < self._max_concurrent
               and not self._closed):
            job = self._pub_waiting.popleft()
            if not job.future.done():
                self._submit(job)

    def _pub_read(self, fd: int) -> None:
        self._pub_process(fd, pycares.ARES_SOCKET_BAD)

    def _pub_write(self, fd: int) -> None:
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

    __slots__ = ("engine", "job")

    def __init__(self, engine: Engine, job: _Job) -> None:
        self.engine = engine
        self.job = job

    def __call__(self, result: Any, status: int | None) -> None:
        self.engine._on_pub_answer(self.job, result, status)


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

