"""No value a body may hold can stop a fold: every field of every type at the edges of its
declared shape (sizes of 2**63 - 1, the longest names, the largest counts), folded in
combinations whose totals pass 2**63 and 2**64, and the read models' own queries then run.

A fold that raised here would stop the projector of every device holding the event: the
index of the library would never be current again, and every read would fail with it.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.clock import HybridClock
from events.domain import CATALOG
from events.domain.entries import (
    DIR,
    EID_MAX,
    FILE,
    EntriesDeleted,
    EntriesIndexed,
    EntriesModified,
)
from events.domain.locations import LocationAdded
from events.envelope import Event
from events.keys import DeviceKey
from events.shapes import INT64_MAX
from events.writer import LogWriter
from projections.devices import device_names
from projections.files.query import duplicates, file_stats
from projections.jobs import jobs_of
from projections.runner import ProjectionRunner
from tests.cli.test_properties import fold
from tests.conftest import examples
from tests.helpers_log import LIBRARY_KEY
from tests.shape_strategies import extreme
from tests.unit.test_convergence import RULES

KEYS = [DeviceKey.generate() for _ in range(2)]
IDS = [bytes([i]) * 16 for i in range(1, 3)]
EIDS = [1, 2, 3, EID_MAX - 1, EID_MAX]
# The folders _setup makes, and 0 (a root, refused: each location has one already).
FOLDERS = [0, 1, EID_MAX]
TYPES = CATALOG.types()


def _setup(writer: LogWriter) -> list[Event]:
    """Each device's locations, with a root (eid 1) and a folder (the largest eid) in it:
    what generated entries are put into."""
    drafts = []
    for location in IDS:
        drafts.append(CATALOG.body(LocationAdded(location, b"/edge", "edge", RULES)))
        drafts.append(
            _entries(location, [(1, 0, b"edge", DIR, 0, None), (EID_MAX, 1, b"d", DIR, 0, None)])
        )
    return writer.build(drafts)


def _world(value: object) -> object:
    """Ids and entry numbers from small pools, so that edge values meet: entries land in
    locations that exist, under folders that exist, on contents other entries hold."""
    if isinstance(value, bytes) and len(value) == 16:
        return IDS[value[0] % len(IDS)]
    if isinstance(value, dict):
        return {k: _world(v) for k, v in value.items()}
    if isinstance(value, tuple) and value and all(isinstance(v, int) for v in value[:2]):
        # An item of entries.*: its eid among a few, its parent(s) mostly the folders.
        parents = 3 if len(value) == 4 else 2
        item = [
            (EIDS[v % len(EIDS)] if i == 0 else FOLDERS[v % len(FOLDERS)]) if i < parents else v
            for i, v in enumerate(value)
        ]
        if len(item) == 11 and item[3] != DIR and value[0] % 3:
            item[3] = FILE  # files mostly: they are what totals sum
        return tuple(item)
    if isinstance(value, tuple):
        return tuple(_world(v) for v in value)
    return value


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, dict]:
    # Entries half the time: they are what sums, in the index's totals and contents.
    type_name = draw(st.sampled_from(TYPES) | st.just("entries.indexed"))
    return type_name, _world(draw(extreme(CATALOG.shape(type_name))))


def _read_everything(runner: ProjectionRunner) -> None:
    """What ``sd stats``, ``sd duplicates``, ``sd jobs`` and the device names read."""
    db = runner.db
    stats = file_stats(db)
    assert stats.bytes == sum(stats.bytes_by_kind.values())
    for group in duplicates(db):
        assert group.waste == group.size * (group.count - 1)
    jobs_of(db)
    device_names(db)


@settings(
    max_examples=examples(120),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    steps=st.lists(st.tuples(st.integers(0, 1), bodies()), min_size=1, max_size=30),
    cuts=st.lists(st.integers(min_value=0), max_size=4),
)
@pytest.mark.hostile("H1")
def test_edge_values_of_every_field_never_stop_a_fold(
    steps: list[tuple[int, tuple[str, dict]]], cuts: list[int]
) -> None:
    writers = [LogWriter(key, HybridClock(), LIBRARY_KEY) for key in KEYS]
    events = [ev for writer in writers for ev in _setup(writer)]
    for who, (type_name, body) in steps:
        events.extend(writers[who].build([(type_name, 1, body)]))
    whole, pieces = fold(events), fold(events, cuts)
    try:
        assert whole.digest() == pieces.digest()
        _read_everything(whole)
    finally:
        whole.close()
        pieces.close()


def _entries(location: bytes, items: list[tuple[int, int, bytes, str, int, bytes | None]]) -> Any:
    return CATALOG.body(
        EntriesIndexed(
            location,
            tuple(
                (eid, parent, name, ftype, size, -(1 << 63), eid, "zip", cid, None, INT64_MAX)
                for eid, parent, name, ftype, size, cid in items
            ),
        )
    )


@pytest.mark.hostile("H1")
def test_totals_past_two_to_the_64_are_exact_and_survive_every_change() -> None:
    """Two devices, each a location with files of 2**63 - 1 bytes (one content, so one
    duplicate group too): the totals pass 2**64 and stay exact through modification and
    deletion, batch by batch or all at once."""
    big = INT64_MAX
    cid = os.urandom(32)
    writers = [LogWriter(key, HybridClock(), LIBRARY_KEY) for key in KEYS]
    events: list[Event] = []
    for writer, location in zip(writers, IDS):
        files = [(10 + i, 1, b"f%d" % i, FILE, big, cid) for i in range(5)]
        drafts = [
            CATALOG.body(LocationAdded(location, b"/big", "big", RULES)),
            _entries(location, [(1, 0, b"big", DIR, 0, None), *files[:3]]),
            _entries(location, files[3:]),
        ]
        events.extend(writer.build(drafts))
    # Each device: one file shrinks to a byte, one goes.
    for writer, location in zip(writers, IDS):
        events.extend(
            writer.build(
                [
                    CATALOG.body(
                        EntriesModified(
                            location, ((10, 1, 1, 0, 1, "zip", os.urandom(32), INT64_MAX),)
                        )
                    ),
                    CATALOG.body(EntriesDeleted(location, ((11, 1),))),
                ]
            )
        )
    digests = set()
    for cuts in ([], list(range(len(events))), [3, 7]):
        runner = fold(events, cuts)
        try:
            stats = file_stats(runner.db)
            assert stats.files == 8
            assert stats.bytes == 2 * (3 * big + 1)
            assert stats.bytes_by_kind == {"zip": 2 * (3 * big + 1)}
            (group,) = duplicates(runner.db)
            assert (group.count, group.waste) == (6, 5 * big)
            digests.add(runner.digest())
        finally:
            runner.close()
    assert len(digests) == 1


def test_a_content_id_shared_by_empty_files_makes_no_duplicate_group_beside_its_real_one() -> None:
    """Found by the convergence property: one content id held by two empty files and by two
    files of 7 bytes. The 7-byte pair is one group; the empty pair is below the size floor and
    must not join the answer because its id matched a group's."""
    cid = os.urandom(32)
    writer = LogWriter(KEYS[0], HybridClock(), LIBRARY_KEY)
    location = IDS[0]
    files = [(10, 1, b"e1", FILE, 0, cid), (11, 1, b"e2", FILE, 0, cid)]
    files += [(12, 1, b"s1", FILE, 7, cid), (13, 1, b"s2", FILE, 7, cid)]
    events = writer.build(
        [
            CATALOG.body(LocationAdded(location, b"/dup", "dup", RULES)),
            _entries(location, [(1, 0, b"dup", DIR, 0, None), *files]),
        ]
    )
    runner = fold(events)
    try:
        assert [(g.size, g.files) for g in duplicates(runner.db)] == [
            (7, [[b"/dup/s1"], [b"/dup/s2"]])
        ]
    finally:
        runner.close()
