"""``sd ls``, ``sd search``, ``sd duplicates``, ``sd stats``: the index, read without the disk.

Each command is built here, run by the node (or by this process when no node serves the data
directory: ``CliContext.execute``), and what comes back is printed.
"""

from __future__ import annotations

from typing import Any

import click

from sdactors.cli import reads
from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.cli.travel import at_option
from sdactors.indexer.kind_names import KINDS
from sdactors.runtime.units import human_bytes


@click.command("ls")
@click.argument("path", required=False)
@at_option
@library_option
@json_option
@pass_ctx
def ls(ctx: CliContext, path: str | None, at: str | None, library: str | None) -> None:
    """List a folder from the index (not from the disk); without PATH, the locations."""
    reads.ls(ctx.call, ctx.out, path, at, library)


@click.command("search")
@click.argument("query", required=False)
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Only this kind.")
@click.option("--ext", default=None, help="Only this extension (e.g. pdf).")
@click.option("--under", default=None, metavar="PATH", help="Only inside this folder.")
@click.option(
    "--tag", "tags", multiple=True, metavar="NAME", help="Only files with this tag (repeatable)."
)
@click.option("--favourite", is_flag=True, help="Only favourites.")
@click.option(
    "--limit",
    type=click.IntRange(1, reads.SEARCH_LIMIT_MOST),
    default=reads.SEARCH_LIMIT,
    show_default=True,
)
@at_option
@library_option
@json_option
@pass_ctx
def search_(
    ctx: CliContext,
    query: str | None,
    kind: str | None,
    ext: str | None,
    under: str | None,
    tags: tuple[str, ...],
    favourite: bool,
    limit: int,
    at: str | None,
    library: str | None,
) -> None:
    """Find files by name or path: every match up to the limit, best first (exact name,
    name prefix, a word of the name, substring of the name, then path).

    With --tag (every tag given) or --favourite, QUERY may be left out: every file they
    select, by path."""
    reads.search(ctx.call, ctx.out, query, kind, ext, under, limit, at, library, tags, favourite)


@click.command("duplicates")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many groups.")
@click.option(
    "--min-size",
    type=click.IntRange(0),
    default=1,
    show_default=True,
    help="Ignore files smaller than this many bytes.",
)
@library_option
@json_option
@pass_ctx
def duplicates_(ctx: CliContext, limit: int | None, min_size: int, library: str | None) -> None:
    """Groups of files with identical content, the largest waste first."""
    groups: list[dict[str, Any]] = ctx.call(
        "duplicates", limit=limit, min_size=min_size, library=library
    )
    if ctx.out.as_json:
        ctx.out.json(groups)
        return
    if not groups:
        ctx.out.line("no duplicates")
        return
    for g in groups:
        ctx.out.line(
            f"{g['content_id']}  {g['count']} x {human_bytes(g['size'])}  "
            f"(waste {human_bytes(g['waste'])})"
        )
        for p in g["paths"]:
            ctx.out.line(f"    {p}")
            for same in g["same_file"].get(p, ()):
                ctx.out.line(f"      same file as the one above: {same}")
    total = sum(g["waste"] for g in groups)
    ctx.out.line(f"{len(groups)} groups, {human_bytes(total)} could be freed")


@click.command("stats")
@at_option
@library_option
@json_option
@pass_ctx
def stats(ctx: CliContext, at: str | None, library: str | None) -> None:
    """What the index holds: files, folders, bytes, and files by kind."""
    reads.stats(ctx.call, ctx.out, at, library)
