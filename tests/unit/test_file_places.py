"""What the file index keeps for annotations, step by step: where each entry is (``places``)
and which entries hold a content an annotation names (``holders``), as a node keeps them
folding each event as it comes, and as a rebuild makes them from the whole log at once.

After every event both are compared with what the listings hold, which is the definition:
each path that changes them (a file indexed, modified into and out of a content, moved,
deleted alone or with its folder, its location removed) is taken at least once.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from events.clock import HybridClock
from events.domain import CATALOG
from events.domain.annotations import FileFavourited, FileTagged
from events.domain.device import DeviceRegistered
from events.domain.entries import (
    DIR,
    FILE,
    EntriesDeleted,
    EntriesIndexed,
    EntriesModified,
    EntriesMoved,
)
from events.domain.locations import LocationAdded, LocationRemoved
from events.envelope import Event
from events.writer import LogWriter
from projections.files import holders
from projections.files.listings import read_children
from projections.files.places import folders_of
from projections.files.schema import EID_MASK
from tests.cli.test_properties import fold
from tests.helpers_log import CREATOR, LIBRARY_KEY, founding
from tests.unit.test_convergence import RULES

A, B, C = (bytes([i]) * 32 for i in (0xA1, 0xB2, 0xC3))
TAG = b"\x07" * 16
LOC, OTHER = b"L" * 16, b"M" * 16


def _dir(eid: int, parent: int, name: bytes) -> tuple:
    return (eid, parent, name, DIR, 0, 1, eid, None, None, None, 1)


def _file(eid: int, parent: int, name: bytes, cid: bytes | None) -> tuple:
    return (eid, parent, name, FILE, 9, 1, eid, "text", cid, None, 1)


def _modified(eid: int, parent: int, cid: bytes | None) -> tuple:
    return (eid, parent, 9, 2, eid, "text", cid, 1)


def history() -> list[Event]:
    """One device's life: folders and files, copies of A and B, an annotation on A before
    some of them exist and one on B after, then every change that moves a file into or out
    of a content, or out of the index."""
    body = CATALOG.body
    drafts = [
        body(DeviceRegistered("dev", "host", "os")),
        *founding(),
        body(LocationAdded(LOC, b"/home/docs", "docs", RULES)),
        body(EntriesIndexed(LOC, (_dir(1, 0, b"docs"), _dir(2, 1, b"sub"), _dir(3, 2, b"deep")))),
        body(EntriesIndexed(LOC, (_file(4, 1, b"a.txt", A), _file(5, 2, b"b.txt", B)))),
        body(FileTagged(TAG, (A,), ())),  # watched from now on; a.txt found in the listings
        body(EntriesIndexed(LOC, (_file(6, 3, b"a-copy.txt", A), _file(7, 3, b"c.txt", C)))),
        body(FileFavourited((B,), ())),  # b.txt found when it is named
        body(EntriesModified(LOC, (_modified(7, 3, A),))),  # c.txt becomes a copy of A
        body(EntriesModified(LOC, (_modified(4, 1, B),))),  # a.txt becomes a copy of B
        body(EntriesMoved(LOC, ((6, 3, 1, b"moved.txt"),))),  # a copy moves up
        body(EntriesMoved(LOC, ((2, 1, 1, b"renamed"),))),  # a folder is renamed
        body(EntriesDeleted(LOC, ((5, 2),))),  # b.txt goes
        body(LocationAdded(OTHER, b"/home/more", "more", RULES)),
        body(EntriesIndexed(OTHER, (_dir(8, 0, b"more"), _file(9, 8, b"a3.txt", A)))),
        body(EntriesDeleted(LOC, ((2, 1),))),  # a folder goes with what it holds
        body(LocationRemoved(OTHER)),  # a location goes with what it holds
    ]
    writer = LogWriter(CREATOR, HybridClock(wall=lambda: 1_700_000_000_000), LIBRARY_KEY)
    return writer.build(drafts)


def from_listings(db: Any, named: set[bytes]) -> tuple[dict[int, int], Counter]:
    """Where each entry is and the holders of the contents ``named``, as the listings say."""
    where: dict[int, int] = {}
    held: Counter = Counter()
    for folder, blob in db.execute("SELECT folder, children FROM listings"):
        for child in read_children(blob):
            entry = (folder & ~EID_MASK) | child.eid
            where[entry] = folder
            if child.cid in named:
                held[(child.cid, entry)] += 1
    return where, held


def kept(db: Any) -> tuple[dict[int, int], Counter]:
    """Where each entry is and the holders of watched contents, as the index keeps them."""
    top_eid, top_device = db.execute(
        "SELECT coalesce(max(max_eid), 0), coalesce(max(idx), 0) FROM devs"
    ).fetchone()
    every = [(d << 40) | eid for d in range(1, top_device + 1) for eid in range(1, top_eid + 1)]
    held = Counter({(c, e): n for c, e, n in db.execute("SELECT cid, entry, n FROM holders")})
    return folders_of(db, every), held


@pytest.mark.parametrize("few", [2, 0], ids=["looked-for-one-by-one", "every-listing-read"])
def test_places_and_holders_follow_every_change(monkeypatch: pytest.MonkeyPatch, few: int) -> None:
    monkeypatch.setattr(holders, "FEW", few)
    events = history()
    for upto in range(1, len(events) + 1):
        prefix = events[:upto]
        named = {cid for ev in prefix if ev.type.startswith("file.") for cid in ev.body["contents"]}
        one_by_one = fold(prefix, range(len(prefix)))
        at_once = fold(prefix)
        for runner in (one_by_one, at_once):
            watched = {cid for (cid,) in runner.db.execute("SELECT cid FROM watched")}
            assert watched == named
            assert kept(runner.db) == from_listings(runner.db, named), (upto, prefix[-1].type)
        one_by_one.close()
        at_once.close()
    # The end: what remains is a.txt (now a copy of B) and moved.txt (a copy of A).
    end = fold(events, range(len(events)))
    where, held = kept(end.db)
    assert sorted(cid for cid, _ in held) == [A, B]
    assert len(where) == 2
    end.close()


def test_nothing_is_watched_until_an_annotation_names_a_content() -> None:
    """A library nobody annotated pays for no holder: the first index keeps none."""
    events = history()[:7]
    runner = fold([e for e in events if not e.type.startswith("file.")], range(6))
    assert runner.db.execute("SELECT count(*) FROM watched").fetchone()[0] == 0
    assert runner.db.execute("SELECT count(*) FROM holders").fetchone()[0] == 0
    runner.close()
