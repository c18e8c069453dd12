"""The library lock: one writer process per library, a clear message naming the holder, and a
lock left by a killed process taken over without help."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from sdactors.runtime.errors import LibraryLocked
from sdactors.runtime.lock import LibraryLock
from tests.conftest import Sd
from tests.helpers_log import run_all

# A second process that opens the library through the node, says so, and keeps it open.
HOLDER = """
import os, sys, time
from sdactors.runtime import logs
from sdactors.node.node import Node
logs.configure(json=True)  # logs to stderr: stdout is for the test
node = Node(sys.argv[1])
lib = node.open_library(None)
print(os.getpid(), flush=True)
time.sleep(300)
"""


@pytest.fixture
def holder(sd: Sd, tmp_path: Path) -> Iterator[subprocess.Popen]:
    sd.run("library", "create", "Home")
    sd.run("tag", "create", "Before")
    with open(tmp_path / "holder.err", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(sd.data_dir)],
            env=sd.env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.strip() == str(proc.pid), (tmp_path / "holder.err").read_text()
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()


def test_a_second_writer_is_told_who_holds_the_library(sd: Sd, holder: subprocess.Popen) -> None:
    failed = sd.fails("tag", "create", "X")
    line = failed.err.strip()
    assert "\n" not in line
    assert f"process {holder.pid}" in line and "in use" in line
    as_json = sd.fails("--json", "tag", "create", "X").json()
    assert f"process {holder.pid}" in as_json["error"]
    # Nothing was written by the refused command.
    assert sd.json("log", "stats")["by_type"].get("tag.created") == 1


def test_reading_works_while_another_process_holds_the_library(
    sd: Sd, holder: subprocess.Popen
) -> None:
    tags, show, verify, stats, digest, info = run_all(
        sd,
        *[
            ["--json", *args]
            for args in (
                ["tag", "list"],
                ["log", "show"],
                ["log", "verify"],
                ["log", "stats"],
                ["projections", "digest"],
                ["library", "info"],
            )
        ],
    )
    assert [t["name"] for t in tags.json()] == ["Before"]
    shown = show.json_lines()
    assert [line["type"] for line in shown][-3:] == [
        "action.requested",
        "tag.created",
        "action.completed",
    ]
    assert verify.json()["ok"]
    assert stats.json()["events"] == len(shown)
    assert len(digest.json()["digest"]) == 64
    assert info.json()["head"] == info.json()["checkpoint"] == len(shown)
    # Other libraries are not locked by it.
    sd.run("tag", "create", "Y", "--library", sd.json("library", "create", "Other")["id"])


def test_a_killed_holders_lock_is_taken_over(sd: Sd, holder: subprocess.Popen) -> None:
    sd.fails("tag", "create", "X")
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    sd.run("tag", "create", "X")
    assert sorted(t["name"] for t in sd.json("tag", "list")) == ["Before", "X"]
    sd.run("log", "verify")


def test_lock_in_process(tmp_path: Path) -> None:
    """flock locks open files, not processes: a second open in the same process is refused
    too, which is what lets one process's LibraryManager own each library exactly once."""
    path = tmp_path / "lock"
    first = LibraryLock(path, "Home").acquire()
    assert first.held
    with pytest.raises(LibraryLocked, match=rf"library 'Home' is in use by process {os.getpid()} "):
        LibraryLock(path, "Home").acquire()
    first.release()
    assert not first.held and path.read_bytes() == b""
    again = LibraryLock(path, "Home").acquire()
    again.release()


def test_an_unreadable_lock_record_still_gives_a_message(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    first = LibraryLock(path, "Home").acquire()
    try:
        path.write_bytes(b"\xff not json")
        with pytest.raises(LibraryLocked, match=r"in use by process \? \(unknown command\)"):
            LibraryLock(path, "Home").acquire()
    finally:
        first.release()
