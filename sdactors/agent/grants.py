"""What an agent may touch: its grant read against this device's locations, and the check
every item of a proposal passes twice (before the manager writes it, and when the
ActionManager runs it), so a plugin's mistake, or a proposal forged by hand, cannot reach
outside the grant.

A command says what it touches (``Touches``: host paths and tag names); one that says
nothing (``None``) is not one an agent may propose.
"""

from __future__ import annotations

import os
import sqlite3
from typing import NamedTuple

from projections.files.query import locations
from projections.membership import agent_grant
from projections.tags import live_tags


class Touches(NamedTuple):
    """The host paths (bytes) a command reads or changes, and the tags (by name) it puts on
    or takes off."""

    paths: tuple[bytes, ...]
    tags: tuple[str, ...] = ()


class Grants:
    """The grant of one agent on this device, as folders and tag ids (read once)."""

    def __init__(self, db: sqlite3.Connection, device: bytes, agent: str) -> None:
        grant = agent_grant(db, agent)
        mine = {row.location: row.path for row in locations(db) if row.device == device}
        self.folders: tuple[bytes, ...] = tuple(
            os.path.join(mine[location], os.fsencode(rel)).rstrip(b"/") if rel else mine[location]
            for location, rel in sorted(grant.places)
            if location in mine
        )
        self.tags: frozenset[bytes] = grant.tags
        self._tag_ids = {name: tag for tag, name, _color in live_tags(db)}

    def path_ok(self, path: bytes) -> bool:
        """Whether ``path`` is one of the granted folders or lies inside one, its folders
        read as the disk has them now (a link inside the grant to a folder outside it
        leads outside), its last component as it is (a link is itself)."""
        path = os.path.normpath(path)
        path = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
        return any(
            path == folder or path.startswith(folder.rstrip(b"/") + b"/") for folder in self.folders
        )

    def refusal(self, op: str, touches: Touches | None) -> str | None:
        """Why an item running ``op`` may not be run for this agent; None if it may."""
        if touches is None:
            return f"{op} is not a command an agent may propose"
        for path in touches.paths:
            if not self.path_ok(path):
                return f"{os.fsdecode(path)} is outside the agent's grant"
        for name in touches.tags:
            tag = self._tag_ids.get(name)
            if tag is None or tag not in self.tags:
                return f"tag {name!r} is outside the agent's grant"
        return None
