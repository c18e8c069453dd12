"""Media data read back through ``sd``, without the files: ``sd info PATH``, ``sd search``
by date taken, size and camera (and sorted by date), ``sd duplicates --similar``; on a
real folder of photos (JPEG with EXIF) indexed by ``sd``, and from another device.

The photos' media data is recorded by ``tests.helpers_media.describe``, which stands in for
the media job until it is merged (see there)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from PIL import Image

from sdactors.media.layout import thumbnail_path
from sdactors.net.thumbs.cache import ThumbnailCache
from sdactors.runtime.paths import DataDir
from tests.conftest import Sd
from tests.helpers_log import device_of, library_dirs, pair_offline, run_each
from tests.helpers_media import describe, dhash, distance, photo, scene
from tests.helpers_tree import cid_of_file, write


def paths(hits: list[dict]) -> list[str]:
    return [h["path"] for h in hits]


def error_of(sd: Sd, *args: str) -> str:
    failed = sd.fails(*args)
    assert failed.out == "" and failed.err.count("\n") == 1, failed
    as_json = sd.fails("--json", *args)
    assert as_json.json()["error"] == failed.err.removeprefix("sd: error: ").strip()
    return failed.err


def test_info_shows_everything_known_of_a_file(tmp_path: Path) -> None:
    sd = Sd(tmp_path / "data")
    tree = tmp_path / "photos"
    shot = photo(
        tree / "2024/beach.jpg",
        scene(1),
        taken="2024:07:14 18:30:05",
        make="Canon",
        model="Canon EOS R5",
        orientation=6,
    )
    (tree / "backup").mkdir()
    shutil.copy(shot, tree / "backup/beach copy.jpg")
    later = photo(tree / "later.jpg", scene(2))
    os.symlink("2024/beach.jpg", tree / "beach-link")
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(tree))
    describe(sd, shot)
    # The thumbnail job is not in this branch: one thumbnail where it keeps them, by content.
    (library,) = library_dirs(sd.data_dir)
    cid = cid_of_file(shot)
    assert cid is not None
    thumb = thumbnail_path(library / "thumbnails", bytes.fromhex(cid), 256)
    thumb.parent.mkdir(parents=True)
    Image.new("RGB", (256, 192)).save(thumb, "WEBP")

    info = sd.json("info", str(shot))
    st = os.stat(shot)
    assert {k: info[k] for k in ("path", "name", "type", "kind", "size", "inode", "dev")} == {
        "path": str(shot),
        "name": "beach.jpg",
        "type": "file",
        "kind": "image",
        "size": st.st_size,
        "inode": st.st_ino,
        "dev": st.st_dev,
    }
    assert info["device"] == device_of(sd.data_dir).hex()
    assert info["location"]["path"] == str(tree) and info["location"]["offline"] is None
    # Two files hold this content: the photo and its copy.
    assert info["content"] == {"id": cid, "kind": "image", "instances": 2}
    assert info["content_id"] == cid[:16]
    assert info["media"] == {
        "error": None,
        "width": 640,
        "height": 480,
        "orientation": 6,
        "taken": "2024-07-14T18:30:05",
        "make": "Canon",
        "model": "Canon EOS R5",
        "lat": None,
        "lon": None,
        "duration_ms": None,
        "video_codec": None,
        "audio_codec": None,
        "fps": None,
        "pages": None,
        "phash": dhash(shot).hex(),
    }
    assert (info["tags"], info["favourite"], info["note"]) == ([], False, None)
    assert info["thumbnails"] == [{"size": 256, "path": str(thumb), "source": "library"}]
    # What people put on the file: a tag on its content (put through the copy), a note on it.
    sd.run("tag", "add", "--create", str(tree / "backup/beach copy.jpg"), "Summer")
    sd.run("note", str(shot), "at the pier")
    info = sd.json("info", str(shot))
    assert (info["tags"], info["favourite"], info["note"]) == (["Summer"], False, "at the pier")

    text = sd.run("info", str(shot)).out
    for line in (
        f"path        {shot}",
        "type        file (image)",
        "dimensions  640 x 480, EXIF orientation 6",
        "taken       2024-07-14 18:30:05",
        "camera      Canon Canon EOS R5",
        f"content     {cid} (2 in the library, image)",
        "tags        Summer",
        "note        at the pier",
        f"thumb 256   {thumb}",
    ):
        assert line in text.splitlines(), (line, text)

    # A file the media job has not described yet, without a thumbnail.
    fresh = sd.json("info", str(later))
    assert fresh["media"] is None and fresh["thumbnails"] == []
    assert "media       not described (yet)" in sd.run("info", str(later)).out
    # A link is described as itself, not as what it points to.
    link = sd.json("info", str(tree / "beach-link"))
    assert (link["type"], link["target"], link["content"], link["media"]) == (
        "symlink",
        "2024/beach.jpg",
        None,
        None,
    )

    assert "is a folder, not a file" in error_of(sd, "info", str(tree / "2024"))
    assert "is a folder, not a file" in error_of(sd, "info", str(tree))
    assert "is not in the index" in error_of(sd, "info", str(tree / "nowhere.jpg"))
    assert "is not in the index" in error_of(sd, "info", str(tmp_path))


# name, size, taken (as EXIF writes it), make, model
SHOTS = [
    ("trip/img_001.jpg", (1200, 800), "2024:07:14 18:30:05", "Canon", "Canon EOS R5"),
    ("trip/img_002.jpg", (800, 1200), "2024:07:02 09:00:00", "NIKON CORPORATION", "NIKON Z 6"),
    ("trip/img_003.jpg", (640, 480), "2024:08:01 12:00:00", "Apple", "iPhone 15 Pro"),
    ("old/scan 1999.jpg", (1600, 1000), "1999:12:31 23:59:59", None, None),
    ("old/img_004.jpg", (320, 240), "2023:07:14 10:00:00", "Canon", "PowerShot G7 X"),
    ("nodate/img_005.jpg", (1000, 1000), None, "Canon", "EOS 5D"),
]


def test_search_and_sort_by_media_data(tmp_path: Path) -> None:
    sd = Sd(tmp_path / "data")
    tree = tmp_path / "photos"
    shots = [
        photo(tree / name, scene(i, size), taken, make, model)
        for i, (name, size, taken, make, model) in enumerate(SHOTS)
    ]
    photo(tree / "later/img_006.jpg", scene(9))  # not described yet
    write(tree, "img notes.txt", "where we went")
    # Three names that are the query itself: they rank before every photo by name.
    for folder in ("a", "b", "c"):
        write(tree, f"{folder}/img", "-")
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(tree))
    describe(sd, *shots)

    def found(*args: str) -> list[str]:
        return [os.path.relpath(p, tree) for p in paths(sd.json("search", *args))]

    # No query: a filter alone, the matches by path.
    assert found("--taken", "2024-07") == ["trip/img_001.jpg", "trip/img_002.jpg"]
    assert found("--taken", "2024") == [f"trip/img_00{i}.jpg" for i in (1, 2, 3)]
    assert found("--taken", "2024-07-14") == ["trip/img_001.jpg"]
    assert found("--taken", "1999-12-31") == ["old/scan 1999.jpg"]
    assert found("--min-width", "1000") == [
        "nodate/img_005.jpg",
        "old/scan 1999.jpg",
        "trip/img_001.jpg",
    ]
    assert found("--min-height", "1000") == [
        "nodate/img_005.jpg",
        "old/scan 1999.jpg",
        "trip/img_002.jpg",
    ]
    assert found("--min-width", "1000", "--min-height", "1000") == [
        "nodate/img_005.jpg",
        "old/scan 1999.jpg",
    ]
    # The make or the model, any case.
    assert found("--camera", "canon") == [
        "nodate/img_005.jpg",
        "old/img_004.jpg",
        "trip/img_001.jpg",
    ]
    assert found("--camera", "z 6") == ["trip/img_002.jpg"]
    assert found("--camera", "IPHONE") == ["trip/img_003.jpg"]
    assert found("--camera", "leica") == []
    # With a query and the other filters.
    assert found("img", "--camera", "canon", "--taken", "2024") == ["trip/img_001.jpg"]
    assert found("scan", "--min-width", "1000", "--ext", "jpg") == ["old/scan 1999.jpg"]
    assert found("img", "--min-width", "1000", "--under", str(tree / "trip")) == [
        "trip/img_001.jpg"
    ]

    # Sorted by the date taken, the undated after (in the search's order); every photo
    # whose date is among the first is there, however it ranks by name.
    dated = ["old/img_004.jpg", "trip/img_002.jpg", "trip/img_001.jpg", "trip/img_003.jpg"]
    undated = ["a/img", "b/img", "c/img", "later/img_006.jpg", "nodate/img_005.jpg"]
    undated += ["img notes.txt"]
    assert found("img", "--sort", "taken", "--limit", "100") == dated + undated
    assert found("img", "--sort", "taken", "--limit", "3") == dated[:3]
    assert found("img", "--sort", "taken", "--limit", "5") == dated + undated[:1]
    assert found("img", "--sort", "taken", "--reverse", "--limit", "5") == [
        *dated[::-1],
        *undated[:1],
    ]
    assert found("--camera", "canon", "--sort", "taken") == [
        "old/img_004.jpg",
        "trip/img_001.jpg",
        "nodate/img_005.jpg",
    ]
    # The unsorted search is unchanged: best first, with no date in its answer.
    plain = sd.json("search", "img", "--limit", "3")
    assert [os.path.relpath(p, tree) for p in paths(plain)] == ["a/img", "b/img", "c/img"]
    assert all("taken" not in h for h in plain)
    hits = sd.json("search", "--taken", "2024-08")
    assert [h["taken"] for h in hits] == ["2024-08-01T12:00:00"]
    table = sd.run("search", "img", "--sort", "taken", "--limit", "1").out
    assert "taken" in table.splitlines()[0] and "2023-07-14 10:00:00" in table

    assert "give a query, or a filter" in error_of(sd, "search")
    assert "give a query, or a filter" in error_of(sd, "search", " ")
    assert "start of a date" in error_of(sd, "search", "--taken", "2024-7")
    assert "start of a date" in error_of(sd, "search", "img", "--taken", "July")
    assert "--sort taken" in error_of(sd, "search", "img", "--reverse")


def test_similar_pictures_beside_exact_duplicates(tmp_path: Path) -> None:
    sd = Sd(tmp_path / "data")
    tree = tmp_path / "photos"
    picture = scene(4, (1600, 1200))
    original = photo(tree / "original.jpg", picture, taken="2024:07:14 18:30:05")
    smaller = photo(tree / "small/original-400.jpg", picture.resize((400, 300)))
    worse = photo(tree / "low/original-q25.jpg", picture, quality=25)
    resaved = tree / "png/original.png"
    resaved.parent.mkdir()
    picture.save(resaved)
    (tree / "copy").mkdir()
    copy = Path(shutil.copy(original, tree / "copy/original.jpg"))
    os.link(original, tree / "z-link.jpg")  # the same file: never a copy of itself
    unrelated = photo(tree / "other.jpg", scene(5, (1600, 1200)))
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(tree))
    describe(sd, original, smaller, worse, resaved, copy, tree / "z-link.jpg", unrelated)
    assert distance(dhash(original), dhash(unrelated)) > 12

    both = sd.json("duplicates", "--similar")
    # The exact duplicates are as they were.
    assert both["exact"] == sd.json("duplicates")
    [exact] = both["exact"]
    assert exact["paths"] == [str(copy), str(original)]
    [group] = both["similar"]
    members = {f["path"]: f for f in group["files"]}
    assert set(members) == {str(p) for p in (original, smaller, worse, resaved, copy)}
    assert members[str(original)]["same_file"] == [str(tree / "z-link.jpg")]
    # Each with its distance to the first (the group's representative), as the hashes say.
    first = group["files"][0]
    assert first["distance"] == 0
    for f in group["files"]:
        assert f["distance"] == distance(dhash(Path(f["path"])), dhash(Path(first["path"])))
    assert group["distance"] == max(f["distance"] for f in group["files"])
    assert members[str(smaller)]["width"] == 400 and members[str(smaller)]["height"] == 300

    text = sd.run("duplicates", "--similar").out
    assert f"similar: 5 pictures, at most {group['distance']} bits apart" in text
    assert f"same file as the one above: {tree / 'z-link.jpg'}" in text
    assert str(unrelated) not in text
    # Within no bits: only the pictures whose hash is the original's own.
    alike = [g for g in sd.json("duplicates", "--similar", "--distance", "0")["similar"]]
    for g in alike:
        assert all(f["distance"] == 0 for f in g["files"])
    assert "--distance" in error_of(sd, "duplicates", "--similar", "--distance", "13")
    assert "give --similar too" in error_of(sd, "duplicates", "--distance", "3")


def test_another_devices_photos_without_the_files(tmp_path: Path) -> None:
    """B knows A's photo from A's events alone: its info, a search by its camera and date."""
    a, b = Sd(tmp_path / "a"), Sd(tmp_path / "b")
    a.run("library", "create", "Home")
    pair_offline(a.data_dir, device_of(b.data_dir), "b")
    tree = tmp_path / "disk-a"
    shot = photo(tree / "beach.jpg", scene(1), "2024:07:14 18:30:05", "Canon", "EOS R5")
    a.run("location", "add", str(tree))
    describe(a, shot)
    a.run("log", "export", str(tmp_path / "a.sdlog"))
    b.run("log", "import", str(tmp_path / "a.sdlog"))
    cid = cid_of_file(shot)
    assert cid is not None
    shutil.rmtree(tree)  # nothing is read from the disk
    # B's node fetched its thumbnail from A once, and keeps it in its cache.
    (library,) = library_dirs(b.data_dir)
    cache = ThumbnailCache(DataDir(b.data_dir).thumbnail_cache, 1 << 20)
    fetched = cache.put(library.name.removesuffix(".sdlibrary"), bytes.fromhex(cid), 512, b"-")

    seen_a, seen_b = run_each(
        (a, ["--json", "info", str(shot)]), (b, ["--json", "info", str(shot)])
    )
    info = seen_b.json()
    assert info["device"] == device_of(a.data_dir).hex()
    assert info["media"]["taken"] == "2024-07-14T18:30:05" and info["media"]["make"] == "Canon"
    assert info["thumbnails"] == [{"size": 512, "path": str(fetched), "source": "cache"}]
    assert seen_a.json()["thumbnails"] == []
    assert {k: v for k, v in info.items() if k != "thumbnails"} == {
        k: v for k, v in seen_a.json().items() if k != "thumbnails"
    }
    assert f"thumb 512   {fetched} (fetched from its device)" in b.run("info", str(shot)).out
    assert paths(b.json("search", "--camera", "eos", "--taken", "2024-07")) == [str(shot)]
    assert paths(b.json("search", "beach", "--sort", "taken")) == [str(shot)]
