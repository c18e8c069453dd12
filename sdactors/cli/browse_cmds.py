"""``sd ls``, ``sd search``, ``sd info``, ``sd duplicates``, ``sd stats``: the index, read
without the disk.

Each command is built here, run by the node (or by this process when no node serves the data
directory: ``CliContext.execute``), and what comes back is printed.
"""

from __future__ import annotations

from typing import Any

import click

from projections.files.similar import DEFAULT_DISTANCE, MOST_DISTANCE
from sdactors.cli import reads
from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.cli.travel import at_option
from sdactors.indexer.kind_names import KINDS
from sdactors.runtime.errors import InvalidArgument
from sdactors.runtime.paths import entry_path
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
    "--limit",
    type=click.IntRange(1, reads.SEARCH_LIMIT_MOST),
    default=reads.SEARCH_LIMIT,
    show_default=True,
)
@click.option(
    "--taken", default=None, metavar="DATE", help="Pictures taken then: 2024, 2024-07, 2024-07-15."
)
@click.option(
    "--min-width",
    type=click.IntRange(1, reads.DIMENSION_MOST),
    default=None,
    metavar="PIXELS",
    help="Pictures at least this wide.",
)
@click.option(
    "--min-height",
    type=click.IntRange(1, reads.DIMENSION_MOST),
    default=None,
    metavar="PIXELS",
    help="Pictures at least this high.",
)
@click.option("--camera", default=None, help="Pictures whose camera's make or model holds this.")
@click.option(
    "--sort",
    type=click.Choice(reads.SORTS),
    default=None,
    help="taken: in the order the pictures were taken (undated last), not best first.",
)
@click.option("--reverse", is_flag=True, help="With --sort: the other way round.")
@click.option(
    "--tag", "tags", multiple=True, metavar="NAME", help="Only files with this tag (repeatable)."
)
@click.option("--favourite", is_flag=True, help="Only favourites.")
@click.option(
    "--mode",
    type=click.Choice(reads.MODES),
    default=None,
    help="By meaning: fast and balanced re-rank what plain search finds, semantic searches "
    "by meaning first; dates and kinds in words are filters.",
)
@click.option("--taken-after", default=None, metavar="DATE", help="Pictures taken on or after.")
@click.option("--taken-before", default=None, metavar="DATE", help="Pictures taken before.")
@click.option("--modified-after", default=None, metavar="DATE", help="Modified on or after.")
@click.option("--modified-before", default=None, metavar="DATE", help="Modified before.")
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
    limit: int,
    taken: str | None,
    min_width: int | None,
    min_height: int | None,
    camera: str | None,
    sort: str | None,
    reverse: bool,
    tags: tuple[str, ...],
    favourite: bool,
    mode: str | None,
    taken_after: str | None,
    taken_before: str | None,
    modified_after: str | None,
    modified_before: str | None,
    at: str | None,
    library: str | None,
) -> None:
    """Find files by name or path: every match up to the limit, best first (exact name,
    name prefix, a word of the name, substring of the name, then path). By media data too,
    without the file (--taken, --min-width, --min-height, --camera), and by what people put
    on files (--tag, every one given; --favourite): QUERY may then be left out, and every
    file they select is listed, by path. With --mode, by meaning: "beach holiday photos
    from last summer" (times and kinds in words are filters, read on the node's clock)."""
    reads.search(
        ctx.call,
        ctx.out,
        query,
        kind,
        ext,
        under,
        limit,
        at,
        library,
        taken,
        min_width,
        min_height,
        camera,
        sort,
        reverse,
        tags,
        favourite,
        mode,
        taken_after,
        taken_before,
        modified_after,
        modified_before,
    )


@click.command("info")
@click.argument("path")
@library_option
@json_option
@pass_ctx
def info(ctx: CliContext, path: str, library: str | None) -> None:
    """Everything known of one file, from the index (the file may be on another device):
    its entry, content, media data, tags and the thumbnails this device holds."""
    found = ctx.call("info", path=entry_path(path), library=library)
    if ctx.out.as_json:
        ctx.out.json(found)
        return
    for name, value in info_lines(found):
        ctx.out.line(f"{name:<11} {value}")


def info_lines(found: dict[str, Any]) -> list[tuple[str, str]]:
    """``sd info``'s answer as lines of text, each named."""
    loc = found["location"]
    where = f"{loc['name']} ({loc['path']})"
    if loc["offline"]:
        where += f", offline: {loc['offline']}"
    lines = [
        ("path", found["path"]),
        ("type", found["type"] + (f" ({found['kind']})" if found["kind"] else "")),
        ("size", f"{human_bytes(found['size'])} ({found['size']:,} bytes)"),
        ("modified", found["modified"][:19].replace("T", " ")),
        ("file", f"inode {found['inode']} on volume {found['dev']}"),
        ("device", found["device_name"] or found["device"]),
        ("location", where),
    ]
    if found["target"] is not None:
        lines.append(("target", found["target"]))
    content = found["content"]
    if content is not None:
        kind = f", {content['kind']}" if content["kind"] else ""
        lines.append(("content", f"{content['id']} ({content['instances']} in the library{kind})"))
    lines += [(name, text) for name, text in _media_lines(found["media"])]
    lines.append(("tags", ", ".join(found["tags"]) or "-"))
    if found["favourite"]:
        lines.append(("favourite", "yes"))
    if found["note"]:
        lines.append(("note", found["note"]))
    for thumb in found["thumbnails"]:
        fetched = " (fetched from its device)" if thumb["source"] == "cache" else ""
        lines.append((f"thumb {thumb['size']}", thumb["path"] + fetched))
    if not found["thumbnails"]:
        lines.append(("thumbnails", "none on this device"))
    return lines


def _media_lines(media: dict[str, Any] | None) -> list[tuple[str, str]]:
    if media is None:
        return [("media", "not described (yet)")]
    if media["error"] is not None:
        return [("media", f"could not be read: {media['error']}")]
    lines = []
    if media["width"] is not None:
        size = f"{media['width']} x {media['height']}"
        if media["orientation"] not in (None, 1):
            size += f", EXIF orientation {media['orientation']}"
        lines.append(("dimensions", size))
    if media["taken"] is not None:
        lines.append(("taken", media["taken"].replace("T", " ")))
    camera = " ".join(v for v in (media["make"], media["model"]) if v)
    if camera:
        lines.append(("camera", camera))
    if media["lat"] is not None:
        lines.append(("location", f"{media['lat']:.6f}, {media['lon']:.6f}"))
    if media["duration_ms"] is not None:
        lines.append(("duration", f"{media['duration_ms'] / 1000:.1f} s"))
    codecs = [v for v in (media["video_codec"], media["audio_codec"]) if v]
    if codecs:
        fps = f", {media['fps']:g} fps" if media["fps"] else ""
        lines.append(("codecs", " / ".join(codecs) + fps))
    if media["pages"] is not None:
        lines.append(("pages", str(media["pages"])))
    if media["phash"] is not None:
        lines.append(("phash", media["phash"]))
    return lines


@click.command("duplicates")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many groups.")
@click.option(
    "--min-size",
    type=click.IntRange(0),
    default=1,
    show_default=True,
    help="Ignore files smaller than this many bytes.",
)
@click.option(
    "--similar",
    is_flag=True,
    help="Also pictures that look alike (resized, recompressed, re-saved copies).",
)
@click.option(
    "--distance",
    type=click.IntRange(0, MOST_DISTANCE),
    default=None,
    help="With --similar: how many bits of 64 their perceptual hashes may differ in "
    f"[default: {DEFAULT_DISTANCE}].",
)
@library_option
@json_option
@pass_ctx
def duplicates_(
    ctx: CliContext,
    limit: int | None,
    min_size: int,
    similar: bool,
    distance: int | None,
    library: str | None,
) -> None:
    """Groups of files with identical content, the largest waste first; with --similar,
    then groups of pictures that look alike, each file with how far it is from the first."""
    if distance is not None and not similar:
        raise InvalidArgument("--distance is how near similar pictures are: give --similar too")
    distance = DEFAULT_DISTANCE if distance is None else distance
    groups: list[dict[str, Any]] = ctx.call(
        "duplicates", limit=limit, min_size=min_size, library=library
    )
    alike = (
        ctx.call("duplicates.similar", distance=distance, limit=limit, library=library)
        if similar
        else None
    )
    if ctx.out.as_json:
        ctx.out.json(groups if alike is None else {"exact": groups, "similar": alike})
        return
    _exact(ctx, groups)
    if alike is not None:
        _similar(ctx, alike, distance)


def _similar(ctx: CliContext, groups: list[dict[str, Any]], distance: int) -> None:
    if not groups:
        ctx.out.line(f"no similar pictures (within {distance} bits)")
        return
    for g in groups:
        ctx.out.line(f"similar: {len(g['files'])} pictures, at most {g['distance']} bits apart")
        for f in g["files"]:
            size = f" {f['width']}x{f['height']}" if f["width"] is not None else ""
            ctx.out.line(f"  {f['distance']:>2}  {f['path']}  ({human_bytes(f['size'])}{size})")
            for same in f["same_file"]:
                ctx.out.line(f"        same file as the one above: {same}")
    noun = "group" if len(groups) == 1 else "groups"
    ctx.out.line(f"{len(groups)} {noun} of similar pictures (within {distance} bits of 64)")


def _exact(ctx: CliContext, groups: list[dict[str, Any]]) -> None:
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
