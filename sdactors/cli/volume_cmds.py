"""``sd volume``: the volumes of this device, and how fast they are.

With a library, what is listed or measured is also recorded in it (as ``volume.*`` events,
only when something changed); with no library yet, it is only shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from projections.volumes import VolumeRow, device_volumes
from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.library.config import list_libraries
from sdactors.library.reader import LibraryReader
from sdactors.runtime.units import human_bytes
from sdactors.volumes.detect import Volume
from sdactors.volumes.speedtest import DEFAULT_MAX_SECONDS, MIB

if TYPE_CHECKING:
    from sdactors.library.handle import Library
    from sdactors.volumes.manager import Observed, SpeedReport


@click.group("volume")
def group() -> None:
    """Volumes of this device: disks, partitions, shares and other mounted filesystems."""


def _library(ctx: CliContext, wanted: str | None) -> Library | LibraryReader | None:
    """The library to record in: read-only if a running node holds it (that node records),
    None if there is no library yet."""
    if wanted is None and not list_libraries(ctx.data):
        return None
    return ctx.library_if_free(wanted)


def _recorded(ctx: CliContext, lib: Library | LibraryReader | None) -> dict[str, VolumeRow]:
    if lib is None:
        return {}
    with lib.index() as db:
        return device_volumes(db, ctx.device)


@group.command("list")
@library_option
@json_option
@pass_ctx
def list_(ctx: CliContext, library: str | None) -> None:
    """List the mounted volumes (and record changes in the library)."""
    from sdactors.library.handle import REPLY_TIMEOUT_S, Library
    from sdactors.volumes.manager import ListVolumes, Observe

    lib = _library(ctx, library)
    manager = ctx.node.supervisor.live_ref("volumes")
    if isinstance(lib, Library):
        observed: Observed = manager.ask(Observe(lib), timeout=REPLY_TIMEOUT_S)
        volumes = list(observed.volumes)
        lib.catch_up()
    else:
        volumes = manager.ask(ListVolumes(), timeout=REPLY_TIMEOUT_S)
    recorded = _recorded(ctx, lib)
    if ctx.out.as_json:
        ctx.out.json([_volume_json(v, recorded.get(v.id)) for v in volumes])
        return
    ctx.out.table(
        ["mount", "kind", "fs", "size", "free", "ro", "read MB/s", "write MB/s", "id"],
        [_volume_row(v, recorded.get(v.id)) for v in volumes],
        "no volumes found",
    )


def _volume_json(volume: Volume, row: VolumeRow | None) -> dict[str, Any]:
    out = volume.as_json()
    if row is not None and row.read_mbps is not None and row.write_mbps is not None:
        out["read_mbps"] = round(row.read_mbps, 1)
        out["write_mbps"] = round(row.write_mbps, 1)
    return out


def _volume_row(volume: Volume, row: VolumeRow | None) -> list[Any]:
    read = row.read_mbps if row is not None else None
    write = row.write_mbps if row is not None else None
    return [
        volume.mount_point,
        volume.kind,
        volume.filesystem,
        human_bytes(volume.total_bytes),
        human_bytes(volume.free_bytes),
        "ro" if volume.read_only else "",
        "" if read is None else f"{read:.1f}",
        "" if write is None else f"{write:.1f}",
        volume.id[:11],
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
    from sdactors.library.handle import REPLY_TIMEOUT_S, Library
    from sdactors.volumes.manager import SpeedTest

    lib = _library(ctx, library)
    writable = lib if isinstance(lib, Library) else None
    report: SpeedReport = ctx.node.supervisor.live_ref("volumes").ask(
        SpeedTest(mount, size_mib * MIB, seconds, writable), timeout=REPLY_TIMEOUT_S
    )
    r = report.result
    ctx.out.result(
        {
            "volume": report.volume.id,
            "mount_point": report.volume.mount_point,
            "read_mbps": round(r.read_mbps, 1),
            "write_mbps": round(r.write_mbps, 1),
            "bytes": r.bytes_written,
            "bytes_read": r.bytes_read,
            "seconds": round(r.seconds, 3),
            "cache_dropped": r.cache_dropped,
            "recorded": report.recorded,
        },
        f"{report.volume.mount_point}: write {r.write_mbps:.1f} MB/s, read {r.read_mbps:.1f} MB/s "
        f"({r.bytes_written / MIB:.0f} MiB in {r.seconds:.2f} s)"
        + ("" if report.recorded else ", not recorded"),
    )
