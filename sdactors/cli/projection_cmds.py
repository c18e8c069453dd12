"""``sd projections``: rebuild the index, travel back in time, compare digests."""

from __future__ import annotations

from pathlib import Path

import click

from events.domain import CATALOG
from events.store import EventStore
from projections.catalog import library_projections
from projections.rebuild import fold_into
from sdactors.cli.context import CliContext
from sdactors.cli.options import force_option, json_option, library_option, pass_ctx
from sdactors.runtime.errors import InvalidArgument
from sdactors.runtime.output_file import new_output


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
        config = ctx.find(library)
        with new_output(into, ctx.data, force) as tmp:
            store = EventStore(config.paths.events, readonly=True)
            try:
                folded = fold_into(str(tmp), store, library_projections(), CATALOG, until=until)
            finally:
                store.close()
        result = {"digest": folded.digest, "events": folded.events, "path": str(into)}
    else:
        from sdactors.ops.projections import RebuildIndex

        result = ctx.execute(RebuildIndex(library=library))
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
    from projections.catalog import library_projections
    from projections.runner import digest_of

    lib = ctx.read_library(library)
    value = lib.digest()
    with lib.index() as db:
        each = {p.name: digest_of(db, [p]) for p in library_projections()}
    ctx.out.result({"digest": value, "read_models": each}, value)


@group.command("tables")
@library_option
@json_option
@pass_ctx
def tables(ctx: CliContext, library: str | None) -> None:
    """The read models' tables and how many rows each holds (for inspection)."""
    import sqlite3

    import sqlite_utils

    from sdactors.runtime.interrupts import watch

    config = ctx.read_library(library).config
    conn = watch(sqlite3.connect(f"file:{config.paths.index}?mode=ro", uri=True))
    try:
        db = sqlite_utils.Database(conn)
        fts = db.table_names(fts5=True)
        shadow = tuple(f"{name}_" for name in fts)
        rows = [
            {"table": t.name, "rows": t.count, "fts": t.name in fts}
            for t in db.tables
            if not t.name.startswith(shadow)
        ]
    finally:
        conn.close()
    if ctx.out.as_json:
        ctx.out.json(rows)
        return
    ctx.out.table(
        ["table", "rows"],
        [(r["table"] + (" (fts5)" if r["fts"] else ""), f"{r['rows']:,}") for r in rows],
        "no tables",
    )
