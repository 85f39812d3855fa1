"""``asyncdns-connect resolve``, run as a program against the loopback DNS server.

Every run is ``python -m asyncdns_connect resolve --nameserver 127.0.0.1:PORT ...``
in a subprocess, so what is checked is what a user sees: standard output,
standard error and the exit status. The server runs in its own thread while the
test waits on the subprocess.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pycares import errno as ares_errno

from asyncdns_connect.testing import Fault, ThreadedDNSServer

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, stdin: str | None = None, timeout: float = 30
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "asyncdns_connect", *args], cwd=ROOT,
                          input=stdin, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def zone(threaded_dns_server: ThreadedDNSServer) -> ThreadedDNSServer:
    s = threaded_dns_server
    s.add_host("app.test", "127.0.0.1", "::1", ttl=60)
    s.add_host("v4.test", "127.0.0.1", ttl=30)
    s.add("app.test", "MX", "10 mail.app.test", ttl=120)
    s.add("app.test", "MX", "20 backup.app.test", ttl=120)
    s.add("app.test", "TXT", 'v=spf1 "quoted" -all')
    s.add("www.app.test", "CNAME", "app.test")
    return s


def resolve(server: ThreadedDNSServer, *args: str, stdin: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    return cli("resolve", "--nameserver", server.address, *args, stdin=stdin)


def assert_one_error_line(proc: subprocess.CompletedProcess[str], expected: str) -> None:
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [f"error: {expected}"]


def test_prints_both_addresses_in_connection_order_with_ttls(zone: ThreadedDNSServer) -> None:
    proc = resolve(zone, "app.test", "v4.test")
    assert proc.returncode == 0, proc.stderr
    # RFC 6724 puts ::1 before 127.0.0.1: the order a client connects in.
    assert proc.stdout.splitlines() == [
        "app.test\t60\tIN\tAAAA\t::1",
        "app.test\t60\tIN\tA\t127.0.0.1",
        "v4.test\t30\tIN\tA\t127.0.0.1",
    ]
    assert proc.stderr == ""


def test_json_gives_one_object_per_name(zone: ThreadedDNSServer) -> None:
    proc = resolve(zone, "--json", "app.test")
    assert proc.returncode == 0, proc.stderr
    [line] = proc.stdout.splitlines()
    assert json.loads(line) == {"name": "app.test", "addresses": [
        {"address": "::1", "family": 6, "ttl": 60},
        {"address": "127.0.0.1", "family": 4, "ttl": 60}]}


def test_type_mx_prints_the_records(zone: ThreadedDNSServer) -> None:
    proc = resolve(zone, "--type", "MX", "app.test")
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.splitlines()) == [
        "app.test\t120\tIN\tMX\t10 mail.app.test",
        "app.test\t120\tIN\tMX\t20 backup.app.test",
    ]


def test_type_records_as_json_and_text(zone: ThreadedDNSServer) -> None:
    proc = resolve(zone, "-t", "txt", "--json", "app.test")
    assert proc.returncode == 0, proc.stderr
    [record] = json.loads(proc.stdout)["records"]
    assert record["type"] == "TXT"
    assert record["data"] == {"data": 'v=spf1 "quoted" -all'}
    assert record["text"] == '"v=spf1 \\"quoted\\" -all"'
    cname = resolve(zone, "-t", "A", "www.app.test")
    assert cname.stdout.splitlines() == ["www.app.test\t300\tIN\tCNAME\tapp.test",
                                         "app.test\t60\tIN\tA\t127.0.0.1"]


def test_family_4_keeps_only_ipv4(zone: ThreadedDNSServer) -> None:
    proc = resolve(zone, "--family", "4", "app.test")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["app.test\t60\tIN\tA\t127.0.0.1"]


def test_nxdomain_is_one_line_naming_the_host(zone: ThreadedDNSServer) -> None:
    proc = resolve(zone, "nx.test")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert_one_error_line(proc, "cannot resolve 'nx.test': name does not exist (NXDOMAIN)")


def test_no_address_of_the_family_asked_for(zone: ThreadedDNSServer) -> None:
    proc = resolve(zone, "-f", "6", "v4.test")
    assert proc.returncode == 1
    assert_one_error_line(
        proc, "cannot resolve 'v4.test': the name has no IPv6 address (NODATA)")


def test_invalid_name_fails_without_a_query(zone: ThreadedDNSServer) -> None:
    proc = resolve(zone, "bad..name.test")
    assert proc.returncode == 1
    assert_one_error_line(proc, "cannot resolve 'bad..name.test': empty label")
    assert zone.count() == 0


def test_timeout_names_the_host_and_the_reason(zone: ThreadedDNSServer) -> None:
    zone.fault("slow.test", None, Fault.drop())
    proc = resolve(zone, "--timeout", "0.3", "slow.test")
    assert proc.returncode == 1
    assert_one_error_line(proc, "cannot resolve 'slow.test': no answer within 0.3 s (timeout)")


def test_names_from_stdin_end_with_a_summary(zone: ThreadedDNSServer) -> None:
    names = "app.test\n# a comment\n\nv4.test\nnx.test\napp.test\n"
    proc = resolve(zone, "-", stdin=names)
    assert proc.returncode == 1  # one name failed
    # Results come in input order, whatever order the answers arrived in.
    assert proc.stdout.splitlines() == [
        "app.test\t60\tIN\tAAAA\t::1", "app.test\t60\tIN\tA\t127.0.0.1",
        "v4.test\t30\tIN\tA\t127.0.0.1",
        "app.test\t60\tIN\tAAAA\t::1", "app.test\t60\tIN\tA\t127.0.0.1",
    ]
    err = proc.stderr.splitlines()
    assert "Traceback" not in proc.stderr
    assert err[0] == "error: cannot resolve 'nx.test': name does not exist (NXDOMAIN)"
    assert err[1].startswith("resolved 4 names in ")
    assert err[1].endswith("names/s): 3 ok, 1 failed")
    assert err[2].startswith("cache: ")
    assert err[3] == "errors: NXDOMAIN 1"


def test_names_from_stdin_as_json_lines(zone: ThreadedDNSServer) -> None:
    proc = resolve(zone, "--json", "-", "--concurrency", "2",
                   stdin="\n".join(["app.test", "nx.test", "app.test"] * 3))
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["name"] for o in lines[:-1]] == ["app.test", "nx.test", "app.test"] * 3
    assert lines[1]["error"]["kind"] == "NXDOMAIN"
    summary = lines[-1]["summary"]
    assert summary["names"] == 9 and summary["ok"] == 6 and summary["failed"] == 3
    assert summary["errors"] == {"NXDOMAIN": 3}
    # Repeats are answered from the cache (or join the lookup in flight).
    assert summary["cache_hits"] + summary["merged"] >= 4


@pytest.mark.parametrize(("args", "message"), [
    (["--nameserver", "1.2.3", "app.test"], "'1.2.3': not an IP address"),
    (["--nameserver", "127.0.0.1:", "app.test"], "the port after ':' must be digits"),
    (["--nameserver", "::1:53", "app.test"], "ambiguous: write [::1]:53 for port 53"),
    (["--concurrency", "abc", "app.test"], "--concurrency: not a whole number: 'abc'"),
    (["--timeout", "nan", "app.test"], "--timeout: must be a positive number of seconds"),
    (["--nameserver", "127.0.0.1:53", "-t", "MX", "-f", "4", "app.test"],
     "--family applies to addresses"),
    (["--nameserver", "127.0.0.1:53", "--timeout", "0", "app.test"], "--timeout"),
    (["--nameserver", "127.0.0.1:53", "-t", "BOGUS", "app.test"], "invalid choice"),
    ([], "the following arguments are required"),
])
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    proc = cli("resolve", *args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_entry_point_main_returns_the_status(zone: ThreadedDNSServer) -> None:
    code = ("import sys; from asyncdns_connect.__main__ import main; "
            f"sys.exit(10 + main(['resolve', '-n', {zone.address!r}, 'nx.test']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 11


def test_ctrl_c_exits_130_without_a_traceback(zone: ThreadedDNSServer) -> None:
    zone.fault("hang.test", None, Fault.drop())
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncdns_connect", "resolve", "-n", zone.address,
         "--timeout", "30", "hang.test"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        zone.wait_for_queries(1, "hang.test", timeout=10)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert out == ""
    assert err.splitlines() == ["error: interrupted"]


def test_bulk_mode_works_without_rich(zone: ThreadedDNSServer) -> None:
    # rich is optional (the [cli] extra); without it there is no bar, same output.
    code = ("import sys; sys.modules['rich'] = None; "
            "from asyncdns_connect.__main__ import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, "resolve", "-n", zone.address, "-"],
                          cwd=ROOT, input="v4.test\n", capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "v4.test\t30\tIN\tA\t127.0.0.1\n"
    assert proc.stderr.startswith("resolved 1 name in ")


def test_a_pipe_closed_early_ends_quietly_with_success(zone: ThreadedDNSServer) -> None:
    # `asyncdns-connect resolve - < names | head -1`: the reader has what it wanted.
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncdns_connect", "resolve", "-n", zone.address, "-"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("v4.test\n" * 20_000)
    proc.stdin.close()
    first = proc.stdout.readline()
    proc.stdout.close()
    try:
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert first == "v4.test\t30\tIN\tA\t127.0.0.1\n"
    assert proc.returncode == 0
    assert "Traceback" not in proc.stderr.read()  # type: ignore[union-attr]


def test_connection_refused_is_counted_as_unreachable(zone: ThreadedDNSServer) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{sock.getsockname()[1]}"
    proc = cli("resolve", "-n", closed, "--json", "-", stdin="a.test\nb.test\n")
    assert proc.returncode == 1
    summary = json.loads(proc.stdout.splitlines()[-1])["summary"]
    assert summary["errors"] == {"unreachable": 2}
    assert json.loads(proc.stdout.splitlines()[0])["error"]["type"] == "ServerFailureError"
    assert ares_errno.ARES_ECONNREFUSED  # the status the kind is read from


def test_a_nameserver_without_a_route_is_named_at_once() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 53))  # TEST-NET-1; connect() sends nothing
        except OSError:
            pass
        else:
            pytest.skip("this host has a route to 192.0.2.1 (run inside the netjail)")
    proc = cli("resolve", "-n", "192.0.2.1", "app.test")
    assert proc.returncode == 1
    [line] = proc.stderr.splitlines()
    assert line.startswith("error: no route to any --nameserver: 192.0.2.1 (")
    assert "timeout" not in line


def test_ctrl_c_at_random_moments_of_a_bulk_run(zone: ThreadedDNSServer) -> None:
    # 20,000 lookups of 5,000 names, the last never answered: the run is busy
    # (resolving, printing, or waiting) whenever SIGINT comes.
    zone.fault("hang.test", None, Fault.drop())
    for i in range(5_000):
        zone.add_host(f"h{i}.test", "127.0.0.1")
    names = "".join(f"h{i % 5_000}.test\n" for i in range(20_000)) + "hang.test\n"
    rng = random.Random(14)
    for _ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-m", "asyncdns_connect", "resolve", "-n", zone.address,
             "--timeout", "60", "-"],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        assert proc.stdin is not None and proc.stderr is not None
        try:
            proc.stdin.write(names)
            proc.stdin.close()
            zone.wait_for_queries(1, timeout=20)
            with contextlib.suppress(subprocess.TimeoutExpired):  # a random moment
                proc.wait(timeout=rng.uniform(0.0, 1.5))
            assert proc.returncode is None, "the run ended before the signal"
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)
            err = proc.stderr.read()
        finally:
            proc.kill()
        assert proc.returncode == 130, err
        assert err.splitlines()[-1:] == ["error: interrupted"], err
        assert "Traceback" not in err
        zone.reset_log()


def test_a_cname_on_the_way_is_shown(zone: ThreadedDNSServer) -> None:
    proc = resolve(zone, "www.app.test")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "www.app.test\t300\tIN\tCNAME\tapp.test",
        "www.app.test\t60\tIN\tAAAA\t::1",
        "www.app.test\t60\tIN\tA\t127.0.0.1",
    ]
    proc = resolve(zone, "--json", "www.app.test")
    assert json.loads(proc.stdout)["cname"] == ["app.test"]
