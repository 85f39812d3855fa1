"""The system's retry options: ``timeout:`` and ``attempts:`` from resolv.conf.

c-ares cannot report them back (``ares_save_options`` returns only options set
explicitly), so they are read here as glibc and c-ares read them: ``options``
lines of /etc/resolv.conf, then the ``RES_OPTIONS`` environment variable, the
last word for each winning. Read once, at import, so no lookup reads a file on
the event loop. Hand-written: the standard library has no resolv.conf parser,
and the two options need ten lines.
"""

from __future__ import annotations

import os

__all__ = ["SYSTEM_TIMEOUT", "SYSTEM_TRIES", "parse_retry"]

RESOLV_CONF = "/etc/resolv.conf"


def parse_retry(conf: str, env: str | None) -> tuple[float | None, int | None]:
    """``(timeout seconds, attempts)`` from resolv.conf text and RES_OPTIONS; None if unset."""
    words = [w for line in conf.splitlines()
             if line.split()[:1] == ["options"] for w in line.split()[1:]]
    words += (env or "").split()
    timeout: float | None = None
    tries: int | None = None
    for word in words:
        key, _, value = word.partition(":")
        if not value.isdigit():
            continue
        if key == "timeout" and int(value) > 0:
            timeout = float(min(int(value), 30))  # glibc's cap
        elif key == "attempts" and int(value) > 0:
            tries = min(int(value), 5)  # glibc's cap
    return timeout, tries


def _read() -> tuple[float | None, int | None]:
    try:
        with open(RESOLV_CONF, encoding="utf-8", errors="replace") as f:
            conf = f.read()
    except OSError:
        conf = ""
    return parse_retry(conf, os.environ.get("RES_OPTIONS"))


SYSTEM_TIMEOUT, SYSTEM_TRIES = _read()
