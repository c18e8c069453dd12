"""Entries: what the indexer saw on disk. Device-owned, in batches of up to ~1,000.

An entry is named by ``eid``, a number its device assigns once and never reuses; ``parent``
is the eid of the folder holding it (0 for a location's root). Names are raw bytes, each one
path component. Every item says which folder it is in: read models keep entries grouped by
folder, and the indexer, which compares folder by folder, always knows.

A batch item is a tuple rather than a map: a thousand repeated key names would double the
size of every batch. The field order is part of the event's version.

Content identity (the Spacedrive-compatible blake3, see ``sdactors/indexer/content.py``) and
kind are carried with the entry: the indexer reads the file once, for both, while it walks.

Version 2 of ``entries.indexed`` and ``entries.modified`` adds ``dev``, the volume the entry
is on (``st_dev``), last in each item: with the inode, it tells one file seen through several
paths (hard links, bind mounts) from copies. A version 1 item is read with ``dev`` 0, which
its device's next rescan corrects.
"""

from dataclasses import dataclass
from typing import Annotated

from events.domain.catalog import CATALOG
from events.shapes import INT64_MAX, Bytes, Id, Int, ListOf, Maybe, Name, OneOf, Record, Text

# Entry types, as stat's file-type bits say.
FILE, DIR, SYMLINK, FIFO, SOCKET, CHAR_DEVICE, BLOCK_DEVICE = "f", "d", "l", "p", "s", "c", "b"
FTYPES = (FILE, DIR, SYMLINK, FIFO, SOCKET, CHAR_DEVICE, BLOCK_DEVICE)

# eids are numbered per device from 1; read models keep a device's number in the bits above.
EID_BITS = 40
EID_MAX = (1 << EID_BITS) - 1
# Items in one batch event (the indexer writes up to 1,000).
BATCH_MAX = 10_000

EID = Int(1, EID_MAX)
PARENT = Int(0, EID_MAX)  # 0: the entry is the location's root
SIZE = Int(0, INT64_MAX)
MTIME = Int()
# Inode numbers are unsigned 64-bit on disk; SQLite holds signed 64-bit: the indexer keeps
# the low 63 bits (two files whose numbers differ only in the top bit are rare enough).
INODE_MASK = INT64_MAX
INODE = Int(0, INODE_MASK)
# st_dev, kept to 63 bits like the inode; 0: not known (an item of version 1).
DEV = Int(0, INODE_MASK)
KIND = Maybe(Text(1, 32, pattern=r"[a-z][a-z0-9_-]*"))
CID = Maybe(Id(32))

# Fields of an item of EntriesIndexed.entries.
INDEXED = Record(
    (
        ("eid", EID),
        ("parent", PARENT),
        ("name", Name()),
        ("ftype", OneOf(FTYPES)),
        ("size", SIZE),
        ("mtime_ns", MTIME),
        ("inode", INODE),
        ("kind", KIND),
        ("cid", CID),
        # A symlink's target as the link holds it (any bytes but NUL).
        ("target", Maybe(Bytes(min=0, max=4096))),
        ("dev", DEV),
    )
)
# Fields of an item of EntriesModified.entries.
MODIFIED = Record(
    (
        ("eid", EID),
        ("parent", PARENT),
        ("size", SIZE),
        ("mtime_ns", MTIME),
        ("inode", INODE),
        ("kind", KIND),
        ("cid", CID),
        ("dev", DEV),
    )
)
# Fields of an item of EntriesMoved.moves: from one folder to another (or the same), renamed.
MOVED = Record((("eid", EID), ("old_parent", PARENT), ("parent", PARENT), ("name", Name())))
# Fields of an item of EntriesDeleted.entries.
DELETED = Record((("eid", EID), ("parent", PARENT)))


@CATALOG.event("entries.indexed", version=2)
@dataclass(frozen=True, slots=True)
class EntriesIndexed:
    """New entries. A folder comes before (or in the same batch as) its children."""

    location: Annotated[bytes, Id()]
    entries: Annotated[tuple, ListOf(INDEXED, 1, BATCH_MAX)]


@CATALOG.event("entries.modified", version=2)
@dataclass(frozen=True, slots=True)
class EntriesModified:
    """Entries whose content or metadata changed in place (same path)."""

    location: Annotated[bytes, Id()]
    entries: Annotated[tuple, ListOf(MODIFIED, 1, BATCH_MAX)]


def _dev_unknown(body: dict) -> dict:
    """Version 1 items had no ``dev``: 0, not known, until the next rescan says."""
    body["entries"] = tuple((*item, 0) for item in body["entries"])
    return body


CATALOG.upcaster("entries.indexed", 1)(_dev_unknown)
CATALOG.upcaster("entries.modified", 1)(_dev_unknown)


@CATALOG.event("entries.moved")
@dataclass(frozen=True, slots=True)
class EntriesMoved:
    """Entries found at a new path (same inode): renamed or moved, with their subtrees."""

    location: Annotated[bytes, Id()]
    moves: Annotated[tuple, ListOf(MOVED, 1, BATCH_MAX)]


@CATALOG.event("entries.deleted")
@dataclass(frozen=True, slots=True)
class EntriesDeleted:
    """Entries gone from disk; a folder's whole subtree goes with it."""

    location: Annotated[bytes, Id()]
    entries: Annotated[tuple, ListOf(DELETED, 1, BATCH_MAX)]
