"""Thumbnails and media data: where the media job stands, run it, clear the thumbnails, find
the thumbnail of a file of this device (for ``thumb.fetch``, ``sd thumb``); and the
library's media setting (GPS).

The media job itself is ``sdactors/jobs/media.py``; these read what it recorded (the index's
``media`` table) and what it wrote (``<library>/thumbnails``).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from events.shapes import Bool, Int, Maybe
from projections.files.media import media_of
from projections.files.query import Resolved
from projections.files.schema import EID_MASK
from sdactors.jobs.media import is_media, media_status
from sdactors.media.layout import thumbnail_path
from sdactors.media.settings import media_settings, set_media_gps
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.locations import WANTED, Location, find_location, list_locations
from sdactors.ops.results import BOOL, COUNT, HEX, MAP, TEXT, many, record
from sdactors.ops.shapes import LIBRARY
from sdactors.runtime.errors import LocationIsOffline, NoThumbnailYet
from sdactors.runtime.paths import show, text

# Failures listed per location by ``sd thumbs status`` unless asked for more.
FAILURES_SHOWN = 50

FAILURE = record(path=TEXT, error=TEXT)
LOCATION_STATUS = record(
    location=HEX,
    path=TEXT,
    done=COUNT,
    pending=COUNT,
    failed=COUNT,
    failures=many(FAILURE),
)


def _mine(ctx: OpContext, lib: Any, wanted: bytes | None) -> list[Location]:
    if wanted is not None:
        return [find_location(lib, os.fsdecode(wanted), ctx.device)]
    return [loc for loc in list_locations(lib) if loc.device == ctx.device]


@op("thumbs.status")
@dataclass(frozen=True)
class ThumbsStatus(Op):
    """Per location of this device: files described, waiting, and those that could not be
    read with why."""

    location: Annotated[bytes | None, Maybe(WANTED)] = None
    failures: Annotated[int, Int(0, 1_000_000)] = FAILURES_SHOWN
    library: Annotated[str | None, LIBRARY] = None

    result = many(LOCATION_STATUS)

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.read_library(self.library)
        out = []
        for loc in _mine(ctx, lib, self.location):
            with lib.index() as db:
                status = media_status(db, ctx.device, loc.id)
            out.append(
                {
                    "location": loc.id.hex(),
                    "path": text(loc.path),
                    "done": status.done,
                    "pending": status.pending,
                    "failed": len(status.failures),
                    "failures": [
                        {"path": text(path), "error": why}
                        for path, why in status.failures[: self.failures]
                    ],
                }
            )
        return out


@op("thumbs.run", writes=True)
@dataclass(frozen=True)
class ThumbsRun(Op):
    """The media job of a location (or of each of this device's online locations): a node
    queues it and answers at once; without one it runs here to its end. Thumbnails missing
    from what is already described (``sd thumbs clear``) are made again."""

    location: Annotated[bytes | None, Maybe(WANTED)] = None
    library: Annotated[str | None, LIBRARY] = None

    result = many(record(location=HEX, path=TEXT, queued=BOOL, counts=MAP))

    def validate(self, ctx: OpContext) -> None:
        lib = ctx.write_library(self.library)
        lib.catch_up()
        for loc in _mine(ctx, lib, self.location):
            if loc.offline is not None and self.location is not None:
                raise LocationIsOffline(show(loc.path), loc.offline)

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.write_library(self.library)
        lib.catch_up()
        out = []
        for loc in _mine(ctx, lib, self.location):
            if loc.offline is not None:
                continue
            params = {"thumbnails": True}
            if ctx.serving:
                lib.submit_job("media", loc.id, params)
                counts: dict[str, Any] = {}
            else:
                counts = lib.run_job("media", loc.id, params, ctx.progress)
            out.append(
                {"location": loc.id.hex(), "path": text(loc.path), "queued": ctx.serving,
                 "counts": counts}
            )  # fmt: skip
        return out


@op("thumbs.clear")
@dataclass(frozen=True)
class ThumbsClear(Op):
    """Remove this library's thumbnails on this device (its media data stays in the log:
    ``sd thumbs run`` makes them again)."""

    library: Annotated[str | None, LIBRARY] = None

    result = record(path=TEXT, files=COUNT, bytes=COUNT)

    def run(self, ctx: OpContext) -> Any:
        root = ctx.find(self.library).paths.thumbnails
        # Moved aside first: a reader (or a job writing) sees all of them or none, and a
        # thumbnail written meanwhile lands in a new folder, not in one being removed.
        aside = root.with_name(f".{root.name}-clearing-{os.getpid()}")
        try:
            os.rename(root, aside)
        except FileNotFoundError:
            return {"path": str(root), "files": 0, "bytes": 0}
        files = size = 0
        for folder, _dirs, names in os.walk(aside):
            for name in names:
                try:
                    size += os.lstat(os.path.join(folder, name)).st_size
                    files += 1
                except OSError:
                    pass
        shutil.rmtree(aside, ignore_errors=True)
        return {"path": str(root), "files": files, "bytes": size}


def local_thumbnail(lib: Any, found: Resolved, path: bytes, size: int) -> Path:
    """The thumbnail this device made of its file ``found`` (resolved from ``path`` on this
    device, a file with a content id); NoThumbnailYet saying why there is none: not an
    image, a PDF or a video, not read yet, could not be read, cleared."""
    child = found.child
    assert child is not None and child.cid is not None
    if not is_media(child.kind, child.name):
        raise NoThumbnailYet(show(path), "it is not an image, a PDF or a video")
    where = thumbnail_path(lib.config.paths.thumbnails, child.cid, size)
    if where.exists():
        return where
    with lib.index() as db:
        media = media_of(db, (found.folder & ~EID_MASK) | child.eid)
    if media is None or media["cid"] != child.cid:
        raise NoThumbnailYet(show(path), "the media job has not read it yet ('sd thumbs status')")
    if media["error"] is not None:
        raise NoThumbnailYet(show(path), f"it could not be read: {media['error']}")
    raise NoThumbnailYet(
        show(path), "its thumbnails were cleared: 'sd thumbs run' makes them again"
    )


@op("library.set")
@dataclass(frozen=True)
class LibrarySet(Op):
    """This device's settings of a library (its library.toml); without one to change, what
    they are."""

    media_gps: Annotated[bool | None, Maybe(Bool())] = None
    library: Annotated[str | None, LIBRARY] = None

    result = record(library=TEXT, media_gps=BOOL)

    def run(self, ctx: OpContext) -> Any:
        config = ctx.find(self.library)
        if self.media_gps is not None:
            set_media_gps(config.paths, self.media_gps)
        return {"library": config.name, "media_gps": media_settings(config.paths).gps}
