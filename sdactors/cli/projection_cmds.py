"""``sd projections``: rebuild the index, travel back in time, compare digests."""

from __future__ import annotations

from pathlib import Path

import click

from events.domain import CATALOG
from events.store import EventStore
from projections.catalog import library_projections
from projections.rebuild import fold_into
from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.errors import InvalidArgument


@click.group("projections")
def group() -> None:
    """The read models folded from the log."""


@group.command("rebuild")
@click.option("--until", type=click.IntRange(min=0), default=None,
              help="Fold only events up to this position (time travel); needs --into.")
@click.option("--into", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the folded index to this file instead of replacing the live one.")
@library_option
@json_option
@pass_ctx
def rebuild(ctx: CliContext, until: int | None, into: Path | None, library: str | None) -> None:
    """Fold the whole log into a fresh index and swap it in atomically."""
    if until is not None and into is None:
        raise InvalidArgument("--until needs --into FILE: the live index always holds the whole log")
    if into is not None:
        store = EventStore(ctx.find(library).paths.events, readonly=True)
        try:
            result = fold_into(str(into), store, library_projections(), CATALOG, until=until)
        finally:
            store.close()
    else:
        result = ctx.write_library(library).rebuild()
    ctx.out.result(
        {"digest": result.digest, "events": result.events, "path": result.path},
        f"folded {result.events} events into {result.path}\ndigest {result.digest}",
    )


@group.command("digest")
@library_option
@json_option
@pass_ctx
def digest(ctx: CliContext, library: str | None) -> None:
    """The digest of every read model: equal on devices holding the same events."""
    value = ctx.read_library(library).digest()
    ctx.out.result({"digest": value}, value)
