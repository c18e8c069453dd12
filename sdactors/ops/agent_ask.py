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
from dataclasses import dataclass
from typing import Annotated, Any

from events.shapes import Text, declared_shape
from sdactors.agent.ask import NAME, Command, ask
from sdactors.agent.grants import Grants
from sdactors.agent.llm import Chat
from sdactors.agent.manager import write_proposals
from sdactors.agent.view import LibraryView
from sdactors.ops.agents import AgentPorts
from sdactors.ops.base import Op, OpContext, command_class, commands, op
from sdactors.ops.results import HEX, MAP, TEXT, many, record
from sdactors.ops.shapes import LIBRARY
from sdactors.runtime.config import LlmConfig, load_node_config
from sdactors.runtime.errors import AskRefused, NoProvider
from sdactors.runtime.paths import text

# Fields a proposal does not choose: the library is the one asked about, and the rest keep
# their defaults (no overwrite, no tag created).
NOT_CHOSEN = frozenset({"library", "force", "create", "permanent"})
# Fields set whatever the model says: an agent's removal goes to the trash.
FIXED = {"permanent": False}
REQUEST = Text(1, 2000)


def agentable_commands() -> list[Command]:
    """The commands an agent may propose (those that say what they touch: ``Op.touches``),
    as the model is told of them, from their declared shapes. Those registered in this
    process: a node registers every command, and so does ``sd agent ask``."""
    out = []
    for name in commands():
        cls = command_class(name)
        if cls.touches is Op.touches:
            continue
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

    def _config(self, ctx: OpContext) -> LlmConfig:
        config = load_node_config(ctx.data).llm
        if config is None:
            raise NoProvider(str(ctx.data.node_config))
        return config

    def _grants(self, ctx: OpContext) -> tuple[Any, Grants]:
        lib = ctx.write_library(self.library)
        lib.catch_up()
        with lib.index() as db:
            grants = Grants(db, ctx.device, NAME)
        if not grants.folders:
            raise AskRefused(
                f"the {NAME} agent is granted no place of this device; an admin grants it some "
                f"with 'sd agent grant {NAME} --location PATH'"
            )
        return lib, grants

    def validate(self, ctx: OpContext) -> None:
        self._config(ctx)
        self._grants(ctx)

    def run(self, ctx: OpContext) -> Any:
        config = self._config(ctx)
        lib, grants = self._grants(ctx)
        view = LibraryView(lib, ctx.device, NAME, grants)
        ports = AgentPorts(ctx)

        def refusal(name: str, args: dict[str, Any]) -> str | None:
            return grants.refusal(name, ports.touches(name, args))

        with Chat(config) as chat:
            proposal, words = ask(
                view, chat, self.request, agentable_commands(), config.rounds, refusal
            )
        write_proposals(lib, ports, grants, NAME, [proposal])
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
