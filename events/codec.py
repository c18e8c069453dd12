"""Canonical msgpack: the one byte form an event has, so its id is reproducible anywhere.

Canonical here means: maps with their keys sorted, arrays for every sequence, the shortest
integer form (msgpack's own rule), strings as str and bytes as bin. Decoding yields tuples,
not lists, so a decoded body compares equal to the frozen dataclass that wrote it.
"""

from __future__ import annotations

from typing import Any

import msgpack

from events.errors import CodecError


def canonical(value: Any) -> Any:
    """Return ``value`` with every map's keys sorted, recursively."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def pack(value: Any) -> bytes:
    """Encode ``value`` canonically."""
    return msgpack.packb(canonical(value), use_bin_type=True)


def unpack(data: bytes) -> Any:
    """Decode bytes written by :func:`pack` (or by any canonical writer)."""
    try:
        return msgpack.unpackb(data, raw=False, use_list=False, strict_map_key=False)
    except (
        ValueError,
        TypeError,
        msgpack.ExtraData,
        msgpack.FormatError,
        msgpack.StackError,
    ) as exc:
        raise CodecError(f"not a msgpack value: {exc}") from exc
