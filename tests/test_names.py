"""Host name normalisation, IP literals and special-use names."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncdns_connect._errors import InvalidHostError
from asyncdns_connect._names import normalize_host, parse_ip_literal, special_use


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("WWW.Test.Internal", "www.test.internal"),
        ("host.test.", "host.test"),
        ("_sip._udp.test", "_sip._udp.test"),
        ("a-b.c_d.test", "a-b.c_d.test"),
        ("127.1", "127.1"),  # not an IP for ipaddress: a name, left to DNS
        ("localhost", "localhost"),
        ("bücher.test", "xn--bcher-kva.test"),
        ("BÜCHER.TEST.", "xn--bcher-kva.test"),
        (
            "\uff54\uff45\uff53\uff54\u3002example\u3002internal",  # full-width, UTS 46 maps
            "test.example.internal",
        ),
        ("x" * 63 + ".test", "x" * 63 + ".test"),
    ],
)
def test_normalize_host(host: str, expected: str) -> None:
    assert normalize_host(host) == expected


def test_longest_name_is_accepted() -> None:
    name = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(name) == 253
    assert normalize_host(name + ".") == name


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("", "empty host name"),
        (".", "name is only a dot"),
        ("a..b", "empty label"),
        (".a.test", "empty label"),
        ("a.test..", "empty label"),
        ("x" * 64 + ".test", "label longer than 63 bytes"),
        (".".join(["a" * 63] * 4), "name longer than 253 bytes"),
        ("a b.test", "contains whitespace"),
        (" a.test", "contains whitespace"),
        ("a.test\n", "contains whitespace"),
        ("bü cher.test", "contains whitespace"),
        ("bü\u3000cher.test", "contains whitespace"),
        ("a\x00.test", "contains a control character"),
        ("a\x7f.test", "contains a control character"),
        ("bü\x01cher.test", "contains a control character"),
        ("a/b.test", "character '/' not allowed in a host name"),
        ("user@host.test", "character '@' not allowed in a host name"),
        ("host.test:80", "character ':' not allowed in a host name (IPv6 literal?)"),
        ("a%b.test", "character '%' not allowed in a host name"),
        ("*.test", "character '*' not allowed in a host name"),
        ("[::1]", "character '[' not allowed in a host name (IPv6 literal?)"),
    ],
)
def test_normalize_host_refuses(host: str, reason: str) -> None:
    with pytest.raises(InvalidHostError) as info:
        normalize_host(host)
    assert info.value.reason == reason
    assert info.value.host == host


@pytest.mark.parametrize("host", ["xn--ü.test", "bü/cher.test", "a\u200d.test", "ü" * 60 + ".test"])
def test_normalize_host_refuses_bad_idna(host: str) -> None:
    with pytest.raises(InvalidHostError) as info:
        normalize_host(host)
    assert info.value.reason.startswith("not a valid internationalised name")


def test_invalid_host_error_is_value_error_and_oserror() -> None:
    with pytest.raises(ValueError):
        normalize_host("a b")
    with pytest.raises(OSError):
        normalize_host("a b")


_label = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
    min_size=1,
    max_size=63,
)


@given(st.lists(_label, min_size=1, max_size=4), st.booleans())
def test_normalize_host_is_idempotent(labels: list[str], trailing_dot: bool) -> None:
    host = ".".join(labels) + ("." if trailing_dot else "")
    name = normalize_host(host)
    assert name == ".".join(labels).lower()
    assert normalize_host(name) == name


@given(st.text(max_size=40))
def test_normalize_host_returns_ascii_or_raises(host: str) -> None:
    try:
        name = normalize_host(host)
    except InvalidHostError:
        return
    assert name.isascii() and name == name.lower()
    assert not name.endswith(".")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", socket.AF_INET)),
        ("192.0.2.10", ("192.0.2.10", socket.AF_INET)),
        ("::1", ("::1", socket.AF_INET6)),
        ("[::1]", ("::1", socket.AF_INET6)),
        ("2001:DB8:0:0::1", ("2001:db8::1", socket.AF_INET6)),
        ("[2001:db8::1]", ("2001:db8::1", socket.AF_INET6)),
        ("fe80::1%eth0", ("fe80::1%eth0", socket.AF_INET6)),
        ("[fe80::1%eth0]", ("fe80::1%eth0", socket.AF_INET6)),
        # Python's own spelling: ::ffff:c000:201 before 3.13, ::ffff:192.0.2.1 since.
        ("::ffff:192.0.2.1", (str(ipaddress.IPv6Address("::ffff:c000:201")), socket.AF_INET6)),
    ],
)
def test_parse_ip_literal(host: str, expected: tuple[str, socket.AddressFamily]) -> None:
    assert parse_ip_literal(host) == expected


@pytest.mark.parametrize(
    "host",
    [
        "host.test",
        "127.1",
        "0x7f.1",
        "127.0.0.01",
        "1.2.3.4.5",
        "[127.0.0.1]",
        "[::1",
        "::1]",
        "fe80::1%",
        "",
        "[]",
        "12345",
    ],
)
def test_parse_ip_literal_refuses(host: str) -> None:
    assert parse_ip_literal(host) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("localhost", "localhost"),
        ("app.localhost", "localhost"),
        ("a.b.localhost", "localhost"),
        ("invalid", "invalid"),
        ("x.invalid", "invalid"),
        ("onion", "onion"),
        ("3g2upl4pq6kufc4m.onion", "onion"),
        ("localhost.test", None),
        ("notlocalhost", None),
        ("invalid.test", None),
        ("onion.test", None),
        ("host.test", None),
    ],
)
def test_special_use(name: str, expected: str | None) -> None:
    assert special_use(name) == expected
