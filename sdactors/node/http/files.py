"""``GET /api/v1/thumb/{library}/{content}/{size}`` and ``GET /api/v1/file/{library}/...``:
a thumbnail by content id, a file's bytes, behind the same guard as every route.

A thumbnail is this library's own (made by this device's media job), else one fetched
before (the node's cache), else, given the device holding the file (``?device=HEX``, as a
search result names it), fetched from it now (``thumb.fetch``'s way). A file is served only
by the device holding it, found by its entry (``{device}/{eid}``) or its path (``?path=``),
opened without following a link and checked to be a regular file. A file of the user's is
served so that it can never act as a page of the node: ``Content-Security-Policy: sandbox``,
no type sniffing, and anything but pictures, sound, video, PDF and plain text as a download.
"""

from __future__ import annotations

import mimetypes
import os
import stat
from typing import Any, AsyncIterator

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from events.domain.entries import DIR
from projections.devices import Peer, peers
from projections.files.listings import C_FTYPE, C_NAME
from projections.files.query import device_base, folder_path, locate, resolve
from sdactors.media.layout import SIZES, thumbnail_path
from sdactors.runtime.errors import InvalidArgument, NotIndexed
from sdactors.runtime.paths import show

CHUNK = 1 << 20
# Served inline (shown by the browser); anything else is a download.
INLINE = ("image/", "video/", "audio/", "application/pdf", "text/plain")
GUARD_HEADERS = {
    "content-security-policy": "sandbox",
    "x-content-type-options": "nosniff",
    "cache-control": "private, no-store",
}


def _hex(value: str, size: int | None, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise InvalidArgument(f"{what}: {value[:40]!r} is not hex") from None
    if size is not None and len(raw) != size:
        raise InvalidArgument(f"{what}: {len(raw)} bytes where {size} are expected")
    return raw


def thumbnail(ctx: Any, library: str, content: str, size: int, device: str | None) -> str:
    """The thumbnail's file (in a worker thread: it reads the index, it may ask the
    network); NotIndexed-like errors say why there is none."""
    from sdactors.net.thumbs.cache import ThumbnailCache
    from sdactors.ops.thumb_fetch import fetch_thumbnail
    from sdactors.runtime.config import load_node_config

    if size not in SIZES:
        raise InvalidArgument(f"size: {size} is not one of {', '.join(map(str, SIZES))}")
    cid = _hex(content, None, "content")
    config = ctx.find(library)
    own = thumbnail_path(config.paths.thumbnails, cid, size)
    if own.is_file():
        return str(own)
    cached = ThumbnailCache.of(ctx.data, load_node_config(ctx.data).thumbnails).get(
        config.id, cid, size
    )
    if cached is not None:
        return str(cached)
    holder_id = _hex(device, None, "device") if device else None
    if holder_id is None or holder_id == ctx.device:
        raise NotIndexed(f"a thumbnail of content {content} at {size} pixels")
    lib = ctx.read_library(config.id)
    with lib.index() as db:
        table = peers(db)
    holder = next((p for p in table if p.device == holder_id), None)
    holder = holder or Peer(holder_id, None, None, False, None, ())
    return str(fetch_thumbnail(ctx, config, holder, cid, size)["path"])


def held_file(
    ctx: Any, library: str, device: str | None, eid: int | None, path: str | None
) -> bytes:
    """The path of a file of this device, by its entry or by its path (worker thread)."""
    lib = ctx.read_library(library)
    with lib.index() as db:
        if path is not None:
            wanted = os.fsencode(path)
            found = resolve(db, wanted, ctx.device)
            if found is None or found.child is None:
                raise NotIndexed(show(wanted))
            if found.child.ftype == DIR:
                raise InvalidArgument(f"{show(wanted)} is a folder")
            return wanted
        holder = _hex(device or "", 32, "device")
        if holder != ctx.device:
            raise InvalidArgument("the file is held by another device: only it serves its bytes")
        base = device_base(db, holder)
        where = locate(db, [base | eid]) if base is not None and eid is not None else {}
        if not where:
            raise NotIndexed(f"entry {eid} of device {holder.hex()[:10]}")
        folder, record = next(iter(where.values()))
        if record[C_FTYPE] == DIR:
            raise InvalidArgument(f"entry {eid} is a folder")
        above = folder_path(db, folder)
        if above is None:
            raise NotIndexed(f"entry {eid} of device {holder.hex()[:10]}")
        return above.rstrip(b"/") + b"/" + record[C_NAME]


def _open_regular(path: bytes | str) -> tuple[int, int]:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise InvalidArgument(f"{show(os.fsencode(path))} is not a regular file")
    return fd, st.st_size


async def _chunks(fd: int) -> AsyncIterator[bytes]:
    try:
        while True:
            chunk = await anyio.to_thread.run_sync(os.read, fd, CHUNK)
            if not chunk:
                return
            yield chunk
    finally:
        os.close(fd)


async def send_file(path: bytes | str, media_type: str | None = None) -> Response:
    fd, size = await anyio.to_thread.run_sync(_open_regular, path)
    name = os.fsdecode(os.path.basename(os.fsencode(path)))
    kind = media_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    headers = {**GUARD_HEADERS, "content-length": str(size)}
    if not kind.startswith(INLINE):
        kind = "application/octet-stream"
        headers["content-disposition"] = "attachment"
    return StreamingResponse(_chunks(fd), media_type=kind, headers=headers)


def query_int(request: Request, name: str) -> int | None:
    raw = request.path_params.get(name)
    if raw is None:
        return None
    if not str(raw).isdigit():
        raise InvalidArgument(f"{name}: {str(raw)[:40]!r} is not a number")
    return int(raw)
