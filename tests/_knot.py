"""Run Knot DNS (knotd) on loopback for integration tests.

``KnotServer`` writes a zone file and a minimal knot.conf into a private
directory (listen on 127.0.0.1 only, no DNSSEC, logs to stderr), starts
``knotd -c knot.conf`` in the foreground, waits until it answers an SOA query
(sent with dnslib), and stops it. ``edit`` changes the running zone through
``knotc`` over the control socket in that directory.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from dnslib import DNSRecord

from asyncdns_connect.testing._sockets import grow_udp_buffers

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
KNOTC = shutil.which("knotc") or "/usr/sbin/knotc"

_CONF = """\
server:
    listen: 127.0.0.1@{port}
    rundir: {dir}
    user: {user}:{group}
log:
  - target: stderr
    any: warning
database:
    storage: {dir}
control:
    listen: {dir}/knot.sock
template:
  - id: default
    storage: {dir}
    file: "%s.zone"
    semantic-checks: off
zone:
  - domain: {zone}
"""


def knotd_available() -> bool:
    return os.access(KNOTD, os.X_OK)


def _free_port() -> int:
    """A port free on 127.0.0.1 for both UDP and TCP, right now."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port on 127.0.0.1")


class KnotServer:
    """knotd serving one zone (``zone_text`` in zone-file syntax) on 127.0.0.1."""

    def __init__(self, zone: str, zone_text: str) -> None:
        self.zone = zone.rstrip(".")
        self._zone_text = zone_text
        # Short: the control socket path must fit in sun_path (108 bytes).
        self.dir = Path(tempfile.mkdtemp(prefix="knot-"))
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def grow_udp_buffers(self, size: int) -> int:
        """Raise knotd's UDP receive buffers to ``size`` bytes; how many were raised."""
        assert self._proc is not None, "start the server first"
        return grow_udp_buffers(self._proc.pid, size)

    def start(self, timeout: float = 10.0) -> None:
        (self.dir / f"{self.zone}.zone").write_text(self._zone_text)
        last_error = ""
        for _ in range(3):  # the free port may be taken before knotd binds it
            self.port = _free_port()
            (self.dir / "knot.conf").write_text(_CONF.format(
                port=self.port, dir=self.dir, zone=self.zone,
                user=pwd.getpwuid(os.getuid()).pw_name, group=grp.getgrgid(os.getgid()).gr_name))
            self._proc = subprocess.Popen(
                [KNOTD, "-c", str(self.dir / "knot.conf")],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._wait_ready(timeout):
                return
            last_error = self._stop_process()
        raise RuntimeError(f"knotd did not start: {last_error}")

    def _wait_ready(self, timeout: float) -> bool:
        query = DNSRecord.question(self.zone, "SOA").pack()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                return False
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(0.2)
                try:
                    sock.sendto(query, ("127.0.0.1", self.port))
                    reply = DNSRecord.parse(sock.recv(4096))
                except OSError:
                    continue
            if reply.header.rcode == 0 and reply.rr:
                return True
            time.sleep(0.05)
        return False

    def edit(self, *changes: Sequence[str]) -> None:
        """Apply ``("set"|"unset", owner, ttl?, type, data...)`` changes in one transaction."""
        sock = str(self.dir / "knot.sock")

        def knotc(*args: str) -> None:
            subprocess.run([KNOTC, "-s", sock, *args], check=True, capture_output=True,
                           timeout=10)

        knotc("zone-begin", self.zone)
        try:
            for op, *rest in changes:
                knotc(f"zone-{op}", self.zone, *rest)
        except BaseException:
            knotc("zone-abort", self.zone)
            raise
        knotc("zone-commit", self.zone)

    def _stop_process(self) -> str:
        proc, self._proc = self._proc, None
        if proc is None:
            return ""
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        assert proc.stderr is not None
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        return err

    def stop(self) -> None:
        self._stop_process()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> KnotServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
