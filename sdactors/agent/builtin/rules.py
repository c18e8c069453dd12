"""Rules learned from the audit log: what a person keeps doing by hand, proposed as a rule,
and once the rule is accepted, done for each new file it matches (as a proposal).

The audit (``projections/actions.py``) holds every move a person asked for, with where the
file landed. When files of one extension were moved from one folder to one other folder
``LEARNED`` times or more (distinct files, by a person: not an agent's accepted proposal),
the agent proposes the rule, an ``agent.rule_add`` item naming both folders and the
extension. Accepted, it is a shared fact (``agent.rule_added``, ``projections/agent_rules.py``)
and from then on each file of that extension in the rule's folder gets a proposal of its
own to move it (one per file: a new file's proposal never changes one a person is reading).

Only this device's moves and folders count, both folders inside the grant.
"""

from __future__ import annotations

import os
import sqlite3
from collections import defaultdict
from typing import Any, ClassVar, Iterable, Sequence

from events.domain.agents import EXTENSION
from events.domain.entries import FILE
from events.envelope import Event
from projections.actions import COMPLETED, actions_since
from projections.agent_rules import agent_rules
from projections.files.query import folder_children, locations, resolve
from projections.files.search import extension
from sdactors.agent import lines
from sdactors.agent.protocol import AgentView, Item, Proposal

NAME = "rules"
RULE_OP = "agent.rule_add"  # sdactors.ops.agent_rules
# Moves of one kind from one folder to another that make a rule.
LEARNED = 3


def _show(path: bytes) -> str:
    return path.decode("utf-8", "backslashreplace")


def kind_of(name: bytes) -> str | None:
    """The extension a rule matches a file by (lower case), None without one."""
    ext = extension(os.fsdecode(name))
    if ext is None or len(ext) > EXTENSION.max:
        return None
    ext = ext.lower()
    return ext if all(c.isalnum() and c.isascii() or c in "_+-" for c in ext) else None


def _moved_by_people(
    db: sqlite3.Connection, device: bytes
) -> dict[tuple[bytes, str, bytes], set[bytes]]:
    """``(from folder, extension, to folder)`` -> the files a person moved so on ``device``."""
    out: dict[tuple[bytes, str, bytes], set[bytes]] = defaultdict(set)
    for row in actions_since(db):
        if row.device != device or row.command != "file.move" or row.state != COMPLETED:
            continue
        if row.proposal is not None:  # an agent's accepted proposal teaches nothing new
            continue
        source = row.arguments.get("source") if isinstance(row.arguments, dict) else None
        landed = row.outcome.get("destination") if isinstance(row.outcome, dict) else None
        if not isinstance(source, bytes) or not isinstance(landed, str):
            continue
        ext = kind_of(os.path.basename(source))
        if ext is None:
            continue
        target = os.fsencode(landed)
        out[(os.path.dirname(source), ext, os.path.dirname(target))].add(source)
    return out


class Rules:
    """Rules learned from the audit log (``sd agent enable rules``)."""

    name: ClassVar[str] = NAME
    summary: ClassVar[str] = "rules from moves you repeat, then the moves they call for"
    follows: ClassVar[tuple[str, ...]] = ("action.", "agent.rule_added", "entries.")
    reads: ClassVar[tuple[str, ...]] = ("actions", "agent_rules", "files")

    def propose(self, view: AgentView, events: Sequence[Event]) -> Iterable[Proposal]:
        with view.index() as db:
            return [*self._rules(db, view), *self._moves(db, view)]

    def _folder(self, db: sqlite3.Connection, view: AgentView, path: bytes) -> int | None:
        """The local id of a folder of this device inside the grant, None otherwise."""
        if not view.granted(path):
            return None
        found = resolve(db, path, view.device)
        return None if found is None else found.named_folder

    def _known(self, db: sqlite3.Connection, view: AgentView) -> list[tuple[bytes, str, bytes]]:
        """The accepted rules about this device's locations: ``(from, extension, to)``."""
        mine = {loc.location: loc.path for loc in locations(db) if loc.device == view.device}

        def at(location: bytes, rel: str) -> bytes | None:
            root = mine.get(location)
            if root is None:
                return None
            return os.path.join(root, os.fsencode(rel)) if rel else root

        out = []
        for rule in agent_rules(db, NAME):
            source = at(rule.source_location, rule.source_path)
            target = at(rule.destination_location, rule.destination_path)
            if source is not None and target is not None:
                out.append((source, rule.extension, target))
        return out

    def _rules(self, db: sqlite3.Connection, view: AgentView) -> Iterable[Proposal]:
        known = set(self._known(db, view))
        for (source, ext, target), files in sorted(_moved_by_people(db, view.device).items()):
            if len(files) < LEARNED or (source, ext, target) in known or source == target:
                continue
            if self._folder(db, view, source) is None or self._folder(db, view, target) is None:
                continue
            names = ", ".join(sorted(_show(os.path.basename(f)) for f in files))
            reason = (
                f"you moved {len(files)} .{ext} files from {_show(source)} to {_show(target)} "
                f"({names})"
            )
            args: dict[str, Any] = {"source": source, "extension": ext, "destination": target}
            title = f"rule: .{ext} files in {_show(source)} go to {_show(target)}"
            yield Proposal(NAME, lines.title(title), (Item(lines.reason(reason), RULE_OP, args),))

    def _moves(self, db: sqlite3.Connection, view: AgentView) -> Iterable[Proposal]:
        for source, ext, target in self._known(db, view):
            folder = self._folder(db, view, source)
            if folder is None or self._folder(db, view, target) is None:
                continue
            for child in sorted(folder_children(db, folder), key=lambda c: c.name):
                path = os.path.join(source, child.name)
                if child.ftype != FILE or kind_of(child.name) != ext or not view.granted(path):
                    continue
                reason = f"your rule: .{ext} files in {_show(source)} go to {_show(target)}"
                item = Item(
                    lines.reason(reason), "file.move", {"source": path, "destination": target}
                )
                title = f"move {_show(child.name)} to {_show(target)} (a rule)"
                yield Proposal(NAME, lines.title(title), (item,))
