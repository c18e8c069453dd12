"""What the index counts: instances per content (and, of watched contents, which entries they
are: ``holders``), files and bytes per location and kind, and the highest eid each device has
used. A batch adds up its changes in memory and writes each counter once, at
:meth:`Counters.flush`."""

from __future__ import annotations

import sqlite3
from typing import Any, Sequence

from events.domain.entries import DIR, FILE
from events.shapes import INT64_MAX
from projections.files.holders import Holders
from projections.files.listings import C_CID, C_EID, C_FTYPE, C_KIND, C_SIZE
from projections.files.schema import chunks, marks


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


class Counters:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        # Change in instances per (content id, size, kind). A content id fixes its size, but
        # a device may claim otherwise: each claim is counted on its own, whatever the order.
        # The fold's hot loop adds to it directly.
        self.instances: dict[tuple[bytes, int, str | None], int] = {}
        # The entries holding watched contents, counted in and out with the instances.
        self.holders = Holders(db)
        # Change in (count, bytes) per (location, total_key).
        self._totals: dict[tuple[int, str], list[int]] = {}
        # Device (local number) -> the highest eid the batch saw it use.
        self._max_eid: dict[int, int] = {}

    def count(self, loc: int, child: Sequence[Any], sign: int, base: int) -> None:
        """Count an entry (of the device whose local ids start at ``base``) in (+1) or out
        (-1) of its content's instances and its totals."""
        cid = child[C_CID]
        if cid:
            key = (cid, child[C_SIZE], child[C_KIND])
            self.instances[key] = self.instances.get(key, 0) + sign
            if self.holders.watching:
                self.holders.count(cid, base | child[C_EID], sign)
        key = (loc, total_key(child[C_FTYPE], child[C_KIND]))
        total = self._totals.get(key)
        if total is None:
            total = self._totals[key] = [0, 0]
        total[0] += sign
        if child[C_FTYPE] == FILE:
            total[1] += sign * child[C_SIZE]

    def add_files(self, loc: int, kinds: dict[str | None, list[int]]) -> None:
        """Count in ``[files, bytes]`` per kind (their instances are the caller's)."""
        for kind, (n, nbytes) in kinds.items():
            key = (loc, total_key(FILE, kind))
            total = self._totals.setdefault(key, [0, 0])
            total[0] += n
            total[1] += nbytes

    def saw_eid(self, dev: int, eid: int) -> None:
        if eid > self._max_eid.get(dev, 0):
            self._max_eid[dev] = eid

    def location_removed(self, loc: int) -> None:
        """Forget a location's totals (after :meth:`flush`: nothing of it is pending)."""
        self.db.execute("DELETE FROM totals WHERE location = ?", (loc,))

    def flush(self) -> None:
        if self.instances:
            self._flush_contents()
        if self._totals:
            self._flush_totals()
        self.holders.flush()
        if self._max_eid:
            self.db.executemany(
                "UPDATE devs SET max_eid = max(max_eid, ?) WHERE idx = ?",
                [(eid, idx) for idx, eid in self._max_eid.items()],
            )
        self.instances.clear()
        self._totals.clear()
        self._max_eid.clear()

    def _flush_contents(self) -> None:
        """Apply the batch's instance changes: one upsert for the whole batch, in key order
        (the B-tree then fills page after page instead of splitting pages at random)."""
        db = self.db
        rows = sorted(
            (content_key(cid), size, kind or "", delta)
            for (cid, size, kind), delta in self.instances.items()
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
            for loc, what, n, nbytes in db.execute(
                "SELECT location, what, count, bytes FROM totals "
                f"WHERE location IN ({marks(chunk)})",
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
