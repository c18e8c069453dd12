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
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from sdactors.errors import CopyMismatch, FileOpCancelled
from sdactors.fileops import plan, transfer
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


def test_rm_to_the_trash_and_for_good(sd: Sd, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    library_with(sd, root)
    body = (root / "b/f1.txt").read_bytes()

    trashed = sd.json("rm", str(root / "b/f1.txt"))
    assert trashed["index"]["deleted"] == 1
    where = Path(trashed["trash"])
    assert where.parent.name == "trash" and where.name.endswith("-f1.txt")
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

    sd.json("cp", "--force", str(root / "a/f0.txt"), str(root / "b/f0.txt"))
    assert (root / "b/f0.txt").read_text() == "a 0\n"
    sd.json("mv", "--force", str(root / "a/f1.txt"), str(root / "b/f0.txt"))
    assert (root / "b/f0.txt").read_text() == "a 1\n" and not (root / "a/f1.txt").exists()
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
