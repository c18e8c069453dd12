"""Whether a location's volume is there: what keeps an unmounted disk from reading as emptied.

When a disk is unmounted its mount point usually stays behind, an empty folder on the
filesystem above it. A rescan there would find nothing and delete every entry, and with
sync that deletion would reach every device. So before a rescan, the volume the location's
folder is on now is compared with the one recorded for it (``location.volume_seen``):

- the folder is missing: offline;
- it is on the recorded volume, or none was recorded yet: online;
- it is on another volume mounted where the recorded one was: online, and that volume is
  recorded. A tmpfs is a new filesystem, with a new id, each time it is mounted; another disk
  mounted in the same place is what the rescan's deletion guard is for;
- it is on a volume mounted anywhere else (most often the one holding the empty mount
  point): offline, "volume X is not mounted".

An offline location keeps its entries and stays searchable; the rescan that finds its volume
back brings it online.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from events.domain.locations import LocationOffline, LocationOnline, LocationVolumeSeen
from projections.files.query import LocationRow
from sdactors.volumes.detect import Volume, volume_holding


@dataclass(frozen=True, slots=True)
class Presence:
    # The volume the location's folder is on now (None: missing, or on no known volume).
    volume: Volume | None
    # Why the location is offline; None when it is online.
    offline: str | None


def judge(path: bytes, exists: bool, now: Volume | None, row: LocationRow) -> Presence:
    """The presence of the location ``row`` whose folder ``exists`` (or not) on ``now``."""
    if not exists:
        return Presence(None, f"its folder {os.fsdecode(path)} does not exist")
    if row.volume is None or (now is not None and now.id == row.volume):
        return Presence(now, None)
    if now is not None and now.mount_point == row.mount_point:
        return Presence(now, None)
    where = f"{now.mount_point} (volume {now.id})" if now is not None else "no known volume"
    return Presence(
        now,
        f"volume {row.volume} is not mounted at {row.mount_point}: the folder is on {where}",
    )


def look(row: LocationRow) -> Presence:
    """The presence of a location as the disk and the mount table say now."""
    exists = os.path.isdir(row.path)
    return judge(row.path, exists, volume_holding(row.path) if exists else None, row)


def recorded_changes(
    row: LocationRow, presence: Presence
) -> list[LocationVolumeSeen | LocationOffline | LocationOnline]:
    """The events that bring what the log says of the location up to ``presence``: none
    when nothing changed, so a rescan of an unchanged location writes nothing."""
    events: list[LocationVolumeSeen | LocationOffline | LocationOnline] = []
    if presence.offline is not None:
        if row.offline != presence.offline:
            events.append(LocationOffline(row.location, presence.offline))
        return events
    if row.offline is not None:
        events.append(LocationOnline(row.location))
    now = presence.volume
    if now is not None and (now.id, now.mount_point) != (row.volume, row.mount_point):
        events.append(LocationVolumeSeen(row.location, now.id, now.mount_point))
    return events
