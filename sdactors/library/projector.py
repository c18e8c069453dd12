"""The Projector: keeps a library's index.db folded up to the log.

It is told to catch up whenever the bus reports committed events, and it folds by reading the
log itself from its checkpoint, never from the notification: a notification may be late or
lost (a restart), the log is always right.

It also owns the one way the index is replaced: **rebuild and swap** (:class:`Rebuild`, which
``Library.rebuild_index`` sends). The whole log is folded into a scratch file beside the
index (in a thread of its own in a node, so the actor goes on answering); only when that
file is complete is it swapped in with one rename, and what the log gained meanwhile is
folded into it. Readers never see a half-built file. A live index that is not damaged goes
on being folded and read until the swap; a damaged one is neither (reads get the rebuild's
progress). A full disk or a damaged index met while folding is recorded in the library's
health and answered, never crashed on: the fold resumes when space returns, the damage is
rebuilt.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from dataclasses import dataclass, field

import pykka

from events.checkpoint import WalCheckpointer
from events.domain import CATALOG
from events.sqlite_faults import disk_full, file_damaged
from events.store import EventStore
from projections.catalog import library_projections
from projections.errors import AheadOfLog, IndexDamaged, RefoldNeeded
from projections.rebuild import (
    RebuildResult,
    fold_into,
    remove_db,
    remove_scratch,
    scratch_path,
    swap_in,
)
from projections.runner import ProjectionRunner
from sdactors.library.health import LibraryHealth
from sdactors.library.snapshots import NodeSnapshots
from sdactors.runtime.errors import ActorFailed, DiskFull, IndexRebuildFailed, IndexRebuilding
from sdactors.runtime.logs import get_logger
from sdactors.runtime.mailbox import Later
from sdactors.runtime.supervisor import CrashHook, SupervisedActor

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CatchUp:
    """Fold what is new; asked, it answers with the checkpoint reached."""


@dataclass(frozen=True, slots=True)
class Committed:
    """Told by the bus: the log grew. Folded soon, not necessarily at once (see below)."""


@dataclass(frozen=True, slots=True)
class Rebuild:
    """Fold the whole log into a new index and swap it in; asked, the answer is the
    :class:`RebuildResult` once swapped in. ``damaged``: the live index must not be read or
    folded any more. A rebuild asked for while one runs joins it (what the log gains
    meanwhile is folded after the swap, by the same folds)."""

    reason: str
    damaged: bool = False


@dataclass(frozen=True, slots=True)
class Digest:
    """Answers the digest of the index, after catching up."""


_serials = itertools.count(1)


@dataclass(eq=False)
class _Building:
    """A rebuild under way: the actor's own state, never sent."""

    reason: str
    path: str
    serial: int = field(default_factory=lambda: next(_serials))
    cancel: threading.Event = field(default_factory=threading.Event)
    waiters: list[Later] = field(default_factory=list)
    thread: threading.Thread | None = None


@dataclass(frozen=True, slots=True)
class _Built:
    """Told by a rebuild's thread when its fold (of rebuild ``serial``, into ``path``) has
    ended."""

    serial: int
    path: str
    result: RebuildResult | None
    error: BaseException | None


class _Cancelled(Exception):
    """A rebuild stopped because the Projector is stopping."""


# Under a stream of commits, fold at most this often: a fold per commit would cost more
# (a transaction and the per-batch work of every projection each time) and compete with the
# writers for the interpreter. Anyone who needs the index current asks (CatchUp) and gets it.
FOLD_INTERVAL_S = 0.01
# And at least this many times as long as the last fold took, up to FOLD_SPACING_MAX: under
# a bulk stream (a first index, a joining device) a fold then takes many commits at once.
# Each fold rewrites every index page its entries land on, and content ids land at random:
# at a million entries, folds of 16 commits cost 28% less CPU than folds of 4 (23.4 s ->
# 16.9 s for 1M entries); a first index of 100k files, 1.47 s -> 1.19 s of the Projector's
# CPU. The cap bounds what a fold holds in memory: 1 s cost 70 MB more peak RSS at 100k
# files, 0.25 s 30 MB, for the same CPU. A quiet library's folds (a millisecond) stay 10 ms
# apart.
FOLD_SPACING = 4
FOLD_SPACING_MAX = 0.25
# How long stopping waits for a rebuild's thread to notice (it looks between batches).
REBUILD_STOP_S = 5.0
# What a fold answers instead of crashing: recorded in the library's health, and folded again
# when the cause passes (space freed, the index rebuilt).
_ANSWERED = (DiskFull, IndexRebuilding, IndexRebuildFailed)


class Projector(SupervisedActor):
    def __init__(
        self,
        events_path: str,
        index_path: str,
        health: LibraryHealth,
        background: bool = False,
        on_crash: CrashHook | None = None,
        snapshots: NodeSnapshots | None = None,
    ) -> None:
        """``background``: rebuild in a thread while the actor answers (a node's library);
        otherwise a rebuild is done before the next message (one command's process).
        ``snapshots``: take the index's snapshots as it folds (a node's library)."""
        super().__init__(on_crash)
        self._snapshots = snapshots
        self._events_path = events_path
        self._index_path = index_path
        self._health = health
        self._background = background
        self._last_fold = 0.0
        self._last_fold_took = 0.0
        self._timer: threading.Timer | None = None
        self._runner: ProjectionRunner | None = None
        self._checkpointer: WalCheckpointer | None = None
        self._building: _Building | None = None
        # A rebuild a full disk stopped: started again when the log grows or space returns.
        self._wanted: str | None = None

    def started(self) -> None:
        self._store = EventStore(self._events_path)
        remove_scratch(self._index_path)  # this process holds the lock: nobody else rebuilds
        damaged = self._health.damaged
        if damaged is not None:  # a rebuild the previous instance of this actor left undone
            self._rebuild(f"the index is damaged: {damaged}")
        try:
            self._fold()
        except _ANSWERED:
            pass  # recorded in the library's health: a full disk, a rebuild under way

    def on_stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._stop_rebuild()
        try:
            self._fold()
        except _ANSWERED:
            pass
        if self._snapshots is not None:
            self._snapshots.stop(REBUILD_STOP_S)
        self._close_runner()
        self._store.close()

    def crashed(self, error: BaseException) -> None:
        self._stop_rebuild()
        # The instance that replaces this one opens the index anew: this one's connection and
        # its WAL checkpointer thread would otherwise outlive it.
        self._close_runner()

    def on_receive(self, message: object) -> object:
        if isinstance(message, Committed):
            if self._wanted is not None and self._building is None:
                reason, self._wanted = self._wanted, None
                self._rebuild(reason)
            try:
                self._soon()
            except _ANSWERED:
                pass  # recorded in the library's health; folded when the cause passes
            return None
        if isinstance(message, CatchUp):
            return self._fold()
        if isinstance(message, Digest):
            self._fold()
            try:
                return self._live().digest()
            except sqlite3.Error as exc:
                if not self._fault(exc):
                    raise
                return self._live().digest()
        if isinstance(message, Rebuild):
            if message.damaged:
                self._damaged(message.reason)
            answer = Later()
            self._rebuild(message.reason, answer)
            return answer
        if isinstance(message, _Built):
            self._built(message)
            return None
        raise TypeError(f"Projector got an unexpected message: {message!r}")

    # -- folding ----------------------------------------------------------------------------

    def _soon(self) -> None:
        """Fold now if the last fold is old enough, else once the interval has passed."""
        spacing = min(FOLD_SPACING_MAX, max(FOLD_INTERVAL_S, FOLD_SPACING * self._last_fold_took))
        wait = self._last_fold + spacing - time.monotonic()
        if wait <= 0:
            self._fold()
        elif self._timer is None:
            self._timer = threading.Timer(wait, self._wake)
            self._timer.daemon = True
            self._timer.start()

    def _wake(self) -> None:
        self._timer = None
        try:
            self.actor_ref.tell(Committed())
        except pykka.ActorDeadError:
            pass

    def _fold(self) -> int:
        """Fold what the log has past the checkpoint; returns the checkpoint. A full disk
        raises DiskFull; a damaged index (or one ahead of its log) is replaced: meanwhile
        IndexRebuilding is raised, except in a command's process, which rebuilds first."""
        runner = self._live()
        self._store.refresh()
        started = time.monotonic()
        try:
            before = runner.checkpoint if self._health.full else None
            checkpoint = runner.catch_up(self._store)
        except RefoldNeeded as exc:
            # A revocation cut events the live index already folded: it cannot unfold them.
            # Fold the whole log anew beside it (reads use the old one meanwhile); until the
            # swap, folding the old one would stop at the same batch again.
            log.info("index_refold", reason=str(exc))
            self._rebuild(str(exc))
            if not self._background:
                return self._fold()
            return runner.checkpoint
        except AheadOfLog as exc:
            self._replace(str(exc))
            return self._fold()
        except sqlite3.Error as exc:
            if not self._fault(exc):
                raise
            return self._fold()
        if before is not None and checkpoint > before:
            self._health.wrote()
        self._last_fold = time.monotonic()
        self._last_fold_took = self._last_fold - started
        if self._snapshots is not None and self._health.damaged is None:
            self._snapshots.folded(checkpoint, self._store)
        return checkpoint

    def _live(self) -> ProjectionRunner:
        """The live index's runner, opened if need be; a damaged index is refused."""
        self._health.check_readable()
        if self._runner is None:
            try:
                self._open_runner()
            except IndexDamaged as exc:
                self._replace(exc.detail)
            except sqlite3.Error as exc:
                if disk_full(exc):
                    raise self._health.disk_full() from None
                raise
        assert self._runner is not None
        return self._runner

    def _fault(self, exc: sqlite3.Error) -> bool:
        """A full disk raises the user's line; a damaged index is replaced (True once it is,
        in a command's process; in a node, what reads get meanwhile is raised). False: the
        error is none of these, for the caller to raise."""
        if disk_full(exc):
            raise self._health.disk_full() from None
        if file_damaged(exc):
            self._replace(str(exc))
            return True
        return False

    def _replace(self, detail: str) -> None:
        """Rebuild a live index that cannot be used; returns once it is replaced (a command's
        process), else raises what reads get until then."""
        self._damaged(detail)
        self._rebuild(f"the index is damaged: {detail}")
        self._health.check_readable()

    def _damaged(self, detail: str) -> None:
        """Never fold into, nor read, the live index again: it is to be replaced."""
        self._health.index_damaged(detail)
        self._close_runner()

    def _open_runner(self) -> None:
        """Open the live index, its WAL checkpointed by a thread of its own rather than by
        the fold's commits: a checkpoint inside a commit holds the fold (and, at a million
        entries, the interpreter) while pages are copied and synced (fold CPU of 1M entries
        23.4 s -> 20.0 s without them)."""
        runner = ProjectionRunner(self._index_path, library_projections(), CATALOG).open()
        runner.db.execute("PRAGMA wal_autocheckpoint = 0")
        self._runner = runner
        self._checkpointer = WalCheckpointer(self._index_path).start()

    def _close_runner(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    # -- rebuild and swap -------------------------------------------------------------------

    def _rebuild(self, reason: str, reply: Later | None = None) -> None:
        """Start a rebuild, or join the one under way; in a command's process, do it now."""
        building = self._building
        if building is None:
            building = self._building = self._start(reason)
        if reply is not None:
            building.waiters.append(reply)
        if not self._background:
            self._built(self._fold_scratch(building))

    def _start(self, reason: str) -> _Building:
        self._wanted = None
        self._store.refresh()
        building = _Building(reason, scratch_path(self._index_path))
        self._health.rebuild_started(reason, self._store.head_pos)
        if self._background:
            building.thread = threading.Thread(
                target=self._fold_in_thread, args=(building,), name="index-rebuild", daemon=True
            )
            building.thread.start()
        return building

    def _fold_scratch(self, building: _Building) -> _Built:
        """Fold the whole log into the scratch file (in any thread: it touches nothing
        else of the actor's)."""

        def on_batch(position: int) -> None:
            if building.cancel.is_set():
                raise _Cancelled()
            self._health.rebuild_progress(position)

        store = None
        try:
            remove_db(building.path)
            store = EventStore(self._events_path, readonly=True)
            folded = fold_into(
                building.path, store, library_projections(), CATALOG, on_batch=on_batch
            )
            return _Built(building.serial, building.path, folded, None)
        except Exception as exc:  # noqa: BLE001 - the actor decides what it means
            return _Built(building.serial, building.path, None, exc)
        finally:
            if store is not None:
                store.close()

    def _fold_in_thread(self, building: _Building) -> None:
        built = self._fold_scratch(building)
        try:
            self.actor_ref.tell(built)
        except pykka.ActorDeadError:
            remove_db(building.path)

    def _built(self, message: _Built) -> None:
        """Swap a complete fold in and catch it up; or tell the waiters why there is none."""
        building = self._building
        if building is None or building.serial != message.serial:
            if building is None:
                remove_db(message.path)  # stopped meanwhile
            return
        self._building = None
        error = message.error
        if error is None:
            assert message.result is not None
            try:
                result = self._swap(building, message.result)
            except Exception as exc:  # noqa: BLE001 - answered below, like a failed fold
                error = exc
        if error is not None:
            remove_db(building.path)
            self._not_built(building, error)
            return
        self._health.rebuild_done(result)
        for waiter in building.waiters:
            waiter.set(result)
        try:
            self._fold()  # what the log gained while the scratch file was folded
        except _ANSWERED:
            pass

    def _swap(self, building: _Building, folded: RebuildResult) -> RebuildResult:
        self._close_runner()
        with self._health.index_swap:
            swap_in(building.path, self._index_path)
        self._open_runner()
        return RebuildResult(folded.digest, folded.events, folded.checkpoint, self._index_path)

    def _not_built(self, building: _Building, error: BaseException) -> None:
        answer: BaseException = error
        if isinstance(error, _Cancelled):
            answer = ActorFailed("the rebuild stopped with its library; it starts again with it")
            self._health.rebuild_failed(None)
        elif disk_full(error):
            answer = self._health.disk_full()
            self._health.rebuild_failed(None)
            self._wanted = building.reason
        else:
            self._health.rebuild_failed(f"{type(error).__name__}: {error}")
        for waiter in building.waiters:
            waiter.set_exception(exc_info=(type(answer), answer, answer.__traceback__))

    def _stop_rebuild(self) -> None:
        building, self._building = self._building, None
        if building is None:
            return
        building.cancel.set()
        if building.thread is not None:
            building.thread.join(REBUILD_STOP_S)
        remove_db(building.path)
        self._not_built(building, _Cancelled())
