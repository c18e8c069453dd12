"""Reading a media file once for its data and its thumbnails (``sdactors/media/decode.py``),
in this process: every format the issue names, EXIF, orientation, PDFs, videos."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from sdactors.media import decode
from sdactors.media.layout import PARTIAL, SIZES, VARIANTS, thumbnail_path
from sdactors.media.task import Outcome, Task
from tests.helpers_media import colour_at, pdf, picture, video


@pytest.fixture(scope="module", autouse=True)
def _decoders() -> None:
    decode.setup()


def read(
    path: Path, root: Path, gps: bool = False, kind: str | None = None
) -> tuple[dict, bytes, Outcome]:
    st = path.stat()
    cid = os.urandom(32)
    task = Task(cid, kind, ((bytes(path), st.st_size, st.st_mtime_ns),), str(root), "t-", gps)
    outcome = decode.describe(task)
    return outcome.fields[0], cid, outcome


def thumbnails(root: Path, cid: bytes) -> dict[int, Image.Image]:
    out = {}
    for size in SIZES:
        with Image.open(thumbnail_path(root, cid, size)) as img:
            assert img.format == "WEBP"
            img.load()
            out[size] = img.copy()
    return out


FORMATS = ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF", "HEIF"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_image_format_gives_its_size_and_three_webp_thumbnails(
    fmt: str, tmp_path: Path
) -> None:
    path = picture(tmp_path / f"p.{fmt.lower()}", 1600, 800, fmt)
    fields, cid, outcome = read(path, tmp_path / "thumbs")
    assert fields["error"] is None, fields["error"]
    assert (fields["width"], fields["height"]) == (1600, 800)
    assert outcome.written == 3 and len(fields["phash"]) == 8
    made = thumbnails(tmp_path / "thumbs", cid)
    # Each variant's longer side is its size; the picture is as stored (no orientation).
    for variant in VARIANTS:
        assert made[variant.size].size == (variant.size, variant.size // 2)
        assert colour_at(made[variant.size], 0.1, 0.5) == "red"
        assert colour_at(made[variant.size], 0.9, 0.5) == "blue"
    assert not any((tmp_path / "thumbs" / PARTIAL).iterdir())


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "HEIF"])
def test_exif_is_read_and_its_orientation_applied(fmt: str, tmp_path: Path) -> None:
    # Orientation 6: the stored picture is turned a quarter clockwise to be seen upright,
    # so its left half (red) ends on top.
    path = picture(tmp_path / f"r.{fmt.lower()}", 1200, 600, fmt, orientation=6)
    fields, cid, _ = read(path, tmp_path / "thumbs")
    assert fields["error"] is None, fields["error"]
    # Its size as stored, whatever reader turned it (Pillow turns a TIFF, pillow-heif a HEIF).
    assert (fields["width"], fields["height"], fields["orientation"]) == (1200, 600, 6)
    assert (fields["taken"], fields["make"], fields["model"]) == (
        "2024-07-05T10:20:30",
        "Canon",
        "EOS R5",
    )
    made = thumbnails(tmp_path / "thumbs", cid)
    assert made[256].size == (128, 256)
    assert (colour_at(made[256], 0.5, 0.1), colour_at(made[256], 0.5, 0.9)) == ("red", "blue")


def test_gps_is_read_only_when_the_library_enabled_it(tmp_path: Path) -> None:
    path = picture(tmp_path / "where.jpg", gps=(48.8584, -2.2945))
    without, _, _ = read(path, tmp_path / "a")
    assert (without["lat"], without["lon"]) == (None, None)
    located, _, _ = read(path, tmp_path / "b", gps=True)
    assert located["lat"] == pytest.approx(48.8584, abs=1e-4)
    assert located["lon"] == pytest.approx(-2.2945, abs=1e-4)


def test_a_small_picture_is_never_enlarged(tmp_path: Path) -> None:
    path = picture(tmp_path / "small.png", 100, 50, "PNG")
    _, cid, _ = read(path, tmp_path / "thumbs")
    assert {size: img.size for size, img in thumbnails(tmp_path / "thumbs", cid).items()} == {
        256: (100, 50),
        512: (100, 50),
        1024: (100, 50),
    }


def test_the_hash_of_a_resized_recompressed_copy_is_near(tmp_path: Path) -> None:
    original = Image.effect_mandelbrot((1200, 900), (-2.0, -1.2, 1.0, 1.2), 60).convert("RGB")
    original.save(tmp_path / "a.png")
    original.resize((600, 450)).save(tmp_path / "b.jpg", quality=70)
    picture(tmp_path / "c.png", 1200, 900, "PNG")
    a, _, _ = read(tmp_path / "a.png", tmp_path / "t")
    b, _, _ = read(tmp_path / "b.jpg", tmp_path / "t")
    c, _, _ = read(tmp_path / "c.png", tmp_path / "t")

    def distance(x: dict, y: dict) -> int:
        return bin(int.from_bytes(x["phash"], "big") ^ int.from_bytes(y["phash"], "big")).count("1")

    assert distance(a, b) <= 4 < distance(a, c)


def test_a_pdf_gives_its_first_page_and_its_page_count_fast_even_at_ten_thousand_pages(
    tmp_path: Path,
) -> None:
    path = pdf(tmp_path / "long.pdf", pages=10_000, width=300, height=400)
    started = time.monotonic()
    fields, cid, outcome = read(path, tmp_path / "thumbs")
    assert time.monotonic() - started < 5
    assert fields["error"] is None, fields["error"]
    assert (fields["pages"], fields["width"], fields["height"]) == (10_000, 300, 400)
    made = thumbnails(tmp_path / "thumbs", cid)
    # Rendered at the scale the largest variant needs: 1024 px high, not upscaled from 400.
    assert made[1024].size == (768, 1024) and made[256].size == (192, 256)


def test_a_video_gives_the_keyframe_near_a_tenth_of_its_duration_and_its_data(
    tmp_path: Path,
) -> None:
    # Black for its first 10% (one keyframe interval), then the two halves.
    path = video(tmp_path / "clip.mp4", seconds=5, fps=10, width=320, height=240, audio=True)
    fields, cid, _ = read(path, tmp_path / "thumbs")
    assert fields["error"] is None, fields["error"]
    assert (fields["width"], fields["height"], fields["fps"]) == (320, 240, 10.0)
    assert fields["duration_ms"] == pytest.approx(5000, abs=200)
    assert (fields["video_codec"], fields["audio_codec"]) == ("h264", "aac")
    made = thumbnails(tmp_path / "thumbs", cid)
    assert made[256].size == (256, 192)
    assert (colour_at(made[256], 0.1, 0.5), colour_at(made[256], 0.9, 0.5)) == ("red", "blue")


def test_a_rotated_video_is_shown_upright(tmp_path: Path) -> None:
    # -90: the phone's way of saying "turn it a quarter clockwise", as EXIF's orientation 6.
    path = video(tmp_path / "phone.mp4", width=320, height=240, rotation=-90, change_at=None)
    fields, cid, _ = read(path, tmp_path / "thumbs")
    assert (fields["orientation"], fields["width"], fields["height"]) == (6, 320, 240)
    made = thumbnails(tmp_path / "thumbs", cid)
    assert made[256].size == (192, 256)
    assert (colour_at(made[256], 0.5, 0.1), colour_at(made[256], 0.5, 0.9)) == ("red", "blue")


def test_thumbnails_already_there_are_not_written_again(tmp_path: Path) -> None:
    path = picture(tmp_path / "p.jpg", 800, 400)
    st = path.stat()
    cid = os.urandom(32)
    task = Task(
        cid, None, ((bytes(path), st.st_size, st.st_mtime_ns),), str(tmp_path / "t"), "t-", False
    )
    first = decode.describe(task)
    before = {s: os.stat(thumbnail_path(tmp_path / "t", cid, s)) for s in SIZES}
    again = decode.describe(task)
    assert (first.written, again.written) == (3, 0)
    assert first.fields == again.fields
    after = {s: os.stat(thumbnail_path(tmp_path / "t", cid, s)) for s in SIZES}
    assert {s: (a.st_ino, a.st_mtime_ns) for s, a in after.items()} == {
        s: (b.st_ino, b.st_mtime_ns) for s, b in before.items()
    }


def test_copies_are_read_once_and_a_changed_copy_fails_alone(tmp_path: Path) -> None:
    a = picture(tmp_path / "a.jpg")
    b = tmp_path / "b.jpg"
    b.write_bytes(a.read_bytes())
    files: list[Any] = []
    for path in (a, b):
        st = path.stat()
        files.append((bytes(path), st.st_size, st.st_mtime_ns))
    files[0] = (files[0][0], files[0][1] + 1, files[0][2])  # the index's size no longer holds
    outcome = decode.describe(
        Task(os.urandom(32), None, tuple(files), str(tmp_path / "t"), "t-", False)
    )
    assert "changed since it was indexed" in outcome.fields[0]["error"]
    assert outcome.fields[1]["error"] is None and outcome.written == 3
