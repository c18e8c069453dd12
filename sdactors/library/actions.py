"""The end of an audited action a killed process left open (see ``sdactors.ops.action_manager``).

An action is ``requested`` in the log before its command runs, and closed after. A process
killed in between leaves it ``requested``; the next process to open the library (it holds the
library's lock, so no action of this device is running) closes it: failed, "interrupted";
or, in a node, when the job the action was waiting on resumes, with that job's end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from events.domain import CATALOG
from events.domain.actions import ActionCompleted, ActionFailed
from events.shapes import Plain
from projections.actions import REQUESTED, action_state, open_actions
from sdactors.runtime.logs import get_logger

if TYPE_CHECKING:
    from sdactors.library.handle import Library

log = get_logger(__name__)

# Whether a value may be recorded in an action's events (an outcome too large or not plain
# is left out; the arguments must fit).
FITS = Plain().checker()


def close_interrupted(
    lib: Library, resuming: dict[bytes, bytes], unfinished: dict[bytes, bytes]
) -> None:
    """Fail the actions of this device a killed process left ``requested`` in ``lib``, but
    those waiting on a job that resumes now (``resuming``: action -> job), which end with it;
    ``unfinished`` jobs (of a command's process) resume when a node starts, as they say."""
    with lib.index() as db:
        left = [a for a in open_actions(db, lib.device) if a not in resuming]
    drafts = []
    for action in left:
        reason = "interrupted: the process running it was stopped before it ended"
        job = unfinished.get(action)
        if job is not None:
            reason += f"; its job {job.hex()[:12]} resumes when a node starts"
        drafts.append(CATALOG.body(ActionFailed(action, reason)))
    if drafts:
        lib.append(drafts)
        log.info("actions_interrupted", count=len(drafts))


def close_action(
    lib: Library, action: bytes, outcome: Any = None, error: str | None = None
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
