"""``sd audit``: the actions run on a library, by any device, and how they ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any

from events.clock import COUNTER_BITS, MAX_HLC, hlc_ms
from events.shapes import Int
from projections.actions import actions_since
from projections.devices import device_names
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.results import HEX, MAYBE_HEX, MAYBE_TEXT, MAYBE_TIME, PLAIN, TEXT, many, record
from sdactors.ops.shapes import LIBRARY


def when(hlc: int | None) -> str | None:
    """An event's clock as an ISO time (UTC), as results give times."""
    if hlc is None:
        return None
    return datetime.fromtimestamp(hlc_ms(hlc) / 1000, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )


# The latest time an event's clock carries, in milliseconds since the epoch.
SINCE_MOST = MAX_HLC >> COUNTER_BITS


@op("audit")
@dataclass(frozen=True)
class Audit(Op):
    """Actions requested since ``since_ms`` (milliseconds since the epoch), oldest first."""

    since_ms: Annotated[int, Int(0, SINCE_MOST)] = 0
    library: Annotated[str | None, LIBRARY] = None

    result = many(
        record(
            action=HEX,
            device=HEX,
            device_name=MAYBE_TEXT,
            command=TEXT,
            arguments=PLAIN,
            requested=MAYBE_TIME,
            state=TEXT,
            outcome=PLAIN,
            error=MAYBE_TEXT,
            finished=MAYBE_TIME,
            proposal=MAYBE_HEX,
        )
    )

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.read_library(self.library)
        with lib.index() as db:
            rows = actions_since(db, self.since_ms << COUNTER_BITS)
            names = device_names(db)
        return [
            {
                "action": row.action.hex(),
                "device": row.device.hex(),
                "device_name": names.get(row.device),
                "command": row.command,
                "arguments": row.arguments,
                "requested": when(row.requested),
                "state": row.state,
                "outcome": row.outcome,
                "error": row.error,
                "finished": when(row.finished),
                "proposal": row.proposal.hex() if row.proposal is not None else None,
            }
            for row in rows
        ]
