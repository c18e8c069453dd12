"""A killed index job resumes: ``kill -9`` in the middle of ``sd location add``, then add
again, ends in the same index as a run that was never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Sd
from tests.helpers_tree import (
    TreeCache,
    assert_index_matches_disk,
    count_events,
    disk_entries,
    disk_stats,
    indexed_events,
)

FILES = 60_000


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process and what it started (its identity workers share its group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


@pytest.mark.slow
def test_killed_index_job_resumes_to_the_same_state(tmp_path: Path, trees: TreeCache) -> None:
    tree = trees.copy(tmp_path / "many", FILES, fanout=(2, 4), seed=5)
    root = os.path.realpath(tree)
    disk = disk_entries(root)
    st = disk_stats(disk)
    assert st["files"] == FILES

    # The reference: the same tree, indexed without interruption, in another data dir.
    whole = Sd(tmp_path / "whole-data")
    whole.run("library", "create", "Whole")
    reference = whole.json("location", "add", root)
    assert (reference["files"], reference["dirs"], reference["created"]) == (
        st["files"],
        st["dirs"],
        len(disk),
    )

    killed = Sd(tmp_path / "killed-data")
    killed.run("library", "create", "Killed")
    proc = killed.popen(
        "--json",
        "location",
        "add",
        root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if indexed_events(killed.data_dir) >= 2:
                break
            assert proc.poll() is None, "sd location add ended before it could be killed"
            assert time.monotonic() < deadline, "no entries.indexed events after 60 s"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        kill_group(proc)

    log = killed.json("log", "stats")
    if count_events(log, "job.completed"):
        pytest.fail("the index job completed before SIGKILL: make the tree larger")
    assert log["by_type"].get("job.failed", 0) == 0  # killed -9: nothing could say so
    partial = killed.json("stats")
    done_before = partial["files"] + partial["dirs"]
    assert 0 < done_before < len(disk), partial
    assert killed.json("log", "verify")["ok"] is True

    # Adding it again carries on: what was committed is not indexed again.
    resumed = killed.json("location", "add", root)
    assert (resumed["files"], resumed["dirs"], resumed["bytes"]) == (
        st["files"],
        st["dirs"],
        st["bytes"],
    )
    assert resumed["created"] == len(disk) - done_before
    assert (resumed["modified"], resumed["moved"], resumed["deleted"], resumed["errors"]) == (
        0,
        0,
        0,
        0,
    )
    assert count_events(killed.json("log", "stats"), "job.completed") == 1

    # The same index as the uninterrupted run: every entry once, with the same facts.
    killed_stats, whole_stats = killed.json("stats"), whole.json("stats")
    assert killed_stats == whole_stats
    assert (killed_stats["files"], killed_stats["dirs"], killed_stats["bytes"]) == (
        st["files"],
        st["dirs"],
        st["bytes"],
    )
    killed_items = assert_index_matches_disk(killed, root, disk)
    whole_items = assert_index_matches_disk(whole, root, disk)

    def facts(items: dict) -> set[tuple]:
        return {
            (i["path"], i["type"], i["kind"], i["size"], i["content_id"], i["modified"])
            for i in items.values()
        }

    assert facts(killed_items) == facts(whole_items)
    assert killed.json("duplicates") == whole.json("duplicates")

    assert killed.json("log", "verify")["ok"] is True
    digest = killed.json("projections", "digest")["digest"]
    assert killed.json("projections", "rebuild")["digest"] == digest
    again = killed.json("location", "rescan", root)
    assert (again["created"], again["modified"], again["moved"], again["deleted"]) == (0, 0, 0, 0)
