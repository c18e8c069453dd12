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
    from events.store import EventStore
    from sdactors.cli.log_read_cmds import device_names, event_json
    from sdactors.replay.bisect import bisect as run_bisect
    from sdactors.replay.render import event_line
    from sdactors.replay.snapshots import SnapshotCache

    config = ctx.find(library)
    store = EventStore(config.paths.events, readonly=True)
    try:
        found = run_bisect(SnapshotCache(config), store, sql)
        event = next(store.read(found.position - 1, until=found.position))
        names = device_names(store)
    finally:
        store.close()
    if ctx.out.as_json:
        ctx.out.json(
            {"position": found.position, "probes": found.probes, "event": event_json(event)}
        )
        return
    ctx.out.line(f"first holds at position {found.position} ({found.probes} probes), after:")
    ctx.out.line(event_line(event, names))
