"""History: the life of every entry, what ``sd log history PATH`` reads instead of the log.

Each item of an entries event becomes a row of its entry (where it went, what it was):
created (its folder, name, type, size, kind, content id), modified (the new size, kind,
content id), moved (its old and new folder, its new name), deleted. Files created (most of
every item there is) are kept packed, one row per event and folder, in ``history_files``:
a row per file would cost the first index a sixth of its fold. Paths are not stored: a
folder's move would rewrite every path below it. Who was at a path when is worked out at
query time from the rows of the folders on the way (``sdactors.replay.history``).

Rows are keyed by the event's seq, not its position: entries events are written by the
device that indexes the location, so within one location seq order is log order on every
device, and two devices with the same events hold the same rows. A location's *life* (from
``location.added`` to ``location.removed``; adding it again starts a new one, as a replay of
the log starts it empty) numbers its rows; the digest names it by device, location and seq.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable, Sequence

import msgpack

from events.domain.entries import EntriesDeleted, EntriesIndexed, EntriesModified, EntriesMoved
from events.domain.locations import LocationAdded, LocationRemoved
from projections.base import Folded

CREATED, MODIFIED, MOVED, DELETED = 0, 1, 2, 3
# What each kind of event does to its entries, and the type it was (to show it).
WHAT = {
    "entries.indexed": CREATED,
    "entries.modified": MODIFIED,
    "entries.moved": MOVED,
    "entries.deleted": DELETED,
}
TYPES = {what: name for name, what in WHAT.items()}


class HistoryProjection:
    name = "history"
    version = 1
    types = ("entries.", "location.added", "location.removed")

    def create(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE history_lives (life INTEGER PRIMARY KEY, device BLOB NOT NULL, "
            "location BLOB NOT NULL, root BLOB NOT NULL, added INTEGER NOT NULL, "
            "removed INTEGER)"
        )
        db.execute("CREATE INDEX history_lives_by_location ON history_lives (device, location)")
        # One row per entries event of a life: when it was (seq: its place in the log).
        db.execute(
            "CREATE TABLE history_events (life INTEGER NOT NULL, seq INTEGER NOT NULL, "
            "what INTEGER NOT NULL, hlc INTEGER NOT NULL, PRIMARY KEY (life, seq)) "
            "WITHOUT ROWID"
        )
        db.execute(
            "CREATE TABLE history_items (life INTEGER NOT NULL, eid INTEGER NOT NULL, "
            "seq INTEGER NOT NULL, i INTEGER NOT NULL, what INTEGER NOT NULL, parent INTEGER, "
            "name BLOB, ftype TEXT, size INTEGER, kind TEXT, cid BLOB, old_parent INTEGER, "
            "PRIMARY KEY (life, eid, seq, i)) WITHOUT ROWID"
        )
        # The files an event created in one folder: msgpack of [i, eid, name, ftype, size,
        # kind, cid] items.
        # (A table with rowids: rows of a few KB fill its pages, not a WITHOUT ROWID's.)
        db.execute(
            "CREATE TABLE history_files (life INTEGER NOT NULL, parent INTEGER NOT NULL, "
            "seq INTEGER NOT NULL, items BLOB NOT NULL, UNIQUE (life, parent, seq))"
        )
        # Who was ever named what in which folder: a path is looked up from its root down.
        db.execute(
            "CREATE INDEX history_named ON history_items (life, parent, name) "
            "WHERE name IS NOT NULL"
        )

    def fold(self, db: sqlite3.Connection, events: Folded) -> None:
        lives: dict[tuple[bytes, bytes], int | None] = {}

        def life_of(device: bytes, location: bytes) -> int | None:
            key = (device, location)
            if key not in lives:
                row = db.execute(
                    "SELECT life, removed FROM history_lives WHERE device = ? AND location = ? "
                    "ORDER BY life DESC LIMIT 1",
                    key,
                ).fetchone()
                lives[key] = row[0] if row is not None and row[1] is None else None
            return lives[key]

        heads: list[tuple[int, int, int, int]] = []
        rows: list[tuple[Any, ...]] = []
        packed: list[tuple[int, int, int, bytes]] = []
        for ev, typed in events:
            kind = type(typed)
            if kind is LocationAdded:
                cursor = db.execute(
                    "INSERT INTO history_lives (device, location, root, added) VALUES (?, ?, ?, ?)",
                    (ev.device, typed.location, typed.path, ev.seq),
                )
                lives[(ev.device, typed.location)] = cursor.lastrowid
                continue
            if kind is LocationRemoved:
                life = life_of(ev.device, typed.location)
                if life is not None:
                    db.execute(
                        "UPDATE history_lives SET removed = ? WHERE life = ?", (ev.seq, life)
                    )
                    lives[(ev.device, typed.location)] = None
                continue
            what = WHAT.get(ev.type)
            if what is None:
                continue
            life = life_of(ev.device, typed.location)
            if life is None:
                continue  # a location not added (or removed): a replay ignores it too
            seq = ev.seq
            heads.append((life, seq, what, ev.hlc))
            if kind is EntriesIndexed:
                files: dict[int, list[tuple[Any, ...]]] = {}
                for i, it in enumerate(typed.entries):
                    if it[3] == "d":
                        rows.append(
                            (
                                life,
                                it[0],
                                seq,
                                i,
                                what,
                                it[1],
                                it[2],
                                "d",
                                it[4],
                                it[7],
                                it[8],
                                None,
                            )
                        )
                    else:
                        files.setdefault(it[1], []).append(
                            (i, it[0], it[2], it[3], it[4], it[7], it[8])
                        )
                packed.extend((life, parent, seq, pack(held)) for parent, held in files.items())
            elif kind is EntriesModified:
                rows.extend(
                    (life, it[0], seq, i, what, it[1], None, None, it[2], it[5], it[6], None)
                    for i, it in enumerate(typed.entries)
                )
            elif kind is EntriesMoved:
                rows.extend(
                    (life, it[0], seq, i, what, it[2], it[3], None, None, None, None, it[1])
                    for i, it in enumerate(typed.moves)
                )
            elif kind is EntriesDeleted:
                rows.extend(
                    (life, it[0], seq, i, what, it[1], None, None, None, None, None, None)
                    for i, it in enumerate(typed.entries)
                )
        db.executemany("INSERT OR REPLACE INTO history_events VALUES (?, ?, ?, ?)", heads)
        db.executemany(
            "INSERT OR REPLACE INTO history_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.executemany(
            "INSERT OR REPLACE INTO history_files (life, parent, seq, items) VALUES (?, ?, ?, ?)",
            packed,
        )

    def digest_rows(self, db: sqlite3.Connection) -> Iterable[Sequence[Any]]:
        yield from db.execute(
            "SELECT device, location, added, root, removed FROM history_lives "
            "ORDER BY device, location, added"
        )
        yield from db.execute(
            "SELECT l.device, l.location, l.added, e.seq, e.what, e.hlc FROM history_events e "
            "JOIN history_lives l USING (life) ORDER BY l.device, l.location, l.added, e.seq"
        )
        yield from db.execute(
            "SELECT l.device, l.location, l.added, h.eid, h.seq, h.i, h.what, h.parent, "
            "h.name, h.ftype, h.size, h.kind, h.cid, h.old_parent FROM history_items h "
            "JOIN history_lives l USING (life) "
            "ORDER BY l.device, l.location, l.added, h.eid, h.seq, h.i"
        )
        yield from db.execute(
            "SELECT l.device, l.location, l.added, f.parent, f.seq, f.items "
            "FROM history_files f JOIN history_lives l USING (life) "
            "ORDER BY l.device, l.location, l.added, f.parent, f.seq"
        )


def pack(items: list[tuple[Any, ...]]) -> bytes:
    return msgpack.packb(items, use_bin_type=True)


def unpack(data: bytes) -> list[list[Any]]:
    """The items of a ``history_files`` row: ``[i, eid, name, ftype, size, kind, cid]``."""
    return msgpack.unpackb(data, raw=False)
