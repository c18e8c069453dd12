"""Agents' proposals, the decisions people made on them, and what was done.

The rules (``events.domain.agents``), each a function of the set of events, so any order of
arrival folds to the same rows:

- a proposal is the first ``agent.proposed`` of its id by ``(hlc, device)``: its writer is
  the proposal's device (the one whose files it names), its title the one shown;
- a decision is the first ``agent.decided`` of the proposal by ``(hlc, device)``;
- an outcome is the first ``agent.applied`` of the proposal by ``(hlc, device)`` among those
  written by the proposal's device; another device's says nothing (it is kept, unshown, in
  case an earlier copy of the proposal makes that device the proposal's).

Each table keeps the smallest stamp seen, so a late event with an earlier stamp replaces
what an earlier arrival put there, and one with a later stamp changes nothing.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable, NamedTuple, Sequence

import msgpack

from events.domain.agents import AgentApplied, AgentDecided, AgentProposed
from projections.base import Folded

OPEN, ACCEPTED, REJECTED, APPLIED = "open", "accepted", "rejected", "applied"


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


class AgentsProjection:
    name = "agents"
    version = 1
    types = ("agent.proposed", "agent.decided", "agent.applied")

    def create(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE agent_proposals (proposal BLOB PRIMARY KEY, agent TEXT NOT NULL, "
            "title TEXT NOT NULL, items BLOB NOT NULL, count INTEGER NOT NULL, "
            "device BLOB NOT NULL, hlc INTEGER NOT NULL)"
        )
        db.execute("CREATE INDEX agent_proposals_by_agent ON agent_proposals (agent, hlc)")
        db.execute(
            "CREATE TABLE agent_decisions (proposal BLOB PRIMARY KEY, decision TEXT NOT NULL, "
            "items BLOB NOT NULL, device BLOB NOT NULL, hlc INTEGER NOT NULL)"
        )
        # Per proposal and writer: the first outcome it wrote (only the proposal's own
        # device's is read; see the module's text).
        db.execute(
            "CREATE TABLE agent_applied (proposal BLOB NOT NULL, device BLOB NOT NULL, "
            "outcomes BLOB NOT NULL, hlc INTEGER NOT NULL, PRIMARY KEY (proposal, device))"
        )

    def fold(self, db: sqlite3.Connection, events: Folded) -> None:
        for ev, typed in events:
            kind = type(typed)
            if kind is AgentProposed:
                db.execute(
                    "INSERT INTO agent_proposals (proposal, agent, title, items, count, device, "
                    "hlc) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (proposal) DO UPDATE SET "
                    "agent = excluded.agent, title = excluded.title, items = excluded.items, "
                    "count = excluded.count, device = excluded.device, hlc = excluded.hlc "
                    "WHERE (excluded.hlc, excluded.device) < (agent_proposals.hlc, "
                    "agent_proposals.device)",
                    (
                        typed.proposal,
                        typed.agent,
                        typed.title,
                        _pack([list(i) for i in typed.items]),
                        len(typed.items),
                        ev.device,
                        ev.hlc,
                    ),
                )
            elif kind is AgentDecided:
                db.execute(
                    "INSERT INTO agent_decisions (proposal, decision, items, device, hlc) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (proposal) DO UPDATE SET "
                    "decision = excluded.decision, items = excluded.items, "
                    "device = excluded.device, hlc = excluded.hlc WHERE (excluded.hlc, "
                    "excluded.device) < (agent_decisions.hlc, agent_decisions.device)",
                    (
                        typed.proposal,
                        typed.decision,
                        _pack(sorted(set(typed.items))),
                        ev.device,
                        ev.hlc,
                    ),
                )
            elif kind is AgentApplied:
                db.execute(
                    "INSERT INTO agent_applied (proposal, device, outcomes, hlc) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (proposal, device) DO UPDATE SET "
                    "outcomes = excluded.outcomes, hlc = excluded.hlc "
                    "WHERE excluded.hlc < agent_applied.hlc",
                    (typed.proposal, ev.device, _pack([list(o) for o in typed.outcomes]), ev.hlc),
                )

    def digest_rows(self, db: sqlite3.Connection) -> Iterable[Sequence[Any]]:
        yield from db.execute(
            "SELECT proposal, agent, title, items, device FROM agent_proposals ORDER BY proposal"
        )
        yield from db.execute(
            "SELECT proposal, decision, items, device FROM agent_decisions ORDER BY proposal"
        )
        yield from db.execute(
            "SELECT a.proposal, a.outcomes FROM agent_applied a JOIN agent_proposals p "
            "ON p.proposal = a.proposal AND p.device = a.device ORDER BY a.proposal"
        )


class ProposalRow(NamedTuple):
    proposal: bytes
    agent: str
    title: str
    # ``(reason, op, args)`` of each item, numbered from 0.
    items: list[tuple[str, str, dict[str, Any]]]
    # The device whose files it names (the writer of the proposal that stands), and when.
    device: bytes
    hlc: int
    # ``open``, ``accepted``, ``rejected``, ``applied``.
    state: str
    # The decision that stands: who, when, which items (empty: all).
    decided_by: bytes | None
    decided_hlc: int | None
    accepted_items: list[int]
    # The outcome its device recorded: ``(item, ok, error)`` each.
    outcomes: list[tuple[int, bool, str | None]] | None
    applied_hlc: int | None

    def chosen(self) -> list[int]:
        """The item numbers an acceptance runs (every item when it named none)."""
        return self.accepted_items or list(range(len(self.items)))


_SELECT = (
    "SELECT p.proposal, p.agent, p.title, p.items, p.device, p.hlc, d.decision, d.device, "
    "d.hlc, d.items, a.outcomes, a.hlc FROM agent_proposals p "
    "LEFT JOIN agent_decisions d ON d.proposal = p.proposal "
    "LEFT JOIN agent_applied a ON a.proposal = p.proposal AND a.device = p.device"
)


def _row(raw: Sequence[Any]) -> ProposalRow:
    prop, agent, title, items, device, hlc, decision, by, dhlc, ditems, outcomes, ahlc = raw
    if outcomes is not None:
        state = APPLIED
    elif decision is not None:
        state = decision
    else:
        state = OPEN
    return ProposalRow(
        prop,
        agent,
        title,
        [tuple(i) for i in msgpack.unpackb(items)],
        device,
        hlc,
        state,
        by,
        dhlc,
        msgpack.unpackb(ditems) if ditems is not None else [],
        [tuple(o) for o in msgpack.unpackb(outcomes)] if outcomes is not None else None,
        ahlc,
    )


def proposals(
    db: sqlite3.Connection, agent: str | None = None, decided: bool = False
) -> list[ProposalRow]:
    """Proposals, oldest first: open ones only, or (``decided``) every one; of one
    ``agent``, or of every agent."""
    where, params = [], []
    if agent is not None:
        where.append("p.agent = ?")
        params.append(agent)
    if not decided:
        where.append("d.decision IS NULL")
    sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
    return [_row(r) for r in db.execute(sql + " ORDER BY p.hlc, p.proposal", params)]


def proposal(db: sqlite3.Connection, proposal_id: bytes) -> ProposalRow | None:
    row = db.execute(_SELECT + " WHERE p.proposal = ?", (proposal_id,)).fetchone()
    return None if row is None else _row(row)


def proposals_by_prefix(db: sqlite3.Connection, prefix: bytes) -> list[bytes]:
    """The ids of proposals starting with ``prefix`` (people type a few hex digits)."""
    upper = prefix + b"\xff" * (16 - len(prefix))
    return [
        p
        for (p,) in db.execute(
            "SELECT proposal FROM agent_proposals WHERE proposal >= ? AND proposal <= ? LIMIT 3",
            (prefix, upper),
        )
    ]


def held_proposals(db: sqlite3.Connection, ids: Iterable[bytes]) -> set[bytes]:
    """Which of ``ids`` the library holds already, whatever their state."""
    wanted = list(ids)
    held: set[bytes] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        held.update(
            p
            for (p,) in db.execute(
                f"SELECT proposal FROM agent_proposals WHERE proposal IN ({marks})", chunk
            )
        )
    return held


def accepted_unapplied(db: sqlite3.Connection, device: bytes) -> list[ProposalRow]:
    """Proposals of ``device`` accepted on another device and not applied yet: what its
    AgentManager runs."""
    return [
        _row(r)
        for r in db.execute(
            _SELECT + " WHERE p.device = ? AND d.decision = 'accepted' AND d.device != ? "
            "AND a.outcomes IS NULL ORDER BY d.hlc, p.proposal",
            (device, device),
        )
    ]


def pending_items(db: sqlite3.Connection, agent: str) -> list[tuple[str, dict[str, Any]]]:
    """``(op, args)`` of every item ``agent`` has proposed that is still open, accepted and
    not applied yet, or rejected: what it need not propose again in another combination
    (an applied proposal's items are done; the same command later is a new fact)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for (items,) in db.execute(
        "SELECT p.items FROM agent_proposals p "
        "LEFT JOIN agent_applied a ON a.proposal = p.proposal AND a.device = p.device "
        "WHERE p.agent = ? AND a.outcomes IS NULL",
        (agent,),
    ):
        out.extend((op, args) for _reason, op, args in msgpack.unpackb(items))
    return out
