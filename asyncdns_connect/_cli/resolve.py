"""``asyncdns-connect resolve``: the addresses of names, or their records of one type.

Addresses come from ``Resolver.resolve`` in connection order with the TTL the
cache gave them; ``--type`` asks ``Resolver.query_dns`` instead. ``-`` among the
names reads more names from standard input for bulk runs: at most
``--concurrency`` lookups at once, results in input order, a progress bar on a
terminal and a closing summary on standard error.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import ipaddress
import json
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pycares
import pycares.errno as ares_errno

from .._errors import DNSError, DNSTimeoutError
from .._names import normalize_host
from .._resolver import Resolver
from .._types import Address
from ._args import UsageError, describe
from ._interrupt import interruptible
from ._output import Bar
from ._records import record_json, record_text

__all__ = ["run"]

_MAX_CNAMES = 16  # as the resolver
_FAMILIES = {None: socket.AF_UNSPEC, "4": socket.AF_INET, "6": socket.AF_INET6}
# Short names for the error kinds in the summary.
_KINDS = {
    "NameNotFoundError": "NXDOMAIN", "NoAddressError": "NODATA",
    "ServerFailureError": "SERVFAIL", "DNSTimeoutError": "timeout",
    "RefusedError": "REFUSED", "InvalidHostError": "invalid name",
    "AddressPolicyError": "refused by policy", "ResolverClosedError": "closed",
}


@dataclass
class Outcome:
    """What one name gave: addresses, records, or an error."""

    name: str
    addresses: Sequence[Address] = ()
    records: list[Any] = field(default_factory=list)
    error: Exception | None = None
    cnames: list[Any] = field(default_factory=list)


def error_kind(exc: BaseException) -> str:
    # ServerFailureError covers a server that cannot be reached too: count it apart.
    if isinstance(exc, DNSError) and exc.status == ares_errno.ARES_ECONNREFUSED:
        return "unreachable"
    return _KINDS.get(type(exc).__name__, type(exc).__name__)


def unroutable(nameservers: Sequence[str]) -> list[str]:
    """The servers this host has no route to, each with the reason.

    c-ares reports such a server as a timeout at once; a UDP ``connect()`` (which
    sends nothing) tells the user the real cause before any lookup.
    """
    bad = []
    for text in nameservers:
        host, port = _split_server(text)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect((host, port))
        except OSError as exc:
            bad.append(f"{text} ({exc.strerror or exc})")
    return bad


def _split_server(text: str) -> tuple[str, int]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest else 53
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, 53


def make_resolver(nameservers: Sequence[str] | None) -> Resolver:
    try:
        return Resolver(nameservers=list(nameservers) if nameservers else None)
    except ValueError as exc:
        raise UsageError(f"invalid --nameserver: {describe(exc)}") from None


def read_names(args: Sequence[str]) -> list[str]:
    """The names to look up: ``-`` expands to the lines of standard input."""
    names: list[str] = []
    for arg in args:
        if arg != "-":
            names.append(arg)
            continue
        for line in sys.stdin:
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line)
    return names


async def _lookup(resolver: Resolver, name: str, args: argparse.Namespace) -> Outcome:
    try:
        if args.type is None:
            coro: Any = resolver.resolve(name, _FAMILIES[args.family])
        else:
            query = name
            if args.type == "PTR":
                with contextlib.suppress(ValueError):  # an address means its reverse name
                    query = ipaddress.ip_address(name).reverse_pointer
            normalize_host(query)  # a bad name fails here, before any query
            coro = resolver.query_dns(query, args.type)
        try:
            result = await asyncio.wait_for(coro, args.timeout)
        except asyncio.TimeoutError:
            raise DNSTimeoutError.for_host(
                name, f"no answer within {args.timeout:g} s (timeout)") from None
    except (DNSError, OSError, ValueError) as exc:
        return Outcome(name, error=exc)
    if args.type is None:
        cnames = [] if "-" in args.names else await _cname_chain(resolver, name)
        return Outcome(name, addresses=result, cnames=cnames)
    return Outcome(name, records=list(result.answer))


async def _cname_chain(resolver: Resolver, name: str) -> list[Any]:
    """The CNAME records from ``name`` on, so a person sees where it led.

    ``Resolver.resolve`` follows CNAMEs without saying so. Asked only for names on
    the command line (one query per step, mostly from c-ares's cache), never in
    bulk runs, and best effort: an error just ends the chain.
    """
    chain: list[Any] = []
    current = name
    for _ in range(_MAX_CNAMES):
        try:
            result = await resolver.query_dns(current, "CNAME")
        except (DNSError, OSError, ValueError):
            break
        step = [r for r in result.answer if r.type == pycares.QUERY_TYPE_CNAME
                and r.name.rstrip(".").lower() == current.rstrip(".").lower()]
        if not step:
            break
        chain.append(step[0])
        current = step[0].data.cname
    return chain


def _json_line(out: Outcome, args: argparse.Namespace) -> str:
    obj: dict[str, Any] = {"name": out.name}
    if out.error is not None:
        obj["error"] = {"kind": error_kind(out.error), "type": type(out.error).__name__,
                        "message": describe(out.error)}
    elif args.type is None:
        if out.cnames:
            obj["cname"] = [r.data.cname for r in out.cnames]
        obj["addresses"] = [{"address": a.host, "family": 6 if a.family == socket.AF_INET6
                             else 4, "ttl": a.ttl} for a in out.addresses]
    else:
        obj["type"] = args.type
        obj["records"] = [record_json(r) for r in out.records]
    return json.dumps(obj)


def _text_lines(out: Outcome) -> list[str]:
    if out.records:
        return [record_text(r) for r in out.records]
    addresses = [f"{out.name}\t{a.ttl}\tIN\t{'AAAA' if a.family == socket.AF_INET6 else 'A'}"
                 f"\t{a.host}" for a in out.addresses]
    return [record_text(r) for r in out.cnames] + addresses


class _Report:
    """Prints outcomes as they come, in input order, and keeps the tally."""

    def __init__(self, args: argparse.Namespace, bar: Bar) -> None:
        self.args = args
        self.bar = bar
        self.ok = 0
        self.failed: collections.Counter[str] = collections.Counter()

    def emit(self, out: Outcome) -> None:
        if out.error is not None:
            self.failed[error_kind(out.error)] += 1
            self.bar.log(f"error: {describe(out.error)}")
        else:
            self.ok += 1
        if self.args.json:
            self.bar.log(_json_line(out, self.args), file=sys.stdout)
        else:
            for line in _text_lines(out):
                self.bar.log(line, file=sys.stdout)
        self.bar.advance()


async def _run_all(resolver: Resolver, names: list[str], args: argparse.Namespace,
                   report: _Report) -> None:
    # A window of tasks awaited in order: bounded concurrency, ordered output.
    window: collections.deque[asyncio.Task[Outcome]] = collections.deque()
    try:
        for name in names:
            if len(window) >= args.concurrency:
                report.emit(await _next(window))
            window.append(asyncio.ensure_future(_lookup(resolver, name, args)))
        while window:
            report.emit(await _next(window))
    finally:
        for task in window:
            task.cancel()


async def _next(window: collections.deque[asyncio.Task[Outcome]]) -> Outcome:
    # Shielded, so that cancelling this task (Ctrl-C) always reaches it: awaited
    # bare, the cancellation would go into the lookup, which may finish anyway
    # and swallow it (seen on 3.11: bulk runs that ignored Ctrl-C).
    return await asyncio.shield(window.popleft())


def _summary(names: int, seconds: float, report: _Report, resolver: Resolver,
             as_json: bool) -> None:
    stats = resolver.stats()
    failed = sum(report.failed.values())
    rate = names / seconds if seconds > 0 else 0.0
    lookups = stats.hits + stats.misses + stats.stale
    if as_json:
        print(json.dumps({"summary": {
            "names": names, "ok": report.ok, "failed": failed, "seconds": round(seconds, 3),
            "names_per_s": round(rate, 1), "cache_hits": stats.hits,
            "cache_misses": stats.misses, "stale": stats.stale, "merged": stats.merged,
            "queries": stats.queries, "errors": dict(report.failed)}}), flush=True)
    lines = [f"resolved {names} name{'' if names == 1 else 's'} in {seconds:.2f} s "
             f"({rate:,.0f} names/s): "
             f"{report.ok} ok, {failed} failed"]
    if lookups:
        lines.append(f"cache: {stats.hits} hits of {lookups} lookups "
                     f"({100 * stats.hits / lookups:.0f}%), {stats.merged} merged in flight, "
                     f"{stats.queries} DNS queries sent")
    if report.failed:
        lines.append("errors: " + ", ".join(f"{kind} {n}"
                                             for kind, n in report.failed.most_common()))
    for line in lines:
        print(line, file=sys.stderr, flush=True)


def main(args: argparse.Namespace) -> int:
    """The ``resolve`` command; returns the exit status.

    Names are read from standard input before the event loop starts, so Ctrl-C
    while typing them interrupts at once (Python's own handler is still in place).
    """
    if args.type is not None and args.family is not None:
        raise UsageError("--family applies to addresses, not to --type queries")
    if args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
    if args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    names = read_names(args.names)
    if not names:
        raise UsageError("no names to resolve")
    if args.nameserver:
        bad = unroutable(args.nameserver)
        if len(bad) == len(args.nameserver):
            raise OSError(f"no route to any --nameserver: {', '.join(bad)}")
    return asyncio.run(interruptible(run(args, names)))


async def run(args: argparse.Namespace, names: list[str]) -> int:
    """Resolve ``names`` as ``args`` say; returns the exit status."""
    bulk = "-" in args.names
    resolver = make_resolver(args.nameserver)
    started = time.monotonic()
    async with resolver:
        with Bar(enabled=None if bulk else False) as bar:
            bar.start("resolving", total=len(names))
            report = _Report(args, bar)
            await _run_all(resolver, names, args, report)
        if bulk:
            _summary(len(names), time.monotonic() - started, report, resolver, args.json)
    return 1 if report.failed else 0
