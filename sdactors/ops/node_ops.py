"""Commands about the node itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sdactors.errors import NodeNotRunning
from sdactors.ops.base import Op, OpContext, op


@op("node.status")
@dataclass(frozen=True)
class NodeStatus(Op):
    """What the running node is doing: its libraries, jobs, memory, events per second."""

    def run(self, ctx: OpContext) -> Any:
        process = getattr(ctx.node, "process", None)
        if process is None:
            raise NodeNotRunning(str(ctx.data.root))
        return process.status()
