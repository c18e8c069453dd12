"""Removal: into the library's trash, from where it can be put back, or for good.

The trash is a folder of the library's. Each item is ``<id>/<its name>`` beside
``<id>.info`` (msgpack: the path it had, as bytes, so any name survives; when it was
trashed; its size): the record is written first, so an item in the trash always says where
it came from, and dropped last, so one that is back where it was is not listed any more.
An item's id is its job's (``sd rm``, or a ``--force`` that replaced a file): a run of that
job after a crash finds what the crashed one did. Items from before the record existed
(``<UTC time>-<name>``) are listed without a path; they can be emptied, not restored.
"""

from __future__ import annotations

import calendar
import os
import re
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import msgpack

from sdactors.fileops.plan import Progress, ProgressFn, same_volume
from sdactors.fileops.transfer import copy, fsync_folder, move, remove_partials
from sdactors.runtime.errors import (
    FileOpCancelled,
    NoDestinationFolder,
    RestoreOccupied,
    TrashNoOrigin,
)
from sdactors.runtime.paths import show
from sdactors.runtime.private_files import private_dir

INFO = b".info"
ITEM_ID = re.compile(rb"^[0-9a-f]{12}$")
# How items were named before their origin was recorded: 20260101T120000.000000Z-name.
LEGACY = re.compile(rb"^(\d{8}T\d{6})\.(\d{6})Z-")


@dataclass(frozen=True)
class Trashed:
    """One item in the trash. ``path`` is where it was (None for an item from before that
    was recorded); ``where`` is where it is now."""

    id: str
    path: bytes | None
    trashed_ns: int
    where: bytes
    size: int
    entries: int


def item_id(job: bytes) -> bytes:
    """The trash id (and partial tag) of what one job puts in the trash."""
    return job.hex()[:12].encode()


def trash(
    source: bytes,
    folder: bytes,
    item: bytes,
    report: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> bytes:
    """Move ``source`` into the trash ``folder`` as the item ``item`` (a rename, or a
    verified copy from another volume); returns where it went."""
    where = os.path.join(folder, item, os.path.basename(source))
    if os.path.lexists(where):  # a run before this one was killed
        if not os.path.lexists(source):
            return where  # once it had moved it
        # Once its copy was in the trash, before the source was removed: copy it again (the
        # source may have changed since).
        _delete(where, Progress(None), threading.Event())
    _record(folder, item, source)
    move(source, where, report, cancel, tag=item)
    return where


def keep_copy(
    target: bytes, folder: bytes, item: bytes, cancel: threading.Event | None = None
) -> bytes:
    """Put a copy of ``target``, about to be replaced, in the trash as ``item``: a hard link
    on the trash's volume, else a verified copy. ``target`` itself stays until the file
    replacing it is renamed over it, so it is never missing."""
    where = os.path.join(folder, item, os.path.basename(target))
    if os.path.lexists(where):
        # Kept by a run before this one, killed since: ``target`` may be that run's copy
        # now, and what it replaced is this (a link or a copy, put there whole).
        return where
    _record(folder, item, target)
    if same_volume(target, os.path.dirname(where)):
        os.link(target, where, follow_symlinks=False)
    else:
        copy(target, where, cancel=cancel, tag=item)
    fsync_folder(os.path.dirname(where))
    return where


def remove_leftovers(folder: bytes, item: bytes) -> None:
    """What a run killed part way left of ``item``: its partial copy, and its record if the
    item never arrived (a job's next run, or its cancellation)."""
    box = os.path.join(folder, item)
    remove_partials(box, item)
    info = os.path.join(folder, item + INFO)
    if os.path.isdir(box) and not os.listdir(box):
        os.rmdir(box)
    if os.path.lexists(info) and not os.path.lexists(box):
        os.unlink(info)


def items(folder: bytes) -> list[Trashed]:
    """What the trash holds, oldest first."""
    try:
        names = set(os.listdir(folder))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        if name.endswith(INFO) and ITEM_ID.match(name[: -len(INFO)]):
            item = find(folder, name[: -len(INFO)])
            if item is not None and os.path.lexists(item.where):
                found.append(item)
        elif LEGACY.match(name):
            found.append(_legacy(folder, name))
    return sorted(found, key=lambda t: (t.trashed_ns, t.id))


def restore(
    item: Trashed,
    folder: bytes,
    report: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Put ``item`` back where it was; never over anything there now."""
    if item.path is not None and os.path.lexists(item.path) and not os.path.lexists(item.where):
        _forget(folder, item)  # back already: a run before this one was killed
        return
    check_restore(item)
    move(item.where, item.path, report, cancel, tag=item.id.encode())  # type: ignore[arg-type]
    _forget(folder, item)


def check_restore(item: Trashed) -> None:
    """Refuse, before anything is written, a restore that could not be done."""
    if item.path is None:
        raise TrashNoOrigin(item.id)
    if os.path.lexists(item.path):
        raise RestoreOccupied(item.id, show(item.path))
    if not os.path.isdir(os.path.dirname(item.path)):
        raise NoDestinationFolder(show(item.path))


def empty(
    folder: bytes, trashed_before_ns: int, report: ProgressFn | None = None
) -> dict[str, int]:
    """Delete for good every item trashed before ``trashed_before_ns``; how many items,
    entries and bytes went."""
    doomed = [t for t in items(folder) if t.trashed_ns < trashed_before_ns]
    progress = Progress(report, phase="delete")
    progress.files_total = sum(t.entries for t in doomed)
    progress.bytes_total = sum(t.size for t in doomed)
    for item in doomed:
        _delete(item.where, progress, threading.Event())
        progress.bytes_done += item.size
        _forget(folder, item)
    progress.tell(now=True)
    return {
        "items": len(doomed),
        "entries": progress.files_done,
        "bytes": sum(t.size for t in doomed),
    }


def delete_permanently(
    source: bytes, report: ProgressFn | None = None, cancel: threading.Event | None = None
) -> int:
    """Delete ``source``, a folder with everything below it; links are removed, never
    followed. Returns the number of entries deleted. A cancel stops between entries."""
    progress = Progress(report, phase="delete")
    _delete(source, progress, cancel or threading.Event())
    progress.tell(now=True)
    return progress.files_done


def _delete(source: bytes, progress: Progress, stop: threading.Event) -> None:
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


def _measure(path: bytes) -> tuple[int, int]:
    """Bytes of the files and number of entries of ``path`` and everything below it, as far
    as they can be read (a folder this user cannot list still moves whole)."""
    try:
        st = os.lstat(path)
        names = os.listdir(path) if stat.S_ISDIR(st.st_mode) else []
    except OSError:
        return 0, 1
    size, entries = (st.st_size if stat.S_ISREG(st.st_mode) else 0), 1
    for name in names:
        more, count = _measure(os.path.join(path, name))
        size, entries = size + more, entries + count
    return size, entries


def _record(folder: bytes, item: bytes, path: bytes) -> None:
    """Write ``<item>.info`` (through a temporary name, synced) and make the item's folder
    (the trash itself owner-only, like everything of the library's)."""
    private_dir(Path(os.fsdecode(folder)))
    os.makedirs(os.path.join(folder, item), mode=0o700, exist_ok=True)
    size, entries = _measure(path)
    body = msgpack.packb(
        {"path": path, "trashed_ns": time.time_ns(), "size": size, "entries": entries},
        use_bin_type=True,
    )
    info = os.path.join(folder, item + INFO)
    temp = info + b".tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temp, info)
    fsync_folder(folder)


def find(folder: bytes, item: bytes) -> Trashed | None:
    """The item ``item`` as its record says (it may be back where it was already), or None
    without a record."""
    try:
        with open(os.path.join(folder, item + INFO), "rb") as fh:
            info = msgpack.unpackb(fh.read(1 << 16), raw=False)
        path = info["path"]
        where = os.path.join(folder, item, os.path.basename(path))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Trashed(
        item.decode(), path, int(info["trashed_ns"]), where, int(info["size"]),
        int(info["entries"]),
    )  # fmt: skip


def _legacy(folder: bytes, name: bytes) -> Trashed:
    where = os.path.join(folder, name)
    match = LEGACY.match(name)
    assert match is not None
    seconds = calendar.timegm(time.strptime(match.group(1).decode(), "%Y%m%dT%H%M%S"))
    when = seconds * 10**9 + int(match.group(2)) * 1000
    size, entries = _measure(where)
    return Trashed(show(name), None, when, where, size, entries)


def _forget(folder: bytes, item: Trashed) -> None:
    """Drop the record of an item no longer in the trash (deleted or put back)."""
    if item.path is None:
        return
    box = os.path.dirname(item.where)
    if os.path.isdir(box) and not os.listdir(box):
        os.rmdir(box)
    _remove_quietly(os.path.join(folder, item.id.encode() + INFO))
    fsync_folder(folder)


def _remove_quietly(path: bytes) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
