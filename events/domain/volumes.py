"""Volumes: device facts, written only by the device whose volumes they are.

A volume is named by an id that survives restarts and remounts (the filesystem UUID, else a
fingerprint; see ``sdactors/volumes/identity.py``). Its picture is recorded only when something
worth keeping changes: free space is carried as a snapshot but never, by itself, a reason to
write, or every observation would add an event.
"""

from dataclasses import dataclass
from typing import Annotated

from events.domain.catalog import CATALOG
from events.shapes import INT64_MAX, Bool, Int, OneOf, Text

VOLUME = Text(1, 256)
BYTES = Int(0, INT64_MAX)
VOLUME_KINDS = ("system", "primary", "secondary", "external", "network", "virtual")


@CATALOG.event("volume.observed")
@dataclass(frozen=True, slots=True)
class VolumeObserved:
    """The whole picture of a mounted volume, when it is new, changed, or back after unmount."""

    volume: Annotated[str, VOLUME]
    name: Annotated[str, Text(0, 256)]
    mount_point: Annotated[str, Text(0, 4096)]
    # What the system mounted: a block device, "server:/export", "tmpfs"...
    source: Annotated[str, Text(0, 4096)]
    filesystem: Annotated[str, Text(0, 64)]
    # system | primary | secondary | external | network | virtual
    kind: Annotated[str, OneOf(VOLUME_KINDS)]
    total_bytes: Annotated[int, BYTES]
    # A snapshot at observation time; changes alone do not cause a new event.
    free_bytes: Annotated[int, BYTES]
    read_only: Annotated[bool, Bool()]


@CATALOG.event("volume.unmounted")
@dataclass(frozen=True, slots=True)
class VolumeUnmounted:
    """A volume recorded as mounted is no longer there (unplugged, unmounted, unreachable)."""

    volume: Annotated[str, VOLUME]


@CATALOG.event("volume.speed_measured")
@dataclass(frozen=True, slots=True)
class VolumeSpeedMeasured:
    """One speed test: integers (bytes, microseconds) so the canonical bytes leave no doubt."""

    volume: Annotated[str, VOLUME]
    bytes_written: Annotated[int, BYTES]
    write_us: Annotated[int, BYTES]
    bytes_read: Annotated[int, BYTES]
    read_us: Annotated[int, BYTES]
