"""DNS records (pycares ``DNSRecord``) as zone-file-like text and as JSON.

Hand-written: pycares gives each record type's fields, and nothing else turns
them back into presentation format, HTTPS service parameters (RFC 9460) included.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
from typing import Any

import pycares

__all__ = ["RECORD_TYPES", "record_json", "record_text", "type_name"]

# The types ``resolve --type`` offers (all that pycares 5 can ask for, less ANY).
RECORD_TYPES = ("A", "AAAA", "CAA", "CNAME", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA",
                "SRV", "TLSA", "TXT", "URI")
_NAMES = {getattr(pycares, f"QUERY_TYPE_{t}"): t for t in RECORD_TYPES}
# RFC 9460 section 14.3.2: the service parameter keys with a presentation format.
_SVC_KEYS = {0: "mandatory", 1: "alpn", 2: "no-default-alpn", 3: "port", 4: "ipv4hint",
             5: "ech", 6: "ipv6hint"}


def type_name(code: int) -> str:
    return _NAMES.get(code, f"TYPE{code}")


def _quote(data: bytes | str) -> str:
    """A character-string in quotes, with non-printable bytes escaped as \\DDD."""
    raw = data.encode() if isinstance(data, str) else data
    out = []
    for byte in raw:
        ch = chr(byte)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def _svc_value(key: int, value: bytes) -> str:
    """One HTTPS/SVCB parameter value in presentation format (raw hex when unknown)."""
    try:
        if key == 0:
            return ",".join(_SVC_KEYS.get(int.from_bytes(value[i:i + 2], "big"),
                                          f"key{int.from_bytes(value[i:i + 2], 'big')}")
                            for i in range(0, len(value), 2))
        if key == 1:
            ids, i = [], 0
            while i < len(value):
                n = value[i]
                ids.append(value[i + 1:i + 1 + n].decode("ascii"))
                i += 1 + n
            return ",".join(ids)
        if key == 2:
            return ""
        if key == 3:
            return str(int.from_bytes(value, "big"))
        if key == 4:
            return ",".join(str(ipaddress.IPv4Address(value[i:i + 4]))
                            for i in range(0, len(value), 4))
        if key == 6:
            return ",".join(str(ipaddress.IPv6Address(value[i:i + 16]))
                            for i in range(0, len(value), 16))
        if key == 5:
            return base64.b64encode(value).decode("ascii")
    except (ValueError, UnicodeDecodeError, IndexError):
        pass
    return value.hex()


def _svc_params(params: list[tuple[int, bytes]]) -> list[tuple[str, str]]:
    return [(_SVC_KEYS.get(key, f"key{key}"), _svc_value(key, bytes(value)))
            for key, value in params]


def _data_text(kind: str, d: Any) -> str:
    if kind in ("A", "AAAA"):
        return str(d.addr)
    if kind == "CNAME":
        return str(d.cname)
    if kind == "NS":
        return str(d.nsdname)
    if kind == "PTR":
        return str(d.dname)
    if kind == "MX":
        return f"{d.priority} {d.exchange}"
    if kind == "TXT":
        return _quote(d.data)
    if kind == "SRV":
        return f"{d.priority} {d.weight} {d.port} {d.target}"
    if kind == "SOA":
        return (f"{d.mname} {d.rname} {d.serial} {d.refresh} {d.retry} {d.expire} "
                f"{d.minimum}")
    if kind == "CAA":
        return f"{d.critical} {d.tag} {_quote(d.value)}"
    if kind == "NAPTR":
        return (f"{d.order} {d.preference} {_quote(d.flags)} {_quote(d.service)} "
                f"{_quote(d.regexp)} {d.replacement or '.'}")
    if kind == "TLSA":
        data = bytes(d.cert_association_data).hex()
        return f"{d.cert_usage} {d.selector} {d.matching_type} {data}"
    if kind == "URI":
        return f"{d.priority} {d.weight} {_quote(d.target)}"
    if kind == "HTTPS":
        params = " ".join(f"{k}={v}" if v else k for k, v in _svc_params(d.params))
        return f"{d.priority} {d.target or '.'}" + (f" {params}" if params else "")
    if dataclasses.is_dataclass(d) and not isinstance(d, type):
        return " ".join(str(v) for v in dataclasses.astuple(d))
    return str(d)


def record_text(rec: Any) -> str:
    """``name  TTL  IN  TYPE  data``, one record."""
    kind = type_name(rec.type)
    return f"{rec.name}\t{rec.ttl}\tIN\t{kind}\t{_data_text(kind, rec.data)}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def record_json(rec: Any) -> dict[str, Any]:
    """The record as a JSON object: its fields by pycares's names, plus ``text``."""
    kind = type_name(rec.type)
    data: dict[str, Any] = {}
    if dataclasses.is_dataclass(rec.data) and not isinstance(rec.data, type):
        for f in dataclasses.fields(rec.data):
            data[f.name] = _jsonable(getattr(rec.data, f.name))
    if kind == "HTTPS":
        data["params"] = dict(_svc_params(rec.data.params))
    if kind == "TLSA":
        data["cert_association_data"] = bytes(rec.data.cert_association_data).hex()
    return {"name": rec.name, "type": kind, "ttl": rec.ttl, "data": data,
            "text": _data_text(kind, rec.data)}
