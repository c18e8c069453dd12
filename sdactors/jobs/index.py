"""The index job: bring one location's index up to date with its disk (all of it, or some
folders), in batches. Resuming it is running it again: its committed batches are in the
index, and a rescan compares against them, so nothing is emitted twice."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from events.domain import CATALOG
from events.domain.jobs import JobCompleted, JobStarted, recorded
from projections.files.query import IndexView, LocationRow, location_row
from sdactors.indexer.job import IndexJob, JobStats
from sdactors.indexer.rules import Rules
from sdactors.runtime.errors import LocationIsOffline, LocationNotFound
from sdactors.runtime.logs import get_logger
from sdactors.runtime.paths import show
from sdactors.volumes.presence import look, recorded_changes

if TYPE_CHECKING:
    from sdactors.jobs.port import JobLibrary
    from sdactors.jobs.run import JobRun

log = get_logger(__name__)


def index_params(folders: list[bytes] | None) -> dict[str, Any]:
    return {} if folders is None else {"folders": list(folders)}


def run_index(run: JobRun) -> dict[str, Any]:
    """The run's counts, and samples of what could not be read."""
    lib = run.lib
    lib.catch_up()
    folders = run.params.get("folders")
    with lib.index() as db:
        row = location_row(db, lib.device, run.location)
    if row is None:
        raise LocationNotFound(run.location.hex())
    check_presence(lib, row)
    with lib.index() as db:
        rules = Rules.from_dict(json.loads(row.rules))
        # Rules written by an older version (or by hand) may not compile: say so now.
        rules.check(show(row.path))
        view = IndexView(db, lib.device)
        run.eids.seed(view.max_eid)
        emitter = run.emitter
        if run.recorded:
            emitter.emit([CATALOG.body(JobStarted(run.job, "index", run.location))])

        def progress(stats: JobStats) -> None:
            run.report(stats.as_dict())

        job = IndexJob(
            run.location,
            row.path,
            rules,
            view,
            emitter.emit,
            run.eids,
            run.identifier,
            progress,
            run.cancel,
            None if folders is None else [bytes(f) for f in folders],
            run.confirmed,
            lib.paths.data_dir_id(),
            # Asked again before deleting: the row as it is now (the first check may have
            # recorded the volume it found).
            lambda: check_presence(lib, location_row(db, lib.device, run.location) or row),
        )
        emitter.counts = lambda: _counts(job.stats)
        try:
            stats = job.run()
        except BaseException:
            emitter.drain(raise_errors=False)
            raise
        if run.recorded:
            # Every batch committed first: one refused (a full disk) fails the job, which the
            # log must not call complete.
            emitter.drain()
            emitter.emit([CATALOG.body(JobCompleted(run.job, recorded(stats.as_dict())))])
        emitter.drain()
    lib.catch_up()
    log.info(
        "index_job_done",
        location=run.location.hex(),
        folders=None if folders is None else len(folders),
        **stats.as_dict(),
    )
    return {**stats.as_dict(), "error_samples": list(stats.error_samples)}


def _counts(stats: JobStats) -> dict[str, int | float]:
    return recorded({k: int(v) for k, v in stats.as_dict().items()})


def check_presence(lib: JobLibrary, row: LocationRow) -> None:
    """Record whether the location's volume is there; raise if it is not, before anything
    is compared: an absent volume must never read as deleted files."""
    presence = look(row)
    changes = recorded_changes(row, presence)
    if changes:
        lib.append_typed(*changes)
        lib.catch_up()
        log.info("location_presence", location=row.location.hex(), offline=presence.offline)
    if presence.offline is not None:
        raise LocationIsOffline(show(row.path), presence.offline)
