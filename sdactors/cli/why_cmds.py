"""``sd why PATH``: one line saying whether PATH is indexed (or what kept it out), then the
details."""

from __future__ import annotations

import click

from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.runtime.paths import entry_path


@click.command("why")
@click.argument("path")
@library_option
@json_option
@pass_ctx
def why(ctx: CliContext, path: str, library: str | None) -> None:
    """Whether PATH is in the index, on which device and since which event; if it is not,
    what kept it out: no location, a rule of its location, an unreadable folder, an offline
    volume, or events of another device not received yet."""
    # The entry itself (a link is a link), its folders resolved where the user typed it.
    answer = ctx.call("why", path=entry_path(path), library=library)
    if ctx.out.as_json:
        ctx.out.json(answer)
        return
    if answer["indexed"]:
        ctx.out.line(f"{answer['path']}: indexed {answer['detail']}")
    else:
        ctx.out.line(f"{answer['path']}: not indexed ({answer['reason']}): {answer['detail']}")
    loc = answer["location"]
    if loc is not None:
        ctx.out.line(f"  location  {loc['name']} {loc['path']} (device {loc['device'][:10]})")
    if answer["rule"]:
        ctx.out.line(f"  rule      {answer['rule']}")
    for key in ("since", "moved"):
        event = answer[key]
        if event is not None:
            ctx.out.line(
                f"  {key:<9} pos {event['pos']} {event['type']} {event['time']} "
                f"({event['device'][:10]}#{event['seq']})"
            )
