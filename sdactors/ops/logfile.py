"""The log's own commands that must reach the library's writer (the node's, when one runs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.shapes import LIBRARY


@op("log.accept_loss")
@dataclass(frozen=True)
class AcceptLossOp(Op):
    """After a forced restore: write again without waiting for a peer to send this device's
    later events back (see ``sdactors.library.log_health``). Not audited through the ActionManager,
    whose record would itself wait; the warning is in the node's log."""

    library: Annotated[str | None, LIBRARY] = None

    def run(self, ctx: OpContext) -> Any:
        return {"was_waiting": ctx.write_library(self.library).accept_loss()}
