"""An autouse fixture: fail any test whose event loop runs a blocking call from our code.

Imported by the resolver and adapter test modules (or ``-p _blockbuster`` for a
whole run, with tests/ on the path), it activates blockbuster around each test:
os.stat, file reads, blocking socket calls, time.sleep... made on the event
loop's thread from a frame of ``asyncdns_connect`` (its test DNS server
excepted) raise ``BlockingError``. aiohttp's own suite runs under blockbuster,
so a plugin that blocks fails their tests. ``@pytest.mark.no_blockbuster``
exempts a test whose subject is speed (blockbuster's checks slow every call).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from blockbuster import BlockBuster, blockbuster_ctx


@pytest.fixture(autouse=True)
def blockbuster(request: pytest.FixtureRequest) -> Iterator[BlockBuster | None]:
    if request.node.get_closest_marker("no_blockbuster") is not None:
        yield None
        return
    with blockbuster_ctx(["asyncdns_connect"],
                         excluded_modules=["asyncdns_connect.testing"]) as bb:
        yield bb
