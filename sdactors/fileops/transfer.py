"""Copies checked with blake3, and moves that are a rename when they can be.

A copy is written beside its destination under a temporary name (a whole folder too), each
file fsynced and read back and compared with blake3 of the bytes read from the source; only
then is it renamed into place. So a destination either does not exist or is a complete,
checked copy, whatever stops the copy part way (a mismatch, a cancel, a full disk, a crash:
at worst a ``.sd-partial-*`` is left behind, which the indexer never takes for a file and
the job's next run or its cancellation removes). A move removes its source only after
that, and only if the source did not change meanwhile.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
import threading
import time
from typing import Callable

import blake3

from sdactors.fileops.plan import (
    DIR,
    FILE,
    Progress,
    ProgressFn,
    Tree,
    same_volume,
    scan,
    unchanged,
)
from sdactors.indexer.content import full_hash
from sdactors.runtime.errors import (
    CopyMismatch,
    DestinationExists,
    DestinationIsFolder,
    FileOpCancelled,
    SourceChanged,
    SourceChangedKept,
)
from sdactors.runtime.logs import get_logger
from sdactors.runtime.paths import PARTIAL, show

log = get_logger(__name__)

CHUNK = 1 << 20
# Room for the prefix and a random part within a 255-byte name.
NAME_KEPT = 200
# Fault injection, for tests only: a copy, once a file's bytes are written and its source
# closed, and before it reads the copy back, creates the file this names and waits (a
# minute at most) until it is removed: the moment to change the source, or to kill the
# process (see tests/system/test_file_ops.py).
HOLD_ENV = "SD_FILEOPS_HOLD"


# What to do with a file at the destination before the new one takes its name: keep a copy
# of it (in the trash). Without one, a destination that exists is refused.
Replace = Callable[[bytes], None]


def copy(
    source: bytes,
    target: bytes,
    report: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    replace: Replace | None = None,
    tag: bytes | None = None,
) -> str:
    """Copy ``source`` (a file, link or folder) to ``target``, streamed and verified, even
    on one volume (a copy is new bytes, never a link to the old ones). Returns ``"copy"``.

    ``tag`` names the partial copy (``.sd-partial-<tag>-<name>``): a job passes its own, so
    that a run after a crash finds what the crashed one left (:func:`remove_partials`)."""
    cancel = cancel or threading.Event()
    _copy_verified(source, target, scan(source), Progress(report), cancel, replace, tag)
    return "copy"


def move(
    source: bytes,
    target: bytes,
    report: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    replace: Replace | None = None,
    tag: bytes | None = None,
) -> str:
    """Move ``source`` to ``target``: one atomic rename on the same volume (``"rename"``),
    else a verified copy put in place before the source is removed (``"copy"``).

    Across volumes the source is removed only if nothing in it changed since the copy
    began (what was written meanwhile would be lost with it): else both stay and
    :class:`SourceChangedKept` says so."""
    progress = Progress(report, phase="move")
    if same_volume(source, os.path.dirname(target)):
        try:
            _rename_into_place(source, target, replace)
            progress.tell(now=True)
            return "rename"
        except OSError as exc:
            if exc.errno != errno.EXDEV:  # a mount point below the source, say
                raise
    tree = scan(source)
    _copy_verified(source, target, tree, progress, cancel or threading.Event(), replace, tag)
    # The checked copy is in place: the source goes whole, even if a cancel comes now.
    progress.phase = "remove source"
    progress.tell(now=True)
    if not unchanged(source, tree):
        log.info("move_source_changed", source=show(source), copy=show(target))
        raise SourceChangedKept(show(source), show(target))
    _remove(source)
    return "copy"


def partial_name(name: bytes, tag: bytes) -> bytes:
    return PARTIAL + tag + b"-" + name[:NAME_KEPT]


def remove_partials(folder: bytes, tag: bytes) -> None:
    """Remove what a copy tagged ``tag`` left in ``folder`` when its process was killed."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        if name.startswith(PARTIAL + tag + b"-"):
            _remove_quietly(os.path.join(folder, name))


def _copy_verified(
    source: bytes,
    target: bytes,
    tree: Tree,
    progress: Progress,
    cancel: threading.Event,
    replace: Replace | None,
    tag: bytes | None,
) -> None:
    progress.bytes_total, progress.files_total = tree.bytes, tree.files
    progress.tell(now=True)
    parent, name = os.path.split(target)
    temp = os.path.join(parent, partial_name(name, tag or secrets.token_hex(4).encode()))
    if tag is not None:
        _remove_quietly(temp)  # an earlier run of the same job, killed
    try:
        folders = []
        for rel, kind, _size in tree.entries:
            src = os.path.join(source, rel) if rel else source
            dst = os.path.join(temp, rel) if rel else temp
            if cancel.is_set():
                raise FileOpCancelled(show(source))
            if kind == DIR:
                os.mkdir(dst, 0o700)
                folders.append((src, dst))
            elif kind == FILE:
                _copy_file(src, dst, progress, cancel)
            else:
                os.symlink(os.readlink(src), dst)
                shutil.copystat(src, dst, follow_symlinks=False)
        # Children first: writing into a folder changes its mtime.
        for src, dst in reversed(folders):
            shutil.copystat(src, dst)
        _rename_into_place(temp, target, replace)
        progress.tell(now=True)
    except BaseException:
        _remove_quietly(temp)
        raise
    fsync_folder(parent)


def _copy_file(src: bytes, dst: bytes, progress: Progress, cancel: threading.Event) -> None:
    """Stream one file, hashing what was read; fsync; read the copy back and compare."""
    hasher = blake3.blake3()
    fd_in = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        before = os.fstat(fd_in)
        fd_out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            while chunk := os.read(fd_in, CHUNK):
                if cancel.is_set():
                    raise FileOpCancelled(show(src))
                hasher.update(chunk)
                write_all(fd_out, chunk)
                progress.bytes_done += len(chunk)
                progress.tell()
            os.fsync(fd_out)
            drop_cache(fd_out)
        finally:
            os.close(fd_out)
        after = os.fstat(fd_in)
    finally:
        os.close(fd_in)
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise SourceChanged(show(src))
    _hold_for_test(dst)
    if full_hash(dst) != hasher.digest():
        log.warning("copy_mismatch", source=show(src), copy=show(dst))
        raise CopyMismatch(show(src))
    shutil.copystat(src, dst, follow_symlinks=False)
    progress.files_done += 1
    progress.tell()


def _hold_for_test(copy: bytes) -> None:
    flag = os.environ.get(HOLD_ENV)
    if not flag:
        return
    with open(flag, "wb") as fh:
        fh.write(copy)
    deadline = time.monotonic() + 60
    while os.path.exists(flag) and time.monotonic() < deadline:
        time.sleep(0.01)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def drop_cache(fd: int) -> None:
    """Have the read-back come from the disk, not from the pages just written (Linux)."""
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def _rename_into_place(source: bytes, target: bytes, replace: Replace | None) -> None:
    """Rename, never over a folder, and over a file only when asked to (``replace``, which
    keeps a copy of it first)."""
    if os.path.lexists(target):
        if replace is None:
            raise DestinationExists(show(target))
        if stat.S_ISDIR(os.lstat(target).st_mode):
            raise DestinationIsFolder(show(target))
        replace(target)
        if stat.S_ISDIR(os.lstat(source).st_mode):
            os.unlink(target)  # rename cannot put a folder over a file
    os.rename(source, target)


def _remove(path: bytes) -> None:
    if stat.S_ISDIR(os.lstat(path).st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _remove_quietly(path: bytes) -> None:
    try:
        _remove(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("partial_copy_left", path=show(path), error=str(exc))


def fsync_folder(folder: bytes) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
