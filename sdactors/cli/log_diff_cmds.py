"""``sd log diff A B``: what two copies of one library's log hold that the other lacks."""

from __future__ import annotations

import os
from typing import Any

import click

from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx


def _run(run: dict[str, int] | None) -> str:
    if run is None:
        return "-"
    return f"{run['count']} (#{run['first']}..#{run['last']})"


def _row(d: dict[str, Any]) -> list[str]:
    return [
        d["device"][:10],
        str(d["a_seq"]),
        str(d["b_seq"]),
        _run(d["only_a"]),
        _run(d["only_b"]),
        _run(d["equivocation"]),
    ]


def _side(spec: str) -> str:
    """A file or folder where the user typed it, made absolute (the node's working folder
    is not the user's); anything else names a library."""
    path = os.path.expanduser(spec)
    return os.path.abspath(path) if os.path.exists(path) else spec


@click.command("diff")
@click.argument("a")
@click.argument("b")
@library_option
@json_option
@pass_ctx
def diff(ctx: CliContext, a: str, b: str, library: str | None) -> None:
    """Compare two copies of one library's log, device by device.

    A and B are each an export file, a data directory (--library picks the library in one
    that holds several), or a library of this data directory by name or id. Shows the events
    each has that the other lacks, any equivocation (one device, one seq, two events), and
    whether the events both hold agree."""
    from sdactors.ops.log_read import LogDiff

    result = ctx.execute(LogDiff(_side(a), _side(b), library))
    if ctx.out.as_json:
        ctx.out.json(result)
        return
    ctx.out.line(f"A: {result['a']['source']} ({result['a']['events']} events)")
    ctx.out.line(f"B: {result['b']['source']} ({result['b']['events']} events)")
    ctx.out.table(
        ["device", "A seq", "B seq", "only in A", "only in B", "equivocation"],
        [_row(d) for d in result["devices"]],
        "no events on either side",
    )
    first = result["first_disagreement"]
    if result["identical"]:
        ctx.out.line("identical: both hold the same events")
    elif first is not None:
        ctx.out.line(
            f"shared events disagree: first at {first['device'][:10]}"
            f"#{first['seq']} (equivocation: one device signed two events there)"
        )
    else:
        ctx.out.line("shared events agree")
