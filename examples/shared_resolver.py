"""One Resolver behind both aiohttp and httpx: one cache, one lookup per name.

    python examples/shared_resolver.py [URL ...]

With no URL it serves one name on loopback (its own DNS and web servers). With
URLs, names resolve through ``ASYNCDNS_NAMESERVER`` (``IP[:PORT]``) if set,
else the system's. Each URL is fetched by aiohttp, then by httpx; the second
client finds the name in the shared cache, so DNS sees one lookup per name.

(Plugins and transports made without a resolver share the event loop's
default Resolver the same way; pass your own to choose its settings.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

import aiohttp
import httpx

from asyncdns_connect import Resolver
from asyncdns_connect.aiohttp import connector
from asyncdns_connect.httpx import AsyncResolverTransport


async def fetch_with_both(urls: list[str], resolver: Resolver) -> None:
    async with aiohttp.ClientSession(connector=connector(resolver)) as session:
        for url in urls:
            async with session.get(url) as resp:
                print(f"aiohttp: {resp.status} {url}")
    after_aiohttp = resolver.stats()

    async with httpx.AsyncClient(transport=AsyncResolverTransport(resolver)) as client:
        for url in urls:
            resp = await client.get(url)
            print(f"httpx:   {resp.status_code} {url}")
    stats = resolver.stats()

    print(f"lookups sent to DNS: aiohttp {after_aiohttp.misses}, "
          f"httpx {stats.misses - after_aiohttp.misses}; "
          f"answered from the shared cache: httpx {stats.hits - after_aiohttp.hits}")
    print(f"queries sent: {stats.queries} (A and AAAA per name looked up)")


async def main(urls: list[str]) -> None:
    nameserver = os.environ.get("ASYNCDNS_NAMESERVER")
    net = None
    async with contextlib.AsyncExitStack() as stack:
        if not urls:
            from _loopback import loopback

            net = await stack.enter_async_context(loopback(["app.shared.test"]))
            nameserver, urls = net.nameserver, [net.url("app.shared.test")]
        async with Resolver(nameservers=[nameserver] if nameserver else None) as resolver:
            await fetch_with_both(urls, resolver)
        if net is not None:
            print(f"queries the DNS server received: {net.dns.count()}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
