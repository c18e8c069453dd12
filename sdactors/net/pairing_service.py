"""The pairing service: invitations made here, pairings answered here, and joins from here.

An admin's node makes a ticket (:class:`sdactors.net.messages.Invite`) and answers the
``sd/pair/1`` connection that redeems it by recording the pairing in the library. The
joining node (:class:`sdactors.net.messages.Join`) proves the ticket, creates the library
when it lacks it, trusts the inviter until the library's own membership is here (the joining
mark, :class:`sdactors.net.pairing.Joining`, kept across a restart), receives the whole log
through the sync service, and then checks that the pairing counts; a join in vain leaves the
library. Tickets, proofs and the mark are :mod:`sdactors.net.pairing`.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from events.domain.device import DevicePaired
from events.keys import short_device
from sdactors.net.endpoint import CONNECT_TIMEOUT_S, HELLO_TIMEOUT_S
from sdactors.net.frames import SMALL_FRAME, iso, let_peer_close, read_frame, why, write_frame
from sdactors.net.messages import Invite, Join, PairMessage
from sdactors.net.pairing import (
    ALPN_PAIR,
    Invitations,
    Joining,
    PairingDenied,
    Ticket,
    proof,
)
from sdactors.net.sync import describe, lacking
from sdactors.net.sync_service import LibrarySync, SyncService
from sdactors.runtime.errors import (
    NetError,
    PairingRefused,
    PeerUnreachable,
    ProtocolViolation,
)
from sdactors.runtime.logs import get_logger

if TYPE_CHECKING:
    from sdactors.net.context import NetContext

log = get_logger(__name__)

# How often a join in progress looks whether everything has arrived.
CAUGHT_UP_POLL_S = 0.2


class PairingService:
    """See the module's text."""

    def __init__(self, ctx: NetContext, sync: SyncService) -> None:
        self._ctx = ctx
        self._sync = sync
        self._invites = Invitations()
        # The libraries a join runs in, here and now: not resumed from their mark as well.
        self._joining: set[str] = set()
        sync.when_started(self._resume_join)

    async def handle(self, message: PairMessage) -> Any:
        if isinstance(message, Invite):
            return await self._invite(message)
        if isinstance(message, Join):
            return await self._join(message)
        raise TypeError(f"the pairing service got an unexpected message: {message!r}")

    # -- the inviting side ------------------------------------------------------------------

    async def _invite(self, message: Invite) -> dict[str, Any]:
        ls = await self._sync.serve(message.library)
        if ls is None:
            raise NetError(f"library {message.library} is not served by this node")
        addresses = self._ctx.addresses
        if not addresses:
            raise NetError("this node has no address a peer could dial (see [network] bind)")
        invitation = self._invites.create(ls.lib.config.id_bytes, message.expires_s)
        ticket = Ticket(
            self._ctx.device,
            addresses,
            invitation.library,
            invitation.secret,
            invitation.expires_ms,
        )
        log.info("pair_invited", library=ls.id, expires_ms=invitation.expires_ms)
        return {
            "ticket": ticket.encode(),
            "library": ls.id,
            "library_name": ls.lib.config.name,
            "device": self._ctx.device.hex(),
            "expires": iso(invitation.expires_ms / 1000),
        }

    async def answer(self, conn: Any, peer: bytes) -> None:
        """Serve one ``sd/pair/1`` connection from ``peer``."""
        bi = await asyncio.wait_for(conn.accept_bi(), HELLO_TIMEOUT_S)
        send, recv = bi.send(), bi.recv()
        request, _ = await asyncio.wait_for(read_frame(recv, SMALL_FRAME), HELLO_TIMEOUT_S)
        if (
            type(request) is not dict
            or type(request.get("lib")) is not bytes
            or type(request.get("proof")) is not bytes
            or type(request.get("name")) is not str
            or len(request["name"]) > 256
        ):
            raise ProtocolViolation("a pairing request without library, proof and name")
        library = request["lib"]
        try:
            self._invites.redeem(library, peer, self._ctx.device, request["proof"])
            ls = self._sync.serving(library.hex())
            if ls is None:
                raise PairingDenied("this device no longer serves that library")
            table = await self._ctx.peers(ls.lib)
            if not any(p.device == self._ctx.device and p.role == "admin" for p in table):
                raise PairingDenied(
                    "the device that made this ticket is not an admin of the library"
                )
        except PairingDenied as exc:
            log.warning("pair_refused", device=peer.hex(), library=library.hex(), reason=str(exc))
            await write_frame(send, {"refused": str(exc)})
            await let_peer_close(conn)
            return
        await self._ctx.blocking(ls.lib.append_typed, DevicePaired(peer, request["name"]))
        log.info("pair_accepted", device=peer.hex(), library=ls.id, name=request["name"])
        await write_frame(
            send,
            {"ok": True, "library_name": ls.lib.config.name, "name": self._ctx.device_name},
        )
        await let_peer_close(conn)
        await self._sync.refresh_peers(ls)

    # -- the joining side ---------------------------------------------------------------------

    async def _join(self, message: Join) -> dict[str, Any]:
        ticket = Ticket.decode(message.ticket)
        if ticket.inviter == self._ctx.device:
            raise PairingRefused("the ticket was made by this device")
        if ticket.expires_ms <= time.time() * 1000:
            raise PairingRefused("this ticket has expired")
        who = short_device(ticket.inviter)
        try:
            conn = await self._ctx.dial(
                ticket.inviter, ticket.addresses, ALPN_PAIR, CONNECT_TIMEOUT_S
            )
            bi = await conn.open_bi()
            send, recv = bi.send(), bi.recv()
            shown = proof(ticket.secret, self._ctx.device, ticket.inviter, ticket.library)
            await write_frame(
                send, {"lib": ticket.library, "proof": shown, "name": self._ctx.device_name}
            )
            answer, _ = await asyncio.wait_for(read_frame(recv, SMALL_FRAME), HELLO_TIMEOUT_S)
        except NetError:
            raise
        except (Exception, asyncio.TimeoutError) as exc:  # noqa: BLE001
            raise PeerUnreachable(who, why(exc) or "timed out") from None
        conn.close(0, b"paired")
        if type(answer) is not dict:
            raise ProtocolViolation("a pairing answer that is not a map")
        if "refused" in answer:
            raise PairingRefused(str(answer["refused"])[:300])
        library_name = str(answer.get("library_name", "shared"))[:256]
        inviter_name = str(answer.get("name", ""))[:256]
        library_id = ticket.library.hex()
        self._joining.add(library_id)
        try:
            return await self._receive(ticket, library_name, inviter_name, message.progress)
        finally:
            self._joining.discard(library_id)

    async def _receive(
        self, ticket: Ticket, library_name: str, inviter_name: str, progress: str | None
    ) -> dict[str, Any]:
        """The inviter took this device: the library's log, until this device holds it all."""
        library_id = ticket.library.hex()
        created = self._ctx.library(library_id) is None
        if created:
            await self._ctx.create_library(library_name, library_id)
        ls = await self._sync.serve(library_id)
        if ls is None:
            raise NetError(f"library {library_id} could not be opened here")
        joining = Joining(ticket.inviter, inviter_name or None, ticket.addresses)
        await self._ctx.blocking(joining.save, ls.lib.config.paths.root)
        ls.trust(joining.inviter, joining.name, joining.addresses)
        await self._sync.refresh_peers(ls)
        try:
            received = await self._caught_up(ls, ticket.inviter, progress)
            await self._check_joined(ls, ticket.inviter, inviter_name)
        except BaseException:
            if created:
                await self._leave(ls)
            else:
                await self._joined(ls, ticket.inviter)  # no longer trusted beyond membership
            raise
        await self._joined(ls, ticket.inviter)
        log.info("pair_joined", library=library_id, inviter=ticket.inviter.hex(), created=created)
        return {
            "library": library_id,
            "library_name": ls.lib.config.name,
            "created": created,
            "device": ticket.inviter.hex(),
            "name": inviter_name,
            "events_received": received,
        }

    async def _joined(self, ls: LibrarySync, inviter: bytes) -> None:
        ls.joining.pop(inviter, None)
        await self._ctx.blocking(Joining.clear, ls.lib.config.paths.root)
        self._sync.announce(ls)

    async def _resume_join(self, ls: LibrarySync) -> None:
        """A library's sync started: a join a killed node left unfinished in it (its mark is
        still there) trusts the inviter again, and finishes in the background."""
        if ls.id in self._joining:
            return
        unfinished = await self._ctx.blocking(Joining.load, ls.lib.config.paths.root)
        if unfinished is None or ls.id in self._joining:
            return
        ls.trust(unfinished.inviter, unfinished.name, unfinished.addresses)
        await self._sync.refresh_peers(ls)
        self._ctx.spawn(self._finish_join(ls, unfinished))

    async def _finish_join(self, ls: LibrarySync, joining: Joining) -> None:
        """A join a killed node left unfinished: receive the rest, then check the pairing
        counts (else leave the library, which this device only held for that join)."""
        try:
            await self._caught_up(ls, joining.inviter, None)
            await self._check_joined(ls, joining.inviter, joining.name or "")
        except (PairingRefused, NetError) as exc:
            log.warning("pair_join_failed", library=ls.id, reason=str(exc))
            await self._leave(ls)
            return
        await self._joined(ls, joining.inviter)
        log.info("pair_joined", library=ls.id, inviter=joining.inviter.hex(), resumed=True)

    async def _check_joined(self, ls: LibrarySync, inviter: bytes, inviter_name: str) -> None:
        """Once the inviter's events are here, the library's own membership says whether the
        pairing counts: a ticket from a device that is not an admin pairs nobody."""
        table = {p.device: p for p in await self._ctx.peers(ls.lib)}
        mine, theirs = table.get(self._ctx.device), table.get(inviter)
        if mine is not None and mine.member and theirs is not None and theirs.member:
            return
        who = describe(inviter, inviter_name or None)
        if theirs is None or theirs.role != "admin":
            raise PairingRefused(
                f"{who} is not an admin of library {ls.lib.config.name!r}, so its ticket "
                "pairs no device (only admins pair devices): left the library"
            )
        raise PairingRefused(
            f"{who} let this device pair, but its pairing is not in the library's log: "
            "left the library"
        )

    async def _leave(self, ls: LibrarySync) -> None:
        """Stop syncing a library this device joined in vain, and delete it here."""
        await self._sync.forget(ls)
        await self._ctx.discard_library(ls.id)
        log.info("pair_left", library=ls.id)

    async def _caught_up(self, ls: LibrarySync, device: bytes, progress: str | None) -> int:
        """Wait until this node holds everything the inviter said it held; the events got.
        How far it has come goes to the ``progress`` channel, if one is named."""
        link = ls.links[device]
        start = sum((await ls.vector()).values())
        while True:
            mine = await ls.vector()
            got = sum(mine.values()) - start
            if link.session is not None and link.theirs and lacking(mine, link.theirs) == 0:
                # Every event is here: the index folds them in the background (a read
                # catches up first), so joining does not wait for it.
                return got
            if link.session is None and link.reason and "refused" in link.reason:
                if "not paired" in link.reason:
                    raise PairingRefused(
                        f"{describe(device, link.name)} let this device pair but does not "
                        f"accept it in library {ls.lib.config.name!r}: its pairing does not "
                        "count (only admins pair devices): left the library"
                    )
                raise NetError(f"sync with {describe(device, link.name)} failed: {link.reason}")
            want = sum(link.theirs.values()) - start if link.theirs else None
            self._ctx.progress.post(progress, {"done": got, "expected": want})
            await asyncio.sleep(CAUGHT_UP_POLL_S)
