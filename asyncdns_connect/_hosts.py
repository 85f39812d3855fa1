"""/etc/hosts, read into a dict and re-read when the file changes.

Hand-written because no library does it: c-ares reads the hosts file only
inside its own ``getaddrinfo``, which we do not use (it hides record TTLs), and
the standard library has no parser. A lookup is a dict lookup; the file is
stat()ed at most once per ``check_interval`` and parsed only when it changed.
"""

from __future__ import annotations

import os
import socket
import time

from ._errors import InvalidHostError
from ._names import normalize_host, parse_ip_literal

__all__ = ["HostsEntry", "HostsFile", "parse_hosts"]

HostsEntry = tuple[tuple[str, ...], tuple[str, ...]]
# What identifies one version of the file; None when it cannot be read.
_Stamp = tuple[int, int, int, int] | None


class HostsFile:
    """The names of a hosts file: ``lookup(name)`` gives (IPv4, IPv6) addresses."""

    __slots__ = ("_check_interval", "_entries", "_next_check", "_path", "_stamp")

    def __init__(self, path: str = "/etc/hosts", check_interval: float = 1.0) -> None:
        self._path = path
        self._check_interval = check_interval
        self._next_check = float("-inf")  # the first lookup reads the file
        self._stamp: _Stamp = None
        self._entries: dict[str, HostsEntry] = {}

    @property
    def next_check(self) -> float:
        """When (time.monotonic) the next lookup will look at the file again."""
        return self._next_check

    def lookup(self, name: str) -> HostsEntry | None:
        """The (IPv4, IPv6) addresses of a normalised ``name``, None if not in the file."""
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self._check_interval
            self._reload_if_changed()
        return self._entries.get(name)

    def _reload_if_changed(self) -> None:
        try:
            st = os.stat(self._path)
            stamp: _Stamp = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)
        except OSError:
            stamp = None
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            # Blocking, but the file is small and read only when it changed.
            with open(self._path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            text = ""
        self._entries = parse_hosts(text)


def parse_hosts(text: str) -> dict[str, HostsEntry]:
    """Map each normalised name and alias in ``text`` to its addresses; skip bad lines."""
    found: dict[str, tuple[dict[str, None], dict[str, None]]] = {}
    for line in text.splitlines():
        fields = line.partition("#")[0].split()
        if len(fields) < 2:
            continue
        ip = parse_ip_literal(fields[0])
        if ip is None or fields[0].startswith("["):
            continue
        address, family = ip
        for field in fields[1:]:
            try:
                name = normalize_host(field)
            except InvalidHostError:
                continue
            # dicts as ordered sets: file order, no duplicates.
            v4, v6 = found.setdefault(name, ({}, {}))
            (v4 if family == socket.AF_INET else v6)[address] = None
    return {name: (tuple(v4), tuple(v6)) for name, (v4, v6) in found.items()}
