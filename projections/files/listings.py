"""A folder's children, in listing parts: the one module that knows how a child is laid out.

A listing row holds up to ``PART_MAX`` children of one folder as a msgpack array; each child
is an array of the fields of :class:`Child`, in its order. ``dev`` is the volume the entry is
on (with the inode, what makes several paths one file); ``page`` is where its name is in the
name pages (local, so left out of the digest).

Code that reads the index gets each child as a :class:`Child` and reads its fields by name.
The fold edits children in place, by the positions ``C_*``: a list it may change costs
nothing more to load, where a named tuple would have to be rebuilt for every change.
"""

from __future__ import annotations

import sqlite3
from functools import partial
from typing import Any, Iterator, NamedTuple, Sequence

import blake3
import msgpack

from projections.files.places import Places
from projections.files.schema import DEVICE_SHIFT, EID_MASK

PART_MAX = 1000


class Child(NamedTuple):
    """One child of a folder, as its listing holds it."""

    eid: int
    name: bytes
    ftype: str
    size: int
    mtime_ns: int
    inode: int
    kind: str | None
    cid: bytes | None
    target: bytes | None
    dev: int
    page: int | None


# Positions in a child record, for the fold that edits them.
C_EID, C_NAME, C_FTYPE, C_SIZE, C_MTIME, C_INODE, C_KIND, C_CID, C_TARGET, C_DEV, C_PAGE = range(
    len(Child._fields)
)
# The fields of a child that are facts of the log (the digest's); the rest is local.
FACTS = C_PAGE

# A named tuple's own __new__ is a Python function: slow. This one is tuple's.
named_child = partial(tuple.__new__, Child)


def unpack_children(blob: bytes) -> list[list[Any]]:
    """A listing part's children as records the fold may edit."""
    return msgpack.unpackb(blob, use_list=True)


def records(blob: bytes) -> tuple[tuple[Any, ...], ...]:
    """A listing part's children as stored, their fields at the ``C_*`` positions: for the
    hot loops inside ``projections`` (a search reads every child of the folders it walks),
    where a named copy of each child costs more than reading it (measured: search p99 +13%
    at 100k files)."""
    return msgpack.unpackb(blob, use_list=False)


def read_children(blob: bytes) -> list[Child]:
    """A listing part's children, each read by name."""
    return list(map(named_child, records(blob)))


def listing_digests(db: sqlite3.Connection) -> Iterator[Sequence[Any]]:
    """One row per folder: a hash of its children's facts, whatever the parts' layout."""
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
    """A folder's children for the length of one batch."""

    __slots__ = ("folder", "parts", "complete", "where")

    def __init__(self, folder: int, complete: bool = False) -> None:
        self.folder = folder
        self.parts: list[_Part] = []
        self.complete = complete  # all parts loaded (needed to find or remove a child)
        self.where: dict[int, _Part] | None = None


class Listings:
    """The listings one fold batch changes: loaded when first touched (only the last part,
    to add children to; every part, to find one), written at :meth:`flush`. Where each child
    is goes into the places (``projections/files/places.py``) as it is added or taken out."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._listings: dict[int, _Listing] = {}
        self.places = Places(db)

    def born(self, folder: int) -> None:
        """``folder`` is new in this batch: it has no listing to read back."""
        if folder not in self._listings:
            self._listings[folder] = _Listing(folder, complete=True)

    def _listing(self, folder: int, complete: bool) -> _Listing:
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

    def _find(self, folder: int, eid: int) -> tuple[_Listing, _Part, int] | None:
        """Where a child is; None: no such child."""
        lst = self._listing(folder, complete=True)
        if lst.where is None:
            lst.where = {c[C_EID]: p for p in lst.parts for c in p.children}
        part = lst.where.get(eid)
        if part is None:
            return None
        for i, child in enumerate(part.children):
            if child[C_EID] == eid:
                return lst, part, i
        return None

    def _touch(self, folder: int, eid: int) -> tuple[_Listing, _Part, int] | None:
        """Where a child is, its part marked to be written; None: no such child."""
        found = self._find(folder, eid)
        if found is not None:
            found[1].dirty = True
        return found

    def get(self, folder: int, eid: int) -> Sequence[Any] | None:
        """A child, to read only: its part is not written again (None: no such child)."""
        found = self._find(folder, eid)
        return found[1].children[found[2]] if found is not None else None

    def add(self, folder: int, children: list[list[Any]]) -> None:
        """Append children to a folder's listing, filling its last part first."""
        base = folder & ~EID_MASK
        self.places.put([base | child[C_EID] for child in children], folder)
        lst = self._listing(folder, complete=False)
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

    def take(self, folder: int, eid: int) -> list[Any] | None:
        """Remove a child from its folder's listing and return it (None: no such child)."""
        found = self._touch(folder, eid)
        if found is None:
            return None
        lst, part, i = found
        if lst.where is not None:
            lst.where.pop(eid, None)
        self.places.put(((folder & ~EID_MASK) | eid,), 0)
        return part.children.pop(i)

    def edit(self, folder: int, eid: int) -> list[Any] | None:
        """A child, to be changed in place by the caller (None: no such child)."""
        found = self._touch(folder, eid)
        return found[1].children[found[2]] if found is not None else None

    def children(self, folder: int) -> Iterator[list[Any]]:
        """Every child of a folder, as the batch has it now."""
        for part in self._listing(folder, complete=True).parts:
            yield from part.children

    def clear(self, folder: int) -> list[list[Any]]:
        """Remove every child of a folder; return them."""
        lst = self._listing(folder, complete=True)
        gone = []
        for part in lst.parts:
            gone.extend(part.children)
            part.children = []
            part.dirty = True
        lst.where = None
        base = folder & ~EID_MASK
        self.places.put([base | child[C_EID] for child in gone], 0)
        return gone

    def flush(self) -> None:
        """Write every changed part. New parts get their ids here, from the highest in use,
        so all of a batch's new parts go in with one statement."""
        db = self.db
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
        self.places.flush()
