"""Commands about the node itself."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Any

from events.shapes import Text
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.results import BOOL, MAP, TEXT, record
from sdactors.ops.shapes import LIBRARY
from sdactors.runtime.errors import InvalidArgument


@op("node.status")
@dataclass(frozen=True)
class NodeStatus(Op):
    """What the running node is doing: its libraries, jobs, memory, events per second."""

    result = MAP

    def run(self, ctx: OpContext) -> Any:
        return ctx.status()


# Fault injection, for tests of supervision against a real node: off unless the node was
# started with this variable set.
FAULTS_ENV = "SD_INJECT_FAULTS"


@dataclass(frozen=True, slots=True)
class InjectedFault:
    """A message no actor handles: the actor that gets it raises, and is restarted."""


@op("debug.crash")
@dataclass(frozen=True)
class DebugCrash(Op):
    """Make one actor of a library raise (only with SD_INJECT_FAULTS=1 in the node's env)."""

    actor: Annotated[str, Text(1, 32, pattern="[a-z]+")]
    library: Annotated[str | None, LIBRARY] = None

    result = record(actor=TEXT, told=BOOL)

    def run(self, ctx: OpContext) -> Any:
        if os.environ.get(FAULTS_ENV) != "1":
            raise InvalidArgument(f"fault injection is off (start the node with {FAULTS_ENV}=1)")
        lib = ctx.write_library(self.library)
        lib.supervisor.ref(self.actor).tell(InjectedFault())
        return {"actor": self.actor, "told": True}
