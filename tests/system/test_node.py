"""``sd node run`` as a home server runs it: a real process, the CLI talking to it over its
socket, disks changing under it, signals, a crash, a volume that goes away.

Every command here is the ``sd`` a user types; the node is started and stopped the way a
service manager does it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import msgpack
import pytest

from tests.cli.test_volumes_offline import mount_tmpfs, unmount
from tests.conftest import SD, Sd
from tests.helpers_tree import TreeCache, write

pytestmark = pytest.mark.slow

# The bound for a change to reach the index while the node runs.
SEEN_WITHIN_S = 2.0
# A node stops within this (in-flight appends committed, jobs checkpointed, locks released).
STOP_WITHIN_S = 10.0


class Node:
    """One ``sd node run`` process on a data directory."""

    def __init__(self, sd: Sd, log: Path, prefix: Sequence[str] = ()) -> None:
        """``prefix``: a command the node runs under (``setpriv ...``)."""
        self.sd = sd
        self._log = log
        self._prefix = list(prefix)
        self.proc: subprocess.Popen | None = None

    def start(self) -> Node:
        self.proc = subprocess.Popen(
            [*self._prefix, *SD, "node", "run"],
            env=self.sd.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self._log, "ab"),  # noqa: SIM115 - the child holds it
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self._log.read_text()[-3000:]
            status = self.sd.run("--json", "node", "status", check=False)
            libraries = status.json()["libraries"] if status.code == 0 else []
            if libraries and all(lib["state"] != "opening" for lib in libraries):
                return self
            time.sleep(0.1)
        raise AssertionError("the node did not start serving")

    def status(self) -> dict[str, Any]:
        return self.sd.json("node", "status")

    def stop(self, signum: int = signal.SIGTERM) -> float:
        """Signal it and wait; how long it took to exit (asserting it exited 0)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout=STOP_WITHIN_S + 20)
        took = time.monotonic() - started
        if signum == signal.SIGKILL:
            assert code == -signal.SIGKILL
        else:
            assert code == 0, self._log.read_text()[-3000:]
        return took

    def kill_if_running(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def node_on(sd: Sd, tmp_path: Path, prefix: Sequence[str] = ()) -> Iterator[Node]:
    node = Node(sd, tmp_path / f"node-{time.monotonic_ns()}.log", prefix).start()
    try:
        yield node
    finally:
        node.kill_if_running()


def until(check: Callable[[], Any], within: float, what: str) -> float:
    """Poll ``check`` until it is true; the seconds it took."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(f"{what}: not within {within} s")
        time.sleep(0.05)


def found(sd: Sd, query: str) -> set[str]:
    return {h["path"] for h in sd.json("search", query, "--limit", "1000")}


# -- one CLI, two modes ---------------------------------------------------------------------


def scenario(sd: Sd, root: Path) -> list[Any]:
    """What a user does and sees, with paths made relative so two trees compare."""
    base = str(root)
    seen: list[Any] = []

    def keep(value: Any) -> None:
        seen.append(_relative(value, base))

    added = sd.json("location", "add", str(root))
    keep({k: added[k] for k in ("path", "files", "dirs", "bytes", "created")})
    keep(sd.json("search", "report"))
    keep(sd.run("search", "report").out)
    keep(sd.json("ls", str(root / "docs")))
    keep(sd.run("ls", str(root / "docs")).out)
    keep(sd.json("stats"))
    keep(sd.json("duplicates"))
    keep(sd.json("tag", "create", "Red", "--color", "#ff0000"))
    keep(sd.json("tag", "list"))
    keep(sd.run("tag", "list").out)
    write(root, "docs/later.txt", "added later\n")
    _same_times(root)
    sd.json("location", "rescan", str(root))  # with a node, its watcher may have been first
    keep(sd.json("search", "later"))
    # A move across two folders, as a job: the index follows, and equals a fresh rescan's.
    keep(sd.json("mv", str(root / "docs" / "notes.md"), str(root / "misc")))
    keep(sd.json("search", "notes"))
    again = sd.json("location", "rescan", str(root))
    assert [again[k] for k in ("created", "modified", "moved", "deleted")] == [0, 0, 0, 0]
    keep([loc["path"] for loc in sd.json("location", "list")])
    keep([(a["command"], a["state"]) for a in sd.json("audit")])
    keep(sd.fails("tag", "create", "Red").err)
    keep(sd.fails("ls", str(root / "nowhere")).err)
    return seen


def _relative(value: Any, base: str) -> Any:
    if isinstance(value, str):
        value = value.replace(base, "<root>")
        # Tables show random ids (a tag's): the same on neither side. Content ids are equal
        # on both, and compared in the JSON forms.
        return re.sub(r"\b[0-9a-f]{16}\b", "<id>", value) if "\n" in value else value
    if isinstance(value, list):
        return [_relative(v, base) for v in value]
    if isinstance(value, dict):
        return {
            k: _relative(v, base)
            for k, v in value.items()
            if k not in ("id", "modified", "seconds", "location", "device", "created_at")
        }
    return value


def small_tree(root: Path) -> Path:
    write(root, "docs/report.txt", "the report\n")
    write(root, "docs/report-2.txt", "the report\n")
    write(root, "docs/notes.md", "# notes\n")
    write(root, "pics/report.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    write(root, "misc/a.bin", b"\1" * 1000)
    _same_times(root)
    return root


def _same_times(root: Path) -> None:
    """One modification time for every file: two trees made seconds apart list the same."""
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (1_700_000_000, 1_700_000_000))


def test_the_cli_says_the_same_with_or_without_a_node(tmp_path: Path) -> None:
    alone = Sd(tmp_path / "alone")
    alone.run("library", "create", "Home")
    by_itself = scenario(alone, small_tree(tmp_path / "one"))

    served = Sd(tmp_path / "served")
    served.run("library", "create", "Home")
    with node_on(served, tmp_path) as node:
        through_node = scenario(served, small_tree(tmp_path / "two"))
        st = node.status()
        assert st["pid"] == node.proc.pid and st["uptime_s"] > 0
        assert st["rss_bytes"] > 0 and [lib["state"] for lib in st["libraries"]] == ["serving"]
        assert {w["root"] for w in st["watching"]} == {str(tmp_path / "two")}
        assert set(st) >= {"jobs", "events_per_s", "watching"}
        # The commands went through the node: it holds the library, and said so in its log.
        assert "client_connected" in (tmp_path / "served" / "logs" / "node.log").read_text()
        took = node.stop()
    assert by_itself == through_node
    assert took < STOP_WITHIN_S
    # Stopped: the library is free for a command of its own, and the log is whole.
    assert served.json("log", "verify")["ok"] is True
    served.json("tag", "create", "Blue")


def test_a_library_created_through_the_node_is_served_and_watched(sd: Sd, tmp_path: Path) -> None:
    sd.run("library", "create", "Home")
    root = small_tree(tmp_path / "tree")
    with node_on(sd, tmp_path) as node:
        made = sd.json("library", "create", "Photos")
        assert {lib["name"] for lib in sd.json("library", "list")} == {"Home", "Photos"}
        sd.json("location", "add", str(root), "--library", "Photos")
        libs = {lib["name"]: lib["state"] for lib in node.status()["libraries"]}
        assert libs == {"Home": "serving", "Photos": "serving"}
        (root / "docs" / "live.txt").write_text("live\n")
        until(
            lambda: sd.json("search", "live", "--library", "Photos") != [],
            SEEN_WITHIN_S,
            "a change in the new library's location",
        )
        info = sd.json("library", "info", "--library", made["id"])
        assert info["name"] == "Photos" and info["events"] > 0
        assert [a["command"] for a in sd.json("audit", "--library", "Photos")][:2] == [
            "library.create",
            "location.add",
        ]
        node.stop()


# -- live watching ----------------------------------------------------------------------------


def test_changes_reach_the_index_while_the_node_runs(sd: Sd, tmp_path: Path) -> None:
    root = small_tree(tmp_path / "tree")
    sd.run("library", "create", "Home")
    sd.json("location", "add", str(root))
    with node_on(sd, tmp_path) as node:
        until(lambda: node.status()["watching"][0]["mode"] == "watching", 10, "watching")
        new = root / "docs" / "fresh-idea.txt"
        new.write_text("new\n")
        until(lambda: str(new) in found(sd, "fresh-idea"), SEEN_WITHIN_S, "a created file")
        moved = root / "pics" / "renamed-idea.txt"
        new.rename(moved)
        until(lambda: found(sd, "idea") == {str(moved)}, SEEN_WITHIN_S, "a renamed file (only)")
        moved.unlink()
        until(lambda: found(sd, "idea") == set(), SEEN_WITHIN_S, "a deleted file")
        # A whole new folder, and a burst in it.
        burst = root / "burst"
        burst.mkdir()
        for i in range(300):
            (burst / f"b{i:03d}.dat").write_bytes(b"x" * i)
        until(lambda: len(found(sd, "b0")) == 100, SEEN_WITHIN_S + 3, "a burst of 300")
        # The watcher's rescans are not jobs of the log: nothing but entries was written
        # (and the media job that read the tree's picture once the node had it).
        kinds = [j["kind"] for j in sd.json("jobs", "list", "--all")]
        assert [k for k in kinds if k != "media"] == ["index"]  # the first index only
        node.stop()
    # Changed while the node was down: the next start catches up.
    (root / "docs" / "while-down.txt").write_text("missed\n")
    with node_on(sd, tmp_path) as node:
        until(lambda: found(sd, "while-down") != set(), 10, "a change made while down")
        node.stop()


# -- signals, crashes, resuming ---------------------------------------------------------------


def _hits(hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in h.items() if k not in ("device", "device_name")} for h in hits]


# Indexes 100k files twice (the reference and the resumed run): more than the default
# timeout when the machine is shared.
@pytest.mark.timeout(300)
def test_sigkill_during_an_index_then_restart_resumes_and_ends_equal(
    sd: Sd, tmp_path: Path, trees: TreeCache
) -> None:
    root = trees.copy(tmp_path / "big", 100_000, fanout=(8, 8))
    reference = Sd(tmp_path / "reference")
    reference.run("library", "create", "Home")
    reference.json("location", "add", str(root))

    sd.run("library", "create", "Home")
    with node_on(sd, tmp_path) as node:
        queued = sd.json("location", "add", str(root), "--no-wait")
        assert queued["queued"] is True

        def some_done() -> bool:
            jobs = node.status()["jobs"]
            return bool(jobs) and jobs[0]["done"] > 20_000

        until(some_done, 120, "the index under way")
        node.stop(signal.SIGKILL)
    [job] = sd.json("jobs", "list")
    assert job["state"] == "running"  # as the log left it
    with node_on(sd, tmp_path) as node:
        until(lambda: sd.json("jobs", "info", job["id"])["state"] == "completed", 180, "resume")
        assert sd.json("log", "verify")["ok"] is True
        # Equal to the uninterrupted run's: the same totals by kind, the same duplicate
        # groups (content ids and paths), the same answers, and a rescan finds nothing to do.
        assert sd.json("stats") == reference.json("stats")
        assert sd.json("duplicates") == reference.json("duplicates")
        for query in ("f0001", "d1_05", "99"):
            args = ("search", query, "--limit", "10000")
            # Two data directories are two devices: the same hits, held by each one's own.
            assert _hits(sd.json(*args)) == _hits(reference.json(*args)), query
        again = sd.json("location", "rescan", str(root))
        assert [again[k] for k in ("created", "modified", "moved", "deleted")] == [0, 0, 0, 0]
        info = sd.json("jobs", "info", job["id"])
        assert info["checkpoint"]["created"] < 100_000 + 73  # went on, not from the start
        node.stop()
    audit = [a["command"] for a in sd.json("audit")]
    assert audit.count("location.add") == 1


def test_sigterm_drains_a_running_job_and_the_next_node_finishes_it(
    sd: Sd, tmp_path: Path, trees: TreeCache
) -> None:
    root = trees.copy(tmp_path / "tree", 30_000, fanout=(8,))
    sd.run("library", "create", "Home")
    with node_on(sd, tmp_path) as node:
        sd.json("location", "add", str(root), "--no-wait")
        until(lambda: node.status()["jobs"] and node.status()["jobs"][0]["done"] > 0, 60, "go")
        # status answers fast while it indexes
        started = time.monotonic()
        node.status()
        assert time.monotonic() - started < 2.0
        assert node.stop() < STOP_WITHIN_S
    assert sd.json("log", "verify")["ok"] is True
    with node_on(sd, tmp_path) as node:
        until(lambda: sd.json("jobs", "list") == [], 120, "the job finished by the next node")
        assert sd.json("stats")["files"] == 30_000
        node.stop()


def test_a_second_node_refuses_and_a_bad_command_writes_nothing(sd: Sd, tmp_path: Path) -> None:
    sd.run("library", "create", "Home")
    with node_on(sd, tmp_path) as node:
        second = sd.run("node", "run", check=False, timeout=30)
        assert second.code == 1 and "already serves" in second.err
        assert second.err.strip().count("\n") == 0
        events = sd.json("log", "stats")["events"]
        path = str(sd.data_dir / "node.sock")
        assert (os.stat(path).st_mode & 0o777) == 0o600
        for message in (
            {"id": 1, "op": "tag.create", "args": {"name": 5}},
            {"id": 2, "op": "no.such.command", "args": {}},
            {"id": 3, "op": "tag.create", "args": {"name": "x", "evil": True}},
            {"id": 4, "op": "location.add", "args": {"path": b"relative"}},
            {"id": 5, "op": "tag.delete", "args": "not a map"},
        ):
            answer = _raw_call(path, message)
            assert "error" in answer and answer["error"]["message"], answer
        with socket.socket(socket.AF_UNIX) as raw:  # a frame too large, then garbage
            raw.connect(path)
            raw.sendall(b"\xff\xff\xff\xff" + b"junk")
            raw.settimeout(5)
            assert raw.recv(100) == b""  # dropped
        assert sd.json("log", "stats")["events"] == events
        assert node.status()["libraries"][0]["state"] == "serving"
        node.stop()


def _raw_call(path: str, message: dict[str, Any]) -> dict[str, Any]:
    body = msgpack.packb(message, use_bin_type=True)
    with socket.socket(socket.AF_UNIX) as raw:
        raw.connect(path)
        raw.settimeout(10)
        raw.sendall(len(body).to_bytes(4, "big") + body)
        buffer = b""
        while True:
            while len(buffer) < 4:
                buffer += raw.recv(65536)
            size = int.from_bytes(buffer[:4], "big")
            while len(buffer) < 4 + size:
                buffer += raw.recv(65536)
            reply = msgpack.unpackb(buffer[4 : 4 + size], raw=False)
            buffer = buffer[4 + size :]
            if "accepted" not in reply:
                return reply


def test_a_library_that_fails_is_marked_and_the_others_serve(sd: Sd, tmp_path: Path) -> None:
    root = small_tree(tmp_path / "tree")
    sd.run("library", "create", "Good")
    sd.run("library", "create", "Broken")
    sd.json("location", "add", str(root), "--library", "Good")
    [broken] = [lib for lib in sd.json("library", "list") if lib["name"] == "Broken"]
    events = sd.data_dir / "libraries" / f"{broken['id']}.sdlibrary" / "events.db"
    assert events.exists()
    events.write_bytes(b"this is not a database" * 100)
    with node_on(sd, tmp_path) as node:
        libraries = {lib["name"]: lib for lib in node.status()["libraries"]}
        assert libraries["Broken"]["state"] == "failed" and libraries["Broken"]["error"]
        assert libraries["Good"]["state"] == "serving"
        hits = sd.json("search", "report", "--library", "Good")
        assert {h["path"] for h in hits} >= {str(root / "docs" / "report.txt")}
        assert "Broken" in sd.fails("search", "report", "--library", "Broken").err
        node.stop()


def test_a_crashing_actor_is_restarted_and_one_that_keeps_crashing_fails_its_library(
    sd: Sd, tmp_path: Path
) -> None:
    sd.run("library", "create", "Home")
    sd.run("library", "create", "Other")
    sd.env["SD_INJECT_FAULTS"] = "1"  # the node's environment: fault injection on
    with node_on(sd, tmp_path) as node:
        sd.json("debug", "crash", "projector", "--library", "Home")

        def restarted() -> bool:
            home = {lib["name"]: lib for lib in node.status()["libraries"]}["Home"]
            return home["restarts"].get("projector") == 1

        until(restarted, 10, "the projector restarted")
        sd.json("tag", "create", "Red", "--library", "Home")  # it goes on serving
        assert [t["name"] for t in sd.json("tag", "list", "--library", "Home")] == ["Red"]

        def failed() -> bool:
            libs = {lib["name"]: lib for lib in node.status()["libraries"]}
            return libs["Home"]["state"] == "failed" and "jobs" in (libs["Home"]["error"] or "")

        # More crashes than the supervisor allows within its window. A crash sent while the
        # actor waits out its backoff finds no actor (the command fails) and counts for
        # nothing: it is sent again until one lands.
        deadline = time.monotonic() + 60
        while not failed() and time.monotonic() < deadline:
            sd.run("--json", "debug", "crash", "jobs", "--library", "Home", check=False)
            time.sleep(0.2)
        until(failed, 30, "the library marked failed")
        libs = {lib["name"]: lib for lib in node.status()["libraries"]}
        assert libs["Other"]["state"] == "serving"
        assert "InjectedFault" in libs["Home"]["error"]
        sd.json("tag", "create", "Blue", "--library", "Other")
        node.stop()
    del sd.env["SD_INJECT_FAULTS"]
    refused = sd.run("--json", "debug", "crash", "jobs", check=False)  # no node: off
    assert refused.code == 1 and "fault injection is off" in refused.err


# -- volumes that come and go -----------------------------------------------------------------


def test_a_tmpfs_location_unmounted_while_running_and_while_down(sd: Sd, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    mount_tmpfs(disk)
    try:
        write(disk, "keep/a.txt", "alpha\n")
        write(disk, "keep/b.txt", "bravo\n")
        sd.run("library", "create", "Home")
        sd.json("location", "add", str(disk))
        before = sd.json("stats")
        with node_on(sd, tmp_path) as node:
            until(lambda: node.status()["watching"][0]["mode"] == "watching", 10, "watching")
            unmount(disk)

            def offline() -> bool:
                [loc] = sd.json("location", "list")
                return loc["offline"]

            until(offline, 15, "offline while running")
            assert sd.json("stats") == before  # every entry kept
            assert all(h["offline"] for h in sd.json("search", "a.txt"))
            mount_tmpfs(disk)
            write(disk, "keep/a.txt", "alpha\n")
            write(disk, "keep/b.txt", "bravo\n")
            write(disk, "keep/c.txt", "charlie\n")
            # The retry after a failed watch backs off (5 s, 10 s, 20 s...): the next one after
            # the remount can be 20 s away, and the rescan follows it.
            until(lambda: not offline() and found(sd, "c.txt"), 60, "back when remounted")
            node.stop()
        unmount(disk)  # while the node is down
        with node_on(sd, tmp_path) as node:
            until(offline, 15, "offline found at start")
            assert sd.json("stats")["files"] == 3
            node.stop()
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
        shutil.rmtree(disk, ignore_errors=True)
