"""Reading the index: ls, search, duplicates, stats. Each returns what ``--json`` prints.

Paths in these commands are absolute (the client resolves them where the user typed them:
the node's working directory is not the user's).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any

from events.domain.entries import BLOCK_DEVICE, CHAR_DEVICE, DIR, FIFO, FILE, SOCKET, SYMLINK
from events.shapes import Bool, Int, ListOf, MapOf, Maybe, Text
from projections.annotations import (
    NONE,
    Annotations,
    annotations_of,
    favourite_entries,
    tagged_entries,
)
from projections.devices import device_names
from projections.files.listings import Child
from projections.files.query import (
    Resolved,
    duplicates,
    file_stats,
    folder_children,
    folder_owners,
    locations,
    resolve,
)
from projections.files.search import Filters, search
from sdactors.indexer.content import shown
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.locations import list_locations, show
from sdactors.ops.results import (
    BOOL,
    COUNT,
    COUNTS,
    HEX,
    LINES,
    MAP,
    MAYBE_TEXT,
    MOST,
    PLAIN,
    TEXT,
    many,
    record,
)
from sdactors.ops.shapes import AT, LIBRARY, PATH
from sdactors.ops.tags import NAME, tags_named
from sdactors.replay.snapshots import reader_at
from sdactors.runtime.errors import InvalidArgument, NotIndexed
from sdactors.runtime.paths import text

TYPES = {
    FILE: "file",
    DIR: "dir",
    SYMLINK: "symlink",
    FIFO: "fifo",
    SOCKET: "socket",
    CHAR_DEVICE: "char-device",
    BLOCK_DEVICE: "block-device",
}


SEARCH_HIT = record(
    path=TEXT,
    name=TEXT,
    type=PLAIN,
    kind=MAYBE_TEXT,
    size=COUNT,
    content_id=MAYBE_TEXT,
    offline=BOOL,
    device=HEX,
    device_name=MAYBE_TEXT,
    tags=LINES,
    favourite=BOOL,
    note=MAYBE_TEXT,
)
DUPLICATE = record(
    content_id=MAYBE_TEXT,
    size=COUNT,
    kind=MAYBE_TEXT,
    count=COUNT,
    waste=COUNT,
    paths=LINES,
    same_file=MapOf(TEXT, LINES, max=MOST),
)


def _when(mtime_ns: int) -> str:
    return datetime.fromtimestamp(mtime_ns / 1e9, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _held_by(device: bytes, names: dict[bytes, str]) -> dict[str, Any]:
    """Which device holds an entry: the same answer on every device of the library."""
    return {"device": device.hex(), "device_name": names.get(device)}


def _shown(annotations: Annotations) -> dict[str, Any]:
    """The tags, favourite mark and note a file shows (``projections/annotations.py``)."""
    return {
        "tags": list(annotations.tags),
        "favourite": annotations.favourite,
        "note": annotations.note,
    }


def _entry(child: Child, path: bytes) -> dict[str, Any]:
    return {
        "name": text(child.name),
        "path": text(path),
        "type": TYPES.get(child.ftype, child.ftype),
        "kind": child.kind,
        "size": child.size,
        "modified": _when(child.mtime_ns),
        "content_id": shown(child.cid),
    }


def resolve_anywhere(db: Any, path: bytes, mine: bytes) -> tuple[Resolved, bytes]:
    """What the index holds at ``path`` on this device, else on another device of the
    library that indexes it (devices in id order, so every device answers alike), and the
    device it is on."""
    others = sorted({loc.device for loc in locations(db)} - {mine})
    for device in (mine, *others):
        found = resolve(db, path, device)
        if found is not None:
            return found, device
    raise NotIndexed(show(path))


@op("ls")
@dataclass(frozen=True)
class Ls(Op):
    """A folder of the index (not of the disk); without a path, the locations."""

    path: Annotated[bytes | None, Maybe(PATH)]
    library: Annotated[str | None, LIBRARY] = None
    at: Annotated[int | None, AT] = None

    result = many(MAP)

    def run(self, ctx: OpContext) -> Any:
        lib = reader_at(ctx.read_library(self.library), self.at)
        if self.path is None:
            with lib.index() as db:
                names = device_names(db)
            return [
                {
                    "name": loc.name,
                    "path": text(loc.path),
                    "type": "location",
                    "offline": loc.offline is not None,
                }
                | _held_by(loc.device, names)
                for loc in list_locations(lib)
            ]
        real = self.path
        with lib.index() as db:
            found, device = resolve_anywhere(db, self.path, ctx.device)
            offline = found.location.offline is not None
            folder = found.named_folder
            if folder is not None:
                children = sorted(folder_children(db, folder), key=lambda c: c.name)
                base = real
            else:
                children, base = [found.child], os.path.dirname(real)
            holder = _held_by(device, device_names(db))
            shown = annotations_of(db, [(device, c.eid, c.cid) for c in children])
        return [
            _entry(c, os.path.join(base, c.name))
            | {"offline": offline}
            | holder
            | _shown(shown.get((device, c.eid), NONE))
            for c in children
        ]


@op("search")
@dataclass(frozen=True)
class Search(Op):
    """Entries whose name or path holds the query, best first (see projections/files/search.py),
    among those every filter given allows. With a filter that selects files by what is known
    of them (``tags``: all of them; ``favourite``), the query may be empty: every file the
    filters allow, by path."""

    query: Annotated[str, Text(0, 4096)] = ""
    kind: Annotated[str | None, Maybe(Text(1, 32))] = None
    ext: Annotated[str | None, Maybe(Text(1, 64))] = None
    under: Annotated[bytes | None, Maybe(PATH)] = None
    limit: Annotated[int, Int(1, 10_000)] = 50
    library: Annotated[str | None, LIBRARY] = None
    at: Annotated[int | None, AT] = None
    tags: Annotated[tuple, ListOf(NAME, 0, 64)] = ()
    favourite: Annotated[bool, Bool()] = False

    result = many(SEARCH_HIT)

    def run(self, ctx: OpContext) -> Any:
        if not self.query.strip() and not self.tags and not self.favourite:
            raise InvalidArgument(
                "the query is empty (without one, filter by --tag or --favourite)"
            )
        lib = reader_at(ctx.read_library(self.library), self.at)
        with lib.index() as db:
            folder = None
            if self.under is not None:
                found = resolve(db, self.under, ctx.device)
                folder = found.named_folder if found is not None else None
                if folder is None:
                    raise NotIndexed(show(self.under))
            filters = Filters(self.kind, self.ext, folder)
            for name in self.tags:
                filters = filters.only(tagged_entries(db, [t.id for t in tags_named(db, name)]))
            if self.favourite:
                filters = filters.only(favourite_entries(db))
            hits = search(db, self.query, filters, self.limit)
            owners = folder_owners(db, (h.folder for h in hits))
            names = device_names(db)
            marked = annotations_of(db, [(owners[h.folder].device, h.eid, h.cid) for h in hits])
        return [
            {
                "path": text(h.path),
                "name": text(h.name),
                "type": TYPES.get(h.ftype, h.ftype),
                "kind": h.kind,
                "size": h.size,
                "content_id": shown(h.cid),
                "offline": owners[h.folder].offline,
            }
            | _held_by(owners[h.folder].device, names)
            | _shown(marked.get((owners[h.folder].device, h.eid), NONE))
            for h in hits
        ]


@op("duplicates")
@dataclass(frozen=True)
class Duplicates(Op):
    """Groups of files with identical content, the largest waste first."""

    limit: Annotated[int | None, Maybe(Int(1, 1 << 31))] = None
    min_size: Annotated[int, Int(0, 1 << 62)] = 1
    library: Annotated[str | None, LIBRARY] = None

    result = many(DUPLICATE)

    def run(self, ctx: OpContext) -> Any:
        with ctx.read_library(self.library).index() as db:
            groups = duplicates(db, self.limit, max(self.min_size, 1))
        return [
            {
                "content_id": shown(g.cid),
                "size": g.size,
                "kind": g.kind,
                "count": g.count,
                "waste": g.waste,
                "paths": [text(p) for p in g.paths],
                # A copy seen through other paths too (hard links, bind mounts): deleting
                # one of them frees nothing, and deleting the copy loses them all.
                "same_file": {
                    text(paths[0]): [text(p) for p in paths[1:]]
                    for paths in g.files
                    if len(paths) > 1
                },
            }
            for g in groups
        ]


@op("stats")
@dataclass(frozen=True)
class Stats(Op):
    """What the index holds: files, folders, bytes, and files by kind."""

    library: Annotated[str | None, LIBRARY] = None
    at: Annotated[int | None, AT] = None

    result = record(
        files=COUNT, dirs=COUNT, bytes=COUNT, by_kind=COUNTS, bytes_by_kind=COUNTS, other=PLAIN
    )

    def run(self, ctx: OpContext) -> Any:
        with reader_at(ctx.read_library(self.library), self.at).index() as db:
            st = file_stats(db)
        return {
            "files": st.files,
            "dirs": st.dirs,
            "bytes": st.bytes,
            "by_kind": st.by_kind,
            "bytes_by_kind": st.bytes_by_kind,
            "other": st.other,
        }
