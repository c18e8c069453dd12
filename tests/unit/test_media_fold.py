"""Media data in the index: kept only while its entry holds the content it was read from,
gone with the entry, and never about another device's entries."""

from __future__ import annotations

import os
from typing import Any

from events.clock import HybridClock
from events.domain import CATALOG
from events.domain.entries import (
    DIR,
    FILE,
    EntriesDeleted,
    EntriesIndexed,
    EntriesModified,
    EntriesMoved,
)
from events.domain.locations import LocationAdded, LocationRemoved
from events.domain.media import MediaExtracted
from events.keys import DeviceKey
from events.writer import LogWriter
from projections.files.media import described, media_of
from projections.files.schema import DEVICE_SHIFT
from tests.cli.test_properties import fold
from tests.helpers_log import LIBRARY_KEY
from tests.unit.test_convergence import RULES

LOC = b"\x01" * 16
CID_A, CID_B = os.urandom(32), os.urandom(32)


def _indexed(items: list[tuple[int, int, bytes, str, bytes | None]]) -> Any:
    return CATALOG.body(
        EntriesIndexed(
            LOC,
            tuple(
                (eid, parent, name, ftype, 10, 0, eid, "image", cid, None, 1)
                for eid, parent, name, ftype, cid in items
            ),
        )
    )


def _media(eid: int, parent: int, cid: bytes, width: int = 4000, error: str | None = None) -> Any:
    item = (eid, parent, cid, error, width, 3000, 6, "2024-07-01T10:00:00", "Canon", "R5")
    item += (None, None, None, None, None, None, None, b"\x01" * 8)
    return CATALOG.body(MediaExtracted(LOC, (item,)))


def _base() -> list[Any]:
    return [
        CATALOG.body(LocationAdded(LOC, b"/pics", "pics", RULES)),
        _indexed([(1, 0, b"pics", DIR, None), (2, 1, b"a.jpg", FILE, CID_A)]),
        _indexed([(3, 1, b"sub", DIR, None), (4, 3, b"b.jpg", FILE, CID_B)]),
    ]


def _state(drafts: list[Any], key: DeviceKey | None = None) -> dict[int, bytes]:
    writer = LogWriter(key or DeviceKey.generate(), HybridClock(), LIBRARY_KEY)
    runner = fold(writer.build(drafts))
    try:
        loc = runner.db.execute("SELECT id FROM locations").fetchone()[0]
        return described(runner.db, loc)
    finally:
        runner.close()


def test_an_item_is_kept_while_its_entry_holds_that_content() -> None:
    base = _base()
    assert _state([*base, _media(2, 1, CID_A), _media(4, 3, CID_B)]) == {
        2: CID_A,
        4: CID_B,
    }
    # Read from content the entry no longer holds, or an entry that is not there: ignored.
    assert _state([*base, _media(2, 1, CID_B), _media(9, 1, CID_A), _media(2, 3, CID_A)]) == {}
    # A folder is not described.
    assert _state([*base, _media(3, 1, CID_A)]) == {}


def test_a_row_goes_with_its_entry_or_its_content_and_survives_a_move() -> None:
    base = [*_base(), _media(2, 1, CID_A), _media(4, 3, CID_B)]
    changed = CATALOG.body(EntriesModified(LOC, ((2, 1, 11, 5, 2, "image", CID_B, 1),)))
    assert _state([*base, changed]) == {4: CID_B}
    same = CATALOG.body(EntriesModified(LOC, ((2, 1, 11, 5, 2, "image", CID_A, 1),)))
    assert _state([*base, same]) == {2: CID_A, 4: CID_B}
    assert _state([*base, CATALOG.body(EntriesDeleted(LOC, ((2, 1),)))]) == {4: CID_B}
    # The folder holding b.jpg goes: so does its row.
    assert _state([*base, CATALOG.body(EntriesDeleted(LOC, ((3, 1),)))]) == {2: CID_A}
    moved = CATALOG.body(EntriesMoved(LOC, ((2, 1, 3, b"renamed.jpg"),)))
    assert _state([*base, moved]) == {2: CID_A, 4: CID_B}


def test_a_location_removed_takes_its_media_and_the_row_is_readable() -> None:
    key = DeviceKey.generate()
    writer = LogWriter(key, HybridClock(), LIBRARY_KEY)
    runner = fold(writer.build([*_base(), _media(2, 1, CID_A, width=6000)]))
    try:
        dev = runner.db.execute("SELECT idx FROM devs WHERE device = ?", (key.public,)).fetchone()
        row = media_of(runner.db, (dev[0] << DEVICE_SHIFT) | 2)
        assert row is not None
        assert (row["width"], row["taken"], row["make"], row["phash"]) == (
            6000,
            "2024-07-01T10:00:00",
            "Canon",
            b"\x01" * 8,
        )
    finally:
        runner.close()
    gone = [*_base(), _media(2, 1, CID_A), CATALOG.body(LocationRemoved(LOC))]
    writer = LogWriter(key, HybridClock(), LIBRARY_KEY)
    runner = fold(writer.build(gone))
    try:
        assert runner.db.execute("SELECT count(*) FROM media").fetchone()[0] == 0
    finally:
        runner.close()


def test_another_devices_item_on_my_entry_changes_nothing() -> None:
    mine = LogWriter(DeviceKey.generate(), HybridClock(), LIBRARY_KEY)
    theirs = LogWriter(DeviceKey.generate(), HybridClock(), LIBRARY_KEY)
    events = mine.build(_base()) + theirs.build([_media(2, 1, CID_A)])
    runner = fold(events)
    try:
        assert runner.db.execute("SELECT count(*) FROM media").fetchone()[0] == 0
    finally:
        runner.close()
