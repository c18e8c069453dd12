"""``agent.rule_add``: a rule the rules agent learned, made a shared fact when a person
accepts its proposal (``events.domain.agents.AgentRuleAdded``).

A rule names two folders of this device's locations by place (the location and the path in
it), so it holds wherever the location is mounted and is read alike by every device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from events.domain.agents import EXTENSION, AgentRuleAdded
from projections.files.query import resolve
from sdactors.agent.grants import Touches
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.results import TEXT, record
from sdactors.ops.shapes import CLEAN_PATH, LIBRARY
from sdactors.runtime.errors import InvalidArgument
from sdactors.runtime.paths import show, text

RULES = "rules"


def _place(lib: Any, device: bytes, path: bytes) -> tuple[bytes, str]:
    """``(location, path in it)`` of a folder of this device's locations."""
    with lib.index() as db:
        found = resolve(db, path, device)
    if found is None or found.named_folder is None:
        raise InvalidArgument(f"{show(path)} is not a folder of a location of this device")
    rel = path[len(found.location.path.rstrip(b"/")) :].strip(b"/")
    return found.location.location, text(rel)


@op("agent.rule_add", writes=True)
@dataclass(frozen=True)
class AgentRuleAdd(Op):
    """Add a rule: files ending in ``.extension`` in ``source`` belong in ``destination``."""

    source: Annotated[bytes, CLEAN_PATH]
    extension: Annotated[str, EXTENSION]
    destination: Annotated[bytes, CLEAN_PATH]
    library: Annotated[str | None, LIBRARY] = None

    result = record(source=TEXT, extension=TEXT, destination=TEXT)

    def touches(self) -> Touches | None:
        # Both folders: a rule is the rules agent's to propose within its grant.
        return Touches((self.source, self.destination))

    def _places(self, ctx: OpContext) -> tuple[Any, tuple[bytes, str], tuple[bytes, str]]:
        lib = ctx.write_library(self.library)
        lib.catch_up()
        source = _place(lib, ctx.device, self.source)
        destination = _place(lib, ctx.device, self.destination)
        if source == destination:
            raise InvalidArgument("a rule moves files to another folder than their own")
        return lib, source, destination

    def validate(self, ctx: OpContext) -> None:
        self._places(ctx)

    def run(self, ctx: OpContext) -> Any:
        lib, source, destination = self._places(ctx)
        lib.append_typed(AgentRuleAdded(RULES, source, self.extension, destination))
        lib.catch_up()
        return {
            "source": text(self.source),
            "extension": self.extension,
            "destination": text(self.destination),
        }
