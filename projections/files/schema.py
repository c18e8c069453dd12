"""The file index's tables, and the local ids they are keyed by.

Tables:

- ``devs``: local numbering of devices, and the highest eid each has used.
- ``locations``: one row per live location, with the volume it was last seen on (and that
  volume's mount point then), and why it is offline (NULL while it is online).
- ``folders``: one row per folder: where it is, its name, its own metadata, its absolute
  ``path`` and that path folded for search (``fpath``, with a trailing ``/``), and its own
  name folded (``fname``, indexed: search finds folders by name there). ``id`` is a local
  id: ``(devs.idx << DEVICE_SHIFT) | eid``.
- ``listings``: the children of a folder, in parts (``projections/files/listings.py``).
- ``closure``: ancestor/descendant pairs over folders, for subtree queries.
- ``contents``: one row per distinct content, keyed by the first 63 bits of its content id,
  with its size, kind and how many entries have it. The whole id stays with each entry in
  its listing: rows this small keep a million-content table cheap to update, and whoever
  needs exact groups (``sd duplicates``) checks the whole ids, so two contents sharing 63
  bits (about one chance in 10^7 among a million contents) are never shown as one.
- ``totals``: files and bytes per location and kind, folders and other entries per
  location, so ``sd stats`` reads a handful of rows. A location's files may total more
  bytes than SQLite's 64-bit integers hold (a file alone may have 2**63 - 1): ``bytes`` is
  an integer while it fits one and its decimal text past that
  (:func:`projections.files.counters.total_bytes` reads either), added up in Python, never
  by SQL.
- ``pages`` and its two FTS5 indexes: ``projections/files/names.py`` (its own tables).
- ``places``: the folder of each entry, by its local id: ``projections/files/places.py``.
- ``watched`` and ``holders``: the entries holding each content that annotations are on:
  ``projections/files/holders.py``.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable, Iterator, Sequence

# A local id: the device's local number above these bits, its eid below.
DEVICE_SHIFT = 40
EID_MASK = (1 << DEVICE_SHIFT) - 1
_CHUNK = 500  # SQLite host parameters per IN (...) list, well under its limit


def chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """``items`` in runs short enough for one ``IN (...)`` list each."""
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def marks(chunk: Sequence[Any]) -> str:
    """The ``?, ?, ...`` of an ``IN (...)`` list for ``chunk``."""
    return ",".join("?" * len(chunk))


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
)


def paths_of(
    db: sqlite3.Connection, folders: Iterable[int], folded: bool = False
) -> dict[int, Any]:
    """The absolute path of each of ``folders`` (local ids) the index holds; with ``folded``,
    that path as search compares it (text, with a trailing "/")."""
    column = "fpath" if folded else "path"
    found: dict[int, Any] = {}
    for chunk in chunks(sorted(set(folders))):
        found.update(
            db.execute(f"SELECT id, {column} FROM folders WHERE id IN ({marks(chunk)})", chunk)
        )
    return found
