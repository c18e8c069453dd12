"""The audit trail: every action a device ran on the library, and how it ended.

Device-owned facts: an action is keyed by (device, action id), and only the events of the
device that requested it record its end, so any interleaving folds to the same rows.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable, NamedTuple, Sequence

import msgpack

from events.domain.actions import ActionCompleted, ActionFailed, ActionRequested
from projections.base import Folded

REQUESTED, COMPLETED, FAILED = "requested", "completed", "failed"


class ActionRow(NamedTuple):
    device: bytes
    action: bytes
    command: str
    arguments: Any
    requested: int  # hlc
    state: str
    outcome: Any
    error: str | None
    finished: int | None  # hlc
    # The agent proposal whose item it ran (None: asked for directly).
    proposal: bytes | None


class ActionsProjection:
    name = "actions"
    version = 2
    types = ("action.",)

    def create(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE actions (device BLOB NOT NULL, action BLOB NOT NULL, command TEXT, "
            "arguments BLOB, requested INTEGER, state TEXT NOT NULL, outcome BLOB, error TEXT, "
            "finished INTEGER, proposal BLOB, PRIMARY KEY (device, action))"
        )
        db.execute("CREATE INDEX actions_by_time ON actions (requested)")

    def fold(self, db: sqlite3.Connection, events: Folded) -> None:
        for ev, typed in events:
            key = (ev.device, typed.action)
            if type(typed) is ActionRequested:
                db.execute(
                    "INSERT INTO actions (device, action, command, arguments, requested, state, "
                    "proposal) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device, action) DO "
                    "UPDATE SET command = excluded.command, arguments = excluded.arguments, "
                    "requested = excluded.requested, proposal = excluded.proposal",
                    (
                        *key,
                        typed.command,
                        _pack(typed.arguments),
                        ev.hlc,
                        REQUESTED,
                        typed.proposal,
                    ),
                )
            elif type(typed) is ActionCompleted:
                db.execute(
                    "INSERT INTO actions (device, action, state, outcome, finished) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (device, action) DO UPDATE SET "
                    "state = excluded.state, outcome = excluded.outcome, "
                    "finished = excluded.finished",
                    (*key, COMPLETED, _pack(typed.outcome), ev.hlc),
                )
            elif type(typed) is ActionFailed:
                db.execute(
                    "INSERT INTO actions (device, action, state, error, finished) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (device, action) DO UPDATE SET "
                    "state = excluded.state, error = excluded.error, finished = excluded.finished",
                    (*key, FAILED, typed.error, ev.hlc),
                )

    def digest_rows(self, db: sqlite3.Connection) -> Iterable[Sequence[Any]]:
        return db.execute(
            "SELECT device, action, command, arguments, state, outcome, error, proposal "
            "FROM actions ORDER BY device, action"
        )


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def actions_since(db: sqlite3.Connection, since_hlc: int = 0) -> list[ActionRow]:
    """Every action requested at or after ``since_hlc``, oldest first."""
    return [
        ActionRow(
            dev,
            action,
            command,
            msgpack.unpackb(args) if args is not None else None,
            requested,
            state,
            msgpack.unpackb(outcome) if outcome is not None else None,
            error,
            finished,
            proposal,
        )
        for (
            dev,
            action,
            command,
            args,
            requested,
            state,
            outcome,
            error,
            finished,
            proposal,
        ) in db.execute(
            "SELECT device, action, command, arguments, requested, state, outcome, error, "
            "finished, proposal FROM actions WHERE coalesce(requested, finished) >= ? "
            "ORDER BY coalesce(requested, finished), device, action",
            (since_hlc,),
        )
    ]


def open_actions(db: sqlite3.Connection, device: bytes) -> list[bytes]:
    """The actions of ``device`` requested and not ended."""
    return [
        action
        for (action,) in db.execute(
            "SELECT action FROM actions WHERE device = ? AND state = ?", (device, REQUESTED)
        )
    ]


def action_state(db: sqlite3.Connection, device: bytes, action: bytes) -> str | None:
    row = db.execute(
        "SELECT state FROM actions WHERE device = ? AND action = ?", (device, action)
    ).fetchone()
    return None if row is None else row[0]
