"""The media job and the reading side together, as a user meets them: photos from a camera
(EXIF date, make, model), a resized and a recompressed copy of one of them; ``sd thumbs
run`` reads them (the real job, its own dHash); then search by date, size and camera, sort
by date, ``sd info`` and ``sd duplicates --similar`` answer from what it recorded."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Sd
from tests.helpers_media import photo, scene


def test_what_the_media_job_recorded_is_searched_sorted_and_grouped(sd: Sd, tmp_path: Path) -> None:
    root = tmp_path / "camera"
    root.mkdir()
    beach = scene(1, (1600, 1200))
    photo(root / "beach.jpg", beach, "2024:07:14 18:30:00", "Canon", "EOS R5")
    photo(root / "beach-small.jpg", beach.resize((800, 600)), "2024:07:14 18:30:00", "Canon")
    photo(root / "beach-web.jpg", beach, "2024:07:14 18:30:00", quality=30)
    photo(root / "forest.jpg", scene(2, (1600, 1200)), "2023:05:02 09:00:00", "Nikon", "Z6")
    photo(root / "city.jpg", scene(3, (3200, 2400)), "2024:07:01 12:00:00", "Nikon", "Z6")
    sd.run("library", "create", "Home")
    sd.json("location", "add", str(root))
    [ran] = sd.json("thumbs", "run")
    assert (ran["counts"]["files"], ran["counts"]["failed"]) == (5, 0)

    def names(*args: str) -> list[str]:
        return [Path(hit["path"]).name for hit in sd.json("search", *args)]

    july = names("--taken", "2024-07", "--sort", "taken")
    assert july == ["city.jpg", "beach-small.jpg", "beach-web.jpg", "beach.jpg"]
    assert names("--taken", "2023") == ["forest.jpg"]
    assert names("--min-width", "3000") == ["city.jpg"]
    assert sorted(names("beach", "--camera", "canon")) == ["beach-small.jpg", "beach.jpg"]
    assert names("--camera", "nikon", "--sort", "taken", "--reverse") == ["city.jpg", "forest.jpg"]

    info = sd.json("info", str(root / "beach.jpg"))
    media = info["media"]
    assert (media["width"], media["height"], media["taken"]) == (1600, 1200, "2024-07-14T18:30:00")
    assert (media["make"], media["model"], media["error"]) == ("Canon", "EOS R5", None)
    assert len(media["phash"]) == 16
    assert {t["size"] for t in info["thumbnails"]} == {256, 512, 1024}

    similar = sd.json("duplicates", "--similar")["similar"]
    assert len(similar) == 1, similar
    grouped = sorted(Path(f["path"]).name for f in similar[0]["files"])
    assert grouped == ["beach-small.jpg", "beach-web.jpg", "beach.jpg"]
    assert all(f["distance"] <= 6 for f in similar[0]["files"])
