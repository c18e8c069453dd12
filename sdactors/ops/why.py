"""``why``: whether a path is in the index and since which event, or what kept it out.

An op, so it runs in the node when one serves the data directory (the node holds the
library; the path was made absolute where the user typed it). See ``sdactors.replay.why``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.results import MAP
from sdactors.ops.shapes import LIBRARY, PATH
from sdactors.replay.why import why


@op("why")
@dataclass(frozen=True)
class Why(Op):
    """Where PATH is indexed, on which device and since which event; else why it is not."""

    path: Annotated[bytes, PATH]
    library: Annotated[str | None, LIBRARY] = None

    result = MAP

    def run(self, ctx: OpContext) -> Any:
        return why(ctx.read_library(self.library), self.path, ctx.device).as_json()
