"""Fetch's transactions: the Resolver's A/AAAA lookups, from send to answer.

``fetch`` runs on raw c-ares channels built in ``_cares`` through pycares's cffi
layer, one channel per nameserver, because only there can c-ares's query cache be
switched off, the SOA of a negative reply be read, and sockets be read without
running c-ares's timeouts. This module, not c-ares, decides when a try has failed
and which server the next try goes to:

* ``timeout`` is the time one try waits at one server, ``tries`` the tries per
  server; a lookup ends after at most ``timeout x tries x servers``.
* A try that has waited ``timeout`` is followed by the next try (the next server
  first), and stays open: an answer to any try within the budget is used. c-ares
  alone shortens a try to 5x the server's average latency (floor 250 ms) and then
  closes its socket, so a 400 ms answer after fast ones was lost.
* A packet presumed lost (no answer after 5x the server's smoothed round trip,
  at least 250 ms, at most half the try) is sent once more within the same try,
  as c-ares would, but the first query stays open.
* c-ares runs its own timeouts only to reap queries nobody waits for any more.

Each (name, family) is answered from the c-ares callback, to the scheduler's
callback (``send``) or a future (``fetch``), with no Task per lookup; the reply
is read lean (``_cares.read_records``); the negative TTL comes from the reply's
own SOA (``_answers``). Callbacks only record: a follow-up query
or a queued lookup is sent after the channel call returns, since re-entering a
channel from its own callback can deadlock. ``max_concurrent`` bounds lookups in
flight, the rest wait in a FIFO, so a burst does not overflow the UDP buffers.
Hand-written: no library drives pycares 5 from asyncio this way.
"""

from __future__ import annotations

import asyncio
import heapq
import socket
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import pycares

from ._answers import (
    NEGATIVE,
    BadAnswer,
    Chain,
    direct_reply,
    negative_reply,
    positive_reply,
)
from ._cares import SUCCESS, RawChannel, read_records
from ._channel_options import RECV_BUFFER, SEND_BUFFER, ChannelOptions, ChannelSide
from ._fetcher import Reply
from ._pump import Pump

__all__ = ["Transactions"]

_QTYPE: dict[int, int] = {
    socket.AF_INET: pycares.QUERY_TYPE_A, socket.AF_INET6: pycares.QUERY_TYPE_AAAA}
_ETIMEOUT = pycares.errno.ARES_ETIMEOUT
_ECANCELLED = pycares.errno.ARES_ECANCELLED
_EDESTRUCTION = pycares.errno.ARES_EDESTRUCTION
_EBADRESP = pycares.errno.ARES_EBADRESP
_TRY_END, _RESEND = 0, 1
_MIN_RESEND = 0.25
_SERVER_TROUBLE = frozenset({
    _ETIMEOUT, pycares.errno.ARES_ESERVFAIL, pycares.errno.ARES_EREFUSED,
    pycares.errno.ARES_ECONNREFUSED, pycares.errno.ARES_ENOTIMP, pycares.errno.ARES_EFORMERR,
    _EBADRESP})
_NO_REPLY = frozenset({_ETIMEOUT, _ECANCELLED, _EDESTRUCTION,
                       pycares.errno.ARES_ECONNREFUSED})
_RAW_EXTRA = frozenset({"flags", "udp_port", "tcp_port", "local_ip", "local_dev",
                        "socket_send_buffer_size", "socket_receive_buffer_size"})


class _Fetch:
    """One (name, family) lookup: its future, its CNAME chain, its deadline."""

    __slots__ = ("asked", "attempt", "base", "chain", "deadline", "done", "future", "latest",
                 "live", "name", "on_reply", "qtype", "sent", "tokens")

    def __init__(self, future: asyncio.Future[Reply] | None, name: str, qtype: int,
                 on_reply: Callable[[Reply], None] | None = None) -> None:
        # One of the two: the caller's future (fetch) or its callback (send).
        self.future = future
        self.on_reply = on_reply
        self.name = name
        self.qtype = qtype
        # Made when the first reply comes: a lookup in flight holds as few
        # objects as it can (each one is work for the garbage collector).
        self.chain: Chain | None = None
        self.asked = name
        self.deadline = 0.0
        self.done = False
        self.sent = False
        self.attempt = 0        # tries sent so far, minus one
        self.base = 0           # the server of the first try
        self.live = 0           # c-ares queries out for it
        self.latest = 0         # the token of the latest try
        self.tokens: tuple[int, ...] = ()  # usually one: a tuple, untracked by the GC

    def abandoned(self) -> bool:
        """True if the caller of ``fetch`` cancelled its future."""
        return self.future is not None and self.future.done()


class _Conn:
    """One raw channel (one server) with its pump and query counts."""

    __slots__ = ("orphans", "pending", "pump", "raw", "rto", "srtt")

    def __init__(self, pump: Pump) -> None:
        self.pump = pump
        self.raw: RawChannel
        self.pending = 0        # c-ares queries in flight on this channel
        self.orphans = 0        # ... of which no lookup waits for
        self.srtt = 0.0         # smoothed round trip of its answers (0: none yet)
        self.rto = _MIN_RESEND  # Transactions._rto of srtt


class Transactions(ChannelSide):
    """The Resolver's lookups on raw channels, one per server (``_fetcher.Fetcher``)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, options: ChannelOptions,
                 timeout: float, tries: int, max_concurrent: int) -> None:
        super().__init__(loop, options, timeout, tries, max_concurrent)
        # Replies received from any server.
        self.answers = 0
        self._rto_cap = max(_MIN_RESEND, timeout / 2)  # see _rto
        # The fetch channels: one per server.
        self._conns: list[_Conn] = []
        self._first = 0                         # the server lookups start at
        # c-ares query token -> (lookup, channel, name asked, when sent)
        self._jobs: dict[int, tuple[_Fetch, _Conn, str, float]] = {}
        self._next_token = 1
        self._live = 0                          # lookups sent and not answered
        self._waiting: deque[_Fetch] = deque()
        self._next: list[_Fetch] = []           # tries and CNAME follow-ups to send
        # (when, token, kind): a try has waited timeout (_TRY_END), or long enough
        # that its packet was probably lost (_RESEND).
        self._dues: list[tuple[float, int, int]] = []
        self._due_timer: asyncio.TimerHandle | None = None
        self._due_at = 0.0                      # when _due_timer runs
        self._read_at = 0.0                     # when the socket read running now began
        self._reap_timer: asyncio.TimerHandle | None = None
        self._orphans = False

    # -- life -----------------------------------------------------------------

    @property
    def servers(self) -> list[str] | None:
        """The servers of the channels, or ``None`` before the first lookup."""
        if self._conns:
            return [s for c in self._conns for s in c.raw.servers]
        return None

    @servers.setter
    def servers(self, servers: list[str]) -> None:
        self._servers = servers
        if self._conns:
            # Lookups in flight start over on the new servers.
            live = [e[0] for e in self._jobs.values() if not e[0].done]
            self._destroy_conns()
            conns = self._connect()
            for fetch in dict.fromkeys(live):
                fetch.attempt = fetch.live = fetch.base = 0
                fetch.tokens = ()
                fetch.deadline = self._loop.time() + self._timeout * self._tries * len(conns)
                self._send(fetch)
            self._after()

    def close(self) -> None:
        """Free the channels: pending fetches get ARES_EDESTRUCTION."""
        if self._closed:
            return
        self._closed = True
        for timer in (self._due_timer, self._reap_timer):
            if timer is not None:
                timer.cancel()
        self._due_timer = self._reap_timer = None
        fetches = list(self._waiting) + self._next + [e[0] for e in self._jobs.values()]
        self._waiting.clear()
        self._next.clear()
        self._destroy_conns()
        if self._loop.is_closed():
            return
        for fetch in fetches:
            self._finish(fetch, Reply(_EDESTRUCTION))

    def _destroy_conns(self) -> None:
        """Free the fetch channels; c-ares's last callbacks find no lookup to answer."""
        conns, self._conns = self._conns, []
        self._jobs.clear()
        self._dues.clear()
        self._first = 0
        for conn in conns:
            conn.pump.close()
            conn.raw.destroy()


    def cancel_all(self) -> None:
        """Cancel every lookup: fetches get ARES_ECANCELLED."""
        if self._closed:
            return
        for fetch in list(self._waiting) + self._next:
            self._finish(fetch, Reply(_ECANCELLED))
        self._waiting.clear()
        self._next.clear()
        for conn in self._conns:
            # c-ares calls back every query with ARES_ECANCELLED.
            conn.raw.cancel()
        self._after()

    # -- fetch -----------------------------------------------------------------

    calls_back = True  # has send() (see _fetcher.Fetcher)

    def fetch(self, name: str, family: int) -> asyncio.Future[Reply]:
        """Send the A or AAAA query of ``name`` now; the future always gets a Reply.

        Implements ``_fetcher.Fetcher``. The search list applies when the servers
        come from the system configuration. Cancelling the future abandons the lookup.
        """
        future: asyncio.Future[Reply] = self._loop.create_future()
        if self._closed:
            future.set_result(Reply(_EDESTRUCTION))
        else:
            self._submit(_Fetch(future, name, _QTYPE[family]))
        return future

    def send(self, name: str, family: int, on_reply: Callable[[Reply], None]) -> None:
        """``fetch`` without a future: ``on_reply(reply)`` is called once, when it is known.

        From inside a channel call, so ``on_reply`` must not call the engine. The
        scheduler's path: no future to make, complete and collect per family.
        """
        if self._closed:
            on_reply(Reply(_EDESTRUCTION))
        elif self._live < self._max_concurrent:
            # _submit, inline: the way every lookup of the Resolver takes.
            self._start(_Fetch(None, name, _QTYPE[family], on_reply))
            if self._next or self._waiting or self._orphans:
                self._after()
        else:
            self._waiting.append(_Fetch(None, name, _QTYPE[family], on_reply))

    def _submit(self, fetch: _Fetch) -> None:
        if self._live < self._max_concurrent:
            self._start(fetch)
            self._after()
        else:
            self._waiting.append(fetch)

    def _start(self, fetch: _Fetch) -> None:
        conns = self._conns or self._connect()
        self._live += 1
        fetch.sent = True
        n = len(conns)
        if self._options.rotate and n > 1:
            self._first = (self._first + 1) % n
        fetch.base = self._first
        now = self._loop.time()
        fetch.deadline = now + self._timeout * self._tries * n
        self._send(fetch, now=now)

    def _connect(self) -> list[_Conn]:
        """One raw channel per server: each try goes to the server we choose."""
        o = self._options
        extra = dict(o.extra)
        unknown = set(extra) - _RAW_EXTRA
        if unknown:
            raise TypeError(f"unsupported channel options for lookups: {sorted(unknown)}")

        def conn(servers: Sequence[str] | None) -> _Conn:
            pump = Pump(self._loop, self._raw_read, self._raw_write)
            c = _Conn(pump)
            c.raw = RawChannel(
                on_answer=self._on_answer, on_sock_state=pump.sock_state,
                timeout=self._timeout, tries=1, servers=servers, ndots=o.ndots,
                domains=o.domains, rotate=False, socket_send_buffer_size=SEND_BUFFER,
                socket_receive_buffer_size=RECV_BUFFER, **extra)
            pump.owner = c
            return c

        first = conn(self._servers)
        servers = first.raw.servers
        if len(servers) > 1:
            # System configuration: keep its search list and ndots, split its servers.
            first.raw.servers = servers[:1]
            self._conns = [first] + [conn(servers[:1]) for _ in servers[1:]]
            for c, server in zip(self._conns[1:], servers[1:], strict=True):
                c.raw.servers = [server]
        else:
            self._conns = [first]
        return self._conns

    @property
    def _attempts(self) -> int:
        return self._tries * max(1, len(self._conns))

    def _send(self, fetch: _Fetch, conn: _Conn | None = None, now: float | None = None) -> None:
        """Send the lookup's current try, or with ``conn`` a resend of it to that server.

        Never called from inside a c-ares callback. ``now``: the loop's time, if known.
        """
        resend = conn is not None
        if conn is None:
            conns = self._conns
            conn = conns[(fetch.base + fetch.attempt) % len(conns)]
        token = self._next_token
        self._next_token = token + 1
        if now is None:
            now = self._loop.time()
        self._jobs[token] = (fetch, conn, fetch.asked, now)
        conn.pending += 1
        fetch.live += 1
        fetch.tokens += (token,)
        if not resend:
            fetch.latest = token
        try:
            status = conn.raw.query(token, fetch.asked, fetch.qtype,
                                    search=self._servers is None and fetch.asked == fetch.name)
        except (UnicodeError, ValueError) as exc:
            self._forget(token)
            self._finish(fetch, Reply(_EBADRESP, reason=f"bad name {fetch.asked!r}: {exc}"))
            return
        self.queries_sent += 1
        if status != SUCCESS:
            # c-ares refused the query, perhaps after calling back already.
            if self._forget(token):
                if status in _SERVER_TROUBLE:
                    self._failed_try(fetch, conn, status)
                else:
                    self._finish(fetch, Reply(status))
            return
        if token not in self._jobs or resend:
            return
        when = min(now + self._timeout, fetch.deadline)
        # Like c-ares: a packet is presumed lost after 5x the server's round trip
        # (at least 250 ms). Unlike c-ares, the first query stays open. The round
        # trip is read when the resend falls due, so a burst sent before the server
        # first answered gets one too. One due per query: the try's end is queued
        # when the resend falls due (most queries are answered long before).
        resend_at = now + conn.rto
        if resend_at < when:
            self._due(resend_at, token, _RESEND)
        else:
            self._due(when, token, _TRY_END)

    def _rto(self, srtt: float) -> float:
        """How long a query waits before its packet is presumed lost.

        5x the server's smoothed round trip, at least 250 ms, as c-ares; but at
        most half a try, so one retransmission always fits in it: a long-tailed
        upstream (slow recursions) drives the average up, and with resolv.conf's
        ``attempts:1`` a try without a retransmission loses every dropped packet.
        """
        rto = 5 * srtt
        if rto < _MIN_RESEND:
            return _MIN_RESEND
        return rto if rto < self._rto_cap else self._rto_cap

    def _due(self, when: float, token: int, kind: int) -> None:
        heapq.heappush(self._dues, (when, token, kind))
        timer = self._due_timer
        if timer is None or self._due_at > when:
            if timer is not None:
                timer.cancel()
            self._due_timer = self._loop.call_at(when, self._on_due)
            self._due_at = when

    def _forget(self, token: int) -> bool:
        entry = self._jobs.pop(token, None)
        if entry is None:
            return False
        fetch, conn = entry[0], entry[1]
        conn.pending -= 1
        if fetch.done:
            conn.orphans -= 1
        else:
            fetch.live -= 1
        return True

    def _on_answer(self, token: int, status: int, dnsrec: Any) -> None:
        """c-ares's callback, inside a channel call: read the reply, record the outcome.

        cffi would print and drop an exception raised here, and the lookup would
        never end: a bug ends the lookup with EBADRESP and is reported instead.
        """
        entry = self._jobs.get(token)
        if entry is None or self._closed:
            return
        try:
            self._read_answer(token, entry, status, dnsrec)
        except Exception as exc:
            self._loop.call_exception_handler(
                {"message": "reading a DNS reply failed", "exception": exc})
            if not entry[0].done:
                self._finish(entry[0], Reply(_EBADRESP, reason=f"internal error: {exc!r}"))

    def _read_answer(self, token: int, entry: tuple[_Fetch, _Conn, str, float], status: int,
                     dnsrec: Any) -> None:
        self._forget(token)
        fetch, conn, asked, sent = entry
        if status not in _NO_REPLY:
            # Only a reply measures the round trip (not c-ares reaping a timeout);
            # replies come from reading a socket, and the read's start times them.
            self.answers += 1
            rtt = self._read_at - sent
            if rtt >= 0:
                conn.srtt = rtt if not conn.srtt else 0.875 * conn.srtt + 0.125 * rtt
                conn.rto = self._rto(conn.srtt)  # read per query sent: kept, not computed
        if fetch.done or asked != fetch.asked:
            return
        if status == SUCCESS or status in NEGATIVE:
            records, soa = read_records(dnsrec)
            chain = fetch.chain
            if chain is None and status == SUCCESS and records:
                reply = direct_reply(records, asked, fetch.qtype)
                if reply is not None:
                    self._finish(fetch, reply)
                    return
            if chain is None:
                chain = fetch.chain = Chain(fetch.name, fetch.qtype)
            try:
                follow = chain.follow(records, asked, soa is not None)
            except BadAnswer as exc:
                self._finish(fetch, Reply(_EBADRESP, reason=f"{exc}"))
                return
            if status != SUCCESS:
                self._finish(fetch, negative_reply(status, soa, chain))
            elif follow is not None:
                # A server cut the CNAME chain short: ask on from its end, later.
                fetch.asked = follow
                self._next.append(fetch)
            else:
                self._finish(fetch, positive_reply(chain, soa))
        elif status in _SERVER_TROUBLE:
            self._failed_try(fetch, conn, status)
        else:
            self._finish(fetch, Reply(status))

    def _failed_try(self, fetch: _Fetch, conn: _Conn, status: int) -> None:
        """A server failed this try: the next try goes to the next server, if any is left."""
        self._server_failed(conn)
        if fetch.live > 0:
            # An earlier or later query is still out. If the one that failed was
            # the try's own (c-ares timed it out, say) and only its retransmission
            # is left, that one now carries the try's end: nothing else would.
            if fetch.latest not in self._jobs:
                fetch.latest = [t for t in fetch.tokens if t in self._jobs][-1]
                sent = self._jobs[fetch.latest][3]
                self._due(min(sent + self._timeout, fetch.deadline), fetch.latest, _TRY_END)
            return
        if fetch.attempt + 1 < self._attempts and self._loop.time() < fetch.deadline:
            fetch.attempt += 1
            self._next.append(fetch)
        else:
            self._finish(fetch, Reply(status))

    def _server_failed(self, conn: _Conn) -> None:
        # Lookups start at the first server until it fails, then at the next one.
        conns = self._conns
        if len(conns) > 1 and conns[self._first % len(conns)] is conn:
            self._first = (self._first + 1) % len(conns)

    def _finish(self, fetch: _Fetch, reply: Reply) -> None:
        if fetch.done:
            return
        fetch.done = True
        if fetch.sent:
            self._live -= 1
        for token in fetch.tokens:
            entry = self._jobs.get(token)
            if entry is not None:
                # c-ares keeps asking for a try nobody waits on: reap it later.
                entry[0].live -= 1
                entry[1].orphans += 1
                self._orphans = True
        fetch.tokens = ()
        future = fetch.future
        if future is not None:
            if not future.done():
                future.set_result(reply)
        elif fetch.on_reply is not None:
            # Straight to the cache: a done callback would cost a loop hop per family.
            on_reply, fetch.on_reply = fetch.on_reply, None
            on_reply(reply)

    def _after(self) -> None:
        """After a channel call: send follow-ups, retries and queued lookups."""
        while self._next or (self._waiting and self._live < self._max_concurrent):
            if self._closed:
                return
            if self._next:
                fetch = self._next.pop()
                if not fetch.done:
                    self._send(fetch)
                continue
            fetch = self._waiting.popleft()
            if fetch.abandoned():
                fetch.done = True
            else:
                self._start(fetch)
        if self._orphans and self._reap_timer is None and not self._closed:
            self._reap_timer = self._loop.call_later(self._timeout, self._reap)

    def _raw_read(self, pump: Pump, fd: int) -> None:
        if not self._closed:
            self._read_at = self._loop.time()
            pump.owner.raw.process_fd(fd, False)
            self._after()

    def _raw_write(self, pump: Pump, fd: int) -> None:
        if not self._closed:
            self._read_at = self._loop.time()
            pump.owner.raw.process_fd(fd, True)
            self._after()

    def _on_due(self) -> None:
        """A try has waited ``timeout``: send the next one, or give up at the deadline."""
        self._due_timer = None
        if self._closed:
            return
        now = self._loop.time()
        dues = self._dues
        while dues and dues[0][0] <= now:
            _when, token, kind = heapq.heappop(dues)
            entry = self._jobs.get(token)
            if entry is None:
                continue
            fetch, conn = entry[0], entry[1]
            if fetch.done:
                continue
            if fetch.abandoned() or now >= fetch.deadline:
                # Abandoned by its caller, or out of budget.
                self._finish(fetch, Reply(_ETIMEOUT))
            elif token != fetch.latest:
                continue
            elif kind == _RESEND:
                try_end = min(entry[3] + self._timeout, fetch.deadline)
                # No srtt: the server never answered, nothing says a packet was lost.
                at = entry[3] + conn.rto
                if conn.srtt and now < at < try_end:
                    heapq.heappush(dues, (at, token, _RESEND))  # the round trip grew
                    continue
                heapq.heappush(dues, (try_end, token, _TRY_END))
                if conn.srtt and at <= now:
                    self._send(fetch, conn)
            else:
                # The latest try waited timeout; earlier tries stay open: whichever
                # answers first within the budget is used.
                self._server_failed(conn)
                if fetch.attempt + 1 < self._attempts:
                    fetch.attempt += 1
                    self._next.append(fetch)
                else:
                    heapq.heappush(dues, (fetch.deadline, fetch.latest, _TRY_END))
        self._after()
        while dues and dues[0][1] not in self._jobs:
            heapq.heappop(dues)
        if dues and not self._closed:
            self._due_at = dues[0][0]
            self._due_timer = self._loop.call_at(self._due_at, self._on_due)

    def _reap(self) -> None:
        """End the c-ares queries of lookups already answered (never answered themselves).

        c-ares runs its timeouts here only, on a channel with no live try (or far
        too many dead ones), so its adaptive timer never cuts a live try short.
        """
        self._reap_timer = None
        if self._closed:
            return
        for conn in self._conns:
            if conn.orphans and (conn.pending == conn.orphans
                                 or conn.orphans > self._max_concurrent):
                conn.raw.process_timeouts()
        self._orphans = any(c.orphans for c in self._conns)
        self._after()
