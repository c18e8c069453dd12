"""``sd thumbs`` and ``sd thumb`` without a node: the media job run by the command, what it
recorded, the thumbnails it wrote, failures with their reasons, clearing and making again,
and GPS recorded only once the library's owner turned it on."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from PIL import Image

from tests.conftest import Sd
from tests.helpers_media import colour_at, encoded, pdf, picture, video


def media_items(sd: Sd) -> list[dict[str, Any]]:
    events = sd.json_lines("log", "show", "--type", "media.extracted")
    return [item for event in events for item in event["body"]["items"]]


def build(root: Path) -> None:
    picture(root / "rotated.jpg", 400, 200, orientation=6, gps=(45.5, 7.25))
    shutil.copy(root / "rotated.jpg", root / "copy.jpg")
    pdf(root / "docs/report.pdf", pages=3)
    video(root / "clips/clip.mp4")
    whole = picture(root / "whole.jpg", 1200, 900).read_bytes()
    (root / "whole.jpg").unlink()
    (root / "trunc.jpg").write_bytes(whole[: len(whole) // 2])
    (root / "lying.jpg").write_bytes(encoded("PNG", 300, 100))
    (root / "notes.txt").write_text("not media\n")
    (root / "empty.mp4").write_bytes(b"")


def test_the_media_job_run_by_a_command(sd: Sd, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    build(root)
    sd.run("library", "create", "Home")
    sd.json("location", "add", str(root))
    waiting = sd.fails("thumb", str(root / "rotated.jpg"))
    assert "the media job has not read it yet" in waiting.err

    [ran] = sd.json("thumbs", "run")
    # The two copies are read once: five contents, four of them pictures.
    assert ran["queued"] is False
    assert (ran["counts"]["files"], ran["counts"]["failed"], ran["counts"]["thumbnails"]) == (
        6,
        1,
        12,
    )
    [status] = sd.json("thumbs", "status")
    assert (status["done"], status["pending"], status["failed"]) == (5, 0, 1)
    [failure] = status["failures"]
    assert failure["path"] == str(root / "trunc.jpg")
    assert failure["error"].startswith("the image is damaged or truncated")

    # The rotated photo, upright; its copy shares the very file.
    shown = sd.json("thumb", str(root / "rotated.jpg"))
    assert shown["path"] == sd.run("thumb", str(root / "copy.jpg")).out.strip()
    with Image.open(shown["path"]) as img:
        assert img.size == (128, 256)
        assert (colour_at(img, 0.5, 0.1), colour_at(img, 0.5, 0.9)) == ("red", "blue")
    big = sd.run("thumb", str(root / "docs/report.pdf"), "--size", "1024").out.strip()
    with Image.open(big) as img:
        assert img.format == "WEBP" and max(img.size) == 1024
    assert "it is not an image, a PDF or a video" in sd.fails("thumb", str(root / "notes.txt")).err
    assert "no content id yet" in sd.fails("thumb", str(root / "empty.mp4")).err
    assert "is a folder: thumbnails are of files" in sd.fails("thumb", str(root / "docs")).err
    assert "is not in the index" in sd.fails("thumb", str(tmp_path / "elsewhere.jpg")).err

    # Cleared, then made again from the files, without describing any of them again.
    assert sd.json("thumbs", "clear")["files"] == 12
    gone = sd.fails("thumb", str(root / "rotated.jpg"))
    assert "its thumbnails were cleared: 'sd thumbs run' makes them again" in gone.err
    [remade] = sd.json("thumbs", "run")
    assert (remade["counts"]["thumbnails"], remade["counts"]["failed"]) == (12, 0)
    assert Path(shown["path"]).exists()

    # Every file described once, in the log, without where it was taken: GPS is off until
    # the library's owner turns it on; from then on it is recorded.
    assert sd.run("library", "set", "--media-gps", "on").out.strip() == "library Home: media GPS on"
    picture(root / "after.jpg", 300, 200, gps=(-33.8568, 151.2153))
    sd.json("location", "rescan", str(root))
    text = sd.run("thumbs", "run").out
    assert "1 files read, 3 thumbnails written, 0 failed" in text
    items = media_items(sd)
    assert len(items) == 7
    located = [(item[10], item[11]) for item in items]  # lat, lon
    assert sorted(located, key=str) == [(-33.8568, 151.2153)] + [(None, None)] * 6
