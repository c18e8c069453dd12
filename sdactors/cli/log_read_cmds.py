"""``sd log show|tail|history|explain``: reading a library's log as people debug it.

``show`` renders bodies for people (``--raw`` keeps the stored form, ``--json`` stays
lossless), filtered by position or time, type, device (name or id) and path; ``tail`` prints
the last events and, with ``--follow``, each new one as it is committed; ``history`` is the
life of one path across devices; ``explain`` the rows one event changed. The ops
(``sdactors.ops.log_read``) read the log and give events in the form printed; ``show`` and
``tail`` stream them, printed here as they come.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

import click

from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.runtime.paths import user_path


class Bound(click.ParamType):
    """A position (a number) or a time (ISO, UTC unless it says otherwise)."""

    name = "POS|TIME"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[str, int]:
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        if text.isdigit():
            return ("pos", int(text))
        try:
            at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{text!r} is neither a position nor a time like 2026-11-30T14:05", param)
        if at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)
        return ("ms", int(at.timestamp() * 1000))


def form_of(ctx: CliContext) -> str:
    """The form events are asked in: lossless under --json, else lines for people."""
    return "json" if ctx.out.as_json else "text"


def printed(ctx: CliContext, form: str) -> Callable[[dict[str, Any]], None]:
    """Print each frame of a streaming command as it comes (a reader following the output
    sees each line at once)."""

    def frame(info: dict[str, Any]) -> None:
        for item in info["items"]:
            if form == "json":
                ctx.out.json(item)
            else:
                ctx.out.line(item)
        ctx.out.flush()

    return frame


def print_lines(ctx: CliContext, answer: Any) -> None:
    """An answer asked for in the form ``form_of`` chose: the value, or its lines."""
    if ctx.out.as_json:
        ctx.out.json(answer)
        return
    for line in answer:
        ctx.out.line(line)


@click.command("show")
@click.option("--since", type=Bound(), default=None, help="After this position, or from this time.")
@click.option("--until", type=Bound(), default=None, help="Up to this position or time.")
@click.option(
    "--type", "type_prefix", default=None, help="Only types starting with this, e.g. 'tag.'."
)
@click.option("--device", default=None, help="Only events of this device (name, or id prefix).")
@click.option("--path", default=None, help="Only events touching this path or anything under it.")
@click.option("--expand", is_flag=True, help="Batch events: one line per entry, with its path.")
@click.option("--raw", is_flag=True, help="Bodies as stored (ids and paths in hex).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many events.")
@library_option
@json_option
@pass_ctx
def show(
    ctx: CliContext,
    since: tuple[str, int] | None,
    until: tuple[str, int] | None,
    type_prefix: str | None,
    device: str | None,
    path: str | None,
    expand: bool,
    raw: bool,
    limit: int | None,
    library: str | None,
) -> None:
    """Show events in log order, for people (JSON lines with --json, lossless)."""
    from sdactors.ops.log_read import LogShow

    form = "raw" if raw and not ctx.out.as_json else form_of(ctx)
    command = LogShow(
        since,
        until,
        type_prefix,
        device,
        None if path is None else user_path(path),
        expand,
        form,
        limit,
        library,
    )
    try:
        ctx.execute(command, printed(ctx, form))
    except BrokenPipeError:
        pass  # the reader went away (| head): done, quietly


@click.command("tail")
@click.option("-n", "count", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--follow", "-f", is_flag=True, help="Then print each new event as it is committed.")
@click.option(
    "--type", "type_prefix", default=None, help="Only types starting with this, e.g. 'tag.'."
)
@library_option
@json_option
@pass_ctx
def tail(
    ctx: CliContext, count: int, follow: bool, type_prefix: str | None, library: str | None
) -> None:
    """The last events; with --follow, new ones as they are committed, until Ctrl-C."""
    from sdactors.ops.log_read import LogTail

    form = form_of(ctx)
    try:
        ctx.execute(LogTail(count, follow, type_prefix, form, library), printed(ctx, form))
    except BrokenPipeError:
        pass  # the reader went away (| head): done, quietly
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a follow ends


@click.command("history")
@click.argument("path")
@library_option
@json_option
@pass_ctx
def history(ctx: CliContext, path: str, library: str | None) -> None:
    """The life of PATH across devices: every event that created, modified, moved,
    identified or deleted it (and what changed)."""
    from sdactors.ops.log_read import LogHistory

    print_lines(ctx, ctx.execute(LogHistory(user_path(path), form_of(ctx), library)))


@click.command("explain")
@click.argument("pos", type=click.IntRange(min=1))
@library_option
@json_option
@pass_ctx
def explain(ctx: CliContext, pos: int, library: str | None) -> None:
    """The rows of each read model that the event at POS added, changed or removed."""
    from sdactors.ops.log_read import LogExplain

    print_lines(ctx, ctx.execute(LogExplain(pos, form_of(ctx), library)))
