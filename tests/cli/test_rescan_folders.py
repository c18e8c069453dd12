"""Rescanning only the folders where something changed leaves the same index as a whole
rescan: the same digest, from two copies of one library, each round of changes rescanned
one way in one copy and the other way in the other.

Within a round, new entries are made before old ones go: an inode freed and reused in the
same round looks like a move to a whole rescan, and not to one that never reads where the
inode was."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import Sd
from tests.helpers_tree import assert_index_matches_disk, disk_entries, write


def build(root: Path) -> None:
    for folder in ("a", "a/sub", "a/sub/inner", "b", "b/deep/er/est", "c", "c/keep"):
        for i in range(3):
            write(root, f"{folder}/f{i}.txt", f"{folder} {i}\n")
    write(root, "top.txt", "top\n")
    write(root, "untouched/x/y/z.txt", "far away\n")


Change = Callable[[Path], list[str]]


def creates(root: Path) -> list[str]:
    write(root, "a/new.txt", "new\n")
    write(root, "b/deep/er/new.txt", "new, deeper\n")
    write(root, "c/fresh/one/two.txt", "a new subtree\n")
    write(root, "c/fresh/three.txt", "beside it\n")
    # A new folder is named too, as a watcher would: it is reached from its parent.
    return ["a", "b/deep/er", "c", "c/fresh", "c/fresh/one"]


def modifications(root: Path) -> list[str]:
    write(root, "a/sub/f1.txt", "a longer content than before\n")
    with open(root / "c/keep/f0.txt", "r+b") as fh:  # same size, other bytes
        fh.write(b"C")
    return ["a/sub", "c/keep"]


def renames(root: Path) -> list[str]:
    os.rename(root / "a/f0.txt", root / "a/renamed.md")
    os.rename(root / "b/deep", root / "b/shallow")
    return ["a", "b"]


def moves_across_folders(root: Path) -> list[str]:
    os.rename(root / "a/f1.txt", root / "c/f1-moved.txt")
    os.rename(root / "a/sub/inner", root / "c/keep/inner")
    os.rename(root / "c/f2.txt", root / "a/sub/from-c.txt")
    return ["a", "a/sub", "c", "c/keep"]


def deletions(root: Path) -> list[str]:
    os.unlink(root / "a/f2.txt")
    shutil.rmtree(root / "b/shallow")
    # A deleted folder is named as a watcher would name it: it no longer exists, so its
    # nearest existing ancestor is rescanned.
    return ["a", "b", "b/shallow", "b/shallow/er"]


def replaced_folder(root: Path) -> list[str]:
    """A folder deleted and made again under the same name: another inode, a new folder.
    The old one goes last, so no new entry can reuse one of its inodes."""
    os.rename(root / "c/keep", root / "c/old-keep")
    write(root, "c/keep/again.txt", "same name, other folder\n")
    shutil.rmtree(root / "c/old-keep")
    return ["c/keep"]


@pytest.mark.parametrize(
    "rounds",
    [
        pytest.param(
            [creates, modifications, renames, moves_across_folders, deletions, replaced_folder],
            id="each-kind-alone",
        ),
        pytest.param(
            [
                lambda root: sorted(
                    {
                        *creates(root),
                        *modifications(root),
                        *renames(root),
                        *moves_across_folders(root),
                        *deletions(root),
                    }
                )
            ],
            id="all-at-once",
        ),
    ],
)
def test_rescanning_changed_folders_equals_a_whole_rescan(
    sd: Sd, tmp_path: Path, rounds: list[Change]
) -> None:
    root = tmp_path / "tree"
    build(root)
    sd.run("library", "create", "Home")
    sd.json("location", "add", str(root))
    whole = Sd(tmp_path / "whole")
    shutil.copytree(sd.data_dir, whole.data_dir)
    for change in rounds:
        time.sleep(0.05)  # beyond the file system's timestamp granularity
        named = change(root)
        args = [arg for rel in named for arg in ("--folder", str(root / rel))]
        some = sd.json("location", "rescan", str(root), *args)
        every = whole.json("location", "rescan", str(root))
        for key in ("created", "modified", "moved", "deleted"):
            assert some[key] == every[key], (change, key, some, every)
        assert some["files"] + some["dirs"] < every["files"] + every["dirs"], (some, every)
        assert sd.index_digests() == whole.index_digests(), change
    assert_index_matches_disk(sd, str(root), disk_entries(str(root)))


def test_a_folder_outside_the_location_is_refused(sd: Sd, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    build(root)
    sd.run("library", "create", "Home")
    sd.json("location", "add", str(root))
    failed = sd.fails("location", "rescan", str(root), "--folder", str(tmp_path))
    assert "is not inside the location" in failed.err
    assert failed.err.strip().count("\n") == 0
