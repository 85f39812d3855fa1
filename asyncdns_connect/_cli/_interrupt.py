"""Ctrl-C for the commands: one behaviour on Python 3.10 to 3.13.

3.10's ``asyncio.run`` has no SIGINT handling (``KeyboardInterrupt`` is raised
wherever the loop happens to be, leaving futures nobody retrieves), and 3.11's
cancels the main task in a way an awaited task that finishes anyway can swallow.
Here the loop itself handles SIGINT: it cancels the command's task, which cleans
up through its ``async with`` blocks, and ends as ``KeyboardInterrupt``.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["interruptible"]

T = TypeVar("T")


async def interruptible(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro``; SIGINT cancels it and ends as ``KeyboardInterrupt``."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    interrupted = False

    def on_sigint() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
        return await coro
    try:
        return await coro
    except asyncio.CancelledError:
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGINT)
