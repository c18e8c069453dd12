"""Canonical msgpack: the one byte form an event has, so its id is reproducible anywhere.

Canonical here means: maps with their keys sorted, arrays for every sequence, the shortest
integer form (msgpack's own rule), strings as str and bytes as bin. Decoding yields tuples,
not lists, so a decoded body compares equal to the frozen dataclass that wrote it.

Decoding is bounded, because what is decoded comes from elsewhere (a peer, a file, a client,
or a log that holds what they sent): each value msgpack builds costs Python tens of bytes,
whatever few bytes it took on the wire, so a megabyte of empty maps would be seventy of
memory. Data of more than :data:`SCAN_ABOVE` bytes is counted before it is decoded, and
refused if it holds more than ``most`` values; smaller data can cost no more than a few tens
of times its size. Every decode of such bytes in this project goes through :func:`unpack`
(or :func:`bounded_unpacker` for a stream).
"""

from __future__ import annotations

from struct import Struct
from struct import error as StructError
from typing import Any, BinaryIO, Callable

import msgpack

from events.errors import CodecError

# Data longer than this is counted before it is decoded. The indexer's batches of a thousand
# entries are shorter, so the log's common events are decoded at full speed.
SCAN_ABOVE = 256 << 10
# Values (every scalar, array and map) one event may hold: ten thousand entries of ten
# fields (the most a batch may hold, ``events.domain.entries.BATCH_MAX``) fit well within.
EVENT_VALUES = 1 << 18

_U8 = Struct(">B").unpack_from
_U16 = Struct(">H").unpack_from
_U32 = Struct(">I").unpack_from
# Heads of a fixed size: the bytes past the type byte (numbers, fixext).
_FIXED = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8, 0xCA: 4}
_FIXED |= {0xCB: 8, 0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17}
# Heads followed by a length, then that many bytes (bin, str, ext: the latter a type byte
# more): how the length is read, and the bytes of the head.
_SIZED = {0xC4: (_U8, 2), 0xC5: (_U16, 3), 0xC6: (_U32, 5)}
_SIZED |= {0xD9: (_U8, 2), 0xDA: (_U16, 3), 0xDB: (_U32, 5)}
_SIZED |= {0xC7: (_U8, 3), 0xC8: (_U16, 4), 0xC9: (_U32, 6)}
# Arrays and maps of a 16 or 32-bit length: how it is read, the bytes of the head, and the
# values per item.
_COUNTED = {0xDC: (_U16, 3, 1), 0xDD: (_U32, 5, 1), 0xDE: (_U16, 3, 2), 0xDF: (_U32, 5, 2)}
# What msgpack raises on data it cannot decode, or that passes a limit it was given.
_REFUSED = (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError)


def values_in(data: bytes, most: int) -> int:
    """How many values ``data`` holds (its first msgpack value and all inside it), counted
    no further than ``most + 1``; nothing is decoded. What is malformed is left for the
    decoder to refuse."""
    end = len(data)
    at = 0
    pending = 1
    seen = 0
    try:
        while pending and seen <= most and at < end:
            head = data[at]
            pending -= 1
            seen += 1
            if head <= 0x7F or head >= 0xE0 or 0xC0 <= head <= 0xC3:
                at += 1
            elif head <= 0x8F:
                pending += 2 * (head & 0x0F)
                at += 1
            elif head <= 0x9F:
                pending += head & 0x0F
                at += 1
            elif head <= 0xBF:
                at += 1 + (head & 0x1F)
            elif head in _FIXED:
                at += 1 + _FIXED[head]
            elif head in _SIZED:
                read, size = _SIZED[head]
                at += size + read(data, at + 1)[0]
            else:
                read, size, per = _COUNTED[head]
                pending += per * read(data, at + 1)[0]
                at += size
    except (IndexError, KeyError, StructError):
        pass  # truncated, or not msgpack: the decoder refuses it, saying why
    return seen


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


def unpack(
    data: bytes,
    *,
    most: int = EVENT_VALUES,
    use_list: bool = False,
    ext_hook: Callable[[int, bytes], Any] = msgpack.ExtType,
    unicode_errors: str = "strict",
    refusal: str = "not a msgpack value",
) -> Any:
    """Decode msgpack from outside, holding at most ``most`` values; anything else is a
    :class:`CodecError` that starts with ``refusal``."""
    size = len(data)
    # Every value takes a byte at least: data no longer than ``most`` needs no counting.
    if size > SCAN_ABOVE and size > most and values_in(data, most) > most:
        raise CodecError(f"{refusal}: it holds more than {most:,} values")
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            use_list=use_list,
            strict_map_key=False,
            max_array_len=most,
            max_map_len=most,
            ext_hook=ext_hook,
            unicode_errors=unicode_errors,
        )
    except _REFUSED as exc:
        raise CodecError(f"{refusal}: {exc}") from exc


class _Budget:
    """Values a stream's next item may still build: arrays and maps count as they close."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.left = most

    def spend(self, container: Any) -> Any:
        self.left -= 1 + len(container) * (2 if type(container) is dict else 1)
        if self.left < 0:
            raise ValueError(f"an item of more than {self.most:,} values")
        return container


class BoundedUnpacker:
    """Items of a msgpack stream (an export file), each holding at most ``most`` values.

    A stream cannot be counted ahead: instead no array or map may hold more than ``width``
    items, and each one counts as it is closed. What is not counted yet lies in the arrays
    still open, fewer than msgpack's nesting limit of ``width`` each: a bounded amount."""

    def __init__(self, stream: BinaryIO, most: int, width: int, buffer: int) -> None:
        self._budget = _Budget(most)
        self._unpacker = msgpack.Unpacker(
            stream,
            raw=False,
            use_list=False,
            max_buffer_size=buffer,
            max_array_len=width,
            max_map_len=width,
            list_hook=self._budget.spend,
            object_hook=self._budget.spend,
        )

    def __next__(self) -> Any:
        """The next item; :class:`CodecError` if it is malformed or holds too much."""
        self._budget.left = self._budget.most
        try:
            return next(self._unpacker)
        except _REFUSED as exc:
            raise CodecError(str(exc)) from exc
