"""Pairing, devices and sync: commands that go through the node's Networking actor.

Reads (``device.list``, ``sync.status``) also answer without a node, from the library's
read model, and say that nothing is connected because no node runs; commands that need the
network (invite, join, sync now) refuse in one line without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from events.clock import clocks_ahead
from events.domain.device import ROLES, DeviceRevoked, DeviceRole
from events.shapes import Bool, Int, Maybe, OneOf, Text
from projections.devices import Peer, peers
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.context import Network
from sdactors.ops.results import (
    BOOL,
    COUNT,
    HEX,
    INT,
    LINES,
    MAP,
    MAYBE_COUNT,
    MAYBE_TEXT,
    MAYBE_TIME,
    PLAIN,
    TEXT,
    many,
    record,
)
from sdactors.ops.shapes import LIBRARY
from sdactors.runtime.errors import InvalidArgument, LastAdmin, NeedsNode, NotAdmin, UnknownDevice

# How long a pairing ticket works, by default and at the most.
INVITE_DEFAULT_S = 600
INVITE_MOST_S = 7 * 24 * 3600
# Joining waits for the whole log of the library: that can take a while.
JOIN_TIMEOUT_S = 3600.0
TICKET = Text(8, 4096)
DEVICE = Text(1, 256)
# A device of the library, as ``sd device list`` shows it.
DEVICE_SHOWN = record(
    device=HEX,
    name=MAYBE_TEXT,
    this_device=BOOL,
    role=MAYBE_TEXT,
    creator=BOOL,
    paired=BOOL,
    revoked=BOOL,
    kept_upto=MAYBE_COUNT,
    connected=BOOL,
    last_seen=MAYBE_TIME,
    addresses=LINES,
    clock_ahead_ms=Maybe(INT),
)
# A paired device as sync sees it (``sd sync status``): connected or why not, what each side
# lacks, what went over the wire.
SYNC_SHOWN = record(
    device=HEX,
    name=MAYBE_TEXT,
    connected=BOOL,
    behind=MAYBE_COUNT,
    ahead=MAYBE_COUNT,
    last_sync=MAYBE_TIME,
    reason=MAYBE_TEXT,
    since=MAYBE_TIME,
    addresses=LINES,
    bytes_sent=COUNT,
    bytes_received=COUNT,
    connection=PLAIN,
    clock_ahead_ms=Maybe(INT),
)


def network(ctx: OpContext, what: str) -> Network:
    """The serving node's network; a clear line when there is none."""
    if not ctx.serving:
        raise NeedsNode(what, str(ctx.data.root))
    net = ctx.network
    if net is None:
        raise InvalidArgument(f"the node's network did not start: {ctx.network_error}")
    return net


def _peers(ctx: OpContext, library: str | None) -> tuple[Any, list[Peer]]:
    lib = ctx.read_library(library)
    with lib.index() as db:
        return lib, peers(db)


def _label(peer: Peer) -> str:
    return f"{peer.name or '?'} ({peer.device.hex()[:10]})"


def require_admin(ctx: OpContext, library: str | None, what: str) -> list[Peer]:
    """The library's devices, if this device is one of its admins; :class:`NotAdmin` if not
    (the folds would ignore what it wrote: better to say so before writing)."""
    lib, known = _peers(ctx, library)
    if not any(p.device == ctx.device and p.role == "admin" for p in known):
        admins = [_label(p) for p in known if p.role == "admin"]
        raise NotAdmin(what, lib.config.name, admins)
    return known


def _not_last_admin(known: list[Peer], peer: Peer, what: str) -> None:
    if peer.role == "admin" and sum(p.role == "admin" for p in known) == 1:
        raise LastAdmin(_label(peer), what)


def _clocks(lib: Any) -> dict[bytes, int]:
    """The devices whose clock runs ahead of this one's (see ``events.clock.MAX_AHEAD_MS``)."""
    store = lib.log()
    try:
        return clocks_ahead(store.last_hlcs())
    finally:
        store.close()


def find_device(ctx: OpContext, library: str | None, wanted: str) -> Peer:
    """A device of the library by id (or a prefix of at least 4 hex digits) or by name."""
    _lib, known = _peers(ctx, library)
    wanted_l = wanted.lower()
    by_id = [p for p in known if len(wanted_l) >= 4 and p.device.hex().startswith(wanted_l)]
    by_name = [p for p in known if p.name == wanted]
    found = by_id or by_name
    if len(found) != 1:
        if len(found) > 1:
            raise InvalidArgument(f"{wanted!r} names {len(found)} devices; give more of its id")
        raise UnknownDevice(wanted, [f"{p.name or '?'} ({p.device.hex()[:10]})" for p in known])
    return found[0]


@op("pair.invite")
@dataclass(frozen=True)
class PairInvite(Op):
    """A one-time ticket another device joins this library with."""

    expires_s: Annotated[int, Int(1, INVITE_MOST_S)] = INVITE_DEFAULT_S
    library: Annotated[str | None, LIBRARY] = None

    result = MAP

    def run(self, ctx: OpContext) -> Any:
        from sdactors.net.messages import Invite

        require_admin(ctx, self.library, "invite a device")
        net = network(ctx, "sd pair invite")
        return net.ask(Invite(ctx.find(self.library).id, float(self.expires_s)))


@op("pair.join", writes=True)
@dataclass(frozen=True)
class PairJoin(Op):
    """Pair with the device that made TICKET; receive its library when this one lacks it."""

    ticket: Annotated[str, TICKET]

    result = MAP

    def validate(self, ctx: OpContext) -> None:
        from sdactors.net.pairing import Ticket

        Ticket.decode(self.ticket)
        network(ctx, "sd pair join")

    def audit_library(self, ctx: OpContext) -> str | None:
        return None  # the library may not exist here yet: recorded once joined

    def created_library(self, result: Any) -> str | None:
        return result["library"]

    def audited_arguments(self) -> dict[str, Any]:
        # The ticket's secret is used once, but it is a secret: never into the log.
        return {"ticket": self.ticket[:12] + "..."}

    def run(self, ctx: OpContext) -> Any:
        from sdactors.net.messages import Join

        net = network(ctx, "sd pair join")
        return net.ask(Join(self.ticket), timeout=JOIN_TIMEOUT_S, report=ctx.progress)


@op("device.list")
@dataclass(frozen=True)
class DeviceList(Op):
    """The devices of the library: who they are, their role, whether connected, last seen."""

    library: Annotated[str | None, LIBRARY] = None

    result = many(DEVICE_SHOWN)

    def run(self, ctx: OpContext) -> Any:
        from sdactors.net.messages import PeersSeen

        lib, known = _peers(ctx, self.library)
        net = ctx.network
        seen = net.ask(PeersSeen(lib.config.id)) if net is not None else {}
        ahead = _clocks(lib)
        out = []
        for peer in known:
            live = seen.get(peer.device, {})
            out.append(
                {
                    "device": peer.device.hex(),
                    "name": peer.name,
                    "this_device": peer.device == ctx.device,
                    "role": peer.role,
                    "creator": peer.creator,
                    "paired": peer.member,
                    "revoked": peer.revoked,
                    "kept_upto": peer.cut,
                    "connected": bool(live.get("connected")),
                    "last_seen": live.get("last_seen"),
                    "addresses": list(peer.addresses),
                    "clock_ahead_ms": ahead.get(peer.device),
                }
            )
        return out


@op("device.revoke", writes=True)
@dataclass(frozen=True)
class DeviceRevoke(Op):
    """Revoke a device for good: its events up to the last one this device holds are kept,
    every later one is refused everywhere the revocation arrives (an admin only)."""

    device: Annotated[str, DEVICE]
    library: Annotated[str | None, LIBRARY] = None

    result = record(device=HEX, name=MAYBE_TEXT, revoked=BOOL, kept_upto=PLAIN)

    def validate(self, ctx: OpContext) -> None:
        known = require_admin(ctx, self.library, "revoke a device")
        peer = find_device(ctx, self.library, self.device)
        if peer.device == ctx.device:
            raise InvalidArgument("this device cannot revoke itself")
        if peer.revoked:
            raise InvalidArgument(f"device {peer.device.hex()[:10]} is already revoked")
        _not_last_admin(known, peer, "revoked")

    def run(self, ctx: OpContext) -> Any:
        peer = find_device(ctx, self.library, self.device)
        lib = ctx.write_library(self.library)
        store = lib.log()
        try:
            upto = store.head(peer.device)[0]
        finally:
            store.close()
        lib.append_typed(DeviceRevoked(peer.device, upto))
        lib.catch_up()
        return {"device": peer.device.hex(), "name": peer.name, "revoked": True, "kept_upto": upto}


@op("device.role", writes=True)
@dataclass(frozen=True)
class DeviceRoleOp(Op):
    """Make a member an admin, or an admin a member again (an admin only)."""

    device: Annotated[str, DEVICE]
    role: Annotated[str, OneOf(ROLES)]
    library: Annotated[str | None, LIBRARY] = None

    result = record(device=HEX, name=MAYBE_TEXT, role=TEXT)

    def validate(self, ctx: OpContext) -> None:
        known = require_admin(ctx, self.library, "change a device's role")
        peer = find_device(ctx, self.library, self.device)
        if not peer.member:
            state = "revoked" if peer.revoked else "not paired"
            raise InvalidArgument(f"device {_label(peer)} is {state}: it has no role to change")
        if self.role == "member":
            _not_last_admin(known, peer, "made a member")

    def run(self, ctx: OpContext) -> Any:
        peer = find_device(ctx, self.library, self.device)
        lib = ctx.write_library(self.library)
        if peer.role != self.role:
            lib.append_typed(DeviceRole(peer.device, self.role))
            lib.catch_up()
        return {"device": peer.device.hex(), "name": peer.name, "role": self.role}


@op("sync.status")
@dataclass(frozen=True)
class SyncStatusOp(Op):
    """Per paired device: connected, what each side lacks, the last sync, and why not."""

    library: Annotated[str | None, LIBRARY] = None

    result = many(SYNC_SHOWN)

    def run(self, ctx: OpContext) -> Any:
        from sdactors.net.messages import SyncStatus

        config = ctx.find(self.library)
        net = ctx.network
        if net is not None:
            return net.ask(SyncStatus(config.id))
        lib, known = _peers(ctx, self.library)
        ahead = _clocks(lib)
        return [
            {
                "device": p.device.hex(),
                "name": p.name,
                "connected": False,
                "behind": None,
                "ahead": None,
                "last_sync": None,
                "reason": "revoked"
                if p.revoked
                else "no node is running here (start one with 'sd node run')",
                "since": None,
                "addresses": list(p.addresses),
                "bytes_sent": 0,
                "bytes_received": 0,
                "connection": None,
                "clock_ahead_ms": ahead.get(p.device),
            }
            for p in known
            if p.device != ctx.device and p.paired
        ]


@op("sync.now")
@dataclass(frozen=True)
class SyncNowOp(Op):
    """Reconnect to every paired device now, without waiting for the backoff."""

    library: Annotated[str | None, LIBRARY] = None

    result = PLAIN

    def run(self, ctx: OpContext) -> Any:
        from sdactors.net.messages import SyncNow

        return network(ctx, "sd sync now").ask(SyncNow(ctx.find(self.library).id))


@op("sync.pause")
@dataclass(frozen=True)
class SyncPauseOp(Op):
    """Pause or resume sync with one device (by id or name) or with every device."""

    device: Annotated[str | None, Maybe(DEVICE)] = None
    paused: Annotated[bool, Bool()] = True
    library: Annotated[str | None, LIBRARY] = None

    result = PLAIN

    def run(self, ctx: OpContext) -> Any:
        from sdactors.net.messages import SyncPause

        net = network(ctx, "sd sync pause")
        config = ctx.find(self.library)
        chosen = None
        if self.device is not None:
            peer = find_device(ctx, self.library, self.device)
            if peer.device == ctx.device:
                raise InvalidArgument("sync with this device itself cannot be paused")
            chosen = peer.device
        return net.ask(SyncPause(config.id, chosen, self.paused))
