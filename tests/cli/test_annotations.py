"""Tags, favourites and notes on files, as a user puts them on with ``sd`` and finds them
again with ``sd ls`` and ``sd search``: on a file's content (every copy shows them), on one
path, on what has no content id; surviving renames; shared with a second device; and what a
careless user meets (a path not indexed, a tag that does not exist, a note far too long)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.conftest import Sd
from tests.helpers_log import device_of, pair_offline, run_each
from tests.helpers_tree import write

BEACH = b"\xff\xd8\xff\xe0 the beach, at noon " * 40
CAFE = "Caf\u00e9 \u65e5\u672c \U0001f30a.txt"  # a name in other scripts, with an emoji


def tree(root: Path) -> Path:
    """Two copies of one photo, a text of its own, an empty file, a folder."""
    write(root, "photos/beach.jpg", BEACH)
    write(root, "backup/2024/beach-copy.jpg", BEACH)
    write(root, f"docs/{CAFE}", "un caf\u00e9\n")
    write(root, "docs/empty.txt", b"")
    (root / "docs/projects").mkdir(parents=True)
    return root


def indexed(sd: Sd, tmp_path: Path) -> Path:
    root = tree(tmp_path / "tree")
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(root))
    return root


def listing(sd: Sd, folder: Path) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in sd.json("ls", str(folder))}


def found(sd: Sd, *args: str) -> list[str]:
    return [h["path"] for h in sd.json("search", *args)]


def file_events(sd: Sd) -> list[dict[str, Any]]:
    return sd.json_lines("log", "show", "--type", "file.")


def test_a_tag_on_a_content_is_on_every_copy_and_one_on_a_path_on_that_path(
    sd: Sd, tmp_path: Path
) -> None:
    root = indexed(sd, tmp_path)
    photo, copy = root / "photos/beach.jpg", root / "backup/2024/beach-copy.jpg"
    # A tag that does not exist: one line saying so and how to make it; nothing written.
    failed = sd.fails("tag", "add", str(photo), "Holiday")
    assert failed.err == (
        "sd: error: no tag named 'Holiday': create it with 'sd tag create Holiday', "
        "or add --create\n"
    )
    assert sd.json("--json", "tag", "list") == [] and file_events(sd) == []
    added = sd.json("tag", "add", str(photo), "Holiday", "--create")
    assert added["created"] is True and added["tag"]["name"] == "Holiday"
    assert added["files"] == [{"path": str(photo), "changed": ["content"], "still": False}]
    # The copy, which nobody tagged, shows it: it is the same content.
    assert listing(sd, copy.parent)["beach-copy.jpg"]["tags"] == ["Holiday"]
    assert found(sd, "--tag", "Holiday") == [str(copy), str(photo)]  # by path
    # A tag of one path only, in another script, on a name in another script.
    sd.run("tag", "create", "\u00c9t\u00e9 \u2600")
    cafe = root / "docs" / CAFE
    sd.run("tag", "add", "--path-only", str(cafe), "\u00c9t\u00e9 \u2600")
    sd.run("tag", "add", "--path-only", str(copy), "\u00c9t\u00e9 \u2600")
    assert listing(sd, cafe.parent)[CAFE]["tags"] == ["\u00c9t\u00e9 \u2600"]
    assert listing(sd, photo.parent)["beach.jpg"]["tags"] == ["Holiday"]
    assert listing(sd, copy.parent)["beach-copy.jpg"]["tags"] == ["Holiday", "\u00c9t\u00e9 \u2600"]
    # Text output: the tags as a column, the name as it is.
    table = sd.run("ls", str(root / "docs")).out
    assert "tags" in table.splitlines()[0] and "\u00c9t\u00e9 \u2600" in table and CAFE in table
    # What has no content id (an empty file, a folder) is tagged by its path, and says so.
    empty, folder = root / "docs/empty.txt", root / "docs/projects"
    out = sd.run("tag", "add", str(empty), str(folder), "Holiday").out.splitlines()
    assert out[0] == "tagged 2 files with Holiday"
    assert out[1].startswith(f"{empty}: on its path only (no content id")
    assert found(sd, "--tag", "Holiday") == [str(copy), str(empty), str(folder), str(photo)]


def test_tags_follow_a_renamed_file_and_leave_a_changed_one(sd: Sd, tmp_path: Path) -> None:
    """A path tag is on the entry, which a rename keeps; a content tag is on the content,
    which an edit changes: the file then shows only what is on its new content."""
    root = indexed(sd, tmp_path)
    photo = root / "photos/beach.jpg"
    sd.run("tag", "create", "Holiday")
    sd.run("tag", "create", "Mine")
    sd.run("tag", "add", str(photo), "Holiday")
    sd.run("tag", "add", "--path-only", str(photo), "Mine")
    moved = root / "photos/sunny beach.jpg"
    os.rename(photo, moved)
    sd.run("location", "rescan", str(root))
    assert listing(sd, root / "photos")["sunny beach.jpg"]["tags"] == ["Holiday", "Mine"]
    moved.write_bytes(b"another picture altogether")
    sd.run("location", "rescan", str(root))
    assert listing(sd, root / "photos")["sunny beach.jpg"]["tags"] == ["Mine"]
    assert found(sd, "--tag", "Holiday") == [str(root / "backup/2024/beach-copy.jpg")]


def test_taking_tags_off(sd: Sd, tmp_path: Path) -> None:
    root = indexed(sd, tmp_path)
    photo, copy = root / "photos/beach.jpg", root / "backup/2024/beach-copy.jpg"
    sd.run("tag", "create", "Holiday")
    sd.run("tag", "add", str(photo), "Holiday")
    sd.run("tag", "add", "--path-only", str(copy), "Holiday")
    # Off one path only: the copy still has it through its content, and is told so.
    out = sd.run("tag", "remove", "--path-only", str(copy), "Holiday").out
    assert out == (
        f"took tag Holiday off {copy}\n"
        f"{copy} still has tag Holiday through its content (every copy): "
        "take it off without --path-only\n"
    )
    assert listing(sd, copy.parent)["beach-copy.jpg"]["tags"] == ["Holiday"]
    # Off the content: off every copy. A file without it says so; nothing more is written.
    taken = sd.json("tag", "remove", str(copy), str(root / "docs/empty.txt"), "Holiday")
    assert taken["files"] == [
        {"path": str(copy), "changed": ["content"], "still": False},
        {"path": str(root / "docs/empty.txt"), "changed": [], "still": False},
    ]
    assert found(sd, "--tag", "Holiday") == []
    before = len(file_events(sd))
    out = sd.run("tag", "remove", str(photo), "Holiday").out
    assert out == f"{photo} does not have tag Holiday\n" and len(file_events(sd)) == before
    # A deleted tag disappears from every file; asking for it says there is none.
    sd.run("tag", "add", str(photo), "Holiday")
    sd.run("tag", "delete", "Holiday")
    assert listing(sd, photo.parent)["beach.jpg"]["tags"] == []
    assert sd.fails("search", "--tag", "Holiday").err == "sd: error: no tag named 'Holiday'\n"


def test_favourites_and_notes(sd: Sd, tmp_path: Path) -> None:
    root = indexed(sd, tmp_path)
    photo, copy = root / "photos/beach.jpg", root / "backup/2024/beach-copy.jpg"
    cafe = root / "docs" / CAFE
    assert sd.run("favourite", str(photo)).out == f"marked {photo} as favourite\n"
    assert listing(sd, copy.parent)["beach-copy.jpg"]["favourite"] is True
    assert "beach.jpg  [favourite]" in sd.run("ls", str(photo.parent)).out
    assert found(sd, "--favourite") == [str(copy), str(photo)]
    sd.run("favourite", "--path-only", str(cafe))
    assert found(sd, "--favourite", "caf") == [str(cafe)]
    assert sd.json("favourite", "--off", str(copy))["files"][0]["changed"] == ["content"]
    assert found(sd, "--favourite") == [str(cafe)]
    # A note: on the content, or on a path (which comes first on that path).
    text = "Taken from the pier.\nThe light was \u00e9blouissante."
    sd.run("note", str(photo), text)
    sd.run("note", "--path-only", str(copy), "the copy on the backup disk")
    assert listing(sd, photo.parent)["beach.jpg"]["note"] == text
    assert listing(sd, copy.parent)["beach-copy.jpg"]["note"] == "the copy on the backup disk"
    hits = sd.json("search", "beach")
    assert [(h["name"], h["note"]) for h in hits] == [
        ("beach.jpg", text),
        ("beach-copy.jpg", "the copy on the backup disk"),
    ]
    table = sd.run("search", "beach").out.splitlines()
    assert table[0].split() == ["path", "kind", "size", "note"]
    assert table[1].rstrip().endswith("  Taken from the pier.")  # its first line
    assert sd.run("note", "--clear", str(copy)).out == f"removed the note of {copy}\n"
    assert listing(sd, copy.parent)["beach-copy.jpg"]["note"] is None  # both taken off
    assert sd.run("note", "--clear", str(copy)).out == f"{copy} has no note\n"


def test_a_careless_user(sd: Sd, tmp_path: Path) -> None:
    """Every mistake is one line, exit 1, and writes nothing."""
    root = indexed(sd, tmp_path)
    photo = root / "photos/beach.jpg"
    sd.run("tag", "create", "Holiday")
    late = write(root, "photos/new.jpg", b"not indexed yet")
    cases = [
        (["tag", "add", str(late), "Holiday"], f"{late} is not in the index"),
        (["tag", "add", str(photo), "/elsewhere/x", "Holiday"], "/elsewhere/x is not in the index"),
        (["favourite", str(root)], f"{root} is the root of a location"),
        (["note", str(photo), "x" * 100_000], "a note is at most 4,096 characters; this one has 100,000"),
        (["note", str(photo), " \n "], "a note needs some text (to remove one: --clear)"),
        (["note", str(photo), "both", "--clear"], "give the note's TEXT, or --clear"),
        (["note", str(photo)], "give the note's TEXT, or --clear"),
        (["tag", "remove", str(photo), "Nope"], "no tag named 'Nope'"),
        (["search"], "give a query, or a filter (--tag, --favourite, --taken"),
        (["search", "--tag", "Nope"], "no tag named 'Nope'"),
        (["tag", "add", *[str(photo)] * 5001, "Holiday"], "at most 5,000 paths in one command"),
    ]  # fmt: skip
    for args, says in cases:
        failed = sd.fails(*args)
        assert failed.err.startswith(f"sd: error: {says}") and failed.err.count("\n") == 1, args
    for args, says in cases[:4]:
        assert sd.fails("--json", *args).json()["error"].startswith(says)
    assert file_events(sd) == []
    # A tag named like a format string is said as it is.
    out = sd.run("tag", "add", "--create", str(photo), "{0} {name}").out
    assert out == f"created tag {{0}} {{name}}\ntagged {photo} with {{0}} {{name}}\n"
    # A note of the most characters allowed is kept whole.
    longest = "\u00e9" * 4096
    sd.run("note", str(photo), longest)
    assert listing(sd, photo.parent)["beach.jpg"]["note"] == longest


def test_search_filters_all_hold_and_keep_the_ranking(sd: Sd, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    for i in range(30):
        write(root, f"trip/report-{i:02d}.txt", f"report {i}\n")
    write(root, "report", "the report\n")
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(root))
    sd.run("tag", "create", "Work")
    sd.run("tag", "create", "Done")
    reports = [str(root / f"trip/report-{i:02d}.txt") for i in range(30)]
    sd.run("tag", "add", str(root / "report"), *reports[::2], "Work")
    sd.run("tag", "add", *reports[::3], "Done")
    sd.run("favourite", *reports[:10])
    work = [str(root / "report"), *reports[::2]]
    # Ranked as without the filter, among what it allows; the limit cuts after.
    assert found(sd, "report", "--tag", "Work", "--limit", "1000") == work
    assert found(sd, "report", "--tag", "Work", "--limit", "3") == work[:3]
    # Every tag given must hold, and the favourite mark too.
    both = [p for p in reports if p in reports[::2] and p in reports[::3]]
    assert found(sd, "--tag", "Work", "--tag", "Done") == both
    assert found(sd, "--tag", "Work", "--tag", "Done", "--favourite") == [
        p for p in both if p in reports[:10]
    ]
    # Without a query: by path, as many as the limit asks.
    assert found(sd, "--tag", "Done", "--limit", "4") == sorted(reports[::3])[:4]
    assert found(sd, "--tag", "Work", "--kind", "text", "--under", str(root / "trip")) == [
        p for p in reports[::2]
    ]


def test_a_second_device_sees_the_tag_on_its_own_copy(tmp_path: Path) -> None:
    """Two devices of one library, each with its own copy of a photo under its own name,
    exchange their logs: a tag put on the content on one device is on the other's copy;
    a favourite one device puts on its own path is seen, on that path, by both."""
    a, b = Sd(tmp_path / "a"), Sd(tmp_path / "b")
    a.run("library", "create", "Home")
    pair_offline(a.data_dir, device_of(b.data_dir), "b")
    a.run("log", "export", str(tmp_path / "a0.sdlog"))
    b.run("log", "import", str(tmp_path / "a0.sdlog"))
    disk_a = tmp_path / "disk-a"
    disk_b = tmp_path / "disk-b"
    mine = write(disk_a, "photos/beach.jpg", BEACH)
    theirs = write(disk_b, "Pictures/IMG_0001.JPG", BEACH)
    run_each((a, ["location", "add", str(disk_a)]), (b, ["location", "add", str(disk_b)]))
    a.run("tag", "add", "--create", str(mine), "Holiday")
    b.run("favourite", "--path-only", str(theirs))
    run_each(
        (a, ["log", "export", str(tmp_path / "a1.sdlog")]),
        (b, ["log", "export", str(tmp_path / "b1.sdlog")]),
    )
    run_each(
        (a, ["log", "import", str(tmp_path / "b1.sdlog")]),
        (b, ["log", "import", str(tmp_path / "a1.sdlog")]),
    )
    on_b = listing(b, theirs.parent)["IMG_0001.JPG"]
    assert on_b["tags"] == ["Holiday"] and on_b["favourite"] is True
    assert listing(a, mine.parent)["beach.jpg"]["favourite"] is False  # a's own path
    for sd in (a, b):
        assert found(sd, "--tag", "Holiday") == [str(mine), str(theirs)]
        assert found(sd, "--favourite") == [str(theirs)]
    digests = run_each(*[(sd, ["--json", "projections", "digest"]) for sd in (a, b)])
    assert len({d.json()["digest"] for d in digests}) == 1
    # b takes the tag off its own copy: off the content, so off a's file too.
    b.run("tag", "remove", str(theirs), "Holiday")
    b.run("log", "export", str(tmp_path / "b2.sdlog"))
    a.run("log", "import", str(tmp_path / "b2.sdlog"))
    assert listing(a, mine.parent)["beach.jpg"]["tags"] == []
    rebuilt = run_each(*[(sd, ["--json", "projections", "rebuild"]) for sd in (a, b)])
    assert len({r.json()["digest"] for r in rebuilt}) == 1
