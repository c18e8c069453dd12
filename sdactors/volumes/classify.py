"""What kind of volume a mount is: system, primary, secondary, external, network or virtual.

The kind decides how the node treats a volume (an external disk comes and goes, a network
share may hang, a virtual one loses its content at reboot), so the rules go from the most
certain signal to the least:

1. ``system``: it holds the operating system: ``/`` (even when ``/`` is a container's
   overlay), ``/boot``, ``/usr``, or one of macOS's ``/System/Volumes/*``.
2. ``network``: a network filesystem type, or a source shaped like ``host:/path`` or
   ``//host/share``.
3. ``virtual``: memory- or image-backed (tmpfs, overlay, squashfs, loop and zram devices).
4. ``external``: mounted where desktops put removable media (``/media``, ``/run/media``,
   ``/Volumes``), or its block device says it is removable or sits on USB.
5. ``primary``: it holds the user's home (and is not the system volume).
6. ``secondary``: any other local disk (a home server's data disks).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from events.domain.volumes import VOLUME_KINDS

KINDS = VOLUME_KINDS

_SYSTEM_MOUNTS = frozenset({"/", "/boot", "/boot/efi", "/efi", "/usr"})
_SYSTEM_PREFIXES = ("/System/Volumes/",)
_EXTERNAL_PREFIXES = ("/media/", "/run/media/", "/Volumes/")

NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb",
        "smbfs",
        "smb3",
        "afpfs",
        "webdav",
        "davfs",
        "ncpfs",
        "9p",
        "ceph",
        "glusterfs",
        "lustre",
        "afs",
        "sshfs",
        "fuse.sshfs",
        "fuse.rclone",
        "fuse.glusterfs",
        "fuse.s3fs",
        "fuse.gcsfuse",
        "fuse.davfs2",
    }
)
VIRTUAL_FILESYSTEMS = frozenset(
    {
        "tmpfs",
        "ramfs",
        "overlay",
        "overlayfs",
        "aufs",
        "squashfs",
        "fuse.lxcfs",
        "fuse.squashfuse",
        "erofs",
        "zram",
    }
)
# A source that names a remote place: "host:/export" (NFS) or "//host/share" (SMB).
_REMOTE_SOURCE = re.compile(r"^(//[^/]+/|[^/:]+:/)")
_VIRTUAL_DEVICES = re.compile(r"^/dev/(loop|zram|ram)\d+")


def classify(
    mount_point: str, source: str, fstype: str, *, home_holder: str | None, removable: bool
) -> str:
    """The kind of one mount. ``home_holder`` is the mount point holding the user's home.

    Pure (it touches no file), so every rule can be tested with made-up mounts.
    """
    fstype = fstype.lower()
    if mount_point in _SYSTEM_MOUNTS or mount_point.startswith(_SYSTEM_PREFIXES):
        return "system"
    if is_remote(source, fstype):
        return "network"
    if fstype in VIRTUAL_FILESYSTEMS or _VIRTUAL_DEVICES.match(source):
        return "virtual"
    if removable or (mount_point + "/").startswith(_EXTERNAL_PREFIXES):
        return "external"
    if mount_point == home_holder:
        return "primary"
    return "secondary"


def is_remote(source: str, fstype: str) -> bool:
    """Whether a mount reaches over the network (and so may hang when the peer is gone)."""
    return fstype.lower() in NETWORK_FILESYSTEMS or _REMOTE_SOURCE.match(source) is not None


def holder_of(path: str, mount_points: list[str]) -> str | None:
    """The mount point ``path`` lives on: the longest one that is an ancestor of it.

    String-based on purpose: classification must not touch disks (a dead network share would
    hang a ``stat``). ``path`` should already be resolved (no symlinks).
    """
    target = PurePosixPath(path)
    best: str | None = None
    for mount in mount_points:
        if (target == PurePosixPath(mount) or PurePosixPath(mount) in target.parents) and (
            best is None or len(mount) > len(best)
        ):
            best = mount
    return best


def removable_device(source: str, sys_class_block: Path = Path("/sys/class/block")) -> bool:
    """Whether ``source`` is a partition or disk that Linux reports removable or on USB.

    USB hard disks and SSDs usually report ``removable`` 0, so the device's sysfs path
    (``.../usb1/...``) is checked too. Anything that is not a block device is not removable.
    """
    if not source.startswith("/dev/"):
        return False
    try:
        name = Path(source).resolve().name
        node = (sys_class_block / name).resolve(strict=True)
    except OSError:
        return False
    disk = node.parent if (node / "partition").exists() else node
    if "/usb" in str(disk):
        return True
    try:
        return (disk / "removable").read_text().strip() == "1"
    except OSError:
        return False
