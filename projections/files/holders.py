"""Which entries hold each content that annotations are on: the files a tag on a content is on.

The index keeps no map from every content to its entries: a row per file costs a first index
(measured: a column of holders on every content made the files fold take a fifth more CPU).
Only the contents some annotation names are *watched* (``watched``), and for those the
entries holding them are kept (``holders``, with how many times each listing holds it, as
``contents`` counts instances). The annotations fold (``projections/annotations.py``) asks for
a content to be watched when an event names it (:func:`watch`): its holders are then found
in the listings once, and the files fold keeps them from then on (:class:`Holders`), the way
it counts instances. The annotations fold runs after the files fold in each batch, so what
the listings hold then is the batch's end, and any order of the events gives the same rows.

What ``holders`` holds is local (local ids): no part of the digest. ``watched`` is every
content any annotation ever named, a function of the log.
"""

from __future__ import annotations

import sqlite3
from typing import Iterable

from projections.files.listings import C_CID, C_EID, records
from projections.files.schema import EID_MASK, chunks, marks

SCHEMA = (
    "CREATE TABLE watched (cid BLOB PRIMARY KEY) WITHOUT ROWID",
    "CREATE TABLE holders (cid BLOB NOT NULL, entry INTEGER NOT NULL, n INTEGER NOT NULL, "
    "PRIMARY KEY (cid, entry)) WITHOUT ROWID",
)
# Contents to watch at once up to which each is looked for by SQLite in the listings' bytes
# (``instr``: no listing decoded); more, and every listing is decoded once for them all.
# Measured at 100k entries: 18 ms a content by ``instr``, 35-67 ms to decode them all.
FEW = 2


class Holders:
    """One fold batch's changes to the holders of watched contents; nothing is tracked while
    no content is watched (a first index, a library nobody annotated)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.watching = db.execute("SELECT EXISTS (SELECT 1 FROM watched)").fetchone()[0] == 1
        # (content id, entry) -> instances gained (lost, when negative) over the batch.
        self.changes: dict[tuple[bytes, int], int] = {}

    def count(self, cid: bytes, entry: int, sign: int) -> None:
        key = (cid, entry)
        self.changes[key] = self.changes.get(key, 0) + sign

    def flush(self) -> None:
        if not self.changes:
            return
        db = self.db
        watched = _watched(db, sorted({cid for cid, _ in self.changes}))
        rows = sorted(
            (cid, entry, n) for (cid, entry), n in self.changes.items() if n and cid in watched
        )
        self.changes.clear()
        _add(db, rows)


def _watched(db: sqlite3.Connection, cids: list[bytes]) -> set[bytes]:
    """Which of ``cids`` (sorted) have their holders kept."""
    found: set[bytes] = set()
    for chunk in chunks(cids):
        found.update(
            cid
            for (cid,) in db.execute(
                f"SELECT cid FROM watched WHERE cid IN ({marks(chunk)})", chunk
            )
        )
    return found


def _add(db: sqlite3.Connection, rows: list[tuple[bytes, int, int]]) -> None:
    db.executemany(
        "INSERT INTO holders (cid, entry, n) VALUES (?, ?, ?) "
        "ON CONFLICT (cid, entry) DO UPDATE SET n = n + excluded.n",
        rows,
    )
    db.executemany(
        "DELETE FROM holders WHERE cid = ? AND entry = ? AND n <= 0",
        [(cid, entry) for cid, entry, n in rows if n < 0],
    )


def watch(db: sqlite3.Connection, cids: Iterable[bytes]) -> None:
    """Keep the holders of these contents from now on; those not watched yet are found in
    the listings as they are now."""
    wanted = sorted(set(cids))
    known = _watched(db, wanted)
    new = [cid for cid in wanted if cid not in known]
    if not new:
        return
    db.executemany("INSERT INTO watched (cid) VALUES (?)", [(cid,) for cid in new])
    found: dict[tuple[bytes, int], int] = {}
    looking = set(new)
    rows: Iterable[tuple[int, bytes]]
    if len(new) <= FEW:
        rows = {
            doc: (folder, blob)
            for cid in new
            for doc, folder, blob in db.execute(
                "SELECT doc, folder, children FROM listings WHERE instr(children, ?) > 0", (cid,)
            )
        }.values()
    else:
        rows = db.execute("SELECT folder, children FROM listings")
    for folder, blob in rows:
        base = folder & ~EID_MASK
        for child in records(blob):
            cid = child[C_CID]
            if cid in looking:
                key = (cid, base | child[C_EID])
                found[key] = found.get(key, 0) + 1
    _add(db, sorted((cid, entry, n) for (cid, entry), n in found.items()))


def holders_of(db: sqlite3.Connection, cids: Iterable[bytes]) -> dict[bytes, list[int]]:
    """The entries (local ids) holding each of these contents (watched ones: the others
    have none here)."""
    out: dict[bytes, list[int]] = {}
    for chunk in chunks(sorted(set(cids))):
        for cid, entry in db.execute(
            f"SELECT cid, entry FROM holders WHERE cid IN ({marks(chunk)}) ORDER BY cid, entry",
            chunk,
        ):
            out.setdefault(cid, []).append(entry)
    return out
