"""What the engine's channels are built with, and the socket sizes both kinds share."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_TIMEOUT", "DEFAULT_TRIES", "RECV_BUFFER", "SEND_BUFFER", "ChannelOptions",
           "ChannelSide"]

# Large enough that a burst of answers to max_concurrent queries is never dropped
# by the kernel before the loop reads it.
RECV_BUFFER = 4 * 1024 * 1024
SEND_BUFFER = 1 * 1024 * 1024
DEFAULT_TIMEOUT = 2.0
DEFAULT_TRIES = 2


@dataclass(frozen=True)
class ChannelOptions:
    """What the channels are built with; ``None`` means the default.

    ``timeout`` (seconds, default 2) is one try at one server; ``tries``
    (default 2) the tries per server.
    """

    servers: tuple[str, ...] | None = None
    timeout: float | None = None
    tries: int | None = None
    rotate: bool = False
    ndots: int | None = None
    domains: tuple[str, ...] | None = None
    # Any other pycares.Channel keyword (flags, udp_port, tcp_port, local_ip, ...),
    # passed through as given (the aiodns drop-in forwards its caller's options).
    extra: tuple[tuple[str, Any], ...] = ()


class ChannelSide:
    """What each kind of channel keeps: the loop, the options and the budget."""

    def __init__(self, loop: asyncio.AbstractEventLoop, options: ChannelOptions,
                 timeout: float, tries: int, max_concurrent: int) -> None:
        self._loop = loop
        self._options = options
        self._max_concurrent = max_concurrent
        self._timeout = timeout     # options.timeout with the default filled in
        self._tries = tries
        self._servers: list[str] | None = list(options.servers) if options.servers else None
        self._closed = False
        self.queries_sent = 0
