"""The duplicates and near-duplicate photos agents in a real node: files arriving while it
watches (a copy saved into Downloads, a resized photo) wake the agents that follow what they
bring (``entries.``, and ``media.`` once the media job has read the photo), with no ``sd
agent run``; accepting runs in the node and trashes exactly what was proposed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Sd
from tests.helpers_media import photo, scene
from tests.helpers_tree import random_bytes, write
from tests.system.test_node import node_on, until

pytestmark = pytest.mark.slow


def _open(sd: Sd, agent: str) -> list[dict[str, Any]]:
    return sd.json("agent", "proposals", "--agent", agent)


def test_a_node_proposes_as_copies_and_bursts_arrive_and_runs_what_is_accepted(
    sd: Sd, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    write(home, "Documents/Projects/report.pdf", random_bytes(6000, 1))
    beach = scene(1, (1600, 1200))
    photo(home / "Pictures/beach.jpg", beach, "2024:07:14 18:30:00")
    sd.run("library", "create", "Home")
    with node_on(sd, tmp_path) as node:
        sd.json("location", "add", str(home))
        for agent in ("duplicates", "similar"):
            sd.run("agent", "grant", agent, "--location", str(home))
            sd.run("agent", "enable", agent)
        h = os.path.realpath(home)

        # Saved again into Downloads, and a resized copy of the photo: the watcher indexes
        # them, the media job reads the photo, and each agent wakes on what it follows.
        shutil.copy(home / "Documents/Projects/report.pdf", home / "Downloads.tmp")
        (home / "Downloads").mkdir()
        os.rename(home / "Downloads.tmp", home / "Downloads/report.pdf")
        photo(home / "Pictures/beach-small.jpg", beach.resize((800, 600)), "2024:07:14 18:30:00")
        until(lambda: _open(sd, "duplicates"), 60, "the duplicates agent's proposal")
        until(lambda: _open(sd, "similar"), 60, "the similar agent's proposal")
        [copies] = _open(sd, "duplicates")
        assert copies["title"].endswith(f"keep {h}/Documents/Projects/report.pdf")
        [burst] = _open(sd, "similar")
        assert burst["title"].startswith("2 near-identical photos: keep beach.jpg")

        sd.json("agent", "accept", copies["id"])
        sd.json("agent", "accept", burst["id"])
        assert not (home / "Downloads/report.pdf").exists()
        assert not (home / "Pictures/beach-small.jpg").exists()
        assert (home / "Documents/Projects/report.pdf").exists()
        assert (home / "Pictures/beach.jpg").exists()
        outcomes = {p["id"]: p["outcomes"] for p in sd.json("agent", "proposals", "--all")}
        assert outcomes[copies["id"]] == [{"item": 1, "ok": True, "error": None}]
        assert outcomes[burst["id"]] == [{"item": 1, "ok": True, "error": None}]
        node.stop()
