"""Which volumes this machine has mounted, with their sizes, kinds and ids.

The mount table (``psutil.disk_partitions(all=True)``) lists far more than volumes: kernel
interfaces (proc, sysfs, cgroup...), bind mounts of single files (containers mount
``/etc/hosts`` that way), the same filesystem at several places, or a mount hidden under a
later one. Detection keeps what a person would call a volume: a directory where a filesystem
with content is mounted, each filesystem once.
"""

from __future__ import annotations

import os
import stat
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import psutil

from sdactors.runtime.errors import NotAMountPoint, VolumeNotFound
from sdactors.runtime.logs import get_logger
from sdactors.volumes.classify import classify, holder_of, is_remote, removable_device
from sdactors.volumes.identity import BY_UUID, fingerprint, read_uuid_table

log = get_logger(__name__)

# Kernel and runtime interfaces, never volumes with files of the user's.
PSEUDO_FILESYSTEMS = frozenset(
    {
        "proc",
        "sysfs",
        "devtmpfs",
        "devpts",
        "cgroup",
        "cgroup2",
        "mqueue",
        "debugfs",
        "tracefs",
        "securityfs",
        "pstore",
        "bpf",
        "configfs",
        "fusectl",
        "hugetlbfs",
        "autofs",
        "binfmt_misc",
        "rpc_pipefs",
        "nsfs",
        "efivarfs",
        "selinuxfs",
        "nfsd",
        "devfs",
        "fdesc",
        "fuse.portal",
        "fuse.gvfsd-fuse",
    }
)
# Where the system keeps its own plumbing; a mount below these is not the user's volume.
_PLUMBING = ("/proc", "/sys", "/dev", "/run", "/var/lib/docker", "/snap", "/System/Volumes")
_PLUMBING_EXCEPTIONS = ("/run/media", "/System/Volumes/Data")

# How long to wait for a network volume to answer ``stat`` before calling it unreachable.
NETWORK_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class Mount:
    """One row of the mount table, as the system reports it."""

    source: str
    mount_point: str
    fstype: str
    opts: str


@dataclass(frozen=True, slots=True)
class Volume:
    """A detected volume: what ``sd volume list`` shows and ``volume.observed`` records."""

    id: str
    name: str
    mount_point: str
    source: str
    filesystem: str
    kind: str
    total_bytes: int
    free_bytes: int
    read_only: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "mount_point": self.mount_point,
            "device": self.source,
            "filesystem": self.filesystem,
            "kind": self.kind,
            "total_bytes": self.total_bytes,
            "free_bytes": self.free_bytes,
            "read_only": self.read_only,
        }


@dataclass(frozen=True, slots=True)
class Probe:
    """Where detection looks. Tests point these at made-up trees."""

    by_uuid: Path = BY_UUID
    sys_class_block: Path = Path("/sys/class/block")
    home: Path | None = None  # None: the current user's home
    network_timeout_s: float = NETWORK_TIMEOUT_S


def read_mounts() -> list[Mount]:
    """The mount table, in mount order (a later mount at the same place hides an earlier one)."""
    return [
        Mount(p.device, p.mountpoint, p.fstype, p.opts) for p in psutil.disk_partitions(all=True)
    ]


def is_meaningful(mount: Mount) -> bool:
    """Whether a mount can be a volume: not a kernel interface, not system plumbing."""
    if mount.fstype.lower() in PSEUDO_FILESYSTEMS or not mount.mount_point.startswith("/"):
        return False
    path = PurePosixPath(mount.mount_point)
    for exception in _PLUMBING_EXCEPTIONS:
        if path == PurePosixPath(exception) or PurePosixPath(exception) in path.parents:
            return True
    return not any(path == PurePosixPath(p) or PurePosixPath(p) in path.parents for p in _PLUMBING)


@dataclass(frozen=True, slots=True)
class _Seen:
    mount: Mount
    st_dev: int
    vfs: os.statvfs_result


def detect_volumes(probe: Probe = Probe(), mounts: list[Mount] | None = None) -> list[Volume]:
    """The volumes mounted now, ordered by mount point."""
    return [volume for volume, _ in _detect(probe, mounts)]


def volume_holding(path: bytes, probe: Probe = Probe()) -> Volume | None:
    """The volume ``path`` is on now; None if it does not exist or is on nothing detection
    calls a volume. Found by device number (a folder is on the filesystem whose ``st_dev``
    it has), else by the longest mount point holding it (a btrfs subvolume has a device
    number of its own)."""
    try:
        st_dev = os.stat(path).st_dev
    except OSError:
        return None
    found = _detect(probe, None)
    for volume, dev in found:
        if dev == st_dev:
            return volume
    holder = holder_of(os.fsdecode(os.path.realpath(path)), [v.mount_point for v, _ in found])
    return next((v for v, _ in found if v.mount_point == holder), None)


def _detect(probe: Probe, mounts: list[Mount] | None) -> list[tuple[Volume, int]]:
    """The volumes mounted now, each with the device number of its filesystem."""
    table = read_mounts() if mounts is None else mounts
    by_dev: dict[int, _Seen] = {}
    for mount in table:
        if not is_meaningful(mount):
            continue
        seen = _look(mount, probe.network_timeout_s)
        if seen is None:
            continue
        kept = by_dev.get(seen.st_dev)
        # One filesystem, one volume: keep its shortest mount point (bind mounts go deeper);
        # at the same place the later mount wins, as it is the one visible there.
        if kept is None or len(mount.mount_point) <= len(kept.mount.mount_point):
            by_dev[seen.st_dev] = seen
    seens = sorted(by_dev.values(), key=lambda s: s.mount.mount_point)
    mount_points = [s.mount.mount_point for s in seens]
    home = os.path.realpath(probe.home if probe.home is not None else Path.home())
    home_holder = holder_of(home, mount_points)
    uuids = read_uuid_table(probe.by_uuid)
    ids = [
        uuids.lookup(s.mount.source, s.st_dev)
        or fingerprint(s.mount.fstype, s.mount.source, s.vfs.f_fsid)
        for s in seens
    ]
    shared = {i for i, n in Counter(ids).items() if n > 1}
    volumes: list[tuple[Volume, int]] = []
    for seen, volume_id in zip(seens, ids):
        m = seen.mount
        if volume_id in shared:
            volume_id = fingerprint(m.fstype, m.source, seen.vfs.f_fsid, m.mount_point)
        kind = classify(
            m.mount_point,
            m.source,
            m.fstype,
            home_holder=home_holder,
            removable=removable_device(m.source, probe.sys_class_block),
        )
        volume = Volume(
            id=volume_id,
            name=PurePosixPath(m.mount_point).name or m.mount_point,
            mount_point=m.mount_point,
            source=m.source,
            filesystem=m.fstype,
            kind=kind,
            total_bytes=seen.vfs.f_blocks * seen.vfs.f_frsize,
            free_bytes=seen.vfs.f_bavail * seen.vfs.f_frsize,
            read_only=bool(seen.vfs.f_flag & os.ST_RDONLY) or "ro" in m.opts.split(","),
        )
        volumes.append((volume, seen.st_dev))
    return volumes


def _look(mount: Mount, network_timeout_s: float) -> _Seen | None:
    """Stat a mount point; None if it is not a directory, is gone, or does not answer."""
    try:
        if is_remote(mount.source, mount.fstype):
            st, vfs = _bounded(mount.mount_point, network_timeout_s)
        else:
            st, vfs = os.stat(mount.mount_point), os.statvfs(mount.mount_point)
    except (OSError, TimeoutError) as exc:
        log.info("volume_skipped", mount_point=mount.mount_point, error=str(exc))
        return None
    if not stat.S_ISDIR(st.st_mode):
        return None
    return _Seen(mount, st.st_dev, vfs)


def _bounded(path: str, timeout_s: float) -> tuple[os.stat_result, os.statvfs_result]:
    """``stat`` and ``statvfs`` in a daemon thread: a dead network share blocks forever in
    the kernel, and it must cost the caller at most ``timeout_s``, never a hung command."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append((os.stat(path), os.statvfs(path)))
        except OSError as exc:
            result.append(exc)

    thread = threading.Thread(target=run, name="volume-probe", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not result:
        raise TimeoutError(f"no answer within {timeout_s:g} s")
    if isinstance(result[0], OSError):
        raise result[0]
    return result[0]


def find_mounted(path: str, volumes: list[Volume]) -> Volume:
    """The volume mounted exactly at ``path``; a clear error if ``path`` is anything else."""
    if not os.path.exists(path):
        raise VolumeNotFound(path)
    real = os.path.realpath(path)
    for volume in volumes:
        if volume.mount_point == real:
            return volume
    if os.path.ismount(real):
        # Mounted, but as system plumbing (/proc, /dev/shm...): there is no volume to name.
        raise NotAMountPoint(path, None)
    raise NotAMountPoint(path, holder_of(real, [v.mount_point for v in volumes]))
