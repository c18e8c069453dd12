"""Annotations: the tags, favourites and notes on files, and which files they are on.

Each fact is last-writer-wins on ``(hlc, device)`` on its own: a tag on a target (whether it
is on), a target's favourite mark, a target's note, each with the stamp of the change that
set it, so any order of the events folds to the same rows (as ``projections/tags.py`` does
per field). A target is a content (its 32-byte content id: every copy of the file, on every
device) or one entry (its device's 32-byte id and its eid, 8 bytes big-endian).

What a file shows is what its content and its entry say together: the tags of either (a tag
must be live: a deleted tag disappears from every file), a favourite if either is one, and
the entry's own note before its content's. This projection is folded after the file index
(``projections/catalog.py``): the contents events name are watched there, so the files they
are on can be found (``projections/files/holders.py``).
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable, NamedTuple, Sequence

from events.domain.annotations import (
    FileFavourited,
    FileNoted,
    FileTagged,
    FileUnfavourited,
    FileUntagged,
)
from projections.base import Folded
from projections.files.holders import holders_of, watch
from projections.files.schema import DEVICE_SHIFT, chunks, marks

CONTENT_LEN = 32


def entry_target(device: bytes, eid: int) -> bytes:
    """The target naming one entry: its device's id, then its eid (8 bytes, big-endian)."""
    return device + eid.to_bytes(8, "big")


class Annotations(NamedTuple):
    """What one file shows."""

    tags: tuple[str, ...]  # names of live tags, sorted
    favourite: bool
    note: str | None


NONE = Annotations((), False, None)

_TAGS = "target, tag, present, hlc, dev"
_FIELDS = "target, favourite, favourite_hlc, favourite_dev, note, note_hlc, note_dev"


class AnnotationsProjection:
    name = "annotations"
    version = 1
    types = ("file.",)

    def create(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE annotation_tags (target BLOB NOT NULL, tag BLOB NOT NULL, "
            "present INTEGER NOT NULL, hlc INTEGER NOT NULL, dev BLOB NOT NULL, "
            "PRIMARY KEY (target, tag)) WITHOUT ROWID"
        )
        # The files a tag is on (search --tag).
        db.execute("CREATE INDEX annotation_tags_on ON annotation_tags (tag) WHERE present")
        db.execute(
            "CREATE TABLE annotation_fields (target BLOB PRIMARY KEY, "
            "favourite INTEGER NOT NULL, favourite_hlc INTEGER NOT NULL, "
            "favourite_dev BLOB NOT NULL, note TEXT, note_hlc INTEGER NOT NULL, "
            "note_dev BLOB NOT NULL) WITHOUT ROWID"
        )
        db.execute(
            "CREATE INDEX annotation_favourites ON annotation_fields (target) WHERE favourite"
        )

    def fold(self, db: sqlite3.Connection, events: Folded) -> None:
        tagged: dict[tuple[bytes, bytes], list[Any]] = {}
        fields: dict[bytes, list[Any]] = {}
        changes = []
        contents: set[bytes] = set()
        for ev, typed in events:
            contents.update(typed.contents)
            targets = [*typed.contents, *(entry_target(d, e) for d, e in typed.entries)]
            changes.append((ev.hlc, ev.device, typed, targets))
        if not changes:
            return
        every = {t for *_, targets in changes for t in targets}
        stored_tags, stored_fields = _load(db, every)
        for hlc, dev, typed, targets in changes:
            kind = type(typed)
            if kind is FileTagged or kind is FileUntagged:
                present = int(kind is FileTagged)
                for target in targets:
                    key = (target, typed.tag)
                    row = tagged.get(key) or stored_tags.get(key)
                    if row is None or (hlc, dev) > (row[1], row[2]):
                        tagged[key] = [present, hlc, dev]
                continue
            for target in targets:
                row = fields.get(target)
                if row is None:
                    row = fields[target] = list(
                        stored_fields.get(target, (0, -1, b"", None, -1, b""))
                    )
                if kind is FileNoted:
                    if (hlc, dev) > (row[4], row[5]):
                        row[3:6] = [typed.note, hlc, dev]
                elif kind is FileFavourited or kind is FileUnfavourited:
                    if (hlc, dev) > (row[1], row[2]):
                        row[0:3] = [int(kind is FileFavourited), hlc, dev]
        db.executemany(
            f"INSERT OR REPLACE INTO annotation_tags ({_TAGS}) VALUES (?, ?, ?, ?, ?)",
            [(target, tag, *row) for (target, tag), row in sorted(tagged.items())],
        )
        db.executemany(
            f"INSERT OR REPLACE INTO annotation_fields ({_FIELDS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(target, *row) for target, row in sorted(fields.items())],
        )
        watch(db, contents)

    def digest_rows(self, db: sqlite3.Connection) -> Iterable[Sequence[Any]]:
        yield from db.execute(
            "SELECT target, tag, present FROM annotation_tags ORDER BY target, tag"
        )
        yield from db.execute(
            "SELECT target, favourite, note FROM annotation_fields ORDER BY target"
        )


def _load(
    db: sqlite3.Connection, targets: set[bytes]
) -> tuple[dict[tuple[bytes, bytes], tuple[Any, ...]], dict[bytes, tuple[Any, ...]]]:
    """The stored rows of these targets: ``(present, hlc, dev)`` per (target, tag), and
    ``(favourite, its hlc, its dev, note, its hlc, its dev)`` per target."""
    tags: dict[tuple[bytes, bytes], tuple[Any, ...]] = {}
    fields: dict[bytes, tuple[Any, ...]] = {}
    for chunk in chunks(sorted(targets)):
        where = f"target IN ({marks(chunk)})"
        for target, tag, *row in db.execute(
            f"SELECT {_TAGS} FROM annotation_tags WHERE {where}", chunk
        ):
            tags[(target, tag)] = tuple(row)
        for target, *row in db.execute(
            f"SELECT {_FIELDS} FROM annotation_fields WHERE {where}", chunk
        ):
            fields[target] = tuple(row)
    return tags, fields


# -- reading ---------------------------------------------------------------------------------


def any_annotation(db: sqlite3.Connection) -> bool:
    """Whether any file has anything to show (a listing of a library nobody annotated asks
    nothing more)."""
    return bool(
        db.execute(
            "SELECT EXISTS (SELECT 1 FROM annotation_tags WHERE present) "
            "OR EXISTS (SELECT 1 FROM annotation_fields WHERE favourite OR note IS NOT NULL)"
        ).fetchone()[0]
    )


def annotations_of(
    db: sqlite3.Connection, files: Iterable[tuple[bytes, int, bytes | None]]
) -> dict[tuple[bytes, int], Annotations]:
    """What each of ``files`` (its device, eid and content id) shows, for those that show
    anything."""
    files = list(files)
    if not files or not any_annotation(db):
        return {}
    targets = {entry_target(device, eid) for device, eid, _ in files}
    targets.update(cid for _, _, cid in files if cid)
    names: dict[bytes, set[str]] = {}
    fields: dict[bytes, tuple[int, str | None]] = {}
    for chunk in chunks(sorted(targets)):
        where = f"target IN ({marks(chunk)})"
        for target, name in db.execute(
            "SELECT a.target, t.name FROM annotation_tags a JOIN tags t ON t.tag = a.tag "
            f"WHERE a.present AND t.created AND NOT t.deleted AND a.{where}",
            chunk,
        ):
            names.setdefault(target, set()).add(name)
        for target, favourite, note in db.execute(
            f"SELECT target, favourite, note FROM annotation_fields WHERE {where}", chunk
        ):
            fields[target] = (favourite, note)
    out = {}
    for device, eid, cid in files:
        own = entry_target(device, eid)
        by_content = fields.get(cid, (0, None)) if cid else (0, None)
        by_entry = fields.get(own, (0, None))
        shown = Annotations(
            tuple(sorted(names.get(own, set()) | (names.get(cid, set()) if cid else set()))),
            bool(by_content[0] or by_entry[0]),
            by_entry[1] if by_entry[1] is not None else by_content[1],
        )
        if shown != NONE:
            out[(device, eid)] = shown
    return out


def target_annotations(db: sqlite3.Connection, target: bytes) -> Annotations:
    """What one target says by itself (what a change to it would change)."""
    tags = tuple(
        sorted(
            name
            for (name,) in db.execute(
                "SELECT t.name FROM annotation_tags a JOIN tags t ON t.tag = a.tag "
                "WHERE a.target = ? AND a.present AND t.created AND NOT t.deleted",
                (target,),
            )
        )
    )
    row = db.execute(
        "SELECT favourite, note FROM annotation_fields WHERE target = ?", (target,)
    ).fetchone()
    return Annotations(tags, bool(row and row[0]), row[1] if row else None)


def has_tag(db: sqlite3.Connection, target: bytes, tag: bytes) -> bool:
    row = db.execute(
        "SELECT present FROM annotation_tags WHERE target = ? AND tag = ?", (target, tag)
    ).fetchone()
    return bool(row and row[0])


def tagged_entries(db: sqlite3.Connection, tags: Iterable[bytes]) -> frozenset[int]:
    """The entries (local ids) any of ``tags`` is on, through their content or themselves."""
    targets = []
    for chunk in chunks(sorted(set(tags))):
        targets.extend(
            target
            for (target,) in db.execute(
                f"SELECT target FROM annotation_tags WHERE present AND tag IN ({marks(chunk)})",
                chunk,
            )
        )
    return _entries(db, targets)


def favourite_entries(db: sqlite3.Connection) -> frozenset[int]:
    """The entries (local ids) that are favourites, through their content or themselves."""
    return _entries(
        db, [t for (t,) in db.execute("SELECT target FROM annotation_fields WHERE favourite")]
    )


def _entries(db: sqlite3.Connection, targets: list[bytes]) -> frozenset[int]:
    """The entries (local ids) of the index that ``targets`` name: the holders of each
    content, and each entry of a device the index knows."""
    out: set[int] = set()
    for held in holders_of(db, [t for t in targets if len(t) == CONTENT_LEN]).values():
        out.update(held)
    entries = [t for t in targets if len(t) != CONTENT_LEN]
    if entries:
        numbers = {device: idx for idx, device in db.execute("SELECT idx, device FROM devs")}
        for target in entries:
            idx = numbers.get(target[:-8])
            if idx is not None:
                out.add(idx << DEVICE_SHIFT | int.from_bytes(target[-8:], "big"))
    return frozenset(out)
