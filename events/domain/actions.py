"""User actions, audited: what was asked of a device, and how it ended.

Every command that changes a library is recorded before it runs (``action.requested``: the
command and its arguments) and after (``action.completed`` with its outcome, or
``action.failed`` with the error), by the device that ran it. An action is that device's:
only it records how its actions end.
"""

from dataclasses import dataclass
from typing import Annotated

from events.domain.catalog import CATALOG
from events.shapes import Id, Maybe, Plain, Text

COMMAND = Text(1, 64, pattern=r"[a-z][a-z0-9_.-]*")
# The length of an agent proposal's id (``events.domain.agents.proposal_id``).
PROPOSAL_ID_LEN = 16


@CATALOG.event("action.requested", version=2)
@dataclass(frozen=True, slots=True)
class ActionRequested:
    action: Annotated[bytes, Id()]
    command: Annotated[str, COMMAND]
    arguments: Annotated[dict, Plain()]
    # The agent proposal whose item this action runs (``sd agent accept``), so the audit
    # says which proposal a change came from; None: a person asked for it directly.
    proposal: Annotated[bytes | None, Maybe(Id(PROPOSAL_ID_LEN))] = None


@CATALOG.upcaster("action.requested", 1)
def _asked_directly(body: dict) -> dict:
    """Version 1 had no proposals: every action was asked for directly."""
    body["proposal"] = None
    return body


@CATALOG.event("action.completed")
@dataclass(frozen=True, slots=True)
class ActionCompleted:
    action: Annotated[bytes, Id()]
    outcome: Annotated[dict | list | str | int | None, Plain()]


@CATALOG.event("action.failed")
@dataclass(frozen=True, slots=True)
class ActionFailed:
    action: Annotated[bytes, Id()]
    error: Annotated[str, Text(0, 1000)]
