"""``sd trash list|restore|empty``: what ``sd rm`` removed, and the files ``--force``
replaced, kept in the library's trash (``sdactors/fileops/trash.py``) until put back where
they were or deleted for good.

A restore is a file operation like the others: refused before anything is written when it
cannot be done (something is at the path now, its folder is gone, it is not inside an online
location of this device), run as a job of the location it returns to, the index following.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated, Any

from events.shapes import Int, ListOf, Text
from sdactors import fileops
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.files import follow, in_location, run_job
from sdactors.ops.results import COUNT, MAP, MAYBE_TEXT, PLAIN, TEXT, TIME, many, record
from sdactors.ops.shapes import CLEAN_PATH, LIBRARY
from sdactors.runtime.errors import InvalidArgument, TrashItemNotFound
from sdactors.runtime.paths import show

if TYPE_CHECKING:
    from sdactors.library.handle import Library
    from sdactors.library.reader import LibraryReader

ITEM = Text(4, 12, pattern="[0-9a-fA-F]+")
# At most a century: any longer is everything.
SPAN_S = Int(0, 100 * 365 * 86400)


TRASHED = record(id=TEXT, path=MAYBE_TEXT, trashed=TIME, size=COUNT, entries=COUNT, where=TEXT)


def _folder(lib: Library | LibraryReader) -> bytes:
    return os.fsencode(lib.config.paths.trash)


def _as_json(item: fileops.Trashed) -> dict[str, Any]:
    when = datetime.fromtimestamp(item.trashed_ns / 1e9, timezone.utc)
    return {
        "id": item.id,
        "path": None if item.path is None else show(item.path),
        "trashed": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "size": item.size,
        "entries": item.entries,
        "where": show(item.where),
    }


@op("trash.list")
@dataclass(frozen=True)
class TrashList(Op):
    """What the trash holds, oldest first."""

    library: Annotated[str | None, LIBRARY] = None

    result = many(TRASHED)

    def run(self, ctx: OpContext) -> Any:
        return [_as_json(t) for t in fileops.items(_folder(ctx.read_library(self.library)))]


def _chosen(
    held: list[fileops.Trashed], ids: tuple[str, ...], paths: tuple[bytes, ...]
) -> list[fileops.Trashed]:
    """The items named: by id (a unique prefix), or by the path they had (the latest
    removed from there)."""
    chosen: dict[str, fileops.Trashed] = {}
    for wanted in ids:
        found = [t for t in held if t.id.startswith(wanted.lower())]
        if len(found) != 1:
            raise TrashItemNotFound(wanted, len(found))
        chosen.setdefault(found[0].id, found[0])
    for path in paths:
        found = [t for t in held if t.path == path]
        if not found:
            raise TrashItemNotFound(show(path))
        chosen.setdefault(found[-1].id, found[-1])
    return list(chosen.values())


@op("trash.restore", writes=True)
@dataclass(frozen=True)
class TrashRestore(Op):
    """Put items back where they were removed from, never over anything there now."""

    ids: Annotated[tuple[str, ...], ListOf(ITEM, 0, 1000)] = ()
    paths: Annotated[tuple[bytes, ...], ListOf(CLEAN_PATH, 0, 1000)] = ()
    library: Annotated[str | None, LIBRARY] = None

    result = record(restored=PLAIN, index=MAP)

    def _checked(self, ctx: OpContext) -> tuple[Library, list[fileops.Trashed]]:
        lib = ctx.write_library(self.library)
        lib.catch_up()
        chosen = _chosen(fileops.items(_folder(lib)), self.ids, self.paths)
        if not chosen:
            raise InvalidArgument("name what to restore: an id or a path (see 'sd trash list')")
        taken: dict[bytes, str] = {}
        for item in chosen:
            fileops.check_restore(item)
            assert item.path is not None  # check_restore refuses an item without one
            if item.path in taken:
                raise InvalidArgument(
                    f"{taken[item.path]} and {item.id} were both at {show(item.path)}: "
                    "restore one of them"
                )
            taken[item.path] = item.id
            in_location(lib, ctx.device, item.path, "restore", root_ok=False)
        return lib, chosen

    def validate(self, ctx: OpContext) -> None:
        self._checked(ctx)

    def run(self, ctx: OpContext) -> Any:
        lib, chosen = self._checked(ctx)
        folder = _folder(lib)
        changed = [folder]  # should the trash be inside a location
        restored = []
        try:
            for item in chosen:
                assert item.path is not None
                run_job(ctx, lib, "restore", item.path, {"trash": folder, "item": item.id})
                changed.append(os.path.dirname(item.path))
                restored.append({"id": item.id, "path": show(item.path)})
        except BaseException:
            follow(lib, ctx.device, changed)  # those put back are in the index
            raise
        return {"restored": restored, "index": follow(lib, ctx.device, changed)}


@op("trash.empty", writes=True)
@dataclass(frozen=True)
class TrashEmpty(Op):
    """Delete for good what was trashed more than ``older_than_s`` seconds ago (all of it
    with 0)."""

    older_than_s: Annotated[int, SPAN_S] = 0
    library: Annotated[str | None, LIBRARY] = None

    result = MAP

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.write_library(self.library)
        folder = _folder(lib)
        before = time.time_ns() - self.older_than_s * 10**9
        done = fileops.empty(folder, before, ctx.progress)
        return {**done, "index": follow(lib, ctx.device, [folder])}
