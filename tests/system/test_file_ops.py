"""sd cp, sd mv, sd rm: the disk changes as asked, the index follows at once, and it is the
index a whole rescan would make.

Each test runs the real ``sd``. Where the index is compared with a whole rescan, the data
directory is copied before the operation and the copy rescanned whole afterwards: both must
list the same entries (paths, sizes, content ids, times), and a whole rescan of the library
that ran the operation must find nothing to change.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sdactors.fileops import plan, transfer
from sdactors.runtime.errors import CopyMismatch, FileOpCancelled, SourceChangedKept
from tests.conftest import Sd
from tests.helpers_tree import (
    assert_index_matches_disk,
    count_events,
    disk_entries,
    index_entries,
    random_bytes,
    write,
)

CHANGES = ("created", "modified", "moved", "deleted")


def build(root: Path) -> None:
    for folder in ("a", "a/sub", "a/sub/inner", "b", "c"):
        for i in range(3):
            write(root, f"{folder}/f{i}.txt", f"{folder} {i}\n")
    write(root, "a/big.bin", random_bytes(3 << 20, seed=7))  # more than one chunk


def library_with(sd: Sd, root: Path) -> None:
    build(root)
    sd.run("library", "create", "Home")
    sd.json("location", "add", str(root))


def nothing_left_to_rescan(sd: Sd, root: Path) -> None:
    again = sd.json("location", "rescan", str(root))
    assert {k: again[k] for k in CHANGES} == dict.fromkeys(CHANGES, 0), again
    assert sd.json("projections", "rebuild")["digest"] == sd.json("projections", "digest")["digest"]


def events(sd: Sd) -> int:
    return sd.json("log", "stats")["events"]


def test_a_move_within_a_location_is_a_move_in_the_index(sd: Sd, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    library_with(sd, root)
    whole = Sd(tmp_path / "whole")
    shutil.copytree(sd.data_dir, whole.data_dir)
    [before] = sd.json("search", "big.bin")
    moved_before = count_events(sd.json("log", "stats"), "entries.moved")

    file_moved = sd.json("mv", str(root / "a/big.bin"), str(root / "c"))
    assert file_moved["how"] == "rename"
    assert file_moved["destination"] == f"{root}/c/big.bin"
    assert (file_moved["index"]["moved"], file_moved["index"]["created"]) == (1, 0)
    assert file_moved["index"]["deleted"] == 0
    folder_moved = sd.json("mv", str(root / "a/sub"), str(root / "b/renamed"))
    assert folder_moved["destination"] == f"{root}/b/renamed"
    assert (folder_moved["index"]["moved"], folder_moved["index"]["deleted"]) == (1, 0)

    assert not (root / "a/big.bin").exists() and (root / "c/big.bin").is_file()
    [after] = sd.json("search", "big.bin")
    assert after["path"] == f"{root}/c/big.bin"
    assert after["content_id"] == before["content_id"]
    assert count_events(sd.json("log", "stats"), "entries.moved") == moved_before + 2
    assert "inner" in [i["name"] for i in sd.json("ls", str(root / "b/renamed"))]

    # The same index as a whole rescan of the moved tree makes.
    rescanned = whole.json("location", "rescan", str(root))
    assert rescanned["moved"] == 2 and rescanned["deleted"] == 0, rescanned
    items = assert_index_matches_disk(sd, str(root), disk_entries(str(root)))
    assert items == index_entries(whole, str(root))
    for query in ("big", "f1.txt", "renamed inner"):
        assert sd.json("search", query) == whole.json("search", query), query
    assert sd.json("stats") == whole.json("stats")
    nothing_left_to_rescan(sd, root)
    [action] = [a for a in sd.json("audit") if a["command"] == "file.move"][:1]
    assert action["state"] == "completed"


def test_copies_of_a_file_and_a_folder_are_exact(sd: Sd, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    library_with(sd, root)
    os.symlink("f0.txt", root / "a/sub/link")
    os.chmod(root / "a/sub/f1.txt", 0o640)
    sd.json("location", "rescan", str(root))

    copied = sd.json("cp", str(root / "a/big.bin"), str(root / "b/copy.bin"))
    assert copied["how"] == "copy" and copied["index"]["created"] == 1
    assert (root / "b/copy.bin").read_bytes() == (root / "a/big.bin").read_bytes()
    assert os.stat(root / "b/copy.bin").st_ino != os.stat(root / "a/big.bin").st_ino
    hits = sd.json("search", "bin")
    assert {h["path"] for h in hits} == {f"{root}/a/big.bin", f"{root}/b/copy.bin"}
    assert len({h["content_id"] for h in hits}) == 1

    folder = sd.json("cp", str(root / "a/sub"), str(root / "c"))
    assert folder["destination"] == f"{root}/c/sub"
    source, copy = disk_entries(root / "a/sub"), disk_entries(root / "c/sub")
    assert len(copy) == len(source) == 9  # the folder, 6 files, inner, the link
    for path, entry in source.items():
        other = copy[path.replace("/a/sub", "/c/sub", 1)]
        assert (other.type, other.size, other.content_id) == (
            entry.type,
            entry.size,
            entry.content_id,
        )
        assert other.mtime_ns == entry.mtime_ns, path
    assert os.readlink(root / "c/sub/link") == "f0.txt"
    assert stat.S_IMODE(os.stat(root / "c/sub/f1.txt").st_mode) == 0o640
    assert not [p for p in os.listdir(root / "c") if p.startswith(".sd-partial")]
    assert_index_matches_disk(sd, str(root), disk_entries(str(root)))
    nothing_left_to_rescan(sd, root)


@pytest.mark.hostile("L7")
def test_rm_to_the_trash_and_for_good(sd: Sd, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    library_with(sd, root)
    body = (root / "b/f1.txt").read_bytes()

    trashed = sd.json("rm", str(root / "b/f1.txt"))
    assert trashed["index"]["deleted"] == 1
    where = Path(trashed["trash"])
    assert where.parent.parent.name == "trash" and where.name == "f1.txt"
    assert where.parent.name == trashed["id"]
    assert where.is_relative_to(sd.data_dir) and where.read_bytes() == body
    assert not (root / "b/f1.txt").exists()
    assert "f1.txt" not in [i["name"] for i in sd.json("ls", str(root / "b"))]

    gone = sd.json("rm", "--permanent", str(root / "a"))
    assert (
        gone["trash"] is None and gone["index"]["deleted"] == 13
    )  # a and its 4 files, sub, inner, 6 files
    assert not (root / "a").exists()
    assert [p.name for p in where.parent.iterdir()] == [where.name]
    assert sd.json("search", "big.bin") == []
    assert_index_matches_disk(sd, str(root), disk_entries(str(root)))
    nothing_left_to_rescan(sd, root)


def test_an_existing_destination_is_replaced_only_with_force(sd: Sd, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    library_with(sd, root)
    count = events(sd)
    for command in ("cp", "mv"):
        refused = sd.fails(command, str(root / "a/f0.txt"), str(root / "b/f0.txt"))
        assert "already exists: add --force" in refused.err
        assert refused.err.strip().count("\n") == 0
    assert (root / "b/f0.txt").read_text() == "b 0\n"
    assert events(sd) == count

    copied = sd.run("cp", "--force", str(root / "a/f0.txt"), str(root / "b/f0.txt")).out
    assert (root / "b/f0.txt").read_text() == "a 0\n"
    moved = sd.json("mv", "--force", str(root / "a/f1.txt"), str(root / "b/f0.txt"))
    assert (root / "b/f0.txt").read_text() == "a 1\n" and not (root / "a/f1.txt").exists()
    # What --force replaced is in the trash, not destroyed.
    first, second = sd.json("trash", "list")
    assert "the file it replaced is in the trash as " + first["id"] in copied
    assert moved["replaced"] == second["id"]
    assert first["path"] == second["path"] == f"{root}/b/f0.txt"
    assert [Path(t["where"]).read_text() for t in (first, second)] == ["b 0\n", "a 0\n"]
    occupied = sd.fails("trash", "restore", first["id"])
    assert f"{root}/b/f0.txt exists now" in occupied.err
    assert occupied.err.strip().count("\n") == 0
    # Into an existing folder: its file of the same name is the one replaced.
    sd.json("mv", "--force", str(root / "a/f2.txt"), str(root / "a/sub/inner"))
    assert (root / "a/sub/inner/f2.txt").read_text() == "a 2\n"
    # A folder is never replaced, even with --force.
    sd.json("cp", str(root / "a/sub/inner"), str(root / "b"))
    count = events(sd)
    folder = sd.fails("mv", "--force", str(root / "a/sub/inner"), str(root / "b"))
    assert "is a folder: --force replaces files only" in folder.err
    assert events(sd) == count and (root / "a/sub/inner/f2.txt").exists()
    nothing_left_to_rescan(sd, root)


@pytest.mark.hostile("L7")
def test_the_trash_lists_restores_and_empties(sd: Sd, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    library_with(sd, root)
    odd = os.fsencode(root / "b") + b"/caf\xe9 menu.txt"  # not UTF-8
    with open(odd, "wb") as fh:
        fh.write(b"latin-1 name\n")
    sd.json("location", "rescan", str(root))
    before = disk_entries(str(root))
    sub_size = sum(p.stat().st_size for p in (root / "a/sub").rglob("*") if p.is_file())

    file_rm = sd.json("rm", os.fsdecode(odd))
    folder_rm = sd.json("rm", str(root / "a/sub"))
    listed = sd.json("trash", "list")
    assert [(t["id"], t["path"]) for t in listed] == [
        (file_rm["id"], f"{root}/b/caf\\xe9 menu.txt"),
        (folder_rm["id"], f"{root}/a/sub"),
    ]
    assert [(t["entries"], t["size"]) for t in listed] == [(1, 13), (8, sub_size)]
    assert "caf\\xe9 menu.txt" in sd.run("trash", "list").out

    # Something at the path now: refused in one line, nothing changed.
    (root / "a/sub").mkdir()
    count = events(sd)
    refused = sd.fails("trash", "restore", folder_rm["id"])
    assert f"{root}/a/sub exists now" in refused.err and refused.err.strip().count("\n") == 0
    assert events(sd) == count and len(sd.json("trash", "list")) == 2
    missing = sd.fails("trash", "restore", "0000abcd")
    assert "nothing in the trash is 0000abcd" in missing.err
    (root / "a/sub").rmdir()

    by_id = sd.run("trash", "restore", file_rm["id"][:6]).out
    assert "restored" in by_id and "index: created 1" in by_id
    by_path = sd.json("trash", "restore", str(root / "a/sub"))
    assert by_path["restored"] == [{"id": folder_rm["id"], "path": f"{root}/a/sub"}]
    with open(odd, "rb") as fh:
        assert fh.read() == b"latin-1 name\n"
    after = disk_entries(str(root))
    assert after.keys() == before.keys()
    parents = {f"{root}/a", f"{root}/b"}  # their times changed, with what they hold
    # Names, sizes, contents, inodes (renamed back) and times as they were.
    assert {p: e for p, e in after.items() if p not in parents} == {
        p: e for p, e in before.items() if p not in parents
    }
    assert sd.json("trash", "list") == []
    assert_index_matches_disk(sd, str(root), after)
    nothing_left_to_rescan(sd, root)

    sd.json("rm", str(root / "c/f0.txt"))
    kept = sd.json("trash", "empty", "--older-than", "30d")
    assert (kept["items"], len(sd.json("trash", "list"))) == (0, 1)
    emptied = sd.run("trash", "empty").out
    assert "deleted 1 item for good (1 entry, 4 B)" in emptied
    assert sd.json("trash", "list") == [] and os.listdir(sd.data_dir / "libraries") != []
    states = {a["command"]: a["state"] for a in sd.json("audit")}
    assert states["trash.restore"] == states["trash.empty"] == "completed"
    assert "not a span" in sd.fails("trash", "empty", "--older-than", "soon").err


def test_what_is_refused_writes_nothing(sd: Sd, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    library_with(sd, root)
    outside = tmp_path / "outside"
    write(outside, "o.txt", "outside\n")
    count = events(sd)
    refusals = [
        (("cp", str(outside / "o.txt"), str(root / "b")), "not inside a location"),
        (("mv", str(root / "a/f0.txt"), str(outside)), "not inside a location"),
        (("rm", str(outside / "o.txt")), "not inside a location"),
        (("rm", str(root)), "root of a location"),
        (("mv", str(root), str(root / "b")), "root of a location"),
        (("mv", str(root / "a"), str(root / "a/sub")), "inside itself"),
        (("cp", str(root / "a"), str(root / "a/sub/new")), "inside itself"),
        (("mv", str(root / "a/nothing.txt"), str(root / "b")), "does not exist"),
        (("cp", str(root / "a/f0.txt"), str(root / "nowhere/x.txt")), "folder does not exist"),
        (("mv", str(root / "a/f0.txt"), str(root / "a/f0.txt")), "both the source"),
        (("rm", str(tmp_path / "nothing")), "does not exist"),
    ]
    for args, words in refusals:
        failed = sd.fails(*args)
        assert words in failed.err, (args, failed.err)
        assert failed.err.strip().count("\n") == 0, failed.err
    assert events(sd) == count
    assert (outside / "o.txt").exists() and (root / "a/f0.txt").exists()
    assert (
        "not inside a location" in sd.run("--json", "rm", str(outside), check=False).json()["error"]
    )


def test_a_move_across_volumes_is_a_checked_copy(sd: Sd, tmp_path: Path, disk: Path) -> None:
    root = tmp_path / "tree"
    library_with(sd, root)
    sd.json("location", "add", str(disk))
    body = (root / "a/big.bin").read_bytes()

    moved = sd.json("mv", str(root / "a/big.bin"), str(disk))
    assert moved["how"] == "copy" and moved["destination"] == f"{disk}/big.bin"
    assert (disk / "big.bin").read_bytes() == body
    assert not (root / "a/big.bin").exists()
    assert (moved["index"]["created"], moved["index"]["deleted"]) == (1, 1)
    [hit] = sd.json("search", "big.bin")
    assert hit["path"] == f"{disk}/big.bin"

    folder = sd.json("mv", str(root / "a/sub"), str(disk / "sub"))
    assert folder["how"] == "copy" and not (root / "a/sub").exists()
    assert (disk / "sub/inner/f2.txt").read_text() == "a/sub/inner 2\n"
    trashed = sd.json("rm", str(disk / "sub/f0.txt"))  # the trash is on the other volume
    assert Path(trashed["trash"]).read_text() == "a/sub 0\n"
    assert not (disk / "sub/f0.txt").exists()
    # What --force replaces there is kept in the trash as a checked copy.
    replaced = sd.json("cp", "--force", str(root / "b/f0.txt"), str(disk / "big.bin"))
    assert (disk / "big.bin").read_text() == "b 0\n"
    [kept] = [t for t in sd.json("trash", "list") if t["id"] == replaced["replaced"]]
    assert kept["path"] == f"{disk}/big.bin" and Path(kept["where"]).read_bytes() == body
    for where in (root, disk):
        assert_index_matches_disk(sd, str(where), disk_entries(str(where)))
        nothing_left_to_rescan(sd, where)


# -- the verified copy itself ----------------------------------------------------------------------


def _corrupting(real: Any) -> Any:
    calls = {"n": 0}

    def write_all(fd: int, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the second chunk, one byte flipped on its way to the disk
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        real(fd, data)

    return write_all


@pytest.mark.parametrize("operation", ["copy", "move"])
def test_a_copy_that_does_not_match_is_never_put_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    source = write(tmp_path, "src/big.bin", random_bytes(3 << 20, seed=3))
    folder = tmp_path / "dst"
    folder.mkdir()
    target = folder / "big.bin"
    monkeypatch.setattr(transfer, "write_all", _corrupting(transfer.write_all))
    # A move to another volume: here, a rename that fails as across volumes would.
    monkeypatch.setattr(transfer, "same_volume", lambda *_: False)
    reports: list[dict[str, Any]] = []
    run = transfer.copy if operation == "copy" else transfer.move
    with pytest.raises(CopyMismatch):
        run(bytes(source), bytes(target), reports.append, threading.Event())
    assert list(folder.iterdir()) == []  # neither the copy nor its temporary file
    assert source.read_bytes() == random_bytes(3 << 20, seed=3)
    assert reports and reports[0]["bytes_total"] == 3 << 20


def test_a_cancelled_copy_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan, "EVERY_S", 0)  # every chunk reported
    source = tmp_path / "src"
    write(source, "one.bin", random_bytes(2 << 20, seed=1))
    write(source, "two/three.bin", random_bytes(2 << 20, seed=2))
    cancel = threading.Event()

    def report(info: dict[str, Any]) -> None:
        if info["bytes_done"] >= 1 << 20:
            cancel.set()

    with pytest.raises(FileOpCancelled):
        transfer.copy(bytes(source), bytes(tmp_path / "dst"), report, cancel)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]
    assert (source / "two/three.bin").stat().st_size == 2 << 20


# -- a source that changes, a process killed part way -----------------------------------------


def holding(sd: Sd, flag: Path) -> Sd:
    """``sd`` on the same data directory, its copies held before the read-back (the partial
    at full size) until the test removes ``flag`` (``SD_FILEOPS_HOLD``)."""
    held = Sd(sd.data_dir)
    held.env[transfer.HOLD_ENV] = str(flag)
    return held


def held_at(flag: Path, proc: subprocess.Popen | None = None) -> Path:
    """Wait until a copy holds; the partial it holds."""
    deadline = time.monotonic() + 60
    while not flag.exists() or not flag.read_bytes():
        assert proc is None or proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the copy never reached the hold"
        time.sleep(0.01)
    return Path(os.fsdecode(flag.read_bytes()))


def partials(folder: Path) -> list[str]:
    return [p for p in os.listdir(folder) if p.startswith(".sd-partial-")]


def moves(sd: Sd) -> list[dict[str, Any]]:
    return [a for a in sd.json("audit") if a["command"] == "file.move"]


@pytest.mark.hostile("H4")
def test_a_source_written_during_a_move_across_volumes_is_kept_with_its_copy(
    sd: Sd, tmp_path: Path, disk: Path
) -> None:
    root = tmp_path / "tree"
    library_with(sd, root)
    sd.json("location", "add", str(disk))
    source = root / "a/big.bin"
    body = source.read_bytes()
    flag = tmp_path / "hold"
    mover = holding(sd, flag).popen(
        "mv", str(source), str(disk), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    partial = held_at(flag, mover)
    assert partial.parent == disk and partial.stat().st_size == len(body)
    with open(source, "ab") as fh:  # the issue's `echo MARKER >> source`
        fh.write(b"MARKER\n")
    flag.unlink()
    out, err = mover.communicate(timeout=60)

    assert mover.returncode == 1, (out, err)
    assert err.strip().count("\n") == 0, err
    assert "changed while it was being moved" in err and "both were kept" in err, err
    assert source.read_bytes() == body + b"MARKER\n"
    assert (disk / "big.bin").read_bytes() == body
    assert partials(disk) == []
    [action] = moves(sd)
    assert action["state"] == "failed" and "changed while" in action["error"]
    # The index follows what is on the disk: both files.
    assert {h["path"] for h in sd.json("search", "big.bin")} == {str(source), f"{disk}/big.bin"}
    for where in (root, disk):
        nothing_left_to_rescan(sd, where)


@pytest.mark.hostile("H4")
def test_a_folder_that_gains_a_file_during_a_move_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "src"
    write(source, "one.bin", random_bytes(1 << 20, seed=1))
    write(source, "two/three.bin", random_bytes(1 << 20, seed=2))
    monkeypatch.setattr(transfer, "same_volume", lambda *_: False)

    def new_file_meanwhile(copy: bytes) -> None:
        if not (source / "late.txt").exists():
            write(source, "late.txt", "written while the folder was copied\n")

    monkeypatch.setattr(transfer, "_hold_for_test", new_file_meanwhile)
    with pytest.raises(SourceChangedKept):
        transfer.move(bytes(source), bytes(tmp_path / "dst"))
    assert sorted(os.listdir(source)) == ["late.txt", "one.bin", "two"]
    assert sorted(os.listdir(tmp_path / "dst")) == ["one.bin", "two"]
    assert sorted(os.listdir(tmp_path)) == ["dst", "src"]


@pytest.mark.slow
@pytest.mark.hostile("M9")
def test_a_move_killed_with_its_node_is_finished_by_the_next_leaving_nothing(
    sd: Sd, tmp_path: Path, disk: Path
) -> None:
    from tests.system.test_node import Node, node_on, until

    root = tmp_path / "tree"
    library_with(sd, root)
    sd.json("location", "add", str(disk))
    source = root / "a/big.bin"
    body = source.read_bytes()
    flag = tmp_path / "hold"
    node = Node(holding(sd, flag), tmp_path / "node-held.log").start()
    try:
        mover = sd.popen("mv", str(source), str(disk), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)  # fmt: skip
        partial = held_at(flag, mover)
        node.stop(signal.SIGKILL)
        mover.wait(timeout=30)
    finally:
        node.kill_if_running()
    flag.unlink()
    assert partial.exists()  # what the killed attempt left

    with node_on(sd, tmp_path) as node:
        until(lambda: [j["state"] for j in sd.json("jobs", "list", "--all")
                       if j["kind"] == "move"] == ["completed"], 60, "the move resumed")  # fmt: skip
        assert not source.exists() and (disk / "big.bin").read_bytes() == body
        assert partials(disk) == []
        until(lambda: [a["state"] for a in moves(sd)] == ["completed"], 10, "the action closed")
        until(lambda: {h["path"] for h in sd.json("search", "big.bin")} == {f"{disk}/big.bin"},
              10, "the index following")  # fmt: skip
        assert sd.json("search", "sd-partial") == []
        node.stop()
    for where in (root, disk):
        nothing_left_to_rescan(sd, where)


@pytest.mark.hostile("M9")
def test_a_command_killed_during_a_move_is_closed_by_the_next_and_its_partial_goes(
    sd: Sd, tmp_path: Path, disk: Path
) -> None:
    root = tmp_path / "tree"
    library_with(sd, root)
    sd.json("location", "add", str(disk))
    flag = tmp_path / "hold"
    mover = holding(sd, flag).popen("mv", str(root / "a/big.bin"), str(disk))
    partial = held_at(flag, mover)
    mover.kill()
    mover.wait()
    flag.unlink()

    sd.json("tag", "create", "next")  # any command that changes the library notices
    [action] = moves(sd)
    assert action["state"] == "failed" and action["error"].startswith("interrupted"), action
    assert sd.json("search", "sd-partial") == []  # a partial is never indexed
    sd.json("location", "rescan", str(disk))
    assert sd.json("search", "sd-partial") == []
    [job] = [j for j in sd.json("jobs", "list") if j["kind"] == "move"]
    assert job["state"] == "running" and partial.exists()
    sd.json("jobs", "cancel", job["id"])  # abandoned: what it left goes
    assert partials(disk) == []
    assert (root / "a/big.bin").exists() and not (disk / "big.bin").exists()
