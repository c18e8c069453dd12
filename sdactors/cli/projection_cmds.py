"""``sd projections``: rebuild the index, travel back in time, compare digests."""

from __future__ import annotations

from pathlib import Path

import click

from sdactors.cli.context import CliContext
from sdactors.cli.options import force_option, json_option, library_option, pass_ctx
from sdactors.runtime.errors import InvalidArgument
from sdactors.runtime.paths import entry_path


@click.group("projections")
def group() -> None:
    """The read models folded from the log."""


@group.command("rebuild")
@click.option(
    "--until",
    type=click.IntRange(min=0),
    default=None,
    help="Fold only events up to this position (time travel); needs --into.",
)
@click.option(
    "--into",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the folded index to this file instead of replacing the live one.",
)
@force_option
@library_option
@json_option
@pass_ctx
def rebuild(
    ctx: CliContext, until: int | None, into: Path | None, force: bool, library: str | None
) -> None:
    """Fold the whole log into a fresh index and swap it in atomically.

    While a node runs it is the node that rebuilds (the library's reads are served from the
    old index until the swap)."""
    if until is not None and into is None:
        raise InvalidArgument(
            "--until needs --into FILE: the live index always holds the whole log"
        )
    if into is not None:
        result = ctx.call(
            "projections.fold", into=entry_path(into), until=until, force=force, library=library
        )
    else:
        result = ctx.call("projections.rebuild", library=library, wait=True, damaged=None)
    if ctx.out.as_json:
        ctx.out.json(result)
        return
    # Two lines, each printed alone: a newline inside one is shown escaped.
    ctx.out.line(f"folded {result['events']} events into {result['path']}")
    ctx.out.line(f"digest {result['digest']}")


@group.command("digest")
@library_option
@json_option
@pass_ctx
def digest(ctx: CliContext, library: str | None) -> None:
    """The digest of every read model: equal on devices holding the same events."""
    result = ctx.call("projections.digest", library=library)
    ctx.out.result(result, result["digest"])


@group.command("tables")
@library_option
@json_option
@pass_ctx
def tables(ctx: CliContext, library: str | None) -> None:
    """The read models' tables and how many rows each holds (for inspection)."""
    rows = ctx.call("projections.tables", library=library)
    if ctx.out.as_json:
        ctx.out.json(rows)
        return
    ctx.out.table(
        ["table", "rows"],
        [(r["table"] + (" (fts5)" if r["fts"] else ""), f"{r['rows']:,}") for r in rows],
        "no tables",
    )
