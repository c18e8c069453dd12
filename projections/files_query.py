"""Reading the file index: what the indexer compares against, and what ``sd`` shows.

Every function takes a connection to index.db (read-only is enough) and returns plain data.
Paths are bytes throughout; turning them into text for people is the caller's business.
"""

from __future__ import annotations

import os
import sqlite3
from typing import NamedTuple, Sequence

from projections.files import DEVICE_SHIFT, EID_MASK, chunks


class IndexedChild(NamedTuple):
    """What the index holds for one entry, as the indexer compares it with the disk."""

    eid: int
    ftype: str
    size: int
    mtime_ns: int
    inode: int
    kind: str | None

    def changed(self, seen: "SeenLike") -> bool:
        return self.size != seen.size or self.mtime_ns != seen.mtime_ns


class SeenLike(NamedTuple):
    size: int
    mtime_ns: int


class LocationRow(NamedTuple):
    location: bytes
    device: bytes
    path: bytes
    name: str
    rules: str
    root: int | None
    local_id: int


_CHILD = "id & ?, ftype, size, mtime, inode, kind"


def _child(row: Sequence) -> IndexedChild:
    return IndexedChild(*row)


def device_base(db: sqlite3.Connection, device: bytes) -> int | None:
    row = db.execute("SELECT idx FROM devs WHERE device = ?", (device,)).fetchone()
    return row[0] << DEVICE_SHIFT if row else None


class IndexView:
    """The index as one device's indexer sees it: its own entries, by their eids."""

    def __init__(self, db: sqlite3.Connection, device: bytes) -> None:
        self.db = db
        self.device = device
        self._base: int | None = None

    @property
    def base(self) -> int | None:
        if self._base is None:
            self._base = device_base(self.db, self.device)
        return self._base

    def max_eid(self) -> int:
        base = self.base
        if base is None:
            return 0
        row = self.db.execute(
            "SELECT max(id) FROM entries WHERE id BETWEEN ? AND ?", (base, base | EID_MASK)
        ).fetchone()
        return (row[0] & EID_MASK) if row and row[0] is not None else 0

    def root(self, location: bytes) -> IndexedChild | None:
        row = self.db.execute("SELECT root FROM locations WHERE location = ?", (location,)).fetchone()
        if not row or row[0] is None:
            return None
        return self.entry(row[0] & EID_MASK)

    def entry(self, eid: int) -> IndexedChild | None:
        base = self.base
        if base is None:
            return None
        row = self.db.execute(
            f"SELECT {_CHILD} FROM entries WHERE id = ?", (EID_MASK, base | eid)
        ).fetchone()
        return _child(row) if row else None

    def children(self, eid: int) -> dict[bytes, IndexedChild]:
        base = self.base
        if base is None:
            return {}
        return {
            row[0]: _child(row[1:])
            for row in self.db.execute(
                f"SELECT name, {_CHILD} FROM entries WHERE parent = ?", (EID_MASK, base | eid)
            )
        }

    def inodes(self, location: bytes) -> dict[int, tuple[int, str]]:
        """inode -> (eid, ftype) of every entry of the location (for move detection)."""
        base = self.base
        loc = self.db.execute("SELECT id FROM locations WHERE location = ?", (location,)).fetchone()
        if base is None or loc is None:
            return {}
        return {
            inode: (entry & EID_MASK, ftype)
            for entry, inode, ftype in self.db.execute(
                "SELECT id, inode, ftype FROM entries WHERE location = ? AND id BETWEEN ? AND ?",
                (loc[0], base, base | EID_MASK),
            )
        }

    def path_of(self, eid: int, root_path: bytes) -> bytes | None:
        """The absolute path the index records for an entry (the root stands for root_path)."""
        base = self.base
        if base is None:
            return None
        return entry_path(self.db, base | eid, root_path)

    def subtree_size(self, eids: Sequence[int]) -> int:
        """How many entries the given ones stand for, subtrees included."""
        base = self.base
        if base is None:
            return 0
        total = 0
        for chunk in chunks([base | e for e in eids]):
            marks = ",".join("?" * len(chunk))
            total += self.db.execute(
                f"SELECT count(*) FROM entries WHERE id IN ({marks})", chunk
            ).fetchone()[0]
            total += self.db.execute(
                f"SELECT count(*) FROM entries WHERE parent IN (SELECT descendant FROM folders "
                f"WHERE ancestor IN ({marks}))", chunk
            ).fetchone()[0]
        return total


def entry_path(db: sqlite3.Connection, entry: int, root_path: bytes | None = None,
               cache: dict[int, bytes] | None = None) -> bytes | None:
    """Absolute path of an entry: its location's path joined with the names above it."""
    names: list[bytes] = []
    current: int | None = entry
    prefix: bytes | None = None
    while current is not None:
        if cache is not None and current in cache:
            prefix = cache[current]
            break
        row = db.execute(
            "SELECT e.parent, e.name, l.path FROM entries e JOIN locations l ON l.id = e.location "
            "WHERE e.id = ?", (current,)
        ).fetchone()
        if row is None:
            return None
        parent, name, location_path = row
        if parent is None:
            prefix = root_path if root_path is not None else location_path
            if cache is not None:
                cache[current] = prefix
            break
        names.append(name)
        current = parent
    if prefix is None:
        return None
    path = os.path.join(prefix, *reversed(names)) if names else prefix
    if cache is not None and entry not in cache:
        cache[entry] = path
    return path


def locations(db: sqlite3.Connection) -> list[LocationRow]:
    return [
        LocationRow(*row)
        for row in db.execute(
            "SELECT location, device, path, name, rules, root, id FROM locations ORDER BY path"
        )
    ]


def location_for_path(db: sqlite3.Connection, path: bytes, device: bytes) -> LocationRow | None:
    """The location of ``device`` holding ``path`` (the deepest one, should they nest)."""
    best = None
    for loc in locations(db):
        if loc.device != device:
            continue
        if path == loc.path or path.startswith(loc.path.rstrip(b"/") + b"/"):
            if best is None or len(loc.path) > len(best.path):
                best = loc
    return best


def resolve(db: sqlite3.Connection, path: bytes, device: bytes) -> tuple[LocationRow, int] | None:
    """The entry id at an absolute ``path`` on ``device``, from the index alone."""
    loc = location_for_path(db, path, device)
    if loc is None or loc.root is None:
        return None
    rel = path[len(loc.path):].strip(b"/")
    entry = loc.root
    for part in rel.split(b"/") if rel else ():
        if not part or part == b".":
            continue
        row = db.execute(
            "SELECT id FROM entries WHERE parent = ? AND name = ?", (entry, part)
        ).fetchone()
        if row is None:
            return None
        entry = row[0]
    return loc, entry


class FileStats(NamedTuple):
    files: int
    dirs: int
    bytes: int
    by_kind: dict[str, int]
    bytes_by_kind: dict[str, int]
    other: int


def file_stats(db: sqlite3.Connection, location: int | None = None) -> FileStats:
    where, params = ("WHERE location = ?", (location,)) if location is not None else ("", ())
    files = dirs = total = other = 0
    by_kind: dict[str, int] = {}
    bytes_by_kind: dict[str, int] = {}
    for ftype, kind, n, size in db.execute(
        f"SELECT ftype, kind, count(*), coalesce(sum(size), 0) FROM entries {where} "
        "GROUP BY ftype, kind", params
    ):
        if ftype == "f":
            files += n
            total += size
            key = kind or "unknown"
            by_kind[key] = by_kind.get(key, 0) + n
            bytes_by_kind[key] = bytes_by_kind.get(key, 0) + size
        elif ftype == "d":
            dirs += n
        else:
            other += n
    return FileStats(files, dirs, total, dict(sorted(by_kind.items())),
                     dict(sorted(bytes_by_kind.items())), other)


class DuplicateGroup(NamedTuple):
    cid: bytes
    size: int
    kind: str | None
    count: int
    paths: list[bytes]

    @property
    def waste(self) -> int:
        """Bytes that deleting all copies but one would free."""
        return self.size * (self.count - 1)


def duplicates(db: sqlite3.Connection, limit: int | None = None, min_size: int = 1) -> list[DuplicateGroup]:
    """Groups of entries with the same content, the ones wasting most space first."""
    groups = db.execute(
        "SELECT id, cid, size, kind, instances FROM contents WHERE instances > 1 AND size >= ? "
        "ORDER BY size * (instances - 1) DESC, cid LIMIT ?",
        (min_size, -1 if limit is None else limit),
    ).fetchall()
    wanted = {row[0]: [] for row in groups}  # type: dict[int, list[int]]
    if wanted:
        # One pass over the entries rather than an index on content that every insert pays.
        for entry, content in db.execute(
            "SELECT id, content FROM entries WHERE content IS NOT NULL"
        ):
            members = wanted.get(content)
            if members is not None:
                members.append(entry)
    cache: dict[int, bytes] = {}
    out = []
    for content, cid, size, kind, count in groups:
        paths = [
            p for entry in wanted[content]
            if (p := entry_path(db, entry, cache=cache)) is not None
        ]
        out.append(DuplicateGroup(cid, size, kind, count, sorted(paths)))
    return out
