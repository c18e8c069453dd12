"""The event store: append, ingest (every refusal writes nothing), read, vectors, verify.

Also the Journal in front of it: many concurrent appenders group-committed.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Iterator

import msgpack
import pytest
import trio

from events.domain import CATALOG
from events.domain.library import LibraryRenamed
from events.envelope import ID_LEN, Event
from events.errors import InvalidEvent, OldLogFormat, StoreError, WrongLibrary
from events.keys import DeviceKey
from events.segments import SEGMENT_MAX
from events.store import EventStore
from events.writer import LogWriter
from sdactors.library.journal import Appended
from sdactors.node.node import Node
from tests.helpers_log import (
    LIBRARY,
    create,
    decoded,
    new_store,
    rename,
    tag_drafts,
    wire,
    writer,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    s = new_store(tmp_path / "events.db")
    yield s
    s.close()


def snapshot(s: EventStore) -> tuple:
    """Everything a refused write must leave untouched, as seen from a fresh connection."""
    fresh = EventStore(s.path, readonly=True)
    try:
        return (
            fresh.head_pos,
            fresh.vector(),
            fresh.stats(),
            fresh.hlc_high,
            [(ev.pos, ev.data, ev.sig) for ev in fresh.read()],
        ), (s.head_pos, s.vector(), s.stats())
    finally:
        fresh.close()


def two_device_log(s: EventStore) -> tuple[LogWriter, LogWriter, list[Event]]:
    """A log with two devices, several commits, every kind of type, and a long commit."""
    a, b = writer(), writer()
    built: list[Event] = []
    for w, drafts in [
        (a, tag_drafts(3, "a")),
        (b, tag_drafts(2, "b") + [CATALOG.body(LibraryRenamed("Home"))]),
        (a, [("zzz.future", 9, {"x": 1})]),
        (b, tag_drafts(SEGMENT_MAX + 500, "long")),
        (a, [rename(b"\x01" * 16, "r"), create(b"\x02" * 16, "c", "red")]),
        (b, tag_drafts(1, "last")),
    ]:
        events = w.build(drafts)
        s.ingest(wire(events))
        built.extend(events)
    return a, b, built


# -- append -----------------------------------------------------------------------------------


def test_appends_take_contiguous_positions_and_read_back_as_written(store: EventStore) -> None:
    w = writer()
    commits = [1, 3, SEGMENT_MAX * 2 + 7, 2]
    written: list[Event] = []
    seal_positions = set()
    for size in commits:
        events = w.build(tag_drafts(size))
        first = store.append(events)
        assert first == len(written) + 1
        assert store.head_pos == first + size - 1
        written.extend(events)
        seal_positions.add(store.head_pos)
    got = list(store.read())
    assert [ev.pos for ev in got] == list(range(1, len(written) + 1))
    assert [(ev.data, ev.id, ev.seq) for ev in got] == [(ev.data, ev.id, ev.seq) for ev in written]
    assert {ev.pos for ev in got if ev.sig is not None} == seal_positions
    assert store.vector() == {w.device: len(written)}
    assert store.verify() == []
    reopened = EventStore(store.path, readonly=True)
    assert reopened.head_pos == store.head_pos and reopened.vector() == store.vector()
    assert reopened.hlc_high == max(ev.hlc for ev in written)
    reopened.close()


def test_append_refuses_a_broken_chain_or_a_missing_seal_and_writes_nothing(
    store: EventStore,
) -> None:
    key = DeviceKey.generate()
    w = writer(key)
    store.append(w.build(tag_drafts(2)))
    before = snapshot(store)
    # A second writer with the same key starts again at seq 1: two writers on one log.
    with pytest.raises(StoreError, match="out of chain"):
        store.append(writer(key).build(tag_drafts(1)))
    unsealed = w.build(tag_drafts(3))[:-1]
    with pytest.raises(StoreError, match="seal"):
        store.append(unsealed)
    assert snapshot(store) == before
    w.rewind(2, store.head(key.public)[1])
    assert store.append(w.build(tag_drafts(1))) == 3


# -- ingest -----------------------------------------------------------------------------------


def test_ingest_is_idempotent(tmp_path: Path, store: EventStore) -> None:
    _, _, built = two_device_log(store)
    target = new_store(tmp_path / "target.db")
    first = target.ingest(wire(built[:3]))  # the first commit: three events, one seal
    assert (first.accepted, first.skipped, first.first_pos, first.last_pos) == (3, 0, 1, 3)
    report = target.ingest(wire(built))
    assert (report.ok, report.accepted, report.skipped) == (True, len(built) - 3, 3)
    assert (report.first_pos, report.last_pos) == (4, len(built))
    assert report.max_hlc == max(ev.hlc for ev in built[3:])
    again = target.ingest(wire(built))
    assert (again.accepted, again.skipped, again.ok) == (0, len(built), True)
    assert [ev.data for ev in target.read()] == [ev.data for ev in built]
    assert target.vector() == store.vector()
    assert target.stats() == store.stats()
    assert target.verify() == []
    target.close()


def test_ingest_keeps_each_devices_order_whatever_the_interleaving(tmp_path: Path) -> None:
    a, b = writer(), writer()
    ea = a.build(tag_drafts(4, "a"))  # one commit: only the last is sealed
    eb = b.build(tag_drafts(2, "b"))
    target = new_store(tmp_path / "t.db")
    # A's unsealed run, B's whole run, then A's seal: all in one ingest.
    report = target.ingest(wire(ea[:3] + eb + ea[3:]))
    assert report.ok and report.accepted == 6 and not report.held_back
    got = list(target.read())
    assert [ev.pos for ev in got] == list(range(1, 7))
    assert [ev.seq for ev in got if ev.device == a.device] == [1, 2, 3, 4]
    assert [ev.seq for ev in got if ev.device == b.device] == [1, 2]
    assert target.verify() == []
    target.close()


def _refused(
    store: EventStore, events: list[tuple[bytes, bytes | None]], reason: str, **kw: bool
) -> None:
    before = snapshot(store)
    report = store.ingest(events, **kw)
    assert not report.ok
    assert any(reason in r.reason for r in report.refused), report.refused
    assert snapshot(store) == before, "a refused ingest must write nothing"


def test_equivocation_is_refused(store: EventStore) -> None:
    key = DeviceKey.generate()
    w = writer(key)
    held = w.build(tag_drafts(3))
    store.ingest(wire(held))
    # The same device writes a different event 3: forked history.
    fork = LogWriter(key, w.clock, w.library_key, 2, held[1].id).build(tag_drafts(1, "fork"))
    other = writer().build(tag_drafts(2, "innocent"))
    _refused(store, wire(other) + wire(fork), "equivocation")
    report = store.ingest(wire(fork))
    assert [(r.device, r.seq) for r in report.refused] == [(key.public, 3)]


def test_a_gap_is_refused(store: EventStore) -> None:
    w = writer()
    events = [w.build(tag_drafts(1))[0] for _ in range(4)]
    _refused(store, wire(events[:2] + events[3:]), "gap: expected seq 3, got 4")
    _refused(store, wire(events[1:]), "gap: expected seq 1, got 2")


def test_a_wrong_prev_is_refused_even_when_signed(store: EventStore) -> None:
    key = DeviceKey.generate()
    w = writer(key)
    good = w.build(tag_drafts(2))
    store.ingest(wire(good))
    forged = LogWriter(key, w.clock, w.library_key, 2, b"\x07" * ID_LEN).build(tag_drafts(1))
    _refused(store, wire(forged), "wrong prev")


def test_a_bad_signature_is_refused(store: EventStore) -> None:
    w = writer()
    events = w.build(tag_drafts(3))
    sig = bytearray(events[-1].sig or b"")
    sig[5] ^= 1
    _refused(store, wire(events[:-1]) + [(events[-1].data, bytes(sig))], "bad signature")
    # Someone else's valid signature is no better.
    stranger = writer().build(tag_drafts(1))[0].sig
    _refused(store, wire(events[:-1]) + [(events[-1].data, stranger)], "bad signature")


def test_an_event_of_another_library_is_refused(store: EventStore) -> None:
    """Well-signed by its device, but written for another library: its id here differs."""
    for count in (1, 3):  # a lone sealed event; a chain whose second link fails first
        elsewhere = writer(library=b"\x07" * 16)
        _refused(store, wire(elsewhere.build(tag_drafts(count))), "another library")


def test_a_log_opens_only_as_its_own_library(tmp_path: Path, store: EventStore) -> None:
    with pytest.raises(WrongLibrary, match=f"holds the events of library {LIBRARY.hex()[:4]}"):
        EventStore(store.path, library=b"\x07" * 16)
    assert EventStore(store.path, readonly=True).library == LIBRARY
    with pytest.raises(StoreError, match="needs its library's id"):
        EventStore(tmp_path / "new.db")


def test_a_log_of_format_1_is_refused(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "old.db")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value)")
    db.execute("INSERT INTO meta VALUES ('format', 1)")
    db.commit()
    db.close()
    for kw in ({"readonly": True}, {"library": LIBRARY}):
        with pytest.raises(OldLogFormat, match="format 1; this version reads format 3"):
            EventStore(tmp_path / "old.db", **kw)  # type: ignore[arg-type]


def test_a_changed_body_is_refused(store: EventStore) -> None:
    w = writer()
    events = w.build([create(b"\x01" * 16, "Original")])
    data = events[0].data.replace(b"Original", b"Forgery!")
    _refused(store, [(data, events[0].sig)], "bad signature")


def test_malformed_bytes_are_refused(store: EventStore) -> None:
    good = writer().build(tag_drafts(1))
    _refused(store, wire(good) + [(b"\x93\x01\x02", None)], "malformed event")
    _refused(store, [(msgpack.packb({"not": "an event"}), None)], "malformed event")


def test_unsealed_tails_are_held_back_and_refused_whole(store: EventStore) -> None:
    known = writer()
    store.ingest(wire(known.build(tag_drafts(2, "known"))))
    tail_of_known = known.build(tag_drafts(3, "more"))
    newcomer = writer()
    new_events = newcomer.build(tag_drafts(2, "new"))
    before = snapshot(store)
    # Nothing sealed: held back, nothing written, and the newcomer is not a known device.
    report = store.ingest(wire(tail_of_known[:-1]) + wire(new_events[:-1]))
    assert report.ok and report.accepted == 0
    assert [ev.data for ev in report.held_back] == [
        ev.data for ev in tail_of_known[:-1] + new_events[:-1]
    ]
    assert snapshot(store) == before
    assert store.vector() == {known.device: 2}
    assert store.stats().devices == 1
    # With whole=True (an import) the same input is refused instead.
    _refused(store, wire(tail_of_known[:-1]), "no signature covers it", whole=True)
    # Resent with their seals, they go in.
    report = store.ingest(wire(report.held_back) + wire(tail_of_known[-1:]) + wire(new_events[-1:]))
    assert report.ok and report.accepted == 5 and not report.held_back
    assert store.vector() == {known.device: 5, newcomer.device: 2}


def test_a_sealed_prefix_goes_in_and_the_tail_waits(store: EventStore) -> None:
    w = writer()
    sealed = w.build(tag_drafts(2))
    tail = w.build(tag_drafts(3))
    report = store.ingest(wire(sealed + tail[:-1]))
    assert report.accepted == 2 and [ev.seq for ev in report.held_back] == [3, 4]
    assert store.vector() == {w.device: 2}
    assert store.head(w.device) == (2, sealed[-1].id)
    report = store.ingest(wire(tail))
    assert report.accepted == 3 and store.vector() == {w.device: 5}


# -- reading ----------------------------------------------------------------------------------


def test_read_filters_agree_with_a_plain_filter(store: EventStore) -> None:
    a, b, _ = two_device_log(store)
    everything = list(store.read())
    head = store.head_pos
    assert [ev.pos for ev in everything] == list(range(1, head + 1))
    cuts = [0, 1, 4, 9, SEGMENT_MAX, SEGMENT_MAX + 11, head - 1, head, head + 5]
    for since in cuts:
        for until in [None, *cuts]:
            for prefix in [None, "", "tag.", "tag.renamed", "library.", "zzz", "nope"]:
                for device in [None, a.device, b.device, b"\x09" * 32]:
                    want = [
                        ev
                        for ev in everything
                        if ev.pos > since
                        and (until is None or ev.pos <= until)
                        and (not prefix or ev.type.startswith(prefix))
                        and (device is None or ev.device == device)
                    ]
                    got = list(store.read(since, until=until, type_prefix=prefix, device=device))
                    assert [(e.pos, e.data) for e in got] == [(e.pos, e.data) for e in want], (
                        since,
                        until,
                        prefix,
                        device,
                    )
    for limit in [1, 2, 7, 10_000]:
        got = list(store.read(3, type_prefix="tag.", limit=limit))
        want = [ev for ev in everything if ev.pos > 3 and ev.type.startswith("tag.")][:limit]
        assert [ev.pos for ev in got] == [ev.pos for ev in want]


def test_read_data_is_the_same_log_in_batches(store: EventStore) -> None:
    two_device_log(store)
    everything = [(ev.pos, ev.data) for ev in store.read()]
    for since, until in [(0, None), (5, None), (0, 3), (SEGMENT_MAX - 3, SEGMENT_MAX + 20), (7, 7)]:
        rows = [row for batch in store.read_data(since, until) for row in batch]
        assert rows == [r for r in everything if r[0] > since and (until is None or r[0] <= until)]


def test_missing_gives_exactly_what_a_peer_lacks(tmp_path: Path, store: EventStore) -> None:
    a, b, built = two_device_log(store)
    full = store.vector()
    vectors = [
        {},
        {a.device: 1},
        {b.device: 3},
        {b.device: SEGMENT_MAX + 2, a.device: 4},
        full,
        {a.device: 999_999, b.device: 0},
        {b"\x05" * 32: 3},
    ]
    for vector in vectors:
        got = list(store.missing(vector))
        want = [ev for ev in built if ev.seq > vector.get(ev.device, 0)]
        assert sorted((ev.device, ev.seq, ev.data) for ev in got) == sorted(
            (ev.device, ev.seq, ev.data) for ev in want
        )
        for dev in (a.device, b.device):
            seqs = [ev.seq for ev in got if ev.device == dev]
            assert seqs == sorted(seqs)
    # A peer that holds what ``missing`` skipped and ingests what it gave ends level.
    peer = new_store(tmp_path / "peer.db")
    vector = {a.device: 2, b.device: 5}
    peer.ingest(wire(ev for ev in built if ev.seq <= vector[ev.device]))
    assert peer.ingest(wire(store.missing(peer.vector()))).ok
    assert peer.vector() == full
    peer.close()


def test_stats_count_what_is_stored(store: EventStore) -> None:
    empty = store.stats()
    assert (empty.events, empty.by_type, empty.devices, empty.bytes) == (0, {}, 0, 0)
    _, _, built = two_device_log(store)
    stats = store.stats()
    assert stats.events == len(built) == store.head_pos
    assert stats.by_type == dict(Counter(ev.type for ev in built))
    assert stats.devices == 2
    assert stats.bytes >= sum(len(ev.data) + ID_LEN for ev in built)
    store.ingest(wire(writer().build(tag_drafts(1))))
    assert store.stats().devices == 3 and store.stats().bytes > stats.bytes


# -- verification -----------------------------------------------------------------------------


def _rewrite_segment(path: str, pos: int, column: str, change) -> None:
    db = sqlite3.connect(path)
    (value,) = db.execute(
        f"SELECT {column} FROM segments WHERE pos <= ? ORDER BY pos DESC LIMIT 1", (pos,)
    ).fetchone()
    db.execute(
        f"UPDATE segments SET {column} = ? WHERE pos = (SELECT max(pos) FROM segments WHERE pos <= ?)",
        (change(value), pos),
    )
    db.commit()
    db.close()


def test_verify_names_a_changed_event(store: EventStore) -> None:
    w = writer()
    store.append(
        w.build(
            [
                create(b"\x01" * 16, "first"),
                create(b"\x02" * 16, "Needle"),
                create(b"\x03" * 16, "third"),
            ]
        )
    )
    assert store.verify() == []
    path = store.path
    store.close()

    def flip(blob: bytes) -> bytes:
        return blob.replace(b"Needle", b"Meedle")

    _rewrite_segment(path, 2, "data", flip)
    problems = EventStore(path, readonly=True).verify()
    assert [(p.pos, p.seq) for p in problems] == [(2, 2)]
    assert "changed" in problems[0].reason


def test_verify_finds_a_bad_seal_and_a_missing_segment(tmp_path: Path) -> None:
    s = new_store(tmp_path / "e.db")
    w = writer()
    for _ in range(3):
        s.append(w.build(tag_drafts(2)))
    s.close()
    _rewrite_segment(str(tmp_path / "e.db"), 6, "sig", lambda sig: bytes([sig[0] ^ 1]) + sig[1:])
    problems = EventStore(tmp_path / "e.db", readonly=True).verify()
    # The same words as an ingest refusing it (events.chain).
    assert [(p.pos, p.reason) for p in problems] == [
        (6, "bad signature (changed, forged, or an event of another library)")
    ]
    db = sqlite3.connect(tmp_path / "e.db")
    db.execute("DELETE FROM segments WHERE pos = 3")
    db.commit()
    db.close()
    reasons = [p.reason for p in EventStore(tmp_path / "e.db", readonly=True).verify()]
    assert any("gap: expected seq 3" in r for r in reasons)


def test_a_readonly_store_needs_a_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        EventStore(tmp_path / "none.db", readonly=True)
    assert not (tmp_path / "none.db").exists()


# -- the Journal in front of the store --------------------------------------------------------


async def test_concurrent_appenders_are_group_committed(tmp_path: Path) -> None:
    """Many callers at once: each acked once, positions and seqs contiguous, fewer commits
    than appends (one fsync serves several callers)."""
    node = await trio.to_thread.run_sync(Node, tmp_path / "data")
    try:
        lib = await trio.to_thread.run_sync(node.create_library, "Home")
        results: list[Appended] = []

        async def appender(n: int) -> None:
            for round_ in range(4):
                drafts = tag_drafts(1 + (n + round_) % 3, f"w{n}-{round_}")
                results.append(await trio.to_thread.run_sync(lib.append, drafts))

        async with trio.open_nursery() as nursery:
            for n in range(32):
                nursery.start_soon(appender, n)

        acked = [ev for r in results for ev in r.events]
        assert len(results) == 32 * 4
        for r in results:
            assert [ev.pos for ev in r.events] == list(range(r.first_pos, r.last_pos + 1))
        positions = sorted(ev.pos for ev in acked)
        assert positions == list(range(positions[0], positions[0] + len(acked)))
        seqs = sorted(ev.seq for ev in acked)
        assert seqs == list(range(seqs[0], seqs[0] + len(acked)))
        store = lib.log()
        try:
            by_pos = {ev.pos: ev for ev in store.read()}
            assert store.verify() == []
        finally:
            store.close()
        assert all(by_pos[ev.pos].id == ev.id for ev in acked)
        seals = sum(1 for pos in positions if by_pos[pos].sig is not None)
        assert seals < len(results), "every append got its own commit: no group commit"
    finally:
        await trio.to_thread.run_sync(node.close)


async def test_an_append_that_cannot_be_encoded_fails_its_caller_at_once(tmp_path: Path) -> None:
    """The Journal takes a batch off its queue before building it: a draft msgpack cannot
    encode used to crash the Journal with the caller's reply never set (a 600 s hang)."""
    node = await trio.to_thread.run_sync(Node, tmp_path / "data")
    try:
        lib = await trio.to_thread.run_sync(node.create_library, "Home")
        with trio.fail_after(30):
            with pytest.raises(OverflowError):
                await trio.to_thread.run_sync(
                    lib.append, [("x.big", 1, {"n": 2**70})], abandon_on_cancel=True
                )
        assert lib.supervisor.restarts("journal") == 0
        done = await trio.to_thread.run_sync(lib.append, tag_drafts(2))
        store = lib.log()
        try:
            assert [ev.seq for ev in store.read()] == list(range(1, store.head_pos + 1))
            assert done.last_pos == store.head_pos and store.verify() == []
        finally:
            store.close()
    finally:
        await trio.to_thread.run_sync(node.close)


def test_the_journal_refuses_an_invalid_draft_and_only_its_request(tmp_path: Path) -> None:
    bad = ("tag.created", 1, {"tag": b"abc", "name": "x", "color": None})
    with Node(tmp_path / "node") as node:
        lib = node.create_library("Home")
        before = lib.catch_up()
        lib.append_nowait([*tag_drafts(1, "lost"), bad])  # goes with the next commit...
        kept = lib.append(tag_drafts(2, "kept"))  # ...which still succeeds
        assert len(kept.events) == 2
        with pytest.raises(InvalidEvent, match=r"tag.created \(event 2 of 2\): tag: 3 bytes"):
            lib.append([*tag_drafts(1, "lost"), bad])
        lib.catch_up()
        log = lib.log()
        names = [ev.body.get("name") for ev in log.read(before)]
        log.close()
        assert names == ["kept-0", "kept-1"]


def test_a_reader_refreshing_while_a_new_device_is_written_sees_one_state(
    store: EventStore,
) -> None:
    """A reader's refresh reads the devices, then the heads: a commit of a new device's
    first events between the two once made the heads name a device the reader did not know
    (KeyError in ``sd pair join`` under load)."""
    first = writer()
    store.append(first.build(tag_drafts(2)))
    reader = EventStore(store.path, readonly=True)
    newcomer = writer()
    real = reader._db

    class Interleaved:
        """The reader's connection, with a writer's commit after its first statement."""

        def __init__(self) -> None:
            self.fired = False

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
            cursor = real.execute(sql, *args)
            if "FROM devices" in sql and not self.fired:
                self.fired = True
                rows = cursor.fetchall()
                store.append(newcomer.build(tag_drafts(1)))
                return iter(rows)  # type: ignore[return-value]
            return cursor

    reader._db = Interleaved()  # type: ignore[assignment]
    try:
        reader.refresh()
        assert reader.vector() in (
            {first.key.public: 2},
            {first.key.public: 2, newcomer.key.public: 1},
        )
    finally:
        reader._db = real
        reader.close()


def test_an_ingest_decides_as_one_record_at_a_time_would(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records are read in windows whose signatures are checked together on worker threads:
    one bad signature among thousands is found and named, with every refusal it causes,
    exactly as checking each record in turn finds them; and nothing is written."""
    import events.ingest

    a, b = writer(), writer()
    built = []
    for i in range(1500):  # sealed one by one, interleaved with a device sealing by runs
        built.extend(a.build(tag_drafts(1, f"a{i}")))
        if i % 100 == 0:
            built.extend(b.build(tag_drafts(7, f"b{i}")))
    records = wire(built)
    assert store.ingest(records[:10]).accepted == 10
    data, sig = records[1300]
    assert sig is not None
    records[1300] = forged = (data, writer().build(tag_drafts(1))[0].sig)
    records.insert(900, records[5])  # already held: skipped, never checked
    records.insert(1100, (b"\x93\x01", None))  # malformed
    before = snapshot(store)
    windowed = store.ingest(records[10:], whole=True)
    assert snapshot(store) == before
    monkeypatch.setattr(events.ingest, "WINDOW", 1)
    one_by_one = store.ingest(records[10:], whole=True)
    assert windowed == one_by_one
    bad = decoded(data)
    first = windowed.refused[1]
    position = records.index(forged) - 10 + 1
    assert (first.device, first.seq, first.position) == (bad.device, bad.seq, position)
    assert "bad signature" in first.reason
    assert "malformed" in windowed.refused[0].reason
    later = windowed.refused[2:]
    assert later and all(r.device == bad.device and "gap" in r.reason for r in later)
    assert windowed.skipped == 1
