"""File operations as jobs: the disk work of ``sd cp``, ``sd mv``, ``sd rm`` and
``sd trash restore``, run by the JobManager (so they can be listed, paused by cancelling,
and are recorded as job events).

A job killed part way (its process killed, the machine down) runs again when a node starts,
or is cancelled: either way, what the killed run left goes first (``LEFTOVERS``). Its
partial copies and trash items are named after the job, so they are found.

The index follows afterwards, through a rescan of the folders that changed, asked by the
command once its job has ended (a job never waits for another job of its own location).
"""

from __future__ import annotations

import os
from typing import Any, Callable

from events.domain.jobs import JobCompleted, JobStarted
from sdactors import fileops
from sdactors.jobs.run import JobRun
from sdactors.runtime.errors import TrashItemNotFound


def _started(run: JobRun) -> None:
    if run.recorded:
        run.lib.append_typed(JobStarted(run.job, run.kind, run.location))


def _completed(run: JobRun, counts: dict[str, int]) -> None:
    if run.recorded:
        run.lib.append_typed(JobCompleted(run.job, counts))


def run_transfer(run: JobRun) -> dict[str, Any]:
    """``copy`` or ``move``: params ``source``, ``target``, ``force``, ``trash`` (where a
    file replaced with ``force`` is kept)."""
    _started(run)
    p = run.params
    tag = fileops.item_id(run.job)
    _transfer_leftovers(run.job, p)
    if run.kind == "move" and not os.path.lexists(p["source"]) and os.path.lexists(p["target"]):
        _completed(run, {})  # a run before this one was killed once it had moved it
        return {"how": "copy", "replaced": None}
    # Checked again, before copying: a run after a crash finds the disk as that left it.
    fileops.check_transfer(p["source"], p["target"], p["force"])
    kept: list[bytes] = []

    def keep(old: bytes) -> None:
        kept.append(fileops.keep_copy(old, p["trash"], tag, run.cancel))

    work = fileops.copy if run.kind == "copy" else fileops.move
    how = work(p["source"], p["target"], run.report, run.cancel, keep if p["force"] else None,
               tag)  # fmt: skip
    _completed(run, {})
    return {"how": how, "replaced": tag.decode() if kept else None}


def run_remove(run: JobRun) -> dict[str, Any]:
    """``remove``: params ``path``, ``permanent``, ``trash`` (the library's trash folder)."""
    _started(run)
    p = run.params
    if p["permanent"]:
        deleted = fileops.delete_permanently(p["path"], run.report, run.cancel)
        _completed(run, {"deleted": deleted})
        return {"trash": None, "id": None}
    tag = fileops.item_id(run.job)
    _removal_leftovers(run.job, p)
    where = fileops.trash(p["path"], p["trash"], tag, run.report, run.cancel)
    _completed(run, {})
    return {"trash": where, "id": tag.decode()}


def run_restore(run: JobRun) -> dict[str, Any]:
    """``restore``: params ``trash`` (the library's trash folder), ``item`` (its id)."""
    _started(run)
    p = run.params
    item = fileops.find(p["trash"], p["item"].encode())
    if item is None:
        raise TrashItemNotFound(p["item"])
    _restore_leftovers(run.job, p)
    fileops.restore(item, p["trash"], run.report, run.cancel)
    _completed(run, {})
    return {"id": item.id, "path": item.path}


def _transfer_leftovers(job: bytes, params: dict[str, Any]) -> None:
    tag = fileops.item_id(job)
    fileops.remove_partials(os.path.dirname(params["target"]), tag)
    if "trash" in params:
        fileops.remove_leftovers(params["trash"], tag)


def _removal_leftovers(job: bytes, params: dict[str, Any]) -> None:
    if not params["permanent"]:
        fileops.remove_leftovers(params["trash"], fileops.item_id(job))


def _restore_leftovers(job: bytes, params: dict[str, Any]) -> None:
    item = fileops.find(params["trash"], params["item"].encode())
    if item is not None and item.path is not None:
        fileops.remove_partials(os.path.dirname(item.path), item.id.encode())


# What a killed run of each kind of file job may have left, removed before its next run or
# when it is cancelled instead.
LEFTOVERS: dict[str, Callable[[bytes, dict[str, Any]], None]] = {
    "copy": _transfer_leftovers,
    "move": _transfer_leftovers,
    "remove": _removal_leftovers,
    "restore": _restore_leftovers,
}
