"""Volumes: classification, identity, the speed test, and ``sd volume`` end to end.

Nothing here needs root or a real mount: classification is pure, detection is fed made-up
mount tables over temporary directories, and the udev and sysfs trees are built in tmp_path.
"""

from __future__ import annotations

import errno
import os
from dataclasses import replace
from pathlib import Path

import pytest

from events.domain.volumes import VolumeObserved, VolumeUnmounted
from projections.volumes import VolumeRow
from sdactors.runtime.errors import NotAMountPoint, SpeedTestFailed, VolumeNotFound, VolumeReadOnly
from sdactors.volumes import speedtest
from sdactors.volumes.classify import KINDS, classify, holder_of, removable_device
from sdactors.volumes.detect import (
    Mount,
    Probe,
    Volume,
    detect_volumes,
    find_mounted,
    is_meaningful,
)
from sdactors.volumes.identity import fingerprint
from sdactors.volumes.manager import changes
from sdactors.volumes.speedtest import MIB, measure, speed_test
from tests.conftest import Sd

# -- classification ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mount_point", "source", "fstype", "home_holder", "removable", "kind"),
    [
        ("/", "/dev/sda2", "ext4", "/", False, "system"),
        ("/", "overlay", "overlay", "/", False, "system"),  # a container's root
        ("/boot/efi", "/dev/sda1", "vfat", "/", False, "system"),
        ("/System/Volumes/Data", "/dev/disk3s5", "apfs", "/System/Volumes/Data", False, "system"),
        ("/home", "/dev/sda3", "ext4", "/home", False, "primary"),
        ("/home", "/dev/sda3", "ext4", "/", False, "secondary"),
        ("/srv/data", "/dev/sdb1", "xfs", "/home", False, "secondary"),
        ("/media/ann/STICK", "/dev/sdc1", "vfat", "/home", False, "external"),
        ("/run/media/ann/Disk", "/dev/sdc1", "exfat", "/home", False, "external"),
        ("/Volumes/Backup", "/dev/disk4s1", "apfs", "/", False, "external"),
        ("/mnt/usb", "/dev/sdd1", "exfat", "/home", True, "external"),
        ("/mnt/nas", "nas:/export/photos", "nfs4", "/home", False, "network"),
        ("/mnt/share", "//nas/share", "cifs", "/home", False, "network"),
        ("/mnt/remote", "ann@host:/home/ann", "fuse.sshfs", "/home", False, "network"),
        ("/Volumes/share", "//ann@nas/share", "smbfs", "/", False, "network"),
        ("/tmp", "tmpfs", "tmpfs", "/", False, "virtual"),
        ("/srv/image", "/dev/loop3", "ext4", "/", False, "virtual"),
        ("/opt/app", "/dev/loop7", "squashfs", "/", False, "virtual"),
    ],
)
def test_classify(
    mount_point: str, source: str, fstype: str, home_holder: str, removable: bool, kind: str
) -> None:
    assert kind in KINDS
    got = classify(mount_point, source, fstype, home_holder=home_holder, removable=removable)
    assert got == kind


def test_holder_of_is_the_longest_ancestor_mount() -> None:
    mounts = ["/", "/home", "/home2", "/mnt/data"]
    assert holder_of("/home/ann/photos", mounts) == "/home"
    assert holder_of("/home", mounts) == "/home"
    assert holder_of("/homework/x", mounts) == "/"
    assert holder_of("/mnt/datastore", mounts) == "/"
    assert holder_of("/x", ["/mnt"]) is None


@pytest.mark.parametrize(
    ("mount", "meaningful"),
    [
        (Mount("proc", "/proc", "proc", "rw"), False),
        (Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", "rw"), False),
        (Mount("tmpfs", "/dev/shm", "tmpfs", "rw"), False),
        (Mount("tmpfs", "/run/user/1000", "tmpfs", "rw"), False),
        (Mount("/dev/loop1", "/snap/core/1", "squashfs", "ro"), False),
        (Mount("/dev/disk3s6", "/System/Volumes/VM", "apfs", "rw"), False),
        (Mount("map auto_home", "/System/Volumes/Data/home", "autofs", "rw"), False),
        (Mount("/dev/disk3s5", "/System/Volumes/Data", "apfs", "rw"), True),
        (Mount("/dev/sdc1", "/run/media/ann/Disk", "exfat", "rw"), True),
        (Mount("tmpfs", "/tmp", "tmpfs", "rw"), True),
        (Mount("/dev/sda2", "/", "ext4", "rw"), True),
    ],
)
def test_pseudo_and_plumbing_mounts_are_not_volumes(mount: Mount, meaningful: bool) -> None:
    assert is_meaningful(mount) is meaningful


def _fake_disk(sys_root: Path, disk: str, bus: str, removable: str) -> Path:
    """A sysfs tree like the kernel's: class/block/<part> links into devices/.../<disk>/<part>."""
    disk_dir = sys_root / "devices" / "pci0000:00" / bus / "block" / disk
    part_dir = disk_dir / f"{disk}1"
    part_dir.mkdir(parents=True)
    (part_dir / "partition").write_text("1\n")
    (disk_dir / "removable").write_text(removable + "\n")
    links = sys_root / "class" / "block"
    links.mkdir(parents=True, exist_ok=True)
    (links / f"{disk}1").symlink_to(part_dir)
    (links / disk).symlink_to(disk_dir)
    return links


def test_removable_devices_from_sysfs(tmp_path: Path) -> None:
    links = _fake_disk(tmp_path, "sdx", "usb1/1-1/host6/target6:0:0/6:0:0:0", "0")
    _fake_disk(tmp_path, "sdy", "ata1/host0/target0:0:0/0:0:0:0", "1")
    _fake_disk(tmp_path, "sdz", "ata2/host1/target1:0:0/1:0:0:0", "0")
    assert removable_device("/dev/sdx1", links)  # a USB disk that says removable 0
    assert removable_device("/dev/sdy1", links)  # a card reader slot
    assert removable_device("/dev/sdy", links)  # a whole disk, no partition table
    assert not removable_device("/dev/sdz1", links)
    assert not removable_device("/dev/sdw1", links)  # unknown to sysfs
    assert not removable_device("nas:/export", links)


# -- identity ------------------------------------------------------------------------------


def _probe(tmp_path: Path, by_uuid: Path | None = None) -> Probe:
    return Probe(
        by_uuid=by_uuid or tmp_path / "no-by-uuid",
        sys_class_block=tmp_path / "no-sys",
        home=tmp_path,
    )


def _one(volumes: list[Volume]) -> Volume:
    assert len(volumes) == 1, volumes
    return volumes[0]


def test_fingerprint_ignores_the_mount_point(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "elsewhere" / "b"
    a.mkdir()
    b.mkdir(parents=True)
    probe = _probe(tmp_path)
    first = _one(detect_volumes(probe, [Mount("/dev/sdq1", str(a), "ext4", "rw")]))
    again = _one(detect_volumes(probe, [Mount("/dev/sdq1", str(b), "ext4", "rw")]))
    assert first.id == again.id and first.id.startswith("fp-") and len(first.id) == 35
    assert first.mount_point != again.mount_point
    other = _one(detect_volumes(probe, [Mount("/dev/sdq2", str(a), "ext4", "rw")]))
    assert other.id != first.id
    assert fingerprint("ext4", "/dev/sdq1", 7) != fingerprint("ext4", "/dev/sdq1", 8)


def test_uuid_from_by_uuid_links(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    dev.mkdir()
    (dev / "sdq1").write_bytes(b"")
    by_uuid = tmp_path / "by-uuid"
    by_uuid.mkdir()
    (by_uuid / "ABCD-1234").symlink_to("../dev/sdq1")
    (by_uuid / "dangling").symlink_to("../dev/gone")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    probe = _probe(tmp_path, by_uuid)
    source = str(dev / "sdq1")
    volume = _one(detect_volumes(probe, [Mount(source, str(mnt), "vfat", "rw")]))
    assert volume.id == "abcd-1234"
    moved = _one(detect_volumes(probe, [Mount(source, str(tmp_path), "vfat", "rw")]))
    assert moved.id == "abcd-1234"
    unknown = _one(detect_volumes(probe, [Mount(str(dev / "sdq2"), str(mnt), "vfat", "rw")]))
    assert unknown.id.startswith("fp-")


def test_bind_mounts_of_one_filesystem_are_one_volume(tmp_path: Path) -> None:
    deep = tmp_path / "x" / "y"
    deep.mkdir(parents=True)
    hosts = tmp_path / "hosts"
    hosts.write_text("")
    mounts = [
        Mount("/dev/sdq1", str(deep), "ext4", "rw"),
        Mount("/dev/sdq1", str(tmp_path), "ext4", "rw"),
        Mount("/dev/sdq1", str(hosts), "ext4", "rw"),  # a file, as containers bind /etc/hosts
    ]
    volume = _one(detect_volumes(_probe(tmp_path), mounts))
    assert volume.mount_point == str(tmp_path)
    assert volume.total_bytes >= volume.free_bytes >= 0 and volume.total_bytes > 0


def test_distinct_volumes_with_one_fingerprint_get_the_mount_point_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    real_stat, real_statvfs = os.stat, os.statvfs

    def stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        st = real_stat(path, *args, **kwargs)  # type: ignore[arg-type]
        if str(path) != str(b):
            return st
        fields = list(st)
        fields[2] += 1  # st_dev: another filesystem
        return os.stat_result(fields)

    def statvfs(path: object) -> os.statvfs_result:
        return os.statvfs_result(tuple(real_statvfs(path)) + (0,))  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os, "statvfs", statvfs)
    mounts = [Mount("sshfs", str(x), "fuse.sshfs", "rw") for x in (a, b)]
    volumes = detect_volumes(_probe(tmp_path), mounts)
    assert len(volumes) == 2 and volumes[0].id != volumes[1].id
    assert {v.kind for v in volumes} == {"network"}


# -- recording only what changed -----------------------------------------------------------


def _row(v: Volume, mounted: bool = True) -> VolumeRow:
    return VolumeRow(
        v.id,
        v.name,
        v.mount_point,
        v.source,
        v.filesystem,
        v.kind,
        v.total_bytes,
        v.free_bytes,
        v.read_only,
        mounted,
        1,
        None,
        None,
        None,
        None,
        None,
    )


def test_changes_record_new_changed_and_gone_volumes_but_not_free_space() -> None:
    disk = Volume(
        "u1", "data", "/srv/data", "/dev/sdb1", "ext4", "secondary", 10**12, 10**11, False
    )
    stick = Volume("u2", "S", "/media/S", "/dev/sdc1", "vfat", "external", 10**9, 10**8, False)
    assert changes([disk], {}) == [
        VolumeObserved(
            "u1", "data", "/srv/data", "/dev/sdb1", "ext4", "secondary", 10**12, 10**11, False
        )
    ]
    known = {"u1": _row(disk), "u2": _row(stick)}
    fuller = replace(disk, free_bytes=5, total_bytes=10**12 - 10**9)  # free space, a 0.1% wobble
    assert changes([fuller, stick], known) == []
    moved = replace(disk, mount_point="/mnt/data", name="data")
    assert [type(e) for e in changes([moved, stick], known)] == [VolumeObserved]
    assert changes([disk], known) == [VolumeUnmounted("u2")]
    back = {"u1": _row(disk), "u2": _row(stick, mounted=False)}
    assert [e.volume for e in changes([disk, stick], back)] == ["u2"]  # type: ignore[union-attr]
    assert changes([disk], back) == []


# -- speed test ----------------------------------------------------------------------------


def test_speed_test_measures_and_removes_its_file(tmp_path: Path) -> None:
    result = measure(str(tmp_path), max_bytes=3 * MIB, max_seconds=10)
    assert result.bytes_written == result.bytes_read == 3 * MIB
    assert result.write_mbps > 0 and result.read_mbps > 0
    if hasattr(os, "posix_fadvise"):
        assert result.cache_dropped
    assert list(tmp_path.iterdir()) == []


def test_speed_test_stops_when_its_time_is_up(tmp_path: Path) -> None:
    ticks = iter(range(1000))
    result = measure(
        str(tmp_path), max_bytes=64 * MIB, max_seconds=4, clock=lambda: float(next(ticks))
    )
    # Every clock reading is a second later: the write's 2 s are gone after two chunks.
    assert result.bytes_written == 2 * MIB
    assert result.bytes_read < result.bytes_written
    assert list(tmp_path.iterdir()) == []


def test_speed_test_removes_its_file_when_the_disk_is_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    calls = []

    def write(fd: int, data: bytes) -> int:
        calls.append(fd)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(speedtest.os, "write", write)
    with pytest.raises(SpeedTestFailed, match="No space left"):
        speed_test(str(tmp_path), read_only=False, max_bytes=4 * MIB, max_seconds=5)
    assert list(tmp_path.iterdir()) == []


def test_speed_test_refuses_read_only_and_non_mounts(tmp_path: Path) -> None:
    with pytest.raises(VolumeReadOnly, match="read-only"):
        speed_test(str(tmp_path), read_only=True)
    volumes = [Volume("v", "/", "/", "/dev/sda", "ext4", "system", 1, 1, False)]
    with pytest.raises(VolumeNotFound, match="does not exist"):
        find_mounted(str(tmp_path / "nope"), volumes)
    with pytest.raises(NotAMountPoint, match="mounted at /"):
        find_mounted(str(tmp_path), volumes)
    assert find_mounted("/", volumes) is volumes[0]


# -- sd volume, end to end -----------------------------------------------------------------


def _volume_events(sd: Sd, ids: set[str]) -> list[tuple[str, str]]:
    """The volume.observed / volume.unmounted events recorded about the volumes ``ids``."""
    lines = sd.json_lines("log", "show", "--type", "volume.")
    return [
        (line["type"], line["body"]["volume"])
        for line in lines
        if line["type"] in ("volume.observed", "volume.unmounted") and line["body"]["volume"] in ids
    ]


def _holder(volumes: list[dict], path: Path) -> dict:
    real = os.path.realpath(path)
    mount = holder_of(real, [v["mount_point"] for v in volumes])
    assert mount is not None, volumes
    (volume,) = [v for v in volumes if v["mount_point"] == mount]
    assert os.stat(mount).st_dev == os.stat(real).st_dev
    return volume


def test_sd_volume_list_without_a_library_only_lists(sd: Sd, tmp_path: Path) -> None:
    volume = _holder(sd.json("volume", "list"), tmp_path)
    assert volume["kind"] in KINDS
    assert not (sd.data_dir / "libraries").exists()


def test_sd_volume_list_records_once_and_speedtest_is_recorded(sd: Sd, tmp_path: Path) -> None:
    sd.run("library", "create", "Home")
    volumes = sd.json("volume", "list")
    volume = _holder(volumes, tmp_path)
    assert set(volume) >= {
        "id",
        "name",
        "mount_point",
        "device",
        "filesystem",
        "kind",
        "total_bytes",
        "free_bytes",
        "read_only",
    }
    assert volume["id"] and volume["filesystem"] and volume["device"]
    assert volume["kind"] in KINDS and volume["read_only"] is False
    assert volume["total_bytes"] >= volume["free_bytes"] >= 0 and volume["total_bytes"] > 0
    assert len({v["id"] for v in volumes}) == len(volumes)

    counts = sd.json("log", "stats")["by_type"]
    assert counts["volume.observed"] == len(volumes)
    listed_ids = {v["id"] for v in volumes}
    before = _volume_events(sd, listed_ids)
    assert len(before) == len(volumes)
    sd.json("volume", "list")
    # Listing again records nothing about the volumes already recorded. (Other tests mount
    # and unmount tmpfs volumes meanwhile: what this listing records of those is theirs.)
    assert _volume_events(sd, listed_ids) == before

    mount = volume["mount_point"]
    result = sd.json("volume", "speedtest", mount, "--size", "2", "--seconds", "5")
    assert result["volume"] == volume["id"] and result["mount_point"] == mount
    assert result["bytes"] == 2 * MIB and result["recorded"] is True
    assert result["read_mbps"] > 0 and result["write_mbps"] > 0
    assert not [n for n in os.listdir(mount) if n.startswith(speedtest.TEMP_PREFIX)]
    after = sd.json("log", "stats")["by_type"]
    assert after["volume.speed_measured"] == 1
    assert _volume_events(sd, listed_ids) == before
    listed = _holder(sd.json("volume", "list"), tmp_path)
    assert listed["read_mbps"] > 0 and listed["write_mbps"] > 0

    failed = sd.fails("--json", "volume", "speedtest", str(tmp_path))
    assert "is not the mount point of a volume" in failed.json()["error"]
    assert "does not exist" in sd.fails("volume", "speedtest", str(tmp_path / "nope")).err
