"""An asyncio loop in a daemon thread, shared by the sync httpx transports of a process.

Hand-written: neither httpx nor anyio offers a shared, reference-counted
background loop that a forked child can restart.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

_T = TypeVar("_T")


class LoopThread:
    """An asyncio loop in a daemon thread, for the sync transports of a process.

    Started by the first ``acquire()``, stopped by the last ``release()``; a
    forked child starts from no references and no thread (threads do not
    survive ``fork()``), so holders re-acquire there. One
    loop for all sync transports, so they can share one Resolver, which is
    bound to one loop.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._refs = 0
        self._pid = os.getpid()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        with self._lock:
            self._forget_parent()
            self._refs += 1
            if self._loop is None:
                self._start()

    def release(self) -> None:
        with self._lock:
            self._forget_parent()
            self._refs = max(0, self._refs - 1)
            if self._refs > 0 or self._loop is None:
                return
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            # Under the lock: work run() submitted is queued before the stop, so it
            # starts, is cancelled by _serve, and its caller gets an error, not a hang.
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the loop and wait for it; a socket it returns late is closed."""
        with self._lock:
            self._forget_parent()
            loop = self._loop
            if loop is None:
                coro.close()
                raise RuntimeError("the transport is closed (its event-loop thread is stopped)")
            if self._thread is threading.current_thread():
                coro.close()
                raise RuntimeError("a sync transport cannot be used from its own loop thread")
            future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result()
        except BaseException:
            # KeyboardInterrupt and the like: stop the work, and close a socket
            # that was connected just as we gave up waiting.
            future.cancel()
            future.add_done_callback(_close_result)
            raise

    def _forget_parent(self) -> None:
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._refs = 0
            self._loop = self._thread = None

    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=_serve, args=(loop,), name=self._name, daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
        # As asyncio.run() does: let what is left (a prefetch, a user's Resolver
        # still bound here) end cleanly rather than be destroyed pending.
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


def _close_result(future: concurrent.futures.Future[Any]) -> None:
    if future.cancelled() or future.exception() is not None:
        return
    result = future.result()
    if isinstance(result, socket.socket):
        with contextlib.suppress(OSError):
            result.close()
