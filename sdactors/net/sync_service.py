"""The sync service: each served library synced with each of its paired devices.

Per library a :class:`LibrarySync` (its peers, and a reading connection for this node's
vector); per peer a :class:`sdactors.net.sync.PeerLink` and a dialing loop that keeps one
session (:mod:`sdactors.net.sync`) up, backing off while the peer cannot be reached, waiting
while the user paused it. The library's bus wakes the senders on each commit and refreshes
the peers on each ``device.*`` event (pairings, revocations, addresses).

A revoked peer is refused, and no longer dialed, unless its revocation is contestable
(``projections.membership``: it was an admin, and may hold its own earlier revocation of its
revoker, the one fact that undoes it, which nobody else may hold). Refusing such a peer
would let the order in which revocations arrive decide for good; it is *heard* instead:
dialed and answered, in sessions that take what it sends (counted as membership allows, like
any event) and send it nothing. Once what it sent reinstates it, it syncs in full; once an
event of its own dated after its revocation is held, nothing it holds can undo that, and it
is refused.

Everything here runs on the endpoint's loop (:class:`sdactors.net.context.NetContext`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from events.clock import clocks_ahead
from events.domain.device import DeviceReachable
from events.store import EventStore
from projections.devices import Peer
from sdactors.net.context import refusal
from sdactors.net.endpoint import CONNECT_TIMEOUT_S, HELLO_TIMEOUT_S
from sdactors.net.frames import SMALL_FRAME, iso, let_peer_close, read_frame, why, write_frame
from sdactors.net.messages import PeersSeen, SyncMessage, SyncNow, SyncPause, SyncStatus
from sdactors.net.state import NetState
from sdactors.net.sync import (
    ALPN_SYNC,
    BatchRefused,
    PeerLink,
    Session,
    SessionRefused,
    Vector,
    check_vector,
    clamp,
    hello,
    lacking,
)
from sdactors.runtime import tuning
from sdactors.runtime.errors import AwaitingOwnEvents, PeerGone, ProtocolViolation
from sdactors.runtime.logs import get_logger

if TYPE_CHECKING:
    from sdactors.library.handle import Library
    from sdactors.net.context import NetContext

log = get_logger(__name__)

# Reconnecting to a peer that cannot be reached waits this long, doubling up to the most.
BACKOFF_FIRST_S = tuning.backoff(1.0)
# Also how long a link rests without an address, and after a refused batch (half): not
# scaled, a status keeps saying why for that long.
BACKOFF_MOST_S = 60.0
PAUSED = "paused on this device ('sd sync resume' to resume)"
REPLACED = "replaced by a newer session"
REVOKED = "revoked"
REINSTATED = "no longer revoked: syncing in full again"
HEARD = "revoked, but what it holds could undo that: taking what it sends, sending it nothing"
TAKES_ONLY = (
    "it holds this device revoked, which what this device sends could undo: "
    "it takes what this device sends, and sends nothing"
)


class LibrarySync:
    """Sync of one library: its peers, and a reading connection for this node's vector."""

    def __init__(self, lib: Library) -> None:
        self.lib = lib
        self.id = lib.config.id
        self.links: dict[bytes, PeerLink] = {}
        self.hints: dict[bytes, tuple[str, ...]] = {}
        self.dialers: dict[bytes, asyncio.Task] = {}
        # Devices trusted before the library's membership is known here: the inviter of a
        # join in progress (checked against the membership once its events have arrived).
        self.joining: dict[bytes, str | None] = {}
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sync-vector")
        self._store: EventStore | None = None
        self.tokens: list[int] = []

    def trust(self, inviter: bytes, name: str | None, addresses: tuple[str, ...]) -> None:
        """Sync with ``inviter`` (at ``addresses``) before the membership says it may: a join."""
        self.hints[inviter] = addresses
        self.joining[inviter] = name

    def _reader(self) -> EventStore:
        if self._store is None:
            self._store = EventStore(self.lib.config.paths.events, readonly=True)
        else:
            self._store.refresh()
        return self._store

    def _read_vector(self) -> Vector:
        """What this node holds and would send: never past what membership lets through
        (a peer waiting for events that will never be sent would wait for ever)."""
        return clamp(self._reader().vector(), self.lib.forwardable(self.lib.device))

    async def vector(self) -> Vector:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._read_vector)

    async def last_hlcs(self) -> dict[bytes, int]:
        """Per device, the hlc of its last event held here."""
        read = lambda: self._reader().last_hlcs()  # noqa: E731
        return await asyncio.get_running_loop().run_in_executor(self._pool, read)

    async def clocks_ahead(self) -> dict[bytes, int]:
        """The devices whose clock runs ahead of this one's (``events.clock.MAX_AHEAD_MS``)."""
        return clocks_ahead(await self.last_hlcs())

    def wake_senders(self) -> None:
        for link in self.links.values():
            if link.session is not None:
                link.session.wake.set()

    def close(self) -> None:
        for link in self.links.values():
            if link.session is not None:
                link.session.close("the node is stopping")
        for task in self.dialers.values():
            task.cancel()

        def finish() -> None:
            if self._store is not None:
                self._store.close()

        self._pool.submit(finish)
        self._pool.shutdown(wait=False)


# Run when a library's sync has started: (its sync).
Started = Callable[[LibrarySync], Awaitable[None]]


class SyncService:
    """See the module's text."""

    def __init__(self, ctx: NetContext, state: NetState) -> None:
        """``state`` keeps the peers the user paused across restarts."""
        self._ctx = ctx
        self._state = state
        self._libs: dict[str, LibrarySync] = {}
        self._started: list[Started] = []

    def when_started(self, hook: Started) -> None:
        """``hook`` runs each time a library's sync starts, once its peers are dialed."""
        self._started.append(hook)

    async def handle(self, message: SyncMessage) -> Any:
        if isinstance(message, SyncStatus):
            return await self._status(message.library)
        if isinstance(message, SyncNow):
            return await self._sync_now(message.library)
        if isinstance(message, SyncPause):
            return await self._pause(message)
        if isinstance(message, PeersSeen):
            return self._seen(message.library)
        raise TypeError(f"the sync service got an unexpected message: {message!r}")

    def close(self) -> None:
        """The node stops: every session ends, saying so."""
        for ls in self._libs.values():
            ls.close()

    # -- the libraries synced ---------------------------------------------------------------

    def serving(self, library_id: str) -> LibrarySync | None:
        """The library's sync if it has started."""
        return self._libs.get(library_id)

    async def serve(self, library_id: str) -> LibrarySync | None:
        """The library's sync, started if it had not (None if the node does not serve it)."""
        ls = self._libs.get(library_id)
        if ls is not None:
            return ls
        lib = self._ctx.library(library_id)
        if lib is None:
            return None
        ls = self._libs[library_id] = LibrarySync(lib)

        def committed(_events: Any) -> None:
            self._ctx.soon(ls.wake_senders)

        def devices_changed(_events: Any) -> None:
            self._ctx.soon(self._peers_changed, library_id)

        ls.tokens.append(await self._ctx.blocking(lib.subscribe, ("",), committed, "sync"))
        ls.tokens.append(
            await self._ctx.blocking(lib.subscribe, ("device.",), devices_changed, "peers")
        )
        lib.when_rebuilt(lambda: devices_changed(None))
        self.announce(ls)
        await self.refresh_peers(ls)
        for hook in self._started:
            await hook(ls)
        return ls

    async def forget(self, ls: LibrarySync) -> None:
        """Stop syncing the library: its sessions end, its bus no longer wakes anything."""
        self._libs.pop(ls.id, None)
        for token in ls.tokens:
            await self._ctx.blocking(ls.lib.unsubscribe, token)
        ls.close()

    def _peers_changed(self, library_id: str) -> None:
        ls = self._libs.get(library_id)
        if ls is not None:
            self._ctx.spawn(self.refresh_peers(ls))

    def announce(self, ls: LibrarySync) -> None:
        """Record where this node listens, when the library does not say so already. Not
        awaited: after a forced restore the append waits for the sync."""
        self._ctx.spawn(self._announce(ls))

    async def _announce(self, ls: LibrarySync) -> None:
        known = await self._ctx.peers(ls.lib)
        mine = next((p for p in known if p.device == self._ctx.device), None)
        if mine is None or not mine.member:
            # Not a member (yet: a join announces once its log is here): nobody folds what
            # this device writes, and an event of it folded before the membership arrives
            # would be cut by it, which costs a whole fold anew.
            return
        addresses = self._ctx.addresses
        if addresses and (mine is None or mine.addresses != addresses):
            try:
                await self._ctx.blocking(ls.lib.append_typed, DeviceReachable(addresses))
            except AwaitingOwnEvents as exc:
                log.warning("network_not_announced", library=ls.id, error=str(exc))

    async def refresh_peers(self, ls: LibrarySync) -> None:
        """Follow the library's devices: dial the members, hear the revoked whose revocation
        is contestable, drop the other revoked (see the module's text)."""
        table = await self._ctx.peers(ls.lib)
        held = await ls.last_hlcs() if any(p.contest_before is not None for p in table) else {}
        known = {peer.device for peer in table}
        table += [
            Peer(d, name, None, False, None, ()) for d, name in ls.joining.items() if d not in known
        ]
        for peer in table:
            if peer.device == self._ctx.device or not (peer.paired or peer.device in ls.joining):
                continue
            link = ls.links.get(peer.device)
            if link is None:
                link = ls.links[peer.device] = PeerLink(peer.device)
                link.paused = peer.device in self._state.paused(ls.id)
            link.name = peer.name
            link.addresses = peer.addresses or ls.hints.get(peer.device, ())
            heard = _heard(peer, held)
            refused = peer.revoked and not heard
            if (refused, heard) != (link.revoked, link.heard):
                news = "peer_revoked" if refused else "peer_heard" if heard else "peer_reinstated"
                log.info(news, library=ls.id, device=peer.device.hex())
                if refused:
                    link.fail(REVOKED)
            link.revoked, link.heard = refused, heard
            session = link.session
            if session is not None and (refused or session.receive_only != heard):
                session.close(REVOKED if peer.revoked else REINSTATED)
            link.wake.set()
            dialer = ls.dialers.get(peer.device)
            if not refused and (dialer is None or dialer.done()):
                ls.dialers[peer.device] = self._ctx.spawn(self._dial_loop(ls, link))

    # -- dialing ----------------------------------------------------------------------------

    async def _dial_loop(self, ls: LibrarySync, link: PeerLink) -> None:
        while not link.revoked:
            if link.session is not None:
                await link.session.ended.wait()
                continue
            link.wake.clear()
            if link.paused:
                link.fail(PAUSED)
                await link.wake.wait()
                continue
            if not link.addresses:
                link.fail("no address known for it yet (it has not synced here since pairing)")
                await _rest(link, BACKOFF_MOST_S)
                continue
            try:
                conn = await self._ctx.dial(
                    link.device, link.addresses, ALPN_SYNC, CONNECT_TIMEOUT_S
                )
                bi = await conn.open_bi()
                send, recv = bi.send(), bi.recv()
                heard = link.heard
                opening = hello(send, recv, ls.lib.config.id_bytes, await ls.vector(), heard)
                answer = await asyncio.wait_for(opening, HELLO_TIMEOUT_S)
            except SessionRefused as exc:
                if exc.code == "duplicate":
                    await _rest(link, 0.5)
                    continue
                link.fail(f"refused by the peer: {exc}")
                log.info(
                    "sync_refused_by_peer", library=ls.id, device=link.device.hex(), reason=str(exc)
                )
                await _back_off(link)
                continue
            except (Exception, asyncio.TimeoutError) as exc:  # noqa: BLE001 - any failure to reach it
                if link.session is None:
                    link.fail(f"unreachable: {why(exc) or 'timed out'}")
                await _back_off(link)
                continue
            link.received_bytes += answer.size
            if link.revoked or link.heard != heard:
                # Its standing changed during the opening (a session adopted before that is
                # closed by ``refresh_peers``): dial again as it stands now, if at all.
                conn.close(0, REVOKED.encode())
                continue
            session = Session(ls.lib, link, send, recv, self._ctx.device, conn, heard)
            if not self._adopt(link, session):
                conn.close(0, b"duplicate")
                continue
            link.theirs = dict(answer.vector)
            link.known = dict(answer.vector)
            note = HEARD if heard else TAKES_ONLY if answer.takes_only else None
            await self._run_session(ls, link, session, note)
        # Revoked while a dial was under way: what it failed of says nothing any more.
        link.fail(REVOKED)

    def _adopt(self, link: PeerLink, new: Session) -> bool:
        """Of two sessions with one peer, keep the one the lower device dialed: both sides
        decide alike without a word about it."""
        old = link.session
        if old is None:
            link.session = new
            return True
        lower = min(self._ctx.device, link.device)
        if old.initiator == lower and new.initiator != lower:
            return False
        old.close(REPLACED)
        link.session = new
        return True

    async def _run_session(
        self, ls: LibrarySync, link: PeerLink, session: Session, note: str | None
    ) -> None:
        """``note``: why the session, although up, does not sync in full (a revoked peer)."""
        link.ok()
        if note is not None:
            link.fail(note)
        link.backoff = 0.0
        log.info("sync_connected", library=ls.id, device=link.device.hex())
        try:
            await session.run()
        except BatchRefused as exc:
            link.fail(str(exc))
            log.warning(
                "sync_batch_refused", library=ls.id, device=link.device.hex(), reason=str(exc)
            )
            link.backoff = BACKOFF_MOST_S / 2
        except (PeerGone, ProtocolViolation, OSError, Exception) as exc:  # noqa: BLE001
            if session.closing_reason is None:
                link.fail(f"connection lost: {why(exc)}")
                log.info(
                    "sync_disconnected", library=ls.id, device=link.device.hex(), reason=str(exc)
                )
        except asyncio.CancelledError:
            if session.closing_reason is None:
                raise
        finally:
            if session.closing_reason is not None and session.closing_reason != REPLACED:
                link.fail(session.closing_reason)
            try:
                session.conn.close(0, b"bye")
            except Exception:  # noqa: BLE001
                pass

    # -- answering ----------------------------------------------------------------------------

    async def answer(self, conn: Any, peer: bytes) -> None:
        """Serve one ``sd/sync/1`` connection from ``peer``."""
        bi = await asyncio.wait_for(conn.accept_bi(), HELLO_TIMEOUT_S)
        send, recv = bi.send(), bi.recv()
        opening, size = await asyncio.wait_for(read_frame(recv, SMALL_FRAME * 16), HELLO_TIMEOUT_S)
        if type(opening) is not dict or type(opening.get("lib")) is not bytes:
            raise ProtocolViolation("a sync opening without a library")
        theirs = check_vector(opening.get("vec"))
        library_id = opening["lib"].hex()
        ls = self._libs.get(library_id)
        refusal = None
        if ls is None:
            refusal = ("this device does not serve that library", "unknown-library")
        else:
            refusal = await self._refusal(ls, peer, opening.get("revoked") is True)
        if refusal is not None:
            log.warning("sync_refused", library=library_id, device=peer.hex(), reason=refusal[0])
            await write_frame(send, {"refused": refusal[0], "code": refusal[1]})
            await let_peer_close(conn)
            return
        link = ls.links[peer]
        if link.paused:
            await write_frame(send, {"refused": "sync is paused on that device", "code": "paused"})
            await let_peer_close(conn)
            return
        link.received_bytes += size
        # Its standing as ``_refusal`` left it, with no pause before the session is adopted
        # (one adopted before a change is closed by ``refresh_peers``).
        heard = link.heard
        session = Session(ls.lib, link, send, recv, peer, conn, heard)
        if not self._adopt(link, session):
            await write_frame(send, {"refused": "already connected", "code": "duplicate"})
            await let_peer_close(conn)
            return
        answer: dict[str, Any] = {"vec": await ls.vector()}
        if heard:
            answer["revoked"] = True
        link.sent_bytes += await write_frame(send, answer)
        link.theirs = dict(theirs)
        link.known = dict(theirs)
        note = HEARD if heard else TAKES_ONLY if opening.get("revoked") is True else None
        await self._run_session(ls, link, session, note)

    async def _refusal(
        self, ls: LibrarySync, peer: bytes, revokes_us: bool
    ) -> tuple[str, str] | None:
        """Why ``peer`` may not sync this library, or None. Read fresh from the index: a
        pairing or revocation that just arrived counts (the peer's link follows it).
        ``revokes_us``: the peer said it holds this device revoked, contestably."""
        table = await self._ctx.peers(ls.lib)
        found = next((p for p in table if p.device == peer), None)
        held = (
            await ls.last_hlcs() if found is not None and found.contest_before is not None else {}
        )
        heard = found is not None and _heard(found, held)
        refused = refusal(table, peer, trusted=peer in ls.joining, heard=heard)
        if refused is not None:
            return refused
        link = ls.links.get(peer)
        if link is None or (link.revoked, link.heard) != (False, heard):
            await self.refresh_peers(ls)
            link = ls.links.get(peer)
        if link is None or link.revoked:
            return ("this device was revoked in the library", "revoked")
        if link.heard and revokes_us:
            # Each would only take from the other: the one that is right is told by another.
            return ("each device holds the other revoked", "revoked")
        return None

    # -- what the commands ask ------------------------------------------------------------------

    async def _status(self, library_id: str) -> list[dict[str, Any]]:
        ls = await self.serve(library_id)
        if ls is None:
            return []
        mine = await ls.vector()
        clocks = await ls.clocks_ahead()
        out = []
        for link in sorted(ls.links.values(), key=lambda one: one.device):
            connected = link.session is not None
            behind = lacking(link.known, mine)
            ahead = lacking(mine, link.theirs)
            reason = link.reason
            if connected and reason is None and (behind or ahead):
                reason = f"syncing: {behind:,} to send, {ahead:,} to receive"
            elif not connected and reason is None:
                reason = "not connected yet"
            out.append(
                {
                    "device": link.device.hex(),
                    "name": link.name,
                    "connected": connected,
                    "behind": behind,
                    "ahead": ahead,
                    "last_sync": iso(link.last_sync) if link.last_sync else None,
                    "reason": reason,
                    "since": iso(link.reason_since) if link.reason and link.reason_since else None,
                    "addresses": list(link.addresses),
                    "bytes_sent": link.sent_bytes,
                    "bytes_received": link.received_bytes,
                    "connection": _wire(link.session),
                    "clock_ahead_ms": clocks.get(link.device),
                }
            )
        return out

    async def _sync_now(self, library_id: str) -> dict[str, Any]:
        ls = await self.serve(library_id)
        if ls is None:
            return {"woken": 0}
        await self.refresh_peers(ls)
        for link in ls.links.values():
            link.backoff = 0.0
            link.wake.set()
            if link.session is not None:
                link.session.wake.set()
        return {"woken": len(ls.links)}

    async def _pause(self, message: SyncPause) -> dict[str, Any]:
        ls = await self.serve(message.library)
        if ls is None:
            return {"devices": []}
        await self.refresh_peers(ls)
        chosen = [
            link
            for link in ls.links.values()
            if message.device is None or link.device == message.device
        ]
        for link in chosen:
            link.paused = message.paused
            if message.paused and link.session is not None:
                link.session.close(PAUSED)
            if not message.paused:
                link.ok()
                link.backoff = 0.0
            link.wake.set()
        self._state.set_paused(ls.id, {d for d, link in ls.links.items() if link.paused})
        log.info(
            "sync_paused" if message.paused else "sync_resumed", library=ls.id, devices=len(chosen)
        )
        return {"devices": [link.device.hex() for link in chosen], "paused": message.paused}

    def _seen(self, library_id: str) -> dict[bytes, dict[str, Any]]:
        ls = self._libs.get(library_id)
        if ls is None:
            return {}
        return {
            link.device: {
                "connected": link.session is not None,
                "last_seen": iso(link.last_seen) if link.last_seen else None,
            }
            for link in ls.links.values()
        }


def _heard(peer: Peer, held: dict[bytes, int]) -> bool:
    """Whether ``peer`` is revoked, but contestably: ``held`` (per device, the hlc of its
    last event held here) has no event of its own dated after its revocation."""
    return (
        peer.revoked
        and peer.contest_before is not None
        and held.get(peer.device, 0) < peer.contest_before
    )


async def _rest(link: PeerLink, seconds: float) -> None:
    try:
        await asyncio.wait_for(link.wake.wait(), seconds)
    except asyncio.TimeoutError:
        pass


async def _back_off(link: PeerLink) -> None:
    link.backoff = min(BACKOFF_MOST_S, max(BACKOFF_FIRST_S, link.backoff * 2))
    await _rest(link, link.backoff)


def _wire(session: Session | None) -> dict[str, int] | None:
    """What the current connection put on the wire (UDP, with QUIC's own overhead)."""
    if session is None:
        return None
    try:
        stats = session.conn.stats()
    except Exception:  # noqa: BLE001 - closing meanwhile
        return None
    return {"udp_sent": stats.udp_tx_bytes, "udp_received": stats.udp_rx_bytes}
