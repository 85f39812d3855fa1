"""/etc/hosts, read into a dict and re-read when the file changes.

Hand-written because no library does it: c-ares reads the hosts file only
inside its own ``getaddrinfo``, which we do not use (it hides record TTLs), and
the standard library has no parser. ``lookup`` is a dict lookup and never
touches the file; ``reload_if_changed`` stat()s and re-reads it, and is meant
to run off the event loop (``_sources.HostsWatcher`` does that).
"""

from __future__ import annotations

import os
import socket

from ._errors import InvalidHostError
from ._names import normalize_host, parse_ip_literal

__all__ = ["HostsEntry", "HostsFile", "parse_hosts"]

HostsEntry = tuple[tuple[str, ...], tuple[str, ...]]
# What identifies one version of the file; None when it cannot be read.
_Stamp = tuple[int, int, int, int] | None
_UNREAD: _Stamp = (-1, -1, -1, -1)


class HostsFile:
    """The names of a hosts file: ``lookup(name)`` gives (IPv4, IPv6) addresses."""

    __slots__ = ("_entries", "_path", "_stamp")

    def __init__(self, path: str = "/etc/hosts") -> None:
        self._path = path
        self._stamp: _Stamp = _UNREAD
        self._entries: dict[str, HostsEntry] = {}

    @property
    def path(self) -> str:
        return self._path

    @property
    def loaded(self) -> bool:
        return self._stamp != _UNREAD

    def lookup(self, name: str) -> HostsEntry | None:
        """The (IPv4, IPv6) addresses of a normalised ``name``, None if not in the file."""
        return self._entries.get(name)

    def reload_if_changed(self) -> set[str]:
        """Re-read the file if it changed (blocking I/O); the names whose entry changed."""
        try:
            st = os.stat(self._path)
            stamp: _Stamp = (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)
        except OSError:
            stamp = None
        if stamp == self._stamp:
            return set()
        self._stamp = stamp
        try:
            with open(self._path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            text = ""
        old, self._entries = self._entries, parse_hosts(text)
        return {name for name in old.keys() | self._entries.keys()
                if old.get(name) != self._entries.get(name)}


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
