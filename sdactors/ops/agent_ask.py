"""``sd agent ask "REQUEST"``: a request in words, answered by the language model node.toml
names (``[agents.llm]``) with a proposal of the ``ask`` agent (``sdactors.agent.ask``).

The commands the model may propose are the agentable ones, described to it from their own
declared shapes: what a client would send, less what a proposal does not choose (the
library: the one asked about; overwriting; creating a tag; a removal is always to the
trash). The proposal is written like any agent's (``agent.proposed``), so it is previewed,
accepted or rejected like any other; the request itself is an audited action.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Annotated, Any

from events.domain.agents import AgentProposed
from events.shapes import Text, declared_shape
from projections.files.query import locations
from sdactors.agent.ask import Command, ask
from sdactors.agent.llm import Chat
from sdactors.ops.annotations import TagAdd, TagRemove
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.files import FileMove, FileRemove
from sdactors.ops.results import HEX, MAP, TEXT, many, record
from sdactors.ops.shapes import LIBRARY
from sdactors.runtime.config import load_node_config
from sdactors.runtime.errors import NoProvider
from sdactors.runtime.paths import text

# The commands an agent may propose (the ActionManager runs them for an accepted proposal).
AGENTABLE: tuple[type[Op], ...] = (FileMove, FileRemove, TagAdd, TagRemove)
# Fields a proposal does not choose: the library is the one asked about, and the rest keep
# their defaults (no overwrite, no tag created).
NOT_CHOSEN = frozenset({"library", "force", "create", "permanent"})
# Fields set whatever the model says: an agent's removal goes to the trash.
FIXED = {"permanent": False}
REQUEST = Text(1, 2000)


def agentable_commands() -> list[Command]:
    """The agentable commands as the model is told of them, from their declared shapes."""
    out = []
    for cls in AGENTABLE:
        name = cls.op_name
        shapes = dict(declared_shape(cls).fields)
        fields = tuple(
            (f.name, shapes[f.name], f.default is dataclasses.MISSING)
            for f in dataclasses.fields(cls)
            if f.name not in NOT_CHOSEN
        )
        fixed = {n: v for n, v in FIXED.items() if n in shapes}
        summary = " ".join((cls.__doc__ or name).split("\n\n")[0].split())
        if fixed.get("permanent") is False:
            summary = summary.split(":")[0] + ": into the library's trash."
        out.append(Command(name, summary, fields, fixed))
    return out


def _shown(value: Any) -> Any:
    """Arguments as a result holds them: paths as text."""
    if isinstance(value, bytes):
        return text(value)
    if isinstance(value, (list, tuple)):
        return [_shown(v) for v in value]
    return value


PROPOSED = record(
    proposal=HEX,
    agent=TEXT,
    title=TEXT,
    answer=TEXT,
    items=many(record(reason=TEXT, op=TEXT, args=MAP)),
)


@op("agent.ask", writes=True)
@dataclass(frozen=True)
class AgentAsk(Op):
    """Ask the language model for a proposal in words."""

    request: Annotated[str, REQUEST]
    library: Annotated[str | None, LIBRARY] = None

    result = PROPOSED

    def _config(self, ctx: OpContext) -> Any:
        config = load_node_config(ctx.data).llm
        if config is None:
            raise NoProvider(str(ctx.data.node_config))
        return config

    def validate(self, ctx: OpContext) -> None:
        self._config(ctx)

    def run(self, ctx: OpContext) -> Any:
        config = self._config(ctx)
        lib = ctx.write_library(self.library)
        lib.catch_up()
        view = ask_view(lib, ctx.device)
        with Chat(config) as chat:
            proposal, words = ask(view, chat, self.request, agentable_commands(), config.rounds)
        items = tuple((i.reason, i.op, i.args) for i in proposal.items)
        lib.append_typed(AgentProposed(proposal.id, proposal.agent, proposal.title, items))
        lib.catch_up()
        return {
            "proposal": proposal.id.hex(),
            "agent": proposal.agent,
            "title": proposal.title,
            "answer": words,
            "items": [
                {"reason": i.reason, "op": i.op, "args": {k: _shown(v) for k, v in i.args.items()}}
                for i in proposal.items
            ],
        }


class _MineView:
    """The ask agent's view until the AgentManager's grants land: every location of this
    device, no tag. (Replaced by the manager's view on merge.)"""

    def __init__(self, lib: Any, device: bytes) -> None:
        self.lib, self.device, self.library = lib, device, lib.config.id
        with lib.index() as db:
            self._places = [loc.path for loc in locations(db) if loc.device == device]

    def index(self) -> Any:
        return self.lib.index()

    def granted(self, path: bytes) -> bool:
        return any(path == p or path.startswith(p.rstrip(b"/") + b"/") for p in self._places)

    def granted_tags(self) -> frozenset[bytes]:
        return frozenset()

    def now(self) -> float:
        return time.time()

    def settings(self) -> dict[str, Any]:
        return {}


def ask_view(lib: Any, device: bytes) -> Any:
    return _MineView(lib, device)
