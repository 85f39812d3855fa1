"""The zone, fault and log methods shared by ``DNSServer`` and ``ThreadedDNSServer``.

Everything here only touches locked state (zone, fault table, log), so it is safe
to call from any thread and takes effect from the next query on.
"""

from __future__ import annotations

import ipaddress

from ._faults import Fault, FaultTable
from ._log import QueryLog, QueryRecord, Transport
from ._names import name_key, type_code
from ._rdata import parse_rdata
from ._zone import SOASpec, Zone


class ServerControls:
    _zone: Zone
    _faults: FaultTable
    _log: QueryLog

    # -- zone -------------------------------------------------------------------

    def add(self, name: str, rtype: str, rdata: object, ttl: int = 300) -> None:
        """Add a record. ``rdata`` is zone-file text (``"10 mail.test"`` for MX) or a
        dnslib ``RD``; unquoted TXT text is one string. Adding existing data again
        only changes its TTL. Records of one name and type may have different TTLs.
        """
        code = type_code(rtype)
        self._zone.add(name, code, parse_rdata(code, rdata), ttl)

    def add_host(self, name: str, *ips: str, ttl: int = 300) -> None:
        """Add A and AAAA records for ``name``, each by the address's family."""
        for ip in ips:
            rtype = "A" if ipaddress.ip_address(ip).version == 4 else "AAAA"
            self.add(name, rtype, ip, ttl=ttl)

    def remove(self, name: str, rtype: str | None = None) -> None:
        """Remove the records of ``name`` of one type, or of every type."""
        self._zone.remove(name, None if rtype is None else type_code(rtype))

    def clear(self) -> None:
        """Remove every record and every ``set_soa`` zone (faults and log stay)."""
        self._zone.clear()

    def set_soa(
        self,
        apex: str,
        ttl: int = 3600,
        minimum: int = 60,
        *,
        mname: str | None = None,
        rname: str | None = None,
        serial: int = 1,
        refresh: int = 3600,
        retry: int = 600,
        expire: int = 86400,
    ) -> None:
        """Make ``apex`` a zone: SOA queries for it get this SOA (TTL ``ttl``);
        negative answers below it carry it with TTL min(``ttl``, ``minimum``).
        """
        self._zone.set_soa(
            SOASpec(name_key(apex), ttl, minimum, mname, rname, serial, refresh, retry, expire)
        )

    @property
    def default_negative_ttl(self) -> int | None:
        """SOA MINIMUM of the default zones (a name's last label); ``None``: no SOA."""
        return self._zone.default_negative_ttl

    @default_negative_ttl.setter
    def default_negative_ttl(self, value: int | None) -> None:
        self._zone.default_negative_ttl = value

    # -- faults -----------------------------------------------------------------

    def fault(self, name: str, qtype: str | None, fault: Fault) -> None:
        """Misbehave for ``name``/``qtype`` (``None`` or ``"*"``: every type)."""
        self._faults.set(name, qtype, fault)

    def clear_fault(self, name: str, qtype: str | None = None) -> None:
        """Forget the fault for ``name``/``qtype``; without ``qtype``, all of ``name``'s."""
        self._faults.clear(name, qtype)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def dead(self) -> bool:
        """Drop everything: UDP unanswered, TCP accepted and never answered.

        Queries are still logged, as with ``Fault.drop()``.
        """
        return self._faults.dead

    @dead.setter
    def dead(self, value: bool) -> None:
        self._faults.dead = value

    @property
    def refuse_all(self) -> bool:
        """Answer every query REFUSED."""
        return self._faults.refuse_all

    @refuse_all.setter
    def refuse_all(self, value: bool) -> None:
        self._faults.refuse_all = value

    # -- query log --------------------------------------------------------------

    @property
    def queries(self) -> list[QueryRecord]:
        """Every query received since the last ``reset_log()``, in arrival order."""
        return self._log.snapshot()

    def count(
        self,
        name: str | None = None,
        qtype: str | None = None,
        transport: Transport | None = None,
    ) -> int:
        """How many logged queries match (name without case or trailing dot)."""
        return self._log.count(name, qtype, transport)

    def reset_log(self) -> None:
        self._log.reset()
