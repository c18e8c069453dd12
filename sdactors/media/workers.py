"""Media worker processes: the decoders that read hostile files, each in a process of its own
with limits, so a file can cost one worker but never the node.

- **Memory**: each worker's address space is capped (RLIMIT_AS) at what it holds once its
  decoders are loaded plus ``memory`` bytes. A decompression bomb within Pillow's pixel limit
  (kept: Pillow refuses an image of more than twice ``Image.MAX_IMAGE_PIXELS``), or a video
  whose frames claim to be huge, gets a MemoryError in that worker, recorded as the file's
  failure; the worker is then replaced, since a decoder interrupted by a failed allocation
  may have left its state half made.
- **Time**: each file has ``timeout`` seconds. A worker past it (a decoder in a loop, a
  read from a hung disk) is killed and replaced, and the file's failure says why.
- **Death**: a worker that dies (a decoder's crash) fails the file it was reading, and is
  replaced.
- **Lifetime**: workers come from the fork server the indexer's workers use, and die with
  it when the node (or the command) ends, however it ends
  (``sdactors/indexer/worker_lifetime.py``); they run at the lowest priority of the node's
  work (``BACKGROUND_NICE``).
"""

from __future__ import annotations

import os
import resource
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Iterable, Iterator

from sdactors.indexer.identify import worker_context
from sdactors.indexer.priority import BACKGROUND_NICE, lower_priority
from sdactors.indexer.worker_lifetime import init_worker
from sdactors.media.task import Outcome, Task, all_failed
from sdactors.runtime.errors import (
    MediaReaderDied,
    MediaTimedOut,
    MediaWorkersFailed,
    ThumbnailsNotWritten,
)
from sdactors.runtime.logs import get_logger

log = get_logger(__name__)

# What a file may take to read, in seconds: a 1080p video's frame takes tens of milliseconds,
# a 100 MP image a second or two on a slow machine.
TIMEOUT_S = 60.0
# The address space a worker may add to what its loaded decoders take: room for an image of
# Pillow's pixel limit (89 MP) in RGBA and its copies.
MEMORY = 1 << 30
# How long a worker may take to start (load its decoders).
START_S = 60.0
# How often a waiting run looks at its cancel flag.
POLL_S = 0.2

_READY = "ready"


def _serve(conn: Connection, memory: int) -> None:
    """A worker: load the decoders, cap the memory, then read each task sent until told to
    stop (None) or its parent goes."""
    init_worker()
    lower_priority(BACKGROUND_NICE)
    from sdactors.media import decode

    decode.setup()
    _cap_memory(memory)
    conn.send(_READY)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            outcome = decode.describe(task)
        except ThumbnailsNotWritten as exc:
            conn.send(("fatal", exc))
            continue
        except Exception as exc:  # noqa: BLE001 - a fault of ours on one file: that file's failure
            conn.send(("fault", f"{type(exc).__name__}: {exc}"))
            continue
        conn.send(("done", outcome))
        if outcome.exhausted:
            return


def _cap_memory(extra: int) -> None:
    used = _address_space()
    if used is None:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = used + extra
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _address_space() -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@dataclass(eq=False)
class _Worker:
    process: Any
    conn: Connection
    started: float = field(default_factory=time.monotonic)
    ready: bool = False
    task: Task | None = None
    deadline: float = 0.0


class MediaWorkers:
    """A pool of media workers for one job run: ``run`` hands them tasks and yields each
    task's outcome as it comes (not in order)."""

    def __init__(
        self, count: int | None = None, timeout: float = TIMEOUT_S, memory: int = MEMORY
    ) -> None:
        self.count = max(1, count if count is not None else (os.cpu_count() or 1))
        self.timeout = timeout
        self.memory = memory
        self._workers: list[_Worker] = []

    def _start(self) -> _Worker:
        ctx = worker_context()
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_serve, args=(child, self.memory), daemon=True)
        process.start()
        child.close()
        worker = _Worker(process, parent)
        self._workers.append(worker)
        return worker

    def _stop(self, worker: _Worker) -> None:
        """Kill a worker (a hung one, or one whose answer is no longer wanted)."""
        if worker in self._workers:
            self._workers.remove(worker)
        try:
            worker.process.kill()
        except (OSError, ValueError):
            pass
        worker.process.join(5)
        worker.conn.close()

    def run(
        self,
        tasks: Iterable[Task],
        cancel: threading.Event,
        go: threading.Event | None = None,
    ) -> Iterator[tuple[Task, Outcome]]:
        """Each task's outcome as it comes. Stops handing out tasks once ``cancel`` is set
        (what is being read then is dropped: its worker is killed). While ``go`` is clear,
        hands out nothing new (what is being read finishes). Raises ThumbnailsNotWritten
        when a worker cannot write in the thumbnails folder. Workers are started as there
        are tasks for them, up to ``count``."""
        waiting = iter(tasks)
        ahead: deque[Task] = deque()
        exhausted = False
        try:
            while not cancel.is_set():
                while len(ahead) < self.count and not exhausted:
                    task = next(waiting, None)
                    if task is None:
                        exhausted = True
                    else:
                        ahead.append(task)
                handing = ahead
                if go is not None and not go.is_set():
                    if not any(w.task is not None for w in self._workers):
                        go.wait(POLL_S)
                        continue
                    handing = deque()  # only what is being read goes on
                free = [w for w in self._workers if w.task is None]
                while len(free) < len(handing) and len(self._workers) < self.count:
                    free.append(self._start())
                for worker in free:
                    if worker.ready and handing:
                        worker.task = handing.popleft()
                        worker.deadline = time.monotonic() + self.timeout
                        worker.conn.send(worker.task)
                reading = [w for w in self._workers if w.task is not None]
                if not reading and not ahead and exhausted:
                    return
                yield from self._collect(
                    [w for w in self._workers if w.task is not None or not w.ready]
                )
        finally:
            for worker in [w for w in self._workers if w.task is not None]:
                self._stop(worker)

    def _collect(self, busy: list[_Worker]) -> Iterator[tuple[Task, Outcome]]:
        now = time.monotonic()
        deadlines = [w.deadline if w.ready else w.started + START_S for w in busy]
        wait_s = max(0.0, min([POLL_S, *(d - now for d in deadlines)]))
        ready = set(wait([w.conn for w in busy], wait_s))
        for worker in busy:
            if worker.conn in ready:
                yield from self._answer(worker)
            elif worker.ready and worker.task is not None and time.monotonic() > worker.deadline:
                task = worker.task
                self._stop(worker)
                log.warning("media_worker_timed_out", pid=worker.process.pid, seconds=self.timeout)
                yield task, all_failed(task, str(MediaTimedOut(self.timeout)))
            elif not worker.ready and time.monotonic() > worker.started + START_S:
                self._stop(worker)
                raise MediaWorkersFailed(f"a worker did not start within {START_S:g} s")

    def _answer(self, worker: _Worker) -> Iterator[tuple[Task, Outcome]]:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            task = worker.task
            worker.process.join(5)
            how = _death(worker.process.exitcode)
            self._stop(worker)
            if task is None:
                raise MediaWorkersFailed(f"a worker died as it started ({how})") from None
            log.warning("media_worker_died", pid=worker.process.pid, how=how)
            yield task, all_failed(task, str(MediaReaderDied(how)))
            return
        if message == _READY:
            worker.ready = True
            return
        task, worker.task = worker.task, None
        assert task is not None
        what, value = message
        if what == "fatal":
            raise value
        if what == "fault":
            log.warning("media_reader_fault", error=value)
            yield task, all_failed(task, value)
            return
        if value.exhausted:
            self._stop(worker)  # it leaves by itself; a fresh one takes its place
        yield task, value

    def close(self) -> None:
        """Stop every worker: an idle one is told to leave, one still starting is killed."""
        leaving = []
        for worker in list(self._workers):
            if worker.task is None and worker.ready:
                try:
                    worker.conn.send(None)
                    leaving.append(worker)
                    continue
                except OSError:
                    pass
            self._stop(worker)
        deadline = time.monotonic() + 5
        for worker in leaving:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            self._stop(worker)


def _death(code: int | None) -> str:
    if code is None:
        return "it did not exit"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"
