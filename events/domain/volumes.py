"""Volumes: device facts, written only by the device whose volumes they are.

A volume is named by an id that survives restarts and remounts (the filesystem UUID, else a
fingerprint; see ``sdactors/volumes/identity.py``). Its picture is recorded only when something
worth keeping changes: free space is carried as a snapshot but never, by itself, a reason to
write, or every observation would add an event.
"""

from dataclasses import dataclass

from events.domain.catalog import CATALOG


@CATALOG.event("volume.observed")
@dataclass(frozen=True, slots=True)
class VolumeObserved:
    """The whole picture of a mounted volume, when it is new, changed, or back after unmount."""

    volume: str
    name: str
    mount_point: str
    # What the system mounted: a block device, "server:/export", "tmpfs"...
    source: str
    filesystem: str
    # system | primary | secondary | external | network | virtual
    kind: str
    total_bytes: int
    # A snapshot at observation time; changes alone do not cause a new event.
    free_bytes: int
    read_only: bool


@CATALOG.event("volume.unmounted")
@dataclass(frozen=True, slots=True)
class VolumeUnmounted:
    """A volume recorded as mounted is no longer there (unplugged, unmounted, unreachable)."""

    volume: str


@CATALOG.event("volume.speed_measured")
@dataclass(frozen=True, slots=True)
class VolumeSpeedMeasured:
    """One speed test: integers (bytes, microseconds) so the canonical bytes leave no doubt."""

    volume: str
    bytes_written: int
    write_us: int
    bytes_read: int
    read_us: int
