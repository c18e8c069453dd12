"""The vectors job: the meaning of every entry's name and path, beside the index.

A node queues it when an index job ends having brought new or changed entries (and after
the first index of each location since the node started), like the media job and for the
same reason: never inside an index (it costs about as much CPU as the first index itself,
``tools/bench_semantic.py``), at the lowest priority, in the background slot, after
the index jobs running (``JobRun.quiet``), in a process of its own (the model's load and the
embedding would hold the interpreter's lock from the node's watchers and answers). It writes
nothing to the log: the vectors are local (``sdactors/semantic/vectors.py``), so it is never
recorded, and a search by meaning that finds them lost or behind makes them current itself.
"""

from __future__ import annotations

from multiprocessing import Pipe
from typing import Any

from sdactors.indexer.identify import worker_context
from sdactors.indexer.job import JobCancelled as RunCancelled
from sdactors.jobs.run import JobRun
from sdactors.runtime.errors import SemanticUnavailable
from sdactors.runtime.logs import get_logger

log = get_logger(__name__)

# How long the job waits for the index jobs running to end before it starts anyway.
QUIET_WAIT_S = 600.0
# And then for changes to settle: a burst a watcher sees is many small rescans, each of which
# would queue the job again (one waiting is merged with the next): one read of the index
# (0.5 s of CPU at 100k entries when nothing changed) for the burst, not one per rescan.
SETTLE_S = 1.0
# How often the job looks whether it is cancelled while the process works.
POLL_S = 0.2


def run_vectors(run: JobRun) -> dict[str, Any]:
    """The counts: entries embedded, kept from before, dropped (gone from the index)."""
    if run.quiet is not None:
        run.quiet.wait(QUIET_WAIT_S)
    if run.cancel.wait(SETTLE_S):
        raise RunCancelled()
    # numpy and the model, in the child only: not in every process that imports the jobs.
    from sdactors.semantic.vectors import refresh_apart

    lib = run.lib
    lib.catch_up()
    paths = lib.paths
    mine, theirs = Pipe(duplex=False)
    child = worker_context().Process(
        target=refresh_apart, args=(str(paths.root), str(paths.index), theirs), daemon=True
    )
    child.start()
    theirs.close()
    try:
        while not mine.poll(POLL_S):
            if run.cancel.is_set():
                raise RunCancelled()
            if not child.is_alive() and not mine.poll():
                raise SemanticUnavailable(f"the vectors' process ended ({child.exitcode})")
        counts = mine.recv()
    finally:
        if child.is_alive() and run.cancel.is_set():
            child.terminate()
        child.join()
        mine.close()
    if "error" in counts:
        log.warning("vectors_not_made", error=counts["error"])
    return counts
