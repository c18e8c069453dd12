"""``sd trash list|restore|empty``: what ``sd rm`` and ``--force`` put in the library's trash
(see ``sdactors/ops/trash.py``)."""

from __future__ import annotations

import re
from datetime import datetime

import click

from sdactors.cli.audit_cmds import span_s
from sdactors.cli.context import CliContext
from sdactors.cli.file_cmds import index_words, progress_bar
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.runtime.errors import InvalidArgument
from sdactors.runtime.paths import entry_path
from sdactors.runtime.units import human_bytes

# An argument this looks like is an item's id; anything else is a path (./abc1 for a file
# named like an id).
ITEM_ID = re.compile(r"^[0-9a-fA-F]{4,12}$")


@click.group("trash")
def group() -> None:
    """What sd rm removed, and what --force replaced: list it, put it back, delete it."""


@group.command("list")
@library_option
@json_option
@pass_ctx
def list_(ctx: CliContext, library: str | None) -> None:
    """Items in the trash, oldest first: id, when, size, where each was."""
    from sdactors.ops.trash import TrashList

    items = ctx.execute(TrashList(library))
    if ctx.out.as_json:
        ctx.out.json(items)
        return
    ctx.out.table(
        ["id", "trashed", "size", "was at"],
        [
            (
                t["id"],
                datetime.fromisoformat(t["trashed"]).astimezone().strftime("%Y-%m-%d %H:%M"),
                human_bytes(t["size"]),
                t["path"] or "(not recorded)",
            )
            for t in items
        ],
        "the trash is empty",
    )


@group.command("restore")
@click.argument("items", nargs=-1, required=True, metavar="ID|PATH...")
@library_option
@json_option
@pass_ctx
def restore(ctx: CliContext, items: tuple[str, ...], library: str | None) -> None:
    """Put items back where they were, by id (4 to 12 hex digits: write ./NAME for a file
    named like one) or by the path they had; refused when something is there now."""
    from sdactors.ops.trash import TrashRestore

    ids = tuple(i for i in items if ITEM_ID.match(i))
    paths = tuple(entry_path(i) for i in items if not ITEM_ID.match(i))
    with progress_bar(ctx, "restore") as progress:
        result = ctx.execute(TrashRestore(ids, paths, library), progress)
    if ctx.out.as_json:
        ctx.out.json(result)
        return
    for done in result["restored"]:
        ctx.out.line(f"restored {done['path']} ({done['id']})")
    ctx.out.line(f"index: {index_words(result['index'])}")


@group.command("empty")
@click.option(
    "--older-than", default=None, metavar="SPAN", help="Only what was trashed longer ago: 30d."
)
@library_option
@json_option
@pass_ctx
def empty(ctx: CliContext, older_than: str | None, library: str | None) -> None:
    """Delete for good what is in the trash (or only what has been there a while)."""
    from sdactors.ops.trash import TrashEmpty

    seconds = 0
    if older_than is not None:
        given = span_s(older_than)
        if given is None:
            raise InvalidArgument(f"--older-than {older_than!r} is not a span (90m, 12h, 30d, 2w)")
        seconds = given
    with progress_bar(ctx, "the trash", entries=True) as progress:
        result = ctx.execute(TrashEmpty(seconds, library), progress)
    ctx.out.result(
        result,
        f"deleted {_many(result['items'], 'item')} for good "
        f"({_many(result['entries'], 'entry', 'entries')}, {human_bytes(result['bytes'])})",
    )


def _many(n: int, one: str, more: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else more or one + 's'}"
