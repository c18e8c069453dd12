"""The near-duplicate photos agent on a real index: photos read by the real media job (``sd
thumbs run``), bursts grouped by their perceptual hashes, the best of each kept."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sdactors.agent.builtin.similar import Similar
from tests.conftest import Sd, unmount
from tests.helpers_agents import proposals, removed
from tests.helpers_media import photo, scene


def test_keeps_the_best_of_each_burst_and_every_copy_of_it(sd: Sd, tmp_path: Path) -> None:
    root = tmp_path / "Pictures"
    beach = scene(1, (1600, 1200))
    photo(root / "beach/IMG_1.jpg", beach, "2024:07:14 18:30:00", "Canon")
    photo(root / "beach/IMG_1-small.jpg", beach.resize((800, 600)), "2024:07:14 18:30:00")
    photo(root / "beach/IMG_1-web.jpg", beach, "2024:07:14 18:30:00", quality=30)
    # An exact copy of the best: kept (copies are the duplicates agent's to choose).
    shutil.copy(root / "beach/IMG_1.jpg", root / "beach/IMG_1 copy.jpg")
    # One picture saved twice, a day apart: same pixels, same size, the earlier is kept.
    forest = scene(2, (1200, 900))
    photo(root / "forest/b.jpg", forest, "2023:05:03 09:00:00", "Nikon")
    photo(root / "forest/a.jpg", forest, "2023:05:02 09:00:00", "Nikon")
    # A lesser picture that is one file under two names: never proposed (one path gone
    # frees nothing), so this burst gives nothing.
    river = scene(4, (1600, 1200))
    photo(root / "river/big.jpg", river, "2022:01:01 10:00:00")
    photo(root / "river/small.jpg", river.resize((400, 300)), "2022:01:01 10:00:00")
    os.link(root / "river/small.jpg", root / "river/small-link.jpg")
    # Nothing near it.
    photo(root / "city.jpg", scene(3, (1600, 1200)), "2024:07:01 12:00:00")
    sd.run("library", "create", "Home")
    sd.json("location", "add", str(root))
    [ran] = sd.json("thumbs", "run")
    assert ran["counts"]["failed"] == 0
    r = os.path.realpath(root)
    assert len(sd.json("duplicates", "--similar")["similar"]) == 3  # what it reads

    found = proposals(sd, Similar())
    assert sorted(map(sorted, removed(found))) == [
        [f"{r}/beach/IMG_1-small.jpg", f"{r}/beach/IMG_1-web.jpg"],
        [f"{r}/forest/b.jpg"],
    ]
    [beach_p] = [p for p in found if "IMG_1" in p.title]
    assert beach_p.title.startswith("4 near-identical photos: keep IMG_1")
    reasons = {os.path.basename(i.args["path"]): i.reason for i in beach_p.items}
    assert reasons[b"IMG_1-small.jpg"].endswith("1600x1200 kept over 800x600")
    assert "larger file kept" in reasons[b"IMG_1-web.jpg"]
    [forest_p] = [p for p in found if p is not beach_p]
    assert forest_p.items[0].reason == (
        f"near-identical to {r}/forest/a.jpg: taken earlier (2023-05-02T09:00:00)"
    )

    # Its grant: a burst it sees one picture of is no burst to it.
    only = [os.fsencode(f"{r}/forest"), os.fsencode(f"{r}/beach/IMG_1-web.jpg")]
    assert removed(proposals(sd, Similar(), places=only)) == [{f"{r}/forest/b.jpg"}]
    # Seeing the lesser pictures only, it keeps the best of those.
    lesser = [os.fsencode(f"{r}/beach/IMG_1-small.jpg"), os.fsencode(f"{r}/beach/IMG_1-web.jpg")]
    [kept_web] = proposals(sd, Similar(), places=lesser)
    assert removed([kept_web]) == [{f"{r}/beach/IMG_1-small.jpg"}]


def test_a_picture_on_an_unplugged_disk_is_not_the_one_kept(
    sd: Sd, tmp_path: Path, disk: Path
) -> None:
    """The best of a burst on a disk that is not there: it may never come back, so the
    picture still here is no lesser copy to trash."""
    beach = scene(1, (1600, 1200))
    photo(disk / "IMG_1.jpg", beach, "2024:07:14 18:30:00")
    small = photo(tmp_path / "phone/IMG_1-small.jpg", beach.resize((800, 600)))
    sd.run("library", "create", "Home")
    sd.json("location", "add", str(disk))
    sd.json("location", "add", str(small.parent))
    sd.json("thumbs", "run")
    assert removed(proposals(sd, Similar())) == [{os.path.realpath(small)}]
    unmount(disk)
    assert "is offline" in sd.fails("location", "rescan", str(disk)).err
    assert proposals(sd, Similar()) == []
