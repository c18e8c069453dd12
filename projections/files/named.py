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
    # Where it is: the path of its folder from its location's root (the root's own name
    # first: a location's name says what it holds), "/", its name.
    place: bytes
    kind: str | None
    mtime_ns: int


def every_entry(db: sqlite3.Connection) -> Iterator[Named]:
    """Each entry of the index (every device's), where it is, its kind and time."""
    roots: dict[int, bytes] = {}
    for location, path in db.execute("SELECT location, path FROM folders WHERE parent IS NULL"):
        roots[location] = os.path.dirname(path)
    for folder, location, path, blob in db.execute(
        "SELECT f.id, f.location, f.path, l.children FROM folders f "
        "JOIN listings l ON l.folder = f.id"
    ):
        root = roots.get(location)
        below = path[len(root) :] if root is not None and path.startswith(root) else path
        below = below.strip(b"/") + b"/"
        base = folder & ~EID_MASK
        for child in records(blob):
            place = below + child[C_NAME]
            yield Named(base | child[C_EID], place, child[C_KIND], child[C_MTIME])
