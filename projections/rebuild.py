"""Rebuild and time travel: fold (part of) the log into a fresh file.

A rebuild never touches the live index until it is complete: it folds into a temporary file
beside it and swaps it in with one rename, so a crash mid-rebuild leaves the old index.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Callable, Sequence

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
    on_batch: Callable[[int], None] | None = None,
) -> RebuildResult:
    """Fold the log (up to ``until``) into a new index at ``path``: no file yet, or an empty
    one its caller made. It is made owner-only before SQLite opens it (an index holds every
    indexed path; SQLite gives its WAL files the same mode), and removed if the fold fails
    (or ``on_batch``, told each batch's checkpoint, raises to stop it)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
    try:
        runner = ProjectionRunner(path, projections, catalog).open()
        try:
            checkpoint = runner.catch_up(store, until=until, on_batch=on_batch)
            digest = runner.digest()
            # Leave a single self-contained file: the swap renames only the main file.
            runner.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            runner.db.execute("PRAGMA journal_mode = DELETE")
        finally:
            runner.close()
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
    except BaseException:
        remove_db(path)
        raise
    return RebuildResult(digest, checkpoint, checkpoint, path)


def scratch_path(index_path: str) -> str:
    """Where a rebuild of ``index_path`` folds before the swap."""
    return f"{index_path}.rebuild-{os.getpid()}"


def remove_scratch(index_path: str) -> None:
    """Remove what rebuilds of ``index_path`` left behind (a process killed mid-fold). Only
    for the holder of the library's lock: nobody else rebuilds it."""
    for path in glob.glob(glob.escape(index_path) + ".rebuild-*"):
        if not path.endswith(("-wal", "-shm", "-journal")):
            remove_db(path)


def swap_in(folded: str, index_path: str) -> None:
    """Put the index ``fold_into`` made at ``folded`` in place of ``index_path``, with one
    rename.

    The caller must have closed its own connection to the live index and keep new readers
    from opening it meanwhile: the live index's WAL files go first (the folded one is a
    single file), and a reader must never take the old file's WAL for the new file's.
    """
    for suffix in ("-wal", "-shm"):
        try:
            os.remove(index_path + suffix)
        except FileNotFoundError:
            pass
    os.replace(folded, index_path)


def rebuild_index(
    index_path: str,
    store: EventStore,
    projections: Sequence[Projection],
    catalog: Catalog,
) -> RebuildResult:
    """Rebuild ``index_path`` from the whole log and swap it in atomically.

    The caller must have closed every connection to the live index first.
    """
    tmp = scratch_path(index_path)
    remove_db(tmp)  # left by a rebuild that crashed, in a process with the same id
    result = fold_into(tmp, store, projections, catalog)
    swap_in(tmp, index_path)
    return RebuildResult(result.digest, result.events, result.checkpoint, index_path)
