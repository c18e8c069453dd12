"""A command stopped by a signal leaves nothing behind: no worker process (SIGKILL, SIGTERM of
``sd location add`` while its worker pool runs), no partial output file (Ctrl-C, SIGTERM of
``sd projections rebuild --into``); SIGTERM stops as cleanly as Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import psutil
import pytest

from tests.conftest import Sd
from tests.helpers_tree import count_events, indexed_events, make_many

FILES = 40_000
# How long the processes of a killed command may take to end.
GRACE_S = 5.0


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("interrupts") / "tree"
    make_many(root, FILES, fanout=(4, 8), seed=3)
    return root


def living(processes: dict[int, psutil.Process]) -> list[psutil.Process]:
    alive = []
    for p in processes.values():
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
        except psutil.NoSuchProcess:
            pass
    return alive


def _default_sigint() -> None:
    # A shell starts background jobs with SIGINT ignored, and Python keeps it so: a test run
    # in the background must still be able to send Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def running(sd: Sd, logs: Path, *args: str) -> Iterator[tuple[subprocess.Popen, dict]]:
    """``sd`` in a session of its own; yields it and a dict the test fills with the processes
    it saw under it. Whatever happens, none of them is left running."""
    seen: dict[int, psutil.Process] = {}
    with open(logs / "out", "wb") as out, open(logs / "err", "wb") as err:
        # Output to files, not pipes: a pipe stays open while any process holding it lives.
        proc = sd.popen(
            *args, stdout=out, stderr=err, start_new_session=True, preexec_fn=_default_sigint
        )
    try:
        yield proc, seen
    finally:
        for p in living(seen):
            p.kill()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)


def watch_until(proc: subprocess.Popen, seen: dict, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            for p in psutil.Process(proc.pid).children(recursive=True):
                seen[p.pid] = p
        except psutil.NoSuchProcess:
            pass
        if ready():
            return
        assert proc.poll() is None, "sd ended before it could be stopped: make the tree larger"
        assert time.monotonic() < deadline, f"not ready after 60 s; saw {len(seen)} processes"
        time.sleep(0.01)


def one_line(path: Path) -> str:
    lines = path.read_text().strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_workers_end_with_the_command(tree: Path, tmp_path: Path, signum: int) -> None:
    sd = Sd(tmp_path / "data")
    sd.run("library", "create", "Big")
    with running(sd, tmp_path, "location", "add", str(tree)) as (proc, seen):

        def pool_running() -> bool:
            # A worker under the fork server, and a batch committed.
            try:
                sd_process = psutil.Process(proc.pid)
                grandchildren = len(sd_process.children(recursive=True)) - len(
                    sd_process.children()
                )
            except psutil.NoSuchProcess:
                return False
            return grandchildren >= 1 and indexed_events(sd.data_dir) >= 1

        watch_until(proc, seen, pool_running)
        os.kill(proc.pid, signum)
        proc.wait(timeout=60)
        deadline = time.monotonic() + GRACE_S
        while living(seen) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = living(seen)
        assert left == [], f"{len(left)} processes outlived sd: {left}"

    if signum == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        # Like Ctrl-C: the job paused (and recorded so), what was committed kept, one line.
        assert proc.returncode == 128 + signal.SIGTERM
        assert "stopped by SIGTERM" in one_line(tmp_path / "err")
        stats = sd.json("log", "stats")
        assert count_events(stats, "job.completed") == 0
        assert stats["by_type"]["job.paused"] == 1
        assert stats["by_type"]["entries.indexed"] >= 1
        assert sd.json("log", "verify")["ok"] is True
        assert 0 < sd.json("stats")["files"] < FILES
        # The user resumes it: it goes on from what it committed, to the end.
        [job] = sd.json("jobs", "list")
        assert (job["state"], job["reason"]) == ("paused", "interrupted")
        done = sd.json("jobs", "resume", job["id"])
        assert done["state"] == "completed" and done["counts"]["files"] == FILES
        assert done["counts"]["created"] < FILES  # not indexed again from the start
        assert sd.json("stats")["files"] == FILES
    assert sd.json("log", "verify")["ok"] is True


@pytest.fixture(scope="module")
def indexed(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Sd:
    sd = Sd(tmp_path_factory.mktemp("indexed") / "data")
    sd.run("library", "create", "Big")
    sd.run("location", "add", str(tree))
    return sd


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_an_interrupted_output_leaves_no_file(indexed: Sd, tmp_path: Path, signum: int) -> None:
    folder = tmp_path / "outputs"
    folder.mkdir()
    target = folder / "then.db"

    def partial() -> bool:
        return any(".partial" in name for name in os.listdir(folder))

    with running(indexed, tmp_path, "projections", "rebuild", "--into", str(target)) as (
        proc,
        seen,
    ):
        watch_until(proc, seen, partial)
        os.kill(proc.pid, signum)
        proc.wait(timeout=60)
    assert proc.returncode == 128 + signum
    assert f"stopped by {signal.Signals(signum).name}" in one_line(tmp_path / "err")
    assert os.listdir(folder) == []
