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
that job's end (``sdactors.library.actions``).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from events.domain import CATALOG
from events.domain.actions import ActionCompleted, ActionFailed, ActionRequested
from sdactors.agent.grants import Grants
from sdactors.library.actions import FITS
from sdactors.ops.base import Op, decode
from sdactors.ops.context import CallContext, Report
from sdactors.runtime.errors import AgentItemRefused, InvalidArgument
from sdactors.runtime.logs import get_logger
from sdactors.runtime.mailbox import Later
from sdactors.runtime.progress import ProgressChannels
from sdactors.runtime.supervisor import CrashHook, SupervisedActor

if TYPE_CHECKING:
    from sdactors.ops.context import Host

log = get_logger(__name__)

ACTION_ID_LEN = 16


@dataclass(frozen=True, slots=True)
class RunAction:
    """Run the command ``op`` with ``arguments`` (as a client sends them); asked, the answer
    is what it returns (or its error). Its progress is posted to the channel ``progress``
    (``sdactors.runtime.progress``)."""

    op: str
    arguments: dict[str, Any]
    progress: str | None = None


class ActionManager(SupervisedActor):
    """Runs each command it is asked to on ``host`` (the node's ports, never the node);
    posts their progress to ``progress``, the host's channels."""

    def __init__(
        self, host: Host, progress: ProgressChannels, on_crash: CrashHook | None = None
    ) -> None:
        super().__init__(on_crash)
        self._host = host
        self._progress = progress

    def on_receive(self, message: object) -> object:
        if isinstance(message, RunAction):
            # Its arguments checked here, before anything runs: InvalidArgument is the answer.
            command = decode(message.op, message.arguments)
            answer = Later()
            threading.Thread(
                target=self._run,
                args=(command, message.progress, answer),
                name=f"action {message.op}",
                daemon=True,
            ).start()
            return answer
        raise TypeError(f"ActionManager got an unexpected message: {message!r}")

    def _run(self, command: Op, channel: str | None, answer: Later) -> None:
        report = None
        if channel is not None:
            report = lambda info: self._progress.post(channel, info)  # noqa: E731
        try:
            answer.set(run_audited(self._host, command, report))
        except BaseException as exc:  # noqa: BLE001 - the caller gets it, the actor lives on
            answer.set_exception(exc_info=(type(exc), exc, exc.__traceback__))


def run_audited(
    host: Host,
    command: Op,
    progress: Report | None = None,
    proposal: tuple[bytes, str] | None = None,
) -> Any:
    """Validate, record, run and record the end of one command (see the module's text).

    ``proposal``: the command is an item of that accepted proposal ``(id, agent)``: refused
    unless it is one an agent may propose and everything it touches is inside the agent's
    grant now (whatever the proposal says), and audited with the proposal's id."""
    ctx = CallContext(host, progress)
    if proposal is not None:
        _within_grant(ctx, command, proposal[1])
    command.validate(ctx)
    library = command.audit_library(ctx)
    action = os.urandom(ACTION_ID_LEN)
    ctx.action = action
    args = command.audited_arguments()
    reason = FITS(args)
    if reason is not None:
        raise InvalidArgument(f"{command.op_name}: {reason}")
    if library is not None:
        host.write_library(library).append_typed(
            ActionRequested(action, command.op_name, args, proposal and proposal[0])
        )
    try:
        result = command.run(ctx)
    except BaseException as exc:
        if library is not None:
            error = f"{type(exc).__name__}: {exc}"[:1000]
            try:
                host.write_library(library).append_typed(ActionFailed(action, error))
            except Exception as unrecorded:  # noqa: BLE001 - the command's own error matters
                log.warning("action_failure_not_recorded", error=str(unrecorded))
        log.info("action_failed", command=command.op_name, error=str(exc))
        raise
    after = library or command.created_library(result)
    if after is not None:
        lib = host.write_library(after)
        outcome = result if FITS(result) is None else None
        drafts = (
            []
            if library is not None
            else [ActionRequested(action, command.op_name, args, proposal and proposal[0])]
        )
        lib.append([CATALOG.body(t) for t in (*drafts, ActionCompleted(action, outcome))])
    log.info("action_completed", command=command.op_name)
    return result


def _within_grant(ctx: CallContext, command: Op, agent: str) -> None:
    """Refuse an agent's item that is no agent's to run or reaches outside its grant."""
    lib = ctx.write_library(getattr(command, "library", None))
    lib.catch_up()
    with lib.index() as db:
        grants = Grants(db, ctx.device, agent)
    reason = grants.refusal(command.op_name, command.touches())
    if reason is not None:
        raise AgentItemRefused(agent, reason)
