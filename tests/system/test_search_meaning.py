"""Search by meaning as a user sees it: a node whose clock the test sets, a home folder of
photos (dates taken in their EXIF, read by the node's media job) and documents, and
``sd search --mode ...``: a request in words finds the photo it means; plain search stays
exact; the vectors, lost, are made again; the index's digest knows nothing of them."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from events.clock import TEST_OFFSET_ENV
from tests.conftest import Sd
from tests.helpers_media import picture
from tests.system.test_node import node_on, until

pytestmark = pytest.mark.slow

# The node's today: a request's "last summer" is June to August of this year.
NOW = datetime(2025, 10, 15, 12, tzinfo=timezone.utc)
QUERY = "beach holiday photos from last summer"


def home(root: Path) -> Path:
    photos = root / "Pictures"
    picture(photos / "IMG_2041 seaside vacation.jpg", 64, 48, taken="2025:07:14 11:00:00")
    # The same meaning, another summer: the time in words leaves it out.
    picture(photos / "IMG_1702 seaside vacation.jpg", 64, 48, taken="2024:07:20 11:00:00")
    picture(photos / "IMG_2077 birthday cake.jpg", 64, 48, taken="2025:08:02 18:00:00")
    picture(photos / "IMG_2090 office party.jpg", 64, 48, taken="2025:07:30 20:00:00")
    picture(photos / "IMG_1500 ski slope.jpg", 64, 48, taken="2025:01:10 09:00:00")
    docs = root / "Documents"
    docs.mkdir(parents=True)
    # Words of the query, but not a photo.
    (docs / "beach holiday packing list.txt").write_text("sunscreen\n")
    (docs / "tax return 2024.pdf").write_bytes(b"%PDF-1.4\n")
    return root


def vectors_file(sd: Sd) -> Path:
    [library] = (sd.data_dir / "libraries").iterdir()
    return library / "vectors.bin"


def test_a_request_in_words_finds_the_photo_it_means(sd: Sd, tmp_path: Path) -> None:
    root = home(tmp_path / "home")
    sd.run("library", "create", "Home")
    sd.env[TEST_OFFSET_ENV] = str(NOW.timestamp() - time.time())
    with node_on(sd, tmp_path):
        sd.json("location", "add", str(root))
        until(
            lambda: len(sd.json("search", "--taken", "2025", "--kind", "image")) == 4,
            60,
            "the photos' dates read by the media job",
        )
        until(vectors_file(sd).exists, 60, "the vectors job")

        hits = sd.json("search", "--mode", "semantic", QUERY)
        names = [Path(h["path"]).name for h in hits]
        assert names[0] == "IMG_2041 seaside vacation.jpg"
        # Photos taken last summer only: not the other summer's, the winter's, the list.
        assert set(names) == {
            "IMG_2041 seaside vacation.jpg",
            "IMG_2077 birthday cake.jpg",
            "IMG_2090 office party.jpg",
        }
        assert all(h["mode"] == "semantic" for h in hits)
        scores = [h["score"] for h in hits]
        assert scores == sorted(scores, reverse=True)

        # Plain search stays exact: no name holds every word of the request.
        assert sd.json("search", QUERY) == []
        # The filters combine with it: before July, nothing of last summer.
        assert sd.json("search", "--mode", "semantic", QUERY, "--taken-before", "2025-07-01") == []
        # Re-ranking plain search's candidates: the photo of the seaside before the party.
        fast = sd.json("search", "--mode", "balanced", "seaside holiday", "--kind", "image")
        assert Path(fast[0]["path"]).name in {
            "IMG_2041 seaside vacation.jpg",
            "IMG_1702 seaside vacation.jpg",
        }
        assert all(h["mode"] == "balanced" and "score" in h for h in fast)

        digest = sd.index_digests()
        # Lost, the vectors are made again for the next search, with the same answer.
        vectors_file(sd).unlink()
        assert sd.json("search", "--mode", "semantic", QUERY) == hits
        assert vectors_file(sd).exists()
        assert sd.index_digests() == digest

        # A file written while the node watches is found by meaning once the vectors job
        # has followed the watcher's rescan.
        new = root / "Documents" / "kitchen renovation quote.txt"
        new.write_text("cabinets and tiles\n")

        def found_new() -> bool:
            hits = sd.json("search", "--mode", "semantic", "house remodel estimate", "--limit", "1")
            return [h["path"] for h in hits] == [str(new)]

        until(found_new, 30, "the new file found by meaning")


def test_without_a_node_the_vectors_are_made_by_the_first_search(sd: Sd, tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    for name in ("quarterly invoice acme.pdf", "grandma apple pie recipe.txt", "notes.md"):
        (root / name).write_text(name)
    sd.run("library", "create", "Home")
    sd.json("location", "add", str(root))
    assert not vectors_file(sd).exists()
    hits = sd.json("search", "--mode", "semantic", "cake baking")
    assert Path(hits[0]["path"]).name == "grandma apple pie recipe.txt"
    assert vectors_file(sd).exists()
    # A file added later is found once indexed: the vectors follow the index.
    (root / "birthday cake ideas.txt").write_text("x")
    sd.json("location", "rescan", str(root))
    hits = sd.json("search", "--mode", "semantic", "cake baking")
    assert Path(hits[0]["path"]).name == "birthday cake ideas.txt"


def test_plain_search_takes_the_time_filters(sd: Sd, tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    for name, day in (("report-june.txt", "2025-06-10"), ("report-august.txt", "2025-08-20")):
        path = root / name
        path.write_text(name)
        when = datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp()
        os.utime(path, (when, when))
    picture(root / "beach.jpg", 64, 48, taken="2025:07:14 11:00:00")
    sd.run("library", "create", "Home")
    sd.json("location", "add", str(root))

    def names(*args: str) -> set[str]:
        return {Path(h["path"]).name for h in sd.json("search", *args)}

    assert names("report", "--modified-after", "2025-07-01") == {"report-august.txt"}
    assert names("report", "--modified-before", "2025-07-01") == {"report-june.txt"}
    assert names("report", "--modified-after", "2025-06-01", "--modified-before", "2025-09") == {
        "report-june.txt",
        "report-august.txt",
    }
    assert "--modified-after" in sd.fails("search", "x", "--modified-after", "June").err
    assert "--taken-after" in sd.fails("search", "--taken-after", "July").err
