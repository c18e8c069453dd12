"""The ActionManager: runs the commands that change a library, and audits each one.

A command is checked (its arguments were checked when it was decoded; ``validate`` checks
what needs the library) before anything is written: invalid input leaves no trace. Then
``action.requested`` (the command and its arguments) is appended to the library it acts on,
the command runs, and ``action.completed`` (with what it returned, when that is small) or
``action.failed`` (the error) closes the record. Each action runs in a thread of its own, so
a long one (an index waiting for its job) never holds the others up.

A process killed while it ran an action leaves it ``requested``. The next process to open
the library (it holds the library's lock, so no action of this device is running) closes it:
failed, "interrupted"; or, in a node, when the job the action was waiting on resumes, with
that job's end (``close_action``).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from events.domain import CATALOG
from events.domain.actions import ActionCompleted, ActionFailed, ActionRequested
from events.shapes import Plain
from projections.actions import REQUESTED, action_state, open_actions
from sdactors.runtime.errors import InvalidArgument
from sdactors.runtime.logs import get_logger
from sdactors.runtime.mailbox import Reply
from sdactors.runtime.supervisor import CrashHook, SupervisedActor

if TYPE_CHECKING:
    from sdactors.library.handle import Library
    from sdactors.node.node import Node
    from sdactors.ops.base import Op
    from sdactors.ops.context import ProgressSink

log = get_logger(__name__)

_FITS = Plain().checker()
ACTION_ID_LEN = 16


@dataclass(frozen=True, slots=True)
class RunAction:
    """Run ``command`` and answer with what it returns (or its error) on ``reply``."""

    command: Op
    reply: Reply
    progress: ProgressSink | None = None


class ActionManager(SupervisedActor):
    def __init__(self, node: Node, on_crash: CrashHook | None = None) -> None:
        super().__init__(on_crash)
        self._node = node

    def on_receive(self, message: object) -> object:
        if isinstance(message, RunAction):
            threading.Thread(
                target=self._run,
                args=(message,),
                name=f"action {message.command.op_name}",
                daemon=True,
            ).start()
            return None
        raise TypeError(f"ActionManager got an unexpected message: {message!r}")

    def _run(self, message: RunAction) -> None:
        command, reply = message.command, message.reply
        try:
            reply.set(run_audited(self._node, command, message.progress))
        except BaseException as exc:  # noqa: BLE001 - the caller gets it, the actor lives on
            reply.set_exception(exc_info=(type(exc), exc, exc.__traceback__))


def run_audited(node: Node, command: Op, progress: ProgressSink | None = None) -> Any:
    """Validate, record, run and record the end of one command (see the module's text)."""
    from sdactors.ops.context import CallContext

    ctx = CallContext(node, progress)
    command.validate(ctx)
    library = command.audit_library(ctx)
    action = os.urandom(ACTION_ID_LEN)
    ctx.action = action
    args = command.audited_arguments()
    reason = _FITS(args)
    if reason is not None:
        raise InvalidArgument(f"{command.op_name}: {reason}")
    if library is not None:
        node.open_library(library).append_typed(ActionRequested(action, command.op_name, args))
    try:
        result = command.run(ctx)
    except BaseException as exc:
        if library is not None:
            error = f"{type(exc).__name__}: {exc}"[:1000]
            try:
                node.open_library(library).append_typed(ActionFailed(action, error))
            except Exception as unrecorded:  # noqa: BLE001 - the command's own error matters
                log.warning("action_failure_not_recorded", error=str(unrecorded))
        log.info("action_failed", command=command.op_name, error=str(exc))
        raise
    after = library or command.created_library(result)
    if after is not None:
        lib = node.open_library(after)
        outcome = result if _FITS(result) is None else None
        drafts = [] if library is not None else [ActionRequested(action, command.op_name, args)]
        lib.append([CATALOG.body(t) for t in (*drafts, ActionCompleted(action, outcome))])
    log.info("action_completed", command=command.op_name)
    return result


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
        lib.append_typed(ActionCompleted(action, outcome if _FITS(outcome) is None else None))
