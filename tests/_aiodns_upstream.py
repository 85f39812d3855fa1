"""Run aiodns 4.0.4's own test file against real aiodns or against our drop-in.

Used by tests/test_aiodns_upstream.py, which starts this script as
``unshare --net -- python tests/_aiodns_upstream.py MODE TEST_FILE WORKDIR`` inside
the netjail (root, loopback only). In its own fresh network namespace it:

* runs a copy of the file in which every nameserver address it names is replaced by
  a loopback one (``LOOPBACK``): the servers it expects to answer, and 127.0.0.1
  (resolv.conf), are the project's loopback DNS server with a zone holding every
  name the file queries; the two it expects to time out get a UDP socket on port 53
  that never answers;
* in MODE ``ours`` makes ``import aiodns`` give ``asyncdns_connect.aiodns`` and marks
  the tests in ``SKIPS`` skipped (the one list of them, with the reasons); in MODE
  ``control`` it imports the sdist's own aiodns 4.0.4, whatever version is installed;
* runs pytest on the file, writing ``WORKDIR/junit.xml`` and, in
  ``WORKDIR/aiodns-module.txt``, the module ``import aiodns`` gave (name, version, file).

Nothing is sent outside 127.0.0.0/8, and the namespace has only ``lo`` besides.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from asyncdns_connect.testing import ThreadedDNSServer

# The nameservers the upstream file names, and the loopback address each becomes in
# the copy that runs: the first three must answer, the last two must time out.
LOOPBACK = {
    "8.8.8.8": "127.0.8.8",
    "8.8.4.4": "127.0.4.4",
    "1.1.1.1": "127.0.1.1",
    "1.2.3.4": "127.1.2.4",
    "192.0.2.1": "127.0.2.1",
}
SERVED = ("127.0.0.1", "127.0.8.8", "127.0.4.4", "127.0.1.1")
SILENT = ("127.1.2.4", "127.0.2.1")

_PRIVATE = "inspects aiodns's private {what}; the behaviour is covered in test_aiodns_dropin.py"
_FALLBACK = ("patches aiodns.pycares.Channel to fail and checks `_event_thread`: aiodns's "
             "fallback from its event thread to sock_state_cb; we always drive the sockets "
             "from the loop (the engine), there is no thread to fall back from")
_WINDOWS = "Windows loop check (patches sys.platform and aiodns.pycares.Channel)"

# Upstream tests skipped against asyncdns_connect.aiodns, by function name: each one
# inspects or patches aiodns internals, never its public behaviour.
SKIPS: dict[str, str] = {
    "test_make_channel_ares_error": _FALLBACK,
    "test_getaddrinfo_with_sock_state_cb_fallback": _FALLBACK,
    "test_sock_state_cb_fallback_with_real_query": _FALLBACK,
    "test_gethostbyname_with_sock_state_cb_fallback": _FALLBACK,
    "test_sock_state_cb_wrapper_with_dead_weak_ref": _FALLBACK,
    "test_win32_import_winloop_error": _WINDOWS,
    "test_win32_winloop_not_loop_instance": _WINDOWS,
    "test_win32_winloop_loop_instance": _WINDOWS,
    "test_close_resolver": _PRIVATE.format(what="`_timer`, `_read_fds`, `_write_fds`"),
    "test_cleanup_method": _PRIVATE.format(what="`_cleanup`, `_timer`, `_read_fds`"),
    "test_sock_state_cb_and_timer_cb": _PRIVATE.format(
        what="`_sock_state_cb`, `_timer_cb`, `_read_fds`"),
    "test_del_with_no_running_loop": _PRIVATE.format(what="`_channel.close`"),
    "test_del_with_stopped_event_loop": _PRIVATE.format(what="`_channel.close`"),
    "test_del_with_running_event_loop": _PRIVATE.format(what="`_channel.close`"),
    "test_wrapped_entry_points_route_sync_ares_error": _PRIVATE.format(
        what="`_channel` (patches its methods)"),
    "test_callback_cancelled_future": _PRIVATE.format(what="`_callback`"),
    "test_callback_error": _PRIVATE.format(what="`_callback`"),
    "test_query_callback_cancelled_future": _PRIVATE.format(what="`_query_callback`"),
    "test_query_callback_error": _PRIVATE.format(what="`_query_callback`"),
    "test_query_callback_empty_result_raises_enodata": _PRIVATE.format(
        what="`_query_callback`"),
    "test_gethostbyname_cancelled_future": _PRIVATE.format(what="`_gethostbyname_callback`"),
    "test_capture_ares_error_leaves_done_future_untouched": _PRIVATE.format(
        what="`_capture_ares_error`"),
}

# Every name the upstream file asks for, with data shaped like the real thing.
ZONE: tuple[tuple[str, str, str], ...] = (
    ("google.com", "A", "142.250.80.46"),
    ("google.com", "A", "142.250.80.78"),
    ("google.com", "AAAA", "2607:f8b0:4006:80c::200e"),
    ("google.com", "MX", "10 smtp.google.com."),
    ("google.com", "NS", "ns1.google.com."),
    ("google.com", "NS", "ns2.google.com."),
    ("google.com", "TXT", "v=spf1 include:_spf.google.com ~all"),
    ("google.com", "CAA", '0 issue "pki.goog"'),
    ("ipv6.google.com", "CNAME", "ipv6.l.google.com."),
    ("ipv6.l.google.com", "AAAA", "2607:f8b0:4006:80c::200e"),
    ("www.amazon.com", "CNAME", "tp.47cf2c8c9-frontier.amazon.com."),
    ("tp.47cf2c8c9-frontier.amazon.com", "A", "18.164.96.95"),
    ("gmail.com", "MX", "5 gmail-smtp-in.l.google.com."),
    ("_xmpp-server._tcp.jabber.org", "SRV", "5 0 5269 hermes2.jabber.org."),
    ("sip2sip.info", "NAPTR", '20 100 "s" "SIP+D2U" "" _sip._udp.sip2sip.info.'),
    ("26.122.253.172.in-addr.arpa", "PTR", "bh-in-f26.1e100.net."),
    ("1.0.0.127.in-addr.arpa", "PTR", "localhost."),
    ("1." + "0." * 31 + "ip6.arpa", "PTR", "localhost."),
)


def _fill(server: ThreadedDNSServer) -> None:
    server.set_soa("google.com", serial=2024)
    for name, rtype, rdata in ZONE:
        server.add(name, rtype, rdata)


def _network() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def _loopback_copy(test_file: str, workdir: str) -> str:
    """The upstream file with each nameserver it names replaced by its loopback twin."""
    text = Path(test_file).read_text()
    for public, local in LOOPBACK.items():
        text = re.sub(rf"(?<![\d.]){re.escape(public)}(?![\d.])", local, text)
    copy = Path(workdir, Path(test_file).name)
    copy.write_text(text)
    return str(copy)


def _use_ours() -> None:
    import asyncdns_connect.aiodns as ours

    sys.modules["aiodns"] = ours
    sys.modules["aiodns.error"] = ours.error
    sys.modules["aiodns.compat"] = ours.compat


class _Skipper:
    def __init__(self, skips: dict[str, str]) -> None:
        self.skips = skips

    def pytest_collection_modifyitems(self, items: list[Any]) -> None:
        for item in items:
            reason = self.skips.get(getattr(item, "originalname", item.name))
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=f"asyncdns_connect: {reason}"))


def main(mode: str, upstream_file: str, workdir: str) -> int:
    _network()
    test_file = _loopback_copy(upstream_file, workdir)
    servers = [ThreadedDNSServer(host, 53) for host in SERVED]
    silent = []
    for address in SILENT:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((address, 53))
        silent.append(sock)
    ini = Path(workdir, "pytest.ini")
    ini.write_text("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    try:
        for server in servers:
            _fill(server)
            server.start()
        if mode == "ours":
            _use_ours()
        else:
            # The control is the sdist's own aiodns 4.0.4, whatever version is installed.
            sys.path.insert(0, str(Path(upstream_file).parent.parent))
        status = pytest.main(
            [test_file, "-q", "-p", "no:cacheprovider", "-c", str(ini),
             "--rootdir", str(Path(test_file).parent), f"--junitxml={workdir}/junit.xml"],
            plugins=[_Skipper(SKIPS if mode == "ours" else {})],
        )
        # Which module the file really tested, for the caller to check.
        tested = sys.modules["aiodns"]
        Path(workdir, "aiodns-module.txt").write_text(
            f"{tested.__name__} {tested.__version__} {tested.__file__}")
        return int(status)
    finally:
        for server in servers:
            server.stop()
        for sock in silent:
            sock.close()


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
