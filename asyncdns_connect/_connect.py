"""Open one TCP socket to a host: our DNS, then RFC 8305 connection racing.

aiohappyeyeballs does the racing (a new attempt every ``delay`` or as soon as
one fails, first to connect wins, losers closed). This module is the glue it
lacks: it feeds the race the Resolver's addresses in the Resolver's order (the
system resolver is never asked), sets socket options before connecting, binds
``local_address``, runs DNS and connect under one deadline, reports addresses
that lost the race back to the Resolver (learned fallback), and turns every
failure into the httpcore error that names the host.

Used by the httpx transports only; it runs on asyncio (the sync transport runs
it on its own loop thread).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import os
import socket
import threading
from collections.abc import Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import aiohappyeyeballs
import anyio
import httpcore

from ._errors import DNSError
from ._names import parse_ip_literal
from ._types import Address

if TYPE_CHECKING:
    from ._resolver import Resolver

__all__ = ["DEFAULT_DELAY", "MAX_DELAY", "MIN_DELAY", "LoopThread", "check_delay", "open_socket"]

_T = TypeVar("_T")

# RFC 8305 section 8: Connection Attempt Delay 250 ms, never below 100 ms (10 ms
# is its hard floor, but 100 ms is its recommended minimum), at most 2 s.
DEFAULT_DELAY = 0.25
MIN_DELAY = 0.1
MAX_DELAY = 2.0

SocketOption = httpcore.SOCKET_OPTION


def check_delay(delay: float) -> float:
    """``delay`` as a float, or ValueError if outside RFC 8305's 100 ms to 2 s."""
    if isinstance(delay, bool) or not isinstance(delay, (int, float)):
        raise TypeError(f"happy_eyeballs_delay must be a number of seconds, not {delay!r}")
    if not MIN_DELAY <= delay <= MAX_DELAY:
        raise ValueError(
            f"happy_eyeballs_delay must be between {MIN_DELAY} and {MAX_DELAY} seconds "
            f"(RFC 8305), not {delay!r}")
    return float(delay)


async def open_socket(
    resolver: Resolver,
    host: str,
    port: int,
    *,
    connect_timeout: float | None,
    local_address: str | None = None,
    socket_options: Iterable[SocketOption] | None = None,
    delay: float = DEFAULT_DELAY,
) -> socket.socket:
    """A connected non-blocking socket to ``host``:``port``.

    ``connect_timeout`` covers DNS and connecting together. Raises ``httpcore.ConnectError``
    (DNS failure, policy refusal, every address failed) or
    ``httpcore.ConnectTimeout``, each naming the host.
    """
    local = _local_address(local_address)
    options = list(socket_options or ())
    phase = "resolving"
    try:
        with anyio.fail_after(connect_timeout):
            addrs, is_name = await _addresses(resolver, host, local)
            phase = "connecting to"
            return await _race(resolver, host, port, addrs, is_name, local, options, delay)
    except TimeoutError:
        # Only anyio's deadline gets here: the race maps kernel ETIMEDOUT itself.
        raise httpcore.ConnectTimeout(
            f"timed out {phase} {host!r} (connect timeout {connect_timeout} s, DNS included)"
        ) from None


def _local_address(local_address: str | None) -> tuple[str, socket.AddressFamily] | None:
    if local_address is None:
        return None
    parsed = parse_ip_literal(local_address)
    if parsed is None:
        raise httpcore.ConnectError(
            f"local_address must be an IP address, not {local_address!r}")
    return parsed


async def _addresses(
    resolver: Resolver, host: str, local: tuple[str, socket.AddressFamily] | None
) -> tuple[Sequence[Address], bool]:
    """The addresses to try, in order, and whether ``host`` was a name."""
    literal = parse_ip_literal(host)
    if literal is not None and local is not None and local[1] != literal[1]:
        raise httpcore.ConnectError(
            f"cannot connect to {host!r} from local_address {local[0]!r}: "
            "different address families")
    family = socket.AF_UNSPEC if local is None else local[1]
    try:
        # IP literals too: the resolver answers them without DNS, under its policy.
        return await resolver.resolve(host, family), literal is None
    except DNSError as exc:
        # The message names the host and the reason already.
        raise httpcore.ConnectError(exc.strerror or str(exc)) from exc


def _sockaddr(ip: str, family: int, port: int) -> tuple[Any, ...]:
    if family != socket.AF_INET6:
        return (ip, port)
    addr, _, scope = ip.partition("%")
    if not scope:
        return (addr, port, 0, 0)
    # A zone name is an interface, never a DNS lookup.
    scope_id = int(scope) if scope.isdigit() else socket.if_nametoindex(scope)
    return (addr, port, 0, scope_id)


async def _race(
    resolver: Resolver,
    host: str,
    port: int,
    addrs: Sequence[Address],
    is_name: bool,
    local: tuple[str, socket.AddressFamily] | None,
    options: list[SocketOption],
    delay: float,
) -> socket.socket:
    attempts: list[tuple[socket.socket, str]] = []

    def make_socket(info: aiohappyeyeballs.AddrInfoType) -> socket.socket:
        sock = socket.socket(info[0], info[1], info[2])
        try:
            for option in options:
                sock.setsockopt(*option)
        except BaseException:
            sock.close()
            raise
        attempts.append((sock, str(info[4][0])))
        return sock

    infos = [(a.family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
              _sockaddr(a.host, a.family, port)) for a in addrs]
    local_infos = None
    if local is not None:
        local_infos = [(local[1], socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                        _sockaddr(local[0], local[1], 0))]
    try:
        # interleave=0: keep the Resolver's order, which is already RFC 8305
        # interleaved and has addresses that failed before moved last.
        sock = await aiohappyeyeballs.start_connection(
            infos, local_addr_infos=local_infos, happy_eyeballs_delay=delay,
            interleave=0, socket_factory=make_socket)
    except (OSError, RuntimeError) as exc:  # uvloop may raise RuntimeError
        tried = ", ".join(a.host for a in addrs)
        raise httpcore.ConnectError(
            f"cannot connect to {host!r} port {port} (tried {tried}): {_reason(exc)}"
        ) from exc
    if is_name:
        # Every attempt started before the winner lost: connecting to it failed
        # or took longer than the delay. Next time, try it last (learned fallback).
        for attempt_sock, ip in attempts:
            if attempt_sock is sock:
                break
            resolver.report_failure(host, ip)
    return sock


def _reason(exc: BaseException) -> str:
    text = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code in errno.errorcode and text.startswith(
            ("Connect call failed", "Multiple exceptions")):
        # asyncio's text names only the address; the errno says what went wrong.
        return os.strerror(code).lower()
    return text or type(exc).__name__


class LoopThread:
    """An asyncio loop in a daemon thread, for the sync transports of a process.

    Started by the first ``acquire()``, stopped by the last ``release()``; a
    forked child starts from no references and no thread (threads do not
    survive ``fork()``), so holders re-acquire there. One
    loop for all sync transports, so they can share one Resolver, which is
    bound to one loop.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._refs = 0
        self._pid = os.getpid()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        with self._lock:
            self._forget_parent()
            self._refs += 1
            if self._loop is None:
                self._start()

    def release(self) -> None:
        with self._lock:
            self._forget_parent()
            self._refs = max(0, self._refs - 1)
            if self._refs > 0 or self._loop is None:
                return
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the loop and wait for it; a socket it returns late is closed."""
        with self._lock:
            self._forget_parent()
            loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError("the transport is closed (its event-loop thread is stopped)")
        if self._thread is threading.current_thread():
            coro.close()
            raise RuntimeError("a sync transport cannot be used from its own loop thread")
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result()
        except BaseException:
            # KeyboardInterrupt and the like: stop the work, and close a socket
            # that was connected just as we gave up waiting.
            future.cancel()
            future.add_done_callback(_close_result)
            raise

    def _forget_parent(self) -> None:
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._refs = 0
            self._loop = self._thread = None

    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=_serve, args=(loop,), name=self._name, daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
        # As asyncio.run() does: let what is left (a prefetch, a user's Resolver
        # still bound here) end cleanly rather than be destroyed pending.
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


def _close_result(future: concurrent.futures.Future[Any]) -> None:
    if future.cancelled() or future.exception() is not None:
        return
    result = future.result()
    if isinstance(result, socket.socket):
        with contextlib.suppress(OSError):
            result.close()
