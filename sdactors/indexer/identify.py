"""Content identity and kind for batches of files, in worker processes when it pays.

Reading and hashing small files is Python-bound work (a few system calls and a blake3 per
file); threads would share one GIL, so larger batches go to a pool of processes, one per
core. A batch too small to be worth the round trip is done inline.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from typing import NamedTuple, Sequence

from sdactors.indexer.content import identify
from sdactors.indexer.kinds import kind_of

# Below this many files a batch is identified in the calling thread.
INLINE_MAX = 48


class Work(NamedTuple):
    path: bytes
    size: int
    mtime_ns: int


class Identified(NamedTuple):
    cid: bytes | None
    kind: str
    size: int
    mtime_ns: int
    inode: int
    error: str | None
    # The file vanished or is no longer a regular file: drop it, the next run will see why.
    gone: bool


def identify_batch(items: Sequence[Work]) -> list[Identified]:
    """Runs in a worker process (or inline): the whole batch, one result per item."""
    out = []
    for path, size, mtime_ns in items:
        ident = identify(path, size, mtime_ns)
        name = os.fsdecode(os.path.basename(path))
        out.append(Identified(
            ident.cid, kind_of(name, ident.head), ident.size, ident.mtime_ns, ident.inode,
            ident.error, ident.gone,
        ))
    return out


def _context() -> multiprocessing.context.BaseContext:
    # forkserver: forking a process that runs actor threads could copy a held lock into
    # the child; a fork server starts clean and forks each worker from that.
    if sys.platform.startswith("linux"):
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["sdactors.indexer.identify"])
        return ctx
    return multiprocessing.get_context("spawn")


class Identifier:
    """Hands batches to the pool (created on first use) or does them inline."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, items: Sequence[Work]) -> "Future[list[Identified]]":
        if len(items) <= INLINE_MAX or self.workers <= 0:
            done: Future[list[Identified]] = Future()
            done.set_result(identify_batch(items))
            return done
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=_context())
        return self._pool.submit(identify_batch, list(items))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
