"""Snapshots: the read models folded up to a position, kept so time travel need not start over.

Travelling to position P copies the nearest snapshot at or before P and folds forward from
it (``ProjectionRunner.catch_up(until=P)``), then keeps the result as the snapshot of P. They
live in ``<library>/snapshots/`` (owner-only: an index holds every indexed path), one file per
position, named by it. Each is made under a temporary name and renamed into place once
complete, so a command killed mid-fold leaves no half snapshot, only a temporary file the
next command removes. The cache is bounded (count and bytes), least recently used first out.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from events.domain import CATALOG
from events.store import EventStore
from projections.catalog import library_projections
from projections.errors import RefoldNeeded
from projections.rebuild import remove_db
from projections.runner import ProjectionRunner, index_position
from sdactors.library.config import LibraryConfig
from sdactors.library.reader import LibraryReader
from sdactors.runtime.errors import PositionBeyondHead
from sdactors.runtime.interrupts import watch
from sdactors.runtime.logs import get_logger
from sdactors.runtime.private_files import PRIVATE_FILE, private_dir

log = get_logger(__name__)

SUFFIX = ".db"
TEMP_PREFIX = ".partial-"
# Enough for a bisect's working set (the low end it folds forward from, a few recent probes)
# and a few places a person went back to; an index of a million entries is a few hundred MB.
MAX_SNAPSHOTS = 8
MAX_BYTES = 4 << 30


@dataclass(frozen=True, slots=True)
class Snapshot:
    position: int
    path: Path


def snapshot_dir(config: LibraryConfig) -> Path:
    return config.paths.root / "snapshots"


class SnapshotCache:
    """The snapshots of one library. Safe across processes: files appear by rename only."""

    def __init__(
        self,
        config: LibraryConfig,
        max_snapshots: int = MAX_SNAPSHOTS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.config = config
        self.folder = snapshot_dir(config)
        self.max_snapshots = max(1, max_snapshots)
        self.max_bytes = max_bytes

    def _path(self, position: int) -> Path:
        return self.folder / f"{position:012d}{SUFFIX}"

    def held(self) -> list[Snapshot]:
        """The snapshots there are, by position."""
        if not self.folder.is_dir():
            return []
        found = []
        for entry in os.scandir(self.folder):
            stem = entry.name[: -len(SUFFIX)]
            if entry.name.endswith(SUFFIX) and stem.isdigit():
                found.append(Snapshot(int(stem), Path(entry.path)))
        return sorted(found, key=lambda s: s.position)

    def at(self, position: int, store: EventStore | None = None) -> Path:
        """The snapshot of ``position``, made (from the nearest one before it) if need be."""
        own = store is None
        if store is None:
            store = EventStore(self.config.paths.events, readonly=True)
        try:
            if position > store.head_pos:
                raise PositionBeyondHead(position, store.head_pos)
            exact = self._path(position)
            # Made by code whose read models meant something else: made again below.
            if exact.exists() and index_position(str(exact), library_projections()) == position:
                _touch(exact)
                return exact
            made = self._make(position, store)
        finally:
            if own:
                store.close()
        self._evict(keep=made)
        return made

    def _make(self, position: int, store: EventStore) -> Path:
        private_dir(self.folder)
        self._remove_partials()
        projections = library_projections()
        tmp = self.folder / f"{TEMP_PREFIX}{os.getpid()}-{position}{SUFFIX}"
        base = self._base(position, projections)
        try:
            if base is not None:
                _touch(base.path)  # used: the low end of a bisect stays in the cache
                shutil.copyfile(base.path, tmp)
                os.chmod(tmp, PRIVATE_FILE)
            else:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE))
            runner = ProjectionRunner(tmp, projections, CATALOG).open()
            try:
                try:
                    runner.catch_up(store, until=position)
                except RefoldNeeded:
                    runner.refold(store, until=position)
                # One self-contained file: only the main file is renamed into place.
                runner.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                runner.db.execute("PRAGMA journal_mode = DELETE")
            finally:
                runner.close()
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            final = self._path(position)
            os.replace(tmp, final)
        except BaseException:
            remove_db(str(tmp))
            raise
        log.info(
            "snapshot_made",
            position=position,
            base=None if base is None else base.position,
        )
        return final

    def _base(self, position: int, projections: list) -> Snapshot | None:
        """The nearest snapshot at or before ``position`` folded with today's projections."""
        for snap in reversed(self.held()):
            if snap.position > position:
                continue
            if index_position(str(snap.path), projections) == snap.position:
                return snap
        return None

    def _remove_partials(self) -> None:
        """Temporary files of commands that were killed (never one of a live process)."""
        for entry in os.scandir(self.folder):
            if not entry.name.startswith(TEMP_PREFIX):
                continue
            pid = entry.name[len(TEMP_PREFIX) :].split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                remove_db(entry.path)

    def _evict(self, keep: Path) -> None:
        """Least recently used first, until both bounds hold; never the one just used."""
        snaps = []
        for snap in self.held():
            try:
                st = snap.path.stat()
            except FileNotFoundError:
                continue  # another process evicted it
            snaps.append((st.st_mtime_ns, st.st_size, snap.path))
        snaps.sort()
        total = sum(size for _, size, _ in snaps)
        count = len(snaps)
        for _, size, path in snaps:
            if count <= self.max_snapshots and total <= self.max_bytes:
                break
            if path == keep:
                continue
            remove_db(str(path))
            count -= 1
            total -= size


@contextmanager
def snapshot_connection(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a snapshot that cannot write, even by a crafted query, and
    whose statements stop on Ctrl-C or SIGTERM (``sdactors.runtime.interrupts``)."""
    db = watch(sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False))
    try:
        db.execute("PRAGMA query_only = 1")
        yield db
    finally:
        db.close()


class SnapshotReader(LibraryReader):
    """A library's read models as they were at a position: what the read commands take
    instead of the live index when asked ``--at``."""

    def __init__(self, config: LibraryConfig, position: int, path: Path) -> None:
        super().__init__(config)
        self.position = position
        self.path = path

    @contextmanager
    def index(self) -> Iterator[sqlite3.Connection]:
        with snapshot_connection(self.path) as db:
            yield db


def reader_at(lib: LibraryReader, position: int | None) -> LibraryReader:
    """``lib`` itself for the present, else its read models folded up to ``position``."""
    if position is None:
        return lib
    path = SnapshotCache(lib.config).at(position)
    return SnapshotReader(lib.config, position, path)


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except FileNotFoundError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
