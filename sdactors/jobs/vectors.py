"""The vectors job: the meaning of every entry's name and path, beside the index.

A node queues it when an index job ends having brought new or changed entries (and after
the first index of each location since the node started), like the media job and for the
same reason: never inside an index (the first index of 100k files would take half again as
long, ``tools/bench_semantic.py``), at the lowest priority, in the background slot, after
the index jobs running (``JobRun.quiet``). It writes nothing to the log: the vectors are
local (``sdactors/semantic/vectors.py``), so it is never recorded, and a search by meaning
that finds them lost makes them again itself.
"""

from __future__ import annotations

from typing import Any

from sdactors.jobs.run import JobRun
from sdactors.runtime.errors import SemanticUnavailable
from sdactors.runtime.logs import get_logger
from sdactors.semantic.vectors import refresh

log = get_logger(__name__)

# How long the job waits for the index jobs running to end before it starts anyway.
QUIET_WAIT_S = 600.0


def run_vectors(run: JobRun) -> dict[str, Any]:
    """The counts: entries embedded, kept from before, dropped (gone from the index)."""
    if run.quiet is not None:
        run.quiet.wait(QUIET_WAIT_S)
    lib = run.lib
    lib.catch_up()
    try:
        with lib.index() as db:
            update = refresh(lib.paths.root, db)
    except SemanticUnavailable as e:
        log.warning("vectors_not_made", error=str(e))
        return {"embedded": 0}
    if update is None:
        return {"embedded": 0, "kept": 0, "dropped": 0}
    return {"embedded": update.embedded, "kept": update.kept, "dropped": update.dropped}
