"""The one place that uses pycares's cffi layer: a raw c-ares channel for ``fetch``.

Why not ``pycares.Channel``: it cannot switch c-ares's query cache off
(``ares_options.qcache_max_ttl``), it throws the reply of a negative answer away
(SOA included), it parses every record into Python objects, and its
``process_fd`` always runs c-ares's adaptive timeouts, which retry (and lose the
answer to) a query after 5x the server's average latency whatever ``timeout``
says. Here we build the channel ourselves with ``ares_init_options`` through the
cffi module pycares ships (``pycares._cares``: ``ffi``, ``lib``), read the
reply's records with the ``ares_dns_rr_*`` accessors (addresses, TTLs, CNAMEs,
the SOA only) and read sockets with ``ares_process_fds(...,
ARES_PROCESS_FLAG_SKIP_NON_FD)``, so c-ares runs its timeouts only when the
engine asks. pycares's cffi declarations omit ``ares_process_fds``; it is
exported by the same shared object and bound here in cffi's ABI mode.

Every symbol is checked at import: a missing one raises ImportError naming the
pycares version (tested on pycares 5.1 and 5.2, bundled c-ares 1.34).
Hand-written: no library exposes these c-ares features to Python.
"""

from __future__ import annotations

import socket
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import cffi  # type: ignore[import-untyped]
import pycares
from pycares import _cares

__all__ = ["SUCCESS", "RawChannel", "Records", "read_records"]

ffi: Any = _cares.ffi
lib: Any = _cares.lib

# ares.h (c-ares 1.34); pycares's declarations lack these constants.
_OPT_MAXTIMEOUTMS = 1 << 20
_OPT_QUERY_CACHE = 1 << 21
_FD_EVENT_READ = 1 << 0
_FD_EVENT_WRITE = 1 << 1
_PROCESS_FLAG_SKIP_NON_FD = 1 << 0

_NEEDED = (
    "ares_init_options", "ares_destroy", "ares_cancel", "ares_query_dnsrec",
    "ares_search_dnsrec", "ares_dns_record_create", "ares_dns_record_query_add",
    "ares_dns_record_destroy", "ares_dns_record_rr_cnt", "ares_dns_record_rr_get_const",
    "ares_dns_rr_get_name", "ares_dns_rr_get_type", "ares_dns_rr_get_ttl",
    "ares_dns_rr_get_addr", "ares_dns_rr_get_addr6", "ares_dns_rr_get_str",
    "ares_dns_rr_get_u32", "ares_set_servers_csv", "ares_get_servers_csv",
    "ares_free_string", "ares_set_local_ip4", "ares_set_local_ip6", "ares_set_local_dev",
    "ares_inet_pton", "ARES_OPT_FLAGS", "ARES_OPT_TIMEOUTMS", "ARES_OPT_TRIES",
    "ARES_OPT_NDOTS", "ARES_OPT_UDP_PORT", "ARES_OPT_TCP_PORT", "ARES_OPT_SOCK_SNDBUF",
    "ARES_OPT_SOCK_RCVBUF", "ARES_OPT_SOCK_STATE_CB", "ARES_OPT_DOMAINS", "ARES_OPT_ROTATE",
    "ARES_SECTION_ANSWER", "ARES_SECTION_AUTHORITY", "ARES_RR_A_ADDR", "ARES_RR_AAAA_ADDR",
    "ARES_RR_CNAME_CNAME", "ARES_RR_SOA_MINIMUM", "ARES_REC_TYPE_A", "ARES_REC_TYPE_AAAA",
    "ARES_REC_TYPE_CNAME", "ARES_REC_TYPE_SOA", "ARES_CLASS_IN", "ARES_OPCODE_QUERY",
    "ARES_FLAG_RD", "ARES_RCODE_NOERROR", "ARES_SUCCESS",
)


def _check() -> Any:
    version = getattr(pycares, "__version__", "?")
    missing = [n for n in _NEEDED if not hasattr(lib, n)]
    try:
        options = ffi.new("struct ares_options *")
        options.qcache_max_ttl = 0
        options.maxtimeout = 0
    except (AttributeError, ffi.error) as exc:
        missing.append(f"struct ares_options fields ({exc})")
    abi = cffi.FFI()
    abi.cdef("""
        typedef struct { int fd; unsigned int events; } ares_fd_events_t;
        int ares_process_fds(void *channel, const ares_fd_events_t *events,
                             size_t nevents, unsigned int flags);
    """)
    so = None
    try:
        so = abi.dlopen(_cares.__file__)
        so.ares_process_fds  # noqa: B018  (resolves the symbol now)
    except (OSError, AttributeError) as exc:
        missing.append(f"ares_process_fds ({exc})")
    if missing:
        raise ImportError(
            f"asyncdns_connect needs pycares 5.1 or later with c-ares 1.34; pycares "
            f"{version} lacks: {', '.join(missing)}")
    return abi, so


_abi, _so = _check()

SUCCESS: int = lib.ARES_SUCCESS
_A: int = lib.ARES_REC_TYPE_A
_AAAA: int = lib.ARES_REC_TYPE_AAAA
_CNAME: int = lib.ARES_REC_TYPE_CNAME
_SOA: int = lib.ARES_REC_TYPE_SOA
_ANSWER = lib.ARES_SECTION_ANSWER
_AUTHORITY = lib.ARES_SECTION_AUTHORITY

Records = list[tuple[str, int, int, str]]
"""Answer records the engine reads: (owner, type, ttl, address or CNAME target)."""

_rr_cnt = lib.ares_dns_record_rr_cnt
_rr_get = lib.ares_dns_record_rr_get_const
_rr_name = lib.ares_dns_rr_get_name
_rr_type = lib.ares_dns_rr_get_type
_rr_ttl = lib.ares_dns_rr_get_ttl
_rr_addr = lib.ares_dns_rr_get_addr
_rr_addr6 = lib.ares_dns_rr_get_addr6
_rr_str = lib.ares_dns_rr_get_str
_rr_u32 = lib.ares_dns_rr_get_u32
_string = ffi.string
_cast = ffi.cast
_buffer = ffi.buffer
_ntop = socket.inet_ntop
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6


def read_records(dnsrec: Any) -> tuple[Records, tuple[int, int] | None]:
    """The A/AAAA/CNAME answers and the first authority SOA's (TTL, MINIMUM)."""
    records: Records = []
    if dnsrec == ffi.NULL:
        return records, None
    for i in range(_rr_cnt(dnsrec, _ANSWER)):
        rr = _rr_get(dnsrec, _ANSWER, i)
        rtype = _rr_type(rr)
        if rtype == _A:
            data = _ntop(_AF_INET, _buffer(_rr_addr(rr, lib.ARES_RR_A_ADDR), 4)[:])
        elif rtype == _AAAA:
            data = _ntop(_AF_INET6, _buffer(_rr_addr6(rr, lib.ARES_RR_AAAA_ADDR), 16)[:])
        elif rtype == _CNAME:
            data = _string(_rr_str(rr, lib.ARES_RR_CNAME_CNAME)).decode("ascii", "replace")
        else:
            continue
        owner = _string(_rr_name(rr)).decode("ascii", "replace")
        records.append((owner, rtype, _rr_ttl(rr), data))
    soa = None
    for i in range(_rr_cnt(dnsrec, _AUTHORITY)):
        rr = _rr_get(dnsrec, _AUTHORITY, i)
        if _rr_type(rr) == _SOA:
            soa = (_rr_ttl(rr), _rr_u32(rr, lib.ARES_RR_SOA_MINIMUM))
            break
    return records, soa


QueryCallback = Callable[[int, int, Any], None]
"""Called as (token, c-ares status, dnsrec or NULL) from inside a channel call."""
SockStateCallback = Callable[[int, bool, bool], None]
"""Called as (fd, readable, writable)."""


class RawChannel:
    """A c-ares channel with no query cache, driven through sock_state_cb.

    ``on_answer`` (a ``QueryCallback``) and ``on_sock_state`` (a
    ``SockStateCallback``) are bound methods, held weakly through their owner.
    """

    def __init__(self, *, on_answer: QueryCallback, on_sock_state: SockStateCallback,
                 timeout: float, tries: int, servers: Sequence[str] | None,
                 ndots: int | None = None, domains: Sequence[str] | None = None,
                 rotate: bool = False, flags: int | None = None,
                 udp_port: int | None = None, tcp_port: int | None = None,
                 socket_send_buffer_size: int | None = None,
                 socket_receive_buffer_size: int | None = None,
                 local_ip: str | None = None, local_dev: str | None = None) -> None:
        # c-ares holds raw pointers to these callbacks: they live as long as the
        # channel. They reach their owner weakly, so an owner dropped without
        # destroy() is collected, and the finalizer below frees the channel.
        # A weak reference to the owner and its plain function, not a WeakMethod:
        # that one's __call__ is Python code making a bound method on every reply.
        answer_owner, answer_func = _weak_method(on_answer)
        sock_owner, sock_func = _weak_method(on_sock_state)

        def answer(arg: Any, status: int, _timeouts: int, rec: Any) -> None:
            owner = answer_owner()
            if owner is not None:
                answer_func(owner, int(_cast("uintptr_t", arg)), status, rec)

        def sock_state(_data: Any, fd: int, readable: int, writable: int) -> None:
            owner = sock_owner()
            if owner is not None:
                sock_func(owner, fd, bool(readable), bool(writable))

        self._answer_cb = ffi.callback(
            "void(void *, ares_status_t, size_t, struct ares_dns_record *)", answer)
        self._sock_cb = ffi.callback("void(void *, int32_t, int, int)", sock_state)
        options = ffi.new("struct ares_options *")
        keep: list[Any] = []
        mask = (lib.ARES_OPT_FLAGS | lib.ARES_OPT_TIMEOUTMS | lib.ARES_OPT_TRIES
                | _OPT_MAXTIMEOUTMS | _OPT_QUERY_CACHE | lib.ARES_OPT_SOCK_STATE_CB)
        # Passing flags replaces c-ares's defaults: keep EDNS on.
        options.flags = flags if flags is not None else pycares.ARES_FLAG_EDNS
        ms = max(1, int(timeout * 1000))
        options.timeout = ms
        # c-ares's adaptive per-try timeout never exceeds ours.
        options.maxtimeout = ms
        options.tries = tries
        options.qcache_max_ttl = 0
        options.sock_state_cb = self._sock_cb
        options.sock_state_cb_data = ffi.NULL
        # Each optional integer: its ares_options field and the bit that says it is set.
        for field, value, bit in (
                ("ndots", ndots, lib.ARES_OPT_NDOTS),
                ("udp_port", udp_port, lib.ARES_OPT_UDP_PORT),
                ("tcp_port", tcp_port, lib.ARES_OPT_TCP_PORT),
                ("socket_send_buffer_size", socket_send_buffer_size, lib.ARES_OPT_SOCK_SNDBUF),
                ("socket_receive_buffer_size", socket_receive_buffer_size,
                 lib.ARES_OPT_SOCK_RCVBUF)):
            if value is not None:
                setattr(options, field, value)
                mask |= bit
        if domains:
            strs = [ffi.new("char[]", d.encode("ascii")) for d in domains]
            array = ffi.new(f"char *[{len(strs)}]", strs)
            keep += [strs, array]
            options.domains = array
            options.ndomains = len(strs)
            mask |= lib.ARES_OPT_DOMAINS
        if rotate:
            mask |= lib.ARES_OPT_ROTATE
        channel = ffi.new("ares_channel *")
        status = lib.ares_init_options(channel, options, mask)
        del keep
        if status != SUCCESS:
            raise pycares.AresError(status, _strerror(status))
        self._channel = channel
        self._ptr = channel[0]
        self._finalizer = weakref.finalize(self, _destroy, channel, self._answer_cb,
                                           self._sock_cb)
        # At interpreter exit the process closes the sockets; calling back into
        # Python then would only print noise.
        self._finalizer.atexit = False
        self._raw = _abi.cast("void *", int(ffi.cast("uintptr_t", self._ptr)))
        self._events = _abi.new("ares_fd_events_t[1]")
        try:
            if servers:
                self.servers = list(servers)
            if local_ip:
                self._set_local_ip(local_ip)
            if local_dev:
                lib.ares_set_local_dev(self._ptr, local_dev.encode("ascii"))
        except BaseException:
            self.destroy()
            raise

    # -- configuration --------------------------------------------------------

    @property
    def servers(self) -> list[str]:
        csv = lib.ares_get_servers_csv(self._ptr)
        try:
            text: str = _string(csv).decode("ascii")
        finally:
            lib.ares_free_string(csv)
        return text.split(",") if text else []

    @servers.setter
    def servers(self, servers: Sequence[str]) -> None:
        status = lib.ares_set_servers_csv(self._ptr, ",".join(servers).encode("ascii"))
        if status != SUCCESS:
            raise pycares.AresError(status, _strerror(status))

    def _set_local_ip(self, ip: str) -> None:
        addr4 = ffi.new("struct in_addr *")
        addr6 = ffi.new("struct ares_in6_addr *")
        if lib.ares_inet_pton(socket.AF_INET, ip.encode("ascii"), addr4) == 1:
            lib.ares_set_local_ip4(self._ptr, socket.ntohl(addr4.s_addr))
        elif lib.ares_inet_pton(socket.AF_INET6, ip.encode("ascii"), addr6) == 1:
            lib.ares_set_local_ip6(self._ptr, addr6)
        else:
            raise ValueError(f"invalid local_ip {ip!r}")

    # -- queries ----------------------------------------------------------------

    def query(self, token: int, name: str, qtype: int, search: bool) -> int:
        """Send one IN query; the answer comes to ``on_answer`` with ``token``.

        Returns c-ares's status; on failure the callback may already have run.
        """
        arg = ffi.cast("void *", token)
        encoded = name.encode("idna") if not name.isascii() else name.encode("ascii")
        if not search:
            return int(lib.ares_query_dnsrec(self._ptr, encoded, lib.ARES_CLASS_IN, qtype,
                                             self._answer_cb, arg, ffi.NULL))
        rec = ffi.new("ares_dns_record_t **")
        status = lib.ares_dns_record_create(rec, 0, lib.ARES_FLAG_RD, lib.ARES_OPCODE_QUERY,
                                            lib.ARES_RCODE_NOERROR)
        if status != SUCCESS:
            return int(status)
        try:
            status = lib.ares_dns_record_query_add(rec[0], encoded, qtype, lib.ARES_CLASS_IN)
            if status != SUCCESS:
                return int(status)
            return int(lib.ares_search_dnsrec(self._ptr, rec[0], self._answer_cb, arg))
        finally:
            lib.ares_dns_record_destroy(rec[0])

    # -- driving ------------------------------------------------------------------

    def process_fd(self, fd: int, write: bool) -> None:
        """Read or write one socket; never runs c-ares's timeouts."""
        ev = self._events
        ev[0].fd = fd
        ev[0].events = _FD_EVENT_WRITE if write else _FD_EVENT_READ
        _so.ares_process_fds(self._raw, ev, 1, _PROCESS_FLAG_SKIP_NON_FD)

    def process_timeouts(self) -> None:
        """Let c-ares time out (retry or fail) queries past their per-try timeout."""
        _so.ares_process_fds(self._raw, _abi.NULL, 0, 0)

    def cancel(self) -> None:
        lib.ares_cancel(self._ptr)

    def destroy(self) -> None:
        """Free the channel; pending queries call back with ARES_EDESTRUCTION first."""
        self._finalizer()


def _weak_method(method: Callable[..., None]) -> tuple[weakref.ref[Any], Callable[..., None]]:
    """A bound method as a weak reference to its owner and its plain function."""
    owner, func = getattr(method, "__self__", None), getattr(method, "__func__", None)
    if owner is None or func is None:
        raise TypeError(f"a bound method is needed, not {method!r}")
    return weakref.ref(owner), func


def _destroy(channel: Any, *_callbacks: Any) -> None:
    """Free a c-ares channel; the callbacks are passed only to outlive it."""
    lib.ares_destroy(channel[0])


def _strerror(status: int) -> str:
    text = pycares.errno.strerror(status)
    return text.decode() if isinstance(text, bytes) else str(text)
