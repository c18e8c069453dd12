"""``sd volume``: the volumes of this device, and how fast they are.

With a library, what is listed or measured is also recorded in it (as ``volume.*`` events,
only when something changed); with no library yet, it is only shown.
"""

from __future__ import annotations

import os
from typing import Any

import click

from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.runtime.units import human_bytes
from sdactors.volumes.speedtest import DEFAULT_MAX_SECONDS, MIB


@click.group("volume")
def group() -> None:
    """Volumes of this device: disks, partitions, shares and other mounted filesystems."""


@group.command("list")
@library_option
@json_option
@pass_ctx
def list_(ctx: CliContext, library: str | None) -> None:
    """List the mounted volumes (and record changes in the library)."""
    volumes = ctx.call("volume.list", library=library)
    if ctx.out.as_json:
        ctx.out.json(volumes)
        return
    ctx.out.table(
        ["mount", "kind", "fs", "size", "free", "ro", "read MB/s", "write MB/s", "id"],
        [_volume_row(v) for v in volumes],
        "no volumes found",
    )


def _volume_row(volume: dict[str, Any]) -> list[Any]:
    read, write = volume.get("read_mbps"), volume.get("write_mbps")
    return [
        volume["mount_point"],
        volume["kind"],
        volume["filesystem"],
        human_bytes(volume["total_bytes"]),
        human_bytes(volume["free_bytes"]),
        "ro" if volume["read_only"] else "",
        "" if read is None else f"{read:.1f}",
        "" if write is None else f"{write:.1f}",
        volume["id"][:11],
    ]


@group.command("speedtest")
@click.argument("mount")
@click.option(
    "--size",
    "size_mib",
    type=click.IntRange(1, 4096),
    default=64,
    show_default=True,
    help="Write and read at most this many MiB.",
)
@click.option(
    "--seconds",
    type=click.FloatRange(0.1, 300),
    default=DEFAULT_MAX_SECONDS,
    show_default=True,
    help="Stop after about this long.",
)
@library_option
@json_option
@pass_ctx
def speedtest(
    ctx: CliContext, mount: str, size_mib: int, seconds: float, library: str | None
) -> None:
    """Measure sequential write and read speed of the volume mounted at MOUNT (MB/s)."""
    # Absolute where the user typed it: the node's working directory is not the user's.
    r = ctx.call(
        "volume.speedtest",
        mount=os.path.abspath(mount),
        size_mib=size_mib,
        seconds=seconds,
        library=library,
    )
    ctx.out.result(
        r,
        f"{r['mount_point']}: write {r['write_mbps']:.1f} MB/s, read {r['read_mbps']:.1f} MB/s "
        f"({r['bytes'] / MIB:.0f} MiB in {r['seconds']:.2f} s)"
        + ("" if r["recorded"] else ", not recorded"),
    )
