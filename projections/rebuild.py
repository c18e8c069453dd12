"""Rebuild and time travel: fold (part of) the log into a fresh file.

A rebuild never touches the live index until it is complete: it folds into a temporary file
beside it and swaps it in with one rename, so a crash mid-rebuild leaves the old index.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

from events.registry import Catalog
from events.store import EventStore
from projections.base import Projection
from projections.runner import ProjectionRunner


@dataclass(frozen=True, slots=True)
class RebuildResult:
    digest: str
    events: int
    checkpoint: int
    path: str


def remove_db(path: str) -> None:
    """Remove a database and the files SQLite may keep beside it."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass


def fold_into(
    path: str,
    store: EventStore,
    projections: Sequence[Projection],
    catalog: Catalog,
    until: int | None = None,
) -> RebuildResult:
    """Fold the log (up to ``until``) into a new index at ``path``: no file yet, or an empty
    one its caller made. It is made owner-only before SQLite opens it (an index holds every
    indexed path; SQLite gives its WAL files the same mode), and removed if the fold fails."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
    try:
        runner = ProjectionRunner(path, projections, catalog).open()
        try:
            checkpoint = runner.catch_up(store, until=until)
            digest = runner.digest()
            # Leave a single self-contained file: the swap renames only the main file.
            runner.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            runner.db.execute("PRAGMA journal_mode = DELETE")
        finally:
            runner.close()
    except BaseException:
        remove_db(path)
        raise
    return RebuildResult(digest, checkpoint, checkpoint, path)


def rebuild_index(
    index_path: str,
    store: EventStore,
    projections: Sequence[Projection],
    catalog: Catalog,
) -> RebuildResult:
    """Rebuild ``index_path`` from the whole log and swap it in atomically.

    The caller must have closed every connection to the live index first.
    """
    tmp = f"{index_path}.rebuild-{os.getpid()}"
    remove_db(tmp)  # left by a rebuild that crashed, in a process with the same id
    result = fold_into(tmp, store, projections, catalog)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    for suffix in ("-wal", "-shm"):
        try:
            os.remove(index_path + suffix)
        except FileNotFoundError:
            pass
    os.replace(tmp, index_path)
    return RebuildResult(result.digest, result.events, result.checkpoint, index_path)
