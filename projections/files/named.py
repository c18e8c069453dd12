"""Every entry by name and place, in one pass over the listings: what the vectors of meaning
are computed from (``sdactors/semantic/vectors.py``), and what they are checked against."""

from __future__ import annotations

import os
import sqlite3
from typing import Iterator, NamedTuple

from projections.files.listings import C_EID, C_KIND, C_MTIME, C_NAME, records
from projections.files.schema import EID_MASK


class Named(NamedTuple):
    entry: int  # its local id
    name: bytes
    # The folders it is in below its location's root, outermost first (the root's own name
    # first: a location's name says what it holds).
    folders: tuple[bytes, ...]
    kind: str | None
    mtime_ns: int


def every_entry(db: sqlite3.Connection) -> Iterator[Named]:
    """Each entry of the index (every device's), its name and the folders it is in."""
    roots: dict[int, bytes] = {}
    for location, path in db.execute("SELECT location, path FROM folders WHERE parent IS NULL"):
        roots[location] = os.path.dirname(path)
    for folder, location, path, blob in db.execute(
        "SELECT f.id, f.location, f.path, l.children FROM folders f "
        "JOIN listings l ON l.folder = f.id"
    ):
        root = roots.get(location)
        below = path[len(root) :] if root is not None and path.startswith(root) else path
        folders = tuple(p for p in below.split(b"/") if p)
        base = folder & ~EID_MASK
        for child in records(blob):
            yield Named(base | child[C_EID], child[C_NAME], folders, child[C_KIND], child[C_MTIME])
