"""The argument parser, and the two helpers every command shares."""

from __future__ import annotations

import argparse
import ipaddress

from .. import __version__
from ._records import RECORD_TYPES

__all__ = ["UsageError", "build_parser", "describe"]


class UsageError(Exception):
    """The command line asks for something that cannot be done (exit status 2)."""


def describe(exc: BaseException) -> str:
    """The message of an error, without Python's ``[Errno N]`` prefix."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def _nameserver(text: str) -> str:
    """``IP``, ``IP:PORT``, ``[V6]`` or ``[V6]:PORT``, refusing what would be misread.

    Two spellings the resolver would take silently mean something else here: an
    empty port (``127.0.0.1:``), and an IPv6 address whose last group looks like a
    port (``::1:53`` is a valid address, but the user almost surely meant port 53).
    """
    host, _, port = text.rpartition(":")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise argparse.ArgumentTypeError(f"{text!r}: missing ']'")
        host, rest = text[1:end], text[end + 1:]
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            raise argparse.ArgumentTypeError(f"{text!r}: write [IPv6]:PORT, port in digits")
        port = rest[1:]
    elif text.count(":") == 1:
        if not port.isdigit():
            raise argparse.ArgumentTypeError(f"{text!r}: the port after ':' must be digits")
    else:
        host, port = text, ""
        head, _, last = text.rpartition(":")
        if last.isdigit() and 0 < int(last) < 65536 and _is_ipv6(head):
            raise argparse.ArgumentTypeError(
                f"{text!r} is ambiguous: write [{head}]:{last} for port {last}, "
                f"or [{text}] for that address")
    if port and not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r}: port must be 1 to 65535")
    if not (_is_ipv6(host) or _is_ipv4(host)):
        raise argparse.ArgumentTypeError(f"{text!r}: not an IP address")
    return text


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asyncdns-connect",
        description="Resolve names with asyncdns_connect's resolver, or run the "
                    "self-contained loopback demo.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    res = commands.add_parser(
        "resolve", help="print the addresses (or records) of names",
        description="Print the addresses of each NAME in connection order with their "
                    "TTLs, or with --type its records of that type. '-' reads names from "
                    "standard input, one per line, and ends with a summary.")
    res.add_argument("names", nargs="+", metavar="NAME",
                     help="a host name; '-' reads names from standard input")
    res.add_argument("--nameserver", "-n", action="append", metavar="IP[:PORT]",
                     type=_nameserver,
                     help="DNS server to ask (repeatable; '[v6]:port' for IPv6 with a "
                          "port); default: the system's configuration")
    res.add_argument("--type", "-t", type=str.upper, choices=RECORD_TYPES, metavar="TYPE",
                     help="records of this type instead of addresses: "
                          + ", ".join(RECORD_TYPES))
    res.add_argument("--family", "-f", choices=("4", "6"),
                     help="only IPv4 (4) or only IPv6 (6) addresses")
    res.add_argument("--json", action="store_true",
                     help="one JSON object per name on standard output")
    res.add_argument("--timeout", type=_seconds, default=5.0, metavar="S",
                     help="give up on a name after S seconds (default 5)")
    res.add_argument("--concurrency", type=_positive_int, default=100, metavar="N",
                     help="lookups in flight at once (default 100)")

    demo = commands.add_parser(
        "demo", help="crawl a modelled network with three clients and compare",
        description="Start the field model on loopback: a DNS server that answers like a "
                    "datacenter's recursive resolver (long-tailed latency, lost answers, "
                    "SERVFAIL bursts, an outage) for thousands of generated names "
                    "(dual-stack, IPv4-only, black-holed IPv6, slow AAAA, TTLs from 0 to "
                    "300 s, NXDOMAIN) and HTTP servers behind them; crawl it for a few "
                    "seconds with aiohttp and httpx through asyncdns_connect and with "
                    "aiohttp's stock AsyncResolver, and print one table. No network, no "
                    "setup: only loopback is used.")
    demo.add_argument("--json", action="store_true",
                      help="print the numbers as JSON on standard output")
    demo.add_argument("--hosts", type=_positive_int, default=None, metavar="N",
                      help="host names in the zone (default 20000, 8000 with --quick)")
    demo.add_argument("--quick", action="store_true",
                      help="a shorter run (about 10 s) with the same kinds of hosts")
    demo.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    return parser
