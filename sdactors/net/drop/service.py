"""Spacedrop (``sd/drop/1``): files sent to another device, landing in its library's inbox.

The Networking actor owns one :class:`Drops`: it hands it the drop messages
(:mod:`sdactors.net.messages`, from ``sd drop`` commands), and the endpoint every connection
that speaks ``sd/drop/1``. Everything here runs on the endpoint's loop, and reaches outside
the drop service through its :class:`sdactors.net.context.NetContext` only; disk work and
hashing go to executor threads. The sending side is
:mod:`sdactors.net.drop.send`, the receiving side :mod:`sdactors.net.drop.receive`, the
protocol :mod:`sdactors.net.drop.wire`, the disk :mod:`sdactors.net.drop.disk`.

What is pending, received and sent lives in memory only: a drop is node-local operational
state, not a fact about the library (the files that land are the fact, once indexed).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sdactors.net.drop.disk import inbox, short_of_room
from sdactors.net.drop.receive import (
    ACCEPTED,
    DONE,
    EXPIRED,
    FAILED,
    PENDING,
    RECEIVING,
    REJECTED,
    Incoming,
    new_incoming,
    receive,
)
from sdactors.net.drop.send import send
from sdactors.net.drop.wire import (
    DECIDE_WAIT_S,
    Meter,
    OfferedFiles,
    WireOffer,
)
from sdactors.net.frames import iso
from sdactors.net.messages import DropDecide, DropList, DropMessage, DropSend
from sdactors.runtime.errors import DropNoRoom, InvalidArgument, NetError, NotADrop, SdError
from sdactors.runtime.logs import get_logger
from sdactors.runtime.paths import text

if TYPE_CHECKING:
    from sdactors.library.handle import Library
    from sdactors.net.context import NetContext

log = get_logger(__name__)

# Drops ended (sent or received) that ``sd drop list`` still shows.
RECENT = 50
# Offers from devices not paired in the library they name: how many may wait at once, in
# all and from one device, and how much the file lists of the offers kept here may hold
# (the ended ones make room first, oldest first). Any more are refused, saying why.
PENDING_MOST = 50
PENDING_PER_DEVICE = 3
KEPT_BYTES_MOST = 16 << 20
# Offers being read at once from devices paired nowhere here: each connection holds what
# its sender sent (up to 4 MiB) until it is read, one at a time. Any more are refused at
# once, unread.
READING_MOST = 8
OPEN = (PENDING, ACCEPTED, RECEIVING)
# Offers a reconnecting sender cannot resume: it offers anew.
UNDONE = (REJECTED, EXPIRED, FAILED)


class Drops:
    """This node's drops: see the module's text."""

    def __init__(self, ctx: NetContext) -> None:
        self.ctx = ctx
        self._incoming: dict[str, Incoming] = {}
        self._sent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self._locks: dict[bytes, asyncio.Lock] = {}
        self._reading = 0

    async def handle(self, message: DropMessage) -> Any:
        if isinstance(message, DropSend):
            return await self._send(message)
        if isinstance(message, DropList):
            return self._list()
        if isinstance(message, DropDecide):
            return await self._decide(message)
        raise TypeError(f"Drops got an unexpected message: {message!r}")

    async def answer(self, conn: Any, peer: bytes) -> None:
        """Serve one ``sd/drop/1`` connection from ``peer``."""
        await receive(self, conn, peer)

    def close(self) -> None:
        """The node stops: offers still waiting are refused, so their senders hear why."""
        for incoming in self._incoming.values():
            if incoming.state == PENDING and not incoming.decided.done():
                incoming.state, incoming.reason = REJECTED, "the receiving node stopped"
                incoming.decided.set_result(False)

    # -- what the receiving side asks ----------------------------------------------------

    @asynccontextmanager
    async def reading(self, peer: bytes) -> AsyncIterator[bool]:
        """While an offer from ``peer`` is read: whether it may be (a device paired in a
        library served here always may)."""
        if self._reading >= READING_MOST and not await self._paired_anywhere(peer):
            log.warning("drop_refused", device=peer.hex(), reason="too many offers at once")
            yield False
            return
        self._reading += 1
        try:
            yield True
        finally:
            self._reading -= 1

    async def _paired_anywhere(self, peer: bytes) -> bool:
        for library in self.ctx.libraries():
            lib = self.ctx.library(library)
            if lib is None:
                continue
            table = await self.ctx.peers(lib)
            if any(p.device == peer and p.paired and not p.revoked for p in table):
                return True
        return False

    async def admit(self, peer: bytes, offer: WireOffer) -> Incoming:
        """The offer a connection speaks of: the one it resumes, or a new one, accepted at
        once when ``peer`` is paired in the library offered, else pending."""
        self._expire()
        if offer.resume is not None:
            found = self._incoming.get(offer.resume)
            if found is not None and found.same(peer, offer) and found.state not in UNDONE:
                log.info("drop_resumed", offer=found.id, device=peer.hex())
                return found
        offered = offer.library.hex() if offer.library is not None else None
        lib = self.ctx.library(offered) if offered is not None else None
        standing = None
        if lib is not None:
            table = await self.ctx.peers(lib)
            standing = next((p for p in table if p.device == peer), None)
        if standing is not None and standing.revoked:
            return _refused(peer, offer, "this device was revoked in the library")
        paired = standing is not None and standing.paired
        library = offered if lib is not None else self._only()
        short = await self._short_of_room(library, offer.files)
        # From here to the offer being kept, nothing awaits: two offers at once from one
        # device are counted one after the other.
        if paired:
            incoming = new_incoming(peer, offer, ACCEPTED, offered)
        else:
            full = self._full(peer, offer.files.held_bytes)
            if full is not None:
                return _refused(peer, offer, full)
            incoming = new_incoming(peer, offer, PENDING, library)
        if short is not None:  # kept, for this device's user to see
            log.warning("drop_refused", device=peer.hex(), reason=short)
            incoming.state, incoming.reason = REJECTED, short
        self._incoming[incoming.id] = incoming
        self._prune()
        log.info(
            "drop_offered",
            offer=incoming.id,
            device=peer.hex(),
            sender=offer.sender,
            files=len(offer.files),
            bytes=offer.files.total,
            state=incoming.state,
            library=incoming.library,
        )
        return incoming

    def library(self, library_id: str | None) -> Library:
        lib = self.ctx.library(library_id) if library_id is not None else None
        if lib is None:
            raise NetError(f"library {library_id} is not served here any more")
        return lib

    def partial_lock(self, partial: bytes) -> asyncio.Lock:
        """One writer per partial: two offers of the same content take turns."""
        lock = self._locks.get(partial)
        if lock is None:
            lock = self._locks[partial] = asyncio.Lock()
        return lock

    async def _short_of_room(self, library: str | None, files: OfferedFiles) -> str | None:
        """Why the library's inbox has no room for ``files``, or None (also when no library
        is chosen yet: that is checked when this device's user accepts)."""
        if library is None:
            return None
        folder = await self.ctx.blocking(inbox, self.library(library).config.paths.inbox)
        return await self.ctx.blocking(short_of_room, folder, files)

    def _only(self) -> str | None:
        """The library an offer from outside lands in when it names none served here."""
        served = self.ctx.libraries()
        return served[0] if len(served) == 1 else None

    # -- what the commands ask -------------------------------------------------------------

    async def _send(self, message: DropSend) -> dict[str, Any]:
        started = time.time()
        row: dict[str, Any] = {
            "direction": "out",
            "device": message.device.hex(),
            "name": None,
            "library": message.library,
            "when": iso(started),
        }
        try:
            result = await send(self.ctx, message)
        except (SdError, OSError) as exc:
            files = [{"path": text(p)} for p in message.paths]
            self._sent.append({**row, "id": None, "state": FAILED, "reason": str(exc),
                               "files": files, "bytes": 0, "total": None})  # fmt: skip
            raise
        self._sent.append({**row, "id": result["id"], "state": DONE, "reason": None,
                           "files": result["files"], "bytes": result["bytes_sent"],
                           "total": result["bytes"]})  # fmt: skip
        return result

    def _list(self) -> list[dict[str, Any]]:
        self._expire()
        rows = [i.row() for i in self._incoming.values()] + list(self._sent)
        pending = [r for r in rows if r["state"] == PENDING]
        others = sorted((r for r in rows if r["state"] != PENDING), key=lambda r: r["when"])
        return pending + others[::-1]

    async def _decide(self, message: DropDecide) -> dict[str, Any]:
        self._expire()
        incoming = self._incoming.get(message.offer)
        if incoming is None or incoming.state != PENDING:
            raise NotADrop(message.offer)
        if not message.accept:
            incoming.state, incoming.reason = REJECTED, "the user there declined it"
            incoming.decided.set_result(False)
            log.info("drop_rejected", offer=incoming.id)
            return incoming.row()
        library = message.library or incoming.library
        if library is None:
            raise InvalidArgument(
                "this device has several libraries: name the one to receive into (--library)"
            )
        short = await self._short_of_room(library, incoming.files)
        if short is not None:
            raise DropNoRoom(incoming.id, short)
        incoming.library, incoming.state = library, ACCEPTED
        incoming.decided.set_result(True)
        log.info("drop_accepted", offer=incoming.id, library=library)
        if incoming.session is not None and not incoming.session.done():
            meter = Meter(self.ctx.progress, message.progress)
            while not incoming.ended.is_set():
                info = {"phase": "receiving", "done": incoming.received, "expected": incoming.total}
                meter.tell(info)
                try:
                    await asyncio.wait_for(incoming.ended.wait(), 0.2)
                except asyncio.TimeoutError:
                    pass
        return incoming.row()

    def _expire(self) -> None:
        now = time.time()
        for incoming in self._incoming.values():
            if incoming.state == PENDING and now - incoming.created > DECIDE_WAIT_S:
                incoming.state, incoming.reason = EXPIRED, "it was not accepted in time"

    def _full(self, peer: bytes, held: int) -> str | None:
        """Why one more offer from ``peer`` (not paired), holding ``held`` bytes, may not
        wait here, or None."""
        waiting = [i for i in self._incoming.values() if i.state == PENDING]
        mine = sum(i.peer == peer for i in waiting)
        if mine >= PENDING_PER_DEVICE:
            return f"{mine} offers from this device are waiting there already"
        if len(waiting) >= PENDING_MOST:
            return "too many offers are waiting there already"
        if self._prune(room=held) + held > KEPT_BYTES_MOST:
            return "too many offers are waiting there already (their lists of files fill it)"
        return None

    def _prune(self, room: int = 0) -> int:
        """Forget ended offers, oldest first: past the RECENT latest, and while ``room``
        more bytes would not fit in KEPT_BYTES_MOST; what the offers left hold."""
        held = sum(i.files.held_bytes for i in self._incoming.values())
        ended = [k for k, i in self._incoming.items() if i.state not in OPEN]
        for n, key in enumerate(ended):
            if len(ended) - n <= RECENT and held + room <= KEPT_BYTES_MOST:
                break
            held -= self._incoming.pop(key).files.held_bytes
        return held


def _refused(peer: bytes, offer: WireOffer, reason: str) -> Incoming:
    """An offer refused on sight: answered with ``reason``, and not kept."""
    log.warning("drop_refused", device=peer.hex(), reason=reason)
    refused = new_incoming(peer, offer, REJECTED, None)
    refused.reason = reason
    return refused
