"""Process-wide settings for a process that runs sdactors (the ``sd`` command, a node).

Retry intervals (a peer that cannot be reached, a location that cannot be watched, a broken
Spacedrop) are scaled by ``SD_BACKOFF_SCALE`` (default 1): the test suite makes them short,
so no test waits through a real backoff to see what happens after it.

The cyclic garbage collector's default (a young-generation pass every 700 allocations)
costs a third of a bulk fold or index run, which allocate millions of short-lived tuples.
Objects alive after start-up (modules, tables) are frozen out of its view, and its passes
are made rarer. Reference counting still frees almost everything at once; only cycles wait.
"""

from __future__ import annotations

import gc
import os

BACKOFF_SCALE_ENV = "SD_BACKOFF_SCALE"


def backoff(seconds: float) -> float:
    """A retry interval of this process, scaled by ``SD_BACKOFF_SCALE`` when it is set."""
    return seconds * float(os.environ.get(BACKOFF_SCALE_ENV) or 1)


def tune_for_throughput() -> None:
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
