"""Locations and their entries: the file index, with folder closure, content identities,
totals and the name pages search reads.

One projection folds both ``location.*`` and ``entries.*`` because they depend on each other
in log order (an entry belongs to a location that exists at that point of the log).

Entries are stored **by folder**, not one row each. A folder's children live in *listing*
rows of up to ``PART_MAX`` children (a msgpack array each); their names, folded for search,
live in *pages* of names of one length (``projections/names.py``). Per-row costs in SQLite (and in
Python's sqlite3) are several microseconds whatever the row holds; a row per entry made the
fold the slowest part of indexing by far. Grouping by folder matches how entries are used:
the indexer compares folder by folder, ``sd ls`` lists a folder, and every event item names
its folder.

Tables:

- ``devs``: local numbering of devices, and the highest eid each has used.
- ``locations``: one row per live location, with the volume it was last seen on (and that
  volume's mount point then), and why it is offline (NULL while it is online).
- ``folders``: one row per folder: where it is, its name, its own metadata, its absolute
  ``path`` and that path folded for search (``fpath``, with a trailing ``/``), and its own
  name folded (``fname``, indexed: search finds folders by name there). ``id`` is
  local: ``(devs.idx << 40) | eid``.
- ``listings``: the children of a folder, in parts. A child is ``[eid, name, ftype, size,
  mtime_ns, inode, kind, cid, target, dev, page]``: ``dev`` is the volume it is on (with the
  inode, what makes several paths one file), ``page`` where its name is (local, so left out
  of the digest).
- ``closure``: ancestor/descendant pairs over folders, for subtree queries.
- ``contents``: one row per distinct content, keyed by the first 63 bits of its content id,
  with its size, kind and how many entries have it. The whole id stays with each entry in
  its listing: rows this small keep a million-content table cheap to update, and whoever
  needs exact groups (``sd duplicates``) checks the whole ids, so two contents sharing 63
  bits (about one chance in 10^7 among a million contents) are never shown as one.
- ``totals``: files and bytes per location and kind, folders and other entries per
  location, so ``sd stats`` reads a handful of rows. A location's files may total more
  bytes than SQLite's 64-bit integers hold (a file alone may have 2**63 - 1): ``bytes`` is
  an integer while it fits one and its decimal text past that (:func:`total_bytes` reads
  either), added up in Python, never by SQL.
- ``pages`` and its two FTS5 indexes: see ``projections/names.py``.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable, Iterator, Sequence

import blake3
import msgpack

from events.domain.entries import (
    DIR,
    FILE,
    EntriesDeleted,
    EntriesIndexed,
    EntriesModified,
    EntriesMoved,
)
from events.domain.locations import (
    LocationAdded,
    LocationOffline,
    LocationOnline,
    LocationRemoved,
    LocationRulesChanged,
    LocationVolumeSeen,
)
from events.envelope import Event
from events.shapes import INT64_MAX
from projections.base import Folded
from projections.names import SCHEMA as NAME_PAGES
from projections.names import PageBook, fold_name, fold_text

DEVICE_SHIFT = 40
EID_MASK = (1 << DEVICE_SHIFT) - 1
PART_MAX = 1000
_CHUNK = 500  # SQLite host parameters per IN (...) list, well under its limit

# Positions in a listing child.
C_EID, C_NAME, C_FTYPE, C_SIZE, C_MTIME, C_INODE, C_KIND, C_CID, C_TARGET, C_DEV, C_PAGE = range(11)
# The fields of a child that are facts of the log (the digest's); the rest is local.
FACTS = C_PAGE


def extension(name: bytes) -> str | None:
    dot = name.rfind(b".")
    if dot <= 0 or dot == len(name) - 1:
        return None
    return name[dot + 1 :].decode("utf-8", "backslashreplace").lower()


def chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def unpack_children(blob: bytes) -> list[list[Any]]:
    return msgpack.unpackb(blob, use_list=True)


def content_key(cid: bytes) -> int:
    """The contents table's key for a content id: its first 63 bits."""
    return int.from_bytes(cid[:8], "big") >> 1


def total_bytes(stored: int | str) -> int:
    """A ``totals.bytes`` value as the exact number it stands for."""
    return stored if type(stored) is int else int(stored)


def _stored_bytes(n: int) -> int | str:
    return n if n <= INT64_MAX else str(n)


def total_key(ftype: str, kind: str | None) -> str:
    if ftype == FILE:
        return f"file:{kind or 'unknown'}"
    return "dir" if ftype == DIR else "other"


SCHEMA = (
    "CREATE TABLE devs (idx INTEGER PRIMARY KEY, device BLOB NOT NULL UNIQUE, "
    "max_eid INTEGER NOT NULL DEFAULT 0)",
    # A location is its device's: another device naming the same id has another location.
    "CREATE TABLE locations (id INTEGER PRIMARY KEY, location BLOB NOT NULL, "
    "device BLOB NOT NULL, path BLOB NOT NULL, name TEXT NOT NULL, rules TEXT NOT NULL, "
    "root INTEGER, added INTEGER NOT NULL, volume TEXT, mount_point TEXT, offline TEXT, "
    "UNIQUE (device, location))",
    "CREATE TABLE folders (id INTEGER PRIMARY KEY, location INTEGER NOT NULL, parent INTEGER, "
    "name BLOB NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL, inode INTEGER NOT NULL, "
    "path BLOB NOT NULL, fpath TEXT NOT NULL, fname TEXT NOT NULL)",
    # Search scans folder names (small) rather than their paths (long): this index is the
    # narrow copy a scan reads.
    "CREATE INDEX folders_by_name ON folders (fname)",
    "CREATE TABLE listings (doc INTEGER PRIMARY KEY, folder INTEGER NOT NULL, "
    "n INTEGER NOT NULL, children BLOB NOT NULL)",
    "CREATE INDEX listings_by_folder ON listings (folder)",
    "CREATE TABLE closure (ancestor INTEGER NOT NULL, descendant INTEGER NOT NULL, "
    "depth INTEGER NOT NULL, PRIMARY KEY (ancestor, descendant)) WITHOUT ROWID",
    # A folder's ancestors in one lookup (a new folder's chain is its parent's, plus itself).
    "CREATE INDEX closure_up ON closure (descendant, depth)",
    # Instances per content and kind: devices may disagree on a content's kind (a file's
    # kind also comes from its name), and each count is a fact of its own, whatever the order.
    "CREATE TABLE contents (id INTEGER NOT NULL, size INTEGER NOT NULL, kind TEXT NOT NULL, "
    "instances INTEGER NOT NULL, PRIMARY KEY (id, size, kind)) WITHOUT ROWID",
    # ``bytes`` has no declared type: SQLite keeps an integer as one, and the text of a
    # total past 2**63 - 1 as text (a column of INTEGER affinity would make it a float).
    "CREATE TABLE totals (location INTEGER NOT NULL, what TEXT NOT NULL, "
    "count INTEGER NOT NULL, bytes NOT NULL, PRIMARY KEY (location, what)) WITHOUT ROWID",
    *NAME_PAGES,
)


class FilesProjection:
    name = "files"
    version = 12
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
                fold.flush()
                fold.location_added(ev, typed)
            elif kind is LocationRulesChanged:
                fold.rules_changed(ev, typed)
            elif kind is LocationVolumeSeen:
                fold.set_location(
                    ev, typed.location, volume=typed.volume, mount_point=typed.mount_point
                )
            elif kind is LocationOffline:
                fold.set_location(ev, typed.location, offline=typed.reason)
            elif kind is LocationOnline:
                fold.set_location(ev, typed.location, offline=None)
            elif kind is LocationRemoved:
                fold.flush()
                fold.location_removed(ev, typed)
        fold.flush()

    def digest_rows(self, db: sqlite3.Connection) -> Iterable[Sequence[Any]]:
        yield from db.execute(
            "SELECT device, location, path, name, rules, root & ?, volume, mount_point, offline "
            "FROM locations ORDER BY device, location",
            (EID_MASK,),
        )
        yield from db.execute(
            "SELECT d.device, f.id & ?, l.location, f.parent & ?, f.name, f.size, f.mtime, "
            "f.inode FROM folders f JOIN devs d ON d.idx = f.id >> ? "
            "JOIN locations l ON l.id = f.location ORDER BY d.device, f.id",
            (EID_MASK, EID_MASK, DEVICE_SHIFT),
        )
        yield from _listing_digests(db)
        yield from db.execute(
            "SELECT l.device, l.location, t.what, t.count, t.bytes FROM totals t "
            "JOIN locations l ON l.id = t.location ORDER BY l.device, l.location, t.what"
        )
        yield from db.execute(
            "SELECT id, size, kind, instances FROM contents ORDER BY id, size, kind"
        )


def _listing_digests(db: sqlite3.Connection) -> Iterator[Sequence[Any]]:
    """One row per folder: a hash of its children sorted by eid, whatever the parts' layout."""
    current: tuple[bytes, int] | None = None
    children: list[list[Any]] = []
    packer = msgpack.Packer(use_bin_type=True)

    def done() -> Sequence[Any]:
        # Sorted by their bytes: children are not always comparable as values (a device may
        # list one eid twice in a folder, with a kind and without).
        hasher = blake3.blake3()
        for packed in sorted(packer.pack(child[:FACTS]) for child in children):
            hasher.update(packed)
        return (current[0], current[1], hasher.digest())  # type: ignore[index]

    for device, folder, blob in db.execute(
        "SELECT d.device, l.folder & ?, l.children FROM listings l "
        "JOIN devs d ON d.idx = l.folder >> ? ORDER BY d.device, l.folder",
        (EID_MASK, DEVICE_SHIFT),
    ):
        key = (device, folder)
        if key != current:
            if current is not None:
                yield done()
            current, children = key, []
        children.extend(unpack_children(blob))
    if current is not None:
        yield done()


class _Part:
    __slots__ = ("doc", "children", "dirty")

    def __init__(self, doc: int | None, children: list[list[Any]], dirty: bool = False) -> None:
        self.doc = doc
        self.children = children
        self.dirty = dirty


class _Listing:
    """A folder's children for the length of one batch: loaded lazily, written at flush."""

    __slots__ = ("folder", "parts", "complete", "where")

    def __init__(self, folder: int) -> None:
        self.folder = folder
        self.parts: list[_Part] = []
        self.complete = False  # all parts loaded (needed to find or remove a child)
        self.where: dict[int, _Part] | None = None


class _Fold:
    """One batch's fold. Caches live only as long as the batch."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._devs: dict[bytes, int] = {}
        self._max_eid: dict[int, int] = {}
        self._locations: dict[tuple[bytes, bytes], int] = {}
        self._chains: dict[int, tuple[int, ...]] = {}
        # Folder -> its location's local id (None: no such folder), as far as looked up.
        self._folder_loc: dict[int, int | None] = {}
        # A location's root folder (None: it has none), as far as looked up.
        self._roots: dict[int, int | None] = {}
        # Folder -> (absolute path, folded path + "/"), as far as looked up or made.
        self._paths: dict[int, tuple[bytes, str]] = {}
        self.pages = PageBook(db)
        self._listings: dict[int, _Listing] = {}
        # Change in instances per (content id, size, kind). A content id fixes its size, but
        # a device may claim otherwise: each claim is counted on its own, whatever the order.
        self._instances: dict[tuple[bytes, int, str | None], int] = {}
        self._totals: dict[tuple[int, str], list[int]] = {}

    # -- numbering --------------------------------------------------------------------------

    def dev(self, device: bytes) -> int:
        idx = self._devs.get(device)
        if idx is None:
            row = self.db.execute("SELECT idx FROM devs WHERE device = ?", (device,)).fetchone()
            if row is None:
                idx = (
                    self.db.execute("INSERT INTO devs (device) VALUES (?)", (device,)).lastrowid
                    or 0
                )
            else:
                idx = row[0]
            self._devs[device] = idx
        return idx

    def location(self, device: bytes, location: bytes) -> int | None:
        """The local id of ``device``'s location ``location``: a device's events only ever
        reach its own locations (another device's events on it find nothing, and do nothing)."""
        key = (device, location)
        loc = self._locations.get(key)
        if loc is None:
            row = self.db.execute(
                "SELECT id FROM locations WHERE device = ? AND location = ?", key
            ).fetchone()
            if row is None:
                return None
            loc = self._locations[key] = row[0]
        return loc

    def chain(self, folder: int) -> tuple[int, ...]:
        """``folder`` and its ancestors, nearest first, as the index holds them now."""
        cached = self._chains.get(folder)
        if cached is not None:
            return cached
        result = tuple(
            a
            for (a,) in self.db.execute(
                "SELECT ancestor FROM closure WHERE descendant = ? ORDER BY depth", (folder,)
            )
        ) or (folder,)
        self._chains[folder] = result
        return result

    def location_path(self, loc: int) -> tuple[bytes, str]:
        """A location's path, and folded for search with a trailing "/"."""
        (path,) = self.db.execute("SELECT path FROM locations WHERE id = ?", (loc,)).fetchone()
        return path, fold_text(path.decode("utf-8", "backslashreplace")).rstrip("/") + "/"

    def folder_paths(self, folder: int) -> tuple[bytes, str]:
        """A folder's absolute path, and folded for search with a trailing "/"."""
        known = self._paths.get(folder)
        if known is None:
            row = self.db.execute(
                "SELECT path, fpath FROM folders WHERE id = ?", (folder,)
            ).fetchone()
            known = self._paths[folder] = (row[0], row[1])
        return known

    def folders_of(self, folders: Iterable[int]) -> dict[int, int | None]:
        """The location of each folder (None if it is not a folder), in few queries."""
        cache = self._folder_loc
        wanted = [f for f in set(folders) if f not in cache]
        for chunk in chunks(wanted):
            for folder in chunk:
                cache[folder] = None
            marks = ",".join("?" * len(chunk))
            for folder, loc in self.db.execute(
                f"SELECT id, location FROM folders WHERE id IN ({marks})", chunk
            ):
                cache[folder] = loc
        return cache

    def in_location(self, folder: int, loc: int) -> bool:
        return self.folders_of((folder,))[folder] == loc

    # -- listings -----------------------------------------------------------------------------

    def listing(self, folder: int, complete: bool) -> _Listing:
        """The cached listing of ``folder``; with ``complete``, every part is loaded."""
        lst = self._listings.get(folder)
        if lst is None:
            lst = self._listings[folder] = _Listing(folder)
            if complete:
                self._load_all(lst)
            else:
                row = self.db.execute(
                    "SELECT doc, children FROM listings WHERE folder = ? ORDER BY doc DESC LIMIT 1",
                    (folder,),
                ).fetchone()
                if row is not None:
                    lst.parts.append(_Part(row[0], unpack_children(row[1])))
        elif complete and not lst.complete:
            self._load_all(lst)
        return lst

    def _load_all(self, lst: _Listing) -> None:
        loaded = {p.doc: p for p in lst.parts if p.doc is not None}
        fresh = [p for p in lst.parts if p.doc is None]
        parts = []
        for doc, blob in self.db.execute(
            "SELECT doc, children FROM listings WHERE folder = ? ORDER BY doc", (lst.folder,)
        ):
            parts.append(loaded.get(doc) or _Part(doc, unpack_children(blob)))
        lst.parts = parts + fresh
        lst.complete = True
        lst.where = None

    def _find(self, lst: _Listing, eid: int) -> tuple[_Part, int] | None:
        if lst.where is None:
            lst.where = {c[C_EID]: p for p in lst.parts for c in p.children}
        part = lst.where.get(eid)
        if part is None:
            return None
        for i, child in enumerate(part.children):
            if child[C_EID] == eid:
                return part, i
        return None

    def add_child(self, folder: int, child: list[Any]) -> None:
        self.add_children(folder, [child])

    def add_children(self, folder: int, children: list[list[Any]]) -> None:
        lst = self.listing(folder, complete=False)
        at = 0
        while at < len(children):
            part = lst.parts[-1] if lst.parts and len(lst.parts[-1].children) < PART_MAX else None
            if part is None:
                part = _Part(None, [], True)
                lst.parts.append(part)
            room = PART_MAX - len(part.children)
            taken = children[at : at + room]
            part.children.extend(taken)
            part.dirty = True
            if lst.where is not None:
                for child in taken:
                    lst.where[child[C_EID]] = part
            at += len(taken)

    def take_child(self, folder: int, eid: int) -> list[Any] | None:
        lst = self.listing(folder, complete=True)
        found = self._find(lst, eid)
        if found is None:
            return None
        part, i = found
        part.dirty = True
        if lst.where is not None:
            lst.where.pop(eid, None)
        return part.children.pop(i)

    def child(self, folder: int, eid: int) -> tuple[_Part, list[Any]] | None:
        lst = self.listing(folder, complete=True)
        found = self._find(lst, eid)
        if found is None:
            return None
        part, i = found
        return part, part.children[i]

    def flush(self) -> None:
        """Write the name pages (which gives new children their page), every changed listing
        part, then the counters.

        New parts get their ids here, from the highest in use, so all of a batch's new parts
        go in with one statement per table.
        """
        db = self.db
        self.pages.flush(C_PAGE)
        new_listings: list[tuple[int, int, int, bytes]] = []
        next_doc = None
        for lst in self._listings.values():
            for part in lst.parts:
                if not part.dirty:
                    continue
                part.dirty = False
                if not part.children:
                    if part.doc is not None:
                        db.execute("DELETE FROM listings WHERE doc = ?", (part.doc,))
                    continue
                blob = msgpack.packb(part.children, use_bin_type=True)
                if part.doc is None:
                    if next_doc is None:
                        next_doc = (
                            db.execute("SELECT max(doc) FROM listings").fetchone()[0] or 0
                        ) + 1
                    part.doc, next_doc = next_doc, next_doc + 1
                    new_listings.append((part.doc, lst.folder, len(part.children), blob))
                else:
                    db.execute(
                        "UPDATE listings SET n = ?, children = ? WHERE doc = ?",
                        (len(part.children), blob, part.doc),
                    )
            lst.parts = [p for p in lst.parts if p.children]
        if new_listings:
            db.executemany(
                "INSERT INTO listings (doc, folder, n, children) VALUES (?, ?, ?, ?)", new_listings
            )
        self._listings.clear()
        self._flush_counters()

    # -- contents and totals ----------------------------------------------------------------------

    def count(self, loc: int, child: Sequence[Any], sign: int) -> None:
        """Count an entry in (+1) or out (-1) of its content's instances and its totals."""
        cid = child[C_CID]
        if cid:
            key = (cid, child[C_SIZE], child[C_KIND])
            self._instances[key] = self._instances.get(key, 0) + sign
        key = (loc, total_key(child[C_FTYPE], child[C_KIND]))
        total = self._totals.get(key)
        if total is None:
            total = self._totals[key] = [0, 0]
        total[0] += sign
        if child[C_FTYPE] == FILE:
            total[1] += sign * child[C_SIZE]

    def _flush_contents(self) -> None:
        """Apply the batch's instance changes: one upsert for the whole batch, in key order
        (the B-tree then fills page after page instead of splitting pages at random)."""
        db = self.db
        rows = sorted(
            (content_key(cid), size, kind or "", delta)
            for (cid, size, kind), delta in self._instances.items()
            if delta
        )
        db.executemany(
            "INSERT INTO contents (id, size, kind, instances) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id, size, kind) DO UPDATE SET instances = instances + excluded.instances",
            rows,
        )
        gone = [row[:3] for row in rows if row[3] < 0]
        if gone:
            db.executemany(
                "DELETE FROM contents WHERE id = ? AND size = ? AND kind = ? AND instances <= 0",
                gone,
            )

    def _flush_totals(self) -> None:
        """Add the batch's changes to the totals in Python, where a sum cannot overflow: a
        few rows per location touched, read and written back."""
        db = self.db
        held: dict[tuple[int, str], tuple[int, int]] = {}
        for chunk in chunks(sorted({loc for loc, _ in self._totals})):
            marks = ",".join("?" * len(chunk))
            for loc, what, n, nbytes in db.execute(
                f"SELECT location, what, count, bytes FROM totals WHERE location IN ({marks})",
                chunk,
            ):
                held[(loc, what)] = (n, total_bytes(nbytes))
        rows, gone = [], []
        for key, (n, nbytes) in self._totals.items():
            had_n, had_bytes = held.get(key, (0, 0))
            n, nbytes = had_n + n, had_bytes + nbytes
            if n > 0:
                rows.append((*key, n, _stored_bytes(nbytes)))
            elif key in held:
                gone.append(key)
        db.executemany(
            "INSERT OR REPLACE INTO totals (location, what, count, bytes) VALUES (?, ?, ?, ?)",
            rows,
        )
        db.executemany("DELETE FROM totals WHERE location = ? AND what = ?", gone)

    def _flush_counters(self) -> None:
        db = self.db
        if self._instances:
            self._flush_contents()
        if self._totals:
            self._flush_totals()
        if self._max_eid:
            db.executemany(
                "UPDATE devs SET max_eid = max(max_eid, ?) WHERE idx = ?",
                [(eid, idx) for idx, eid in self._max_eid.items()],
            )
        self._instances.clear()
        self._totals.clear()
        self._max_eid.clear()

    # -- locations ------------------------------------------------------------------------------

    def location_added(self, ev: Event, typed: LocationAdded) -> None:
        self.db.execute(
            "INSERT INTO locations (location, device, path, name, rules, added) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device, location) DO NOTHING",
            (
                typed.location,
                ev.device,
                typed.path,
                typed.name,
                json.dumps(typed.rules, sort_keys=True),
                ev.hlc,
            ),
        )

    def rules_changed(self, ev: Event, typed: LocationRulesChanged) -> None:
        self.db.execute(
            "UPDATE locations SET rules = ? WHERE device = ? AND location = ?",
            (json.dumps(typed.rules, sort_keys=True), ev.device, typed.location),
        )

    def set_location(self, ev: Event, location: bytes, **columns: str | None) -> None:
        """Facts about a location as a whole (its volume, whether it is offline): the latest
        of its own device's events wins, as they arrive in that device's order."""
        assignments = ", ".join(f"{column} = ?" for column in columns)
        self.db.execute(
            f"UPDATE locations SET {assignments} WHERE device = ? AND location = ?",
            (*columns.values(), ev.device, location),
        )

    def location_removed(self, ev: Event, typed: LocationRemoved) -> None:
        loc = self.location(ev.device, typed.location)
        if loc is None:
            return
        folders = [
            f for (f,) in self.db.execute("SELECT id FROM folders WHERE location = ?", (loc,))
        ]
        self._drop_folders(loc, folders)
        self.flush()
        self.db.execute("DELETE FROM totals WHERE location = ?", (loc,))
        self.db.execute("DELETE FROM locations WHERE id = ?", (loc,))
        self._locations.pop((ev.device, typed.location), None)
        self._roots.pop(loc, None)

    # -- entries --------------------------------------------------------------------------------

    def indexed(self, ev: Event, typed: EntriesIndexed) -> None:
        """New entries. What a device's own events cannot mean is ignored, the same way on
        every device: a folder that already exists (a folder's parent must not change but by a
        move), an entry whose folder is not a folder of this location, a second root."""
        loc = self.location(ev.device, typed.location)
        if loc is None:
            return  # entries of a location removed earlier in the log (or not this device's)
        dev = self.dev(ev.device)
        base = dev << DEVICE_SHIFT
        entries = typed.entries
        # Which of the folders named (as parents, or as new folders) exist, and where.
        known = self.folders_of(
            [base | e[1] for e in entries if e[1]] + [base | e[0] for e in entries if e[3] == DIR]
        )
        folders = []
        top = 0
        # The hot loop of a first index: children grouped by folder, counted in bulk.
        by_parent: dict[int, list[list[Any]]] = {}
        instances = self._instances
        add_line = self.pages.add
        kinds: dict[str, list[int]] = {}
        for eid, parent, name, ftype, size, mtime, inode, kind, cid, target, st_dev in entries:
            if parent:
                if known.get(base | parent) != loc:
                    continue
            elif ftype != DIR or self._has_root(loc):
                continue
            if ftype == DIR:
                if known.get(base | eid) is not None:
                    continue
                known[base | eid] = loc
                folders.append(
                    (base | eid, loc, base | parent if parent else None, name, size, mtime, inode)
                )
            if eid > top:
                top = eid
            child = [eid, name, ftype, size, mtime, inode, kind, cid, target, st_dev, None]
            if parent:
                siblings = by_parent.get(parent)
                if siblings is None:
                    by_parent[parent] = [child]
                else:
                    siblings.append(child)
                add_line(base | eid, base | parent, name, child)
            if ftype == FILE:
                total = kinds.get(kind)
                if total is None:
                    kinds[kind] = [1, size]
                else:
                    total[0] += 1
                    total[1] += size
                if cid:
                    key = (cid, size, kind)
                    instances[key] = instances.get(key, 0) + 1
            else:
                self.count(loc, child, +1)
            if not parent:
                self._roots[loc] = base | eid
        for kind, (n, nbytes) in kinds.items():
            key = (loc, total_key(FILE, kind))
            total = self._totals.setdefault(key, [0, 0])
            total[0] += n
            total[1] += nbytes
        if folders:
            self._add_folders(loc, folders)
        for parent, children in by_parent.items():
            self.add_children(base | parent, children)
        if top > self._max_eid.get(dev, 0):
            self._max_eid[dev] = top

    def _has_root(self, loc: int) -> bool:
        root = self._roots.get(loc, -1)
        if root == -1:
            row = self.db.execute(
                "SELECT f.id FROM locations l JOIN folders f ON f.id = l.root WHERE l.id = ?",
                (loc,),
            ).fetchone()
            root = self._roots[loc] = row[0] if row else None
        return root is not None and self.folders_of((root,))[root] == loc

    def _add_folders(self, loc: int, folders: list[tuple[Any, ...]]) -> None:
        rows = []
        for folder, _loc, parent, name, *rest in folders:
            path, fpath = self.location_path(loc) if parent is None else self.folder_paths(parent)
            fname = ""  # a root's name is its location's path: searched as the path
            if parent is not None:
                fname = fold_name(name)
                path, fpath = path + b"/" + name, fpath + fname + "/"
            self._paths[folder] = (path, fpath)
            rows.append((folder, loc, parent, name, *rest, path, fpath, fname))
        self.db.executemany(
            "INSERT INTO folders (id, location, parent, name, size, mtime, inode, path, fpath, "
            "fname) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        for folder, *_ in folders:
            if folder not in self._listings:
                # A folder born in this batch has no listing to read back.
                fresh = self._listings[folder] = _Listing(folder)
                fresh.complete = True
        closure = []
        for folder, _loc, parent, *_ in folders:
            chain = (folder, *self.chain(parent)) if parent is not None else (folder,)
            self._chains[folder] = chain
            closure.extend((ancestor, folder, depth) for depth, ancestor in enumerate(chain))
            if parent is None:
                self.db.execute("UPDATE locations SET root = ? WHERE id = ?", (folder, loc))
        self.db.executemany(
            "INSERT OR IGNORE INTO closure (ancestor, descendant, depth) VALUES (?, ?, ?)",
            closure,
        )

    def modified(self, ev: Event, typed: EntriesModified) -> None:
        loc = self.location(ev.device, typed.location)
        if loc is None:
            return
        base = self.dev(ev.device) << DEVICE_SHIFT
        for eid, parent, size, mtime, inode, kind, cid, st_dev in typed.entries:
            folder_row = None
            if parent:
                if not self.in_location(base | parent, loc):
                    continue
                found = self.child(base | parent, eid)
                if found is not None:
                    part, child = found
                    self.count(loc, child, -1)
                    child[C_SIZE], child[C_MTIME], child[C_INODE] = size, mtime, inode
                    child[C_KIND], child[C_CID], child[C_DEV] = kind, cid, st_dev
                    self.count(loc, child, +1)
                    part.dirty = True
                    folder_row = child[C_FTYPE] == DIR
            else:
                folder_row = self.in_location(base | eid, loc)
            if folder_row:
                self.db.execute(
                    "UPDATE folders SET size = ?, mtime = ?, inode = ? WHERE id = ?",
                    (size, mtime, inode, base | eid),
                )

    def moved(self, ev: Event, typed: EntriesMoved) -> None:
        """Renames and moves, within one location; a move into a folder that is not a folder
        of the location, or of a folder into itself or its own subtree, is ignored."""
        loc = self.location(ev.device, typed.location)
        if loc is None:
            return
        base = self.dev(ev.device) << DEVICE_SHIFT
        for eid, old_parent, parent, name in typed.moves:
            if (
                not old_parent
                or not self.in_location(base | old_parent, loc)
                or not self.in_location(base | parent, loc)
                or self._within(base | parent, base | eid)
            ):
                continue
            child = self.take_child(base | old_parent, eid)
            if child is None:
                continue
            if name != child[C_NAME]:
                self.pages.remove(base | eid, child[C_PAGE])
                child[C_PAGE] = None
                self.pages.add(base | eid, base | parent, name, child)
            elif parent != old_parent:
                self.pages.move(base | eid, child[C_PAGE], base | parent)
            child[C_NAME] = name
            self.add_child(base | parent, child)
            if child[C_FTYPE] == DIR:
                # The closure first: it finds the old ancestors through the old parent.
                if parent != old_parent:
                    self._move_folder(base | eid, base | parent)
                self.db.execute(
                    "UPDATE folders SET parent = ?, name = ? WHERE id = ?",
                    (base | parent, name, base | eid),
                )
                self._repath(base | eid, base | parent, name)

    def _repath(self, folder: int, parent: int, name: bytes) -> None:
        """A folder moved or renamed: the paths of its whole subtree change, and so do the
        folders' paths the name pages keep for the lines in it."""
        old_path, old_fpath = self.folder_paths(folder)
        path, fpath = self.folder_paths(parent)
        path, fpath = path + b"/" + name, fpath + fold_name(name) + "/"
        subtree = [
            d
            for (d,) in self.db.execute(
                "SELECT descendant FROM closure WHERE ancestor = ?", (folder,)
            )
        ]
        updates = []
        for chunk in chunks(subtree):
            marks = ",".join("?" * len(chunk))
            for below, below_path, below_fpath in self.db.execute(
                f"SELECT id, path, fpath FROM folders WHERE id IN ({marks})", chunk
            ):
                updates.append(
                    (
                        path + below_path[len(old_path) :],
                        fpath + below_fpath[len(old_fpath) :],
                        below,
                    )
                )
        # Joined in Python: SQLite's || makes text of two blobs, and paths are bytes.
        self.db.executemany("UPDATE folders SET path = ?, fpath = ? WHERE id = ?", updates)
        self.db.execute("UPDATE folders SET fname = ? WHERE id = ?", (fold_name(name), folder))
        self._paths.clear()
        for below in subtree:
            lst = self.listing(below, complete=True)
            self.pages.repath(c[C_PAGE] for part in lst.parts for c in part.children)

    def _within(self, folder: int, subtree: int) -> bool:
        """Whether ``folder`` is ``subtree`` or lies below it."""
        return folder == subtree or (
            self.db.execute(
                "SELECT 1 FROM closure WHERE ancestor = ? AND descendant = ?", (subtree, folder)
            ).fetchone()
            is not None
        )

    def _move_folder(self, folder: int, new_parent: int) -> None:
        old_above = self.chain(folder)[1:]
        self._chains.clear()
        subtree = self.db.execute(
            "SELECT descendant, depth FROM closure WHERE ancestor = ?", (folder,)
        ).fetchall()
        descendants = [d for d, _ in subtree]
        for chunk in chunks(descendants):
            for above in chunks(list(old_above)):
                self.db.execute(
                    f"DELETE FROM closure WHERE descendant IN ({','.join('?' * len(chunk))}) "
                    f"AND ancestor IN ({','.join('?' * len(above))})",
                    [*chunk, *above],
                )
        new_above = self.chain(new_parent)
        self.db.executemany(
            "INSERT OR IGNORE INTO closure (ancestor, descendant, depth) VALUES (?, ?, ?)",
            [
                (ancestor, descendant, up + 1 + depth)
                for up, ancestor in enumerate(new_above)
                for descendant, depth in subtree
            ],
        )
        self._chains.clear()

    def deleted(self, ev: Event, typed: EntriesDeleted) -> None:
        loc = self.location(ev.device, typed.location)
        if loc is None:
            return
        base = self.dev(ev.device) << DEVICE_SHIFT
        gone_folders = []
        for eid, parent in typed.entries:
            if parent and not self.in_location(base | parent, loc):
                continue
            child = self.take_child(base | parent, eid) if parent else None
            if child is not None:
                self.count(loc, child, -1)
                self.pages.remove(base | eid, child[C_PAGE])
            if (child is None or child[C_FTYPE] == DIR) and self.in_location(base | eid, loc):
                gone_folders.append(base | eid)
        if gone_folders:
            subtree: list[int] = []
            for folder in gone_folders:
                subtree.extend(
                    d
                    for (d,) in self.db.execute(
                        "SELECT descendant FROM closure WHERE ancestor = ?", (folder,)
                    )
                )
            self._drop_folders(loc, subtree)

    def _drop_folders(self, loc: int, folders: list[int]) -> None:
        """Remove folders (every folder of a subtree must be listed) and all they hold.

        Each child record is counted out of the totals as its folder's listing is cleared;
        a dropped folder's own record sits in its parent's listing, which is either dropped
        here too or had the record taken out (and counted) by the caller.
        """
        remove_line = self.pages.remove
        for folder in folders:
            lst = self.listing(folder, complete=True)
            base = folder & ~EID_MASK
            for part in lst.parts:
                for child in part.children:
                    self.count(loc, child, -1)
                    remove_line(base | child[C_EID], child[C_PAGE])
                part.children = []
                part.dirty = True
            lst.where = None
        for chunk in chunks(sorted(set(folders))):
            marks = ",".join("?" * len(chunk))
            self.db.execute(f"DELETE FROM folders WHERE id IN ({marks})", chunk)
            self.db.execute(f"DELETE FROM closure WHERE descendant IN ({marks})", chunk)
        for folder in folders:
            self._folder_loc[folder] = None
            self._paths.pop(folder, None)
        self._chains.clear()
