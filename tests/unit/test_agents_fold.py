"""The agents' read model and grants: any interleaving of the devices' events (each device's
own kept in order), folded in any batches, gives the same rows; an outcome counts only from
the proposal's own device; a grant only from an admin."""

from __future__ import annotations

import sqlite3
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from events.domain.agents import AgentApplied, AgentDecided, AgentGranted, AgentProposed
from events.envelope import Event
from projections.agents import AgentsProjection, proposal, proposals
from projections.membership import Act, act_of, membership
from tests.conftest import examples

A, B, C = (bytes([i]) * 32 for i in (1, 2, 3))
IDS = [bytes([i]) * 16 for i in range(1, 4)]
ITEM = ("why", "file.remove", {"path": b"/x", "permanent": False})


def _event(device: bytes, seq: int, hlc: int) -> Event:
    return Event(device, seq, hlc, "agent.x", 1, None, b"", b"", b"")


def _typed(kind: str, pid: bytes, n: int) -> Any:
    if kind == "proposed":
        return AgentProposed(pid, "downloads", f"title {n}", (ITEM,) * (1 + n % 3))
    if kind == "accepted":
        return AgentDecided(pid, "accepted", (n % 2,))
    if kind == "rejected":
        return AgentDecided(pid, "rejected", ())
    return AgentApplied(pid, ((0, n % 2 == 0, None if n % 2 == 0 else "failed"),))


KIND = st.sampled_from(["proposed", "accepted", "rejected", "applied"])
# Per device: a list of (kind, proposal, hlc step).
HISTORY = st.lists(st.tuples(KIND, st.sampled_from(IDS), st.integers(1, 5)), min_size=0, max_size=8)


def _histories(raw: list[list[tuple[str, bytes, int]]]) -> list[list[tuple[Event, Any]]]:
    out = []
    for device, steps in zip((A, B, C), raw):
        hlc, events = 0, []
        for seq, (kind, pid, step) in enumerate(steps, start=1):
            hlc += step
            events.append((_event(device, seq, hlc), _typed(kind, pid, seq)))
        out.append(events)
    return out


def _fold(order: list[tuple[Event, Any]], cuts: list[int]) -> list[Any]:
    db = sqlite3.connect(":memory:")
    projection = AgentsProjection()
    projection.create(db)
    start = 0
    for cut in sorted(set(cuts)) + [len(order)]:
        projection.fold(db, order[start:cut])
        start = max(start, cut)
    return [tuple(r) for r in projection.digest_rows(db)]


@settings(max_examples=examples(200), deadline=None)
@given(
    st.lists(HISTORY, min_size=3, max_size=3),
    st.randoms(use_true_random=False),
    st.lists(st.integers(0, 24), max_size=4),
)
def test_any_interleaving_folds_to_the_same_rows(
    raw: list[list[tuple[str, bytes, int]]], rnd: Any, cuts: list[int]
) -> None:
    histories = _histories(raw)
    reference = _fold([e for h in histories for e in h], [])
    # Interleave, keeping each device's own order.
    queues = [list(h) for h in histories]
    order = []
    while any(queues):
        queue = rnd.choice([q for q in queues if q])
        order.append(queue.pop(0))
    assert _fold(order, cuts) == reference


def test_an_outcome_counts_only_from_the_proposals_own_device() -> None:
    db = sqlite3.connect(":memory:")
    projection = AgentsProjection()
    projection.create(db)
    pid = IDS[0]
    projection.fold(
        db,
        [
            (_event(A, 1, 10), AgentProposed(pid, "downloads", "mine", (ITEM,))),
            (_event(B, 1, 11), AgentDecided(pid, "accepted", ())),
            # A hostile peer says it was done: nothing changes.
            (_event(B, 2, 12), AgentApplied(pid, ((0, True, None),))),
        ],
    )
    row = proposal(db, pid)
    assert row is not None and row.state == "accepted" and row.outcomes is None
    assert [r.proposal for r in proposals(db)] == []
    assert [r.proposal for r in proposals(db, decided=True)] == [pid]
    projection.fold(db, [(_event(A, 2, 13), AgentApplied(pid, ((0, False, "gone"),)))])
    row = proposal(db, pid)
    assert row is not None and row.state == "applied" and row.outcomes == [(0, False, "gone")]
    # A copy of the proposal by another device, stamped earlier, makes it that device's:
    # then A's outcome no longer counts, the one B wrote does.
    projection.fold(db, [(_event(C, 1, 5), AgentProposed(pid, "downloads", "theirs", (ITEM,)))])
    row = proposal(db, pid)
    assert row is not None and row.device == C and row.title == "theirs"
    assert row.state == "accepted" and row.outcomes is None


def _grant(hlc: int, device: bytes, seq: int, place: bytes) -> Act:
    act = act_of(_event(device, seq, hlc), AgentGranted("downloads", ((place, "Downloads"),), ()))
    assert act is not None
    return act


def test_grants_count_only_from_admins_at_that_point() -> None:
    created = Act(1, A, 1, "library.created", None, None)
    paired = Act(2, A, 2, "device.paired", B, "birch")
    state = membership([created, paired, _grant(3, A, 3, b"L" * 16), _grant(4, B, 1, b"F" * 16)])
    assert state.places == {"downloads": {(b"L" * 16, "Downloads")}}
    assert [why for _a, why in state.ignored] == ["its device is not an admin"]
    # Made an admin later: its grant written before that still does not count.
    promoted = Act(5, A, 4, "device.role", B, "admin")
    state = membership(
        [created, paired, promoted, _grant(3, A, 3, b"L" * 16), _grant(4, B, 1, b"F" * 16)]
    )
    assert state.places == {"downloads": {(b"L" * 16, "Downloads")}}
    state = membership(
        [created, paired, promoted, _grant(3, A, 3, b"L" * 16), _grant(6, B, 2, b"F" * 16)]
    )
    assert state.places["downloads"] == {(b"L" * 16, "Downloads"), (b"F" * 16, "Downloads")}


def test_an_action_requested_before_proposals_existed_names_none() -> None:
    from events.domain import CATALOG
    from events.domain.actions import ActionRequested

    old = {"action": b"a" * 16, "command": "tag.create", "arguments": {"name": "x"}}
    assert CATALOG.build("action.requested", 1, old) == ActionRequested(
        b"a" * 16, "tag.create", {"name": "x"}, None
    )
    assert CATALOG.body(ActionRequested(b"a" * 16, "file.remove", {}, IDS[0]))[:2] == (
        "action.requested",
        2,
    )
