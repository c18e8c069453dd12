"""The volumes of this device, and how fast they are: asked of the VolumeManager of the node
running the command (the CLI's own when no node serves the data directory).

With a library, what is listed or measured is also recorded in it (as ``volume.*`` events,
only when something changed) by whoever holds it; with no library yet, or one held by
another process, it is only shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from events.shapes import Int, Num, Text
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.results import BOOL, COUNT, NUMBER, TEXT, many, record, record_with
from sdactors.ops.shapes import LIBRARY
from sdactors.volumes.speedtest import DEFAULT_MAX_SECONDS, MIB

if TYPE_CHECKING:
    from sdactors.library.handle import Library
    from sdactors.library.reader import LibraryReader


VOLUME = record_with(
    # The speed last measured, when one was.
    {"read_mbps": NUMBER, "write_mbps": NUMBER},
    id=TEXT,
    name=TEXT,
    mount_point=TEXT,
    device=TEXT,
    filesystem=TEXT,
    kind=TEXT,
    total_bytes=COUNT,
    free_bytes=COUNT,
    read_only=BOOL,
)


def _libraries(
    ctx: OpContext, wanted: str | None
) -> tuple[Library | None, Library | LibraryReader | None]:
    """The library to record in (None when another process holds it, or its log waits for
    a restore) and the one to read what is recorded from (None: no library yet)."""
    from sdactors.library.config import list_libraries
    from sdactors.runtime.errors import LibraryLocked, LogDamaged

    if wanted is None and not list_libraries(ctx.data):
        return None, None
    try:
        lib = ctx.write_library(wanted)
    except (LibraryLocked, LogDamaged):
        return None, ctx.read_library(wanted)
    return lib, lib


@op("volume.list")
@dataclass(frozen=True)
class VolumeList(Op):
    """The mounted volumes (changes recorded in the library), each with the speed last
    measured, if any."""

    library: Annotated[str | None, LIBRARY] = None

    result = many(VOLUME)

    def run(self, ctx: OpContext) -> Any:
        from projections.volumes import device_volumes
        from sdactors.volumes.manager import ListVolumes, record

        lib, reader = _libraries(ctx, self.library)
        volumes = ctx.volumes(ListVolumes())
        if lib is not None:
            record(lib, volumes)
            lib.catch_up()
        recorded = {}
        if reader is not None:
            with reader.index() as db:
                recorded = device_volumes(db, ctx.device)
        out = []
        for volume in volumes:
            shown = volume.as_json()
            row = recorded.get(volume.id)
            if row is not None and row.read_mbps is not None and row.write_mbps is not None:
                shown["read_mbps"] = round(row.read_mbps, 1)
                shown["write_mbps"] = round(row.write_mbps, 1)
            out.append(shown)
        return out


@op("volume.speedtest")
@dataclass(frozen=True)
class VolumeSpeedtest(Op):
    """Sequential write and read speed of the volume mounted at ``mount`` (MB/s), recorded
    in the library when this process may write to it."""

    mount: Annotated[str, Text(1, 4096)]
    size_mib: Annotated[int, Int(1, 4096)] = 64
    seconds: Annotated[float, Num(0.1, 300)] = DEFAULT_MAX_SECONDS
    library: Annotated[str | None, LIBRARY] = None

    result = record(
        volume=TEXT,
        mount_point=TEXT,
        read_mbps=NUMBER,
        write_mbps=NUMBER,
        bytes=COUNT,
        bytes_read=COUNT,
        seconds=NUMBER,
        cache_dropped=BOOL,
        recorded=BOOL,
    )

    def run(self, ctx: OpContext) -> Any:
        from sdactors.volumes.manager import SpeedTest, record_speed

        lib, _reader = _libraries(ctx, self.library)
        report = ctx.volumes(SpeedTest(self.mount, self.size_mib * MIB, self.seconds))
        if lib is not None:
            record_speed(lib, report)
        r = report.result
        return {
            "volume": report.volume.id,
            "mount_point": report.volume.mount_point,
            "read_mbps": round(r.read_mbps, 1),
            "write_mbps": round(r.write_mbps, 1),
            "bytes": r.bytes_written,
            "bytes_read": r.bytes_read,
            "seconds": round(r.seconds, 3),
            "cache_dropped": r.cache_dropped,
            "recorded": lib is not None,
        }
