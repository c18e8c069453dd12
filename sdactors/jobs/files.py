"""File operations as jobs: the disk work of ``sd cp``, ``sd mv`` and ``sd rm``, run by the
JobManager (so they can be listed, paused by cancelling, and are recorded as job events).

The index follows afterwards, through a rescan of the folders that changed, asked by the
command once its job has ended (a job never waits for another job of its own location).
"""

from __future__ import annotations

import os
from typing import Any

from events.domain.jobs import JobCompleted, JobStarted
from sdactors import fileops
from sdactors.jobs.run import JobRun


def _started(run: JobRun) -> None:
    if run.recorded:
        run.lib.append_typed(JobStarted(run.job, run.kind, run.location))


def _completed(run: JobRun, counts: dict[str, int]) -> None:
    if run.recorded:
        run.lib.append_typed(JobCompleted(run.job, counts))


def run_transfer(run: JobRun) -> dict[str, Any]:
    """``copy`` or ``move``: params ``source``, ``target``, ``force``."""
    _started(run)
    p = run.params
    work = fileops.copy if run.kind == "copy" else fileops.move
    how = work(p["source"], p["target"], run.report, run.cancel, p["force"])
    _completed(run, {})
    return {"how": how}


def run_remove(run: JobRun) -> dict[str, Any]:
    """``remove``: params ``path``, ``permanent``, ``trash`` (the library's trash folder)."""
    _started(run)
    p = run.params
    if p["permanent"]:
        deleted = fileops.delete_permanently(p["path"], run.report, run.cancel)
        _completed(run, {"deleted": deleted})
        return {"trash": None}
    where = fileops.trash(p["path"], p["trash"], run.report, run.cancel)
    _completed(run, {})
    return {"trash": os.fsdecode(where)}
