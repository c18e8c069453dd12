"""Rules people accepted from the rules agent (``agent.rule_added``): files of one extension
in one folder (a place: location and path in it) belong in another.

A rule is its places and extension: the same rule accepted twice, on one device or two, is
one row, first by ``(hlc, device)`` (who added it first, for ``sd agent show``).
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable, NamedTuple, Sequence

from events.domain.agents import AgentRuleAdded
from projections.base import Folded


class RuleRow(NamedTuple):
    agent: str
    source_location: bytes
    source_path: str
    extension: str
    destination_location: bytes
    destination_path: str
    hlc: int


class AgentRulesProjection:
    name = "agent_rules"
    version = 1
    types = ("agent.rule_added",)

    def create(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE agent_rules (agent TEXT NOT NULL, source_location BLOB NOT NULL, "
            "source_path TEXT NOT NULL, extension TEXT NOT NULL, "
            "destination_location BLOB NOT NULL, destination_path TEXT NOT NULL, "
            "hlc INTEGER NOT NULL, device BLOB NOT NULL, PRIMARY KEY (agent, source_location, "
            "source_path, extension, destination_location, destination_path))"
        )

    def fold(self, db: sqlite3.Connection, events: Folded) -> None:
        for ev, typed in events:
            if type(typed) is not AgentRuleAdded:
                continue
            (src_loc, src_path), (dst_loc, dst_path) = typed.source, typed.destination
            db.execute(
                "INSERT INTO agent_rules VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE "
                "SET hlc = excluded.hlc, device = excluded.device "
                "WHERE (excluded.hlc, excluded.device) < (hlc, device)",
                (
                    typed.agent,
                    src_loc,
                    src_path,
                    typed.extension,
                    dst_loc,
                    dst_path,
                    ev.hlc,
                    ev.device,
                ),
            )

    def digest_rows(self, db: sqlite3.Connection) -> Iterable[Sequence[Any]]:
        return db.execute(
            "SELECT agent, source_location, source_path, extension, destination_location, "
            "destination_path, hlc, device FROM agent_rules ORDER BY 1, 2, 3, 4, 5, 6"
        )


def agent_rules(db: sqlite3.Connection, agent: str) -> list[RuleRow]:
    """The rules of ``agent``, oldest first."""
    return [
        RuleRow(*row)
        for row in db.execute(
            "SELECT agent, source_location, source_path, extension, destination_location, "
            "destination_path, hlc FROM agent_rules WHERE agent = ? ORDER BY hlc, device",
            (agent,),
        )
    ]
