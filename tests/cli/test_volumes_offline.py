"""Volumes come and go; the index never empties itself.

A location on a filesystem mounted in the test (a tmpfs) is indexed, then the filesystem is
unmounted, leaving its mount point behind as an empty folder: the rescan must keep every
entry and say the location is offline, and search must still find its files. Mounted again
with the same files written back, the rescan brings it online and deletes nothing. And a
rescan that would delete most of a location waits for a confirmation.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import Sd, mount_tmpfs, unmount
from tests.helpers_tree import count_events, make_many, write

FILES = {"a.txt": "alpha\n", "sub/b.txt": "bravo\n", "sub/deeper/c.txt": "charlie\n"}


def write_files(root: Path) -> None:
    # Always in the same order: a fresh tmpfs then gives each the inode it had before.
    for rel, text in FILES.items():
        write(root, rel, text)


def test_an_unmounted_volume_keeps_its_entries_and_comes_back(sd: Sd, disk: Path) -> None:
    write_files(disk)
    sd.run("library", "create", "Home")
    sd.json("location", "add", str(disk))
    before = sd.json("stats")
    digest = sd.json("projections", "digest")["digest"]

    unmount(disk)  # the mount point stays, an empty folder on the filesystem above
    assert list(disk.iterdir()) == []
    failed = sd.fails("location", "rescan", str(disk))
    assert failed.err.strip().count("\n") == 0
    assert "is offline" in failed.err and "is not mounted" in failed.err, failed.err
    assert count_events(sd.json("log", "stats"), "entries.deleted") == 0
    assert sd.json("stats") == before
    [location] = sd.json("location", "list")
    assert location["offline"] is True and "is not mounted" in location["offline_reason"]
    assert "[offline]" in sd.run("location", "list").out
    [hit] = sd.json("search", "c.txt")
    assert hit["path"] == f"{disk}/sub/deeper/c.txt" and hit["offline"] is True
    assert "[offline]" in sd.run("search", "c.txt").out
    listed = sd.json("ls", str(disk / "sub"))
    assert {i["name"] for i in listed} == {"b.txt", "deeper"}
    assert all(i["offline"] for i in listed)
    assert "[offline]" in sd.run("ls", str(disk)).out
    # Still offline, for the same reason: nothing new to record.
    events = sd.json("log", "stats")["events"]
    sd.fails("location", "rescan", str(disk))
    assert sd.json("log", "stats")["events"] == events
    assert sd.json("projections", "digest")["digest"] != digest  # the offline flag

    mount_tmpfs(disk)
    write_files(disk)
    back = sd.json("location", "rescan", str(disk))
    assert back["deleted"] == 0 and back["created"] == 0, back
    [location] = sd.json("location", "list")
    assert location["offline"] is False and location["offline_reason"] is None
    assert sd.json("search", "c.txt")[0]["offline"] is False
    assert "[offline]" not in sd.run("location", "list").out
    assert count_events(sd.json("log", "stats"), "entries.deleted") == 0
    after = sd.json("stats")
    assert (after["files"], after["dirs"]) == (before["files"], before["dirs"])
    assert sd.json("projections", "rebuild")["digest"] == sd.json("projections", "digest")["digest"]
    assert sd.json("log", "verify")["ok"] is True


def test_a_rescan_that_would_delete_most_of_a_location_waits_for_a_confirmation(
    sd: Sd, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    make_many(root, 2400, fanout=(4,))  # 600 files in each of 4 folders
    sd.run("library", "create", "Home")
    sd.json("location", "add", str(root))

    # Fewer than 1,000 entries gone: no question asked.
    shutil.rmtree(root / "d0_00")
    assert sd.json("location", "rescan", str(root))["deleted"] == 601

    shutil.rmtree(root / "d0_01")
    shutil.rmtree(root / "d0_02")
    stats = sd.json("stats")
    deleted = count_events(sd.json("log", "stats"), "entries.deleted")
    held = sd.fails("location", "rescan", str(root))
    assert held.err.strip().count("\n") == 0
    assert "would delete 1,202 of its 1,804 entries" in held.err, held.err
    assert "--confirm-deletions" in held.err
    # Nothing deleted (what it found changed, the root's modification time, is recorded).
    assert count_events(sd.json("log", "stats"), "entries.deleted") == deleted
    assert sd.json("stats") == stats
    assert {i["name"] for i in sd.json("ls", str(root))} == {"d0_01", "d0_02", "d0_03"}
    # Rescanning just the folder that holds them is held the same way.
    assert (
        "would delete 1,202" in sd.fails("location", "rescan", str(root), "--folder", str(root)).err
    )

    # Each held rescan is a paused job saying why; one of them resumed with --confirm deletes.
    held_jobs = [j for j in sd.json("jobs", "list") if j["state"] == "paused"]
    assert len(held_jobs) == 2 and all("would delete 1,202" in j["reason"] for j in held_jobs)
    assert "would delete 1,202" in sd.run("jobs", "list").out
    job = held_jobs[0]["id"]
    assert "would delete 1,202" in sd.fails("jobs", "resume", job).err  # still held
    done = sd.json("jobs", "resume", job[:12], "--confirm")
    assert done["state"] == "completed" and done["counts"]["deleted"] == 1202
    assert sd.json("jobs", "info", job)["state"] == "completed"
    assert sd.json("stats")["files"] == 600
    sd.json("jobs", "cancel", held_jobs[1]["id"])
    assert sd.json("jobs", "list") == []
    assert sd.json("location", "rescan", str(root), "--confirm-deletions")["deleted"] == 0
