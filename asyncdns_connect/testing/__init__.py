"""A programmable loopback DNS server for tests (``pip install asyncdns-connect[testing]``).

``DNSServer`` (asyncio) and ``ThreadedDNSServer`` (its own thread) answer UDP and
TCP on one port from a zone you edit while it runs, misbehave on request
(``Fault``), and log every query so tests can count what reached the server.
The pytest fixtures ``dns_server``, ``dns_server_v6`` and ``threaded_dns_server``
come from ``asyncdns_connect.testing.plugin``, registered automatically.

``NetworkModel`` (given as ``DNSServer(network=...)``) makes the server behave like
a recursive resolver seen from a datacenter: latency with a long tail, loss,
SERVFAIL bursts, an outage. ``make_population``/``publish_population`` fill a zone
with hosts of realistic kinds and TTLs, and ``FieldWeb`` serves HTTP behind them
(see docs/field.md).

Messages are built with dnslib; see ``_responder`` for the few hand-made bytes.
The names below are imported on first use (PEP 562), so that the pytest plugin,
which lives in this package and is loaded by every pytest run once the package is
installed, never needs dnslib unless a fixture is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._faults import Fault
    from ._field import FieldHost, FieldWeb, make_population, publish_population
    from ._log import QueryRecord
    from ._network import NetworkModel, NetworkProfile
    from ._server import DNSServer
    from ._sockets import BlackHole, bind_same_port
    from ._threaded import ThreadedDNSServer

__all__ = [
    "BlackHole", "DNSServer", "Fault", "FieldHost", "FieldWeb", "NetworkModel",
    "NetworkProfile", "QueryRecord", "ThreadedDNSServer", "bind_same_port",
    "make_population", "publish_population",
]

_HOME = {
    "BlackHole": "._sockets",
    "bind_same_port": "._sockets",
    "DNSServer": "._server",
    "Fault": "._faults",
    "FieldHost": "._field",
    "FieldWeb": "._field",
    "make_population": "._field",
    "publish_population": "._field",
    "NetworkModel": "._network",
    "NetworkProfile": "._network",
    "QueryRecord": "._log",
    "ThreadedDNSServer": "._threaded",
}

EXTRA_HINT = 'pip install "asyncdns-connect[testing]"'


def require_dnslib() -> None:
    """Raise ``ImportError`` naming the ``[testing]`` extra if dnslib is missing."""
    try:
        importlib.import_module("dnslib")
    except ImportError as exc:
        raise ImportError(
            f"asyncdns_connect.testing needs dnslib, which comes with the testing extra: "
            f"{EXTRA_HINT}"
        ) from exc


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    require_dnslib()
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value
