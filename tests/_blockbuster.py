"""A pytest plugin: fail any test whose event loop runs a blocking call from our code.

``-p _blockbuster`` (with tests/ on the path) activates blockbuster around every
test: os.stat, file reads, blocking socket calls, time.sleep... made on the
event loop's thread from a frame of ``asyncdns_connect`` (its test DNS server
excepted) raise ``BlockingError``. aiohttp's own suite runs under blockbuster,
so a plugin that blocks fails their tests; tests/test_blockbuster.py runs the
resolver and adapter tests this way.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from blockbuster import BlockBuster, blockbuster_ctx


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[BlockBuster]:
    with blockbuster_ctx(["asyncdns_connect"],
                         excluded_modules=["asyncdns_connect.testing"]) as bb:
        yield bb
