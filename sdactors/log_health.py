"""Whether a library's log may be written to.

Two states make writing dangerous, and both are refused until the user restores the log:

- **the log lost events** its index had folded (events.db deleted, emptied, or replaced by an
  older copy). Folding that log would empty the index, and this device would start its chain
  again at an old seq: its next events would equivocate with the ones peers already hold.
- **the log is damaged**, as ``sd log verify`` found it. Appending to a chain that does not
  verify spreads the damage to every export.

``sd log restore FILE`` replaces the log with a verified export (the old one is kept beside
it) and clears both.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Sequence

from events.store import Problem, read_head
from sdactors.errors import LogDamaged, LogLost
from sdactors.libraries import LibraryConfig
from sdactors.private_files import write_private


def folded_position(index_path: str) -> int:
    """How far the index at ``index_path`` has folded the log (0 if there is no index).

    Read from its meta table whatever projections it holds: an index of an older version
    still says how much of the log it has seen.
    """
    if not os.path.exists(index_path):
        return 0
    try:
        db = sqlite3.connect(f"file:{index_path}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM _meta WHERE key = 'checkpoint'").fetchone()
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return 0  # a damaged index is rebuilt; it proves nothing about the log
    return int(row[0]) if row and row[0] else 0


def check_log_present(config: LibraryConfig) -> None:
    """Refuse a log that holds fewer events than its index has folded."""
    paths = config.paths
    folded = folded_position(str(paths.index))
    if not folded:
        return
    events = str(paths.events)
    held = read_head(events) if os.path.exists(events) and os.path.getsize(events) else 0
    if held < folded:
        raise LogLost(config.name, held, folded)


def record_damage(config: LibraryConfig, problems: Sequence[Problem]) -> None:
    """Remember what ``sd log verify`` found, so writes are refused until it is dealt with."""
    found = {"found": time.time(), "problems": len(problems), "first": str(problems[0])}
    write_private(config.paths.damaged, json.dumps(found).encode())


def clear_damage(config: LibraryConfig) -> None:
    config.paths.damaged.unlink(missing_ok=True)


def check_not_damaged(config: LibraryConfig) -> None:
    path = config.paths.damaged
    try:
        found = json.loads(path.read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        found = {}
    raise LogDamaged(config.name, int(found.get("problems", 0)), str(found.get("first", "")))
