"""The JobManager: runs one library's durable jobs side by side, never blocking itself.

A job's life is events: ``job.queued`` (what it is to do), ``job.started``, checkpoints at
batch boundaries, and one end (``completed``, ``failed``, ``cancelled``), or ``paused`` (by
the user, or held: a rescan that would delete most of its location) until ``resumed``.
Progress between checkpoints is status, kept here, never an event.

Jobs run in a pool of ``limit`` threads (at low CPU and I/O priority); this actor only
schedules, records and answers, so a status request is answered during a full index. Two
jobs of one location never run at once: the later waits. A watcher's rescans are jobs that
are not recorded (they are redone whenever needed); bursts for one location merge while they
wait. A job the node was running when it stopped, or crashed, is still ``running`` in the
log: :class:`ResumeUnfinished` (sent by the node as it starts) runs it again, from what its
committed batches already put in the index.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import pykka

from events.domain.jobs import JobCancelled, JobFailed, JobPaused, JobQueued, JobResumed
from projections.files.query import IndexView
from projections.jobs import PAUSED, QUEUED, RUNNING, jobs_of
from sdactors.indexer.identify import Identifier
from sdactors.indexer.job import JobCancelled as RunCancelled
from sdactors.indexer.priority import lower_priority
from sdactors.jobs.files import LEFTOVERS, run_remove, run_restore, run_transfer
from sdactors.jobs.index import run_index
from sdactors.jobs.media import run_media
from sdactors.jobs.run import Eids, JobRun
from sdactors.jobs.vectors import run_vectors
from sdactors.runtime.errors import (
    DeletionsHeld,
    DiskFull,
    IndexRebuildFailed,
    IndexRebuilding,
    JobNotFound,
    JobStateRefused,
    JobStopped,
    SdError,
)
from sdactors.runtime.logs import get_logger
from sdactors.runtime.mailbox import Later
from sdactors.runtime.progress import ProgressChannels
from sdactors.runtime.supervisor import CrashHook, SupervisedActor

if TYPE_CHECKING:
    from sdactors.jobs.port import JobLibrary

log = get_logger(__name__)

JOB_ID_LEN = 16
# Jobs of one library that run at once.
DEFAULT_LIMIT = 2
# What each kind of job runs.
KINDS: dict[str, Callable[[JobRun], Any]] = {
    "index": run_index,
    "copy": run_transfer,
    "move": run_transfer,
    "remove": run_remove,
    "restore": run_restore,
    "media": run_media,
    "vectors": run_vectors,
}
# Kinds that run beside the others, never holding up an index: not counted against the
# library's limit nor as their location's job, and at most BACKGROUND_LIMIT at once.
BACKGROUND = frozenset({"media", "vectors"})
BACKGROUND_LIMIT = 1


@dataclass(frozen=True, slots=True)
class Submit:
    """Queue a job; asked, the answer is its result when it ends (or its error). Its
    progress is posted to the channel ``progress`` (``sdactors.runtime.progress``)."""

    kind: str
    location: bytes
    params: dict[str, Any]
    progress: str | None = None
    recorded: bool = True
    confirmed: bool = False


@dataclass(frozen=True, slots=True)
class Pause:
    """Asked, the answer is the job's state."""

    job: bytes


@dataclass(frozen=True, slots=True)
class Resume:
    """Resume a paused job; ``confirmed`` lets a held rescan delete. The answer is the job's
    state at once, or (``wait``) its result when it ends; its progress goes to the channel
    ``progress``."""

    job: bytes
    confirmed: bool = False
    wait: bool = False
    progress: str | None = None


@dataclass(frozen=True, slots=True)
class Cancel:
    """Asked, the answer is the job's state."""

    job: bytes


@dataclass(frozen=True, slots=True)
class ResumeUnfinished:
    """Queue again every job of this device the log says was queued or running."""


@dataclass(frozen=True, slots=True)
class _Ended:
    """Told by a job's thread: what it returned, or its error."""

    job: bytes
    result: Any
    error: BaseException | None


@dataclass(eq=False)
class Live:
    """A job queued or running here: what ``sd jobs`` and ``sd node status`` show of it."""

    job: bytes
    kind: str
    location: bytes
    params: dict[str, Any]
    recorded: bool
    confirmed: bool
    state: str = QUEUED
    cancel: threading.Event = field(default_factory=threading.Event)
    # Why it is being stopped: "pause", "cancel" or "shutdown".
    stopping: str | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    started: float | None = None
    # Entries the location held when it started: how far a rescan has to go.
    expected: int | None = None
    waiters: list[Later] = field(default_factory=list)
    # The progress channels of those waiting on it.
    listeners: list[str] = field(default_factory=list)
    # The action a killed process left waiting on this job, resumed since: it ends with it.
    action: bytes | None = None

    def status(self) -> dict[str, Any]:
        done = int(self.counts.get("files", 0)) + int(self.counts.get("dirs", 0))
        elapsed = time.monotonic() - self.started if self.started is not None else 0.0
        rate = done / elapsed if elapsed > 0 else 0.0
        left = None
        if self.expected and rate > 0 and done < self.expected:
            left = round((self.expected - done) / rate, 1)
        return {
            "id": self.job.hex(),
            "kind": self.kind,
            "location": self.location.hex(),
            "state": self.state,
            "recorded": self.recorded,
            "done": done,
            "expected": self.expected,
            "rate_per_s": round(rate, 1),
            "eta_s": left,
            "counts": dict(self.counts),
        }


class JobBoard:
    """The live jobs of one library, readable from any thread without asking the actor."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[bytes, Live] = {}

    def put(self, live: Live) -> None:
        with self._lock:
            self._jobs[live.job] = live

    def drop(self, job: bytes) -> None:
        with self._lock:
            self._jobs.pop(job, None)

    def get(self, job: bytes) -> Live | None:
        with self._lock:
            return self._jobs.get(job)

    def all(self) -> list[Live]:
        with self._lock:
            return list(self._jobs.values())

    def snapshot(self) -> list[dict[str, Any]]:
        return [live.status() for live in self.all()]


class JobManager(SupervisedActor):
    def __init__(
        self,
        library: JobLibrary,
        board: JobBoard,
        progress: ProgressChannels,
        limit: int = DEFAULT_LIMIT,
        pause_on_stop: bool = False,
        on_crash: CrashHook | None = None,
        media: bool = False,
    ) -> None:
        """``media``: queue a location's media job whenever an index job of it has brought
        new or changed files (and after its first index job here), and the vectors job of
        the library: a node's."""
        super().__init__(on_crash)
        self._pause_on_stop = pause_on_stop
        self._media = media
        # Locations whose media job was queued since this manager started.
        self._media_seen: set[bytes] = set()
        # And whose index was followed by the vectors job.
        self._vectors_seen: set[bytes] = set()
        # Set while no job but background ones runs (JobRun.quiet).
        self._quiet = threading.Event()
        self._quiet.set()
        self._lib = library
        self._board = board
        self._progress = progress
        self._limit = limit
        self._queue: list[Live] = []
        self._running: dict[bytes, Live] = {}
        self._eids = Eids()
        self._identifier = Identifier()
        self._pool = ThreadPoolExecutor(
            limit + BACKGROUND_LIMIT, thread_name_prefix="job", initializer=lower_priority
        )

    def on_stop(self) -> None:
        self._shutdown()

    def crashed(self, error: BaseException) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        """Stop every job at its next batch boundary; what they committed stays. A node's
        jobs stay running in the log, so the next node start resumes them; a command's
        (interrupted) are recorded paused."""
        for live in list(self._running.values()):
            live.stopping = "shutdown"
            live.cancel.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._identifier.close()
        for live in [*self._queue, *self._running.values()]:
            how = "stopped with the node: it resumes when the node starts"
            if self._pause_on_stop and live.recorded:
                how = f"interrupted: resume it with 'sd jobs resume {live.job.hex()[:12]}'"
                try:
                    self._record(JobPaused(live.job, "interrupted"))
                except Exception as exc:  # noqa: BLE001 - stopping: say it, go on
                    log.warning("job_pause_not_recorded", job=live.job.hex(), error=str(exc))
            self._fail_waiters(live, JobStopped(live.job, how))
            self._board.drop(live.job)
        self._queue.clear()
        self._running.clear()

    # -- messages -------------------------------------------------------------------------------

    def on_receive(self, message: object) -> object:
        """Raised (a job that cannot be paused, say), an error is the asker's answer."""
        try:
            if isinstance(message, _Ended):
                return self._ended(message)
            if isinstance(message, Submit):
                return self._submit(message)
            if isinstance(message, Pause):
                return self._pause(message.job)
            if isinstance(message, Resume):
                return self._resume(message)
            if isinstance(message, Cancel):
                return self._cancel(message.job)
            if isinstance(message, ResumeUnfinished):
                return self._resume_unfinished()
            raise TypeError(f"JobManager got an unexpected message: {message!r}")
        finally:
            self._pump()

    def _submit(self, message: Submit) -> Later | None:
        if not message.recorded:
            # A watcher's rescan: merge with one of that location waiting its turn (an index:
            # a media or vectors job waiting there is no rescan, and would swallow it).
            for live in self._queue:
                if (
                    live.location == message.location
                    and live.kind == message.kind
                    and not live.recorded
                ):
                    live.params = _merged(live.params, message.params)
                    return None
        job = os.urandom(JOB_ID_LEN)
        live = Live(
            job,
            message.kind,
            message.location,
            dict(message.params),
            message.recorded,
            message.confirmed,
        )
        answer = Later()
        live.waiters.append(answer)
        if message.progress is not None:
            live.listeners.append(message.progress)
        if message.recorded:
            try:
                self._lib.append_typed(JobQueued(job, message.kind, message.location, live.params))
            except Exception as exc:  # noqa: BLE001 - the asker gets it (told: nobody waits)
                answer.set_exception(exc_info=(type(exc), exc, exc.__traceback__))
                return answer
        self._queue.append(live)
        self._board.put(live)
        return answer

    def _pause(self, job: bytes) -> dict[str, Any]:
        live = self._find_live(job)
        if live is None:
            row = self._row(job)
            if row.state != PAUSED:
                raise JobStateRefused(job, row.state, "paused")
            return {"id": job.hex(), "state": PAUSED}
        if live in self._queue:
            self._queue.remove(live)
            self._record(JobPaused(job, "paused by the user"))
            self._fail_waiters(live, JobStopped(job, "paused: resume it with 'sd jobs resume'"))
            self._board.drop(job)
            return {"id": job.hex(), "state": PAUSED}
        live.stopping = "pause"
        live.cancel.set()
        return {"id": job.hex(), "state": "pausing"}

    def _resume(self, message: Resume) -> dict[str, Any] | Later:
        job = message.job
        live = self._find_live(job)
        if live is not None:
            raise JobStateRefused(job, live.state, "resumed")
        row = self._row(job)
        if row.state != PAUSED:
            raise JobStateRefused(job, row.state, "resumed")
        assert row.kind is not None and row.location is not None
        self._record(JobResumed(job, "confirmed" if message.confirmed else "user"))
        live = Live(job, row.kind, row.location, row.params, True, message.confirmed)
        if message.progress is not None:
            live.listeners.append(message.progress)
        self._queue.append(live)
        self._board.put(live)
        if message.wait:
            answer = Later()
            live.waiters.append(answer)
            return answer
        return {"id": job.hex(), "state": QUEUED}

    def _cancel(self, job: bytes) -> dict[str, Any]:
        live = self._find_live(job)
        if live is None:
            row = self._row(job)
            if row.state not in (PAUSED, QUEUED, RUNNING):
                raise JobStateRefused(job, row.state, "cancelled")
            self._record(JobCancelled(job))
            self._abandoned(job, row.kind, row.params)
            return {"id": job.hex(), "state": "cancelled"}
        if live in self._queue:
            self._queue.remove(live)
            self._record(JobCancelled(job))
            self._abandoned(live.job, live.kind, live.params)
            self._close_action(live, error="cancelled")
            self._fail_waiters(live, JobStopped(job, "cancelled"))
            self._board.drop(job)
            return {"id": job.hex(), "state": "cancelled"}
        live.stopping = "cancel"
        live.cancel.set()
        return {"id": job.hex(), "state": "cancelling"}

    def _resume_unfinished(self) -> None:
        try:
            self._lib.catch_up()
            with self._lib.index() as db:
                rows = jobs_of(db, self._lib.device, (QUEUED, RUNNING))
        except (DiskFull, IndexRebuilding, IndexRebuildFailed) as exc:
            # Asked again when the library recovers (space freed, the index rebuilt).
            log.warning("jobs_not_resumed", error=str(exc))
            return
        for row in rows:
            if self._find_live(row.job) is not None or row.kind not in KINDS:
                continue
            assert row.location is not None
            self._record(JobResumed(row.job, "restart"))
            live = Live(row.job, row.kind, row.location, row.params, True, False)
            action = row.params.get("action")
            live.action = action if isinstance(action, bytes) else None
            self._queue.append(live)
            self._board.put(live)
            log.info("job_resumed", job=row.job.hex(), kind=row.kind)

    # -- running --------------------------------------------------------------------------------

    def _pump(self) -> None:
        """Start queued jobs while there is room, oldest first, one per location; a
        background job in a room of its own."""
        running = list(self._running.values())
        busy = {live.location for live in running if live.kind not in BACKGROUND}
        foreground = len(busy)
        background = len(running) - foreground
        for live in list(self._queue):
            if live.kind in BACKGROUND:
                if background >= BACKGROUND_LIMIT:
                    continue
                background += 1
            else:
                if foreground >= self._limit or live.location in busy:
                    continue
                foreground += 1
                busy.add(live.location)
            self._queue.remove(live)
            self._start(live)
        if any(live.kind not in BACKGROUND for live in self._running.values()):
            self._quiet.clear()
        else:
            self._quiet.set()

    def _start(self, live: Live) -> None:
        live.state, live.started = RUNNING, time.monotonic()
        live.expected = self._expected(live)
        self._running[live.job] = live

        def report(counts: dict[str, Any]) -> None:
            live.counts = counts
            if "total" in counts:
                live.expected = counts["total"]
            if live.listeners:
                status = live.status()
                for channel in live.listeners:
                    self._progress.post(channel, {**counts, "progress": status})

        run = JobRun(
            self._lib,
            live.job,
            live.kind,
            live.location,
            live.params,
            live.recorded,
            live.cancel,
            self._eids,
            self._identifier,
            report,
            live.confirmed,
            lambda: self._promote(live),
            self._quiet,
        )
        future = self._pool.submit(KINDS[live.kind], run)
        me = self.actor_ref

        def ended(f: Future) -> None:
            error = f.exception()
            try:
                me.tell(_Ended(live.job, None if error is not None else f.result(), error))
            except pykka.ActorDeadError:
                pass  # stopping: the shutdown accounts for it

        future.add_done_callback(ended)

    def _expected(self, live: Live) -> int | None:
        if live.kind != "index" or live.params.get("folders"):
            return None
        try:
            with self._lib.index() as db:
                return IndexView(db, self._lib.device).entry_count(live.location) or None
        except SdError:
            return None  # an index being rebuilt: the job itself will say so

    def _ended(self, message: _Ended) -> None:
        job = message.job
        live = self._running.pop(job, None)
        if live is None:
            return
        self._board.drop(job)
        error = message.error
        if error is None:
            result = message.result
            self._close_action(live, {"job": job.hex(), "resumed": True, "result": result})
            for waiter in live.waiters:
                waiter.set(result)
            if live.kind == "index":
                self._media_after(live.location, result)
                self._vectors_after(live.location, result)
            return
        try:
            stopped = self._stopped_because(live, error)
            if stopped is not None:
                if live.stopping in ("pause", "cancel"):
                    self._close_action(live, error=str(stopped))
                error = stopped
            else:
                error = self._failed(live, error)
        except Exception as exc:  # noqa: BLE001 - its end could not be recorded: say why
            log.warning("job_end_not_recorded", job=job.hex(), error=str(exc))
            error = exc
        self._fail_waiters(live, error)

    def _failed(self, live: Live, error: BaseException) -> BaseException:
        """Record that a job failed; the error its waiters get. A job a full disk stopped is
        left running in the log: it resumes when space returns (see LibraryHealth)."""
        if isinstance(error, DiskFull):
            log.warning("job_stopped_disk_full", job=live.job.hex(), kind=live.kind)
            return error
        if live.recorded:
            self._record(JobFailed(live.job, f"{type(error).__name__}: {error}"[:1000]))
        self._abandoned(live.job, live.kind, live.params)
        self._close_action(live, error=f"{type(error).__name__}: {error}")
        log.info("job_failed", job=live.job.hex(), kind=live.kind, error=str(error))
        return error

    def _stopped_because(self, live: Live, error: BaseException) -> BaseException | None:
        """Record how a job that did not fail stopped; the error its waiters get."""
        job = live.job
        if isinstance(error, DeletionsHeld):
            if not live.recorded and self._held_already(live.location):
                return error
            if not live.recorded:
                # A watcher's rescan held: recorded now, so the user can see and confirm it.
                self._record(JobQueued(job, live.kind, live.location, live.params))
            held = error.for_job(job)
            self._record(JobPaused(job, str(held)))
            log.info("job_held", job=job.hex(), reason=str(held))
            return held
        if not isinstance(error, RunCancelled):
            return None
        if live.stopping == "pause":
            if live.recorded:
                self._record(JobPaused(job, "paused by the user"))
            return JobStopped(job, "paused: resume it with 'sd jobs resume'")
        if live.stopping == "cancel":
            if live.recorded:
                self._record(JobCancelled(job))
            self._abandoned(job, live.kind, live.params)
            return JobStopped(job, "cancelled")
        return JobStopped(job, "stopped with the node: it resumes when the node starts")

    def _promote(self, live: Live) -> None:
        """Record a job queued unrecorded, from its own thread (``JobRun.record_queued``)."""
        self._lib.append_typed(JobQueued(live.job, live.kind, live.location, live.params))
        live.recorded = True

    def _media_after(self, location: bytes, counts: Any) -> None:
        """An index job of ``location`` ended: queue its media job if it brought new or
        changed files, or if none was queued here yet (files a command indexed while no node
        ran). Unrecorded until it finds work (``JobRun.record_queued``); merged with one of
        that location still waiting."""
        if not self._media:
            return
        brought = isinstance(counts, dict) and (
            counts.get("created", 0) or counts.get("modified", 0)
        )
        if not brought and location in self._media_seen:
            return
        self._media_seen.add(location)
        if any(q.kind == "media" and q.location == location for q in self._queue):
            return
        live = Live(os.urandom(JOB_ID_LEN), "media", location, {}, False, False)
        self._queue.append(live)
        self._board.put(live)

    def _vectors_after(self, location: bytes, counts: Any) -> None:
        """An index job ended: queue the vectors job (one for the library, never recorded:
        ``sdactors/jobs/vectors.py``) if it brought or removed entries, or if none ran here
        yet for that location; one already waiting will see this index too."""
        if not self._media:
            return
        changed = isinstance(counts, dict) and any(
            counts.get(what, 0) for what in ("created", "modified", "moved", "deleted")
        )
        if not changed and location in self._vectors_seen:
            return
        self._vectors_seen.add(location)
        if any(q.kind == "vectors" for q in self._queue):
            return
        live = Live(os.urandom(JOB_ID_LEN), "vectors", location, {}, False, False)
        self._queue.append(live)
        self._board.put(live)

    def _held_already(self, location: bytes) -> bool:
        with self._lib.index() as db:
            return any(
                r.location == location and "held:" in (r.reason or "")
                for r in jobs_of(db, self._lib.device, (PAUSED,))
            )

    # -- helpers --------------------------------------------------------------------------------

    def _find_live(self, job: bytes) -> Live | None:
        return self._running.get(job) or next((j for j in self._queue if j.job == job), None)

    def _row(self, job: bytes):  # noqa: ANN202 - a JobRow
        self._lib.catch_up()
        with self._lib.index() as db:
            for row in jobs_of(db, self._lib.device):
                if row.job == job:
                    return row
        raise JobNotFound(job.hex())

    def _record(self, event: object) -> None:
        self._lib.append_typed(event)

    def _abandoned(self, job: bytes, kind: str | None, params: dict[str, Any]) -> None:
        """A job that will not run again: what a killed run of it left goes."""
        leftovers = LEFTOVERS.get(kind or "")
        if leftovers is None:
            return
        try:
            leftovers(job, params)
        except Exception as exc:  # noqa: BLE001 - the job's end is recorded; say it, go on
            log.warning("job_leftovers_kept", job=job.hex(), error=str(exc))

    def _close_action(self, live: Live, outcome: Any = None, error: str | None = None) -> None:
        if live.action is None:
            return
        try:
            self._lib.close_action(live.action, outcome, error)
        except Exception as exc:  # noqa: BLE001 - the job's end is recorded; say it, go on
            log.warning("action_not_closed", action=live.action.hex(), error=str(exc))

    @staticmethod
    def _fail_waiters(live: Live, error: BaseException) -> None:
        for waiter in live.waiters:
            waiter.set_exception(exc_info=(type(error), error, error.__traceback__))
        live.waiters.clear()


def _merged(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two rescans of one location as one: all of it if either is; else both's folders."""
    if "folders" not in a or "folders" not in b:
        return {}
    return {"folders": sorted(set(a["folders"]) | set(b["folders"]))}
