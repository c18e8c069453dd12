"""Reading the index: ls, search, duplicates, stats. Each returns what ``--json`` prints.

Paths in these commands are absolute (the client resolves them where the user typed them:
the node's working directory is not the user's).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any

from events.clock import wall_ms
from events.domain.entries import BLOCK_DEVICE, CHAR_DEVICE, DIR, FIFO, FILE, SOCKET, SYMLINK
from events.shapes import Bool, Int, ListOf, MapOf, Maybe, OneOf, Text
from projections.annotations import (
    NONE,
    Annotations,
    annotations_of,
    favourite_entries,
    tagged_entries,
)
from projections.devices import device_names
from projections.files.listings import Child
from projections.files.media import TAKEN_PREFIX, MediaFilter, matching, media_of, taken_of
from projections.files.query import (
    Resolved,
    content_instances,
    content_kind,
    duplicates,
    file_stats,
    folder_children,
    folder_owners,
    resolve,
    resolve_held,
)
from projections.files.schema import EID_MASK, paths_of
from projections.files.search import Filters, by_taken, search
from projections.files.similar import DEFAULT_DISTANCE, MOST_DISTANCE, similar
from sdactors.indexer.content import shown
from sdactors.media.layout import SIZES, thumbnail_path
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.locations import list_locations, show
from sdactors.ops.results import (
    BOOL,
    COUNT,
    COUNTS,
    HEX,
    LINES,
    MAYBE_COUNT,
    MAYBE_TEXT,
    MOST,
    NUMBER,
    PLAIN,
    TEXT,
    TIME,
    many,
    record,
    record_with,
)
from sdactors.ops.shapes import AT, LIBRARY, PATH
from sdactors.ops.tags import NAME, tags_named
from sdactors.ops.thumb_fetch import SOURCES
from sdactors.replay.snapshots import reader_at
from sdactors.runtime.errors import InvalidArgument, NotAFile, NotIndexed
from sdactors.runtime.paths import text
from sdactors.semantic.query import MODES

TYPES = {
    FILE: "file",
    DIR: "dir",
    SYMLINK: "symlink",
    FIFO: "fifo",
    SOCKET: "socket",
    CHAR_DEVICE: "char-device",
    BLOCK_DEVICE: "block-device",
}


SEARCH_HIT = record_with(
    # When its picture was taken: given when the search asked about media data. With
    # --mode: the mode, and how near in meaning it is to the query (higher is nearer).
    {"taken": MAYBE_TEXT, "mode": TEXT, "score": NUMBER},
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
# A row of ``ls``: a location (no path given), or an entry of the folder, which has the
# entry's keys too.
LISTED = record_with(
    {
        "kind": MAYBE_TEXT,
        "size": MAYBE_COUNT,
        "modified": TIME,
        "content_id": MAYBE_TEXT,
        "tags": LINES,
        "favourite": BOOL,
        "note": MAYBE_TEXT,
    },
    name=TEXT,
    path=TEXT,
    type=PLAIN,
    offline=BOOL,
    device=HEX,
    device_name=MAYBE_TEXT,
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


@op("ls")
@dataclass(frozen=True)
class Ls(Op):
    """A folder of the index (not of the disk); without a path, the locations."""

    path: Annotated[bytes | None, Maybe(PATH)]
    library: Annotated[str | None, LIBRARY] = None
    at: Annotated[int | None, AT] = None

    result = many(LISTED)

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
            found, device = resolve_anywhere(db, real, ctx.device)
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


def resolve_anywhere(db: Any, path: bytes, mine: bytes) -> tuple[Resolved, bytes]:
    """What the index holds at ``path``, on this device or another (``resolve_held``)."""
    found = resolve_held(db, path, mine)
    if found is None:
        raise NotIndexed(show(path))
    return found


# What ``sort`` takes: the order of the date the picture was taken.
SORT_TAKEN = "taken"
DIMENSION = Maybe(Int(1, 1 << 31))


@op("search")
@dataclass(frozen=True)
class Search(Op):
    """Entries whose name or path holds the query, best first (see projections/files/search.py),
    among those every filter given allows; with a filter that selects files by what is known
    of them (media data, ``projections/files/media.py``; ``tags``, all of them;
    ``favourite``: ``projections/annotations.py``), the query may be left out: every file
    they select, by path. ``sort="taken"``: in the order the pictures were taken, the
    undated after."""

    query: Annotated[str | None, Maybe(Text(0, 4096))] = None
    kind: Annotated[str | None, Maybe(Text(1, 32))] = None
    ext: Annotated[str | None, Maybe(Text(1, 64))] = None
    under: Annotated[bytes | None, Maybe(PATH)] = None
    limit: Annotated[int, Int(1, 10_000)] = 50
    library: Annotated[str | None, LIBRARY] = None
    at: Annotated[int | None, AT] = None
    taken: Annotated[str | None, Maybe(Text(1, 64))] = None
    min_width: Annotated[int | None, DIMENSION] = None
    min_height: Annotated[int | None, DIMENSION] = None
    camera: Annotated[str | None, Maybe(Text(1, 128))] = None
    sort: Annotated[str | None, Maybe(Text(1, 16, pattern=SORT_TAKEN))] = None
    reverse: Annotated[bool, Bool()] = False
    tags: Annotated[tuple, ListOf(NAME, 0, 64)] = ()
    favourite: Annotated[bool, Bool()] = False
    # By meaning (``sdactors/ops/meaning.py``); None: by name, exact and complete.
    mode: Annotated[str | None, Maybe(OneOf(MODES))] = None
    taken_after: Annotated[str | None, Maybe(Text(1, 64))] = None
    taken_before: Annotated[str | None, Maybe(Text(1, 64))] = None
    modified_after: Annotated[str | None, Maybe(Text(1, 64))] = None
    modified_before: Annotated[str | None, Maybe(Text(1, 64))] = None

    result = many(SEARCH_HIT)

    def _media_filter(self) -> MediaFilter:
        if self.taken is not None and not TAKEN_PREFIX.fullmatch(self.taken):
            raise InvalidArgument(
                f"--taken {self.taken!r}: give the start of a date (2024, 2024-07 or 2024-07-15)"
            )
        if self.reverse and self.sort is None:
            raise InvalidArgument("--reverse reverses a sort: give --sort taken with it")
        if self.mode is not None and self.sort is not None:
            raise InvalidArgument("--sort orders by another thing than meaning: not with --mode")
        for name in ("taken_after", "taken_before"):
            value = getattr(self, name)
            if value is not None and not TAKEN_PREFIX.fullmatch(value):
                raise InvalidArgument(
                    f"--{name.replace('_', '-')} {value!r}: give a date (2024, 2024-07 or "
                    "2024-07-15)"
                )
        wanted = MediaFilter(
            self.taken,
            self.min_width,
            self.min_height,
            self.camera,
            self.taken_after,
            self.taken_before,
        )
        modified = self._modified()
        if (
            not (self.query or "").strip()
            and not wanted.asked
            and not self._annotated
            and modified == (None, None)
        ):
            raise InvalidArgument(
                "give a query, or a filter (--tag, --favourite, --taken, --min-width, "
                "--min-height, --camera)"
            )
        return wanted

    def _modified(self) -> tuple[int | None, int | None]:
        """--modified-after / --modified-before as ns since the epoch: the start of a date
        (2024, 2024-07, 2024-07-15: its first day) or a time (2024-07-15T10:00), UTC
        unless it says otherwise."""
        out = []
        for name in ("modified_after", "modified_before"):
            value = getattr(self, name)
            if value is None:
                out.append(None)
                continue
            if TAKEN_PREFIX.fullmatch(value):
                value = value + "-01-01"[len(value) - 4 :]
            try:
                when = datetime.fromisoformat(value)
            except ValueError:
                raise InvalidArgument(
                    f"--{name.replace('_', '-')} {getattr(self, name)!r}: give a date (2024, "
                    "2024-07 or 2024-07-15) or a time (2024-07-15T10:00)"
                ) from None
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            out.append(int(when.timestamp() * 1e9))
        return out[0], out[1]

    @property
    def _annotated(self) -> bool:
        """Whether a filter on what people put on files is asked."""
        return bool(self.tags) or self.favourite

    def run(self, ctx: OpContext) -> Any:
        wanted = self._media_filter()
        query = self.query or ""
        lib = reader_at(ctx.read_library(self.library), self.at)
        with lib.index() as db:
            folder = None
            if self.under is not None:
                found = resolve(db, self.under, ctx.device)
                folder = found.named_folder if found is not None else None
                if folder is None:
                    raise NotIndexed(show(self.under))
            entries = matching(db, wanted) if wanted.asked else None
            filters = Filters(self.kind, self.ext, folder, entries, *self._modified())
            for name in self.tags:
                filters = filters.only(tagged_entries(db, [t.id for t in tags_named(db, name)]))
            if self.favourite:
                filters = filters.only(favourite_entries(db))
            scores: dict[int, float] = {}
            if self.mode is not None:
                # numpy and the model: only for a search by meaning.
                from sdactors.ops.meaning import by_meaning

                # Times in words are read on the node's clock (``events.clock``: tests set it).
                now_s = wall_ms() / 1e3
                root = lib.config.paths.root
                found = by_meaning(
                    db,
                    root,
                    self.mode,
                    query,
                    filters,
                    self.limit,
                    now_s,
                    self.at is None,
                    ctx.serving,
                )
                hits = [s.hit for s in found]
                scores = {s.hit.entry: s.score for s in found}
            elif self.sort == SORT_TAKEN:
                hits = by_taken(db, query, filters, self.limit, self.reverse)
            else:
                hits = search(db, query, filters, self.limit)
            owners = folder_owners(db, (h.folder for h in hits))
            names = device_names(db)
            media = wanted.asked or self.sort is not None
            taken = taken_of(db, (h.entry for h in hits)) if media else {}
            marked = annotations_of(
                db, [(owners[h.folder].device, h.entry & EID_MASK, h.cid) for h in hits]
            )
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
            | ({"taken": taken.get(h.entry)} if media else {})
            | ({"mode": self.mode, "score": round(scores[h.entry], 4)} if self.mode else {})
            | _shown(marked.get((owners[h.folder].device, h.entry & EID_MASK), NONE))
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


SIMILAR = record(
    distance=COUNT,
    files=many(
        record(
            path=TEXT,
            same_file=LINES,
            content_id=MAYBE_TEXT,
            size=COUNT,
            width=MAYBE_COUNT,
            height=MAYBE_COUNT,
            distance=COUNT,
            device=HEX,
            device_name=MAYBE_TEXT,
        )
    ),
)


@op("duplicates.similar")
@dataclass(frozen=True)
class SimilarDuplicates(Op):
    """Groups of pictures whose perceptual hashes are at most ``distance`` bits apart
    (resized, recompressed, re-saved copies), largest first, each file with its distance
    to the group's representative (see projections/files/similar.py)."""

    distance: Annotated[int, Int(0, MOST_DISTANCE)] = DEFAULT_DISTANCE
    limit: Annotated[int | None, Maybe(Int(1, 1 << 31))] = None
    library: Annotated[str | None, LIBRARY] = None

    result = many(SIMILAR)

    def run(self, ctx: OpContext) -> Any:
        with ctx.read_library(self.library).index() as db:
            groups = similar(db, self.distance, self.limit)
            names = device_names(db)
        return [
            {
                "distance": g.distance,
                "files": [
                    {
                        "path": text(f.paths[0]),
                        # The same file seen through other paths (hard links, bind mounts).
                        "same_file": [text(p) for p in f.paths[1:]],
                        "content_id": shown(f.cid),
                        "size": f.size,
                        "width": f.width,
                        "height": f.height,
                        "distance": f.distance,
                    }
                    | _held_by(f.device, names)
                    for f in g.files
                ],
            }
            for g in groups
        ]


MEDIA = record(
    error=MAYBE_TEXT,
    width=MAYBE_COUNT,
    height=MAYBE_COUNT,
    orientation=MAYBE_COUNT,
    taken=MAYBE_TEXT,
    make=MAYBE_TEXT,
    model=MAYBE_TEXT,
    lat=Maybe(NUMBER),
    lon=Maybe(NUMBER),
    duration_ms=MAYBE_COUNT,
    video_codec=MAYBE_TEXT,
    audio_codec=MAYBE_TEXT,
    fps=Maybe(NUMBER),
    pages=MAYBE_COUNT,
    phash=MAYBE_TEXT,
)
INFO = record(
    path=TEXT,
    name=TEXT,
    type=PLAIN,
    kind=MAYBE_TEXT,
    size=COUNT,
    modified=TIME,
    content_id=MAYBE_TEXT,
    inode=COUNT,
    # The volume it is on, as the system numbers it (st_dev): with the inode, the file.
    dev=COUNT,
    target=MAYBE_TEXT,
    device=HEX,
    device_name=MAYBE_TEXT,
    location=record(id=HEX, name=TEXT, path=TEXT, volume=MAYBE_TEXT, offline=MAYBE_TEXT),
    content=Maybe(record(id=HEX, kind=MAYBE_TEXT, instances=COUNT)),
    media=Maybe(MEDIA),
    # What people put on the file, on its content or on its path (``projections/annotations.py``).
    tags=LINES,
    favourite=BOOL,
    note=MAYBE_TEXT,
    # The thumbnails this device holds of its content, by size: the library's own, or
    # fetched from the device holding the file and kept in the cache (``thumb.fetch``).
    thumbnails=many(record(size=COUNT, path=TEXT, source=OneOf(SOURCES[:2]))),
)


@op("info")
@dataclass(frozen=True)
class Info(Op):
    """Everything known of one file, from the index alone (the file may be on another
    device, or on a volume that is not there): its entry, its content, its media data,
    what people put on it, and the thumbnails this device holds."""

    path: Annotated[bytes, PATH]
    library: Annotated[str | None, LIBRARY] = None

    result = INFO

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.read_library(self.library)
        with lib.index() as db:
            found, device = resolve_anywhere(db, self.path, ctx.device)
            child = found.child
            if child is None or child.ftype == DIR:
                raise NotAFile(show(self.path), "a folder")
            path = os.path.join(paths_of(db, [found.folder])[found.folder], child.name)
            media = media_of(db, (found.folder & ~EID_MASK) | child.eid)
            instances = content_instances(db, child.cid, child.size) if child.cid else None
            names = device_names(db)
            marked = annotations_of(db, [(device, child.eid, child.cid)])
        loc = found.location
        # Looked at, not used: the cache's order of use is left as it is.
        places = {
            "library": lib.config.paths.thumbnails,
            "cache": ctx.data.thumbnail_cache / lib.config.id,
        }
        return (
            _entry(child, path)
            | {
                "inode": child.inode,
                "dev": child.dev,
                "target": text(child.target) if child.target is not None else None,
                "location": {
                    "id": loc.location.hex(),
                    "name": loc.name,
                    "path": text(loc.path),
                    "volume": loc.volume,
                    "offline": loc.offline,
                },
                "content": None
                if instances is None
                else {
                    "id": child.cid.hex(),
                    "kind": content_kind(instances),
                    "instances": sum(instances.values()),
                },
                "media": None if media is None else _media(media),
                **_shown(marked.get((device, child.eid), NONE)),
                "thumbnails": [
                    {"size": size, "path": str(path), "source": source}
                    for size in SIZES
                    for source, root in places.items()
                    if child.cid and (path := thumbnail_path(root, child.cid, size)).is_file()
                ],
            }
            | _held_by(device, names)
        )


def _media(row: dict[str, Any]) -> dict[str, Any]:
    """A media row as results give it: the hash in hex, the content id left out (the
    entry's own)."""
    shown_row = {k: v for k, v in row.items() if k != "cid"}
    phash = row["phash"]
    shown_row["phash"] = phash.hex() if phash is not None else None
    return shown_row


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
