"""Nameserver strings: 'ip', 'ip:port' or '[v6]:port', checked and put in c-ares's form.

Checked here, before any channel exists, so a bad entry fails with a
``ValueError`` that names it and the reason.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

__all__ = ["parse_server", "parse_servers"]


def parse_server(server: str) -> str:
    """Check an 'ip', 'ip:port' or '[v6]:port' nameserver and return it for c-ares."""
    text = server.strip()
    host, port = text, None
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
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"bad nameserver {server!r}: the port must be 1-65535")
    if family == socket.AF_INET6:
        return f"[{host}]:{port}" if port else host
    return f"{host}:{port}" if port else host


def parse_servers(servers: Sequence[str] | None) -> tuple[str, ...] | None:
    """Check every nameserver; ``None`` (the system configuration) stays ``None``."""
    if servers is None:
        return None
    parsed = tuple(parse_server(s) for s in servers)
    if not parsed:
        raise ValueError("nameservers must name at least one server, or be None")
    return parsed

