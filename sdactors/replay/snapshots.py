"""The read models as they were at a position: what ``--at`` and ``sd log bisect`` read.

The state at P is folded forward from the nearest snapshot at or before it
(``sdactors.library.snapshots``: the node's, taken as it folds, and the travels, kept from
earlier looks) that is of this log and checked whole against its digest: a damaged one is
removed and the next older one used, so damage costs a longer fold, never a wrong answer.

- Up to ``NEAR_BYTES`` of log past a snapshot (P itself included), P is a *look* on top of
  it: a transaction never committed (``ProjectionRunner.within``), which this process keeps
  open with a savepoint after each event folded. Nothing is copied and the file is never
  written; in a node, a second look near the first folds only what lies between the two,
  or rolls back to a savepoint.
- Further, the nearest one is copied (its digest checked on the way), folded forward to a
  little before P and kept as a travel snapshot (so that a look just before P is near too),
  and P is a look on top of it. Travels are bounded (count and bytes), least recently used
  first out.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import blake3

from events.domain import CATALOG
from events.store import EventStore
from projections.catalog import library_projections
from projections.errors import RefoldNeeded
from projections.rebuild import remove_db
from projections.runner import ProjectionRunner, index_position
from sdactors.library.config import LibraryConfig
from sdactors.library.reader import LibraryReader
from sdactors.library.snapshots import (
    CHUNK,
    TRAVEL,
    Snapshot,
    checked,
    held,
    load_policy,
    log_mark,
    place,
    remove_partials,
    snapshot_dir,
    temp_path,
)
from sdactors.runtime.errors import PositionBeyondHead
from sdactors.runtime.interrupts import watch
from sdactors.runtime.logs import get_logger
from sdactors.runtime.private_files import PRIVATE_FILE, private_dir

log = get_logger(__name__)

# Enough for a bisect's working set (the low end it folds forward from, a few recent probes)
# and a few places a person went back to.
MAX_SNAPSHOTS = 8
# Folded on top of a snapshot without copying it: about ten batches of a thousand entries.
NEAR_BYTES = 1 << 20
# A snapshot made for a look is made this far before it (then folded on top to it): a look
# just before is near it too.
BEHIND_BYTES = 256 << 10
BEHIND_EVENTS = 64


class SnapshotCache:
    """The snapshots of one library. Safe across processes: files appear by rename only, and
    a fold on top of one never writes to it."""

    def __init__(
        self,
        config: LibraryConfig,
        max_snapshots: int = MAX_SNAPSHOTS,
        max_bytes: int | None = None,
    ) -> None:
        self.config = config
        self.folder = snapshot_dir(config)
        self.max_snapshots = max(1, max_snapshots)
        self.max_bytes = load_policy(config).max_bytes if max_bytes is None else max_bytes

    def held(self) -> list[Snapshot]:
        """The snapshots there are, by position."""
        return held(self.folder)

    @contextmanager
    def state(self, position: int, store: EventStore | None = None) -> Iterator[sqlite3.Connection]:
        """A query-only connection to the read models as they were after ``position``; its
        statements stop on Ctrl-C or SIGTERM (``sdactors.runtime.interrupts``)."""
        own = store is None
        if store is None:
            store = EventStore(self.config.paths.events, readonly=True)
        try:
            if position > store.head_pos:
                raise PositionBeyondHead(position, store.head_pos)
            with self._state(position, store) as db:
                yield db
        finally:
            if own:
                store.close()

    @contextmanager
    def _state(self, position: int, store: EventStore) -> Iterator[sqlite3.Connection]:
        for base in self._bases(position, store):
            if base.position != position and (
                store.bytes_between(base.position, position) > NEAR_BYTES
            ):
                break
            look = _look_on(self.config, base)
            if look is None:
                self._damaged(base)
                continue
            if base.kind == TRAVEL:
                base.used()
            with look.at(position, store) as db:
                if db is not None:
                    yield db
                    return
            break  # a revocation cuts what it holds: folded anew below
        # Kept a little before ``position``, so that a look just before it is near it too.
        made = self.at(self._behind(position, store), store)
        for base in self._bases(position, store):
            if base.path == made:
                look = _look_on(self.config, base)
                if look is not None:
                    with look.at(position, store) as db:
                        if db is not None:
                            yield db
                            return
        raise RuntimeError(f"the snapshot just made for position {position} cannot be read")

    def _behind(self, position: int, store: EventStore) -> int:
        """The position a little before ``position`` (BEHIND_BYTES of log, at most
        BEHIND_EVENTS) past the nearest snapshot before it."""
        floor = max((s.position for s in self._bases(position, store)), default=0)
        back = position
        while (
            back > floor
            and position - back < BEHIND_EVENTS
            and store.bytes_between(back - 1, position) <= BEHIND_BYTES
        ):
            back -= 1
        return back

    def at(self, position: int, store: EventStore) -> Path:
        """The travel snapshot of ``position``, made from the nearest snapshot before it
        that is intact (or from nothing)."""
        if position > store.head_pos:
            raise PositionBeyondHead(position, store.head_pos)
        private_dir(self.folder)
        remove_partials(self.folder)
        for snap in self._bases(position, store):
            if snap.position == position and snap.kind == TRAVEL and snap.intact():
                snap.used()
                return snap.path
        tmp = temp_path(self.folder, str(position))
        try:
            base = self._copy_nearest(position, tmp, store)
            if base is None:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE))
            _fold(tmp, position, store)
            made = place(tmp, position, TRAVEL, store)
        except BaseException:
            remove_db(str(tmp))
            raise
        log.info("snapshot_made", position=position, base=None if base is None else base.position)
        self._evict(keep=made.path)
        return made.path

    def _bases(self, position: int, store: EventStore) -> Iterator[Snapshot]:
        """Snapshots at or before ``position`` of this log, folded with today's
        projections, nearest first."""
        projections = library_projections()
        marks: dict[int, str] = {}
        for snap in reversed(self.held()):
            if snap.position > position:
                continue
            if snap.position not in marks:
                marks[snap.position] = log_mark(store, snap.position)
            if snap.log != marks[snap.position]:
                continue  # of a log since restored or replaced
            if index_position(str(snap.path), projections) == snap.position:
                yield snap

    def _copy_nearest(self, position: int, tmp: Path, store: EventStore) -> Snapshot | None:
        """Copy the nearest intact snapshot into ``tmp`` (checked on the way)."""
        for base in self._bases(position, store):
            if _copy_checked(base, tmp):
                base.used()  # the low end of a bisect stays in the cache
                return base
            self._damaged(base)
        return None

    def _damaged(self, snap: Snapshot) -> None:
        log.warning("snapshot_damaged", position=snap.position, path=str(snap.path))
        remove_db(str(snap.path))

    def _evict(self, keep: Path) -> None:
        """Travels, least recently used first, until both bounds hold; never the one just
        made. The bytes count every snapshot: the node's are thinned by the node."""
        snaps = []
        total = 0
        for snap in self.held():
            try:
                st = snap.path.stat()
            except FileNotFoundError:
                continue  # another process evicted it
            total += st.st_size
            if snap.kind == TRAVEL:
                snaps.append((st.st_mtime_ns, st.st_size, snap.path))
        snaps.sort()
        count = len(snaps)
        for _, size, path in snaps:
            if count <= self.max_snapshots and total <= self.max_bytes:
                break
            if path == keep:
                continue
            remove_db(str(path))
            count -= 1
            total -= size


def _fold(path: Path, position: int, store: EventStore) -> None:
    """Fold the index file at ``path`` forward to ``position``; leave it one self-contained
    file."""
    runner = ProjectionRunner(path, library_projections(), CATALOG).open()
    try:
        # A file of this process's until it is placed (a fold killed halfway leaves a
        # temporary file, removed): no journal, nothing fsynced, its digest checked instead.
        runner.db.execute("PRAGMA journal_mode = OFF")
        runner.db.execute("PRAGMA synchronous = OFF")
        try:
            runner.catch_up(store, until=position)
        except RefoldNeeded:
            runner.refold(store, until=position)
        runner.db.execute("PRAGMA journal_mode = DELETE")
    finally:
        runner.close()


def _copy_checked(snap: Snapshot, tmp: Path) -> bool:
    """Copy ``snap`` to ``tmp``; False (and no ``tmp``) if its bytes are not its digest's
    (read on the way, unless this process knows it intact: then the kernel copies it)."""
    if snap.known_intact():
        try:
            shutil.copyfile(snap.path, tmp)
            os.chmod(tmp, PRIVATE_FILE)
            return True
        except FileNotFoundError:
            remove_db(str(tmp))
            return False
    hasher = blake3.blake3()
    try:
        before = snap.stamp()
        with (
            open(snap.path, "rb") as src,
            open(
                os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_FILE),
                "wb",
            ) as dst,
        ):
            while chunk := src.read(CHUNK):
                hasher.update(chunk)
                dst.write(chunk)
    except FileNotFoundError:
        remove_db(str(tmp))
        return False
    if hasher.hexdigest() != snap.digest:
        remove_db(str(tmp))
        return False
    try:
        if snap.stamp() == before:
            checked(snap.path, before)
    except FileNotFoundError:
        pass  # evicted meanwhile: the copy is whole all the same
    return True


class _Look:
    """A snapshot open for looks at positions on top of it, kept open by this process (a
    node answers every command): one transaction, never committed, with a savepoint after
    each event folded on top, so a look back is a rollback to one and a look forward folds
    only what lies between. The journal is in memory and the cache never spills: the file
    itself is never written."""

    def __init__(self, base: Snapshot) -> None:
        self.base = base
        self.lock = threading.Lock()
        self.db = watch(sqlite3.connect(base.path, isolation_level=None, check_same_thread=False))
        try:
            self.db.execute("PRAGMA journal_mode = MEMORY")
            self.db.execute("PRAGMA cache_spill = OFF")
            # As the Projector's: folds touch pages all over a large index.
            self.db.execute("PRAGMA cache_size = -65536")
            self.db.execute("PRAGMA busy_timeout = 30000")  # another process's look on it
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(f"SAVEPOINT at_{base.position}")
        except BaseException:
            self.close()
            raise
        self.position = base.position
        self.marks = [base.position]  # positions with a savepoint, in order
        self.broken = False

    def unchanged(self) -> bool:
        """Its base is as this process found it intact (marking it used keeps it so)."""
        return not self.broken and self.base.known_intact()

    @contextmanager
    def at(self, position: int, store: EventStore) -> Iterator[sqlite3.Connection | None]:
        """A query-only view of ``position`` (None if a revocation cuts what the base
        holds: it cannot be folded on top of)."""
        with self.lock:
            if self.broken:  # closed by another thread meanwhile
                yield None
                return
            try:
                self._move(position, store)
            except RefoldNeeded:
                self.broken = True
                yield None
                return
            except BaseException:
                self.broken = True
                raise
            self.db.execute("PRAGMA query_only = 1")
            try:
                yield self.db
            finally:
                if self.db.in_transaction:
                    self.db.execute("PRAGMA query_only = 0")
                else:
                    self.broken = True  # a statement ended the transaction: start again

    def _move(self, position: int, store: EventStore) -> None:
        db = self.db
        if position < self.position:
            # Back to the last savepoint at or before it (a batch may hold several events).
            while self.marks[-1] > position:
                self.marks.pop()
            db.execute(f"ROLLBACK TO at_{self.marks[-1]}")
            self.position = self.marks[-1]
        if position == self.position:
            return

        def mark(checkpoint: int) -> None:
            db.execute(f"SAVEPOINT at_{checkpoint}")
            self.marks.append(checkpoint)
            self.position = checkpoint

        runner = ProjectionRunner.within(db, library_projections(), CATALOG)
        runner.batch_size = 1  # a savepoint after each event
        runner.catch_up(store, until=position, on_batch=mark)

    def close(self) -> None:
        self.broken = True
        self.db.close()


# The looks this process keeps open, one per library: a node answers a second look near the
# first from memory.
_looks: dict[str, _Look] = {}
_looks_lock = threading.Lock()


def _look_on(config: LibraryConfig, base: Snapshot) -> _Look | None:
    """This process's look on ``base`` (opened if need be); None if ``base`` is damaged."""
    with _looks_lock:
        look = _looks.get(config.id)
        if look is not None and look.base.path == base.path and look.unchanged():
            return look
        if look is not None:
            with look.lock:
                look.close()
            del _looks[config.id]
        if not base.intact():
            return None
        look = _looks[config.id] = _Look(base)
        return look


def close_looks() -> None:
    """Close every look this process holds. Each holds its snapshot's write lock (its
    transaction) for as long as it lives, which a process running one command ends with it;
    a process that goes on after running commands in itself (the tests' in-process ``sd``)
    closes them, or another process's look on the same snapshot waits, then fails."""
    with _looks_lock:
        for look in _looks.values():
            with look.lock:
                look.close()
        _looks.clear()


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

    def __init__(self, config: LibraryConfig, position: int) -> None:
        super().__init__(config)
        self.position = position

    @contextmanager
    def index(self) -> Iterator[sqlite3.Connection]:
        with SnapshotCache(self.config).state(self.position) as db:
            yield db


def reader_at(lib: LibraryReader, position: int | None) -> LibraryReader:
    """``lib`` itself for the present, else its read models as they were at ``position``."""
    if position is None:
        return lib
    return SnapshotReader(lib.config, position)
