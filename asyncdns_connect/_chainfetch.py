"""Interim ``Fetcher`` on the current engine: query, follow CNAMEs, find the SOA.

Bridges ``Engine.query`` + ``Chain`` + ``SoaFinder`` to the ``Fetcher`` protocol
until the engine implements ``Engine.fetch`` itself (issue 10); then the
Resolver uses the engine directly and this module goes.
"""

from __future__ import annotations

import asyncio

import pycares

from ._answers import BadAnswer, Chain, SoaFinder
from ._engine import Engine, QueryFailed
from ._errors import DNSError
from ._fetcher import NO_SOA, Reply

__all__ = ["ChainFetcher"]

_QTYPE = {2: pycares.QUERY_TYPE_A, 10: pycares.QUERY_TYPE_AAAA}
_E = pycares.errno


class ChainFetcher:
    """Fetcher over an Engine (see the module docstring)."""

    def __init__(self, engine: Engine, search: bool) -> None:
        self._engine = engine
        self._search = search
        self._soa = SoaFinder(engine)

    def fetch(self, name: str, family: int) -> asyncio.Future[Reply]:
        return asyncio.ensure_future(self._fetch(name, family), loop=self._engine.loop)

    async def _fetch(self, name: str, family: int) -> Reply:
        qtype = _QTYPE[family]
        try:
            chain = Chain(name, qtype)
            query_name: str | None = name
            search = self._search
            while query_name is not None:
                result = await self._engine.query(query_name, qtype, search=search)
                # A server may cut a long CNAME chain short: follow it on from its end.
                query_name = chain.follow(result, query_name)
                search = False
        except QueryFailed as exc:
            return await self._negative(name, exc.status)
        except BadAnswer as exc:
            return Reply(_E.ARES_EBADRESP, reason=str(exc))
        except DNSError as exc:  # the engine closed under us
            return Reply(exc.status, reason=exc.reason)
        if not chain.addrs:
            return await self._negative(name, _E.ARES_ENODATA)
        return Reply(0, tuple(chain.addrs), int(chain.ttl or 0))

    async def _negative(self, name: str, status: int) -> Reply:
        if status not in (_E.ARES_ENOTFOUND, _E.ARES_ENODATA):
            return Reply(status)
        ttl = await self._soa.negative_ttl(name, status == _E.ARES_ENOTFOUND)
        return Reply(status, ttl=NO_SOA if ttl is None else int(ttl))
