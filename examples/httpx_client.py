"""httpx over HTTP/2 and TLS, with names resolved by asyncdns_connect.

    python examples/httpx_client.py [URL ...]

With no URLs it starts an HTTPS server offering HTTP/2 on loopback, with a
certificate from a throwaway CA, its own DNS server, and fetches a few pages
from two names. With URLs, names resolve through ``ASYNCDNS_NAMESERVER``
(``IP[:PORT]``) if set, else the system's; certificates are checked against the
system's trust store (or ``SSL_CERT_FILE``).

httpx ignores a client's ``http2``/``verify``/``limits`` once it is given a
transport, so they go to ``AsyncResolverTransport``. TLS still checks the
certificate against the host name in the URL, not the address connected to.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import sys

import httpx

from asyncdns_connect import Resolver
from asyncdns_connect.httpx import AsyncResolverTransport


async def fetch_all(urls: list[str], resolver: Resolver,
                    verify: ssl.SSLContext | bool) -> int:
    transport = AsyncResolverTransport(resolver, http2=True, verify=verify)
    failed = 0
    async with httpx.AsyncClient(transport=transport, timeout=10) as client:
        responses = await asyncio.gather(*(client.get(url) for url in urls),
                                         return_exceptions=True)
        for url, resp in zip(urls, responses, strict=True):
            if isinstance(resp, httpx.HTTPError):
                failed += 1
                print(f"{url}: failed: {resp}")
            elif isinstance(resp, BaseException):
                raise resp
            else:
                print(f"{url}: {resp.status_code} {resp.http_version}: {resp.text.strip()}")
    stats = resolver.stats()
    print(f"DNS: {stats.queries} queries, {stats.hits} answers from the cache")
    return failed


async def main(urls: list[str]) -> int:
    nameserver = os.environ.get("ASYNCDNS_NAMESERVER")
    verify: ssl.SSLContext | bool = True
    async with contextlib.AsyncExitStack() as stack:
        if not urls:
            from _loopback import loopback

            names = ["api.shop.test", "static.shop.test"]
            net = await stack.enter_async_context(loopback(names, tls=True))
            assert net.ssl_context is not None
            nameserver, verify = net.nameserver, net.ssl_context
            urls = [net.url(name, path) for name in names for path in ("/", "/a", "/b")]
        async with Resolver(nameservers=[nameserver] if nameserver else None) as resolver:
            return await fetch_all(urls, resolver, verify)


if __name__ == "__main__":
    sys.exit(1 if asyncio.run(main(sys.argv[1:])) else 0)
