"""Locations and their entries: the file index, with folder closure, content identities and
name search.

One projection folds both ``location.*`` and ``entries.*`` because they depend on each other
in log order (an entry belongs to a location that exists at that point of the log).

Tables:

- ``locations``: one row per live location.
- ``entries``: one row per file, folder, link or special file. ``id`` is local:
  ``(devs.idx << 40) | eid``, so rows of different devices never collide and an event's
  ``(device, eid)`` finds its row without another index. ``name`` is the raw bytes.
- ``folders``: a closure table over folders only (ancestor, descendant, depth). Files are
  reached through their ``parent``; closing over folders alone keeps the table about a tenth
  of a closure over every entry, and a subtree query is still one indexed range.
- ``contents``: one row per distinct content id, with how many entries have it.
- ``search``: FTS5 (trigram, so any substring of three characters or more is an index
  lookup) over the readable, lower-cased form of each name; rowid = entry id. Queried with
  GLOB, which the trigram index serves with ``detail = none`` (the smallest, fastest to
  build) and which, unlike LIKE, has no wildcard in ordinary names (``_``).
- ``devs``: the local numbering of devices (local: left out of the digest).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable, Iterator, Sequence

from events.domain.entries import (
    DIR,
    EntriesDeleted,
    EntriesIndexed,
    EntriesModified,
    EntriesMoved,
)
from events.domain.locations import LocationAdded, LocationRemoved, LocationRulesChanged
from events.envelope import Event
from projections.base import Folded

DEVICE_SHIFT = 40
EID_MASK = (1 << DEVICE_SHIFT) - 1
_CHUNK = 500  # SQLite host parameters per IN (...) list, well under its limit


def readable(name: bytes) -> str:
    """A name as text people can read and search: invalid UTF-8 bytes become ``\\xNN``."""
    return name.decode("utf-8", "backslashreplace")


def extension(name: bytes) -> str | None:
    dot = name.rfind(b".")
    if dot <= 0 or dot == len(name) - 1:
        return None
    return name[dot + 1 :].decode("utf-8", "backslashreplace").lower()


def chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


SCHEMA = (
    "CREATE TABLE devs (idx INTEGER PRIMARY KEY, device BLOB NOT NULL UNIQUE)",
    "CREATE TABLE locations (id INTEGER PRIMARY KEY, location BLOB NOT NULL UNIQUE, "
    "device BLOB NOT NULL, path BLOB NOT NULL, name TEXT NOT NULL, rules TEXT NOT NULL, "
    "root INTEGER, added INTEGER NOT NULL)",
    "CREATE TABLE entries (id INTEGER PRIMARY KEY, location INTEGER NOT NULL, parent INTEGER, "
    "name BLOB NOT NULL, ext TEXT, ftype TEXT NOT NULL, kind TEXT, size INTEGER NOT NULL, "
    "mtime INTEGER NOT NULL, inode INTEGER NOT NULL, content INTEGER, target BLOB)",
    "CREATE INDEX entries_by_parent ON entries (parent, name)",
    "CREATE TABLE folders (ancestor INTEGER NOT NULL, descendant INTEGER NOT NULL, "
    "depth INTEGER NOT NULL, PRIMARY KEY (ancestor, descendant)) WITHOUT ROWID",
    "CREATE TABLE contents (id INTEGER PRIMARY KEY, cid BLOB NOT NULL UNIQUE, "
    "size INTEGER NOT NULL, kind TEXT, instances INTEGER NOT NULL)",
    "CREATE VIRTUAL TABLE search USING fts5(name, tokenize = 'trigram', detail = 'none')",
)


class FilesProjection:
    name = "files"
    version = 1
    types = ("location.", "entries.")

    def create(self, db: sqlite3.Connection) -> None:
        for statement in SCHEMA:
            db.execute(statement)

    def fold(self, db: sqlite3.Connection, events: Folded) -> None:
        fold = _Fold(db)
        for ev, typed in events:
            kind = type(typed)
            if kind is EntriesIndexed:
                fold.indexed(ev, typed)
            elif kind is EntriesModified:
                fold.modified(ev, typed)
            elif kind is EntriesMoved:
                fold.moved(ev, typed)
            elif kind is EntriesDeleted:
                fold.deleted(ev, typed)
            elif kind is LocationAdded:
                fold.location_added(ev, typed)
            elif kind is LocationRulesChanged:
                fold.rules_changed(typed)
            elif kind is LocationRemoved:
                fold.location_removed(typed)
        fold.flush_contents()

    def digest_rows(self, db: sqlite3.Connection) -> Iterable[Sequence[Any]]:
        yield from db.execute(
            "SELECT location, device, path, name, rules, root & ? FROM locations "
            "ORDER BY location", (EID_MASK,)
        )
        yield from db.execute(
            "SELECT d.device, e.id & ?, l.location, e.parent & ?, e.name, e.ftype, e.kind, "
            "e.size, e.mtime, e.inode, c.cid, e.target FROM entries e "
            "JOIN devs d ON d.idx = e.id >> ? JOIN locations l ON l.id = e.location "
            "LEFT JOIN contents c ON c.id = e.content ORDER BY d.device, e.id & ?",
            (EID_MASK, EID_MASK, DEVICE_SHIFT, EID_MASK),
        )
        yield from db.execute(
            "SELECT cid, size, kind, instances FROM contents ORDER BY cid"
        )


class _Fold:
    """One batch's fold; caches that live only as long as the batch."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._devs: dict[bytes, int] = {}
        self._locations: dict[bytes, int] = {}
        self._chains: dict[int, tuple[int, ...]] = {}
        self._content_ids: dict[bytes, int] = {}
        self._instances: dict[int, int] = {}

    # -- numbering ---------------------------------------------------------------------------

    def dev(self, device: bytes) -> int:
        idx = self._devs.get(device)
        if idx is None:
            row = self.db.execute("SELECT idx FROM devs WHERE device = ?", (device,)).fetchone()
            if row is None:
                idx = self.db.execute("INSERT INTO devs (device) VALUES (?)", (device,)).lastrowid
            else:
                idx = row[0]
            self._devs[device] = idx  # type: ignore[assignment]
        return idx  # type: ignore[return-value]

    def location(self, location: bytes) -> int | None:
        loc = self._locations.get(location)
        if loc is None:
            row = self.db.execute(
                "SELECT id FROM locations WHERE location = ?", (location,)
            ).fetchone()
            if row is None:
                return None
            loc = self._locations[location] = row[0]
        return loc

    def chain(self, folder: int) -> tuple[int, ...]:
        """``folder`` and its ancestors, nearest first, as the index holds them now."""
        cached = self._chains.get(folder)
        if cached is not None:
            return cached
        # The closure is keyed for subtree queries (ancestor first), so walk parents instead
        # of adding a second index on it just for this.
        out = [folder]
        parent = self.db.execute("SELECT parent FROM entries WHERE id = ?", (folder,)).fetchone()
        while parent and parent[0] is not None:
            up = parent[0]
            above = self._chains.get(up)
            if above is not None:
                out.extend(above)
                break
            out.append(up)
            parent = self.db.execute("SELECT parent FROM entries WHERE id = ?", (up,)).fetchone()
        result = tuple(out)
        self._chains[folder] = result
        return result

    # -- contents -----------------------------------------------------------------------------

    def contents_for(self, items: Iterable[tuple[bytes, int, str | None]]) -> None:
        """Make sure a contents row exists for every ``(cid, size, kind)``."""
        wanted = {cid: (size, kind) for cid, size, kind in items if cid not in self._content_ids}
        if not wanted:
            return
        keys = list(wanted)
        for chunk in chunks(keys):
            marks = ",".join("?" * len(chunk))
            for cid_id, cid in self.db.execute(
                f"SELECT id, cid FROM contents WHERE cid IN ({marks})", chunk
            ):
                self._content_ids[cid] = cid_id
        for cid in keys:
            if cid not in self._content_ids:
                size, kind = wanted[cid]
                self._content_ids[cid] = self.db.execute(
                    "INSERT INTO contents (cid, size, kind, instances) VALUES (?, ?, ?, 0)",
                    (cid, size, kind),
                ).lastrowid  # type: ignore[assignment]

    def count(self, content: int | None, delta: int) -> None:
        if content is not None:
            self._instances[content] = self._instances.get(content, 0) + delta

    def flush_contents(self) -> None:
        if not self._instances:
            return
        self.db.executemany(
            "UPDATE contents SET instances = instances + ? WHERE id = ?",
            [(delta, cid) for cid, delta in self._instances.items() if delta],
        )
        self.db.execute("DELETE FROM contents WHERE instances <= 0")
        self._instances.clear()
        self._content_ids.clear()

    # -- locations ------------------------------------------------------------------------------

    def location_added(self, ev: Event, typed: LocationAdded) -> None:
        self.db.execute(
            "INSERT INTO locations (location, device, path, name, rules, added) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (location) DO NOTHING",
            (typed.location, ev.device, typed.path, typed.name,
             json.dumps(typed.rules, sort_keys=True), ev.hlc),
        )

    def rules_changed(self, typed: LocationRulesChanged) -> None:
        self.db.execute(
            "UPDATE locations SET rules = ? WHERE location = ?",
            (json.dumps(typed.rules, sort_keys=True), typed.location),
        )

    def location_removed(self, typed: LocationRemoved) -> None:
        loc = self.location(typed.location)
        if loc is None:
            return
        root = self.db.execute("SELECT root FROM locations WHERE id = ?", (loc,)).fetchone()[0]
        if root is not None:
            self._delete_subtrees([root])
        # Anything not reachable from the root (a root never indexed) goes too.
        self._delete_rows(
            [r[0] for r in self.db.execute("SELECT id FROM entries WHERE location = ?", (loc,))]
        )
        self.db.execute("DELETE FROM locations WHERE id = ?", (loc,))
        self._locations.pop(typed.location, None)

    # -- entries --------------------------------------------------------------------------------

    def indexed(self, ev: Event, typed: EntriesIndexed) -> None:
        loc = self.location(typed.location)
        if loc is None:
            return  # entries of a location removed earlier in the log
        base = self.dev(ev.device) << DEVICE_SHIFT
        items = typed.entries
        self.contents_for((i[8], i[4], i[7]) for i in items if i[8])
        content_ids = self._content_ids
        rows = []
        search = []
        folders = []
        root = None
        for eid, parent, name, ftype, size, mtime, inode, kind, cid, target in items:
            entry = base | eid
            content = content_ids[cid] if cid else None
            if content is not None:
                self._instances[content] = self._instances.get(content, 0) + 1
            rows.append((entry, loc, base | parent if parent else None, name, extension(name),
                         ftype, kind, size, mtime, inode, content, target))
            search.append((entry, readable(name).lower()))
            if ftype == DIR:
                folders.append((entry, base | parent if parent else None))
            if not parent:
                root = entry
        self.db.executemany(
            "INSERT OR REPLACE INTO entries (id, location, parent, name, ext, ftype, kind, size, "
            "mtime, inode, content, target) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        self.db.executemany("INSERT INTO search (rowid, name) VALUES (?, ?)", search)
        closure = []
        for folder, parent in folders:
            chain = (folder, *self.chain(parent)) if parent is not None else (folder,)
            self._chains[folder] = chain
            closure.extend((ancestor, folder, depth) for depth, ancestor in enumerate(chain))
        self.db.executemany(
            "INSERT OR IGNORE INTO folders (ancestor, descendant, depth) VALUES (?, ?, ?)",
            closure,
        )
        if root is not None:
            self.db.execute("UPDATE locations SET root = ? WHERE id = ?", (root, loc))

    def modified(self, ev: Event, typed: EntriesModified) -> None:
        base = self.dev(ev.device) << DEVICE_SHIFT
        items = typed.entries
        self.contents_for((i[5], i[1], i[4]) for i in items if i[5])
        ids = [base | i[0] for i in items]
        old = self._contents_of(ids)
        updates = []
        for (eid, size, mtime, inode, kind, cid), entry in zip(items, ids):
            if entry not in old:
                continue  # deleted earlier in the log
            self.count(old[entry], -1)
            content = self._content_ids[cid] if cid else None
            self.count(content, +1)
            updates.append((size, mtime, inode, kind, content, entry))
        self.db.executemany(
            "UPDATE entries SET size = ?, mtime = ?, inode = ?, kind = ?, content = ? WHERE id = ?",
            updates,
        )

    def moved(self, ev: Event, typed: EntriesMoved) -> None:
        base = self.dev(ev.device) << DEVICE_SHIFT
        for eid, parent, name in typed.moves:
            entry = base | eid
            row = self.db.execute("SELECT ftype, parent FROM entries WHERE id = ?", (entry,)).fetchone()
            if row is None:
                continue
            new_parent = base | parent if parent else None
            if row[0] == DIR:
                self._move_folder(entry, new_parent)
            self.db.execute(
                "UPDATE entries SET parent = ?, name = ?, ext = ? WHERE id = ?",
                (new_parent, name, extension(name), entry),
            )
            self.db.execute(
                "UPDATE search SET name = ? WHERE rowid = ?", (readable(name).lower(), entry)
            )

    def _move_folder(self, folder: int, new_parent: int | None) -> None:
        old_above = self.chain(folder)[1:]
        subtree = self.db.execute(
            "SELECT descendant, depth FROM folders WHERE ancestor = ?", (folder,)
        ).fetchall()
        descendants = [d for d, _ in subtree]
        for chunk in chunks(descendants):
            marks = ",".join("?" * len(chunk))
            for above in chunks(list(old_above)):
                self.db.execute(
                    f"DELETE FROM folders WHERE descendant IN ({marks}) AND ancestor IN "
                    f"({','.join('?' * len(above))})",
                    [*chunk, *above],
                )
        new_above = self.chain(new_parent) if new_parent is not None else ()
        self.db.executemany(
            "INSERT OR IGNORE INTO folders (ancestor, descendant, depth) VALUES (?, ?, ?)",
            [
                (ancestor, descendant, up + 1 + depth)
                for up, ancestor in enumerate(new_above)
                for descendant, depth in subtree
            ],
        )
        self._chains.clear()

    def deleted(self, ev: Event, typed: EntriesDeleted) -> None:
        base = self.dev(ev.device) << DEVICE_SHIFT
        self._delete_subtrees([base | eid for eid in typed.eids])

    def _delete_subtrees(self, tops: list[int]) -> None:
        doomed: list[int] = []
        folders: list[int] = []
        for chunk in chunks(tops):
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT id, ftype FROM entries WHERE id IN ({marks})", chunk
            ).fetchall()
            for entry, ftype in rows:
                doomed.append(entry)
                if ftype == DIR:
                    folders.extend(
                        d for (d,) in self.db.execute(
                            "SELECT descendant FROM folders WHERE ancestor = ?", (entry,)
                        )
                    )
        for chunk in chunks(folders):
            marks = ",".join("?" * len(chunk))
            doomed.extend(
                e for (e,) in self.db.execute(
                    f"SELECT id FROM entries WHERE parent IN ({marks})", chunk
                )
            )
            self.db.execute(f"DELETE FROM folders WHERE descendant IN ({marks})", chunk)
        self._delete_rows(doomed)
        self._chains.clear()

    def _delete_rows(self, ids: list[int]) -> None:
        for chunk in chunks(sorted(set(ids))):
            marks = ",".join("?" * len(chunk))
            for content, n in self.db.execute(
                f"SELECT content, count(*) FROM entries WHERE id IN ({marks}) "
                "AND content IS NOT NULL GROUP BY content", chunk
            ):
                self.count(content, -n)
            self.db.execute(f"DELETE FROM entries WHERE id IN ({marks})", chunk)
            self.db.execute(f"DELETE FROM search WHERE rowid IN ({marks})", chunk)

    def _contents_of(self, ids: list[int]) -> dict[int, int | None]:
        found: dict[int, int | None] = {}
        for chunk in chunks(ids):
            marks = ",".join("?" * len(chunk))
            found.update(self.db.execute(
                f"SELECT id, content FROM entries WHERE id IN ({marks})", chunk
            ).fetchall())
        return found

