"""Media data in the file index: one row per entry the media job described, kept only while
the entry holds the content it was read from.

``media.extracted`` items are device-owned facts about entries, so they are folded with the
entries (the files projection), where each item's entry is found in its folder's listing: an
item naming an entry that is not there, not a file, or that holds other content now (it
changed after it was read) is ignored, the same way on every device. A row goes when its
entry does (deleted, its folder or location removed) or when its content changes.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

from events.domain.entries import FILE
from events.domain.media import ITEM
from projections.files.names import fold_text
from projections.files.schema import DEVICE_SHIFT, EID_MASK, chunks, marks

SCHEMA = (
    "CREATE TABLE media (entry INTEGER PRIMARY KEY, location INTEGER NOT NULL, "
    "cid BLOB NOT NULL, error TEXT, width INTEGER, height INTEGER, orientation INTEGER, "
    "taken TEXT, make TEXT, model TEXT, lat REAL, lon REAL, duration_ms INTEGER, "
    "video_codec TEXT, audio_codec TEXT, fps REAL, pages INTEGER, phash BLOB)",
    "CREATE INDEX media_by_location ON media (location)",
    "CREATE INDEX media_by_taken ON media (taken) WHERE taken IS NOT NULL",
)
# The columns after ``entry`` and ``location``: an item's fields after its ``eid`` and
# ``parent``, in their order (events/domain/media.py: ITEM).
FIELDS = ITEM.names[2:]
_INSERT = (
    f"INSERT OR REPLACE INTO media (entry, location, {', '.join(FIELDS)}) "
    f"VALUES ({marks(FIELDS + ('entry', 'location'))})"
)


class MediaRows:
    """What one batch's fold changes in the ``media`` table, written at its flush."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._put: dict[int, tuple[Any, ...]] = {}
        self._gone: set[int] = set()

    def put(self, entry: int, loc: int, fields: Sequence[Any]) -> None:
        self._gone.discard(entry)
        self._put[entry] = (entry, loc, *fields)

    def drop(self, entry: int) -> None:
        self._put.pop(entry, None)
        self._gone.add(entry)

    def flush(self) -> None:
        if self._gone:
            gone = sorted(self._gone)
            for chunk in chunks(gone):
                self.db.execute(f"DELETE FROM media WHERE entry IN ({marks(chunk)})", chunk)
            self._gone.clear()
        if self._put:
            self.db.executemany(_INSERT, self._put.values())
            self._put.clear()

    def location_removed(self, loc: int) -> None:
        self.flush()
        self.db.execute("DELETE FROM media WHERE location = ?", (loc,))


def extracted(
    rows: MediaRows,
    loc: int,
    base: int,
    items: Iterable[Sequence[Any]],
    child_of: Any,
    cid_at: int,
    ftype_at: int,
) -> None:
    """Fold a ``media.extracted`` batch: ``child_of(folder, eid)`` reads an entry's listing
    record (None: not there), where ``cid_at`` and ``ftype_at`` are its content and type."""
    for item in items:
        eid, parent, cid = item[0], item[1], item[2]
        child = child_of(base | parent, eid) if parent else None
        if child is None or child[ftype_at] != FILE or child[cid_at] != cid:
            continue
        rows.put(base | eid, loc, item[2:])


def media_of(db: sqlite3.Connection, entry: int) -> dict[str, Any] | None:
    """What the index holds of one entry's media (a local entry id), or None."""
    row = db.execute(f"SELECT {', '.join(FIELDS)} FROM media WHERE entry = ?", (entry,)).fetchone()
    return dict(zip(FIELDS, row)) if row is not None else None


def described(db: sqlite3.Connection, loc: int) -> dict[int, tuple[bytes, str | None]]:
    """The eids of a location (its local id) the media job has described, with the content
    each description is of and why it could not be read (None: it was). A failure counts:
    it is not tried again for that content."""
    return {
        entry & EID_MASK: (cid, error)
        for entry, cid, error in db.execute(
            "SELECT entry, cid, error FROM media WHERE location = ?", (loc,)
        )
    }


# What ``--taken`` takes: the start of a date (a year, a month, a day), as ``taken`` is
# written (events/domain/media.py).
TAKEN_PREFIX = re.compile(r"\d{4}(-\d\d(-\d\d)?)?")


@dataclass(frozen=True, slots=True)
class MediaFilter:
    """What a search asks of media data (None: nothing), read from the index alone: the
    file may be on another device, or on a volume that is not there."""

    taken: str | None = None  # the start of the date taken (``TAKEN_PREFIX``)
    min_width: int | None = None
    min_height: int | None = None
    camera: str | None = None  # held by the make or the model, in any case
    # Taken at or after / before these (the start of a date, ``TAKEN_PREFIX``).
    taken_after: str | None = None
    taken_before: str | None = None

    @property
    def asked(self) -> bool:
        return any(
            v is not None
            for v in (
                self.taken,
                self.min_width,
                self.min_height,
                self.camera,
                self.taken_after,
                self.taken_before,
            )
        )


def matching(db: sqlite3.Connection, wanted: MediaFilter) -> frozenset[int]:
    """The entries (local ids) whose media data is all ``wanted`` asks: the candidates of
    a filtered search (``projections/files/search.py: Filters.entries``)."""
    where, params = [], []
    if wanted.taken is not None:
        # Every date starting with the prefix sorts between it and it followed by "~" (past
        # the digits, "-", "T" and ":" a date is written with): the index on ``taken``.
        where.append("taken >= ? AND taken < ?")
        params += [wanted.taken, wanted.taken + "~"]
    if wanted.taken_after is not None:
        where.append("taken >= ?")
        params.append(wanted.taken_after)
    if wanted.taken_before is not None:
        where.append("taken < ?")
        params.append(wanted.taken_before)
    if wanted.min_width is not None:
        where.append("width >= ?")
        params.append(wanted.min_width)
    if wanted.min_height is not None:
        where.append("height >= ?")
        params.append(wanted.min_height)
    if wanted.camera is not None:
        where.append("(make IS NOT NULL OR model IS NOT NULL)")
    rows = db.execute(
        f"SELECT entry, make, model FROM media WHERE {' AND '.join(where) or '1'}", params
    )
    if wanted.camera is None:
        return frozenset(entry for entry, _, _ in rows)
    # Folded as names are for search (SQLite's lower() knows only ASCII).
    camera = fold_text(wanted.camera)
    return frozenset(
        entry
        for entry, make, model in rows
        if camera in fold_text(make or "") or camera in fold_text(model or "")
    )


def dated(db: sqlite3.Connection) -> dict[int, str]:
    """When each entry with a known date was taken."""
    return dict(db.execute("SELECT entry, taken FROM media WHERE taken IS NOT NULL"))


def taken_of(db: sqlite3.Connection, entries: Iterable[int]) -> dict[int, str]:
    """When each of ``entries`` that has a date was taken."""
    found: dict[int, str] = {}
    for chunk in chunks(sorted(set(entries))):
        found.update(
            db.execute(
                f"SELECT entry, taken FROM media WHERE taken IS NOT NULL "
                f"AND entry IN ({marks(chunk)})",
                chunk,
            )
        )
    return found


def digest_rows(db: sqlite3.Connection) -> Iterator[Sequence[Any]]:
    """Every row by its device and eid, not by local numbers (they differ between devices)."""
    yield from db.execute(
        f"SELECT d.device, m.entry & ?, l.device, l.location, {', '.join('m.' + f for f in FIELDS)} "
        "FROM media m JOIN devs d ON d.idx = m.entry >> ? JOIN locations l ON l.id = m.location "
        "ORDER BY d.device, m.entry & ?",
        (EID_MASK, DEVICE_SHIFT, EID_MASK),
    )
