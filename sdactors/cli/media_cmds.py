"""``sd thumbs`` (where the media job stands, run it, clear thumbnails) and ``sd thumb PATH``
(one file's thumbnail)."""

from __future__ import annotations

import os

import click

from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.media.layout import SIZES
from sdactors.runtime.paths import user_path
from sdactors.runtime.units import human_bytes


@click.group("thumbs")
def group() -> None:
    """Thumbnails and media data of images, PDFs and videos (made by the media job)."""


@group.command("status")
@click.argument("location", required=False)
@click.option(
    "--failures",
    type=click.IntRange(0, 1_000_000),
    default=50,
    show_default=True,
    help="Failures listed per location.",
)
@library_option
@json_option
@pass_ctx
def status(ctx: CliContext, location: str | None, failures: int, library: str | None) -> None:
    """Files done, waiting and failed per location of this device; each failure's reason."""
    found = ctx.call(
        "thumbs.status",
        location=None if location is None else os.fsencode(location),
        failures=failures,
        library=library,
    )
    if ctx.out.as_json:
        ctx.out.json(found)
        return
    ctx.out.table(
        ["location", "done", "pending", "failed"],
        [(s["path"], s["done"], s["pending"], s["failed"]) for s in found],
        "no locations on this device: add one with 'sd location add PATH'",
    )
    for one in found:
        for failure in one["failures"]:
            ctx.out.line(f"failed  {failure['path']}: {failure['error']}")
        hidden = one["failed"] - len(one["failures"])
        if hidden > 0:
            ctx.out.line(f"... and {hidden:,} more in {one['path']} (--failures N lists more)")


@group.command("run")
@click.argument("location", required=False)
@library_option
@json_option
@pass_ctx
def run(ctx: CliContext, location: str | None, library: str | None) -> None:
    """Make the thumbnails and media data LOCATION (default: each of this device's) lacks.
    A running node does it in the background; without one, it is done here."""
    done = ctx.call(
        "thumbs.run", location=None if location is None else os.fsencode(location), library=library
    )
    if ctx.out.as_json:
        ctx.out.json(done)
        return
    if not done:
        ctx.out.line("no online location on this device")
    for one in done:
        if one["queued"]:
            ctx.out.line(f"queued the media job of {one['path']} ('sd thumbs status' follows it)")
        else:
            counts = one["counts"]
            ctx.out.line(
                f"{one['path']}: {counts.get('files', 0):,} files read, "
                f"{counts.get('thumbnails', 0):,} thumbnails written, "
                f"{counts.get('failed', 0):,} failed"
            )


@group.command("clear")
@library_option
@json_option
@pass_ctx
def clear(ctx: CliContext, library: str | None) -> None:
    """Remove this library's thumbnails on this device ('sd thumbs run' makes them again)."""
    done = ctx.call("thumbs.clear", library=library)
    ctx.out.result(
        done,
        f"removed {done['files']:,} thumbnails ({human_bytes(done['bytes'])}) in {done['path']}",
    )


@click.command("thumb")
@click.argument("path")
@click.option(
    "--size",
    type=click.Choice([str(s) for s in SIZES]),
    default=str(SIZES[0]),
    show_default=True,
    help="The longer side, in pixels.",
)
@click.option("--open", "open_", is_flag=True, help="Open it in the desktop's image viewer.")
@library_option
@json_option
@pass_ctx
def thumb(ctx: CliContext, path: str, size: str, open_: bool, library: str | None) -> None:
    """Print the path of the thumbnail of PATH (a file of any device of the library: one of
    another device is fetched from it while it is reachable, and kept in a cache)."""
    found = ctx.call("thumb.fetch", path=user_path(path), size=int(size), library=library)
    ctx.out.result(found, found["path"])
    if open_:
        click.launch(found["path"])
