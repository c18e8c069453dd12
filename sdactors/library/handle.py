"""An open library: its lock, its actors under one supervisor, and the calls they serve.

This is the handle the rest of the node (and the CLI) holds. It never touches events.db
itself: appends and ingests go to the Journal, folding to the Projector.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from contextlib import AbstractContextManager
from typing import Any, Callable, Iterable, NoReturn, Sequence

import pykka

from events.domain import CATALOG
from events.keys import DeviceKey
from events.sqlite_faults import file_damaged
from events.store import EventStore, IngestReport
from events.writer import Draft
from projections.jobs import QUEUED, RUNNING, jobs_of
from projections.rebuild import RebuildResult
from sdactors.jobs.index import index_params
from sdactors.jobs.manager import (
    KINDS,
    Cancel,
    JobBoard,
    JobManager,
    Pause,
    Resume,
    ResumeUnfinished,
    Submit,
)
from sdactors.library.actions import close_action, close_interrupted
from sdactors.library.bus import Deliver, EventBus, Subscription, Subscriptions
from sdactors.library.config import LibraryConfig
from sdactors.library.health import LibraryHealth
from sdactors.library.journal import (
    AcceptLoss,
    Append,
    Appended,
    DeviceInfo,
    Ingest,
    IngestExport,
    Journal,
    OwnEventsHeld,
)
from sdactors.library.log_health import check_log_present, check_not_damaged
from sdactors.library.projector import CatchUp, Committed, Digest, Projector, Rebuild
from sdactors.library.reader import LibraryReader
from sdactors.library.snapshots import NodeSnapshots, load_policy
from sdactors.runtime.errors import (
    ActorFailed,
    DiskFull,
    IndexRebuildFailed,
    IndexRebuilding,
    IndexRebuilt,
)
from sdactors.runtime.lock import LOCK_WAIT_S, LibraryLock
from sdactors.runtime.paths import LibraryPaths
from sdactors.runtime.private_files import private_database, private_dir
from sdactors.runtime.progress import ProgressChannels
from sdactors.runtime.supervisor import Supervisor

# How long a caller waits for the Journal before reporting it stuck. Generous: a commit
# behind a large import can take a while.
REPLY_TIMEOUT_S = 600.0
# Where a job's progress goes, in the thread waiting on it.
Report = Callable[[dict[str, Any]], None]
# After a forced restore, how long a node's write waits for a peer to send this device's own
# later events back before it fails: long enough for the node to reach a peer and receive
# them, short enough that a command with no peer in reach says so.
RESTORE_HOLD_S = 30.0


class Library(LibraryReader):
    """An open library: this process holds its lock and runs its actors."""

    def __init__(
        self,
        config: LibraryConfig,
        key: DeviceKey,
        device: DeviceInfo,
        lock_wait: float = LOCK_WAIT_S,
        jobs_resume: bool = False,
        rebuild: str | None = None,
    ) -> None:
        """``jobs_resume``: the library is a node's. A job running when it closes stays
        running in the log, for the next node to resume, and a damaged index is rebuilt in
        the background. Otherwise (one command's process) a job is recorded paused (a
        command interrupted by Ctrl-C: the user stopped it) and a rebuild is done at once.

        ``rebuild``: the index does not describe the log (its log was just restored): it is
        rebuilt as a damaged one is, never read until the rebuilt one is swapped in."""
        super().__init__(config)
        self.device = key.public
        self._jobs_resume = jobs_resume
        self._opened = False
        self._on_recovered: list[Callable[[], None]] = []
        self._on_rebuilt: list[Callable[[], None]] = []
        paths = config.paths
        private_dir(paths.root)
        self._lock = LibraryLock(paths.lock, config.name).acquire(wait=lock_wait)
        try:
            check_log_present(config)
            check_not_damaged(config)
        except BaseException:
            self._lock.release()
            raise
        private_database(paths.events)
        private_database(paths.index)
        # Create the log's file and schema here, once, before two actors open it at the same
        # moment and race to do it.
        EventStore(paths.events, library=config.id_bytes).close()
        self.health = LibraryHealth(config, self._recovered, self._rebuilt)
        if rebuild is not None:
            self.health.index_damaged(rebuild)  # the Projector rebuilds it as it starts
        self.supervisor = Supervisor(f"library {config.name}")
        # Outlives any one bus: a restarted bus keeps its subscribers.
        self._subscriptions = subscriptions = Subscriptions()
        try:
            self.supervisor.start("bus", lambda hook: EventBus.start(subscriptions, hook))
            bus = lambda: self.supervisor.live_ref("bus")  # noqa: E731 - the current bus, after restarts
            self.supervisor.start(
                "journal",
                lambda hook: Journal.start(
                    str(paths.events),
                    key,
                    device,
                    bus,
                    self.health,
                    hook,
                    paths.restored,
                    RESTORE_HOLD_S if jobs_resume else 0.0,
                ),
            )
            self.supervisor.start(
                "projector",
                lambda hook: Projector.start(
                    str(paths.events),
                    str(paths.index),
                    self.health,
                    jobs_resume,
                    hook,
                    NodeSnapshots(config, str(paths.index), load_policy(config))
                    if jobs_resume
                    else None,
                ),
            )
            self.jobs = JobBoard()
            # Where the jobs' progress goes to those waiting on them (channels by id).
            self.progress = ProgressChannels()
            port = JobsPort(self)
            self.supervisor.start(
                "jobs",
                lambda hook: JobManager.start(port, self.jobs, self.progress,
                                              pause_on_stop=not jobs_resume, on_crash=hook,
                                              media=jobs_resume),
            )  # fmt: skip
            try:
                self.catch_up()
            except (DiskFull, IndexRebuilding, IndexRebuildFailed):
                pass  # the library's health says so; it serves again when that passes
            self.subscribe(
                ("",), lambda events: self._tell("projector", Committed()), name="projector"
            )
            try:
                self._close_interrupted_actions(jobs_resume)
            except IndexRebuilding:
                pass  # closed when it is next opened; the index cannot say which are open now
        except BaseException:
            self.close()
            raise
        self._opened = True

    def _recovered(self) -> None:
        """Space returned, or a damaged index was replaced: fold what waited, and resume the
        jobs a full disk stopped (a node's; a command's process records its own paused)."""
        if not self._opened:
            return
        self._tell("projector", Committed())
        if self._jobs_resume:
            try:
                self.resume_unfinished_jobs()
            except ActorFailed:
                pass
        for hook in list(self._on_recovered):
            hook()

    def _rebuilt(self) -> None:
        for hook in list(self._on_rebuilt):
            hook()

    def when_rebuilt(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` each time a rebuilt index is swapped in (from the Projector's
        thread; it must not wait on the library's actors): membership read before may have
        changed with it (a revocation that cut what the old index had folded)."""
        self._on_rebuilt.append(hook)

    def when_recovered(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` each time the library recovers (from the thread that saw it: the
        Projector's, or the free-space watch's; it must not wait on the library's actors)."""
        self._on_recovered.append(hook)

    def _close_interrupted_actions(self, jobs_resume: bool) -> None:
        """This process holds the lock: an action of this device still ``requested`` was
        left by a process that was killed. Those waiting on a job this node resumes end
        with it; the others fail now."""
        with self.index() as db:
            rows = jobs_of(db, self.device, (QUEUED, RUNNING))
        waited = {
            r.params["action"]: r.job for r in rows if isinstance(r.params.get("action"), bytes)
        }
        resuming = {
            action: job
            for action, job in waited.items()
            if jobs_resume and any(r.job == job and r.kind in KINDS for r in rows)
        }
        close_interrupted(self, resuming, waited)

    # -- actors -----------------------------------------------------------------------------

    def _tell(self, actor: str, message: object) -> None:
        try:
            self.supervisor.live_ref(actor).tell(message)
        except (pykka.ActorDeadError, ActorFailed):
            pass  # a restarting projector catches up from the log on start anyway

    def _ask(self, actor: str, message: object, timeout: float | None = REPLY_TIMEOUT_S) -> object:
        try:
            return self.supervisor.live_ref(actor).ask(message, timeout=timeout)
        except pykka.ActorDeadError as exc:
            raise ActorFailed(f"the {actor} stopped; it is being restarted, try again") from exc

    def _ask_following(self, actor: str, message: Any, progress: Report | None) -> Any:
        """Ask ``message`` (which has a ``progress`` field) and wait for the answer, however
        long; with ``progress``, the message names a channel opened for this ask, and each
        record the actor posts on it goes to ``progress``, in this thread, until then."""
        if progress is None:
            return self._ask(actor, message, timeout=None)
        with self.progress.open() as channel:
            try:
                reply = self.supervisor.live_ref(actor).ask(
                    dataclasses.replace(message, progress=channel.id), block=False
                )
            except pykka.ActorDeadError as exc:
                raise ActorFailed(f"the {actor} stopped; it is being restarted, try again") from exc
            return channel.follow(reply, progress, None)

    # -- writing ----------------------------------------------------------------------------

    def append(self, drafts: Sequence[Draft]) -> Appended:
        """Append and wait until the events are durable."""
        return self._ask("journal", Append(tuple(drafts)))  # type: ignore[return-value]

    def append_soon(self, drafts: Sequence[Draft]) -> pykka.Future:
        """Append without waiting: the future settles once the events are durable (or with
        why they were refused)."""
        return self.supervisor.live_ref("journal").ask(Append(tuple(drafts)), block=False)

    def append_typed(self, *typed: object) -> Appended:
        return self.append([CATALOG.body(t) for t in typed])

    def append_nowait(self, drafts: Sequence[Draft]) -> None:
        self.supervisor.live_ref("journal").tell(Append(tuple(drafts)))

    def own_events_held(self, seq: int) -> None:
        """A peer holds this device's events up to ``seq`` (after a forced restore, writes
        wait until this device holds as many)."""
        self._tell("journal", OwnEventsHeld(seq))

    def accept_loss(self) -> bool:
        """Write again after a forced restore without waiting for a peer; whether writes
        were waiting."""
        return bool(self._ask("journal", AcceptLoss()))

    def ingest(
        self, wire: Iterable[tuple[bytes, bytes | None]], whole: bool = False
    ) -> IngestReport:
        """Verify and store foreign events (``(data, sig)`` pairs, held in memory)."""
        return self._ask("journal", Ingest(tuple(wire), whole))  # type: ignore[return-value]

    def ingest_export(self, path: str | os.PathLike[str]) -> IngestReport:
        """Verify and store every event of an export file, or none (read as it goes)."""
        return self._ask("journal", IngestExport(os.fspath(path)))  # type: ignore[return-value]

    def subscribe(
        self, prefixes: tuple[str, ...], deliver: Deliver, name: str = "subscriber"
    ) -> int:
        """Call ``deliver`` (on the bus's thread: it must be quick) with each commit's events
        whose type starts with one of ``prefixes``; the token to unsubscribe with."""
        return self._subscriptions.add(Subscription(prefixes, deliver, name))

    def unsubscribe(self, token: int) -> None:
        self._subscriptions.remove(token)

    # -- jobs -------------------------------------------------------------------------------

    def index_location(
        self,
        location: bytes,
        progress: Report | None = None,
        folders: Sequence[bytes] | None = None,
        confirm_deletions: bool = False,
    ) -> dict[str, Any]:
        """Index (or rescan) one of this device's locations, or only some of its ``folders``,
        as a recorded job, and wait for it to end; its counts (``JobStats.as_dict``)."""
        folders = None if folders is None else list(folders)
        # No timeout: a large first index takes as long as the disk needs.
        return self._ask_following(
            "jobs",
            Submit("index", location, index_params(folders), confirmed=confirm_deletions),
            progress,
        )

    def run_job(
        self,
        kind: str,
        location: bytes,
        params: dict[str, Any],
        progress: Report | None = None,
    ) -> Any:
        """Run a recorded job and wait for its end; what it returns."""
        return self._ask_following("jobs", Submit(kind, location, params), progress)

    def submit_job(
        self, kind: str, location: bytes, params: dict[str, Any], recorded: bool = True
    ) -> None:
        """Queue a job without waiting."""
        self._tell_jobs(Submit(kind, location, params, recorded=recorded))

    def rescan_soon(self, location: bytes, folders: Sequence[bytes] | None) -> None:
        """A watcher's rescan: not recorded, merged with one still waiting for the location."""
        self.submit_job("index", location, index_params(None if folders is None else
                        list(folders)), recorded=False)  # fmt: skip

    def pause_job(self, job: bytes) -> dict[str, Any]:
        return self._ask("jobs", Pause(job), timeout=None)  # type: ignore[return-value]

    def cancel_job(self, job: bytes) -> dict[str, Any]:
        return self._ask("jobs", Cancel(job), timeout=None)  # type: ignore[return-value]

    def resume_job(
        self,
        job: bytes,
        confirmed: bool = False,
        wait: bool = False,
        progress: Report | None = None,
    ) -> dict[str, Any]:
        return self._ask_following("jobs", Resume(job, confirmed, wait), progress)

    def resume_unfinished_jobs(self) -> None:
        self._tell_jobs(ResumeUnfinished())

    def _tell_jobs(self, message: object) -> None:
        try:
            self.supervisor.live_ref("jobs").tell(message)
        except pykka.ActorDeadError as exc:
            raise ActorFailed("the job manager stopped; it is being restarted, try again") from exc

    # -- projections ------------------------------------------------------------------------

    def catch_up(self) -> int:
        """Wait until the index has folded every committed event; returns the checkpoint."""
        return self._ask("projector", CatchUp())  # type: ignore[return-value]

    def digest(self) -> str:
        """The digest after folding every committed event."""
        return self._ask("projector", Digest())  # type: ignore[return-value]

    def rebuild_index(
        self, reason: str, *, damaged: bool = False, wait: bool = False
    ) -> RebuildResult | None:
        """Fold the whole log into a new index and swap it in when complete: the one way
        this library's index is replaced (see the Projector).

        In a node the fold runs in the background: until the swap, reads are served from
        the live index, or, if it is ``damaged``, refused with the rebuild's progress (and
        it is no longer folded). ``reason`` is what status shows. A rebuild asked for while
        one runs joins it. ``wait``: return its RebuildResult once swapped in (or raise why
        there is none); else return at once.
        """
        if damaged:
            self.health.index_damaged(reason)  # refused from now on, not once the actor hears
        if wait:
            return self._ask("projector", Rebuild(reason, damaged), timeout=None)  # type: ignore[return-value]
        try:
            self.supervisor.live_ref("projector").tell(Rebuild(reason, damaged))
        except pykka.ActorDeadError as exc:
            raise ActorFailed("the projector stopped; it is being restarted, try again") from exc
        return None

    # -- reading the index ------------------------------------------------------------------

    def _open_index(self) -> sqlite3.Connection:
        """Refused while the index is damaged. The connection reads its first page before
        the index can be swapped (see LibraryHealth.index_swap)."""
        self.health.check_readable()
        with self.health.index_swap:
            db = super()._open_index()
            try:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return db
            except sqlite3.DatabaseError as exc:
                db.close()
                if not file_damaged(exc):
                    raise
                detail = str(exc)
        self.index_damaged(detail)

    def index_damaged(self, detail: str) -> NoReturn:
        """A node's library starts the rebuild and answers with its progress; a command's
        process (which must not leave a rebuild half done) rebuilds first."""
        reason = f"a read found it damaged: {detail}"
        if self._jobs_resume:
            self.rebuild_index(reason, damaged=True)
            self.health.check_readable()
            raise IndexRebuilding(self.config.name, 0)
        self.rebuild_index(reason, damaged=True, wait=True)
        raise IndexRebuilt(self.config.name)

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the actors (the Journal commits what is queued, the index catches up)."""
        self.supervisor.stop_all(order=["jobs", "journal", "projector", "bus"])
        self.health.close()
        self._lock.release()

    def __enter__(self) -> "Library":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class JobsPort:
    """The library as its jobs see it (:class:`~sdactors.jobs.port.JobLibrary`): what they
    may do with it, and nothing else of it."""

    def __init__(self, lib: Library) -> None:
        self._lib = lib

    @property
    def device(self) -> bytes:
        return self._lib.device

    @property
    def paths(self) -> LibraryPaths:
        return self._lib.config.paths

    def catch_up(self) -> int:
        return self._lib.catch_up()

    def index(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._lib.index()

    def append_typed(self, *typed: object) -> Appended:
        return self._lib.append_typed(*typed)

    def append_soon(self, drafts: Sequence[Draft]) -> pykka.Future:
        return self._lib.append_soon(drafts)

    def close_action(self, action: bytes, outcome: Any = None, error: str | None = None) -> None:
        close_action(self._lib, action, outcome, error)
