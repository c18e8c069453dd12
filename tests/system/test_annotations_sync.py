"""Tags, favourites and notes between two devices as their users run them: real ``sd node
run`` processes on 127.0.0.1, paired with ``sd pair``, each with its own copy of a photo
under its own name. What one device puts on the content is on the other's copy; a copy made
afterwards, found by the node's watch, has it too; a path's own mark stays on that path."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Sd
from tests.helpers_cluster import Peer, device, in_sync, pair, running, until
from tests.helpers_tree import write

pytestmark = pytest.mark.slow

SYNCED_WITHIN_S = 30.0
PHOTO = b"\xff\xd8\xff\xe0 a pier at sunset " * 64


def tagged(sd: Sd, name: str) -> list[str]:
    """The paths a search by the tag finds; none while the tag itself has not arrived (the
    search then says there is no such tag)."""
    found = sd.run("--json", "search", "--tag", name, check=False)
    if found.code != 0:
        assert found.json() == {"error": f"no tag named '{name}'"}, found.out
        return []
    return [h["path"] for h in found.json()]


def shown(sd: Sd, path: Path) -> dict[str, Any]:
    (entry,) = sd.json("ls", str(path))
    return entry


def test_a_second_device_sees_a_tag_on_its_own_copy(tmp_path: Path) -> None:
    a, b = device(tmp_path, "ash"), device(tmp_path, "birch")
    a.json("library", "create", "Home")
    mine = write(tmp_path / "disk-ash", "photos/pier.jpg", PHOTO)
    theirs = write(tmp_path / "disk-birch", "Pictures/IMG_0042.JPG", PHOTO)
    peers = [Peer(sd, tmp_path / f"{sd.data_dir.name}.log") for sd in (a, b)]
    with running(*peers):
        pair(a, b)
        a.json("location", "add", str(mine.parent.parent))
        b.json("location", "add", str(theirs.parent.parent))
        a.json("tag", "add", "--create", str(mine), "Sunset")
        until(
            lambda: tagged(b, "Sunset") == [str(mine), str(theirs)],
            SYNCED_WITHIN_S,
            "birch finds both copies by the tag ash put on the content",
        )
        assert shown(b, theirs)["tags"] == ["Sunset"]
        # birch's own path mark and a note on the content travel back.
        b.json("favourite", "--path-only", str(theirs))
        b.json("note", str(theirs), "the pier at Brighton")
        until(
            lambda: shown(a, mine)["note"] == "the pier at Brighton",
            SYNCED_WITHIN_S,
            "ash sees the note birch wrote on the content",
        )
        assert shown(a, mine)["favourite"] is False
        assert [h["path"] for h in a.json("search", "--favourite")] == [str(theirs)]
        # A copy made afterwards: birch's node sees it, indexes it, and it has the tag.
        late = theirs.parent / "IMG_0042 (copy).JPG"
        shutil.copyfile(theirs, late)
        until(
            lambda: str(late) in tagged(b, "Sunset") and str(late) in tagged(a, "Sunset"),
            SYNCED_WITHIN_S,
            "a new copy has the tag on both devices",
        )
        until(lambda: in_sync(a, b), SYNCED_WITHIN_S, "equal digests")
