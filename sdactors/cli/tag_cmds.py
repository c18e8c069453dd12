"""``sd tag``: shared tags, last writer wins across devices."""

from __future__ import annotations

import click

from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.ops.tags import TagCreate, TagDelete, TagList, TagRename
from sdactors.runtime.units import human_span

# Exit status of a change that was recorded but loses to a later one already held (a device
# whose clock is ahead changed the same field): not an error, but not what was asked either.
EXIT_OVERRIDDEN = 3


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
    tag = ctx.execute(TagCreate(name, color, library))
    ctx.out.result(tag, f"created tag {tag['name']}")


@group.command("rename")
@click.argument("old")
@click.argument("new")
@click.option("--color", default=None, help="Also change its color.")
@library_option
@json_option
@pass_ctx
def rename(ctx: CliContext, old: str, new: str, color: str | None, library: str | None) -> None:
    """Rename tag OLD (a name or an id prefix) to NEW.

    Exit status 3 when the change is recorded but loses to a later change already held
    (last writer wins: a device whose clock is ahead of this one's), which it names."""
    tag = ctx.execute(TagRename(old, new, color, library))
    lost = tag["overridden"]
    if not lost:
        ctx.out.result(tag, f"renamed tag {old} to {tag['name']}")
        return
    ctx.out.result(tag, f"recorded the change of tag {old}, but " + "; ".join(map(_lost, lost)))
    raise click.exceptions.Exit(EXIT_OVERRIDDEN)


def _lost(one: dict) -> str:
    who = one["name"] or one["device"][:10]
    clock = (
        f" (its clock is ahead by {human_span(one['clock_ahead_ms'])})"
        if one["clock_ahead_ms"]
        else ""
    )
    return f"a later change from {who}{clock} wins: the tag's {one['field']} stays {one['kept'] or 'unset'}"


@group.command("delete")
@click.argument("name")
@library_option
@json_option
@pass_ctx
def delete(ctx: CliContext, name: str, library: str | None) -> None:
    """Delete a tag (a tombstone: it stays deleted on every device)."""
    tag = ctx.execute(TagDelete(name, library))
    ctx.out.result(tag, f"deleted tag {tag['name']}")


@group.command("list")
@library_option
@json_option
@pass_ctx
def list_(ctx: CliContext, library: str | None) -> None:
    """List the tags."""
    tags = ctx.execute(TagList(library))
    if ctx.out.as_json:
        ctx.out.json(tags)
        return
    ctx.out.table(
        ["name", "color", "id"],
        [(t["name"], t["color"] or "", t["id"][:16]) for t in tags],
        "no tags",
    )
