"""The Indexer: runs index jobs for one library, one at a time.

It owns what must not be shared between two jobs: the counter that gives this device's new
entries their eids, and the pool of identity workers (kept warm between jobs). A job runs in
this actor's thread; its batches go to the Journal with a bounded number awaiting commit, so
the walk never waits for a disk flush but also never runs far ahead of the log.
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from events.domain import CATALOG
from events.domain.jobs import JobCompleted, JobFailed, JobStarted
from events.writer import Draft
from projections.files_query import IndexView, LocationRow, location_row
from sdactors.actors.journal import Append
from sdactors.errors import LocationIsOffline, LocationNotFound
from sdactors.indexer.identify import Identifier
from sdactors.indexer.job import IndexJob, JobStats
from sdactors.indexer.priority import lower_priority
from sdactors.indexer.rules import Rules
from sdactors.logs import get_logger
from sdactors.mailbox import Reply
from sdactors.paths import show
from sdactors.supervisor import CrashHook, SupervisedActor
from sdactors.volumes.presence import look, recorded_changes

if TYPE_CHECKING:
    from sdactors.library import Library

log = get_logger(__name__)

# Batches sent to the Journal and not yet acknowledged.
COMMIT_WINDOW = 8


@dataclass(frozen=True, slots=True)
class IndexLocation:
    """Ask: index (or rescan) a location; the answer is the run's JobStats.

    With ``confirm_deletions``, a run that would delete most of the location goes ahead
    (else it raises :class:`sdactors.errors.DeletionsHeld`)."""

    location: bytes
    progress: Callable[[JobStats], None] | None = None
    confirm_deletions: bool = False


@dataclass(frozen=True, slots=True)
class RescanFolders:
    """Ask: rescan only ``folders`` (absolute paths inside the location) and what is new or
    changed below them; the answer is the run's JobStats. What a watcher sends."""

    location: bytes
    folders: tuple[bytes, ...]
    progress: Callable[[JobStats], None] | None = None
    confirm_deletions: bool = False


class Indexer(SupervisedActor):
    def __init__(
        self, library: "Library", cancel: threading.Event, on_crash: CrashHook | None = None
    ) -> None:
        super().__init__(on_crash)
        self._library = library
        self._cancel = cancel
        self._identifier = Identifier()
        self._next_eid: int | None = None

    def started(self) -> None:
        lower_priority()  # this actor's thread is the indexing thread

    def on_stop(self) -> None:
        self._identifier.close()

    def crashed(self, error: BaseException) -> None:
        self._identifier.close()

    def on_receive(self, message: object) -> object:
        if isinstance(message, IndexLocation):
            return self._index(message.location, None, message.progress, message.confirm_deletions)
        if isinstance(message, RescanFolders):
            return self._index(
                message.location, message.folders, message.progress, message.confirm_deletions
            )
        raise TypeError(f"Indexer got an unexpected message: {message!r}")

    def _eid(self) -> int:
        assert self._next_eid is not None
        self._next_eid += 1
        return self._next_eid

    def _index(
        self,
        location: bytes,
        folders: Sequence[bytes] | None,
        progress: Callable[[JobStats], None] | None,
        confirm_deletions: bool,
    ) -> JobStats:
        lib = self._library
        lib.catch_up()
        job_id = os.urandom(16)
        with lib.index() as db:
            row = location_row(db, lib.device, location)
        if row is None:
            raise LocationNotFound(location.hex())
        self._check_presence(row)
        path = row.path
        with lib.index() as db:
            rules = Rules.from_dict(json.loads(row.rules))
            # Rules written by an older version (or by hand) may not compile: say so now,
            # before a job is started for them.
            rules.check(show(path))
            view = IndexView(db, lib.device)
            if self._next_eid is None:
                self._next_eid = view.max_eid()
            emitter = _Emitter(lib)
            emitter.emit([CATALOG.body(JobStarted(job_id, "index", location))])
            self._cancel.clear()
            job = IndexJob(
                location,
                path,
                rules,
                view,
                emitter.emit,
                self._eid,
                self._identifier,
                progress,
                self._cancel,
                folders,
                confirm_deletions,
            )
            try:
                stats = job.run()
            except BaseException as exc:
                emitter.drain(raise_errors=False)
                lib.append([CATALOG.body(JobFailed(job_id, f"{type(exc).__name__}: {exc}"[:500]))])
                # A job that died half-way may have used eids the log never got: start the
                # counter again from the index.
                self._next_eid = None
                raise
            emitter.emit([CATALOG.body(JobCompleted(job_id, stats.as_dict()))])
            emitter.drain()
        lib.catch_up()
        log.info(
            "index_job_done",
            location=location.hex(),
            folders=None if folders is None else len(folders),
            **stats.as_dict(),
        )
        return stats

    def _check_presence(self, row: LocationRow) -> None:
        """Record whether the location's volume is there; raise if it is not, before
        anything is compared: an absent volume must never read as deleted files."""
        presence = look(row)
        changes = recorded_changes(row, presence)
        if changes:
            self._library.append_typed(*changes)
            self._library.catch_up()
            log.info("location_presence", location=row.location.hex(), offline=presence.offline)
        if presence.offline is not None:
            raise LocationIsOffline(show(row.path), presence.offline)


class _Emitter:
    """Sends batches to the Journal, keeping at most COMMIT_WINDOW unacknowledged."""

    def __init__(self, lib: "Library") -> None:
        self._journal = lib.supervisor.live_ref("journal")
        self._waiting: deque[Reply] = deque()

    def emit(self, drafts: list[Draft]) -> None:
        reply = Reply()
        self._journal.tell(Append(tuple(drafts), reply))
        self._waiting.append(reply)
        while len(self._waiting) > COMMIT_WINDOW:
            self._waiting.popleft().get(timeout=600)

    def drain(self, raise_errors: bool = True) -> None:
        while self._waiting:
            reply = self._waiting.popleft()
            try:
                reply.get(timeout=600)
            except Exception:
                if raise_errors:
                    raise
