"""A volume's id: the same filesystem keeps the same id across restarts and remounts.

Events about a volume are keyed on this id, so it must not depend on where or when the
filesystem happens to be mounted.

1. **Filesystem UUID** when the system exposes one: on Linux, udev links
   ``/dev/disk/by-uuid/<UUID>`` to the block device; the link whose target is the mounted
   device (same resolved path, or same device number, which catches ``/dev/root``) gives the
   UUID. It is written in the filesystem itself, so it follows the disk to another port, another
   mount point or another machine. The id is the UUID in lower case.
2. **Fingerprint** otherwise (macOS, network shares, tmpfs, containers without udev):
   ``"fp-"`` + 32 hex digits of blake3 over the canonical msgpack of
   ``["sd-volume-fingerprint/1", fstype, source, fsid]``:

   - ``fstype`` and ``source`` (``/dev/sdb1``, ``server:/export``, ``tmpfs``): what was
     mounted;
   - ``fsid``, the ``f_fsid`` of ``statvfs``: Linux derives it from the filesystem's own UUID
     for ext4, btrfs and ZFS (stable for life), from the server's id for NFS, and makes it
     per-mount for tmpfs, which is right since a tmpfs's content does not outlive its mount.

   Left out on purpose: the **mount point** (a remount elsewhere is the same volume), and the
   **sizes** (free space changes all the time, and ZFS or quota-bound shares report a total
   that moves with their pool). Only when two volumes of one detection would still share a
   fingerprint (two fuse mounts of the same name without an fsid) is the mount point added to
   tell them apart: then it is the only thing that does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from events.codec import pack
from sdactors.runtime.logs import get_logger

log = get_logger(__name__)

BY_UUID = Path("/dev/disk/by-uuid")
_FINGERPRINT_TAG = "sd-volume-fingerprint/1"


@dataclass(frozen=True, slots=True)
class UuidTable:
    """The filesystem UUIDs the system exposes, by device path and by device number."""

    by_path: dict[str, str] = field(default_factory=dict)
    by_rdev: dict[int, str] = field(default_factory=dict)

    def lookup(self, source: str, st_dev: int | None) -> str | None:
        """The UUID of the filesystem mounted from ``source`` (whose ``st_dev`` is given)."""
        if source.startswith("/"):
            found = self.by_path.get(os.path.realpath(source))
            if found is not None:
                return found
        return self.by_rdev.get(st_dev) if st_dev else None


def read_uuid_table(by_uuid: Path = BY_UUID) -> UuidTable:
    """Read the ``by-uuid`` links once per detection (a missing directory is an empty table)."""
    table = UuidTable()
    try:
        links = list(by_uuid.iterdir())
    except OSError:
        return table
    for link in links:
        try:
            target = os.path.realpath(link)
            rdev = os.stat(target).st_rdev
        except OSError as exc:
            log.debug("volume_uuid_link_unreadable", link=str(link), error=str(exc))
            continue
        uuid = link.name.lower()
        table.by_path[target] = uuid
        if rdev:
            table.by_rdev[rdev] = uuid
    return table


def fingerprint(fstype: str, source: str, fsid: int, mount_point: str | None = None) -> str:
    """The id of a filesystem without a UUID (see the module docstring for what goes in)."""
    parts: list[object] = [_FINGERPRINT_TAG, fstype, source, fsid]
    if mount_point is not None:
        parts.append(mount_point)
    return "fp-" + blake3.blake3(pack(parts)).hexdigest()[:32]
