"""Record data from text: zone-file presentation form, turned into dnslib objects.

dnslib's zone parser does the work. Two inputs need help because its lexer would
mangle them:

- TXT given without quotes (``"hello world"``) is ONE string, as a test author
  means it, not two words; it is cut into 255-byte character-strings. Quoted text
  (``'"a" "b"'``) goes to the zone parser unchanged.
- AAAA is built from the address's bytes: dnslib cannot read the dotted
  IPv4-mapped form (``::ffff:127.0.0.1``) that Python 3.13 prints.
- NAPTR goes out with its replacement name uncompressed, as RFC 3403 (4.1)
  requires: dnslib compresses it, and the c-ares in pycares 5.1 (Python 3.10)
  rejects such an answer as malformed.
- HTTPS/SVCB: the lexer splits ``alpn="h2,h3"`` at the quote, so the text is split
  on blanks here (quotes kept) and handed to dnslib's ``HTTPS.fromZone``, which
  accepts the keys dnslib knows: mandatory, alpn, no-default-alpn, port,
  ipv4hint, echconfig, ipv6hint and keyNNNNN. SVCB shares HTTPS's wire format.
  A relative target (``svc.test``) is made absolute, as for every other type.
"""

from __future__ import annotations

import ipaddress
import shlex
from typing import Any

from dnslib import AAAA, HTTPS, NAPTR, RD, RR, TXT, A

from ._names import type_name


class _NAPTR(NAPTR):  # type: ignore[misc]
    def pack(self, buffer: Any) -> None:
        buffer.pack("!HH", self.order, self.preference)
        for text in (self.flags, self.service, self.regexp):
            buffer.pack("!B", len(text))
            buffer.append(text)
        buffer.encode_name_nocompress(self.replacement)


def parse_rdata(code: int, rdata: object) -> Any:
    """The dnslib ``RD`` for record type ``code`` written as ``rdata``.

    ``rdata`` is presentation-form text or, for what text cannot express, a
    ready dnslib ``RD`` instance (used as is). Raises ``ValueError``.
    """
    if isinstance(rdata, RD):
        return rdata
    if not isinstance(rdata, str):
        raise TypeError(f"rdata must be str or a dnslib RD, not {type(rdata).__name__}")
    name = type_name(code)
    text = rdata.strip()
    try:
        if name == "A":
            return A(str(ipaddress.IPv4Address(text)))
        if name == "AAAA":
            # From the bytes, not the text: dnslib cannot parse the dotted form
            # (::ffff:127.0.0.1) that Python 3.13 prints for IPv4-mapped addresses.
            return AAAA(tuple(ipaddress.IPv6Address(text).packed))
        if name == "TXT" and not text.startswith('"'):
            raw = text.encode()
            return TXT([raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""])
        if name in ("HTTPS", "SVCB"):
            words = shlex.split(text, posix=False)
            if len(words) > 1 and not words[1].endswith("."):
                words[1] += "."  # dnslib reads the target as absolute only
            return HTTPS.fromZone(words)
        parsed = RR.fromZone(f". 0 IN {name} {text}")[0].rdata
        if name == "NAPTR":
            parsed.__class__ = _NAPTR
        return parsed
    except Exception as exc:
        raise ValueError(f"cannot read {name} record data {rdata!r}: {exc}") from exc
