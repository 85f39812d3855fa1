"""The system's retry options (resolv.conf ``timeout:``/``attempts:``) reach the engine.

A Resolver on the system's nameservers must give up when glibc and aiodns do
on the same machine: a container's ``options timeout:1 attempts:1`` means a
1 s budget, not our own 2 s x 2 tries.
"""

from __future__ import annotations

import socket
import time

import pytest
from _resolving import no_loop_errors  # noqa: F401 (fixture)

from asyncdns_connect import DNSTimeoutError, Resolver, _resolvconf
from asyncdns_connect._resolvconf import parse_retry


def test_options_lines_and_res_options_are_read_the_last_word_winning() -> None:
    conf = "nameserver 127.0.0.1\noptions ndots:2 timeout:1\noptions attempts:3\n"
    assert parse_retry(conf, None) == (1.0, 3)
    assert parse_retry(conf, "attempts:1 timeout:4") == (4.0, 1)
    assert parse_retry("nameserver 127.0.0.1\n", None) == (None, None)
    # Nonsense is ignored, glibc's caps apply.
    assert parse_retry("options timeout:x attempts:0 timeout:99\n", None) == (30.0, None)


async def test_system_servers_come_with_the_system_retry_options() -> None:
    # The jail's resolv.conf: nameserver 127.0.0.1, options timeout:1 attempts:1.
    if (_resolvconf.SYSTEM_TIMEOUT, _resolvconf.SYSTEM_TRIES) != (1.0, 1):
        pytest.skip("needs shared/netjail's resolv.conf (timeout:1 attempts:1)")
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        hole.bind(("127.0.0.1", 53))  # answers nothing
    except OSError as exc:
        hole.close()
        pytest.skip(f"cannot bind 127.0.0.1:53 here: {exc}")
    try:
        async with Resolver(hosts_file=False) as r:
            start = time.monotonic()
            with pytest.raises(DNSTimeoutError):
                await r.resolve("nobody.answers.test")
            # 1 s budget (plus slack for a busy machine); our own default is 2 s x 2.
            assert time.monotonic() - start < 2.5
    finally:
        hole.close()
