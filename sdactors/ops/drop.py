"""Spacedrop: send files to another device, and decide on offers made to this one.

Every one of these needs the node's network endpoint (``network``): the drop itself runs in
the Networking actor (:mod:`sdactors.net.drop.service`); these commands name the device, its
addresses and the library, and wait on the actor with the client's progress.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from events.shapes import ListOf, Text
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.network import DEVICE, find_device, network
from sdactors.ops.results import MAP, PLAIN
from sdactors.ops.shapes import CLEAN_PATH, LIBRARY
from sdactors.runtime.errors import InvalidArgument, NoLibrary, PeerUnreachable

FULL_ID = re.compile(r"^[0-9a-f]{64}$")
ADDRESS = Text(3, 300)
OFFER = Text(1, 32)


@op("drop.send")
@dataclass(frozen=True)
class DropSendOp(Op):
    """Send files to a device: one of the library's (by id, prefix or name), or any device
    by its whole id with ``addresses`` (it then decides whether to take them)."""

    device: Annotated[str, DEVICE]
    paths: Annotated[tuple[bytes, ...], ListOf(CLEAN_PATH, 1, 10_000)]
    addresses: Annotated[tuple[str, ...], ListOf(ADDRESS, 0, 32)] = ()
    library: Annotated[str | None, LIBRARY] = None

    result = MAP

    def _target(self, ctx: OpContext) -> tuple[bytes, tuple[str, ...], str | None]:
        """The device, where to dial it, and the library the files are offered in."""
        wanted = self.device.lower()
        if self.addresses and FULL_ID.match(wanted):
            try:
                library = ctx.find(self.library).id
            except NoLibrary:
                if self.library is not None:
                    raise
                library = None  # no library here to offer in: the receiver chooses
            return bytes.fromhex(wanted), self.addresses, library
        peer = find_device(ctx, self.library, self.device)
        if self.addresses:  # where the library last heard it was may be out of date
            return peer.device, self.addresses, ctx.find(self.library).id
        who = peer.name or peer.device.hex()[:10]
        if peer.revoked:
            raise InvalidArgument(f"device {who} is revoked in this library")
        if not peer.addresses:
            raise PeerUnreachable(who, "no address is known for it yet (give one with --address)")
        return peer.device, peer.addresses, ctx.find(self.library).id

    def run(self, ctx: OpContext) -> Any:
        from sdactors.net.messages import DropSend

        net = network(ctx, "sd drop send")
        device, addresses, library = self._target(ctx)
        message = DropSend(device, addresses, self.paths, library)
        return net.ask(message, timeout=None, report=ctx.progress)


@op("drop.list")
@dataclass(frozen=True)
class DropListOp(Op):
    """Offers waiting for this device's user, then the drops sent and received lately."""

    result = PLAIN

    def run(self, ctx: OpContext) -> Any:
        from sdactors.net.messages import DropList

        return network(ctx, "sd drop list").ask(DropList())


@op("drop.accept")
@dataclass(frozen=True)
class DropAcceptOp(Op):
    """Take a pending offer: its files land in the library's inbox (waits while they come)."""

    offer: Annotated[str, OFFER]
    library: Annotated[str | None, LIBRARY] = None

    result = MAP

    def run(self, ctx: OpContext) -> Any:
        from sdactors.net.messages import DropDecide

        net = network(ctx, "sd drop accept")
        library = ctx.find(self.library).id if self.library is not None else None
        return net.ask(DropDecide(self.offer, True, library), timeout=None, report=ctx.progress)


@op("drop.reject")
@dataclass(frozen=True)
class DropRejectOp(Op):
    """Refuse a pending offer: the sender is told, nothing is written here."""

    offer: Annotated[str, OFFER]

    result = MAP

    def run(self, ctx: OpContext) -> Any:
        from sdactors.net.messages import DropDecide

        return network(ctx, "sd drop reject").ask(DropDecide(self.offer, False))
