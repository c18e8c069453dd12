"""``sd tag``: shared tags, last writer wins across devices."""

from __future__ import annotations

import click

from sdactors.actions.tags import create_tag, delete_tag, list_tags, rename_tag
from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx


@click.group("tag")
def group() -> None:
    """Tags shared by every device of a library."""


@group.command("create")
@click.argument("name")
@click.option("--color", default=None, help="A color name or #RRGGBB.")
@library_option
@json_option
@pass_ctx
def create(ctx: CliContext, name: str, color: str | None, library: str | None) -> None:
    """Create a tag."""
    tag = create_tag(ctx.write_library(library), name, color)
    ctx.out.result(tag.as_json(), f"created tag {tag.name}")


@group.command("rename")
@click.argument("old")
@click.argument("new")
@click.option("--color", default=None, help="Also change its color.")
@library_option
@json_option
@pass_ctx
def rename(ctx: CliContext, old: str, new: str, color: str | None, library: str | None) -> None:
    """Rename tag OLD (a name or an id prefix) to NEW."""
    tag = rename_tag(ctx.write_library(library), old, new, color)
    ctx.out.result(tag.as_json(), f"renamed tag {old} to {tag.name}")


@group.command("delete")
@click.argument("name")
@library_option
@json_option
@pass_ctx
def delete(ctx: CliContext, name: str, library: str | None) -> None:
    """Delete a tag (a tombstone: it stays deleted on every device)."""
    tag = delete_tag(ctx.write_library(library), name)
    ctx.out.result(tag.as_json(), f"deleted tag {tag.name}")


@group.command("list")
@library_option
@json_option
@pass_ctx
def list_(ctx: CliContext, library: str | None) -> None:
    """List the tags."""
    with ctx.read_library(library).index() as db:
        tags = list_tags(db)
    if ctx.out.as_json:
        ctx.out.json([t.as_json() for t in tags])
        return
    ctx.out.table(
        ["name", "color", "id"],
        [(t.name, t.color or "", t.id.hex()[:16]) for t in tags],
        "no tags",
    )
