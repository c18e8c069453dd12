"""Reading the file index: what the indexer compares against, and what ``sd`` shows.

Every function takes a connection to index.db (read-only is enough) and returns plain data.
Paths are bytes throughout; turning them into text for people is the caller's business.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

from events.domain.entries import DIR, FILE
from projections.files.counters import content_key, total_bytes
from projections.files.listings import C_EID, Child, named_child, read_children, records
from projections.files.places import folders_of
from projections.files.schema import DEVICE_SHIFT, EID_MASK, chunks, marks


class IndexedChild(NamedTuple):
    """What the index holds for one entry, as the indexer compares it with the disk."""

    eid: int
    ftype: str
    size: int
    mtime_ns: int
    inode: int
    kind: str | None
    parent: int

    def changed(self, seen: Any) -> bool:
        return self.size != seen.size or self.mtime_ns != seen.mtime_ns


class LocationRow(NamedTuple):
    location: bytes
    device: bytes
    path: bytes
    name: str
    rules: str
    root: int | None
    # The volume it was last seen on, with that volume's mount point then (None if unknown).
    volume: str | None
    mount_point: str | None
    # Why it is offline; None while it is online.
    offline: str | None


def _indexed(child: Child, parent: int) -> IndexedChild:
    return IndexedChild(
        child.eid, child.ftype, child.size, child.mtime_ns, child.inode, child.kind, parent
    )


def folder_records(db: sqlite3.Connection, folder: int) -> list[tuple[Any, ...]]:
    """Every child of a folder (local id) as stored (``listings.records``), in no order."""
    out: list[tuple[Any, ...]] = []
    for (blob,) in db.execute("SELECT children FROM listings WHERE folder = ?", (folder,)):
        out.extend(records(blob))
    return out


def locate(
    db: sqlite3.Connection, entries: Iterable[int]
) -> dict[int, tuple[int, tuple[Any, ...]]]:
    """Where each of ``entries`` (local ids) is: its folder's local id and its record as the
    listing stores it (``listings.records``); an entry the index does not hold is left out.
    The places give each one's folder (``projections/files/places.py``), whose listing is
    read once for all it holds of them."""
    wanted: dict[int, set[int]] = {}
    for entry, folder in folders_of(db, entries).items():
        wanted.setdefault(folder, set()).add(entry & EID_MASK)
    found: dict[int, tuple[int, tuple[Any, ...]]] = {}
    for chunk in chunks(sorted(wanted)):
        for folder, blob in db.execute(
            f"SELECT folder, children FROM listings WHERE folder IN ({marks(chunk)})", chunk
        ):
            eids, base = wanted[folder], folder & ~EID_MASK
            for record in records(blob):
                if record[C_EID] in eids:
                    found[base | record[C_EID]] = (folder, record)
    return found


def folder_children(db: sqlite3.Connection, folder: int) -> list[Child]:
    """Every child of a folder (local id), in no particular order, each read by name."""
    return list(map(named_child, folder_records(db, folder)))


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
        row = self.db.execute(
            "SELECT max_eid FROM devs WHERE device = ?", (self.device,)
        ).fetchone()
        return row[0] if row else 0

    def root(self, location: bytes) -> IndexedChild | None:
        row = self.db.execute(
            "SELECT f.id, f.size, f.mtime, f.inode FROM locations l JOIN folders f ON f.id = l.root "
            "WHERE l.device = ? AND l.location = ?",
            (self.device, location),
        ).fetchone()
        if row is None:
            return None
        return IndexedChild(row[0] & EID_MASK, DIR, row[1], row[2], row[3], None, 0)

    def children(self, eid: int) -> dict[bytes, Child]:
        """A folder's children as its listing holds them, by name."""
        base = self.base
        if base is None:
            return {}
        return {c.name: c for c in folder_children(self.db, base | eid)}

    @staticmethod
    def as_child(child: Child, parent: int) -> IndexedChild:
        return _indexed(child, parent)

    def entry(self, eid: int, parent: int) -> IndexedChild | None:
        base = self.base
        if base is None:
            return None
        for child in folder_children(self.db, base | parent):
            if child.eid == eid:
                return _indexed(child, parent)
        return None

    def inodes(self, location: bytes) -> dict[tuple[int, int], tuple[int, str, int]]:
        """(volume, inode) -> (eid, ftype, parent eid) of every entry of the location (to
        find moves: inode numbers repeat across volumes, and a location may span several)."""
        base = self.base
        if base is None:
            return {}
        return _by_inode(
            self.db.execute(
                "SELECT l.folder, l.children FROM listings l JOIN folders f ON f.id = l.folder "
                "JOIN locations loc ON loc.id = f.location "
                "WHERE loc.device = ? AND loc.location = ?",
                (self.device, location),
            )
        )

    def folder_inodes(self, folders: Sequence[int]) -> dict[tuple[int, int], tuple[int, str, int]]:
        """Like :meth:`inodes`, for the children of some folders (by eid) only."""
        base = self.base
        if base is None:
            return {}
        out: dict[tuple[int, int], tuple[int, str, int]] = {}
        for chunk in chunks([base | eid for eid in folders]):
            out.update(
                _by_inode(
                    self.db.execute(
                        f"SELECT folder, children FROM listings WHERE folder IN ({marks(chunk)})",
                        chunk,
                    )
                )
            )
        return out

    def entry_count(self, location: bytes) -> int:
        """How many entries the location holds (its root included)."""
        row = self.db.execute(
            "SELECT coalesce(sum(t.count), 0) FROM totals t JOIN locations l ON l.id = t.location "
            "WHERE l.device = ? AND l.location = ?",
            (self.device, location),
        ).fetchone()
        return row[0]

    def path_of(self, eid: int, parent: int, root_path: bytes) -> bytes | None:
        """The absolute path the index records for an entry (the root stands for root_path)."""
        base = self.base
        if base is None:
            return None
        folder = folder_path(self.db, base | parent, root_path)
        if folder is None:
            return None
        for child in folder_children(self.db, base | parent):
            if child.eid == eid:
                return os.path.join(folder, child.name)
        return None

    def subtree_size(self, items: Sequence[tuple[int, int]]) -> int:
        """How many entries ``(eid, parent)`` items stand for, folders' contents included."""
        base = self.base
        if base is None:
            return 0
        total = len(items)
        folders = [base | eid for eid, _ in items]
        for chunk in chunks(folders):
            total += self.db.execute(
                "SELECT coalesce(sum(n), 0) FROM listings WHERE folder IN (SELECT descendant "
                f"FROM closure WHERE ancestor IN ({marks(chunk)}))",
                chunk,
            ).fetchone()[0]
        return total


def _by_inode(rows: Iterable[tuple[int, bytes]]) -> dict[tuple[int, int], tuple[int, str, int]]:
    out: dict[tuple[int, int], tuple[int, str, int]] = {}
    for folder, blob in rows:
        for child in read_children(blob):
            out[child.dev, child.inode] = (child.eid, child.ftype, folder & EID_MASK)
    return out


def folder_path(
    db: sqlite3.Connection,
    folder: int,
    root_path: bytes | None = None,
    cache: dict[int, bytes] | None = None,
) -> bytes | None:
    """Absolute path of a folder (None if the index holds no such folder).

    ``root_path`` stands in for the location's path (the indexer passes the path it walks);
    ``cache`` keeps the paths found, for callers resolving many.
    """
    if cache is not None and folder in cache:
        return cache[folder]
    row = db.execute(
        "SELECT f.path, l.path FROM folders f JOIN locations l ON l.id = f.location WHERE f.id = ?",
        (folder,),
    ).fetchone()
    if row is None:
        return None
    path, location_path = row
    if root_path is not None:
        path = root_path + path[len(location_path) :]
    if cache is not None:
        cache[folder] = path
    return path


_LOCATION = f"SELECT {', '.join(LocationRow._fields)} FROM locations"


def locations(db: sqlite3.Connection) -> list[LocationRow]:
    return [LocationRow(*row) for row in db.execute(f"{_LOCATION} ORDER BY path")]


def location_row(db: sqlite3.Connection, device: bytes, location: bytes) -> LocationRow | None:
    row = db.execute(
        f"{_LOCATION} WHERE device = ? AND location = ?", (device, location)
    ).fetchone()
    return LocationRow(*row) if row is not None else None


class FolderOwner(NamedTuple):
    device: bytes
    offline: bool


def folder_owners(db: sqlite3.Connection, folders: Iterable[int]) -> dict[int, FolderOwner]:
    """For each of ``folders`` (local ids): the device holding it, and whether its location
    is offline. Search shows both: a hit may be on another device of the library."""
    out: dict[int, FolderOwner] = {}
    for chunk in chunks(sorted(set(folders))):
        for folder, device, offline in db.execute(
            "SELECT f.id, l.device, l.offline IS NOT NULL FROM folders f "
            f"JOIN locations l ON l.id = f.location WHERE f.id IN ({marks(chunk)})",
            chunk,
        ):
            out[folder] = FolderOwner(device, bool(offline))
    return out


def location_for_path(db: sqlite3.Connection, path: bytes, device: bytes) -> LocationRow | None:
    """The location of ``device`` holding ``path`` (the deepest one, should they nest)."""
    return holding_location(locations(db), path, device)


def holding_location(
    among: Iterable[LocationRow], path: bytes, device: bytes
) -> LocationRow | None:
    """:func:`location_for_path` among locations already read, for a caller asking often."""
    best = None
    for loc in among:
        if loc.device != device:
            continue
        if path == loc.path or path.startswith(loc.path.rstrip(b"/") + b"/"):
            if best is None or len(loc.path) > len(best.path):
                best = loc
    return best


def tree_under(db: sqlite3.Connection, path: bytes, device: bytes) -> Iterable[tuple[bytes, Child]]:
    """Every entry below the folder at ``path`` on ``device`` (itself not included), each
    with its absolute path, a folder before what it holds; nothing if the index holds no
    folder there. For readers that look at a whole part of a tree (the agents)."""
    found = resolve(db, path, device)
    folder = found.named_folder if found is not None else None
    if folder is None:
        return
    base = folder & ~EID_MASK
    todo = [(folder, path.rstrip(b"/"))]
    while todo:
        current, prefix = todo.pop()
        for child in sorted(folder_children(db, current), key=lambda c: c.name):
            child_path = prefix + b"/" + child.name
            yield child_path, child
            if child.ftype == DIR:
                todo.append((base | child.eid, child_path))


class Resolved(NamedTuple):
    location: LocationRow
    # The folder the path names, or the folder holding the file it names.
    folder: int
    # The entry itself when the path names something that is not a location's root.
    child: Child | None

    @property
    def eid(self) -> int:
        """The eid of what the path names (the root's, for a location's path)."""
        return self.child.eid if self.child is not None else self.folder & EID_MASK

    @property
    def named_folder(self) -> int | None:
        """The local id of the folder the path names; None when it names something else."""
        if self.child is None:
            return self.folder
        if self.child.ftype == DIR:
            return (self.folder & ~EID_MASK) | self.child.eid
        return None


def resolve(db: sqlite3.Connection, path: bytes, device: bytes) -> Resolved | None:
    """What the index holds at an absolute ``path`` on ``device``, without touching the disk."""
    loc = location_for_path(db, path, device)
    if loc is None or loc.root is None:
        return None
    base = loc.root & ~EID_MASK
    rel = path[len(loc.path) :].strip(b"/")
    folder, child = loc.root, None
    parts = [p for p in rel.split(b"/") if p and p != b"."] if rel else []
    for i, part in enumerate(parts):
        match = next((c for c in folder_children(db, folder) if c.name == part), None)
        if match is None:
            return None
        if i + 1 < len(parts):
            if match.ftype != DIR:
                return None
            folder = base | match.eid
        else:
            child = match
    return Resolved(loc, folder, child)


def resolve_held(db: sqlite3.Connection, path: bytes, mine: bytes) -> tuple[Resolved, bytes] | None:
    """What the index holds at ``path`` on this device (``mine``), else on another device of
    the library that indexes it (devices in id order, so every device answers alike); with
    the device it was found on."""
    others = sorted({loc.device for loc in locations(db)} - {mine})
    for device in (mine, *others):
        found = resolve(db, path, device)
        if found is not None:
            return found, device
    return None


class FileStats(NamedTuple):
    files: int
    dirs: int
    bytes: int
    by_kind: dict[str, int]
    bytes_by_kind: dict[str, int]
    other: int


def file_stats(db: sqlite3.Connection) -> FileStats:
    """Totals of every location, added up here: bytes may pass what SQL's sum() holds."""
    files = dirs = total = other = 0
    by_kind: dict[str, int] = {}
    bytes_by_kind: dict[str, int] = {}
    for what, count, stored in db.execute("SELECT what, count, bytes FROM totals ORDER BY what"):
        if what.startswith("file:"):
            kind = what[5:]
            size = total_bytes(stored)
            files += count
            total += size
            by_kind[kind] = by_kind.get(kind, 0) + count
            bytes_by_kind[kind] = bytes_by_kind.get(kind, 0) + size
        elif what == "dir":
            dirs += count
        else:
            other += count
    return FileStats(files, dirs, total, by_kind, bytes_by_kind, other)


def content_kind(instances: dict[str, int]) -> str | None:
    """The kind of a content whose instances may disagree (a kind comes from a file's name
    too): the kind most instances have, the first by name on a tie; unknown only if no
    instance knows better. A function of the counts alone, so every device agrees."""
    known = {kind: n for kind, n in instances.items() if kind and n > 0}
    if not known:
        return None
    return min(known, key=lambda kind: (-known[kind], kind))


def content_instances(db: sqlite3.Connection, cid: bytes, size: int) -> dict[str, int]:
    """How many entries of every device hold a content, by the kind each gives it (the
    kinds :func:`content_kind` reads)."""
    return dict(
        db.execute(
            "SELECT kind, instances FROM contents WHERE id = ? AND size = ?",
            (content_key(cid), size),
        )
    )


def _listings(db: sqlite3.Connection, base: int | None) -> Iterable[tuple[int, bytes]]:
    """Every listing part (folder, children), or only those of the device whose local
    number is above ``base``'s bits."""
    if base is None:
        return db.execute("SELECT folder, children FROM listings")
    return db.execute(
        "SELECT folder, children FROM listings WHERE folder BETWEEN ? AND ?",
        (base, base | EID_MASK),
    )


class FileAt(NamedTuple):
    """A file of one device, where it is: its path, its folder (local id), its record."""

    path: bytes
    folder: int
    child: Child


def device_files(db: sqlite3.Connection, device: bytes, min_size: int = 0) -> Iterator[FileAt]:
    """Every file of ``device`` of at least ``min_size`` bytes, in no particular order: one
    pass over that device's listings. Paths of one file (hard links, bind mounts) are each
    given: the same ``(child.dev, child.inode)``, and the same size."""
    base = device_base(db, device)
    if base is None:
        return
    cache: dict[int, bytes] = {}
    for folder, blob in _listings(db, base):
        for child in read_children(blob):
            if child.ftype != FILE or child.size < min_size:
                continue
            at = folder_path(db, folder, cache=cache)
            if at is not None:
                yield FileAt(os.path.join(at, child.name), folder, child)


class DuplicateGroup(NamedTuple):
    cid: bytes
    size: int
    kind: str | None
    # Each file's paths, sorted, the files by their first path. A file seen through several
    # paths (hard links, a bind mount: one device, one volume, one inode) is one file: its
    # paths are never copies of each other.
    files: list[list[bytes]]

    @property
    def count(self) -> int:
        """Copies: files, not paths."""
        return len(self.files)

    @property
    def paths(self) -> list[bytes]:
        """One path per copy."""
        return [paths[0] for paths in self.files]

    @property
    def waste(self) -> int:
        """Bytes that deleting all copies but one would free."""
        return self.size * (self.count - 1)


def duplicates(
    db: sqlite3.Connection,
    limit: int | None = None,
    min_size: int = 1,
    device: bytes | None = None,
) -> list[DuplicateGroup]:
    """Groups of files with the same content, the ones wasting most space first; with
    ``device``, only that device's files count (what it could free by itself).

    The contents table says which contents have several instances (entries, so a file with
    two paths counts twice there); one pass over the listings finds them, grouped by their
    whole content id (an index from content to entry would cost every insert more than
    this costs a query), then by file: the device holding it, its volume and its inode. A
    content whose entries are all one file is no duplicate. What a group is depends only on
    the entries in the index, never on the order they came in.
    """
    counts: dict[tuple[int, int], dict[str, int]] = {}
    for key, size, kind, instances in db.execute(
        "SELECT id, size, kind, instances FROM contents WHERE (id, size) IN "
        "(SELECT id, size FROM contents WHERE size >= ? GROUP BY id, size "
        "HAVING sum(instances) > 1)",
        (min_size,),
    ):
        counts.setdefault((key, size), {})[kind] = instances
    candidates = {key: (key[1], content_kind(kinds)) for key, kinds in counts.items()}
    members: dict[tuple[bytes, int], dict[tuple[int, int, int], list[bytes]]] = {}
    base = None if device is None else device_base(db, device)
    if candidates and (device is None or base is not None):
        cache: dict[int, bytes] = {}
        for folder, blob in _listings(db, base):
            folder_at = None
            for child in read_children(blob):
                cid = child.cid
                if not cid or (content_key(cid), child.size) not in candidates:
                    continue
                if folder_at is None:
                    folder_at = folder_path(db, folder, cache=cache)
                if folder_at is not None:
                    files = members.setdefault((cid, child.size), {})
                    same = (folder >> DEVICE_SHIFT, child.dev, child.inode)
                    files.setdefault(same, []).append(os.path.join(folder_at, child.name))
    groups = [
        DuplicateGroup(
            cid,
            *candidates[(content_key(cid), size)],
            sorted(sorted(paths) for paths in files.values()),
        )
        for (cid, size), files in members.items()
        if len(files) > 1
    ]
    groups.sort(key=lambda g: (-g.waste, g.cid))
    return groups[:limit] if limit is not None else groups
