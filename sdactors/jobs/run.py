"""What a job gets to run with, and the commits it makes as it goes.

A job runs in one of its library's job threads. It commits its work in batches to the
Journal, with a bounded number awaiting commit (so it never waits for a disk flush but never
runs far ahead of the log either), and, at batch boundaries and at most every few seconds,
a ``job.checkpoint`` in the same append as the batch: the counts it had reached, committed
together with the work they count.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from events.domain import CATALOG
from events.domain.jobs import JobCheckpoint
from events.writer import Draft

if TYPE_CHECKING:
    import pykka

    from sdactors.indexer.identify import Identifier
    from sdactors.jobs.port import JobLibrary

# Batches sent to the Journal and not yet acknowledged.
COMMIT_WINDOW = 8
# The least time between two checkpoints of one job.
CHECKPOINT_EVERY_S = 5.0


class Eids:
    """This device's next entry ids in one library, shared by the jobs running side by side.
    Never goes back: an id a failed job took and never committed is simply not used."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: int | None = None

    def seed(self, highest: Callable[[], int]) -> None:
        with self._lock:
            if self._next is None:
                self._next = highest()

    def __call__(self) -> int:
        with self._lock:
            assert self._next is not None, "seed first"
            self._next += 1
            return self._next


@dataclass
class JobRun:
    """One run of a job: what it is to do, and how it reports."""

    lib: JobLibrary
    job: bytes
    kind: str
    location: bytes
    params: dict[str, Any]
    # Whether its life is recorded as job.* events (a watcher's rescan is not).
    recorded: bool
    cancel: threading.Event
    eids: Eids
    identifier: Identifier
    # Latest counts, for status: (name -> number), replaced whole on each report.
    report: Callable[[dict[str, Any]], None] = lambda info: None
    confirmed: bool = False
    # Records the job as queued, for a job queued unrecorded that found work to do.
    recorder: Callable[[], None] | None = None
    # Set while no other kind of job of the library runs: a background job (media) starts
    # new work only then, so it never slows an index down.
    quiet: threading.Event | None = None
    _emitter: Emitter | None = field(default=None, repr=False)

    def record_queued(self) -> None:
        """From now on this run's life is recorded, as if it had been queued recorded: a
        job the node queues on its own (a media job after a rescan) is recorded only once
        it has found something to do, so a rescan that brought nothing writes nothing."""
        assert self.recorder is not None and self._emitter is None
        self.recorder()
        self.recorded = True

    @property
    def emitter(self) -> Emitter:
        if self._emitter is None:
            self._emitter = Emitter(self.lib, self.job if self.recorded else None)
        return self._emitter


class Emitter:
    """Appends batches, keeping at most COMMIT_WINDOW not yet durable."""

    def __init__(self, lib: JobLibrary, job: bytes | None) -> None:
        self._lib = lib
        self._waiting: deque[pykka.Future] = deque()
        self._job = job
        self._last_checkpoint = time.monotonic()
        self.counts: Callable[[], dict[str, int | float]] | None = None

    def emit(self, drafts: list[Draft]) -> None:
        if self._job is not None and self.counts is not None:
            now = time.monotonic()
            if now - self._last_checkpoint >= CHECKPOINT_EVERY_S:
                self._last_checkpoint = now
                drafts = [*drafts, CATALOG.body(JobCheckpoint(self._job, self.counts()))]
        self._waiting.append(self._lib.append_soon(drafts))
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
