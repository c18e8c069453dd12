"""The end of an audited action a killed process left open (see ``sdactors.ops.action_manager``).

An action is ``requested`` in the log before its command runs, and closed after. A process
killed in between leaves it ``requested``; the next process to open the library (it holds the
library's lock, so no action of this device is running) closes it: failed, "interrupted";
or, in a node, when the job the action was waiting on resumes, with that job's end.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Any, Protocol

from events.domain.actions import ActionCompleted, ActionFailed
from events.shapes import Plain
from projections.actions import REQUESTED, action_state, open_actions
from sdactors.runtime.logs import get_logger

log = get_logger(__name__)

# Whether a value may be recorded in an action's events (an outcome too large or not plain
# is left out; the arguments must fit).
FITS = Plain().checker()


class ActionLog(Protocol):
    """A library, as closing its actions needs it."""

    @property
    def device(self) -> bytes: ...

    def catch_up(self) -> int: ...

    def index(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def append_typed(self, *typed: object) -> Any: ...


def close_interrupted(
    lib: ActionLog, resuming: dict[bytes, bytes], unfinished: dict[bytes, bytes]
) -> None:
    """Fail the actions of this device a killed process left ``requested`` in ``lib``, but
    those waiting on a job that resumes now (``resuming``: action -> job), which end with it;
    ``unfinished`` jobs (of a command's process) resume when a node starts, as they say."""
    with lib.index() as db:
        left = [a for a in open_actions(db, lib.device) if a not in resuming]
    failed = []
    for action in left:
        reason = "interrupted: the process running it was stopped before it ended"
        job = unfinished.get(action)
        if job is not None:
            reason += f"; its job {job.hex()[:12]} resumes when a node starts"
        failed.append(ActionFailed(action, reason))
    if failed:
        lib.append_typed(*failed)
        log.info("actions_interrupted", count=len(failed))


def close_action(
    lib: ActionLog, action: bytes, outcome: Any = None, error: str | None = None
) -> None:
    """End an action left ``requested`` by a killed process, with the end of the job it was
    waiting on (resumed since): completed with ``outcome``, or failed with ``error``."""
    lib.catch_up()
    with lib.index() as db:
        if action_state(db, lib.device, action) != REQUESTED:
            return
    if error is not None:
        lib.append_typed(ActionFailed(action, error[:1000]))
    else:
        lib.append_typed(ActionCompleted(action, outcome if FITS(outcome) is None else None))
