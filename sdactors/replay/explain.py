"""What one event did to the read models: the rows it added, changed or removed.

The log is folded up to the position before the event into a scratch index, that index is
copied and the one event folded on top, and each projection's rows (those its digest is made
of) are compared. Rows that share their first value (a tag, a device, a location...) on both
sides are "changed"; the others were added or removed.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from typing import Any

from events.domain import CATALOG
from events.store import EventStore
from projections.catalog import library_projections
from projections.errors import RefoldNeeded
from projections.rebuild import fold_into
from projections.runner import ProjectionRunner


@dataclass
class Change:
    projection: str
    added: list[tuple] = field(default_factory=list)
    removed: list[tuple] = field(default_factory=list)
    changed: list[tuple[tuple, tuple]] = field(default_factory=list)


def _rows(path: str) -> dict[str, set[tuple]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {p.name: {tuple(row) for row in p.digest_rows(db)} for p in library_projections()}
    finally:
        db.close()


def explain(store: EventStore, pos: int) -> list[Change]:
    """Per read model, what folding the event at ``pos`` changed."""
    projections = library_projections()
    scratch = tempfile.mkdtemp(prefix="sd-explain-")
    try:
        before = os.path.join(scratch, "before.db")
        after = os.path.join(scratch, "after.db")
        fold_into(before, store, projections, CATALOG, until=pos - 1)
        shutil.copyfile(before, after)
        runner = ProjectionRunner(after, projections, CATALOG).open()
        try:
            try:
                runner.catch_up(store, until=pos)
            except RefoldNeeded:  # a revocation that cuts what was folded before it
                runner.refold(store, until=pos)
        finally:
            runner.close()
        old, new = _rows(before), _rows(after)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    changes = []
    for name in sorted(new):
        gone, came = old[name] - new[name], new[name] - old[name]
        by_key = {row[0]: row for row in gone if row}
        change = Change(name)
        for row in sorted(came, key=repr):
            was = by_key.pop(row[0], None) if row else None
            if was is not None:
                change.changed.append((was, row))
            else:
                change.added.append(row)
        change.removed = sorted(by_key.values(), key=repr)
        if change.added or change.removed or change.changed:
            changes.append(change)
    return changes


def as_json(change: Change, plain: Any) -> dict[str, Any]:
    return {
        "projection": change.projection,
        "added": [plain(r) for r in change.added],
        "removed": [plain(r) for r in change.removed],
        "changed": [{"before": plain(a), "after": plain(b)} for a, b in change.changed],
    }
