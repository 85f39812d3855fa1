"""httpx transports that resolve through a :class:`~asyncdns_connect.Resolver`.

::

    import httpx
    from asyncdns_connect.httpx import AsyncResolverTransport

    async with httpx.AsyncClient(transport=AsyncResolverTransport(http2=True)) as client:
        ...

httpx has no resolver hook; the seam is httpcore's network backend.
``AsyncResolverTransport`` is an ``httpx.AsyncHTTPTransport`` (same options)
whose connection pool connects through ``ResolverNetworkBackend``: our DNS, then
RFC 8305 connection racing (``_connect``). TLS still checks the URL's host name.
``client_with_env_proxies()`` / ``mounts_from_env()`` keep ``HTTP_PROXY`` and
friends on our transport (httpx would route them through its own).
``ResolverTransport`` is the same for ``httpx.Client``, run on a private loop thread.

Hand-written because neither httpx nor httpcore has them: the env-proxy mounts
(built on httpx's own ``get_environment_proxies``) and the sync transport's loop
thread. asyncio only: on trio the async backend raises ``RuntimeError`` at the
first connection. Imported only when the user imports it: ``import asyncdns_connect``
does not import httpx.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import time
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

try:
    import anyio
    import httpcore
    import httpx
    import httpx._utils
except ImportError as exc:  # name the extra, not just the missing module
    raise ImportError(f'{exc}: pip install "asyncdns-connect[httpx]"') from exc

from ._connect import DEFAULT_DELAY, LoopThread, check_delay, open_socket
from ._default import SharedResolver
from ._names import parse_ip_literal
from ._resolver import Resolver

try:  # httpcore's stream wrappers: AnyIOStream gives start_tls over an anyio stream
    from httpcore._backends.anyio import AnyIOStream as _AnyIOStream
    from httpcore._backends.sync import SyncStream as _SyncStream
except ImportError as exc:  # pragma: no cover
    raise ImportError(
        f"asyncdns_connect.httpx needs httpcore 1.x (its stream classes moved: {exc})"
    ) from exc

if TYPE_CHECKING:
    from httpx._types import CertTypes, ProxyTypes

__all__ = [
    "AsyncResolverTransport",
    "ResolverNetworkBackend",
    "ResolverTransport",
    "SyncResolverNetworkBackend",
    "client_with_env_proxies",
    "mounts_from_env",
]

_NEEDS_ASYNCIO = (
    "asyncdns_connect's httpx transport needs asyncio; on trio use httpx's default transport")
_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's
_TRANSPORT_OPTIONS = frozenset({
    "verify", "cert", "trust_env", "http1", "http2", "limits", "local_address", "retries",
    "socket_options", "happy_eyeballs_delay"})


def _install(pool: object, backend: object, base: type) -> None:
    """Put ``backend`` into httpx's connection pool, where httpcore reads it per connection."""
    if not isinstance(getattr(pool, "_network_backend", None), base):
        raise RuntimeError(
            f"this httpcore ({httpcore.__version__}) has no pool._network_backend; "
            "asyncdns_connect.httpx supports httpcore 1.x")
    pool._network_backend = backend  # type: ignore[attr-defined]


def _check_local_address(local_address: str | None) -> None:
    if local_address is not None and parse_ip_literal(local_address) is None:
        raise ValueError(f"local_address must be an IP address, not {local_address!r}")


# -- asyncio ---------------------------------------------------------------------------


class ResolverNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend: DNS through a Resolver, then connection racing.

    With no ``resolver`` it uses the running loop's shared default (the one
    ``asyncdns_connect.aiohttp`` plugins made without a resolver use too);
    ``aclose()`` releases that, and never closes a Resolver passed in.
    ``happy_eyeballs_delay``: seconds between connection attempts (0.1 to 2).
    """

    def __init__(self, resolver: Resolver | None = None,
                 happy_eyeballs_delay: float = DEFAULT_DELAY) -> None:
        self._delay = check_delay(happy_eyeballs_delay)
        self._shared = SharedResolver(resolver)
        self._unix = httpcore.AnyIOBackend()

    @property
    def happy_eyeballs_delay(self) -> float:
        return self._delay

    @property
    def resolver(self) -> Resolver:
        """The Resolver in use (the shared default needs a running asyncio loop)."""
        _require_asyncio()
        return self._shared.get()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        _require_asyncio()
        sock = await open_socket(
            self._shared.get(), host, port, connect_timeout=timeout, local_address=local_address,
            socket_options=socket_options, delay=self._delay)
        try:
            stream = await anyio.abc.SocketStream.from_socket(sock)
        except BaseException:
            sock.close()
            raise
        return _AnyIOStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._unix.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    async def aclose(self) -> None:
        """Release the shared default Resolver, if this backend took it."""
        await self._shared.release()


def _require_asyncio() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(_NEEDS_ASYNCIO) from None


class AsyncResolverTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` whose connections resolve through ``resolver``.

    Takes every option of ``httpx.AsyncHTTPTransport`` (give ``verify``,
    ``http2``, ``limits`` here: a client ignores its own once given a transport),
    plus ``happy_eyeballs_delay``. With a ``proxy`` only the proxy's name is
    resolved here; the proxy resolves the target. With no ``resolver``, the loop's
    shared default; ``aclose()`` releases it and never closes a Resolver passed in.
    """

    def __init__(
        self,
        resolver: Resolver | None = None,
        *,
        verify: ssl.SSLContext | str | bool = True,
        cert: CertTypes | None = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = _DEFAULT_LIMITS,
        proxy: ProxyTypes | None = None,
        uds: str | None = None,
        local_address: str | None = None,
        retries: int = 0,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
        happy_eyeballs_delay: float = DEFAULT_DELAY,
    ) -> None:
        backend = ResolverNetworkBackend(resolver, happy_eyeballs_delay)
        _check_local_address(local_address)
        super().__init__(
            verify=verify, cert=cert, trust_env=trust_env, http1=http1, http2=http2,
            limits=limits, proxy=proxy, uds=uds, local_address=local_address,
            retries=retries, socket_options=socket_options)
        _install(self._pool, backend, httpcore.AsyncNetworkBackend)
        self._backend = backend

    @property
    def network_backend(self) -> ResolverNetworkBackend:
        return self._backend

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            await self._backend.aclose()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        # httpx.AsyncClient closes its transports through __aexit__, not aclose().
        try:
            await super().__aexit__(exc_type, exc_value, traceback)
        finally:
            await self._backend.aclose()


# -- environment proxies ---------------------------------------------------------------


def mounts_from_env(
    resolver: Resolver | None = None, **transport_options: Any
) -> dict[str, AsyncResolverTransport | None]:
    """httpx ``mounts`` for ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY``.

    Read as httpx reads them (``httpx._utils.get_environment_proxies``). A proxy
    pattern gets an ``AsyncResolverTransport`` to that proxy (``transport_options``
    as for that class); a ``NO_PROXY`` pattern gets ``None``, which an
    ``AsyncClient`` maps to its own ``transport=``: give it one of ours too.
    """
    # The function httpx itself reads HTTP_PROXY & co. with (0.23 to 0.28 at least).
    env_proxies = getattr(httpx._utils, "get_environment_proxies", None)
    if env_proxies is None:  # pragma: no cover
        raise RuntimeError("this httpx has no get_environment_proxies(); build mounts yourself")
    if "proxy" in transport_options:
        raise TypeError("mounts_from_env() takes the proxies from the environment, not proxy=")
    return {
        pattern: None if url is None
        else AsyncResolverTransport(resolver, proxy=url, **transport_options)
        for pattern, url in env_proxies().items()
    }


def client_with_env_proxies(resolver: Resolver | None = None, **options: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose direct and environment-proxy routes all use our transport.

    ``options``: those of ``AsyncResolverTransport`` (``verify``, ``http2``,
    ``limits``, ``happy_eyeballs_delay``...) go to every transport; the rest
    (``timeout``, ``headers``, ``mounts``...) to the client. ``trust_env=False``
    ignores the environment, as httpx does. Call ``aclose()`` or use ``async with``.
    """
    for key in ("transport", "proxy", "uds"):
        if key in options:
            raise TypeError(f"client_with_env_proxies() does not take {key}=; "
                            "build an AsyncResolverTransport for that")
    transport_options = {k: v for k, v in options.items() if k in _TRANSPORT_OPTIONS}
    client_options = {k: v for k, v in options.items() if k not in _TRANSPORT_OPTIONS}
    extra_mounts = client_options.pop("mounts", None) or {}
    trust_env = bool(options.get("trust_env", True))
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    if trust_env:
        mounts.update(mounts_from_env(resolver, **transport_options))
    mounts.update(extra_mounts)
    for key in ("verify", "cert", "http1", "http2", "limits", "trust_env"):
        if key in transport_options:
            client_options[key] = transport_options[key]  # also for the client's own use
    return httpx.AsyncClient(
        transport=AsyncResolverTransport(resolver, **transport_options), mounts=mounts,
        **client_options)


# -- sync ------------------------------------------------------------------------------

_LOOP_THREAD = LoopThread("asyncdns_connect-httpx")


class SyncResolverNetworkBackend(httpcore.NetworkBackend):
    """Sync httpcore backend: the async resolve-and-race, run on a shared loop thread.

    One daemon thread (started at the first connection, stopped when the last
    backend closes) runs the Resolver and the connection race; the connected
    socket then belongs to the calling thread. ``resolver`` is bound to that
    thread's loop: do not also use it on another running loop. With no
    ``resolver``, the thread's shared default. Call ``close()`` when done.
    """

    def __init__(self, resolver: Resolver | None = None,
                 happy_eyeballs_delay: float = DEFAULT_DELAY) -> None:
        self._delay = check_delay(happy_eyeballs_delay)
        self._shared = SharedResolver(resolver)
        self._pid: int | None = None  # the process that holds a loop-thread reference
        self._closed = False
        self._unix = httpcore.SyncBackend()

    @property
    def happy_eyeballs_delay(self) -> float:
        return self._delay

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        if self._closed:
            raise RuntimeError("this transport is closed")
        self._hold()
        sock = _LOOP_THREAD.run(self._open(host, port, timeout, local_address,
                                           list(socket_options or ())))
        try:
            sock.setblocking(True)  # SyncStream sets a timeout on every call
        except BaseException:
            sock.close()
            raise
        return _SyncStream(sock)

    async def _open(self, host: str, port: int, connect_timeout: float | None,
                    local_address: str | None,
                    socket_options: list[httpcore.SOCKET_OPTION]) -> socket.socket:
        return await open_socket(
            self._shared.get(), host, port, connect_timeout=connect_timeout,
            local_address=local_address, socket_options=socket_options, delay=self._delay)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        return self._unix.connect_unix_socket(path, timeout, socket_options)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def close(self) -> None:
        """Release the shared default Resolver and the loop thread. Idempotent."""
        self._closed = True
        if self._pid != os.getpid():
            return
        self._pid = None
        try:
            _LOOP_THREAD.run(self._shared.release())
        finally:
            _LOOP_THREAD.release()

    def _hold(self) -> None:
        pid = os.getpid()
        if self._pid != pid:  # first use, or first use in a forked child
            _LOOP_THREAD.acquire()
            self._pid = pid


class ResolverTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` (for ``httpx.Client``) resolving through ``resolver``.

    Same options as :class:`AsyncResolverTransport`. DNS and the connection race
    run on one shared asyncio loop thread; reads and writes stay in the calling
    thread. Close it (``client.close()`` or ``with``) to stop that thread.
    """

    def __init__(
        self,
        resolver: Resolver | None = None,
        *,
        verify: ssl.SSLContext | str | bool = True,
        cert: CertTypes | None = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = _DEFAULT_LIMITS,
        proxy: ProxyTypes | None = None,
        uds: str | None = None,
        local_address: str | None = None,
        retries: int = 0,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
        happy_eyeballs_delay: float = DEFAULT_DELAY,
    ) -> None:
        backend = SyncResolverNetworkBackend(resolver, happy_eyeballs_delay)
        _check_local_address(local_address)
        super().__init__(
            verify=verify, cert=cert, trust_env=trust_env, http1=http1, http2=http2,
            limits=limits, proxy=proxy, uds=uds, local_address=local_address,
            retries=retries, socket_options=socket_options)
        _install(self._pool, backend, httpcore.NetworkBackend)
        self._backend = backend

    @property
    def network_backend(self) -> SyncResolverNetworkBackend:
        return self._backend

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._backend.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        try:
            super().__exit__(exc_type, exc_value, traceback)
        finally:
            self._backend.close()
