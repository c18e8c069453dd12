"""Membership: who may pair, revoke and change roles, and a revocation that cuts cleanly.

The rules are in ``projections.membership``. The property test at the end runs devices that
act concurrently on their own view (pairing, promoting, demoting, revoking with the cut they
hold, writing tags after their own revocation), sync with each other the way nodes do (each
forwarding only what its own membership lets through), and fold incrementally in small
batches: every device still in the library ends with one membership and one digest.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.clock import HybridClock
from events.domain import CATALOG
from events.domain.device import DevicePaired, DeviceRegistered, DeviceRevoked, DeviceRole
from events.domain.library import LibraryCreated, creator_library_id
from events.domain.tags import TagCreated
from events.envelope import Event
from events.keys import DeviceKey
from events.store import EventStore
from events.validation import event_problem
from events.writer import Draft, LogWriter
from projections.catalog import library_projections
from projections.errors import RefoldNeeded
from projections.membership import NO_CUT, Act, MembershipProjection, act_of_body, membership
from projections.runner import ProjectionRunner
from projections.tags import live_tags
from tests.cli.test_properties import SETTINGS
from tests.conftest import examples
from tests.helpers_log import CREATOR, LIBRARY, LIBRARY_KEY, NONCE, founding, wire

A, B, C, D = (bytes([i]) * 32 for i in range(1, 5))


def created(hlc: int = 1, device: bytes = A) -> Act:
    return Act(hlc, device, 1, "library.created", None, None)


def act(hlc: int, device: bytes, seq: int, kind: str, target: bytes, value: object) -> Act:
    return Act(hlc, device, seq, f"device.{kind}", target, value)


# -- the rules, on sets of events ------------------------------------------------------------


def test_the_creator_is_the_first_admin_and_only_admins_pair() -> None:
    m = membership(
        [
            created(),
            act(2, A, 2, "paired", B, "b"),
            act(3, B, 1, "paired", C, "c"),  # a member pairing someone: ignored
        ]
    )
    assert m.role(A) == "admin" and m.role(B) == "member" and m.role(C) is None
    assert [(a.device, why) for a, why in m.ignored] == [(B, "its device is not an admin")]
    assert m.allowed() == {A: NO_CUT, B: NO_CUT}


@pytest.mark.hostile("H2")
def test_a_member_cannot_revoke_the_creator() -> None:
    m = membership([created(), act(2, A, 2, "paired", B, "b"), act(3, B, 1, "revoked", A, 0)])
    assert m.role(A) == "admin" and m.cuts == {}


@pytest.mark.hostile("H3")
def test_of_two_admins_revoking_each_other_the_earlier_stands() -> None:
    base = [created(), act(2, A, 2, "paired", B, "b"), act(3, A, 3, "role", B, "admin")]
    # A revokes B at hlc 10, B (not told yet) revokes A at hlc 11: A's stands.
    m = membership([*base, act(10, A, 4, "revoked", B, 5), act(11, B, 6, "revoked", A, 3)])
    assert m.role(A) == "admin" and m.role(B) == "revoked" and m.cuts == {B: 5}
    # The other way round: B's is earlier, A is revoked and its revocation of B does nothing.
    m = membership([*base, act(12, A, 4, "revoked", B, 5), act(11, B, 6, "revoked", A, 3)])
    assert m.role(B) == "admin" and m.role(A) == "revoked" and m.cuts == {A: 3}


@pytest.mark.hostile("H3")
def test_only_a_revoked_admin_may_hold_what_undoes_its_revocation() -> None:
    """What sync keeps hearing (``sdactors.net.sync_service``): a device revoked once an
    admin, even one demoted first, with the hlc its own counter-revocation must precede."""
    base = [
        created(),
        act(2, A, 2, "paired", B, "b"),
        act(3, A, 3, "paired", C, "c"),
        act(4, A, 4, "role", B, "admin"),
        act(5, A, 5, "paired", D, "d"),
        act(6, A, 6, "role", D, "admin"),
        act(7, A, 7, "role", D, "member"),
    ]
    m = membership(
        [
            *base,
            act(10, A, 8, "revoked", B, 5),
            act(11, A, 9, "revoked", C, 0),
            act(12, A, 10, "revoked", D, 0),
            act(13, B, 6, "revoked", A, 3),  # later than A's of B: does not count
        ]
    )
    assert m.contestable == {B: 10, D: 12}
    # B's earlier revocation of A arrives: A is the one revoked, and B's is no longer.
    m = membership([*base, act(10, A, 8, "revoked", B, 5), act(9, B, 6, "revoked", A, 7)])
    assert m.role(B) == "admin" and m.contestable == {A: 9}


def test_the_last_admin_cannot_be_revoked_or_demoted() -> None:
    base = [created(), act(2, A, 2, "paired", B, "b"), act(3, A, 3, "role", B, "admin")]
    m = membership([*base, act(4, B, 1, "role", A, "member"), act(5, A, 4, "role", B, "member")])
    # B demoted A first; A could no longer demote B.
    assert m.role(A) == "member" and m.role(B) == "admin"
    m = membership([created(), act(2, A, 2, "role", A, "member")])
    assert m.role(A) == "admin"
    assert m.ignored[0][1] == "that device is the last admin"


def test_a_revocation_cuts_the_revoked_devices_later_membership_events() -> None:
    # B (admin) pairs D at hlc 5 with its seq 3, but A revoked B at hlc 9 holding B up to 2:
    # B's seq 3 is past the cut, so D is no member, although B's event came earlier by hlc.
    m = membership(
        [
            created(),
            act(2, A, 2, "paired", B, "b"),
            act(3, A, 3, "role", B, "admin"),
            act(4, B, 2, "paired", C, "c"),
            act(5, B, 3, "paired", D, "d"),
            act(9, A, 4, "revoked", B, 2),
        ]
    )
    assert m.role(B) == "revoked" and m.role(C) == "member" and m.role(D) is None
    assert m.allowed() == {A: NO_CUT, B: 2, C: NO_CUT}


def test_without_the_creation_nobody_is_known_and_everything_folds() -> None:
    assert membership([act(2, A, 2, "paired", B, "b")]).allowed() is None


# -- the creator, proved by the library's id ---------------------------------------------------


@pytest.mark.hostile("H2")
def test_only_the_creator_can_write_the_creation_of_its_library() -> None:
    body = CATALOG.body(LibraryCreated(LIBRARY, "Home", NONCE))[2]
    assert event_problem("library.created", 1, body, LIBRARY, CREATOR.public) is None
    other = DeviceKey.generate().public
    assert "not written by the device that created" in event_problem(
        "library.created", 1, body, LIBRARY, other
    )
    assert creator_library_id(other, NONCE) != LIBRARY


# -- folding: events past a cut, whatever their order ------------------------------------------


def _runner(path: Path) -> ProjectionRunner:
    runner = ProjectionRunner(path, library_projections(), CATALOG).open()
    runner.batch_size = 1
    return runner


@pytest.mark.hostile("H3")
def test_events_past_a_cut_are_never_folded_in_any_order(tmp_path: Path) -> None:
    a = LogWriter(CREATOR, HybridClock(), LIBRARY_KEY)
    bkey = DeviceKey.generate()
    b = LogWriter(bkey, HybridClock(), LIBRARY_KEY)
    start = a.build(founding([bkey]))
    before = b.build([CATALOG.body(TagCreated(os.urandom(16), "before", None))])
    after = b.build([CATALOG.body(TagCreated(os.urandom(16), "after", None))])
    for ev in before:
        a.clock.observe(ev.hlc)
    revoke = a.build([CATALOG.body(DeviceRevoked(bkey.public, before[-1].seq))])
    digests = set()
    for i, order in enumerate([[start, before, after, revoke], [start, before, revoke, after]]):
        store = EventStore(tmp_path / f"{i}.db", library=LIBRARY)
        runner = _runner(tmp_path / f"{i}.index")
        for commit in order:
            assert store.ingest(wire(commit)).ok
            try:
                runner.catch_up(store)
            except RefoldNeeded:
                runner.refold(store)
        assert [name for _t, name, _c in live_tags(runner.db)] == ["before"]
        assert MembershipProjection.allowed(runner.db) == {CREATOR.public: NO_CUT, bkey.public: 1}
        # The cut events stay in the log, and a fold from the start agrees.
        assert store.vector()[bkey.public] == 2
        fresh = _runner(tmp_path / f"{i}.fresh")
        fresh.catch_up(store)
        assert fresh.digest() == runner.digest()
        digests.add(runner.digest())
    assert len(digests) == 1


def test_a_device_paired_after_its_events_arrived_is_folded_then(tmp_path: Path) -> None:
    a = LogWriter(CREATOR, HybridClock(), LIBRARY_KEY)
    bkey = DeviceKey.generate()
    b = LogWriter(bkey, HybridClock(), LIBRARY_KEY)
    start = a.build(founding())
    tag = b.build([CATALOG.body(TagCreated(os.urandom(16), "from-b", None))])
    pair = a.build([CATALOG.body(DevicePaired(bkey.public, "b"))])
    store = EventStore(tmp_path / "log.db", library=LIBRARY)
    runner = _runner(tmp_path / "index.db")
    for commit in (start, tag):
        assert store.ingest(wire(commit)).ok
    runner.catch_up(store)
    assert live_tags(runner.db) == []  # B is no member yet
    assert store.ingest(wire(pair)).ok
    runner.catch_up(store)
    assert [name for _t, name, _c in live_tags(runner.db)] == ["from-b"]


# -- the property: concurrent devices, each acting on its own view ---------------------------


@dataclass
class Dev:
    key: DeviceKey
    writer: LogWriter
    store: EventStore
    runner: ProjectionRunner
    own: list[Event] = field(default_factory=list)

    @property
    def device(self) -> bytes:
        return self.key.public

    def write(self, drafts: list[Draft]) -> None:
        for draft in drafts:  # one event per commit: every event sealed
            events = self.writer.build([draft])
            assert self.store.ingest(wire(events)).ok
            self.own.extend(events)
        self.fold()

    def fold(self) -> None:
        try:
            self.runner.catch_up(self.store)
        except RefoldNeeded:
            self.runner.refold(self.store)  # what the node's Projector does, into a new file

    def forwards(self) -> dict[bytes, int]:
        """What this device sends a peer: its membership's allowance, all of its own."""
        allowed = MembershipProjection.allowed(self.runner.db)
        out = dict(self.store.vector()) if allowed is None else dict(allowed)
        out[self.device] = NO_CUT
        return out

    def receive(self, other: "Dev", order: list[int]) -> None:
        """Everything ``other`` forwards that this device lacks, devices in ``order``."""
        have = self.store.vector()
        upto = other.forwards()
        runs = []
        for device, head in other.store.vector().items():
            last = min(head, upto.get(device, 0))
            if last > have.get(device, 0):
                runs.append(list(other.store.read(device=device))[have.get(device, 0) : last])
        runs.sort(key=lambda run: run[0].device)
        turn = order[0] % len(runs) if order and runs else 0
        for run in runs[turn:] + runs[:turn]:
            report = self.store.ingest(wire(run))
            assert report.ok, report.refused
            self.writer.clock.observe(max(ev.hlc for ev in run))
            self.fold()


steps = st.lists(
    st.tuples(
        st.sampled_from(["pair", "admin", "member", "revoke", "tag", "sync", "sync"]),
        st.integers(0, 4),
        st.integers(0, 4),
        st.lists(st.integers(0, 9), max_size=4),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=examples(int(os.environ.get("SD_MEMBERSHIP_EXAMPLES", "40"))), **SETTINGS)
@given(steps=steps, skews=st.lists(st.integers(-3000, 3000), min_size=5, max_size=5))
@pytest.mark.hostile("H3")
def test_concurrent_membership_converges_for_every_device_still_in(
    steps: list[tuple[str, int, int, list[int]]], skews: list[int]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        keys = [CREATOR] + [DeviceKey.generate() for _ in range(4)]
        devs: list[Dev] = []
        try:
            _play(Path(tmp), keys, devs, steps, skews)
        finally:
            for d in devs:
                d.runner.close()
                d.store.close()


def _play(
    tmp: Path,
    keys: list[DeviceKey],
    devs: list[Dev],
    steps: list[tuple[str, int, int, list[int]]],
    skews: list[int],
) -> None:
    if True:
        for i, key in enumerate(keys):
            wall = lambda skew=skews[i]: 1_700_000_000_000 + skew  # noqa: E731
            writer = LogWriter(key, HybridClock(wall=wall), LIBRARY_KEY)
            store = EventStore(tmp / f"{i}.db", library=LIBRARY)
            runner = ProjectionRunner(tmp / f"{i}.index", library_projections(), CATALOG)
            runner = runner.open()
            runner.batch_size = 2
            devs.append(Dev(key, writer, store, runner))
        devs[0].write(
            [
                CATALOG.body(DeviceRegistered("d0", "h", "o")),
                CATALOG.body(LibraryCreated(LIBRARY, "Home", NONCE)),
            ]
        )
        for kind, i, j, order in steps:
            me, other = devs[i], devs[j]
            if kind == "sync":
                if i != j:
                    me.receive(other, order)
            elif kind == "tag":
                me.write([CATALOG.body(TagCreated(os.urandom(16), f"t{len(me.own)}", None))])
            elif kind == "pair":
                me.write([CATALOG.body(DevicePaired(other.device, f"d{j}"))])
            elif kind in ("admin", "member"):
                me.write([CATALOG.body(DeviceRole(other.device, kind))])
            elif i != j:
                held = me.store.head(other.device)[0]
                me.write([CATALOG.body(DeviceRevoked(other.device, held))])
        # Those still in the library sync until nothing moves; revoked devices are refused.
        inside = [d for d in devs if _role(devs[0], d.device) in ("admin", "member")]
        for _ in range(len(devs) + 1):
            for me in inside:
                for other in inside:
                    if me is not other:
                        me.receive(other, [])
            inside = [d for d in inside if _role(d, d.device) in ("admin", "member")]
        digests = {d.runner.digest() for d in inside}
        assert len(digests) == 1, "devices still in the library folded differently"
        # What they agree on is what the rules say of everything they hold between them,
        # past-cut events held by some and not others included.
        held = {(ev.device, ev.seq): ev for d in inside for ev in d.store.read()}
        final = membership(act for ev in held.values() if (act := act_of_body(ev)) is not None)
        for d in inside:
            roles = dict(d.runner.db.execute("SELECT device, role FROM members"))
            assert roles == {dev: final.role(dev) for dev in final.names}
            fresh = ProjectionRunner(":memory:", library_projections(), CATALOG).open()
            try:
                fresh.catch_up(d.store)
                assert fresh.digest() == d.runner.digest(), "incremental and whole folds differ"
            finally:
                fresh.close()


def _role(seen_by: Dev, device: bytes) -> str | None:
    row = seen_by.runner.db.execute(
        "SELECT role FROM members WHERE device = ?", (device,)
    ).fetchone()
    return row[0] if row else None


@pytest.mark.parametrize("role", ["admin", "member"])
def test_role_events_name_a_role(role: str) -> None:
    assert CATALOG.check("device.role", 1, CATALOG.body(DeviceRole(A, role))[2]) is None
    assert CATALOG.check("device.role", 1, {"device": A, "role": "owner"}) is not None
