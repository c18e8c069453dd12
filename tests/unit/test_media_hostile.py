"""Hostile media: each gives its file a recorded failure with its reason, never a crash, a
hang or a half-written thumbnail.

The reading itself is exercised in this process (``decode.describe``: what a worker runs);
what only a process can show (a memory cap, a timeout, a worker killed) goes through the
real worker pool (``MediaWorkers``).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from sdactors.media import decode
from sdactors.media.layout import PARTIAL, SIZES, thumbnail_path
from sdactors.media.task import Outcome, Task
from sdactors.media.workers import MediaWorkers
from tests.helpers_media import (
    encoded,
    hand_pdf,
    no_stream_video,
    pdf,
    picture,
    png_claiming,
    slow_pdf,
    video,
)


@pytest.fixture(scope="module", autouse=True)
def _decoders() -> None:
    decode.setup()


def task(path: Path, root: Path, kind: str | None = None, size: int | None = None) -> Task:
    st = path.stat()
    files = ((bytes(path), st.st_size if size is None else size, st.st_mtime_ns),)
    return Task(os.urandom(32), kind, files, str(root), "t-", False)


def read(path: Path, root: Path, kind: str | None = None) -> dict[str, Any]:
    return decode.describe(task(path, root, kind)).fields[0]


def no_thumbnails(root: Path) -> bool:
    """Nothing written: no thumbnail, no temporary file."""
    return not root.exists() or not [p for p in root.rglob("*") if p.is_file()]


# -- in the reader ----------------------------------------------------------------------------


def test_a_truncated_jpeg(tmp_path: Path) -> None:
    whole = picture(tmp_path / "whole.jpg", 1200, 900).read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(whole[: len(whole) // 2])
    fields = read(cut, tmp_path / "t")
    assert fields["error"].startswith("the image is damaged or truncated: image file is truncated")
    assert no_thumbnails(tmp_path / "t")


def test_a_corrupt_image(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(20_000))
    assert read(bad, tmp_path / "t")["error"].startswith("the image is damaged or truncated")
    png = encoded("PNG", 300, 300)
    garbled = tmp_path / "garbled.png"
    garbled.write_bytes(png[:60] + os.urandom(len(png) - 60))
    assert read(garbled, tmp_path / "t")["error"].startswith("the image is damaged or truncated")
    assert no_thumbnails(tmp_path / "t")


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    bomb = png_claiming(tmp_path / "bomb.png", 30_000, 30_000)
    assert bomb.stat().st_size < 2000
    started = time.monotonic()
    fields = read(bomb, tmp_path / "t")
    assert time.monotonic() - started < 1
    assert fields["error"].startswith("too large to read safely: Image size (900000000 pixels)")
    assert no_thumbnails(tmp_path / "t")


def test_a_truncated_pdf_and_a_pdf_without_pages(tmp_path: Path) -> None:
    whole = pdf(tmp_path / "whole.pdf", pages=3).read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(whole[:40])
    assert read(cut, tmp_path / "t")["error"].startswith("the PDF is damaged or truncated")
    empty = hand_pdf(tmp_path / "empty.pdf", [])
    assert read(empty, tmp_path / "t")["error"].startswith("the PDF is damaged or truncated")
    assert no_thumbnails(tmp_path / "t")


def test_an_empty_video_and_a_truncated_one(tmp_path: Path) -> None:
    # A recording stopped before its first frame: a container with nothing in it.
    empty = no_stream_video(tmp_path / "empty.mp4")
    assert read(empty, tmp_path / "t", "video")["error"] == "a file without a video stream"
    # Cut before its index (the moov box, at the end): no frame can be found.
    whole = video(tmp_path / "whole.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 2])
    assert read(cut, tmp_path / "t", "video")["error"].startswith(
        "the video is damaged or truncated"
    )
    # Zero bytes named .mp4: nothing to read (the index gives it no content id, so the job
    # never picks it; read anyway, it is refused like any other).
    zero = tmp_path / "zero.mp4"
    zero.write_bytes(b"")
    assert read(zero, tmp_path / "t", "video")["error"].startswith("the video is damaged")
    assert no_thumbnails(tmp_path / "t")


def test_a_lying_extension_is_read_as_what_the_bytes_are(tmp_path: Path) -> None:
    png_as_jpg = tmp_path / "png.jpg"
    png_as_jpg.write_bytes(encoded("PNG", 300, 100))
    assert (
        read(png_as_jpg, tmp_path / "t")["width"],
        read(png_as_jpg, tmp_path / "t")["error"],
    ) == (300, None)
    # The kind says video (the name), the bytes say JPEG.
    jpeg_as_mp4 = tmp_path / "jpeg.mp4"
    jpeg_as_mp4.write_bytes(encoded("JPEG", 200, 100))
    fields = read(jpeg_as_mp4, tmp_path / "t", "video")
    assert (fields["error"], fields["width"], fields["duration_ms"]) == (None, 200, None)
    mp4_as_jpg = video(tmp_path / "clip.mp4")
    mp4_as_jpg = mp4_as_jpg.rename(tmp_path / "clip.jpg")
    fields = read(mp4_as_jpg, tmp_path / "t", "image")
    assert fields["error"] is None and fields["duration_ms"] == pytest.approx(2000, abs=200)
    pdf_as_png = pdf(tmp_path / "doc.pdf", pages=2).rename(tmp_path / "doc.png")
    assert read(pdf_as_png, tmp_path / "t", "image")["pages"] == 2
    text_as_jpg = tmp_path / "notes.jpg"
    text_as_jpg.write_text("dear diary\n" * 100)
    assert read(text_as_jpg, tmp_path / "t", "image")["error"] == (
        "not an image, a PDF or a video that can be read"
    )
    svg = tmp_path / "logo.png"
    svg.write_text('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>')
    assert read(svg, tmp_path / "t", "image")["error"].endswith("(SVG)")


def test_a_file_changed_since_it_was_indexed_is_not_read(tmp_path: Path) -> None:
    path = picture(tmp_path / "p.jpg")
    changed = task(path, tmp_path / "t", size=path.stat().st_size - 1)
    assert decode.describe(changed).fields[0]["error"].startswith("it changed since it was indexed")
    # Gone, or swapped for a link or a FIFO (which must not hang the reader either).
    gone = task(path, tmp_path / "t")
    path.unlink()
    assert decode.describe(gone).fields[0]["error"].startswith("it changed since it was indexed")
    os.symlink(tmp_path / "elsewhere.jpg", path)
    assert decode.describe(gone).fields[0]["error"].startswith("it changed since it was indexed")
    path.unlink()
    os.mkfifo(path)
    assert decode.describe(gone).fields[0]["error"].startswith("it changed since it was indexed")
    assert no_thumbnails(tmp_path / "t")


def test_a_file_changing_while_it_is_read_gives_no_thumbnail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = picture(tmp_path / "p.jpg", 1200, 900)
    job = task(path, tmp_path / "t")
    real = decode._image

    def appended_meanwhile(fd: int, gps: bool) -> Any:
        with open(path, "ab") as more:
            more.write(b"\0" * 100)
        return real(fd, gps)

    monkeypatch.setattr(decode, "_image", appended_meanwhile)
    outcome = decode.describe(job)
    assert outcome.fields[0]["error"].startswith("it changed while it was read")
    assert outcome.written == 0 and no_thumbnails(tmp_path / "t")

    # Cut short while read: the reader's complaint is the change, not damage.
    def truncated_meanwhile(fd: int, gps: bool) -> Any:
        os.truncate(path, 100)
        return real(fd, gps)

    monkeypatch.setattr(decode, "_image", truncated_meanwhile)
    job = task(path, tmp_path / "t")
    assert decode.describe(job).fields[0]["error"].startswith("it changed while it was read")
    assert no_thumbnails(tmp_path / "t")


# -- in the worker processes ------------------------------------------------------------------


def run_all(pool: MediaWorkers, tasks: list[Task]) -> dict[bytes, Outcome]:
    try:
        return {t.cid: outcome for t, outcome in pool.run(tasks, threading.Event())}
    finally:
        pool.close()


def test_a_worker_past_its_memory_cap_fails_that_file_and_is_replaced(tmp_path: Path) -> None:
    # 24 M pixels: within Pillow's pixel limit, beyond a 64 MiB cap once decoded.
    big = tmp_path / "big.png"
    Image.new("RGB", (6000, 4000), (10, 200, 30)).save(big)
    small = picture(tmp_path / "small.jpg")
    tasks = [task(big, tmp_path / "t"), task(small, tmp_path / "t")]
    done = run_all(MediaWorkers(1, memory=64 << 20), tasks)
    assert done[tasks[0].cid].fields[0]["error"] == (
        "too large to read safely: it needs more memory than a media reader may use"
    )
    assert done[tasks[1].cid].fields[0]["error"] is None
    assert not thumbnail_path(tmp_path / "t", tasks[0].cid, 256).exists()
    assert thumbnail_path(tmp_path / "t", tasks[1].cid, 256).exists()


def test_a_file_past_its_time_is_failed_and_its_worker_replaced(tmp_path: Path) -> None:
    # About 1.5 s of rendering on an idle core; the small file, read next by the worker that
    # replaces the stopped one (at nice 19, behind everything else on a busy machine), has a
    # second too (0.3 s was not always enough for it under the suite's load).
    slow = slow_pdf(tmp_path / "slow.pdf", 1_500_000)
    small = picture(tmp_path / "small.png", 16, 16, "PNG")
    tasks = [task(slow, tmp_path / "t"), task(small, tmp_path / "t")]
    started = time.monotonic()
    done = run_all(MediaWorkers(1, timeout=1.0), tasks)
    assert time.monotonic() - started < 30
    assert done[tasks[0].cid].fields[0]["error"] == (
        "reading it took longer than 1 s: its reader was stopped"
    )
    assert done[tasks[1].cid].fields[0]["error"] is None
    assert not thumbnail_path(tmp_path / "t", tasks[0].cid, 256).exists()


def test_a_worker_killed_while_reading_fails_that_file_only(tmp_path: Path) -> None:
    slow = slow_pdf(tmp_path / "slow.pdf", 600_000)
    small = picture(tmp_path / "small.png", 16, 16, "PNG")
    tasks = [task(slow, tmp_path / "t"), task(small, tmp_path / "t")]
    pool = MediaWorkers(1)

    def kill_the_busy_one() -> None:
        # The worker reads the slow file for seconds: kill it as a crashing decoder dies.
        busy = [w for w in list(pool._workers) if w.task is tasks[0]]
        if busy:
            os.kill(busy[0].process.pid, 9)
        else:
            threading.Timer(0.1, kill_the_busy_one).start()

    threading.Timer(0.3, kill_the_busy_one).start()
    done = run_all(pool, tasks)
    assert done[tasks[0].cid].fields[0]["error"] == (
        "its reader died (killed by SIGKILL) while reading it"
    )
    assert done[tasks[1].cid].fields[0]["error"] is None


def test_a_cancelled_run_stops_at_once_and_leaves_no_half_written_thumbnail(tmp_path: Path) -> None:
    slow = [slow_pdf(tmp_path / f"slow{i}.pdf", 300_000 + i) for i in range(3)]
    tasks = [task(p, tmp_path / "t") for p in slow]
    cancel = threading.Event()
    pool = MediaWorkers(2)
    threading.Timer(1.0, cancel.set).start()
    started = time.monotonic()
    try:
        list(pool.run(tasks, cancel))
    finally:
        pool.close()
    assert time.monotonic() - started < 10
    for t in tasks:
        for size in SIZES:
            where = thumbnail_path(tmp_path / "t", t.cid, size)
            if where.exists():
                with Image.open(where) as img:
                    img.load()
    # What a killed worker may leave is under .partial only, never a thumbnail's own name.
    others = [p for p in (tmp_path / "t").rglob("*.webp") if PARTIAL in p.parts]
    assert all(p.parent.name == PARTIAL for p in others)


def test_nothing_new_is_read_while_the_library_is_busy(tmp_path: Path) -> None:
    """``go`` clear (an index of the library runs): no file is handed out until it is set."""
    paths = [picture(tmp_path / f"p{i}.png", 64, 32 + i, "PNG") for i in range(3)]
    tasks = [task(p, tmp_path / "t") for p in paths]
    go = threading.Event()
    pool = MediaWorkers(2)
    threading.Timer(1.5, go.set).start()
    started = time.monotonic()
    try:
        seen = [
            (time.monotonic() - started, t.cid) for t, _ in pool.run(tasks, threading.Event(), go)
        ]
    finally:
        pool.close()
    assert len(seen) == 3 and min(when for when, _ in seen) >= 1.5
