"""``sd log diff A B``: what two copies of one library's log hold that the other lacks."""

from __future__ import annotations

import click

from events.keys import short_device
from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.replay.diff import DeviceDiff, Run, diff_logs, open_pair


def _run(run: Run | None) -> str:
    if run is None:
        return "-"
    return f"{run.count} (#{run.first}..#{run.last})"


def _row(d: DeviceDiff) -> list[str]:
    return [
        short_device(d.device),
        str(d.a_seq),
        str(d.b_seq),
        _run(d.only_a),
        _run(d.only_b),
        _run(d.equivocation),
    ]


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
    side_a, side_b = open_pair(a, b, ctx.data, library)
    try:
        result = diff_logs(side_a, side_b)
    finally:
        side_a.close()
        side_b.close()
    if ctx.out.as_json:
        ctx.out.json(result.as_json())
        return
    ctx.out.line(f"A: {result.a} ({result.a_events} events)")
    ctx.out.line(f"B: {result.b} ({result.b_events} events)")
    ctx.out.table(
        ["device", "A seq", "B seq", "only in A", "only in B", "equivocation"],
        [_row(d) for d in result.devices],
        "no events on either side",
    )
    first = result.first_disagreement
    if result.identical:
        ctx.out.line("identical: both hold the same events")
    elif first is not None and first.equivocation is not None:
        ctx.out.line(
            f"shared events disagree: first at {short_device(first.device)}"
            f"#{first.equivocation.first} (equivocation: one device signed two events there)"
        )
    else:
        ctx.out.line("shared events agree")
