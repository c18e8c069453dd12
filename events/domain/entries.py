"""Entries: what the indexer saw on disk. Device-owned, in batches of up to ~1,000.

An entry is named by ``eid``, a number its device assigns once and never reuses; ``parent``
is the eid of the folder holding it (0 for a location's root). Names are raw bytes. Every
item says which folder it is in: read models keep entries grouped by folder, and the
indexer, which compares folder by folder, always knows.

A batch item is a tuple rather than a map: a thousand repeated key names would double the
size of every batch. The field order is part of the event's version.

Content identity (the Spacedrive-compatible blake3, see ``sdactors/indexer/content.py``) and
kind are carried with the entry: the indexer reads the file once, for both, while it walks.
"""

from dataclasses import dataclass

from events.domain.catalog import CATALOG

# Entry types, as stat's file-type bits say.
FILE, DIR, SYMLINK, FIFO, SOCKET, CHAR_DEVICE, BLOCK_DEVICE = "f", "d", "l", "p", "s", "c", "b"

# Fields of an item of EntriesIndexed.entries.
INDEXED_FIELDS = (
    "eid",
    "parent",
    "name",
    "ftype",
    "size",
    "mtime_ns",
    "inode",
    "kind",
    "cid",
    "target",
)
# Fields of an item of EntriesModified.entries.
MODIFIED_FIELDS = ("eid", "parent", "size", "mtime_ns", "inode", "kind", "cid")
# Fields of an item of EntriesMoved.moves: from one folder to another (or the same), renamed.
MOVED_FIELDS = ("eid", "old_parent", "parent", "name")
# Fields of an item of EntriesDeleted.entries.
DELETED_FIELDS = ("eid", "parent")


@CATALOG.event("entries.indexed")
@dataclass(frozen=True, slots=True)
class EntriesIndexed:
    """New entries. A folder comes before (or in the same batch as) its children."""

    location: bytes
    entries: tuple


@CATALOG.event("entries.modified")
@dataclass(frozen=True, slots=True)
class EntriesModified:
    """Entries whose content or metadata changed in place (same path)."""

    location: bytes
    entries: tuple


@CATALOG.event("entries.moved")
@dataclass(frozen=True, slots=True)
class EntriesMoved:
    """Entries found at a new path (same inode): renamed or moved, with their subtrees."""

    location: bytes
    moves: tuple


@CATALOG.event("entries.deleted")
@dataclass(frozen=True, slots=True)
class EntriesDeleted:
    """Entries gone from disk; a folder's whole subtree goes with it."""

    location: bytes
    entries: tuple
