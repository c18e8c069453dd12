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
    lib = ctx.node.create_library(name)
    ctx.out.result(
        {"id": lib.config.id, "name": lib.config.name, "path": str(lib.config.paths.root)},
        f"created library {lib.config.name} ({lib.config.id})",
    )


@group.command("list")
@json_option
@pass_ctx
def list_(ctx: CliContext) -> None:
    """List the libraries of the data directory."""
    libs = ctx.node.libraries()
    if ctx.out.as_json:
        ctx.out.json([{"id": lib.id, "name": lib.name, "created": lib.created} for lib in libs])
        return
    ctx.out.table(
        ["name", "id", "created"],
        [(lib.name, lib.id, lib.created) for lib in libs],
        "no libraries yet: create one with 'sd library create NAME'",
    )


@group.command("info")
@library_option
@json_option
@pass_ctx
def info(ctx: CliContext, library: str | None) -> None:
    """Describe a library: its id, its log and its index."""
    lib = ctx.read_library(library)
    store = lib.log()
    try:
        stats = store.stats()
        head = store.head_pos
        devices = store.vector()
    finally:
        store.close()
    with lib.index() as db:
        checkpoint = db.execute("SELECT value FROM _meta WHERE key = 'checkpoint'").fetchone()[0]
        named = dict(db.execute("SELECT device, name FROM devices").fetchall())
    config = lib.config
    result = {
        "id": config.id,
        "name": config.name,
        "created": config.created,
        "path": str(config.paths.root),
        "events": stats.events,
        "bytes": stats.bytes,
        "head": head,
        "checkpoint": int(checkpoint),
        "devices": [
            {"device": dev.hex(), "name": named.get(dev), "seq": seq}
            for dev, seq in sorted(devices.items())
        ],
    }
    if ctx.out.as_json:
        ctx.out.json(result)
        return
    for key in ("name", "id", "created", "path", "events", "bytes", "head", "checkpoint"):
        ctx.out.line(f"{key:<11} {result[key]}")
    ctx.out.line("devices")
    for dev in result["devices"]:
        ctx.out.line(f"  {dev['device'][:16]}  {dev['name'] or '?'}  seq {dev['seq']}")
