"""Indexing yields the machine to everything else: low CPU and I/O priority.

A node indexes in the background of whatever its machine is for (serving files, a desktop):
a rescan of a large disk must never make that slower. The indexer's thread and the identity
workers lower their own priority as they start; a thread's priority is its own on Linux (nice
and I/O class are per thread there), so the rest of the process keeps its own. Lowering is
always permitted; where the platform lacks a knob, or refuses it, indexing goes on at the
priority it had.
"""

from __future__ import annotations

import os
import threading

import psutil

from sdactors.runtime.logs import get_logger

log = get_logger(__name__)

# The nice value indexing runs at (19 is the lowest priority), as ``nice`` gives by default.
NICE = 10
# What can wait for indexing (thumbnails, media data) runs lowest: the index of a new location
# is what the user is waiting for.
BACKGROUND_NICE = 19


def lower_priority(nice: int = NICE) -> None:
    """Lower the calling thread's CPU priority to ``nice`` (never raising it: workers inherit
    the thread's), and on Linux its I/O priority to the lowest of best-effort (idle could
    starve indexing for as long as the disk is busy)."""
    try:
        if os.getpriority(os.PRIO_PROCESS, 0) < nice:
            os.setpriority(os.PRIO_PROCESS, 0, nice)
    except (AttributeError, OSError) as exc:
        log.info("indexer_nice_refused", error=str(exc))
    if not hasattr(psutil, "IOPRIO_CLASS_BE"):
        return  # I/O classes are Linux's
    try:
        psutil.Process(threading.get_native_id()).ionice(psutil.IOPRIO_CLASS_BE, 7)
    except (psutil.Error, OSError, ValueError) as exc:
        log.info("indexer_ionice_refused", error=str(exc))
