"""Frames on an iroh stream: a 4-byte big-endian length, then one msgpack value.

Every protocol here speaks in frames, and every frame from a peer is bounded and decoded
strictly: a peer cannot make this node allocate without limit, and a malformed frame ends the
session with a :class:`ProtocolViolation`, never an exception from deep inside msgpack.
"""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

import msgpack

from events import codec
from events.errors import CodecError
from sdactors.runtime.errors import PeerGone, ProtocolViolation

HEADER = struct.Struct(">I")
# Larger than any batch a sender makes (a few MiB), small enough to hold in memory.
MAX_FRAME = 64 << 20
# Values one frame may hold: a frame of events holds three per event, and a sender's frame
# of a few MiB a few hundred thousand at most. Past it, a frame is refused before it is
# decoded (events.codec): a frame of 64 MiB of empty arrays would otherwise be gigabytes.
FRAME_VALUES = 1 << 20
# An opening frame is small: nothing bigger is read before the peer is known.
SMALL_FRAME = 64 << 10


def pack(value: Any) -> bytes:
    body = msgpack.packb(value, use_bin_type=True)
    return HEADER.pack(len(body)) + body


async def write_frame(send: Any, value: Any) -> int:
    """Write one frame; the bytes it took on the stream."""
    data = pack(value)
    try:
        await send.write_all(data)
    except Exception as exc:  # noqa: BLE001 - iroh's errors: the peer went away
        raise PeerGone(_why(exc)) from None
    return len(data)


async def read_frame(recv: Any, most: int = MAX_FRAME) -> tuple[Any, int]:
    """The next frame and its size on the stream; :class:`PeerGone` at the end."""
    try:
        head = await recv.read_exact(HEADER.size)
    except Exception as exc:  # noqa: BLE001 - the stream ended or was reset
        raise PeerGone(_why(exc)) from None
    (length,) = HEADER.unpack(head)
    if length > most:
        raise ProtocolViolation(f"a frame of {length} bytes (at most {most})")
    try:
        body = await recv.read_exact(length) if length else b""
    except Exception as exc:  # noqa: BLE001
        raise PeerGone(_why(exc)) from None
    return unpack(body), HEADER.size + length


def unpack(body: bytes) -> Any:
    try:
        return codec.unpack(body, most=FRAME_VALUES, use_list=True)
    except CodecError as exc:
        raise ProtocolViolation(f"a malformed frame ({str(exc)[:120]})") from None


def _why(exc: BaseException) -> str:
    message = getattr(exc, "debug_message", None)
    if callable(message):
        try:
            return str(message()).splitlines()[0][:200]
        except Exception:  # noqa: BLE001
            pass
    return f"{type(exc).__name__}: {exc}"[:200] or "the connection closed"


def why(exc: BaseException) -> str:
    """One line for an error out of iroh or a protocol, for status and logs."""
    return str(exc) if not getattr(exc, "debug_message", None) else _why(exc)


async def let_peer_close(conn: Any, within: float = 3.0) -> None:
    """Give the peer time to read our last frame: dropping a connection loses what it had
    not read yet."""
    try:
        await asyncio.wait_for(conn.closed(), within)
    except (Exception, asyncio.TimeoutError):  # noqa: BLE001 - it closed, or took too long
        pass


def iso(seconds: float) -> str:
    """A moment (seconds since the epoch) as status rows and tickets show it, in UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
