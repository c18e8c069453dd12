"""Removal: into the library's trash folder (recoverable by hand), or for good."""

from __future__ import annotations

import os
import stat
import threading
import time

from sdactors.errors import FileOpCancelled
from sdactors.fileops.plan import Progress, ProgressFn
from sdactors.fileops.transfer import NAME_KEPT, move
from sdactors.paths import show


def trash(
    source: bytes,
    trash_folder: bytes,
    report: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> bytes:
    """Move ``source`` into ``trash_folder`` as ``<UTC timestamp>-<name>`` (a rename, or a
    verified copy from another volume); returns where it went. Never replaces anything
    there: a name taken (two removals in the same microsecond) gets a number."""
    os.makedirs(trash_folder, mode=0o700, exist_ok=True)
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"
    name = stamp.encode() + b"-" + os.path.basename(source)[:NAME_KEPT]
    target = os.path.join(trash_folder, name)
    n = 0
    while os.path.lexists(target):
        n += 1
        target = os.path.join(trash_folder, name + b"-" + str(n).encode())
    move(source, target, report, cancel)
    return target


def delete_permanently(
    source: bytes, report: ProgressFn | None = None, cancel: threading.Event | None = None
) -> int:
    """Delete ``source``, a folder with everything below it; links are removed, never
    followed. Returns the number of entries deleted. A cancel stops between entries."""
    progress = Progress(report, phase="delete")
    stop = cancel or threading.Event()

    def remove(path: bytes) -> None:
        if stop.is_set():
            raise FileOpCancelled(show(source), copying=False)
        if stat.S_ISDIR(os.lstat(path).st_mode):
            with os.scandir(path) as entries:
                names = [entry.name for entry in entries]
            for name in names:
                remove(os.path.join(path, name))
            os.rmdir(path)
        else:
            os.unlink(path)
        progress.files_done += 1
        progress.tell()

    remove(source)
    progress.tell(now=True)
    return progress.files_done
