"""Spacedrop, the receiving side: one offer from another device, across its connections.

An offer from a device paired (and not revoked) in the library it names is taken at once;
any other waits for this device's user (``sd drop accept ID`` or ``reject``). Each file is
written to a partial named by its blake3 in the library's inbox, so a broken connection
loses nothing: the sender dials again, offers again with the offer's id, and is told how much
of each file is here already. A file is checked whole, read back from the disk, before it
appears under its name.
"""

from __future__ import annotations

import asyncio
import errno
import secrets
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sdactors.fileops.transfer import CHUNK
from sdactors.net.drop.disk import (
    Offered,
    Writer,
    discard,
    held,
    inbox,
    partial_of,
    short_of_room,
)
from sdactors.net.drop.wire import (
    ANSWER_MOST,
    DECIDE_WAIT_S,
    HELLO_S,
    OFFER_MOST,
    STALL_S,
    OfferedFiles,
    WireOffer,
    check_offer,
    read_bytes,
    settled,
)
from sdactors.net.frames import iso, let_peer_close, read_frame, write_frame
from sdactors.runtime.errors import DropMismatch, PeerGone, ProtocolViolation
from sdactors.runtime.logs import get_logger
from sdactors.runtime.paths import show, text

if TYPE_CHECKING:
    from sdactors.library.handle import Library
    from sdactors.net.context import NetContext

log = get_logger(__name__)

# Why a drop failed when the disk filled up while a file arrived.
NO_SPACE = "no space left on the receiving device (what had arrived of the file was removed)"
# Stopping the stream of a file that cannot be written: the sender's next write fails.
STOP_NO_SPACE = 1
# Stopping the stream of an offer not read, and why.
STOP_UNREAD = 2
BUSY = "it is busy reading other offers: try again in a moment"
# States of an offer received; the first three are still open.
PENDING, ACCEPTED, RECEIVING = "pending", "accepted", "receiving"
INTERRUPTED, DONE, FAILED, REJECTED, EXPIRED = (
    "interrupted",
    "done",
    "failed",
    "rejected",
    "expired",
)


@dataclass
class Incoming:
    """An offer received: what ``sd drop list`` shows, and what a reconnecting sender
    resumes (by its id, from the same device, for the same files)."""

    id: str
    peer: bytes
    sender: str
    offered_library: str | None
    files: OfferedFiles
    state: str
    library: str | None = None
    reason: str | None = None
    placed: dict[int, bytes] = field(default_factory=dict)
    received: int = 0
    created: float = field(default_factory=time.time)
    decided: asyncio.Future = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    session: asyncio.Task | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def total(self) -> int:
        return self.files.total

    def same(self, peer: bytes, offer: WireOffer) -> bool:
        return peer == self.peer and offer.files == self.files

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "direction": "in",
            "device": self.peer.hex(),
            "name": self.sender,
            "library": self.library or self.offered_library,
            "state": self.state,
            "reason": self.reason,
            "files": [
                {**f.shown(), "path": text(self.placed[i]) if i in self.placed else None}
                for i, f in enumerate(self.files)
            ],
            "bytes": self.received,
            "total": self.total,
            "when": iso(self.created),
        }


def new_incoming(peer: bytes, offer: WireOffer, state: str, library: str | None) -> Incoming:
    offered = offer.library.hex() if offer.library is not None else None
    return Incoming(secrets.token_hex(4), peer, offer.sender, offered, offer.files, state, library)


class Admission(Protocol):
    """What receiving asks of the drop service (:class:`sdactors.net.drop.service.Drops`)."""

    ctx: NetContext

    def reading(self, peer: bytes) -> AbstractAsyncContextManager[bool]: ...

    async def admit(self, peer: bytes, offer: WireOffer) -> Incoming: ...

    def library(self, library_id: str | None) -> Library: ...

    def partial_lock(self, partial: bytes) -> asyncio.Lock: ...


async def receive(drops: Admission, conn: Any, peer: bytes) -> None:
    """Serve one ``sd/drop/1`` connection from ``peer``."""
    bi = await asyncio.wait_for(conn.accept_bi(), HELLO_S)
    send, recv = bi.send(), bi.recv()
    async with drops.reading(peer) as allowed:
        offer = await _offer(recv) if allowed else None
    if offer is None:
        await _stop(recv, STOP_UNREAD)  # what it sent, and will send, is dropped
        await write_frame(send, {"refused": BUSY})
        await let_peer_close(conn)
        return
    incoming = await drops.admit(peer, offer)
    if incoming.state in (REJECTED, EXPIRED):
        await write_frame(send, {"refused": incoming.reason})
        await let_peer_close(conn)
        return
    await _take_over(incoming)
    try:
        if incoming.state == PENDING:
            await write_frame(send, {"pending": incoming.id})
            if not await _decided(incoming, recv):
                await write_frame(send, {"refused": incoming.reason})
                await let_peer_close(conn)
                return
        await write_frame(send, {"accepted": incoming.id})
        incoming.state = RECEIVING
        ended = await _files(drops, incoming, send, recv)
    except (PeerGone, ProtocolViolation, OSError, asyncio.TimeoutError) as exc:
        if incoming.state in (RECEIVING, ACCEPTED):
            incoming.state = INTERRUPTED
            incoming.reason = str(exc) or "timed out"
            log.info("drop_interrupted", offer=incoming.id, error=incoming.reason)
        raise
    finally:
        incoming.ended.set()
    if not ended:
        await let_peer_close(conn)  # the sender reads why, and hangs up


async def _offer(recv: Any) -> WireOffer:
    """The offer, checked. Read in a frame of its own: the offer decoded (several times its
    4 MiB on the wire) is gone once this returns, not held for as long as the offer waits;
    what is kept of it is packed (:class:`OfferedFiles`)."""
    raw, _ = await asyncio.wait_for(read_frame(recv, OFFER_MOST), HELLO_S)
    return check_offer(raw)


async def _take_over(incoming: Incoming) -> None:
    """A sender that reconnects gets the offer; a session still on it (its connection not
    yet known to be dead) ends first, its last write done."""
    old, incoming.session = incoming.session, asyncio.current_task()
    if old is not None and not old.done():
        old.cancel()
        await asyncio.wait([old])
    incoming.ended.clear()


async def _decided(incoming: Incoming, recv: Any) -> bool:
    """Wait for this device's user; the sender says nothing meanwhile, so a read that ends
    means it left (the offer stays, for it to come back to)."""
    left = incoming.created + DECIDE_WAIT_S - time.time()
    gone = asyncio.ensure_future(read_frame(recv, ANSWER_MOST))
    try:
        done, _ = await asyncio.wait(
            [gone, asyncio.shield(incoming.decided)],
            timeout=max(0.0, left),
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        gone.cancel()
    if incoming.decided.done():
        return bool(incoming.decided.result())
    if gone in done:
        raise PeerGone("the sender left while the offer waited")
    incoming.state, incoming.reason = EXPIRED, "it was not accepted in time"
    log.info("drop_expired", offer=incoming.id)
    return False


async def _files(drops: Admission, incoming: Incoming, send: Any, recv: Any) -> bool:
    """Receive the files the sender asks to send; False if one failed its check."""
    lib = drops.library(incoming.library)
    folder = await drops.ctx.blocking(inbox, lib.config.paths.inbox)
    while True:
        frame, _ = await asyncio.wait_for(read_frame(recv, ANSWER_MOST), STALL_S)
        if frame == {"end": True}:
            incoming.state, incoming.reason = DONE, None
            log.info("drop_received", offer=incoming.id, files=len(incoming.placed))
            return True
        if type(frame) is not dict or set(frame) != {"file"} or type(frame["file"]) is not int:
            raise ProtocolViolation(f"expected a file's number or the end, got {str(frame)[:80]}")
        i = frame["file"]
        if not 0 <= i < len(incoming.files):
            raise ProtocolViolation(f"no file {i} in the offer")
        if i in incoming.placed:
            await write_frame(send, {"done": _name(incoming.placed[i])})
            continue
        async with drops.partial_lock(partial_of(folder, incoming.files[i].blake3)):
            if not await _one_file(drops, incoming, i, folder, send, recv):
                return False


async def _one_file(
    drops: Admission, incoming: Incoming, i: int, folder: bytes, send: Any, recv: Any
) -> bool:
    """Receive file ``i``; False when it could not be kept (the drop ends there)."""
    blocking = drops.ctx.blocking
    offered = incoming.files[i]
    partial = partial_of(folder, offered.blake3)
    offset = await blocking(held, partial, offered.size)
    short = await blocking(short_of_room, folder, [offered])
    if short is not None:
        return await _failed(incoming, send, offered, short)
    await write_frame(send, {"from": offset})
    incoming.received = offset + sum(incoming.files[j].size for j in incoming.placed)
    writer: Writer | None = None
    try:
        writer = await settled(blocking(Writer, partial, offset))
        await _pump(drops, incoming, writer, recv, offered.size - offset)
        placed = await settled(blocking(writer.finish, folder, offered))
    except DropMismatch as exc:
        return await _failed(incoming, send, offered, str(exc))
    except OSError as exc:
        await _closed(drops, writer)
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        await settled(blocking(discard, partial))
        await _failed(incoming, send, offered, NO_SPACE)
        await _stop(recv, STOP_NO_SPACE)  # the sender is still sending: it reads why
        return False
    except BaseException:
        await _closed(drops, writer)
        raise
    incoming.placed[i] = placed
    log.info("drop_file_received", offer=incoming.id, path=show(placed), resumed_from=offset)
    await write_frame(send, {"done": _name(placed)})
    return True


async def _failed(incoming: Incoming, send: Any, offered: Offered, reason: str) -> bool:
    """The drop ends: ``offered`` cannot be kept here, and the sender is told why."""
    incoming.state, incoming.reason = FAILED, reason
    log.warning("drop_failed", offer=incoming.id, file=show(offered.name), reason=reason)
    await write_frame(send, {"failed": reason})
    return False


async def _stop(recv: Any, code: int) -> None:
    """Read nothing more of the stream: its sender's next write fails."""
    try:
        await recv.stop(code)
    except Exception:  # noqa: BLE001 - the stream ended anyway
        pass


async def _closed(drops: Admission, writer: Writer | None) -> None:
    if writer is not None:
        await settled(drops.ctx.blocking(writer.close))


async def _pump(drops: Admission, incoming: Incoming, writer: Writer, recv: Any, left: int) -> None:
    """Read the file's bytes while the previous chunk is written."""
    loop = asyncio.get_running_loop()
    writing: asyncio.Future | None = None
    try:
        while left:
            chunk = await read_bytes(recv, min(CHUNK, left))
            left -= len(chunk)
            if writing is not None:
                await settled(writing)
            writing = loop.run_in_executor(None, writer.write, chunk)
            incoming.received += len(chunk)
    finally:
        if writing is not None:
            await settled(writing)


def _name(path: bytes) -> str:
    return show(path.rsplit(b"/", 1)[-1])
