"""Commands on the read models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from events.shapes import Bool, Maybe, Text
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.shapes import LIBRARY


@op("projections.rebuild")
@dataclass(frozen=True)
class RebuildIndex(Op):
    """Fold the whole log into a new index and swap it in (``Library.rebuild_index``), run
    by whoever holds the library: the node when one runs, else this process.

    ``damaged`` is what a reader of index.db found wrong with it (a CLI reading the file
    while a node holds the library): reads are refused until the swap. Without ``wait`` the
    answer is the rebuild's progress, at once.
    """

    library: Annotated[str | None, LIBRARY] = None
    wait: Annotated[bool, Bool()] = True
    damaged: Annotated[str | None, Maybe(Text(1, 1000))] = None

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.write_library(self.library)
        if self.damaged is not None:
            reason = f"a read found it damaged: {self.damaged}"
        else:
            reason = "asked for with 'sd projections rebuild'"
        result = lib.rebuild_index(reason, damaged=self.damaged is not None, wait=self.wait)
        if result is None:
            rebuild = lib.health.status()["index"]["rebuild"]
            return {"state": "rebuilding", "percent": rebuild["percent"] if rebuild else 0}
        return {"digest": result.digest, "events": result.events, "path": result.path}
