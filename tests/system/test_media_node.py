"""Thumbnails and media data made by a real node, as a user sees them: after a location is
added, as files are added while it watches, after the node is killed mid-job (SIGKILL),
and through ``sd jobs pause|resume|cancel``.

Checked the way a user would check: ``sd thumbs status``, ``sd thumb PATH``, the files in
the library's thumbnails folder (each a whole WebP, the rotated photo upright, none written
twice: the same inode and mtime after the restart), and the log (each file described once).
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.conftest import Sd
from tests.helpers_media import colour_at, pdf, picture, video
from tests.system.test_node import SEEN_WITHIN_S, node_on, until

pytestmark = pytest.mark.slow

# Files of the folder the node is killed in the middle of.
PHOTOS = 40


def thumbnails(sd: Sd) -> Path:
    [library] = (sd.data_dir / "libraries").iterdir()
    return library / "thumbnails"


def written(sd: Sd) -> dict[Path, tuple[int, int]]:
    """Each thumbnail in place, with its inode and mtime: a thumbnail written again (a new
    file renamed over it) has another inode."""
    root = thumbnails(sd)
    if not root.exists():
        return {}
    out = {}
    for path in root.rglob("*.webp"):
        if ".partial" not in path.parts:
            st = path.stat()
            out[path] = (st.st_ino, st.st_mtime_ns)
    return out


def status(sd: Sd, location: Path) -> dict[str, Any]:
    return sd.json("thumbs", "status", str(location))[0]


def media_job(sd: Sd, location: Path) -> dict[str, Any] | None:
    jobs = [j for j in sd.json("jobs", "list", "--all") if j["kind"] == "media"]
    mine = [j for j in jobs if j["path"] == str(location)]
    return mine[-1] if mine else None


def described(sd: Sd) -> Counter:
    """How many times each entry was described in the log."""
    events = sd.json_lines("log", "show", "--type", "media.extracted")
    return Counter(item[0] for event in events for item in event["body"]["items"])


def slow_media(sd: Sd) -> None:
    """One worker per media job: a job of a few dozen photos lasts long enough to be
    interrupted."""
    [library] = (sd.data_dir / "libraries").iterdir()
    with open(library / "library.toml", "a") as config:
        config.write("\n[media]\nworkers = 1\n")


def test_a_node_makes_thumbnails_and_finishes_them_after_being_killed(
    sd: Sd, tmp_path: Path
) -> None:
    root = tmp_path / "photos"
    for i in range(PHOTOS):
        picture(root / f"p{i:02}.jpg", 1600, 1200, taken=f"2024:07:{i % 28 + 1:02} 10:{i:02}:00")
    picture(root / "rotated.jpg", 800, 400, orientation=6)
    pdf(root / "docs/report.pdf", pages=12)
    video(root / "clips/clip.mp4", seconds=3)
    media = PHOTOS + 3
    sd.run("library", "create", "Home")
    slow_media(sd)
    with node_on(sd, tmp_path) as node:
        sd.json("location", "add", str(root))
        # Thumbnails appear as the job goes; the node is killed part way through.
        until(lambda: len(written(sd)) >= 9, 60, "some thumbnails")
        node.stop(signal.SIGKILL)
    before = written(sd)
    assert 0 < len(before) < media * 3, "the job was not interrupted"

    with node_on(sd, tmp_path) as node:
        until(lambda: status(sd, root)["pending"] == 0, 120, "the resumed job done")
        job = media_job(sd, root)
        assert job is not None and job["state"] == "completed"
        after = written(sd)
        # Nothing written twice, nothing half-written, nothing left behind.
        assert {p: after[p] for p in before} == before
        assert len(after) == media * 3
        for path in after:
            with Image.open(path) as img:
                assert img.format == "WEBP"
                img.load()
        partial = thumbnails(sd) / ".partial"
        assert not partial.exists() or not any(partial.iterdir())
        assert status(sd, root)["done"] == media
        counts = described(sd)
        assert len(counts) == media and set(counts.values()) == {1}, "a file described twice"

        shown = Path(sd.run("thumb", str(root / "rotated.jpg")).out.strip())
        with Image.open(shown) as img:
            assert (colour_at(img, 0.5, 0.1), colour_at(img, 0.5, 0.9)) == ("red", "blue")
        for name in ("docs/report.pdf", "clips/clip.mp4"):
            assert Path(sd.json("thumb", str(root / name), "--size", "512")["path"]).exists()

        # A photo added while the node watches gets its thumbnail, upright.
        picture(root / "new/turned.jpg", 600, 300, orientation=6)

        def shown_new() -> bool:
            return sd.run("thumb", str(root / "new/turned.jpg"), check=False).code == 0

        until(shown_new, SEEN_WITHIN_S + 15, "the new photo's thumbnail")
        with Image.open(sd.json("thumb", str(root / "new/turned.jpg"))["path"]) as img:
            assert img.size == (128, 256)
            assert colour_at(img, 0.5, 0.1) == "red"
        node.stop()


def test_a_media_job_is_paused_resumed_and_cancelled_like_the_others(
    sd: Sd, tmp_path: Path
) -> None:
    root = tmp_path / "photos"
    for i in range(PHOTOS):
        picture(root / f"p{i:02}.jpg", 1600, 1200, taken=f"2024:07:05 10:{i:02}:00")
    sd.run("library", "create", "Home")
    slow_media(sd)
    with node_on(sd, tmp_path) as node:
        sd.json("location", "add", str(root))
        until(lambda: (media_job(sd, root) or {}).get("state") == "running", 30, "running")
        job = media_job(sd, root)
        assert job is not None
        sd.json("jobs", "pause", job["id"])
        until(lambda: media_job(sd, root)["state"] == "paused", 30, "paused")
        held = len(written(sd))
        time.sleep(1)
        assert len(written(sd)) == held, "a paused job goes on writing"
        assert 0 < status(sd, root)["pending"]

        sd.json("jobs", "resume", job["id"])
        until(lambda: len(written(sd)) > held, 30, "the resumed job writing")
        sd.json("jobs", "cancel", job["id"])
        until(lambda: media_job(sd, root)["state"] == "cancelled", 30, "cancelled")
        partial = thumbnails(sd) / ".partial"
        assert not partial.exists() or not any(partial.iterdir())
        left = status(sd, root)["pending"]
        assert left > 0

        # Asked for again, it reads what is left.
        [queued] = sd.json("thumbs", "run", str(root))
        assert queued["queued"] is True
        until(lambda: status(sd, root)["pending"] == 0, 60, "the rest read")
        assert status(sd, root)["done"] == PHOTOS
        node.stop()
