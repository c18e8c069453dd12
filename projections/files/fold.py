"""The files projection: how each ``location.*`` and ``entries.*`` event changes the index.

A batch's fold numbers devices and finds locations here, and applies each event through the
parts of the index it touches (``listings``, ``tree``, ``counters``, ``names``), which keep
what the batch changed in memory until :meth:`_Fold.flush` writes it.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Iterable, Sequence

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
from events.domain.media import MediaExtracted
from events.envelope import Event
from projections.base import Folded
from projections.files import holders, media, names, places
from projections.files.counters import Counters
from projections.files.listings import (
    C_CID,
    C_DEV,
    C_EID,
    C_FTYPE,
    C_INODE,
    C_KIND,
    C_MTIME,
    C_NAME,
    C_PAGE,
    C_SIZE,
    Listings,
    listing_digests,
)
from projections.files.names import PageBook
from projections.files.schema import DEVICE_SHIFT, EID_MASK, SCHEMA
from projections.files.tree import Tree


class FilesProjection:
    name = "files"
    version = 14
    types = ("location.", "entries.", "media.")

    def create(self, db: sqlite3.Connection) -> None:
        for statement in (*SCHEMA, *names.SCHEMA, *media.SCHEMA, *places.SCHEMA, *holders.SCHEMA):
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
            elif kind is MediaExtracted:
                fold.media_extracted(ev, typed)
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
        yield from listing_digests(db)
        yield from db.execute(
            "SELECT l.device, l.location, t.what, t.count, t.bytes FROM totals t "
            "JOIN locations l ON l.id = t.location ORDER BY l.device, l.location, t.what"
        )
        yield from db.execute(
            "SELECT id, size, kind, instances FROM contents ORDER BY id, size, kind"
        )
        yield from media.digest_rows(db)


class _Fold:
    """One batch's fold. What it caches lives only as long as the batch."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._devs: dict[bytes, int] = {}
        self._locations: dict[tuple[bytes, bytes], int] = {}
        self.tree = Tree(db)
        self.listings = Listings(db)
        self.counters = Counters(db)
        self.pages = PageBook(db)
        self.media = media.MediaRows(db)

    def flush(self) -> None:
        """Write the name pages (which gives new children their page), then every changed
        listing, then the counters and media rows."""
        self.pages.flush(C_PAGE)
        self.listings.flush()
        self.counters.flush()
        self.media.flush()

    # -- numbering ----------------------------------------------------------------------------

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

    # -- locations ----------------------------------------------------------------------------

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
        self._drop_folders(loc, self.tree.of_location(loc))
        self.flush()
        self.counters.location_removed(loc)
        self.media.location_removed(loc)
        self.db.execute("DELETE FROM locations WHERE id = ?", (loc,))
        self._locations.pop((ev.device, typed.location), None)
        self.tree.location_removed(loc)

    # -- entries ------------------------------------------------------------------------------

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
        tree = self.tree
        # Which of the folders named (as parents, or as new folders) exist, and where.
        known = tree.locations_of(
            [base | e[1] for e in entries if e[1]] + [base | e[0] for e in entries if e[3] == DIR]
        )
        folders = []
        top = 0
        # The hot loop of a first index: children grouped by folder, counted in bulk.
        by_parent: dict[int, list[list[Any]]] = {}
        instances = self.counters.instances
        count = self.counters.count
        # Contents someone annotated: their holders are kept (none while nothing is).
        held = self.counters.holders.count if self.counters.holders.watching else None
        add_line = self.pages.add
        kinds: dict[str | None, list[int]] = {}
        for eid, parent, name, ftype, size, mtime, inode, kind, cid, target, st_dev in entries:
            if parent:
                if known.get(base | parent) != loc:
                    continue
            elif ftype != DIR or tree.has_root(loc):
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
                    if held is not None:
                        held(cid, base | eid, +1)
            else:
                count(loc, child, +1, base)
            if not parent:
                tree.root_seen(loc, base | eid)
        self.counters.add_files(loc, kinds)
        if folders:
            tree.add(loc, folders)
            for folder, *_ in folders:
                self.listings.born(folder)
        for parent, children in by_parent.items():
            self.listings.add(base | parent, children)
        self.counters.saw_eid(dev, top)

    def modified(self, ev: Event, typed: EntriesModified) -> None:
        loc = self.location(ev.device, typed.location)
        if loc is None:
            return
        base = self.dev(ev.device) << DEVICE_SHIFT
        count = self.counters.count
        for eid, parent, size, mtime, inode, kind, cid, st_dev in typed.entries:
            folder_row = None
            if parent:
                if not self.tree.in_location(base | parent, loc):
                    continue
                child = self.listings.edit(base | parent, eid)
                if child is not None:
                    if child[C_CID] != cid:
                        self.media.drop(base | eid)
                    count(loc, child, -1, base)
                    child[C_SIZE], child[C_MTIME], child[C_INODE] = size, mtime, inode
                    child[C_KIND], child[C_CID], child[C_DEV] = kind, cid, st_dev
                    count(loc, child, +1, base)
                    folder_row = child[C_FTYPE] == DIR
            else:
                folder_row = self.tree.in_location(base | eid, loc)
            if folder_row:
                self.tree.set_metadata(base | eid, size, mtime, inode)

    def moved(self, ev: Event, typed: EntriesMoved) -> None:
        """Renames and moves, within one location; a move into a folder that is not a folder
        of the location, or of a folder into itself or its own subtree, is ignored."""
        loc = self.location(ev.device, typed.location)
        if loc is None:
            return
        base = self.dev(ev.device) << DEVICE_SHIFT
        tree = self.tree
        for eid, old_parent, parent, name in typed.moves:
            if (
                not old_parent
                or not tree.in_location(base | old_parent, loc)
                or not tree.in_location(base | parent, loc)
                or tree.within(base | parent, base | eid)
            ):
                continue
            child = self.listings.take(base | old_parent, eid)
            if child is None:
                continue
            if name != child[C_NAME]:
                self.pages.remove(base | eid, child[C_PAGE])
                child[C_PAGE] = None
                self.pages.add(base | eid, base | parent, name, child)
            elif parent != old_parent:
                self.pages.move(base | eid, child[C_PAGE], base | parent)
            child[C_NAME] = name
            self.listings.add(base | parent, [child])
            if child[C_FTYPE] == DIR:
                # The folders' paths the name pages keep for the lines below it change too.
                for below in tree.move(base | eid, base | old_parent, base | parent, name):
                    self.pages.repath(c[C_PAGE] for c in self.listings.children(below))

    def deleted(self, ev: Event, typed: EntriesDeleted) -> None:
        loc = self.location(ev.device, typed.location)
        if loc is None:
            return
        base = self.dev(ev.device) << DEVICE_SHIFT
        tree = self.tree
        gone_folders = []
        for eid, parent in typed.entries:
            if parent and not tree.in_location(base | parent, loc):
                continue
            child = self.listings.take(base | parent, eid) if parent else None
            if child is not None:
                self.media.drop(base | eid)
                self.counters.count(loc, child, -1, base)
                self.pages.remove(base | eid, child[C_PAGE])
            if (child is None or child[C_FTYPE] == DIR) and tree.in_location(base | eid, loc):
                gone_folders.append(base | eid)
        if gone_folders:
            subtree: list[int] = []
            for folder in gone_folders:
                subtree.extend(tree.subtree(folder))
            self._drop_folders(loc, subtree)

    def media_extracted(self, ev: Event, typed: MediaExtracted) -> None:
        loc = self.location(ev.device, typed.location)
        if loc is None:
            return
        base = self.dev(ev.device) << DEVICE_SHIFT
        media.extracted(self.media, loc, base, typed.items, self.listings.get, C_CID, C_FTYPE)

    def _drop_folders(self, loc: int, folders: list[int]) -> None:
        """Remove folders (every folder of a subtree must be listed) and all they hold.

        Each child record is counted out of the totals as its folder's listing is cleared;
        a dropped folder's own record sits in its parent's listing, which is either dropped
        here too or had the record taken out (and counted) by the caller.
        """
        remove_line = self.pages.remove
        count = self.counters.count
        for folder in folders:
            base = folder & ~EID_MASK
            for child in self.listings.clear(folder):
                self.media.drop(base | child[C_EID])
                count(loc, child, -1, base)
                remove_line(base | child[C_EID], child[C_PAGE])
        self.tree.drop(folders)
