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
"""

from __future__ import annotations

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
