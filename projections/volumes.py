"""Volumes of every device: the latest recorded picture and the latest speed test of each.

Device-owned facts: only the owning device writes a volume's events, and a device's events
always arrive in its own order, so within a ``(device, volume)`` row the last event folded is
the newest and simply wins. Rows of different devices never touch each other, so any
interleaving of devices folds to the same table.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from events.domain.volumes import VolumeObserved, VolumeSpeedMeasured, VolumeUnmounted
from projections.base import Folded

_PROPERTIES = "name, mount_point, source, filesystem, kind, total_bytes, free_bytes, read_only"
_SPEED = "bytes_written, write_us, bytes_read, read_us"


@dataclass(frozen=True, slots=True)
class VolumeRow:
    """One volume as the log last described it. Properties are None if only a speed is known."""

    volume: str
    name: str | None
    mount_point: str | None
    source: str | None
    filesystem: str | None
    kind: str | None
    total_bytes: int | None
    free_bytes: int | None
    read_only: bool | None
    mounted: bool
    observed: int | None
    bytes_written: int | None
    write_us: int | None
    bytes_read: int | None
    read_us: int | None
    measured: int | None

    @property
    def write_mbps(self) -> float | None:
        """Megabytes (10^6 bytes) per second of the latest test, None if never measured."""
        return _mbps(self.bytes_written, self.write_us)

    @property
    def read_mbps(self) -> float | None:
        return _mbps(self.bytes_read, self.read_us)

    @property
    def speed(self) -> float | None:
        """How fast it serves a file both ways: the slower of its latest read and write, in
        megabytes per second (None if never measured). What ranks volumes for keeping a
        copy or moving cold data (``sdactors/agent/builtin``)."""
        rates = [r for r in (self.read_mbps, self.write_mbps) if r is not None]
        return min(rates) if rates else None


def _mbps(nbytes: int | None, us: int | None) -> float | None:
    if nbytes is None or not us:
        return None
    return nbytes / us  # bytes per microsecond is megabytes per second


class VolumesProjection:
    name = "volumes"
    version = 1
    types = ("volume.",)

    def create(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE volumes (device BLOB NOT NULL, volume TEXT NOT NULL, "
            "name TEXT, mount_point TEXT, source TEXT, filesystem TEXT, kind TEXT, "
            "total_bytes INTEGER, free_bytes INTEGER, read_only INTEGER, "
            "mounted INTEGER NOT NULL DEFAULT 0, observed INTEGER, "
            "bytes_written INTEGER, write_us INTEGER, bytes_read INTEGER, read_us INTEGER, "
            "measured INTEGER, PRIMARY KEY (device, volume))"
        )

    def fold(self, db: sqlite3.Connection, events: Folded) -> None:
        for ev, typed in events:
            if type(typed) is VolumeObserved:
                db.execute(
                    f"INSERT INTO volumes (device, volume, {_PROPERTIES}, mounted, observed) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) "
                    "ON CONFLICT (device, volume) DO UPDATE SET name = excluded.name, "
                    "mount_point = excluded.mount_point, source = excluded.source, "
                    "filesystem = excluded.filesystem, kind = excluded.kind, "
                    "total_bytes = excluded.total_bytes, free_bytes = excluded.free_bytes, "
                    "read_only = excluded.read_only, mounted = 1, observed = excluded.observed",
                    (
                        ev.device,
                        typed.volume,
                        typed.name,
                        typed.mount_point,
                        typed.source,
                        typed.filesystem,
                        typed.kind,
                        typed.total_bytes,
                        typed.free_bytes,
                        int(typed.read_only),
                        ev.hlc,
                    ),
                )
            elif type(typed) is VolumeUnmounted:
                db.execute(
                    "UPDATE volumes SET mounted = 0 WHERE device = ? AND volume = ?",
                    (ev.device, typed.volume),
                )
            elif type(typed) is VolumeSpeedMeasured:
                db.execute(
                    f"INSERT INTO volumes (device, volume, {_SPEED}, measured) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (device, volume) DO UPDATE SET "
                    "bytes_written = excluded.bytes_written, write_us = excluded.write_us, "
                    "bytes_read = excluded.bytes_read, read_us = excluded.read_us, "
                    "measured = excluded.measured",
                    (
                        ev.device,
                        typed.volume,
                        typed.bytes_written,
                        typed.write_us,
                        typed.bytes_read,
                        typed.read_us,
                        ev.hlc,
                    ),
                )

    def digest_rows(self, db: sqlite3.Connection) -> Iterable[Sequence[Any]]:
        return db.execute(
            f"SELECT device, volume, {_PROPERTIES}, mounted, {_SPEED} FROM volumes "
            "ORDER BY device, volume"
        )


def device_volumes(db: sqlite3.Connection, device: bytes) -> dict[str, VolumeRow]:
    """Every volume ``device`` has recorded, by volume id."""
    rows = db.execute(
        f"SELECT volume, {_PROPERTIES}, mounted, observed, {_SPEED}, measured FROM volumes "
        "WHERE device = ?",
        (device,),
    )
    return {row[0]: _row(row) for row in rows}


def _row(row: Sequence[Any]) -> VolumeRow:
    values = list(row)
    values[8] = None if values[8] is None else bool(values[8])
    values[9] = bool(values[9])
    return VolumeRow(*values)
