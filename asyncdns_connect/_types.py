"""The value types the resolver hands out."""

from __future__ import annotations

import socket
from typing import NamedTuple

__all__ = ["Address"]


class Address(NamedTuple):
    """One address of a host, in the order to connect.

    ``host`` is the IP as text (IPv6 link-local keeps its scope, ``fe80::1%eth0``);
    ``ttl`` is the time to live the cache gave it, in seconds (0 for literals,
    /etc/hosts and overrides).
    """

    host: str
    family: socket.AddressFamily
    ttl: int = 0
