"""The Networking actor: the one way into this node's networking, by typed messages.

The node starts one (:mod:`sdactors.node.process`); commands ``tell`` and ``ask`` it the
messages of :mod:`sdactors.net.messages`, from any thread. Behind it, on the endpoint's loop
(:mod:`sdactors.net.endpoint`), four services that share only a
:class:`sdactors.net.context.NetContext`: sync (:mod:`sdactors.net.sync_service`), pairing
(:mod:`sdactors.net.pairing_service`), Spacedrop (:mod:`sdactors.net.drop.service`) and
thumbnails (:mod:`sdactors.net.thumbs.service`). Each serves its own protocol's connections;
the actor routes each message to its service.

A reply comes only through the ask's future, as plain data. A long ask that a client watches
(``sd pair join``, ``sd drop send``, ``sd drop accept``) names a progress channel in its
message; :meth:`Networking.ask` opens one when given ``report``, and hands each record the
service posts to ``report`` in the asking thread until the reply comes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

from sdactors.net.context import NetContext, NetHost
from sdactors.net.drop.service import Drops
from sdactors.net.drop.wire import ALPN_DROP
from sdactors.net.endpoint import Endpoint
from sdactors.net.messages import (
    DropMessage,
    NetMessage,
    PairMessage,
    Serve,
    SyncMessage,
    ThumbFetch,
)
from sdactors.net.pairing import ALPN_PAIR
from sdactors.net.pairing_service import PairingService
from sdactors.net.state import NetState
from sdactors.net.sync import ALPN_SYNC
from sdactors.net.sync_service import SyncService
from sdactors.net.thumbs.cache import ThumbnailCache
from sdactors.net.thumbs.service import Thumbnails
from sdactors.net.thumbs.wire import ALPN_THUMB
from sdactors.runtime.config import NetworkConfig
from sdactors.runtime.progress import ProgressChannels

# Where a client's progress goes, in the asking thread.
Report = Callable[[dict[str, Any]], None]


class Networking:
    """See the module's text. ``start`` binds the endpoint; ``stop`` closes it."""

    def __init__(
        self,
        host: NetHost,
        config: NetworkConfig,
        thumbnails: ThumbnailCache,
        state: Path | None = None,
    ) -> None:
        """``thumbnails``: where thumbnails fetched from other devices are kept. ``state``:
        where the node keeps what networking remembers across restarts (the ports it
        listened on, the peers paused: :mod:`sdactors.net.state`)."""
        kept = NetState(state)
        self._endpoint = Endpoint(host.key, config, kept)
        self._channels = ProgressChannels()
        ctx = NetContext(host, self._endpoint, self._channels)
        self._sync = SyncService(ctx, kept)
        self._pairing = PairingService(ctx, self._sync)
        self._drops = Drops(ctx)
        self._thumbs = Thumbnails(ctx, thumbnails)

    @property
    def addresses(self) -> tuple[str, ...]:
        """Where peers can dial this node."""
        return self._endpoint.addresses

    def start(self, timeout: float = 30.0) -> None:
        protocols = {
            ALPN_PAIR: self._pairing.answer,
            ALPN_SYNC: self._sync.answer,
            ALPN_DROP: self._drops.answer,
            ALPN_THUMB: self._thumbs.answer,
        }
        self._endpoint.start(protocols, self._stopping, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        self._endpoint.stop(timeout)

    def tell(self, message: NetMessage) -> None:
        """Hand ``message`` to the actor; nothing once it has stopped."""
        self._endpoint.soon(self._told, message)

    def ask(
        self, message: NetMessage, timeout: float | None = 60.0, report: Report | None = None
    ) -> Any:
        """The reply to ``message`` (its error raised here). With ``report``, a message that
        has a ``progress`` field is sent naming a channel opened for this ask, and each
        record posted on it goes to ``report``, in this thread, until the reply comes."""
        if report is None or not hasattr(message, "progress"):
            return self._endpoint.submit(self._handle(message)).result(timeout)
        with self._channels.open() as channel:
            named = dataclasses.replace(message, progress=channel.id)  # type: ignore[type-var]
            return channel.follow(self._endpoint.submit(self._handle(named)), report, timeout)

    def _told(self, message: NetMessage) -> None:
        self._endpoint.spawn(self._handle(message))

    async def _handle(self, message: NetMessage) -> Any:
        if isinstance(message, Serve):
            await self._sync.serve(message.library)
            return None
        if isinstance(message, SyncMessage):
            return await self._sync.handle(message)
        if isinstance(message, PairMessage):
            return await self._pairing.handle(message)
        if isinstance(message, DropMessage):
            return await self._drops.handle(message)
        if isinstance(message, ThumbFetch):
            return await self._thumbs.fetch(message)
        raise TypeError(f"Networking got an unexpected message: {message!r}")

    def _stopping(self) -> None:
        """The node stops: sessions end saying so, offers still waiting are refused."""
        self._sync.close()
        self._drops.close()
