"""The cold data agent on a real index: two disks (tmpfs mounts) whose speed tests and free
space the volumes read model holds, files aged by their modification times against the
agent's clock; and a proposed move run with ``sd mv`` lands where it said."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from sdactors.agent.builtin.cold import MONTH_S, Cold
from tests.conftest import Sd, mount_tmpfs, unmount
from tests.helpers_agents import proposals, record_volume
from tests.helpers_tree import random_bytes, write

NOW = 1_800_000_000.0  # the agent's clock, as a node's tests set it
MIB = 1 << 20
SETTINGS = {"min_size": MIB}  # "large", for disks of a few megabytes
GB = 10**9


def _aged(path: Path, months: float) -> None:
    when = NOW - months * MONTH_S
    os.utime(path, (when, when))


@pytest.fixture
def disks(sd: Sd, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A fast disk with old and new, large and small files, and a slow one (an archive)."""
    fast, slow = tmp_path / "fast", tmp_path / "slow"
    mounted = []
    try:
        for disk in (fast, slow):
            disk.mkdir()
            mount_tmpfs(disk, "16m")
            mounted.append(disk)
        _aged(write(fast, "Videos/2019/holiday.mkv", random_bytes(2 * MIB, 1)), 30)
        _aged(write(fast, "Videos/2019/party.mkv", random_bytes(2 * MIB, 2)), 7)
        # Same name, another folder: where both would land in one folder, only one may.
        _aged(write(fast, "Videos/2020/holiday.mkv", random_bytes(2 * MIB, 6)), 20)
        _aged(write(fast, "Videos/2024/recent.mkv", random_bytes(2 * MIB, 3)), 2)
        _aged(write(fast, "Videos/small.mkv", random_bytes(MIB // 2, 4)), 30)
        _aged(write(fast, "Videos/linked.mkv", random_bytes(2 * MIB, 5)), 30)
        os.link(fast / "Videos/linked.mkv", fast / "linked-too.mkv")
        (slow / "Archive/Videos").mkdir(parents=True)
        sd.run("library", "create", "Home")
        sd.json("location", "add", str(fast))
        sd.json("location", "add", str(slow))
        yield Path(os.path.realpath(fast)), Path(os.path.realpath(slow))
    finally:
        for disk in mounted:
            unmount(disk)


def _moves(
    sd: Sd, places: list[bytes] | None = None, config: dict[str, float] = SETTINGS
) -> list[dict[str, str]]:
    found = proposals(sd, Cold(), clock=NOW, config=config, places=places)
    return [
        {os.fsdecode(i.args["source"]): os.fsdecode(i.args["destination"]) for i in p.items}
        for p in found
    ]


def test_old_large_files_go_to_the_slower_volume_with_room_keeping_their_path(
    sd: Sd, disks: tuple[Path, Path]
) -> None:
    fast, slow = disks
    # Never measured: neither fast nor slow, nothing moves on a guess.
    assert _moves(sd) == []
    record_volume(sd, fast, speed_mbps=800, free=GB, total=2 * GB)
    assert _moves(sd) == []  # no slower volume measured
    record_volume(sd, slow, speed_mbps=60, free=GB, total=2 * GB)
    # The grant covers the slow disk's Archive only: files go under it, at their path
    # relative to their location, in the deepest folder the archive has of that path.
    archive = [os.fsencode(fast), os.fsencode(slow / "Archive")]
    [moves] = _moves(sd, places=archive)
    assert moves == {
        f"{fast}/Videos/2019/holiday.mkv": f"{slow}/Archive/Videos/holiday.mkv",
        f"{fast}/Videos/2019/party.mkv": f"{slow}/Archive/Videos/party.mkv",
    }  # not Videos/2020/holiday.mkv: the 2019 one, older, takes its place
    [proposal] = proposals(sd, Cold(), clock=NOW, config=SETTINGS, places=archive)
    assert (
        proposal.title == f"move 2 cold files (4.2 MB) from {fast}/Videos/2019 to a slower volume"
    )
    assert proposal.items[0].reason == (
        f"2.1 MB, unchanged for 30 months, on a volume at 800 MB/s: to "
        f"{slow}/Archive/Videos/holiday.mkv at 60 MB/s ({slow}/Archive/Videos/2019 does not "
        "exist yet)"
    )
    # The months setting, and the clock: a year is not cold at 36 months.
    assert _moves(sd, places=archive, config={**SETTINGS, "months": 36}) == []
    # Where the folder exists, the whole path is kept; the grant on the whole slow disk
    # puts files at their own path there.
    (slow / "Videos/2019").mkdir(parents=True)
    sd.json("location", "rescan", str(slow))
    moves = {source: to for proposal in _moves(sd) for source, to in proposal.items()}
    assert moves == {
        f"{fast}/Videos/2019/holiday.mkv": f"{slow}/Videos/2019/holiday.mkv",
        f"{fast}/Videos/2019/party.mkv": f"{slow}/Videos/2019/party.mkv",
        f"{fast}/Videos/2020/holiday.mkv": f"{slow}/Videos/holiday.mkv",
    }

    # Accepted, it runs: the move lands where the proposal said, and the index follows.
    for source, destination in moves.items():
        sd.run("mv", source, destination)
    assert sorted(os.listdir(slow / "Videos/2019")) == ["holiday.mkv", "party.mkv"]
    assert sorted(os.listdir(slow / "Videos")) == ["2019", "holiday.mkv"]
    assert sd.json("info", f"{slow}/Videos/2019/holiday.mkv")["path"].endswith("holiday.mkv")
    assert _moves(sd) == []  # nothing cold is left on the fast disk


def test_nothing_without_a_slower_volume_with_room_in_the_grant(
    sd: Sd, disks: tuple[Path, Path]
) -> None:
    fast, slow = disks
    record_volume(sd, fast, speed_mbps=800, free=GB, total=2 * GB)
    # Room for one file of 2 MiB once a tenth of the disk is kept free: the oldest goes.
    record_volume(sd, slow, speed_mbps=60, free=4 * MIB, total=10 * MIB)
    [moves] = _moves(sd)
    assert list(moves) == [f"{fast}/Videos/2019/holiday.mkv"]
    record_volume(sd, slow, speed_mbps=60, free=2 * MIB, total=10 * MIB)
    assert _moves(sd) == []  # full
    record_volume(sd, slow, speed_mbps=60, free=GB, total=2 * GB)
    assert _moves(sd, places=[os.fsencode(fast)]) == []  # the slow disk is not granted
    assert _moves(sd, places=[os.fsencode(slow)]) == []  # nor are the files
    # Measured faster than the "fast" one: the slow disk is no colder place.
    record_volume(sd, slow, speed_mbps=900)
    assert _moves(sd) == []
