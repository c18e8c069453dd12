"""``sd ls``, ``sd search``, ``sd duplicates``, ``sd stats``: the index, read without the disk."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import click

from events.domain.entries import BLOCK_DEVICE, CHAR_DEVICE, DIR, FIFO, FILE, SOCKET, SYMLINK
from projections.files import (
    C_CID,
    C_FTYPE,
    C_KIND,
    C_MTIME,
    C_NAME,
    C_SIZE,
    readable,
)
from projections.files_query import (
    duplicates,
    file_stats,
    folder_children,
    offline_folders,
    resolve,
)
from projections.files_search import Filters, search
from sdactors.actions.locations import list_locations, show, user_path
from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.cli.output import human_bytes, offline_mark
from sdactors.errors import InvalidArgument, NotIndexed
from sdactors.indexer.content import shown
from sdactors.indexer.kind_names import KINDS

TYPES = {
    FILE: "file",
    DIR: "dir",
    SYMLINK: "symlink",
    FIFO: "fifo",
    SOCKET: "socket",
    CHAR_DEVICE: "char-device",
    BLOCK_DEVICE: "block-device",
}


def _when(mtime_ns: int) -> str:
    return datetime.fromtimestamp(mtime_ns / 1e9, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _entry_json(
    name: bytes,
    path: bytes,
    ftype: str,
    kind: str | None,
    size: int,
    mtime_ns: int,
    cid: bytes | None,
) -> dict:
    return {
        "name": readable(name),
        "path": show(path),
        "type": TYPES.get(ftype, ftype),
        "kind": kind,
        "size": size,
        "modified": _when(mtime_ns),
        "content_id": shown(cid),
    }


@click.command("ls")
@click.argument("path", required=False)
@library_option
@json_option
@pass_ctx
def ls(ctx: CliContext, path: str | None, library: str | None) -> None:
    """List a folder from the index (not from the disk); without PATH, the locations."""
    lib = ctx.read_library(library)
    if path is None:
        locs = list_locations(lib)
        if ctx.out.as_json:
            ctx.out.json(
                [
                    {
                        "name": loc.name,
                        "path": show(loc.path),
                        "type": "location",
                        "offline": loc.offline is not None,
                    }
                    for loc in locs
                ]
            )
        else:
            ctx.out.table(
                ["name", "path"],
                [
                    (loc.name, show(loc.path) + offline_mark(loc.offline is not None))
                    for loc in locs
                ],
                "no locations: add one with 'sd location add PATH'",
            )
        return
    real = user_path(path)
    with lib.index() as db:
        found = resolve(db, real, ctx.device)
        if found is None:
            raise NotIndexed(show(real))
        offline = found.location.offline
        folder = found.named_folder
        if folder is not None:
            children = sorted(folder_children(db, folder), key=lambda c: c[C_NAME])
            base = real
        else:
            children, base = [found.child], os.path.dirname(real)
    items = [
        _entry_json(
            c[C_NAME],
            os.path.join(base, c[C_NAME]),
            c[C_FTYPE],
            c[C_KIND],
            c[C_SIZE],
            c[C_MTIME],
            c[C_CID],
        )
        | {"offline": offline is not None}
        for c in children
    ]
    if ctx.out.as_json:
        ctx.out.json(items)
        return
    ctx.out.table(
        ["name", "kind", "size", "modified", "content"],
        [
            (
                i["name"] + ("/" if i["type"] == "dir" else ""),
                i["kind"] or i["type"],
                "" if i["type"] == "dir" else human_bytes(i["size"]),
                i["modified"][:19].replace("T", " "),
                i["content_id"] or "",
            )
            for i in items
        ],
        "(empty folder)",
    )
    if offline is not None:
        ctx.out.line(f"[offline] as last indexed: {offline}")


@click.command("search")
@click.argument("query")
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Only this kind.")
@click.option("--ext", default=None, help="Only this extension (e.g. pdf).")
@click.option("--under", default=None, metavar="PATH", help="Only inside this folder.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
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
    library: str | None,
) -> None:
    """Find files by name or path: words, prefixes and substrings, best name matches first."""
    if not query.strip():
        raise InvalidArgument("the query is empty")
    lib = ctx.read_library(library)
    with lib.index() as db:
        folder = None
        if under is not None:
            found = resolve(db, user_path(under), ctx.device)
            folder = found.named_folder if found is not None else None
            if folder is None:
                raise NotIndexed(show(user_path(under)))
        hits = search(db, query, Filters(kind, ext, folder), limit)
        offline = offline_folders(db, (h.folder for h in hits))
    if ctx.out.as_json:
        ctx.out.json(
            [
                {
                    "path": show(h.path),
                    "name": readable(h.name),
                    "type": TYPES.get(h.ftype, h.ftype),
                    "kind": h.kind,
                    "size": h.size,
                    "content_id": shown(h.cid),
                    "offline": h.folder in offline,
                }
                for h in hits
            ]
        )
        return
    ctx.out.table(
        ["path", "kind", "size"],
        [
            (
                show(h.path) + offline_mark(h.folder in offline),
                h.kind or TYPES.get(h.ftype, ""),
                "" if h.ftype == DIR else human_bytes(h.size),
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
    with ctx.read_library(library).index() as db:
        groups = duplicates(db, limit, max(min_size, 1))
    if ctx.out.as_json:
        ctx.out.json(
            [
                {
                    "content_id": shown(g.cid),
                    "size": g.size,
                    "kind": g.kind,
                    "count": g.count,
                    "waste": g.waste,
                    "paths": [show(p) for p in g.paths],
                }
                for g in groups
            ]
        )
        return
    if not groups:
        ctx.out.line("no duplicates")
        return
    total = sum(g.waste for g in groups)
    for g in groups:
        ctx.out.line(
            f"{shown(g.cid)}  {g.count} x {human_bytes(g.size)}  (waste {human_bytes(g.waste)})"
        )
        for p in g.paths:
            ctx.out.line(f"    {show(p)}")
    ctx.out.line(f"{len(groups)} groups, {human_bytes(total)} could be freed")


@click.command("stats")
@library_option
@json_option
@pass_ctx
def stats(ctx: CliContext, library: str | None) -> None:
    """What the index holds: files, folders, bytes, and files by kind."""
    with ctx.read_library(library).index() as db:
        st = file_stats(db)
    if ctx.out.as_json:
        ctx.out.json(
            {
                "files": st.files,
                "dirs": st.dirs,
                "bytes": st.bytes,
                "by_kind": st.by_kind,
                "bytes_by_kind": st.bytes_by_kind,
                "other": st.other,
            }
        )
        return
    ctx.out.line(f"files    {st.files:,}")
    ctx.out.line(f"folders  {st.dirs:,}")
    ctx.out.line(f"bytes    {st.bytes:,} ({human_bytes(st.bytes)})")
    if st.other:
        ctx.out.line(f"other    {st.other:,} (links, pipes, sockets, devices)")
    ctx.out.table(
        ["kind", "files", "bytes"],
        [(k, f"{n:,}", human_bytes(st.bytes_by_kind[k])) for k, n in st.by_kind.items()],
        "no files indexed",
    )
