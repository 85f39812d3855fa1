"""Keep the C strings pycares hands to c-ares alive while a channel is built.

pycares 5's ``Channel()`` stores ``lookups`` and ``resolvconf_path`` as
``options.x = ffi.new("char[]", ...)``: cffi does not keep a buffer alive through a
struct field, so it may be freed (and reused) before ``ares_init_options`` reads it.
Measured: 16 channels in 2,000 read another resolv.conf than the one named. Until
pycares keeps them, ``ffi.new`` is wrapped for the duration of the constructor so
every buffer it makes outlives the call. Hand-written: a workaround for one bug.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pycares

__all__ = ["keep_channel_buffers"]

_lock = threading.Lock()


class _KeepingFFI:
    """pycares's ffi object, except that ``new`` remembers what it made."""

    def __init__(self, ffi: Any) -> None:
        self._ffi = ffi
        self.kept: list[Any] = []

    def new(self, *args: Any, **kwargs: Any) -> Any:
        made = self._ffi.new(*args, **kwargs)
        self.kept.append(made)
        return made

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ffi, name)


@contextlib.contextmanager
def keep_channel_buffers() -> Iterator[None]:
    """Within this block, buffers pycares allocates live until the block ends."""
    with _lock:
        original = getattr(pycares, "_ffi", None)
        if original is None:  # a pycares built otherwise: nothing to guard
            yield
            return
        keeper = _KeepingFFI(original)
        pycares._ffi = keeper  # type: ignore[attr-defined]
        try:
            yield
        finally:
            pycares._ffi = original  # type: ignore[attr-defined]
            keeper.kept.clear()
