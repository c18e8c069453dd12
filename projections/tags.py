"""Tags: every field last-writer-wins on ``(hlc, device)``, deletion a permanent tombstone.

Per-field stamps make the fold commutative: a rename that arrives before the creation it
refers to (another device's events can come in any order) still ends in the same row. A tag
is visible once created and until deleted; a delete wins over any rename, so "rename on one
device, delete on another" converges to deleted everywhere.

A batch is reduced in memory first (each touched tag loaded once, written once), which is
what makes a rebuild of many small tag events fast.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable, Sequence

from events.domain.tags import TagCreated, TagDeleted, TagRecolored, TagRenamed
from projections.base import Folded

_COLUMNS = "tag, name, name_hlc, name_dev, color, color_hlc, color_dev, created, deleted"


class TagsProjection:
    name = "tags"
    version = 1
    types = ("tag.",)

    def create(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE tags (tag BLOB PRIMARY KEY, name TEXT, name_hlc INTEGER, "
            "name_dev BLOB, color TEXT, color_hlc INTEGER, color_dev BLOB, "
            "created INTEGER NOT NULL, deleted INTEGER NOT NULL)"
        )
        db.execute("CREATE INDEX tags_by_name ON tags (name) WHERE created AND NOT deleted")

    def fold(self, db: sqlite3.Connection, events: Folded) -> None:
        rows = _load(db, {typed.tag for _, typed in events})
        for ev, typed in events:
            tag = typed.tag
            row = rows.get(tag)
            if row is None:
                row = rows[tag] = [tag, None, -1, b"", None, -1, b"", 0, 0]
            hlc, dev = ev.hlc, ev.device
            if type(typed) is TagCreated:
                row[7] = 1
                if (hlc, dev) > (row[2], row[3]):
                    row[1], row[2], row[3] = typed.name, hlc, dev
                if (hlc, dev) > (row[5], row[6]):
                    row[4], row[5], row[6] = typed.color, hlc, dev
            elif type(typed) is TagRenamed:
                if (hlc, dev) > (row[2], row[3]):
                    row[1], row[2], row[3] = typed.name, hlc, dev
            elif type(typed) is TagRecolored:
                if (hlc, dev) > (row[5], row[6]):
                    row[4], row[5], row[6] = typed.color, hlc, dev
            elif type(typed) is TagDeleted:
                row[8] = 1
        db.executemany(
            f"INSERT OR REPLACE INTO tags ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows.values(),
        )

    def digest_rows(self, db: sqlite3.Connection) -> Iterable[Sequence[Any]]:
        return db.execute("SELECT tag, name, color, created, deleted FROM tags ORDER BY tag")


def _load(db: sqlite3.Connection, tags: set[bytes]) -> dict[bytes, list[Any]]:
    """The current rows of ``tags``, in as few queries as SQLite's parameter limit allows."""
    found: dict[bytes, list[Any]] = {}
    wanted = list(tags)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in db.execute(f"SELECT {_COLUMNS} FROM tags WHERE tag IN ({marks})", chunk):
            found[row[0]] = list(row)
    return found


def field_stamps(db: sqlite3.Connection, tag: bytes) -> dict[str, tuple[Any, int, bytes]]:
    """Per shared field of ``tag``: the value that holds and the ``(hlc, device)`` of the
    change that set it (what a new change must be later than to win)."""
    row = db.execute(
        "SELECT name, name_hlc, name_dev, color, color_hlc, color_dev FROM tags WHERE tag = ?",
        (tag,),
    ).fetchone()
    if row is None:
        return {}
    return {"name": (row[0], row[1], row[2]), "color": (row[3], row[4], row[5])}


def live_tags(db: sqlite3.Connection) -> list[tuple[bytes, str, str | None]]:
    """``(tag, name, color)`` of every visible tag, by name."""
    return db.execute(
        "SELECT tag, name, color FROM tags WHERE created AND NOT deleted ORDER BY name, tag"
    ).fetchall()
