"""Files whose sizes add up past what a 64-bit counter holds: sparse files of 5 EiB on a
tmpfs (which allows files up to 2**63 - 1 bytes), indexed by the real ``sd``.

Four copies of one 5 EiB file and one of 2**63 - 1 bytes: the location's total is about
28 EiB, past 2**64, and the duplicates waste 15 EiB, past 2**63. Every read of the index
must go on working, with the numbers exact, with and without a node serving the library.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Sd
from tests.helpers_cluster import Peer

pytestmark = pytest.mark.slow

EIB = 1 << 60
FIVE_EIB = 5 * EIB
LARGEST = (1 << 63) - 1
COPIES = 4
TOTAL = COPIES * FIVE_EIB + LARGEST + 3


def _sparse(folder: Path, name: str, size: int) -> None:
    with open(folder / name, "wb") as out:
        out.truncate(size)


@pytest.fixture
def huge(tmp_path: Path) -> Iterator[Path]:
    """A folder on a tmpfs (mounted for the test, else /dev/shm) holding the huge files."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True
    )
    shm = None
    if mounted.returncode == 0:
        base = mount
    elif os.access("/dev/shm", os.W_OK):
        shm = tempfile.TemporaryDirectory(dir="/dev/shm")
        base = Path(shm.name)
    else:
        pytest.skip("no tmpfs to hold files of 5 EiB")
    folder = base / "huge"
    folder.mkdir()
    try:
        try:
            for i in range(COPIES):
                _sparse(folder, f"copy{i}.bin", FIVE_EIB)
            _sparse(folder, "largest.bin", LARGEST)
        except OSError as exc:
            pytest.skip(f"this tmpfs refuses a file of 5 EiB: {exc}")
        (folder / "small.txt").write_bytes(b"hi\n")
        yield folder
    finally:
        if shm is not None:
            shm.cleanup()
        if mounted.returncode == 0:
            subprocess.run(["umount", str(mount)], capture_output=True)


def _check_reads(sd: Sd, folder: Path) -> None:
    stats = sd.json("stats")
    assert (stats["files"], stats["bytes"]) == (COPIES + 2, TOTAL), stats
    assert sum(stats["bytes_by_kind"].values()) == TOTAL
    text = sd.run("stats").out
    assert f"{TOTAL:,}" in text and "32.3 EB" in text, text
    (group,) = sd.json("duplicates")
    assert (group["size"], group["count"]) == (FIVE_EIB, COPIES)
    assert group["waste"] == (COPIES - 1) * FIVE_EIB
    hits = sd.json("search", "copy")
    assert sorted(h["size"] for h in hits) == [FIVE_EIB] * COPIES
    listed = {e["name"]: e["size"] for e in sd.json("ls", str(folder))}
    assert listed["largest.bin"] == LARGEST and listed["copy0.bin"] == FIVE_EIB


@pytest.mark.hostile("H1")
def test_a_location_of_exabyte_files_reads_exactly_and_survives_every_change(
    sd: Sd, huge: Path
) -> None:
    sd.json("library", "create", "Big")
    sd.json("location", "add", str(huge))
    _check_reads(sd, huge)
    (huge / "small.txt").unlink()
    _sparse(huge, "another.bin", FIVE_EIB - 1)
    sd.json("location", "rescan", str(huge))
    stats = sd.json("stats")
    assert stats["bytes"] == TOTAL - 3 + FIVE_EIB - 1
    before = sd.json("projections", "digest")["digest"]
    sd.json("projections", "rebuild")
    assert sd.json("projections", "digest")["digest"] == before
    assert sd.run("log", "verify").code == 0
    sd.json("location", "remove", str(huge))
    assert sd.json("stats")["bytes"] == 0


@pytest.mark.hostile("H1")
def test_a_node_serves_totals_past_two_to_the_64(sd: Sd, huge: Path, tmp_path: Path) -> None:
    """Over the control socket too: totals past 2**64 are no reply the node cannot send."""
    sd.json("library", "create", "Big")
    node = Peer(sd, tmp_path / "node.log")
    try:
        node.start()
        sd.json("location", "add", str(huge))
        _check_reads(sd, huge)
        assert sd.json("node", "status")["pid"] == node.proc.pid  # type: ignore[union-attr]
    finally:
        node.kill_if_running()
