"""A fix for the iroh binding's byte copy, kept in one place.

The generated binding lowers every ``bytes`` argument (each chunk written to a stream) by
copying it into a Rust buffer one byte at a time in Python: a few MB/s, whatever the network.
``install`` replaces that one method with a single ``memmove``; the buffer's growth and
bookkeeping (``_reserve``) are the binding's own.
"""

from __future__ import annotations

import ctypes
from typing import Any

_INSTALLED_MARK = "_sdactors_memmove"


def _write(self: Any, value: bytes | bytearray | memoryview) -> None:
    data = bytes(value)  # one copy into an immutable object whose address is stable
    n = len(data)
    with self._reserve(n):
        if n:
            ctypes.memmove(ctypes.addressof(self.rbuf.data.contents) + self.rbuf.len, data, n)


setattr(_write, _INSTALLED_MARK, True)


_stock: list[Any] = []


def install() -> None:
    """Replace the binding's byte-at-a-time copy (idempotent)."""
    from iroh import iroh_ffi

    builder = iroh_ffi._UniffiRustBufferBuilder
    if not getattr(builder.write, _INSTALLED_MARK, False):
        _stock.append(builder.write)
        builder.write = _write


def stock_write() -> Any:
    """The binding's own method, for a benchmark or test to compare with (after install)."""
    install()
    return _stock[0]


def installed() -> bool:
    from iroh import iroh_ffi

    return bool(getattr(iroh_ffi._UniffiRustBufferBuilder.write, _INSTALLED_MARK, False))
