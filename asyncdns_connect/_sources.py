"""Answers that need no DNS: IP literals, overrides, special-use names, the hosts file.

``Sources.find(host)`` says, per family, what the machine already knows; a
family it leaves out goes to DNS. The hosts file answers per family: a name it
lists only with an IPv4 address still gets its IPv6 addresses from DNS.
``localhost`` (and ``*.localhost``) never reaches DNS (RFC 6761): it follows
the hosts file where that names it, else 127.0.0.1 then ::1.

``HostsWatcher`` keeps the hosts file current without touching it on the
event loop: the file is stat()ed and re-read in the loop's default executor,
on a timer, and a change drops the cached DNS answers of the names it touched.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

from ._errors import AddressPolicyError, NameNotFoundError
from ._hosts import HostsFile
from ._names import normalize_host, parse_ip_literal, special_use
from ._policy import AddressPolicy

__all__ = ["HostsWatcher", "Local", "Sources", "parse_overrides"]

AF_INET = socket.AF_INET
AF_INET6 = socket.AF_INET6

_LOCALHOST: dict[int, tuple[str, ...]] = {AF_INET: ("127.0.0.1",), AF_INET6: ("::1",)}


class Local(NamedTuple):
    """What the sources know about one host.

    ``name``: the normalised name (the literal itself for an IP literal).
    ``found``: family -> addresses, for the families answered here (an empty
    tuple: that family has no address, and DNS is not asked). ``sort``: order
    the addresses by RFC 6724 (False: keep them as given). ``policed``: the
    address policy still has to filter them.
    """

    name: str
    found: Mapping[int, tuple[str, ...]]
    sort: bool = True
    policed: bool = True


class Sources:
    """Literal, override, special-use and hosts-file answers, in that order."""

    __slots__ = ("_hosts", "_overrides", "_policy")

    def __init__(self, overrides: Mapping[str, Iterable[str]], hosts: HostsFile | None,
                 policy: AddressPolicy | None) -> None:
        self._overrides = parse_overrides(overrides)
        self._hosts = hosts
        self._policy = policy

    @property
    def hosts(self) -> HostsFile | None:
        return self._hosts

    def find(self, host: str) -> Local:
        """Raises InvalidHostError, or NameNotFoundError for .invalid and .onion."""
        literal = parse_ip_literal(host)
        if literal is not None:
            ip, family = literal
            # The adapters send IP-literal URLs here too: one place polices them.
            if self._policy is not None and not self._policy.allows(ip):
                reason = "the address policy forbids it"
                raise AddressPolicyError(None, f"refusing to connect to {host!r}: {reason}",
                                         host=host, reason=reason)
            other = AF_INET if family == AF_INET6 else AF_INET6
            return Local(host, {family: (ip,), other: ()}, policed=False)
        name = normalize_host(host)
        override = self._overrides.get(name)
        if override is not None:
            return Local(name, override, policed=False)
        use = special_use(name)
        if use == "invalid":
            raise NameNotFoundError.for_host(host, "'.invalid' names never resolve (RFC 6761)")
        if use == "onion":
            raise NameNotFoundError.for_host(
                host, "'.onion' names are not resolved by DNS (RFC 7686)")
        listed = self._hosts.lookup(name) if self._hosts is not None else None
        if use == "localhost":
            if listed is None:
                return Local(name, _LOCALHOST, sort=False)
            return Local(name, {AF_INET: listed[0], AF_INET6: listed[1]})
        if listed is None:
            return Local(name, {})
        v4, v6 = listed
        return Local(name, {fam: ips for fam, ips in ((AF_INET, v4), (AF_INET6, v6)) if ips})


def parse_overrides(raw: Mapping[str, Iterable[str]]) -> dict[str, dict[int, tuple[str, ...]]]:
    """``{host: IPs}`` as ``{normalised name: {family: IPs}}``; a bad IP is a ValueError."""
    out: dict[str, dict[int, tuple[str, ...]]] = {}
    for host, ips in raw.items():
        if isinstance(ips, str):
            ips = [ips]
        by_family: dict[int, list[str]] = {AF_INET: [], AF_INET6: []}
        for ip in ips:
            lit = parse_ip_literal(ip)
            if lit is None:
                raise ValueError(f"override for {host!r}: {ip!r} is not an IP address")
            by_family[lit[1]].append(lit[0])
        out[normalize_host(host)] = {fam: tuple(v) for fam, v in by_family.items()}
    return out


class HostsWatcher:
    """Reads a HostsFile off the event loop: once before first use, then on a timer.

    ``changed`` is called on the loop with the names whose entry changed. The
    timer's handle is the only thing the loop holds, and it goes with the loop.
    """

    __slots__ = ("_changed", "_first", "_hosts", "_interval", "_loop", "_timer")

    def __init__(self, hosts: HostsFile, interval: float,
                 changed: Callable[[set[str]], None]) -> None:
        self._hosts = hosts
        self._interval = interval
        self._changed = changed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._first: asyncio.Future[set[str]] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def ready(self) -> asyncio.Future[set[str]] | None:
        """None once the file was read on this loop; else a future to await first."""
        loop = asyncio.get_running_loop()
        if self._loop is loop and self._first is not None and self._first.done():
            return None
        if self._loop is not loop:
            self.stop()
            self._loop = loop
            self._first = loop.run_in_executor(None, self._hosts.reload_if_changed)
            self._first.add_done_callback(self._reloaded)
        assert self._first is not None
        return self._first

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._loop = None
        self._first = None

    def _tick(self) -> None:
        self._timer = None
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            fut = loop.run_in_executor(None, self._hosts.reload_if_changed)
        except RuntimeError:  # the loop's executor is shutting down with the loop
            return
        fut.add_done_callback(self._reloaded)

    def _reloaded(self, fut: asyncio.Future[set[str]]) -> None:
        loop = self._loop
        if fut.cancelled() or loop is None or fut.get_loop() is not loop:
            return
        if fut.exception() is None and fut.result():
            self._changed(fut.result())
        if not loop.is_closed() and self._timer is None:
            self._timer = loop.call_later(self._interval, self._tick)
