"""Scrape many hosts with aiohttp: bounded concurrency, one shared Resolver.

    python examples/aiohttp_scraper.py [URL ...]

With no URLs it crawls 40 made-up sites (and one name that does not exist) on
loopback, with its own DNS and web servers, so it runs with no network. With
URLs, names resolve through the DNS server in ``ASYNCDNS_NAMESERVER``
(``IP[:PORT]``) if set, else the system's.

One Resolver serves every connection: each host is looked up once (concurrent
lookups of a name share one query) and then answered from the cache for as
long as its TTL allows.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import sys
import time
from urllib.parse import urlsplit

import aiohttp

from asyncdns_connect import Resolver
from asyncdns_connect.aiohttp import connector

CONCURRENCY = 10


async def scrape(urls: list[str], resolver: Resolver) -> None:
    limit = asyncio.Semaphore(CONCURRENCY)
    failures: collections.Counter[str] = collections.Counter()
    fetched = 0
    started = time.monotonic()

    async def fetch(session: aiohttp.ClientSession, url: str) -> None:
        nonlocal fetched
        async with limit:
            try:
                async with session.get(url) as resp:
                    resp.raise_for_status()
                    await resp.read()
                    fetched += 1
            except aiohttp.ClientConnectorError as exc:
                # A DNS failure arrives as ClientConnectorDNSError; its os_error is
                # our DNSError, whose message names the host and the reason.
                failures[exc.os_error.strerror or str(exc)] += 1
            except aiohttp.ClientError as exc:
                failures[f"{url}: {exc}"] += 1

    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector(resolver), timeout=timeout) as session:
        await asyncio.gather(*(fetch(session, url) for url in urls))

    elapsed = time.monotonic() - started
    hosts = {urlsplit(u).hostname for u in urls}
    print(f"fetched {fetched} of {len(urls)} pages from {len(hosts)} hosts in "
          f"{elapsed:.2f} s, {CONCURRENCY} at a time")
    for reason, count in failures.most_common():
        print(f"failed x{count}: {reason}")
    stats = resolver.stats()
    lookups = stats.hits + stats.misses + stats.stale
    print(f"DNS: {stats.queries} queries for {len(hosts)} hosts; {stats.hits} of "
          f"{lookups} lookups answered from the cache")


async def main(urls: list[str]) -> None:
    nameserver = os.environ.get("ASYNCDNS_NAMESERVER")
    async with contextlib.AsyncExitStack() as stack:
        if not urls:
            from _loopback import loopback

            names = [f"shop-{i:02d}.scraper.test" for i in range(40)]
            net = await stack.enter_async_context(loopback(names))
            nameserver = net.nameserver
            urls = [net.url(name, f"/page/{page}") for name in names for page in range(3)]
            urls += [net.url("gone.scraper.test")]
        resolver = Resolver(nameservers=[nameserver] if nameserver else None)
        async with resolver:
            await scrape(urls, resolver)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
