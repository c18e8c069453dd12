"""The VolumeManager: what this device has mounted, and how fast a volume is; and how that
is recorded in a library when it changes (:func:`record`, :func:`record_speed`, called by
whoever holds the library: messages carry data, never a library).

It keeps no list of its own: the mount table changes under it (a disk is plugged in), so every
message looks again, and what is already recorded is read from the library's ``volumes``
projection, not remembered. So a restart, a second process or a rebuilt index never leads to
duplicate events: a volume is recorded when it is new, when a property worth keeping changed,
or when it comes back after an unmount, and never for free space alone.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from events.domain.volumes import VolumeObserved, VolumeSpeedMeasured, VolumeUnmounted
from projections.volumes import VolumeRow, device_volumes
from sdactors.runtime.logs import get_logger
from sdactors.runtime.supervisor import CrashHook, SupervisedActor
from sdactors.volumes.detect import Probe, Volume, detect_volumes, find_mounted
from sdactors.volumes.speedtest import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_SECONDS,
    SpeedResult,
    speed_test,
)

log = get_logger(__name__)

# A total size that moves by less than this (ZFS datasets, shares with quotas) is not a change.
TOTAL_TOLERANCE = 0.01


@dataclass(frozen=True, slots=True)
class ListVolumes:
    """Ask; the answer is the ``list[Volume]`` mounted now."""


@dataclass(frozen=True, slots=True)
class SpeedTest:
    """Ask; measure the volume mounted at ``mount``. The answer is :class:`SpeedReport`."""

    mount: str
    max_bytes: int = DEFAULT_MAX_BYTES
    max_seconds: float = DEFAULT_MAX_SECONDS


@dataclass(frozen=True, slots=True)
class SpeedReport:
    volume: Volume
    result: SpeedResult
    # Everything mounted when it was measured (to record the volume before its speed).
    volumes: tuple[Volume, ...]


class VolumeLog(Protocol):
    """A library as recording volumes needs it."""

    device: bytes

    def catch_up(self) -> int: ...

    def index(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def append_typed(self, *typed: object) -> Any: ...


class VolumeManager(SupervisedActor):
    def __init__(self, probe: Probe | None = None, on_crash: CrashHook | None = None) -> None:
        super().__init__(on_crash)
        self._probe = probe if probe is not None else Probe()

    def on_receive(self, message: object) -> object:
        if isinstance(message, ListVolumes):
            return detect_volumes(self._probe)
        if isinstance(message, SpeedTest):
            return self._speed_test(message)
        raise TypeError(f"VolumeManager got an unexpected message: {message!r}")

    def _speed_test(self, message: SpeedTest) -> SpeedReport:
        volumes = detect_volumes(self._probe)
        volume = find_mounted(message.mount, volumes)
        result = speed_test(
            volume.mount_point,
            read_only=volume.read_only,
            max_bytes=message.max_bytes,
            max_seconds=message.max_seconds,
        )
        return SpeedReport(volume, result, tuple(volumes))


def record(lib: VolumeLog, volumes: list[Volume]) -> tuple[VolumeObserved | VolumeUnmounted, ...]:
    """Record in ``lib`` what changed since it last heard of this device's volumes."""
    lib.catch_up()
    with lib.index() as db:
        known = device_volumes(db, lib.device)
    events = changes(volumes, known)
    if events:
        lib.append_typed(*events)
        log.info("volumes_recorded", events=len(events))
    return tuple(events)


def record_speed(lib: VolumeLog, report: SpeedReport) -> None:
    """Record a measured speed in ``lib``: the volume first, so its speed never lands on a
    volume the log lacks."""
    record(lib, list(report.volumes))
    result = report.result
    lib.append_typed(
        VolumeSpeedMeasured(
            report.volume.id,
            result.bytes_written,
            _micros(result.write_seconds),
            result.bytes_read,
            _micros(result.read_seconds),
        )
    )


def changes(
    volumes: list[Volume], known: dict[str, VolumeRow]
) -> list[VolumeObserved | VolumeUnmounted]:
    """The events that bring the recorded picture (``known``) up to what is mounted now."""
    events: list[VolumeObserved | VolumeUnmounted] = []
    for v in volumes:
        row = known.get(v.id)
        if row is None or _differs(v, row):
            events.append(
                VolumeObserved(
                    v.id,
                    v.name,
                    v.mount_point,
                    v.source,
                    v.filesystem,
                    v.kind,
                    v.total_bytes,
                    v.free_bytes,
                    v.read_only,
                )
            )
    mounted_now = {v.id for v in volumes}
    for volume_id, row in sorted(known.items()):
        if row.mounted and volume_id not in mounted_now:
            events.append(VolumeUnmounted(volume_id))
    return events


def _differs(v: Volume, row: VolumeRow) -> bool:
    if not row.mounted or row.total_bytes is None:
        return True
    now = (v.name, v.mount_point, v.source, v.filesystem, v.kind, v.read_only)
    before = (row.name, row.mount_point, row.source, row.filesystem, row.kind, row.read_only)
    return now != before or abs(v.total_bytes - row.total_bytes) > row.total_bytes * TOTAL_TOLERANCE


def _micros(seconds: float) -> int:
    return max(1, round(seconds * 1e6))
