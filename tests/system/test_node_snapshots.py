"""The snapshots a node takes as it folds, driven as a user would: a real ``sd node run``
indexing a real tree, then ``sd ls/stats --at``; each answer and each snapshot held to a
whole fold of the log up to the same position (``sd projections rebuild --until``)."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from projections.catalog import library_projections
from projections.files.query import file_stats
from projections.runner import digest_of
from sdactors.library.snapshots import NODE, TEMP_PREFIX, held
from tests.conftest import Sd
from tests.helpers_log import library_dirs
from tests.helpers_tree import write
from tests.system.test_node import node_on, until

pytestmark = pytest.mark.slow

KEEP = 3
MAX_MIB = 64


def a_tree(root: Path, folders: int, files: int) -> None:
    for f in range(folders):
        for i in range(files):
            write(root, f"f{f:02d}/note-{i:03d}.txt", f"note {f} {i}\n" * (i % 7 + 1))


def snapshotting(sd: Sd, every_mib: float) -> Path:
    """A library whose node takes a snapshot every ``every_mib`` of log, keeping few."""
    sd.json("library", "create", "Home")
    (lib,) = library_dirs(sd.data_dir)
    with open(lib / "library.toml", "a") as fh:
        fh.write(f"\n[snapshots]\nevery_mib = {every_mib}\nkeep = {KEEP}\nmax_mib = {MAX_MIB}\n")
    return lib / "snapshots"


def digest(path: Path) -> str:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return digest_of(db, library_projections())


def fold(sd: Sd, position: int, into: Path) -> Path:
    """The index as a whole fold of the log up to ``position`` makes it."""
    if into.exists():
        into.unlink()
    sd.json("projections", "rebuild", "--until", str(position), "--into", str(into))
    return into


def stats_of(answer: dict[str, Any]) -> tuple[int, int, int]:
    return answer["files"], answer["dirs"], answer["bytes"]


def folded_stats(sd: Sd, position: int, into: Path) -> tuple[int, int, int]:
    with sqlite3.connect(fold(sd, position, into)) as db:
        st = file_stats(db)
    return st.files, st.dirs, st.bytes


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("snapshots")
    sd = Sd(tmp / "data")
    root = tmp / "tree"
    a_tree(root, 30, 150)
    folder = snapshotting(sd, 0.05)
    with node_on(sd, tmp) as node:
        sd.json("location", "add", str(root))
        head = sd.json("log", "stats")["events"]
        node.stop()  # waits for a snapshot under way
    return {"sd": sd, "root": root, "folder": folder, "head": head, "tmp": tmp}


def test_the_node_keeps_few_snapshots_each_a_whole_fold(indexed: dict[str, Any]) -> None:
    sd, folder, tmp = indexed["sd"], indexed["folder"], indexed["tmp"]
    snaps = [s for s in held(folder) if s.kind == NODE]
    # The disk bound: at most KEEP of them, under the bytes allowed, none half made.
    assert 2 <= len(snaps) <= KEEP
    assert sum(s.path.stat().st_size for s in snaps) <= MAX_MIB << 20
    assert not [p for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]
    assert all(s.path.stat().st_mode & 0o077 == 0 for s in snaps)
    # Spread over the log, the last one near its end.
    assert snaps[-1].position > indexed["head"] * 0.6
    for snap in snaps:
        assert snap.intact()
        assert digest(snap.path) == digest(fold(sd, snap.position, tmp / "fold.db"))


def test_at_any_position_is_a_whole_fold(indexed: dict[str, Any]) -> None:
    sd, root, tmp = indexed["sd"], indexed["root"], indexed["tmp"]
    snaps = [s.position for s in held(indexed["folder"]) if s.kind == NODE]
    head = indexed["head"]
    for position in sorted({snaps[0], snaps[0] + 1, (snaps[0] + snaps[-1]) // 2, head - 1}):
        got = sd.json("stats", "--at", str(position))
        assert stats_of(got) == folded_stats(sd, position, tmp / "fold.db"), position
    listing = sd.json("ls", str(root / "f03"), "--at", str(head))
    assert len(listing) == 150


def test_a_damaged_or_deleted_snapshot_costs_a_longer_fold_never_a_wrong_answer(
    indexed: dict[str, Any],
) -> None:
    sd, folder, tmp = indexed["sd"], indexed["folder"], indexed["tmp"]
    snaps = [s for s in held(folder) if s.kind == NODE]
    damaged, deleted = snaps[-1], snaps[0]
    # A few bytes changed in the middle of a page: SQLite alone would read them as data.
    with open(damaged.path, "r+b") as fh:
        fh.seek(damaged.path.stat().st_size // 2 + 100)
        fh.write(b"\xff\x00\xfe" * 8)
    deleted.path.unlink()
    for position in (damaged.position, deleted.position + 1):
        got = sd.json("stats", "--at", str(position))
        assert stats_of(got) == folded_stats(sd, position, tmp / "fold.db"), position
    assert damaged.path not in [s.path for s in held(folder)]


def test_a_node_killed_mid_snapshot_leaves_no_half_snapshot(tmp_path: Path) -> None:
    sd = Sd(tmp_path / "data")
    root = tmp_path / "tree"
    a_tree(root, 40, 150)
    folder = snapshotting(sd, 0.01)
    caught = None
    with node_on(sd, tmp_path) as node:
        adding = sd.popen("location", "add", str(root), "--no-wait")
        deadline = time.monotonic() + 120
        while caught is None and time.monotonic() < deadline:
            try:
                names = os.listdir(folder)
            except FileNotFoundError:
                continue
            partial = [n for n in names if n.startswith(TEMP_PREFIX)]
            if partial:
                assert node.proc is not None
                node.proc.send_signal(signal.SIGKILL)
                node.proc.wait()
                caught = partial[0]
        adding.wait(30)
    assert caught is not None, "no snapshot was ever under way"
    # What is held is whole: each snapshot is a fold of the log up to its position.
    for snap in held(folder):
        assert snap.intact()
        assert digest(snap.path) == digest(fold(sd, snap.position, tmp_path / "fold.db"))
    # The next node finishes the index, snapshots again and clears what the killed one left.
    with node_on(sd, tmp_path) as node:
        until(lambda: not sd.json("node", "status")["jobs"], 60, "the index finished")
        head = sd.json("log", "stats")["events"]
        until(lambda: held(folder)[-1].position >= head - 2, 30, "a snapshot near the head")
        node.stop()
    assert not [n for n in os.listdir(folder) if n.startswith(TEMP_PREFIX)]
    snap = held(folder)[-1]
    assert digest(snap.path) == digest(fold(sd, snap.position, tmp_path / "fold.db"))


def test_looks_back_and_forth_through_a_node_are_whole_folds(indexed: dict[str, Any]) -> None:
    """A node keeps a look open on top of a snapshot: forward folds what lies between,
    back rolls to a savepoint; every answer is still a whole fold's."""
    sd, tmp = indexed["sd"], indexed["tmp"]
    start = min(held(indexed["folder"])[0].position, indexed["head"] - 4)
    want = {p: folded_stats(sd, p, tmp / "fold.db") for p in range(start, start + 5)}
    with node_on(sd, tmp) as node:
        for position in (start + 3, start + 1, start + 4, start + 2, start, start + 4):
            got = sd.json("stats", "--at", str(position))
            assert stats_of(got) == want[position], position
        node.stop()
