"""The hosts file: parsing, aliases, change detection (reads only when asked to)."""

from __future__ import annotations

import os
from pathlib import Path

from asyncdns_connect._hosts import HostsFile, parse_hosts

HOSTS = """\
# comment line
127.0.0.1   localhost
::1         localhost ip6-localhost   # trailing comment
192.0.2.10  Web.Test  web  # aliases count
2001:db8::10 web.test
198.51.100.7 web.test
192.0.2.10  web.test
fe80::1%eth0 router.test
not-an-ip   broken.test
192.0.2.11
192.0.2.12  ok.test bad/name.test also.test.
[2001:db8::12] bracketed.test
  192.0.2.13	tabbed.test
#192.0.2.14 commented.test
"""


def write(path: Path, text: str, mtime: int) -> None:
    path.write_text(text)
    os.utime(path, (mtime, mtime))


def test_parse_hosts() -> None:
    table = parse_hosts(HOSTS)
    assert table["localhost"] == (("127.0.0.1",), ("::1",))
    assert table["ip6-localhost"] == ((), ("::1",))
    assert table["web.test"] == (("192.0.2.10", "198.51.100.7"), ("2001:db8::10",))
    assert table["web"] == (("192.0.2.10",), ())
    assert table["router.test"] == ((), ("fe80::1%eth0",))
    assert table["ok.test"] == table["also.test"] == (("192.0.2.12",), ())
    assert table["tabbed.test"] == (("192.0.2.13",), ())
    for absent in ("broken.test", "bad/name.test", "bracketed.test", "commented.test"):
        assert absent not in table


def test_lookup(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    write(path, HOSTS, 1_000_000)
    hosts = HostsFile(str(path))
    assert hosts.lookup("web.test") is None  # a lookup never touches the file
    assert "web.test" in hosts.reload_if_changed()
    assert hosts.lookup("web.test") == (("192.0.2.10", "198.51.100.7"), ("2001:db8::10",))
    assert hosts.lookup("nowhere.test") is None


def test_missing_file_is_empty(tmp_path: Path) -> None:
    hosts = HostsFile(str(tmp_path / "absent"))
    assert hosts.reload_if_changed() == set()
    assert hosts.lookup("localhost") is None


def test_unreadable_file_is_empty(tmp_path: Path) -> None:
    hosts = HostsFile(str(tmp_path))  # a directory: open() fails
    assert hosts.reload_if_changed() == set()
    assert hosts.lookup("localhost") is None


def test_change_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    write(path, "192.0.2.1 a.test\n", 1_000_000)
    hosts = HostsFile(str(path))
    assert hosts.reload_if_changed() == {"a.test"}
    assert hosts.lookup("a.test") == (("192.0.2.1",), ())

    write(path, "192.0.2.2 a.test\n", 1_000_001)  # same size: the mtime tells
    assert hosts.reload_if_changed() == {"a.test"}
    assert hosts.lookup("a.test") == (("192.0.2.2",), ())

    write(path, "192.0.2.2 b.test\n", 1_000_001)  # same mtime and size
    os.replace(_copy(path, tmp_path / "new"), path)  # a new inode tells
    assert hosts.reload_if_changed() == {"a.test", "b.test"}
    assert hosts.lookup("a.test") is None
    assert hosts.lookup("b.test") == (("192.0.2.2",), ())

    path.unlink()
    assert hosts.reload_if_changed() == {"b.test"}
    assert hosts.lookup("b.test") is None
    write(path, "192.0.2.3 c.test\n", 1_000_002)
    assert hosts.reload_if_changed() == {"c.test"}
    assert hosts.lookup("c.test") == (("192.0.2.3",), ())


def _copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    st = src.stat()
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
    return dst


def test_unchanged_file_is_not_parsed_again(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    write(path, "192.0.2.1 a.test\n", 1_000_000)
    hosts = HostsFile(str(path))
    hosts.reload_if_changed()
    first = hosts.lookup("a.test")
    assert hosts.reload_if_changed() == set()
    assert hosts.lookup("a.test") is first  # the same parsed table
