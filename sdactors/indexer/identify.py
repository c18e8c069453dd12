"""Walking folders and identifying files, in worker processes when it pays.

Listing a folder (a stat per child) and reading and hashing small files are Python-bound
work, a few system calls per file; threads would share one GIL, so large jobs use a pool of
processes, one per core: the indexer's own process keeps only the comparison with the index.
Work too small to be worth a round trip is done inline.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from typing import NamedTuple, Sequence

from sdactors.indexer.content import identify
from sdactors.indexer.kinds import kind_of
from sdactors.indexer.priority import lower_priority
from sdactors.indexer.walk import Listing, list_folder, list_open_folder, open_folder
from sdactors.indexer.worker_lifetime import init_worker

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

    def __reduce__(self) -> tuple:
        return (tuple.__new__, (Identified, tuple(self)))


def identify_batch(items: Sequence[Work], dir_fd: int | None = None) -> list[Identified]:
    """Runs in a worker process (or inline): the whole batch, one result per item. With
    ``dir_fd``, the paths are names in that folder."""
    out = []
    for path, size, mtime_ns in items:
        ident = identify(path, size, mtime_ns, dir_fd)
        name = os.fsdecode(os.path.basename(path))
        out.append(
            Identified(
                ident.cid,
                kind_of(name, ident.head),
                ident.size,
                ident.mtime_ns,
                ident.inode,
                ident.error,
                ident.gone,
            )
        )
    return out


class FolderResult(NamedTuple):
    listing: Listing
    # With ``identify``: one entry per child, the identity of each regular file (else None).
    identities: list[Identified | None] | None


def list_and_identify(path: bytes, identify_files: bool) -> FolderResult:
    """List a folder and, for a folder new to the index, identify its files too: all of
    them are new, so the worker that has just stat'ed them reads them at once."""
    if not identify_files:
        return FolderResult(list_folder(path), None)
    try:
        fd = open_folder(path)
    except OSError:
        return FolderResult(list_folder(path), None)  # reports why, as any listing would
    try:
        listing = list_open_folder(fd, path)
        work = [
            Work(c.name, c.size, c.mtime_ns) if c.ftype == "f" else None for c in listing.children
        ]
        found = iter(identify_batch([w for w in work if w is not None], fd))
    finally:
        os.close(fd)
    return FolderResult(listing, [next(found) if w is not None else None for w in work])


def list_and_identify_many(folders: Sequence[tuple[bytes, bool]]) -> list[FolderResult]:
    """Several folders per task: a pool round trip costs about as much as listing one."""
    return [list_and_identify(path, identify_files) for path, identify_files in folders]


def _start_worker() -> None:
    init_worker()
    lower_priority()


def worker_context() -> multiprocessing.context.BaseContext:
    """How every worker process of sdactors is started (the media workers' too: one fork
    server, its preloaded modules the identity workers' own)."""
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

    @property
    def running(self) -> bool:
        return self._pool is not None

    def _workers(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=worker_context(), initializer=_start_worker
            )
        return self._pool

    def submit(self, items: Sequence[Work]) -> "Future[list[Identified]]":
        if len(items) <= INLINE_MAX or self.workers <= 0:
            done: Future[list[Identified]] = Future()
            done.set_result(identify_batch(items))
            return done
        return self._workers().submit(identify_batch, list(items))

    def submit_folders(self, folders: Sequence[tuple[bytes, bool]]) -> "Future[list[FolderResult]]":
        """List (and maybe identify) folders in a worker; starts the pool if needed."""
        return self._workers().submit(list_and_identify_many, list(folders))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
