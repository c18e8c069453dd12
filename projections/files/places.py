"""Where each entry is: the folder whose listing holds it, found from the entry alone.

Listings are read by folder; an entry named without its folder (a file tagged by path, a
content's holders, media data keyed by entry) is found here. Each device numbers its eids
from 1 and never reuses one, so the map is an array: blocks of ``BLOCK`` eids, a row each,
holding the eid of each one's folder (0: no such entry, or a location's root, which no
listing holds). A first index fills its blocks in eid order, one or two rows per batch.

Kept up to date by :class:`~projections.files.listings.Listings`, the one place that adds
children to folders and takes them out. What it holds is local (local ids), derived from the
listings: no part of the digest.
"""

from __future__ import annotations

import sqlite3
import sys
from array import array
from typing import Iterable

from projections.files.schema import EID_MASK, chunks, marks

BLOCK_BITS = 10
BLOCK = 1 << BLOCK_BITS
_SLOT = BLOCK - 1
_EMPTY = bytes(8 * BLOCK)

SCHEMA = ("CREATE TABLE places (block INTEGER PRIMARY KEY, folders BLOB NOT NULL)",)


def _slots(blob: bytes) -> array:
    """A block's slots, stored little-endian whatever this machine's order."""
    slots = array("q", blob)
    if sys.byteorder != "little":
        slots.byteswap()
    return slots


def _blob(slots: array) -> bytes:
    if sys.byteorder == "little":
        return slots.tobytes()
    swapped = array("q", slots)
    swapped.byteswap()
    return swapped.tobytes()


class Places:
    """The blocks one fold batch changes, loaded when first touched, written at :meth:`flush`."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._blocks: dict[int, array] = {}

    def _block(self, block: int) -> array:
        slots = self._blocks.get(block)
        if slots is None:
            row = self.db.execute("SELECT folders FROM places WHERE block = ?", (block,)).fetchone()
            slots = self._blocks[block] = _slots(row[0] if row is not None else _EMPTY)
        return slots

    def put(self, entries: Iterable[int], folder: int) -> None:
        """``entries`` (local ids) are now children of ``folder`` (a local id; 0: of none)."""
        eid = folder & EID_MASK
        blocks = self._blocks
        for entry in entries:
            slots = blocks.get(entry >> BLOCK_BITS)
            if slots is None:
                slots = self._block(entry >> BLOCK_BITS)
            slots[entry & _SLOT] = eid

    def flush(self) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO places (block, folders) VALUES (?, ?)",
            [(block, _blob(slots)) for block, slots in sorted(self._blocks.items())],
        )
        self._blocks.clear()


def folders_of(db: sqlite3.Connection, entries: Iterable[int]) -> dict[int, int]:
    """The folder (local id) of each of ``entries`` (local ids) that a listing holds."""
    wanted: dict[int, list[int]] = {}
    for entry in entries:
        wanted.setdefault(entry >> BLOCK_BITS, []).append(entry)
    found: dict[int, int] = {}
    for chunk in chunks(sorted(wanted)):
        for block, blob in db.execute(
            f"SELECT block, folders FROM places WHERE block IN ({marks(chunk)})", chunk
        ):
            slots = _slots(blob)
            for entry in wanted[block]:
                eid = slots[entry & _SLOT]
                if eid:
                    found[entry] = (entry & ~EID_MASK) | eid
    return found
