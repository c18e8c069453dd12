"""The thumbnail service: thumbnails asked of the devices that hold the files, and served to
them (``sd/thumb/1``, :mod:`sdactors.net.thumbs.wire`).

Asking (:class:`sdactors.net.messages.ThumbFetch`): a thumbnail in this node's cache
(:mod:`sdactors.net.thumbs.cache`) is answered from it without a word on the network;
otherwise the device holding the file is dialed (one connection per ask, a short timeout),
and what it sends, checked to be a WebP of at most 2 MiB, is kept in the cache. Two asks of
one thumbnail at once make one fetch.

Serving: to a member of the library, not revoked (read fresh from the index, as sync checks
its peers: :func:`sdactors.net.context.refusal`), the library's own thumbnail of that
content at that size, or "none". Everything here runs on the endpoint's loop; the disk is
read and written in executor threads.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from sdactors.net.context import refusal
from sdactors.net.endpoint import HELLO_TIMEOUT_S
from sdactors.net.frames import SMALL_FRAME, let_peer_close, read_frame, why, write_frame
from sdactors.net.messages import ThumbFetch
from sdactors.net.thumbs.cache import ThumbnailCache
from sdactors.net.thumbs.wire import (
    ALPN_THUMB,
    ANSWER_MOST,
    WEBP_MOST,
    ask_frame,
    check_answer,
    check_ask,
    read_thumbnail,
)
from sdactors.runtime.errors import HolderUnreachable, NoThumbnail, PeerGone
from sdactors.runtime.logs import get_logger

if TYPE_CHECKING:
    from sdactors.net.context import NetContext

log = get_logger(__name__)

# A device that answers no handshake within this long is taken as out of reach: whoever
# asked is looking at a file's picture, not waiting for a sync.
DIAL_S = 4.0
# The answer, once connected (2 MiB at most).
ANSWER_S = 10.0
# Thumbnails read from the disk at once for peers; the others wait their turn.
SERVING_MOST = 8

Key = tuple[str, bytes, int]


class Thumbnails:
    """See the module's text."""

    def __init__(self, ctx: NetContext, cache: ThumbnailCache) -> None:
        self._ctx = ctx
        self._cache = cache
        self._fetching: dict[Key, asyncio.Future[dict[str, Any]]] = {}
        self._serving = asyncio.Semaphore(SERVING_MOST)

    # -- asking ----------------------------------------------------------------------------

    async def fetch(self, message: ThumbFetch) -> dict[str, Any]:
        """The thumbnail's path in the cache, and whether it was there already (``source``:
        ``cache`` or ``network``)."""
        key = (message.library, message.cid, message.size)
        running = self._fetching.get(key)
        if running is None:
            running = self._fetching[key] = asyncio.ensure_future(self._fetch(message))
            running.add_done_callback(lambda _done: self._fetching.pop(key, None))
        return await asyncio.shield(running)

    async def _fetch(self, message: ThumbFetch) -> dict[str, Any]:
        key = (message.library, message.cid, message.size)
        hit = await self._ctx.blocking(self._cache.get, *key)
        if hit is not None:
            return {"path": str(hit), "source": "cache"}
        data = await self._ask(message)
        if data is None:
            raise NoThumbnail(message.name, message.size)
        path = await self._ctx.blocking(self._cache.put, *key, data)
        log.info(
            "thumbnail_fetched",
            device=message.device.hex(),
            library=message.library,
            size=message.size,
            bytes=len(data),
        )
        return {"path": str(path), "source": "network"}

    async def _ask(self, message: ThumbFetch) -> bytes | None:
        """What the device holding the file answers: the thumbnail, or None if it has none."""
        if not message.addresses:
            raise HolderUnreachable(message.name, "no address is known for it yet")
        try:
            conn = await self._ctx.dial(message.device, message.addresses, ALPN_THUMB, DIAL_S)
        except asyncio.TimeoutError:
            raise HolderUnreachable(message.name, f"no answer within {DIAL_S:.0f} s") from None
        except Exception as exc:  # noqa: BLE001 - any failure to reach it
            raise HolderUnreachable(message.name, why(exc)) from None
        try:
            bi = await conn.open_bi()
            ask = ask_frame(bytes.fromhex(message.library), message.cid, message.size)
            await write_frame(bi.send(), ask)
            answer, _ = await asyncio.wait_for(read_frame(bi.recv(), ANSWER_MOST), ANSWER_S)
        except asyncio.TimeoutError:
            raise HolderUnreachable(message.name, f"no answer within {ANSWER_S:.0f} s") from None
        except PeerGone as exc:
            raise HolderUnreachable(message.name, str(exc)) from None
        except Exception as exc:
            if not type(exc).__module__.startswith("iroh"):
                raise  # a frame out of bounds: the peer broke the protocol
            raise HolderUnreachable(message.name, why(exc)) from None
        finally:
            try:
                conn.close(0, b"bye")
            except Exception:  # noqa: BLE001
                pass
        return check_answer(answer, message.name)

    # -- serving ---------------------------------------------------------------------------

    async def answer(self, conn: Any, peer: bytes) -> None:
        """Serve one ``sd/thumb/1`` connection from ``peer``: one ask, one answer."""
        bi = await asyncio.wait_for(conn.accept_bi(), HELLO_TIMEOUT_S)
        send, recv = bi.send(), bi.recv()
        frame, _ = await asyncio.wait_for(read_frame(recv, SMALL_FRAME), HELLO_TIMEOUT_S)
        library, cid, size = check_ask(frame)
        await write_frame(send, await self._answer(peer, library, cid, size))
        await let_peer_close(conn)

    async def _answer(self, peer: bytes, library: str, cid: bytes, size: int) -> dict[str, Any]:
        lib = self._ctx.library(library)
        if lib is None:
            return _refused(
                peer, library, "this device does not serve that library", "unknown-library"
            )
        refused = refusal(await self._ctx.peers(lib), peer)
        if refused is not None:
            return _refused(peer, library, *refused)
        async with self._serving:
            data = await self._ctx.blocking(read_thumbnail, lib.config.paths.thumbnails, cid, size)
        if data is None:
            return {"none": True}
        if len(data) > WEBP_MOST:
            return _refused(peer, library, "that thumbnail is larger than 2 MiB", "too-large")
        return {"webp": data}


def _refused(peer: bytes, library: str, reason: str, code: str) -> dict[str, Any]:
    log.warning("thumbnail_refused", library=library, device=peer.hex(), reason=reason)
    return {"refused": reason, "code": code}
