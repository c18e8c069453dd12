"""``thumb.fetch``: the thumbnail of a file, whichever device of the library holds it.

A file of this device: its library's own thumbnail (``sdactors/media/layout.py``). A file of
another device: the node's cache of fetched thumbnails, else the device holding it, asked
over the network (``sdactors/net/thumbs/``) while it is reachable, its answer kept in the
cache. Without a node a cached thumbnail is still found; fetching one needs the node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from events.domain.entries import DIR
from events.shapes import OneOf
from projections.devices import Peer, peers
from projections.files.query import resolve_held
from sdactors.library.config import LibraryConfig
from sdactors.media.layout import GRID, SIZES, thumbnail_path
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.network import network
from sdactors.ops.results import HEX, MAYBE_TEXT, TEXT, record
from sdactors.ops.shapes import LIBRARY, PATH
from sdactors.runtime.errors import InvalidArgument, NoThumbnail, NotIndexed
from sdactors.runtime.paths import show

# Where a thumbnail came from: the library's own folder, the cache, or the device asked now.
SOURCES = ("library", "cache", "network")
# A fetch dials for a few seconds and reads 2 MiB at most: this only guards a lost reply.
FETCH_TIMEOUT_S = 30.0


@op("thumb.fetch")
@dataclass(frozen=True)
class ThumbFetchOp(Op):
    """The thumbnail of the file at PATH (indexed on any device of the library), at SIZE
    pixels: its local path."""

    path: Annotated[bytes, PATH]
    size: Annotated[int, OneOf(SIZES)] = GRID.size
    library: Annotated[str | None, LIBRARY] = None

    result = record(
        path=TEXT, source=OneOf(SOURCES), device=HEX, device_name=MAYBE_TEXT, size=OneOf(SIZES)
    )

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.read_library(self.library)
        with lib.index() as db:
            found = resolve_held(db, self.path, ctx.device)
            table = peers(db)
        if found is None:
            raise NotIndexed(show(self.path))
        resolved, device = found
        child = resolved.child
        if child is None or child.ftype == DIR:
            raise InvalidArgument(f"{show(self.path)} is a folder: thumbnails are of files")
        if child.cid is None:
            raise InvalidArgument(
                f"{show(self.path)} has no content id yet (it is empty, or not identified "
                "yet): it has no thumbnail"
            )
        holder = next((p for p in table if p.device == device), None)
        holder = holder or Peer(device, None, None, False, None, ())
        return fetch_thumbnail(ctx, lib.config, holder, child.cid, self.size)


def fetch_thumbnail(
    ctx: OpContext, config: LibraryConfig, holder: Peer, cid: bytes, size: int
) -> dict[str, Any]:
    """The thumbnail of content ``cid`` at ``size`` as ``holder`` (the device whose entry it
    is) has it, found as the module's text says; what ``thumb.fetch`` answers."""
    from sdactors.net.messages import ThumbFetch
    from sdactors.net.thumbs.cache import ThumbnailCache
    from sdactors.runtime.config import load_node_config

    name = holder.name or holder.device.hex()[:10]
    shown = {"device": holder.device.hex(), "device_name": holder.name, "size": size}
    if holder.device == ctx.device:
        own = thumbnail_path(config.paths.thumbnails, cid, size)
        if not own.is_file():
            raise NoThumbnail(name, size)
        return {"path": str(own), "source": "library"} | shown
    if holder.revoked:
        raise InvalidArgument(f"the device holding it ({name}) is revoked in this library")
    net = ctx.network if ctx.serving else None
    if net is None:  # no node: what the node fetched before is here all the same
        cache = ThumbnailCache.of(ctx.data, load_node_config(ctx.data).thumbnails)
        hit = cache.get(config.id, cid, size)
        if hit is not None:
            return {"path": str(hit), "source": "cache"} | shown
        net = network(ctx, "fetching a thumbnail from another device")
    message = ThumbFetch(config.id, holder.device, name, holder.addresses, cid, size)
    return net.ask(message, timeout=FETCH_TIMEOUT_S) | shown
