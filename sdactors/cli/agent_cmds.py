"""``sd agent``: agents that watch the library and propose changes; people preview, accept
or reject each proposal. Admins enable agents and grant them places and tags."""

from __future__ import annotations

from typing import Any

import click

from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.ops.agents import (
    AgentAccept,
    AgentEnable,
    AgentGrant,
    AgentList,
    AgentProposals,
    AgentReject,
    AgentRun,
    AgentShow,
)
from sdactors.runtime.errors import InvalidArgument
from sdactors.runtime.paths import entry_path
from sdactors.runtime.units import human_bytes


@click.group("agent")
def group() -> None:
    """Agents: proposals to preview, accept or reject; what each may see and touch."""


@group.command("list")
@library_option
@json_option
@pass_ctx
def list_(ctx: CliContext, library: str | None) -> None:
    """The agents: enabled or not, their grant, what they do and follow."""
    rows = ctx.execute(AgentList(library))
    if ctx.out.as_json:
        ctx.out.json(rows)
        return
    ctx.out.table(
        ["agent", "enabled", "grant", "follows", "summary"],
        [
            (
                r["name"],
                "yes" if r["enabled"] else "no",
                ", ".join(
                    [p["where"] or f"{p['location'][:10]}/{p['path']}" for p in r["places"]]
                    + [f"tag {t['name'] or t['id'][:10]}" for t in r["tags"]]
                )
                or "nothing",
                " ".join(r["follows"]),
                r["summary"],
            )
            for r in rows
        ],
        "no agents",
    )


@group.command("enable")
@click.argument("name")
@library_option
@json_option
@pass_ctx
def enable(ctx: CliContext, name: str, library: str | None) -> None:
    """Let agent NAME run (admins only)."""
    done = ctx.execute(AgentEnable(name, True, library))
    ctx.out.result(done, f"agent {name} enabled")


@group.command("disable")
@click.argument("name")
@library_option
@json_option
@pass_ctx
def disable(ctx: CliContext, name: str, library: str | None) -> None:
    """Stop agent NAME (admins only)."""
    done = ctx.execute(AgentEnable(name, False, library))
    ctx.out.result(done, f"agent {name} disabled")


@group.command("grant")
@click.argument("name")
@click.option("--location", "places", multiple=True, metavar="PATH",
              help="A location, or a folder inside one (repeatable).")  # fmt: skip
@click.option("--tag", "tags", multiple=True, metavar="NAME", help="A tag (repeatable).")
@click.option("--revoke", is_flag=True, help="Take these back instead.")
@library_option
@json_option
@pass_ctx
def grant(
    ctx: CliContext,
    name: str,
    places: tuple[str, ...],
    tags: tuple[str, ...],
    revoke: bool,
    library: str | None,
) -> None:
    """Grant agent NAME places and tags it may see and touch (admins only)."""
    paths = tuple(entry_path(p) for p in places)
    done = ctx.execute(AgentGrant(name, paths, tags, revoke, library))
    what = len(done["places"]) + len(done["tags"])
    noun = "grant" if what == 1 else "grants"
    verb = "took back" if revoke else "granted"
    ctx.out.result(done, f"{verb} {what} {noun} {'from' if revoke else 'to'} agent {name}")


@group.command("run")
@click.argument("name")
@library_option
@json_option
@pass_ctx
def run(ctx: CliContext, name: str, library: str | None) -> None:
    """Sweep agent NAME's whole grant now, and write what it proposes."""
    done = ctx.execute(AgentRun(name, library))
    count = done["proposed"]
    ctx.out.result(done, f"agent {name}: {count} new proposal{'s' if count != 1 else ''}")


@group.command("proposals")
@click.option("--agent", default=None, metavar="NAME", help="Only this agent's.")
@click.option("--all", "all_", is_flag=True, help="Decided ones too.")
@library_option
@json_option
@pass_ctx
def proposals(ctx: CliContext, agent: str | None, all_: bool, library: str | None) -> None:
    """The open proposals (with --all, decided ones too), oldest first."""
    rows = ctx.execute(AgentProposals(agent, all_, library))
    if ctx.out.as_json:
        ctx.out.json(rows)
        return
    ctx.out.table(
        ["id", "agent", "items", "state", "title"],
        [(r["id"][:12], r["agent"], r["items"], _state(r), r["title"]) for r in rows],
        "no proposals" if all_ else "no open proposals",
    )


def _state(row: dict[str, Any]) -> str:
    outcomes = row["outcomes"]
    if outcomes is None:
        return row["state"]
    failed = sum(not o["ok"] for o in outcomes)
    return f"applied, {failed} failed" if failed else "applied"


@group.command("show")
@click.argument("proposal")
@library_option
@json_option
@pass_ctx
def show(ctx: CliContext, proposal: str, library: str | None) -> None:
    """Preview proposal PROPOSAL (an id or its first digits): each item, what it would do."""
    found = ctx.execute(AgentShow(proposal, library))
    if ctx.out.as_json:
        ctx.out.json(found)
        return
    _preview(ctx.out, found)


def _preview(out: Any, found: dict[str, Any]) -> None:
    """A proposal as ``sd agent show`` prints it: each item, what it would do."""
    p = found["proposal"]
    out.line(f"proposal {p['id']} by agent {p['agent']}: {p['title']}")
    out.line(f"on {p['device_name'] or p['device'][:10]}, {_state(p)}")
    done = {o["item"]: o for o in p["outcomes"] or []}
    for item in found["preview"]:
        n = item["item"]
        ended = done.get(n)
        mark = (
            "" if ended is None else (" [done]" if ended["ok"] else f" [failed: {ended['error']}]")
        )
        out.line(f"{n:>4}. {item['command']}{mark}")
        out.line(f"      {item['reason']}")
        if item["bytes"] is not None and item["trash"]:
            out.line(f"      to the trash: {human_bytes(item['bytes'])}")
    if found["bytes_freed"]:
        out.line(f"frees {human_bytes(found['bytes_freed'])} (once the trash is emptied)")


@group.command("ask")
@click.argument("request")
@library_option
@json_option
@pass_ctx
def ask(ctx: CliContext, request: str, library: str | None) -> None:
    """Ask the language model of node.toml's [agents.llm] for a proposal, in words."""
    from sdactors.ops import registry  # noqa: F401 - the agentable commands, every one
    from sdactors.ops.agent_ask import AgentAsk

    found = ctx.execute(AgentAsk(request, library))
    if ctx.out.as_json:
        ctx.out.json(found)
        return
    _preview(ctx.out, ctx.execute(AgentShow(found["proposal"], library)))
    if found["answer"]:
        ctx.out.line(f"the model says: {found['answer']}")


def _items(only: str | None) -> tuple[int, ...]:
    if not only:
        return ()
    numbers = []
    for part in only.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise InvalidArgument(f"--only {only!r}: give item numbers from 1, like 1,3")
        numbers.append(int(part))
    return tuple(numbers)


@group.command("accept")
@click.argument("proposal")
@click.option("--only", default=None, metavar="N,N", help="Only these items (as shown).")
@library_option
@json_option
@pass_ctx
def accept(ctx: CliContext, proposal: str, only: str | None, library: str | None) -> None:
    """Accept proposal PROPOSAL: its items run on the device that owns the files."""
    done = ctx.execute(AgentAccept(proposal, _items(only), library))
    if done["outcomes"] is None:
        ctx.out.result(done, f"accepted {done['id'][:12]}: it runs on {done['runs_on']}")
        return
    failed = [o for o in done["outcomes"] if not o["ok"]]
    text = f"accepted {done['id'][:12]}: {len(done['outcomes']) - len(failed)} done"
    if failed:
        text += (
            f", {len(failed)} failed ("
            + "; ".join(f"item {o['item']}: {o['error']}" for o in failed[:5])
            + ")"
        )
    ctx.out.result(done, text)


@group.command("reject")
@click.argument("proposal")
@library_option
@json_option
@pass_ctx
def reject(ctx: CliContext, proposal: str, library: str | None) -> None:
    """Reject proposal PROPOSAL: nothing of it runs."""
    done = ctx.execute(AgentReject(proposal, library))
    ctx.out.result(done, f"rejected {done['id'][:12]}")
