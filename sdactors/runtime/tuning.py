"""Process-wide settings for a process that runs sdactors (the ``sd`` command, a node).

The cyclic garbage collector's default (a young-generation pass every 700 allocations)
costs a third of a bulk fold or index run, which allocate millions of short-lived tuples.
Objects alive after start-up (modules, tables) are frozen out of its view, and its passes
are made rarer. Reference counting still frees almost everything at once; only cycles wait.
"""

from __future__ import annotations

import gc


def tune_for_throughput() -> None:
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
