"""The control socket's wire form: length-prefixed msgpack frames.

A client sends one request, ``{"id", "op", "args"}``; the node answers with any number of
``{"id", "progress"}`` frames (a job's progress, for a client that waits on it) and then one
``{"id", "result"}`` or ``{"id", "error": {"kind", "message"}}``. Kept to the standard library,
msgpack and the log's codec: the client side of every ``sd`` command imports this, and must
start fast.

Numbers are Python's, of any size: a total of file sizes may pass 2**64, which msgpack's own
integers do not hold; such an integer travels as an extension value (:data:`WIDE_INT`). Text
may hold the lone surrogates a name that is not UTF-8 decodes to (``sdactors.runtime.paths.text``):
they travel as the bytes they stand for.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack

from events.codec import unpack
from events.errors import CodecError

HEADER = struct.Struct(">I")
# A frame larger than this is a broken or hostile peer, not a result.
MAX_FRAME = 256 << 20
# Values a request may hold: a command's arguments are a few paths and options.
REQUEST_VALUES = 1 << 20
SOCKET_NAME = "node.sock"
# msgpack extension code of an integer past 64 bits: its bytes, big-endian, two's complement.
WIDE_INT = 1
# Bytes of the widest integer a frame carries (2**511: far past any sum of sizes).
WIDE_MOST = 64


class ProtocolError(Exception):
    """A frame that is not one: too long, or not a msgpack map."""


def _wide(value: Any) -> Any:
    if type(value) is int:
        width = value.bit_length() // 8 + 1
        if width <= WIDE_MOST:
            return msgpack.ExtType(WIDE_INT, value.to_bytes(width, "big", signed=True))
    raise TypeError(f"{type(value).__name__} {str(value)[:40]} cannot be sent")


def _ext(code: int, data: bytes) -> Any:
    if code != WIDE_INT or not 0 < len(data) <= WIDE_MOST:
        raise ValueError(f"an extension value of type {code} and {len(data)} bytes")
    return int.from_bytes(data, "big", signed=True)


def frame(message: dict[str, Any]) -> bytes:
    """A message's frame; ``TypeError``, ``ValueError`` or ``OverflowError`` if something in
    it cannot be sent."""
    body = msgpack.packb(
        message, use_bin_type=True, default=_wide, unicode_errors="surrogateescape"
    )
    return HEADER.pack(len(body)) + body


def length_of(header: bytes) -> int:
    (length,) = HEADER.unpack(header)
    if length > MAX_FRAME:
        raise ProtocolError(f"a frame of {length} bytes is more than {MAX_FRAME}")
    return length


def message_of(body: bytes, most: int = REQUEST_VALUES) -> dict[str, Any]:
    """A frame's message, holding at most ``most`` values (a reply of the node to its own
    user's command may hold as many as it likes: the client passes its frame's length)."""
    try:
        message = unpack(
            body, most=most, use_list=True, ext_hook=_ext, unicode_errors="surrogateescape"
        )
    except CodecError as exc:
        raise ProtocolError(f"not a msgpack frame: {exc}") from exc
    if type(message) is not dict:
        raise ProtocolError("a frame must be a map")
    return message
