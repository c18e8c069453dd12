"""``sd library``: create, list and describe libraries."""

from __future__ import annotations

import click

from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx


@click.group("library")
def group() -> None:
    """Libraries: each is one event log and the index folded from it."""


@group.command("create")
@click.argument("name")
@json_option
@pass_ctx
def create(ctx: CliContext, name: str) -> None:
    """Create a library named NAME."""
    made = ctx.call("library.create", name=name)
    ctx.out.result(made, f"created library {made['name']} ({made['id']})")


@group.command("list")
@json_option
@pass_ctx
def list_(ctx: CliContext) -> None:
    """List the libraries of the data directory."""
    libs = ctx.call("library.list")
    if ctx.out.as_json:
        ctx.out.json(libs)
        return
    ctx.out.table(
        ["name", "id", "created"],
        [(lib["name"], lib["id"], lib["created"]) for lib in libs],
        "no libraries yet: create one with 'sd library create NAME'",
    )


@group.command("info")
@library_option
@json_option
@pass_ctx
def info(ctx: CliContext, library: str | None) -> None:
    """Describe a library: its id, its log and its index."""
    result = ctx.call("library.info", library=library)
    if ctx.out.as_json:
        ctx.out.json(result)
        return
    for key in ("name", "id", "created", "path", "events", "bytes", "head", "checkpoint"):
        ctx.out.line(f"{key:<11} {result[key]}")
    ctx.out.line("devices")
    for dev in result["devices"]:
        ctx.out.line(f"  {dev['device'][:16]}  {dev['name'] or '?'}  seq {dev['seq']}")


@group.command("set")
@click.option(
    "--media-gps",
    type=click.Choice(["on", "off"]),
    default=None,
    help="Record where photos and videos were taken (personal data, sent to every device "
    "of the library; off by default).",
)
@library_option
@json_option
@pass_ctx
def set_(ctx: CliContext, media_gps: str | None, library: str | None) -> None:
    """This device's settings of a library; without an option, what they are."""
    result = ctx.call(
        "library.set", media_gps=None if media_gps is None else media_gps == "on", library=library
    )
    ctx.out.result(
        result, f"library {result['library']}: media GPS {'on' if result['media_gps'] else 'off'}"
    )
