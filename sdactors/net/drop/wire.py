"""Spacedrop's protocol (``sd/drop/1``): what each side sends, and how what arrives is checked.

One QUIC stream per connection; control messages are frames (:mod:`sdactors.net.frames`),
file contents are raw bytes, as many as the receiver asked for:

1. sender: ``{v: 1, lib, name, files: [{name, size, blake3}], resume}``: ``lib`` is the
   library the sender offers in (or nil), ``resume`` the offer's id after a broken connection.
2. receiver: ``{pending: id}`` while its user decides (a sender not paired in the library),
   then ``{accepted: id}``, or ``{refused: reason}``.
3. per file not yet delivered: sender ``{file: i}``; receiver ``{from: offset}`` (what it
   already holds of it), ``{done: name}`` (delivered already) or ``{failed: reason}`` (no
   room for it); after ``from`` the sender sends the rest of the file's bytes, and the
   receiver answers ``{done: name}`` once it is checked and in place, or ``{failed:
   reason}``: then, or part way when its disk fills up (it stops the stream too).
4. sender: ``{end: true}``; the receiver closes the connection.

Everything a peer sends is bounded and checked before it is used, as in every protocol here.
"""

from __future__ import annotations

import asyncio
import struct
import time
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Awaitable

from sdactors.fileops.transfer import PARTIAL
from sdactors.net.drop.disk import NAME_MOST, Offered
from sdactors.net.frames import why
from sdactors.runtime.errors import PeerGone, ProtocolViolation
from sdactors.runtime.progress import ProgressChannels

ALPN_DROP = b"sd/drop/1"
VERSION = 1
OFFER_MOST = 4 << 20
ANSWER_MOST = 64 << 10
FILES_MOST = 10_000
# The most bytes a file, and a whole offer, may have: every count of a drop's bytes (sent,
# received, in all) then stays within 64 bits.
SIZE_MOST = 1 << 62
# An offer from a device not paired in the library waits this long for `sd drop accept`.
DECIDE_WAIT_S = 600.0
# A connection where nothing moves for this long is taken as broken.
STALL_S = 60.0
HELLO_S = 10.0
# Progress is reported at most this often.
PROGRESS_EVERY_S = 0.1
# A packed file's size; its blake3 (32 bytes) and its name follow.
_ENTRY = struct.Struct(">Q")


class OfferedFiles:
    """The files of an offer received, packed into one bytes object: an offer of 10,000
    files waiting for its user holds about its size on the wire, not 10,000 objects (and
    the memory their many small allocations keep from going back to the system)."""

    __slots__ = ("_packed", "_ends", "total")

    def __init__(self, files: Iterable[Offered]) -> None:
        packed = bytearray()
        ends = array("Q")
        total = 0
        for f in files:
            packed += _ENTRY.pack(f.size)
            packed += f.blake3
            packed += f.name
            ends.append(len(packed))
            total += f.size
        self._packed = bytes(packed)
        self._ends = ends
        self.total = total

    @property
    def held_bytes(self) -> int:
        """What it holds in memory, about."""
        return len(self._packed) + self._ends.itemsize * len(self._ends) + 200

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, i: int) -> Offered:
        end = self._ends[i]  # IndexError past the end, as a sequence should
        start = self._ends[i - 1] if i % len(self) else 0
        (size,) = _ENTRY.unpack_from(self._packed, start)
        digest_at = start + _ENTRY.size
        name_at = digest_at + 32
        return Offered(self._packed[name_at:end], size, self._packed[digest_at:name_at])

    def __iter__(self) -> Iterator[Offered]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OfferedFiles):
            return NotImplemented
        return self._packed == other._packed and self._ends == other._ends


@dataclass(frozen=True, slots=True)
class WireOffer:
    library: bytes | None
    sender: str
    files: OfferedFiles
    resume: str | None


def offer_frame(
    library: bytes | None, sender: str, files: list[Offered], resume: str | None
) -> dict[str, Any]:
    return {
        "v": VERSION,
        "lib": library,
        "name": sender,
        "files": [f.wire() for f in files],
        "resume": resume,
    }


def check_offer(value: Any) -> WireOffer:
    """An offer as the sender sent it, or ProtocolViolation: names are one path component
    each (nothing lands outside the inbox), sizes and hashes are what they say."""
    if type(value) is not dict or value.get("v") != VERSION:
        raise ProtocolViolation("a Spacedrop offer of another version, or not a map")
    library, sender, files = value.get("lib"), value.get("name"), value.get("files")
    resume = value.get("resume")
    if not (library is None or (type(library) is bytes and len(library) == 16)):
        raise ProtocolViolation("an offer whose library is not a library id")
    if type(sender) is not str or len(sender) > 256:
        raise ProtocolViolation("an offer without the sender's name")
    if not (resume is None or (type(resume) is str and 0 < len(resume) <= 32)):
        raise ProtocolViolation("an offer resuming something that is not an offer id")
    if type(files) is not list or not 0 < len(files) <= FILES_MOST:
        raise ProtocolViolation(f"an offer of no files, or more than {FILES_MOST:,}")
    checked = WireOffer(library, sender, OfferedFiles(_check_file(f) for f in files), resume)
    if checked.files.total > SIZE_MOST:
        raise ProtocolViolation(f"an offer of more than {SIZE_MOST:,} bytes in all")
    return checked


def _check_file(value: Any) -> Offered:
    if type(value) is not dict:
        raise ProtocolViolation("an offered file that is not a map")
    name, size, digest = value.get("name"), value.get("size"), value.get("blake3")
    if (
        type(name) is not bytes
        or not 0 < len(name) <= NAME_MOST
        or name in (b".", b"..")
        or b"/" in name
        or b"\0" in name
        or name.startswith(PARTIAL)
    ):
        raise ProtocolViolation(f"an offered file name that is not one plain name: {name!r:.80}")
    if type(size) is not int or not 0 <= size <= SIZE_MOST:
        raise ProtocolViolation("an offered file size out of range")
    if type(digest) is not bytes or len(digest) != 32:
        raise ProtocolViolation("an offered file without its blake3")
    return Offered(name, size, digest)


def one_of(value: Any, *keys: str) -> tuple[str, Any]:
    """The one expected key of a small answer map, and its value."""
    if type(value) is dict and len(value) == 1:
        key = next(iter(value))
        if key in keys:
            return key, value[key]
    raise ProtocolViolation(f"expected one of {', '.join(keys)}, got {str(value)[:80]}")


async def read_bytes(recv: Any, count: int) -> bytes:
    """Exactly ``count`` bytes of a file's contents; PeerGone if the stream breaks or stalls."""
    try:
        return await asyncio.wait_for(recv.read_exact(count), STALL_S)
    except asyncio.TimeoutError:
        raise PeerGone(f"nothing arrived for {STALL_S:.0f} s") from None
    except Exception as exc:  # noqa: BLE001 - iroh's errors: the stream broke
        raise PeerGone(why(exc)) from None


async def write_bytes(send: Any, data: bytes) -> None:
    try:
        await asyncio.wait_for(send.write_all(data), STALL_S)
    except asyncio.TimeoutError:
        raise PeerGone(f"the peer took nothing for {STALL_S:.0f} s") from None
    except Exception as exc:  # noqa: BLE001
        raise PeerGone(why(exc)) from None


async def settled(future: Awaitable[Any]) -> Any:
    """Await work running in a thread; if cancelled meanwhile, still wait for the thread to
    finish before going on (a write still in flight must not race the next session's)."""
    task = asyncio.ensure_future(future)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise


class Meter:
    """Progress for a waiting client, posted to its channel (plain records, never waiting)
    at most every PROGRESS_EVERY_S unless ``now``."""

    def __init__(self, channels: ProgressChannels, channel: str | None) -> None:
        self._channels = channels
        self._channel = channel
        self._last = 0.0

    def tell(self, info: dict[str, Any], now: bool = False) -> None:
        if self._channel is None:
            return
        at = time.monotonic()
        if now or at - self._last >= PROGRESS_EVERY_S:
            self._last = at
            self._channels.post(self._channel, info)
