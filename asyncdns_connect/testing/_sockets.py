"""Loopback sockets for connection tests: one port on several addresses, and a
black hole where ``connect()`` hangs the way it does towards a broken IPv6 route.

Also ``grow_udp_buffers``: a bigger receive buffer for another process's UDP
sockets (a DNS server under a burst of queries). Hand-written: no library makes
an unanswered-SYN address without privileges, or reaches into another
process's sockets.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import select
import socket
from types import TracebackType

__all__ = ["BlackHole", "bind_same_port", "grow_udp_buffers"]

_BIND_ATTEMPTS = 50


def bind_same_port(*hosts: str, port: int = 0) -> list[socket.socket]:
    """Bound TCP sockets, one per host (IP text), all on one port.

    ``port=0`` picks a port free on every host (retrying when the first pick is
    taken on another host). IPv6 sockets are v6-only, so ``127.0.0.1:P`` and
    ``[::1]:P`` are two sockets. Raises OSError if no common port is found.
    """
    for _ in range(_BIND_ATTEMPTS if port == 0 else 1):
        socks: list[socket.socket] = []
        chosen = port
        try:
            for host in hosts:
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_STREAM)
                socks.append(sock)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((host, chosen))
                chosen = sock.getsockname()[1]
            return socks
        except OSError as exc:
            for sock in socks:
                sock.close()
            if exc.errno != errno.EADDRINUSE or port != 0:
                raise
    raise OSError(errno.EADDRINUSE, f"no port free on all of {', '.join(hosts)}")


class BlackHole:
    """Makes connects to ``sock``'s address hang: listen(0), never accept, fill the queue.

    Needs no privileges: once the accept queue is full the kernel drops further
    SYNs. ``hangs()`` checks that this kernel behaves so.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._listener = sock
        self._fillers: list[socket.socket] = []
        sock.listen(0)
        self.host: str = sock.getsockname()[0]
        self.port: int = sock.getsockname()[1]
        for _ in range(16):
            filler = socket.socket(sock.family, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex(sock.getsockname())
            _, writable, _ = select.select([], [filler], [], 0.2)
            if not writable:
                # This SYN went unanswered: the queue is full. Closing the filler
                # stops its SYN retries, which the kernel would count as drops.
                filler.close()
                break
            self._fillers.append(filler)

    @classmethod
    def on(cls, host: str, port: int = 0) -> BlackHole:
        """A black hole at ``host:port`` (port 0: any free port)."""
        return cls(bind_same_port(host, port=port)[0])

    def hangs(self, wait: float = 0.3) -> bool:
        """True if a fresh connect gets no answer within ``wait`` seconds."""
        with socket.socket(self._listener.family, socket.SOCK_STREAM) as probe:
            probe.settimeout(wait)
            try:
                probe.connect(self._listener.getsockname())
            except TimeoutError:
                return True
            except OSError:
                return False
        return False

    def close(self) -> None:
        for sock in (*self._fillers, self._listener):
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> BlackHole:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def grow_udp_buffers(pid: int, size: int) -> int:
    """Set SO_RCVBUF on every UDP socket of process ``pid``; returns how many.

    For a DNS server started by a test or benchmark: knotd has no option for
    its socket buffers and keeps the kernel default (208 KiB here, read-only
    /proc/sys), and a burst of 1,000 queries, what 500 AF_UNSPEC lookups in
    flight send, overflows it. ``pidfd_getfd`` (Linux 5.6, root) hands us a
    duplicate of each socket, and a socket option set on the duplicate is set
    on the socket. Returns 0 where this is not possible.
    """
    if not hasattr(os, "pidfd_open"):
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd_getfd = 438  # the syscall number on x86-64 and arm64 alike
    grown = 0
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                    continue
            except OSError:
                continue
            dup = libc.syscall(pidfd_getfd, pidfd, int(fd), 0)
            if dup < 0:
                continue
            sock = socket.socket(fileno=dup)
            try:
                if sock.type == socket.SOCK_DGRAM:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
                    grown += 1
            finally:
                sock.close()  # closes our duplicate only
    finally:
        os.close(pidfd)
    return grown
