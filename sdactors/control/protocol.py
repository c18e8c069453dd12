"""The control socket's wire form: length-prefixed msgpack frames.

A client sends one request, ``{"id", "op", "args"}``; the node answers with any number of
``{"id", "progress"}`` frames (a job's progress, for a client that waits on it) and then one
``{"id", "result"}`` or ``{"id", "error": {"kind", "message"}}``. Kept to the standard library
and msgpack: the client side of every ``sd`` command imports this, and must start fast.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack

HEADER = struct.Struct(">I")
# A frame larger than this is a broken or hostile peer, not a result.
MAX_FRAME = 256 << 20
SOCKET_NAME = "node.sock"


class ProtocolError(Exception):
    """A frame that is not one: too long, or not a msgpack map."""


def frame(message: dict[str, Any]) -> bytes:
    body = msgpack.packb(message, use_bin_type=True)
    return HEADER.pack(len(body)) + body


def length_of(header: bytes) -> int:
    (length,) = HEADER.unpack(header)
    if length > MAX_FRAME:
        raise ProtocolError(f"a frame of {length} bytes is more than {MAX_FRAME}")
    return length


def message_of(body: bytes) -> dict[str, Any]:
    try:
        message = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError) as exc:
        raise ProtocolError(f"not a msgpack frame: {exc}") from exc
    if type(message) is not dict:
        raise ProtocolError("a frame must be a map")
    return message
