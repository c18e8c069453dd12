"""``sd tag``: shared tags, last writer wins across devices; ``sd tag add|remove``,
``sd favourite`` and ``sd note`` put them (and favourite marks, notes) on files."""

from __future__ import annotations

from typing import Any, Callable

import click

from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.ops.annotations import MAX_PATHS, Favourite, Note, TagAdd, TagRemove
from sdactors.ops.tags import TagCreate, TagDelete, TagList, TagRename
from sdactors.runtime.errors import InvalidArgument
from sdactors.runtime.paths import entry_path
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


# -- on files ---------------------------------------------------------------------------------


def _paths(paths: tuple[str, ...]) -> tuple[bytes, ...]:
    """Each path absolute where it was typed, naming the entry itself (a link, not what it
    points to); at most as many as one command takes."""
    if len(paths) > MAX_PATHS:
        raise InvalidArgument(
            f"at most {MAX_PATHS:,} paths in one command ({len(paths):,} given): give them in parts"
        )
    return tuple(entry_path(p) for p in paths)


def _subject(files: list[dict[str, Any]]) -> str:
    """The files a sentence is about: the one path, or how many."""
    return files[0]["path"] if len(files) == 1 else f"{len(files):,} files"


def _say(ctx: CliContext, result: dict[str, Any], lines: list[str]) -> None:
    """The result under --json, else each line (a line may not hold a line break)."""
    if ctx.out.as_json:
        ctx.out.json(result)
        return
    for line in lines:
        ctx.out.line(line)


def _put(
    ctx: CliContext, result: dict[str, Any], says: Callable[[str], str], path_only: bool
) -> None:
    """What was put on files (``says`` it of them), and which went on their path for want
    of a content id (not asked for with --path-only)."""
    files = result["files"]
    lines = [says(_subject(files))]
    if not path_only:
        lines += [
            f"{f['path']}: on its path only (no content id: a folder, an empty file, "
            "or one not identified yet)"
            for f in files
            if f["changed"] == ["path"]
        ]
    _say(ctx, result, lines)


def _taken(
    ctx: CliContext, result: dict[str, Any], says: Callable[[str], str], missing: str, what: str
) -> None:
    """What was taken off files (``says`` it of them), which had nothing to take off
    (``missing``), which still show it through their content."""
    files = result["files"]
    changed = [f for f in files if f["changed"]]
    lines = [says(_subject(changed))] if changed else []
    lines += [f"{f['path']} {missing}" for f in files if not f["changed"] and not f["still"]]
    lines += [
        f"{f['path']} still has {what} through its content (every copy): "
        "take it off without --path-only"
        for f in files
        if f["still"]
    ]
    _say(ctx, result, lines)


@group.command("add")
@click.argument("paths", nargs=-1, required=True)
@click.argument("tag")
@click.option("--create", is_flag=True, help="Create the tag if there is none of that name.")
@click.option(
    "--path-only", is_flag=True, help="On these paths only, not on every copy of their content."
)
@library_option
@json_option
@pass_ctx
def add(
    ctx: CliContext,
    paths: tuple[str, ...],
    tag: str,
    create: bool,
    path_only: bool,
    library: str | None,
) -> None:
    """Put tag TAG on the files at PATHS: on their content (every copy, on every device),
    or with --path-only on these paths (a file keeps its tags when renamed or moved)."""
    result = ctx.execute(TagAdd(_paths(paths), tag, create, path_only, library))
    name = result["tag"]["name"]
    if result["created"] and not ctx.out.as_json:
        ctx.out.line(f"created tag {name}")
    _put(ctx, result, lambda files: f"tagged {files} with {name}", path_only)


@group.command("remove")
@click.argument("paths", nargs=-1, required=True)
@click.argument("tag")
@click.option("--path-only", is_flag=True, help="From these paths only, not from their content.")
@library_option
@json_option
@pass_ctx
def remove(
    ctx: CliContext, paths: tuple[str, ...], tag: str, path_only: bool, library: str | None
) -> None:
    """Take tag TAG off the files at PATHS (off their content, so off every copy, and off
    the paths themselves; with --path-only, off the paths only)."""
    result = ctx.execute(TagRemove(_paths(paths), tag, path_only, library))
    name = result["tag"]["name"]
    _taken(
        ctx,
        result,
        lambda files: f"took tag {name} off {files}",
        f"does not have tag {name}",
        f"tag {name}",
    )


@click.command("favourite")
@click.argument("paths", nargs=-1, required=True)
@click.option("--off", is_flag=True, help="No longer a favourite.")
@click.option("--path-only", is_flag=True, help="These paths only, not their content.")
@library_option
@json_option
@pass_ctx
def favourite(
    ctx: CliContext, paths: tuple[str, ...], off: bool, path_only: bool, library: str | None
) -> None:
    """Mark the files at PATHS as favourites (their content, every copy; with --path-only
    these paths), or with --off no longer."""
    result = ctx.execute(Favourite(_paths(paths), not off, path_only, library))
    if off:
        _taken(
            ctx,
            result,
            lambda files: f"unmarked {files} as favourite",
            "is not a favourite",
            "the favourite mark",
        )
    else:
        _put(ctx, result, lambda files: f"marked {files} as favourite", path_only)


@click.command("note")
@click.argument("path")
@click.argument("text", required=False)
@click.option("--clear", is_flag=True, help="Remove the note.")
@click.option("--path-only", is_flag=True, help="This path only, not its content.")
@library_option
@json_option
@pass_ctx
def note(
    ctx: CliContext,
    path: str,
    text: str | None,
    clear: bool,
    path_only: bool,
    library: str | None,
) -> None:
    """Write TEXT as the note of the file at PATH (on its content, every copy; with
    --path-only on this path), or with --clear remove it."""
    if clear == (text is not None):
        raise InvalidArgument("give the note's TEXT, or --clear to remove it (not both)")
    result = ctx.execute(Note(_paths((path,)), text, path_only, library))
    if clear:
        _taken(ctx, result, lambda files: f"removed the note of {files}", "has no note", "a note")
    else:
        _put(ctx, result, lambda files: f"noted {files}", path_only)
