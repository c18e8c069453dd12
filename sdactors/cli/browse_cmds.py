"""``sd ls``, ``sd search``, ``sd duplicates``, ``sd stats``: the index, read without the disk.

Each command is built here, run by the node (or by this process when no node serves the data
directory: ``CliContext.execute``), and what comes back is printed.
"""

from __future__ import annotations

from typing import Any

import click

from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.cli.output import offline_mark
from sdactors.cli.travel import at_option, travel
from sdactors.indexer.kind_names import KINDS
from sdactors.runtime.paths import user_path
from sdactors.runtime.units import human_bytes


def _absolute(path: str | None) -> bytes | None:
    return None if path is None else user_path(path)


@click.command("ls")
@click.argument("path", required=False)
@at_option
@library_option
@json_option
@pass_ctx
def ls(ctx: CliContext, path: str | None, at: str | None, library: str | None) -> None:
    """List a folder from the index (not from the disk); without PATH, the locations."""
    pos = travel(ctx, library, at)
    items = ctx.call("ls", path=_absolute(path), at=pos, library=library)
    if ctx.out.as_json:
        ctx.out.json(items)
        return
    shared = _elsewhere(items)
    if path is None:
        ctx.out.table(
            ["name", "path", *shared],
            [(i["name"], i["path"] + offline_mark(i["offline"]), *_held(i, shared)) for i in items],
            "no locations: add one with 'sd location add PATH'",
        )
        return
    if any(i["offline"] for i in items):
        ctx.out.line("[offline] its volume is not there: as last indexed")
    ctx.out.table(
        ["name", "kind", "size", "modified", "content", *shared],
        [
            (
                i["name"] + ("/" if i["type"] == "dir" else ""),
                i["kind"] or i["type"],
                "" if i["type"] == "dir" else human_bytes(i["size"]),
                i["modified"][:19].replace("T", " "),
                i["content_id"] or "",
                *_held(i, shared),
            )
            for i in items
        ],
        "(empty folder)",
    )


def _elsewhere(items: list[dict]) -> list[str]:
    """A "device" column, when what is shown is held by more than one device."""
    return ["device"] if len({i["device"] for i in items}) > 1 else []


def _held(item: dict, shared: list[str]) -> tuple[str, ...]:
    return (item["device_name"] or item["device"][:10],) if shared else ()


@click.command("search")
@click.argument("query")
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Only this kind.")
@click.option("--ext", default=None, help="Only this extension (e.g. pdf).")
@click.option("--under", default=None, metavar="PATH", help="Only inside this folder.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@at_option
@library_option
@json_option
@pass_ctx
def search_(
    ctx: CliContext,
    query: str,
    kind: str | None,
    ext: str | None,
    under: str | None,
    limit: int,
    at: str | None,
    library: str | None,
) -> None:
    """Find files by name or path: every match up to the limit, best first (exact name,
    name prefix, a word of the name, substring of the name, then path)."""
    hits = ctx.call(
        "search",
        query=query,
        kind=kind,
        ext=ext,
        under=_absolute(under),
        limit=limit,
        at=travel(ctx, library, at),
        library=library,
    )
    if ctx.out.as_json:
        ctx.out.json(hits)
        return
    shared = _elsewhere(hits)
    ctx.out.table(
        ["path", "kind", "size", *shared],
        [
            (
                h["path"] + offline_mark(h["offline"]),
                h["kind"] or h["type"],
                "" if h["type"] == "dir" else human_bytes(h["size"]),
                *_held(h, shared),
            )
            for h in hits
        ],
        "no matches",
    )


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
    st = ctx.call("stats", at=travel(ctx, library, at), library=library)
    if ctx.out.as_json:
        ctx.out.json(st)
        return
    ctx.out.line(f"files    {st['files']:,}")
    ctx.out.line(f"folders  {st['dirs']:,}")
    ctx.out.line(f"bytes    {st['bytes']:,} ({human_bytes(st['bytes'])})")
    if st["other"]:
        ctx.out.line(f"other    {st['other']:,} (links, pipes, sockets, devices)")
    ctx.out.table(
        ["kind", "files", "bytes"],
        [(k, f"{n:,}", human_bytes(st["bytes_by_kind"][k])) for k, n in st["by_kind"].items()],
        "no files indexed",
    )
