"""The built-in agents duplicates, similar and cold as a user meets them: granted a folder,
swept with ``sd agent run``, their proposals listed with ``sd agent proposals --json``, and
an accepted one trashing or moving exactly what it named, audited with its id."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sdactors.agent.builtin.cold import MONTH_S
from tests.conftest import Sd, mount_tmpfs, unmount
from tests.helpers_agents import record_volume
from tests.helpers_media import photo, scene
from tests.helpers_tree import random_bytes, write


def _sweep(sd: Sd, agent: str, where: Path) -> list[dict[str, Any]]:
    sd.run("agent", "grant", agent, "--location", str(where))
    sd.run("agent", "enable", agent)
    sd.json("agent", "run", agent)
    return sd.json("agent", "proposals", "--agent", agent)


def _trashed_by(sd: Sd, proposal: str) -> list[str]:
    """The paths ``sd audit`` shows trashed for ``proposal``."""
    return sorted(
        row["outcome"]["path"]
        for row in sd.json("audit")
        if row["command"] == "file.remove"
        and row["proposal"] == proposal
        and row["state"] == "completed"
    )


def _files(root: Path) -> set[str]:
    return {
        os.path.relpath(os.path.join(folder, name), root)
        for folder, _, names in os.walk(root)
        for name in names
    }


def test_duplicates_accepted_trashes_exactly_the_proposed_copies(sd: Sd, tmp_path: Path) -> None:
    home = tmp_path / "home"
    report = random_bytes(5000, 1)
    write(home, "Documents/Projects/report.pdf", report)
    write(home, "Downloads/report.pdf", report)
    write(home, "Desktop/report (1).pdf", report)
    song = random_bytes(4000, 2)
    write(home, "Downloads/song.mp3", song)
    os.link(home / "Downloads/song.mp3", home / "Downloads/song-link.mp3")
    write(home, "Music/song.mp3", song)
    write(home, "Private/report.pdf", report)  # outside the grant: never named
    sd.run("library", "create", "Home")
    sd.json("location", "add", str(home))
    before = _files(home)
    for folder in ("Documents", "Downloads", "Desktop", "Music"):
        sd.run("agent", "grant", "duplicates", "--location", str(home / folder))
    [proposal] = _sweep(sd, "duplicates", home / "Documents")
    h = os.path.realpath(home)
    assert proposal["title"] == (
        f"2 extra copies of report.pdf (10.0 kB): keep {h}/Documents/Projects/report.pdf"
    )
    assert proposal["items"] == 2  # the song: one file in Downloads, kept, and its copy kept

    sd.json("agent", "accept", proposal["id"])
    assert before - _files(home) == {"Downloads/report.pdf", "Desktop/report (1).pdf"}
    assert _files(home) - before == set()
    assert _trashed_by(sd, proposal["id"]) == [
        f"{h}/Desktop/report (1).pdf",
        f"{h}/Downloads/report.pdf",
    ]
    assert sd.json("agent", "run", "duplicates")["proposed"] == 0  # nothing left to say


def test_similar_accepted_trashes_the_lesser_pictures(sd: Sd, tmp_path: Path) -> None:
    root = tmp_path / "Pictures"
    beach = scene(1, (1600, 1200))
    photo(root / "IMG_1.jpg", beach, "2024:07:14 18:30:00")
    photo(root / "IMG_1-small.jpg", beach.resize((800, 600)), "2024:07:14 18:30:00")
    photo(root / "forest.jpg", scene(2, (1600, 1200)), "2023:05:02 09:00:00")
    sd.run("library", "create", "Home")
    sd.json("location", "add", str(root))
    sd.json("thumbs", "run")
    [proposal] = _sweep(sd, "similar", root)
    assert proposal["title"].startswith("2 near-identical photos: keep IMG_1.jpg, trash 1")
    sd.json("agent", "accept", proposal["id"])
    assert _files(root) == {"IMG_1.jpg", "forest.jpg"}


def test_cold_accepted_moves_the_old_large_file_to_the_slow_disk(sd: Sd, tmp_path: Path) -> None:
    fast, slow = tmp_path / "fast", tmp_path / "slow"
    mounted = []
    try:
        for disk in (fast, slow):
            disk.mkdir()
            mount_tmpfs(disk, "16m")
            mounted.append(disk)
        old = write(fast, "Videos/2019/holiday.mkv", random_bytes(2 << 20, 1))
        when = time.time() - 30 * MONTH_S
        os.utime(old, (when, when))
        write(fast, "Videos/2024/recent.mkv", random_bytes(2 << 20, 2))
        (slow / "Videos/2019").mkdir(parents=True)
        sd.run("library", "create", "Home")
        sd.json("location", "add", str(fast))
        sd.json("location", "add", str(slow))
        record_volume(sd, fast, speed_mbps=800, free=10**9, total=2 * 10**9)
        record_volume(sd, slow, speed_mbps=60, free=10**9, total=2 * 10**9)
        # "Large" for these small disks: the agent's setting, in the library's config.
        [config] = sd.data_dir.glob("libraries/*/library.toml")
        config.write_text(config.read_text() + "\n[agents.cold]\nmin_size = 1048576\n")
        sd.run("agent", "grant", "cold", "--location", str(fast))
        [proposal] = _sweep(sd, "cold", slow)
        assert proposal["title"].startswith("move 1 cold file (2.1 MB) from ")
        sd.json("agent", "accept", proposal["id"])
        assert _files(fast) == {"Videos/2024/recent.mkv"}
        assert _files(slow) == {"Videos/2019/holiday.mkv"}
        assert sd.json("agent", "run", "cold")["proposed"] == 0
    finally:
        for disk in mounted:
            unmount(disk)
