"""``sd agent ask "REQUEST"``: a request in words, answered with a proposal by the language
model node.toml names (``sdactors/ops/agent_ask.py``)."""

from __future__ import annotations

from typing import Any

import click

from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.cli.output import for_terminal


@click.group("agent")
def group() -> None:
    """Agents: proposals of what to tidy, for a person to accept."""


def _args(op: str, args: dict[str, Any]) -> str:
    if op == "file.move":
        return f"{args['source']} -> {args['destination']}"
    if op == "file.remove":
        return f"{args['path']} (to the trash)"
    if op in ("tag.add", "tag.remove"):
        return f"{args['tag']}: {', '.join(args['paths'])}"
    return ", ".join(f"{k}={v}" for k, v in args.items())


def proposal_lines(proposal: dict[str, Any]) -> list[str]:
    """A proposal as people read it: its id and title, then each command and why."""
    lines = [f"proposal {proposal['proposal']} ({proposal['agent']}): {proposal['title']}"]
    for n, item in enumerate(proposal["items"]):
        lines.append(f"  {n}. {item['op']} {_args(item['op'], item['args'])}")
        lines.append(f"     because {item['reason']}")
    return [for_terminal(line) for line in lines]


@group.command("ask")
@click.argument("request")
@library_option
@json_option
@pass_ctx
def ask(ctx: CliContext, request: str, library: str | None) -> None:
    """Ask the language model of node.toml's [agents.llm] for a proposal in words."""
    from sdactors.ops.agent_ask import AgentAsk

    found = ctx.execute(AgentAsk(request, library))
    if ctx.out.as_json:
        ctx.out.json(found)
        return
    for line in proposal_lines(found):
        ctx.out.line(line)
    if found["answer"]:
        ctx.out.line(for_terminal(f"the model says: {found['answer']}"))
