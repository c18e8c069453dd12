"""The media job: thumbnails and media data of one location's images, PDFs and videos.

It reads the files of the location whose content the index has no media data for (a
failure counts as data: it is not tried again until the content changes), one decode per
content (``sdactors/media/decode.py``, in the media workers), writes each content's missing
thumbnails and appends ``media.extracted`` in batches. Resuming it is running it again: what
its committed batches described is no longer selected, and a thumbnail already in place is
never written again, so no file is done twice, whatever point a run was killed at.

It never holds up an index: a node queues it when an index job of the location has ended
(``JobManager``), and it runs beside the other jobs, one per library at a time, its workers
at the lowest priority; while another kind of job of the library runs (an index, a copy) it
hands its workers nothing new (``JobRun.quiet``). Queued that way it is not recorded until
it finds something to do (``JobRun.record_queued``): a rescan that brought no media writes
nothing more. ``sd thumbs run`` queues it recorded, and can ask it to make again the
thumbnails that are missing (``sd thumbs clear``) of what already has its data.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator, NamedTuple

from events.domain import CATALOG
from events.domain.entries import FILE
from events.domain.jobs import JobCompleted, JobStarted
from events.domain.media import ITEM, MediaExtracted
from projections.files.listings import (
    C_CID,
    C_EID,
    C_FTYPE,
    C_KIND,
    C_MTIME,
    C_NAME,
    C_SIZE,
    records,
)
from projections.files.media import described
from projections.files.query import location_row
from projections.files.schema import EID_MASK
from sdactors.indexer.job import JobCancelled as RunCancelled
from sdactors.jobs.index import check_presence
from sdactors.jobs.run import JobRun
from sdactors.media.layout import PARTIAL, SIZES, thumbnail_path
from sdactors.media.settings import media_settings
from sdactors.media.task import FIELDS, Task
from sdactors.media.workers import MediaWorkers
from sdactors.runtime.errors import LocationNotFound
from sdactors.runtime.logs import get_logger

log = get_logger(__name__)

# Items per media.extracted event: a commit every few seconds at full speed.
BATCH = 200
# The longest a described file waits for its batch: thumbnails should appear soon after
# their files, and the data a moment later.
BATCH_WAIT_S = 1.0
# Kinds the job reads (and documents named .pdf).
KINDS = ("image", "video")


class Pending(NamedTuple):
    eid: int
    parent: int
    path: bytes
    cid: bytes
    size: int
    mtime_ns: int
    kind: str
    # False: its data is known, only its thumbnails are missing (cleared since).
    data: bool = True


def pending_media(
    db: Any, device: bytes, location: bytes, thumbnails: Path | None = None
) -> list[Pending]:
    """The location's files the media job is to read: a content id, an image, video or PDF,
    and no media data for that content yet. With ``thumbnails`` (the folder), also those
    described without a failure whose thumbnails are not there (``data`` False)."""
    out = []
    for entry, known in _media_files(db, device, location):
        if known is None:
            out.append(entry)
        elif (
            thumbnails is not None and known == OK and not _thumbnails_there(thumbnails, entry.cid)
        ):
            out.append(entry._replace(data=False))
    return out


class MediaStatus(NamedTuple):
    done: int
    pending: int
    # (path, why) of each file that could not be read.
    failures: list[tuple[bytes, str]]


def media_status(db: Any, device: bytes, location: bytes) -> MediaStatus:
    """Where the media job stands on one of ``device``'s locations."""
    done = pending = 0
    failures = []
    for entry, known in _media_files(db, device, location):
        if known is None:
            pending += 1
        elif known == OK:
            done += 1
        else:
            failures.append((entry.path, known))
    return MediaStatus(done, pending, sorted(failures))


# What ``_media_files`` gives for a file described without a failure.
OK = ""


def _media_files(db: Any, device: bytes, location: bytes) -> Iterator[tuple[Pending, str | None]]:
    """Each file of the location the media job reads (a content id; an image, video or
    PDF), with what the index holds of it: None (nothing for its content), ``OK``, or why
    it could not be read."""
    row = db.execute(
        "SELECT id FROM locations WHERE device = ? AND location = ?", (device, location)
    ).fetchone()
    if row is None:
        return
    known = described(db, row[0])
    for folder, path, blob in db.execute(
        "SELECT f.id, f.path, l.children FROM folders f JOIN listings l ON l.folder = f.id "
        "WHERE f.location = ?",
        (row[0],),
    ):
        for child in records(blob):
            cid = child[C_CID]
            if child[C_FTYPE] != FILE or cid is None or not is_media(child[C_KIND], child[C_NAME]):
                continue
            entry = Pending(
                child[C_EID],
                folder & EID_MASK,
                os.path.join(path, child[C_NAME]),
                cid,
                child[C_SIZE],
                child[C_MTIME],
                child[C_KIND],
            )
            found = known.get(child[C_EID])
            if found is None or found[0] != cid:
                yield entry, None
            else:
                yield entry, found[1] or OK


def is_media(kind: str | None, name: bytes) -> bool:
    """Whether the media job reads a file of this kind and name: images, videos, PDFs."""
    return kind in KINDS or (kind == "document" and name.lower().endswith(b".pdf"))


def _thumbnails_there(root: Path, cid: bytes) -> bool:
    return all(thumbnail_path(root, cid, size).exists() for size in SIZES)


# -- the job ----------------------------------------------------------------------------------


def run_media(run: JobRun) -> dict[str, Any]:
    """params: ``thumbnails`` (true: make again the thumbnails missing of files already
    described). The run's counts."""
    lib = run.lib
    lib.catch_up()
    with lib.index() as db:
        row = location_row(db, lib.device, run.location)
    if row is None:
        raise LocationNotFound(run.location.hex())
    check_presence(lib, row)
    root = lib.paths.thumbnails
    with lib.index() as db:
        todo = pending_media(
            db, lib.device, run.location, root if run.params.get("thumbnails") else None
        )
    if not run.recorded:
        if not todo:
            return {"files": 0}  # queued by the node on its own, and nothing to do
        run.record_queued()
    _remove_partials(root)
    settings = media_settings(lib.paths)
    counts = Counts(total=len(todo))
    emitter = run.emitter
    emitter.counts = counts.as_dict
    if run.recorded:
        emitter.emit([CATALOG.body(JobStarted(run.job, run.kind, run.location))])
    run.report(counts.as_dict())
    workers = MediaWorkers(settings.workers, settings.timeout_s, settings.memory)
    items: list[tuple[Any, ...]] = []
    since = time.monotonic()

    def flush() -> None:
        nonlocal since
        if items:
            emitter.emit([CATALOG.body(MediaExtracted(run.location, tuple(items)))])
            items.clear()
        since = time.monotonic()

    groups = _groups(todo)
    tasks = _tasks(groups, root, run.job, settings.gps)
    try:
        for task, outcome in workers.run(tasks, run.cancel, run.quiet):
            for entry, fields in zip(groups[task.cid], outcome.fields):
                counts.files += 1
                counts.failed += fields["error"] is not None
                if entry.data:
                    items.append(_item(entry, fields))
            counts.thumbnails += outcome.written
            run.report(counts.as_dict())
            if len(items) >= BATCH or time.monotonic() - since >= BATCH_WAIT_S:
                flush()
        flush()
    except BaseException:
        workers.close()
        emitter.drain(raise_errors=False)
        raise
    workers.close()
    _remove_partials(root)
    if run.cancel.is_set():
        emitter.drain()
        raise RunCancelled()
    if run.recorded:
        emitter.drain()
        emitter.emit([CATALOG.body(JobCompleted(run.job, counts.as_dict()))])
    emitter.drain()
    log.info("media_job_done", location=run.location.hex(), **counts.as_dict())
    return counts.as_dict()


class Counts:
    """What a run has done: its status, its checkpoints and its end."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.files = 0
        self.failed = 0
        self.thumbnails = 0

    def as_dict(self) -> dict[str, int | float]:
        return {
            "files": self.files,
            "total": self.total,
            "failed": self.failed,
            "thumbnails": self.thumbnails,
        }


def _groups(todo: list[Pending]) -> dict[bytes, list[Pending]]:
    """The files to read by content: copies are read once. Those whose data is wanted
    first, so one of them is read (a file only missing thumbnails may be a copy that has
    changed since)."""
    groups: dict[bytes, list[Pending]] = defaultdict(list)
    for entry in todo:
        groups[entry.cid].append(entry)
    for entries in groups.values():
        entries.sort(key=lambda e: not e.data)
    return groups


def _tasks(groups: dict[bytes, list[Pending]], root: Path, job: bytes, gps: bool) -> Iterator[Task]:
    partial = job.hex()[:16] + "-"
    for cid, entries in groups.items():
        yield Task(
            cid,
            entries[0].kind,
            tuple((e.path, e.size, e.mtime_ns) for e in entries),
            str(root),
            partial,
            gps,
        )


_CHECKS = {name: shape.checker() for name, shape in ITEM.fields}


def _item(entry: Pending, fields: dict[str, Any]) -> tuple[Any, ...]:
    """A media.extracted item, in the event's field order. A value out of its declared
    shape (a decoder's surprise) is left out, never let to fail the batch."""
    values = {"eid": entry.eid, "parent": entry.parent, "cid": entry.cid, **fields}
    for name in FIELDS:
        if values[name] is not None and _CHECKS[name](values[name]) is not None:
            log.warning("media_field_dropped", field=name, value=repr(values[name])[:80])
            values[name] = "unreadable media data" if name == "error" else None
    return tuple(values[name] for name in ITEM.names)


def _remove_partials(root: Path) -> None:
    """What a killed run left half-written: one media job runs per library at a time, so
    every temporary file is a dead run's."""
    shutil.rmtree(root / PARTIAL, ignore_errors=True)
