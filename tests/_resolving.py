"""Helpers the resolver test modules share: a Resolver on a test server, and a
fixture that fails a test whose event loop logged an error."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest

from asyncdns_connect import Resolver


def make(server: Any, **kwargs: Any) -> Resolver:
    """A resolver that asks only ``server`` and ignores /etc/hosts unless told.

    Timeouts are explicit: c-ares otherwise takes them from /etc/resolv.conf (the
    jail's says ``timeout:1 attempts:1``).
    """
    kwargs.setdefault("hosts_file", False)
    kwargs.setdefault("timeout", 2.0)
    kwargs.setdefault("tries", 2)
    return Resolver(nameservers=[server.address], **kwargs)


@pytest.fixture(autouse=True)
async def no_loop_errors() -> AsyncIterator[None]:
    """Fail a test whose loop logged an error ("exception was never retrieved"...)."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    yield
    gc.collect()
    await asyncio.sleep(0)
    loop.set_exception_handler(None)
    assert not errors, errors
