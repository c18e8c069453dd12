"""``sd log bisect --when SQL``: the event from which a condition over the read models holds."""

from __future__ import annotations

import click

from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx


@click.command("bisect")
@click.option(
    "--when",
    "sql",
    required=True,
    metavar="SQL",
    help="A single read-only SELECT over the read models (see 'sd projections tables'); the "
    "condition holds where it returns a row.",
)
@library_option
@json_option
@pass_ctx
def bisect(ctx: CliContext, sql: str, library: str | None) -> None:
    """The first log position at which the --when query returns a row, and its event.

    The condition must be monotone along the log: false up to some event, true from it on
    (e.g. "tag red was deleted"; a condition already true before the first event, like
    "no tag red exists", cannot be bisected). Each probe folds the read models to a
    position, starting from the nearest snapshot; the answer is checked false just before it.

    \b
    Example: the event that deleted the tag red
      sd log bisect --when "SELECT 1 FROM tags WHERE name = 'red' AND deleted"
    """
    from sdactors.cli.log_read_cmds import form_of, print_lines
    from sdactors.ops.log_read import LogBisect

    print_lines(ctx, ctx.execute(LogBisect(sql, form_of(ctx), library)))
