"""The node's watcher against what a hostile pass found: a location holding the node's own
data directory, and folders that could not be read when the watch began.

A real ``sd node run`` watches real folders; everything is checked through ``sd``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Sd
from tests.helpers_tree import write
from tests.system.test_node import SEEN_WITHIN_S, found, node_on, until

pytestmark = pytest.mark.slow

# Root reads any folder whatever its mode; without these two capabilities it is held to the
# mode bits like anyone (the node and every process it starts).
WITHOUT_OVERRIDE = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]


def _events(sd: Sd) -> int:
    return sd.json("log", "stats")["events"]


@pytest.mark.hostile("M10")
def test_a_watched_location_holding_the_data_directory_ignores_the_node_s_own_files(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    write(home, "notes.txt", "mine\n")
    sd = Sd(home / ".sd")
    sd.run("library", "create", "Home")
    sd.json("location", "add", str(home))
    with node_on(sd, tmp_path) as node:
        until(lambda: node.status()["watching"][0]["mode"] == "watching", 10, "watching")
        # Writes of the node's own (a command, audited; a change it indexes) are not changes
        # of the location: they bring nothing in, and the log stays still once they are done.
        sd.json("tag", "create", "Red")
        (home / "later.txt").write_text("later\n")
        until(lambda: found(sd, "later.txt") != set(), SEEN_WITHIN_S + 3, "a change indexed")
        time.sleep(2)  # longer than a watch batch: whatever the writes caused has come in
        settled = _events(sd)
        time.sleep(4)
        assert _events(sd) == settled, "an idle node's log grows: it indexes its own writes"
        assert found(sd, "events.db") == set() and found(sd, "device.key") == set()
        node.stop()


def _unprivileged_or_skip() -> list[str]:
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root, and no setpriv to drop the capability to read anything")
    probe = subprocess.run([*WITHOUT_OVERRIDE, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"running as root, and setpriv cannot drop capabilities: {probe.stderr!r}")
    return WITHOUT_OVERRIDE


@pytest.mark.hostile("L6")
def test_a_folder_unreadable_when_the_watch_began_is_indexed_once_readable(
    sd: Sd, tmp_path: Path
) -> None:
    prefix = _unprivileged_or_skip()
    root = tmp_path / "tree"
    for i in range(6):
        write(root, f"f{i}/seed.txt", f"seed {i}\n")
    # The folder listed first: a watch set up folder by folder in listing order meets it
    # before every other one.
    locked = root / os.listdir(root)[0]
    write(locked, "inner/secret.txt", "secret\n")
    others = sorted(p for p in root.iterdir() if p != locked)
    sd.run("library", "create", "Home")
    locked.chmod(0)
    try:
        with node_on(sd, tmp_path, prefix) as node:
            added = sd.json("location", "add", str(root))
            assert added["errors"] == 1
            until(lambda: node.status()["watching"][0]["mode"] == "watching", 10, "watching")
            # Every readable folder is watched, wherever the unreadable one came.
            for folder in others:
                (folder / "fresh.txt").write_text("new\n")
            until(
                lambda: found(sd, "fresh.txt") == {str(f / "fresh.txt") for f in others},
                SEEN_WITHIN_S + 3,
                "a change in every readable folder",
            )
            assert sd.json("ls", str(locked)) == []
            # Readable again: what it holds comes in, and it is watched from then on.
            locked.chmod(0o755)
            until(
                lambda: found(sd, "secret.txt") == {str(locked / "inner/secret.txt")},
                SEEN_WITHIN_S + 3,
                "the folder made readable again",
            )
            write(locked, "inner/after.txt", "after\n")
            until(
                lambda: found(sd, "after.txt") == {str(locked / "inner/after.txt")},
                SEEN_WITHIN_S + 3,
                "a change inside the folder made readable",
            )
            node.stop()
    finally:
        locked.chmod(0o755)
