"""Indexing a real folder through the real ``sd``, checked against what the disk says.

Every expectation here comes from the disk (``os.lstat``, a content id computed from its
specification in ``tests/helpers_tree.py``), never from the product's own code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Sd, bind_mount, unmount
from tests.helpers_tree import (
    KIB,
    DiskEntry,
    assert_index_matches_disk,
    disk_duplicates,
    disk_entries,
    disk_stats,
    entry_event_counts,
    gif_bytes,
    jpeg_bytes,
    pdf_bytes,
    png_bytes,
    random_bytes,
    shown,
    spacedrive_cid,
    write,
)


def parallel(fn: Any, args: list[Any], workers: int = 2) -> list[Any]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, args))


def build_tree(root: Path) -> None:
    photo = png_bytes(seed=1)
    large = random_bytes(3 * 1024 * KIB + 12345, seed=7)
    readme = "# Project\n\nA tree for the indexer tests.\n"
    write(root, "README.md", readme)
    write(root, "empty.txt", b"")
    write(root, ".hidden_note.txt", "not shown by ls -a? it is: hidden files are indexed\n")
    write(root, "notes.txt", "notes\n")
    write(root, "old-notes.txt", "older notes\n")
    write(root, "notes.txt.bak", "backup of notes\n")
    write(root, "docs/report-2024.final.txt", "the final report\n" * 20)
    write(root, "docs/notes_v1.2.md", "## notes v1.2\n")
    write(root, "docs/o'brien letter.txt", "Dear O'Brien,\n")
    write(root, "docs/manual.pdf", pdf_bytes())
    write(root, "docs/deep/nested/level3/leaf.txt", "a leaf\n")
    write(root, "docs/deep/nested/other.txt", "another\n")
    write(root, "code/main.py", "#!/usr/bin/env python3\nprint('hello')\n")
    write(root, "code/util.rs", 'fn main() {\n    println!("hi");\n}\n')
    write(root, "code/app.js", "console.log('hi');\n")
    write(root, "code/config.json", '{"name": "tree", "version": 1}\n')
    write(root, "code/lib/helpers_io.py", "def read():\n    return 1\n")
    write(root, "images/photo_0001.png", photo)
    write(root, "images/photo_0002.png", png_bytes(seed=2))
    write(root, "images/holiday.jpg", jpeg_bytes())
    write(root, "images/anim.gif", gif_bytes())
    write(root, "images/copies/photo_0001_copy.png", photo)
    write(root, "media/medium.bin", random_bytes(150 * KIB, seed=3))
    write(root, "media/large.dat", large)
    write(root, "media/exact100k.bin", random_bytes(100 * KIB, seed=4))
    write(root, "media/plus1.bin", random_bytes(100 * KIB + 1, seed=5))
    write(root, "dups/README copy.md", readme)
    write(root, "dups/large-copy.dat", large)


def check_stats(sd: Sd, entries: dict[str, DiskEntry], kinds: dict[str, str]) -> None:
    st = sd.json("stats")
    disk = disk_stats(entries)
    assert (st["files"], st["dirs"], st["bytes"]) == (disk["files"], disk["dirs"], disk["bytes"])
    by_kind: dict[str, int] = {}
    for kind in kinds.values():
        by_kind[kind] = by_kind.get(kind, 0) + 1
    assert st["by_kind"] == by_kind


def check_duplicates(sd: Sd, entries: dict[str, DiskEntry]) -> None:
    got = sd.json("duplicates")
    for group in got:
        group.pop("kind")
    assert got == disk_duplicates(entries)


def kinds_of(items: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {p: i["kind"] for p, i in items.items() if i["type"] == "file"}


def name_matches(entries: dict[str, DiskEntry], term: str) -> set[str]:
    return {e.path for e in entries.values() if term.lower() in e.name.lower()}


def names_first(found: list[str], entries: dict[str, DiskEntry], term: str) -> None:
    names = name_matches(entries, term)
    assert set(found[: len(names)]) == names, term
    for path in found[len(names) :]:
        assert term.lower() in path.lower(), (term, path)


def search(sd: Sd, *args: str) -> list[dict[str, Any]]:
    return sd.json("search", *args)


@pytest.mark.slow
def test_index_search_rescan_end_to_end(sd: Sd, tmp_path: Path) -> None:
    root_path = tmp_path / "tree"
    build_tree(root_path)
    root = os.path.realpath(root_path)
    sd.run("library", "create", "Home")

    added = sd.json("location", "add", root)
    disk = disk_entries(root)
    st = disk_stats(disk)
    assert added["path"] == root and added["name"] == "tree" and len(added["id"]) == 32
    assert (added["files"], added["dirs"], added["bytes"]) == (st["files"], st["dirs"], st["bytes"])
    assert added["created"] == len(disk)
    assert (added["modified"], added["moved"], added["deleted"], added["errors"]) == (0, 0, 0, 0)
    assert added["seconds"] >= 0
    assert [(loc["path"], loc["name"], loc["id"]) for loc in sd.json("location", "list")] == [
        (root, "tree", added["id"])
    ]

    # -- what the index holds, folder by folder ----------------------------------------------
    items = assert_index_matches_disk(sd, root, disk)
    kinds = kinds_of(items)
    for path, kind in {
        "images/photo_0001.png": "image",
        "images/holiday.jpg": "image",
        "images/anim.gif": "image",
        "docs/manual.pdf": "document",
        "code/main.py": "code",
        "code/util.rs": "code",
        "code/app.js": "code",
        "code/config.json": "config",
        "docs/notes_v1.2.md": "text",
        "notes.txt": "text",
        "README.md": "text",
    }.items():
        assert kinds[f"{root}/{path}"] == kind, path
    assert items[f"{root}/empty.txt"]["content_id"] is None
    assert f"{root}/.hidden_note.txt" in items  # hidden files are indexed by default
    # ls of a file lists that file.
    assert [i["path"] for i in sd.json("ls", f"{root}/docs/manual.pdf")] == [
        f"{root}/docs/manual.pdf"
    ]
    check_stats(sd, disk, kinds)
    check_duplicates(sd, disk)
    dup_paths = [g["paths"] for g in sd.json("duplicates")]
    assert dup_paths[0] == [f"{root}/dups/large-copy.dat", f"{root}/media/large.dat"]

    # -- search ---------------------------------------------------------------------------------
    queries: list[tuple[str, ...]] = [
        ("report-2024.final.txt",),
        ("report-20",),
        ("2024.fin",),
        ("notes_v1.2",),
        ("o'brien",),
        ("brien letter",),
        ("level3/leaf",),
        ("photo", "--kind", "image"),
        ("notes", "--ext", "txt"),
        ("txt", "--under", f"{root}/docs"),
        ("notes", "--limit", "1"),
        ("notes.txt",),
        ("_0",),
        ("-",),
        ("IO.p",),
        ('"zzz-nothing',),
    ]
    results = dict(zip(queries, parallel(lambda q: search(sd, *q), queries)))

    def paths(q: tuple[str, ...]) -> list[str]:
        return [h["path"] for h in results[q]]

    def first(q: tuple[str, ...]) -> str:
        assert results[q], f"no hits for {q}"
        return results[q][0]["path"]

    assert first(("report-2024.final.txt",)) == f"{root}/docs/report-2024.final.txt"
    assert first(("report-20",)) == f"{root}/docs/report-2024.final.txt"
    assert f"{root}/docs/report-2024.final.txt" in paths(("2024.fin",))
    assert first(("notes_v1.2",)) == f"{root}/docs/notes_v1.2.md"
    assert paths(("o'brien",)) == [f"{root}/docs/o'brien letter.txt"]
    assert paths(("brien letter",)) == [f"{root}/docs/o'brien letter.txt"]
    assert paths(("level3/leaf",)) == [f"{root}/docs/deep/nested/level3/leaf.txt"]
    assert set(paths(("photo", "--kind", "image"))) == {
        f"{root}/images/photo_0001.png",
        f"{root}/images/photo_0002.png",
        f"{root}/images/copies/photo_0001_copy.png",
    }
    assert all(h["kind"] == "image" for h in results[("photo", "--kind", "image")])
    assert set(paths(("notes", "--ext", "txt"))) == {f"{root}/notes.txt", f"{root}/old-notes.txt"}
    assert set(paths(("txt", "--under", f"{root}/docs"))) == {
        f"{root}/docs/report-2024.final.txt",
        f"{root}/docs/o'brien letter.txt",
        f"{root}/docs/deep/nested/level3/leaf.txt",
        f"{root}/docs/deep/nested/other.txt",
    }
    assert paths(("notes", "--limit", "1")) == [f"{root}/notes.txt"]
    # Ranking: the exact name first, the others after it.
    assert first(("notes.txt",)) == f"{root}/notes.txt"
    assert {f"{root}/old-notes.txt", f"{root}/notes.txt.bak"} <= set(paths(("notes.txt",)))
    # A single term finds every entry whose name holds it, whatever its characters, before
    # any entry that has it only in its path.
    for term in ("_0", "-", "IO.p"):
        names_first(paths((term,)), disk, term)
    assert results[('"zzz-nothing',)] == []
    # What a hit says agrees with the disk.
    for hits in results.values():
        for hit in hits:
            entry = disk[hit["path"]]
            assert (hit["name"], hit["size"], hit["content_id"]) == (
                entry.name,
                entry.size,
                entry.content_id,
            )
    assert sd.fails("search", "   ").err.strip().count("\n") == 0

    # -- change the tree, rescan ----------------------------------------------------------------
    log_before = entry_event_counts(sd.json("log", "stats"))
    before = disk_entries(root)
    time.sleep(0.05)  # beyond the file system's timestamp granularity
    # New first, deletions last: a deleted file's inode cannot be reused by a new one.
    write(root_path, "code/new_module.py", "import os\n")
    write(root_path, "archive/2025/summary.txt", "summary of 2025\n")
    write(root_path, "docs/notes_v1.2.md", "## notes v1.2\n\nand a second paragraph\n")
    with open(root_path / "media/large.dat", "r+b") as fh:  # same size, another header
        fh.write(b"changed header")
    os.rename(root_path / "docs/report-2024.final.txt", root_path / "docs/report-2024.v2.txt")
    os.rename(root_path / "docs/deep", root_path / "code/deep")
    # A rename that changes what the name says the file is: its kind follows the name.
    os.rename(root_path / "code/config.json", root_path / "code/config.py")
    os.unlink(root_path / "notes.txt.bak")
    os.unlink(root_path / "images/holiday.jpg")
    shutil.rmtree(root_path / "dups")
    after = disk_entries(root)

    by_inode_before = {e.inode: e for e in before.values()}
    by_inode_after = {e.inode: e for e in after.values()}

    def place(e: DiskEntry, snapshot: dict[str, DiskEntry]) -> tuple[int, str]:
        return (snapshot[e.path.rsplit("/", 1)[0]].inode if e.path != root else 0, e.name)

    created = [i for i in by_inode_after if i not in by_inode_before]
    deleted = [i for i in by_inode_before if i not in by_inode_after]
    kept = [i for i in by_inode_after if i in by_inode_before]
    moved = [
        i for i in kept if place(by_inode_before[i], before) != place(by_inode_after[i], after)
    ]
    modified = [
        i
        for i in kept
        if (by_inode_before[i].size, by_inode_before[i].mtime_ns)
        != (by_inode_after[i].size, by_inode_after[i].mtime_ns)
    ]
    assert (len(created), len(moved), len(deleted)) == (4, 3, 5)  # the test's own arithmetic

    rescanned = sd.json("location", "rescan", root)
    st = disk_stats(after)
    assert {k: rescanned[k] for k in ("created", "modified", "moved", "deleted")} == {
        "created": len(created),
        "modified": len(modified),
        "moved": len(moved),
        "deleted": len(deleted),
    }
    assert (rescanned["files"], rescanned["dirs"], rescanned["bytes"]) == (
        st["files"],
        st["dirs"],
        st["bytes"],
    )

    items = assert_index_matches_disk(sd, root, after)
    check_stats(sd, after, kinds_of(items))
    check_duplicates(sd, after)
    assert items[f"{root}/code/config.py"]["kind"] == "code"  # as a fresh index would say
    queries = [
        ("report-2024.final",),
        ("report-2024.v2",),
        ("leaf",),
        ("leaf", "--under", f"{root}/code"),
        ("leaf", "--under", f"{root}/docs"),
        ("level3/leaf",),
        ("deep leaf",),
        ("deep/leaf",),
        ("large",),
    ]
    results = dict(zip(queries, parallel(lambda q: search(sd, *q), queries)))
    assert paths(("report-2024.final",)) == []
    assert paths(("report-2024.v2",)) == [f"{root}/docs/report-2024.v2.txt"]
    assert paths(("leaf",)) == [f"{root}/code/deep/nested/level3/leaf.txt"]
    assert paths(("leaf", "--under", f"{root}/code")) == [
        f"{root}/code/deep/nested/level3/leaf.txt"
    ]
    assert paths(("leaf", "--under", f"{root}/docs")) == []
    # A fragment with "/" is found as written; words are found anywhere in the path.
    assert paths(("level3/leaf",)) == [f"{root}/code/deep/nested/level3/leaf.txt"]
    assert paths(("deep leaf",)) == [f"{root}/code/deep/nested/level3/leaf.txt"]
    assert paths(("deep/leaf",)) == []
    for term in ("large",):
        names_first(paths((term,)), after, term)
    # The docs folder no longer holds deep: ls from the index agrees.
    assert "deep" not in [i["name"] for i in sd.json("ls", f"{root}/docs")]
    assert sd.fails("ls", f"{root}/docs/deep").err.strip().count("\n") == 0

    # -- the read model is a pure function of the log ----------------------------------------------
    digests = sd.json("projections", "digest")
    digest, files_digest = digests["digest"], digests["read_models"]["files"]
    rebuilt = sd.json("projections", "rebuild")
    assert rebuilt["digest"] == digest
    assert sd.json("projections", "digest")["digest"] == digest
    check_stats(sd, after, kinds_of(items))  # the rebuilt index, read back

    # -- nothing changed: nothing to say ------------------------------------------------------------
    log_mid = entry_event_counts(sd.json("log", "stats"))
    assert log_mid != log_before
    again = sd.json("location", "rescan", added["id"])
    assert {k: again[k] for k in ("created", "modified", "moved", "deleted")} == dict.fromkeys(
        ("created", "modified", "moved", "deleted"), 0
    )
    # Adding the same folder again rescans it: same location, nothing new.
    readd = sd.json("location", "add", root)
    assert readd["id"] == added["id"]
    assert (readd["created"], readd["modified"], readd["moved"], readd["deleted"]) == (0, 0, 0, 0)
    assert (readd["files"], readd["dirs"]) == (st["files"], st["dirs"])
    assert len(sd.json("location", "list")) == 1
    assert entry_event_counts(sd.json("log", "stats")) == log_mid
    # The files read model is as it was (the audit trail and the jobs grew: two more actions).
    assert sd.json("projections", "digest")["read_models"]["files"] == files_digest
    assert sd.json("log", "verify")["ok"] is True

    # -- remove: the entries leave the index, the files stay ------------------------------------------
    removed = sd.json("location", "remove", root)
    assert removed["removed"] is True
    assert sd.json("location", "list") == []
    emptied = sd.json("stats")
    assert (emptied["files"], emptied["dirs"], emptied["by_kind"]) == (0, 0, {})
    assert sd.json("search", "photo") == []
    assert sd.json("duplicates") == []
    assert "not in the index" in sd.fails("ls", root).err
    assert disk_entries(root).keys() == after.keys()
    assert sd.json("projections", "rebuild")["digest"] == sd.json("projections", "digest")["digest"]
    assert "no location" in sd.fails("location", "rescan", added["id"]).err


# -- content identity ------------------------------------------------------------------------------------


def test_content_ids_follow_the_spacedrive_formula(sd: Sd, tmp_path: Path) -> None:
    root_path = tmp_path / "cids"
    sizes = {
        "one-byte.bin": 1,
        "small.txt": 1000,
        "just-under.bin": 100 * KIB - 1,
        "exact-100k.bin": 100 * KIB,
        "plus-one.bin": 100 * KIB + 1,
        "seventeen-k.bin": 100 * KIB + 16 * KIB + 3,
        "large.bin": 5 * 1024 * KIB + 3,
        "odd.bin": 1_234_567,
    }
    blobs = {name: random_bytes(size, seed=size) for name, size in sizes.items()}
    for name, data in blobs.items():
        write(root_path, name, data)
    write(root_path, "empty.bin", b"")
    # Two large files that differ only in a byte no sample covers share an id (that is the
    # design: about 56 KiB read whatever the size); one differing inside a sample does not.
    big = bytearray(blobs["large.bin"])
    unsampled = 8 * KIB + 10 * KIB + 100  # just past the first sample
    big[unsampled] ^= 0xFF
    write(root_path, "large-unsampled-diff.bin", bytes(big))
    big = bytearray(blobs["large.bin"])
    step = (len(big) - 16 * KIB) // 4
    big[8 * KIB + 2 * step + 5] ^= 0xFF  # inside the third sample
    write(root_path, "large-sampled-diff.bin", bytes(big))
    small = bytearray(blobs["exact-100k.bin"])
    small[50 * KIB] ^= 0xFF  # a small file is hashed whole
    write(root_path, "exact-100k-diff.bin", bytes(small))

    sd.run("library", "create", "Home")
    root = os.path.realpath(root_path)
    sd.json("location", "add", root)
    listed = {i["name"]: i for i in sd.json("ls", root)}

    expected: dict[str, str | None] = {}
    for name in listed:
        expected[name] = spacedrive_cid((root_path / name).read_bytes())
    for name, item in listed.items():
        want = expected[name]
        assert item["content_id"] == (want[:16] if want else None), name
    assert listed["empty.bin"]["content_id"] is None
    assert listed["large-unsampled-diff.bin"]["content_id"] == listed["large.bin"]["content_id"]
    assert listed["large-sampled-diff.bin"]["content_id"] != listed["large.bin"]["content_id"]
    assert listed["exact-100k-diff.bin"]["content_id"] != listed["exact-100k.bin"]["content_id"]
    groups = sd.json("duplicates")
    assert [
        (g["count"], g["size"], sorted(p.rsplit("/", 1)[1] for p in g["paths"])) for g in groups
    ] == [(2, len(blobs["large.bin"]), ["large-unsampled-diff.bin", "large.bin"])]

    # The log keeps the whole 32-byte hash; the 16 characters shown are its prefix.
    full = {}
    for line in sd.run("--json", "log", "show", "--type", "entries.indexed").json_lines():
        for item in line["body"]["entries"]:
            name, cid = bytes.fromhex(item[2]).decode(), item[8]
            full[name] = cid
    for name, want in expected.items():
        assert full[name] == want, name


# -- rules ----------------------------------------------------------------------------------------------

RULES_TREE = {
    "README.md": "top\n",
    ".hidden.txt": "hidden\n",
    ".config/app.toml": "a = 1\n",
    ".DS_Store": b"\x00\x00\x00\x01Bud1",
    "Thumbs.db": b"\xd0\xcf\x11\xe0",
    "photos/._photo.jpg": b"\x00\x05\x16\x07",
    "photos/photo.jpg": jpeg_bytes(),
    "a.tmp": "scratch\n",
    "tmp/scratch.tmp": "scratch\n",
    "tmp/keep.txt": "kept\n",
    "repo/.git/HEAD": "ref: refs/heads/main\n",
    "repo/.git/config": "[core]\n",
    "repo/.git/objects/ab/cdef0123": b"x\x01blob",
    "repo/.gitignore": "*.log\nbuild/\n!keep.log\n",
    "repo/app.log": "log\n",
    "repo/keep.log": "kept by negation\n",
    "repo/build/out.o": b"\x7fELF",
    "repo/src/main.py": "print(1)\n",
    "repo/src/debug.log": "debug\n",
    "repo/src/.gitignore": "secret.txt\n",
    "repo/src/secret.txt": "secret\n",
    "repo/other/secret.txt": "not ignored here\n",
    "notrepo/.gitignore": "*.log\n",
    "notrepo/kept.log": "no .git above: .gitignore means nothing\n",
    "node_modules/pkg/index.js": "module.exports = 1\n",
    "web/node_modules/x/y.js": "1\n",
    "web/app.js": "app()\n",
    "__pycache__/m.cpython-311.pyc": b"\xa7\r\r\n",
    "rust/Cargo.toml": "[package]\nname = 'x'\n",
    "rust/target/debug/app": b"\x7fELF",
    "rust/src/main.rs": "fn main() {}\n",
    "notrust/target/output.txt": "no Cargo.toml beside: an ordinary folder\n",
    "pyenv/.venv/pyvenv.cfg": "home = /usr/bin\n",
    "pyenv/.venv/lib/x.py": "x = 1\n",
    "notvenv/venv/readme.txt": "no pyvenv.cfg: an ordinary folder\n",
}
DEFAULT_SKIPPED = {
    ".DS_Store",
    "Thumbs.db",
    "photos/._photo.jpg",
    "node_modules",
    "web/node_modules",
    "__pycache__",
    "rust/target",
    "pyenv/.venv",
    "repo/.git",
    "repo/app.log",
    "repo/build",
    "repo/src/debug.log",
    "repo/src/secret.txt",
}
HIDDEN = {".hidden.txt", ".config", "repo/.gitignore", "repo/src/.gitignore", "notrepo/.gitignore"}
EXCLUDED = {"a.tmp", "tmp/scratch.tmp", "web"}
GITIGNORED = {"repo/app.log", "repo/build", "repo/src/debug.log", "repo/src/secret.txt"}


def expected_under(
    entries: dict[str, DiskEntry], root: str, skipped: set[str]
) -> dict[str, DiskEntry]:
    """The disk's entries without the skipped ones (relative paths) and what is under them."""
    tops = [f"{root}/{s}" for s in skipped]
    return {
        p: e for p, e in entries.items() if not any(p == t or p.startswith(t + "/") for t in tops)
    }


@pytest.mark.slow
def test_rules_default_and_changed(sd: Sd, tmp_path: Path) -> None:
    root_path = tmp_path / "rules"
    for rel, data in RULES_TREE.items():
        write(root_path, rel, data)
    root = os.path.realpath(root_path)
    disk = disk_entries(root)
    sd.run("library", "create", "Home")

    def index_is(skipped: set[str]) -> dict[str, DiskEntry]:
        want = expected_under(disk, root, skipped)
        st, w = sd.json("stats"), disk_stats(want)
        assert (st["files"], st["dirs"], st["bytes"]) == (w["files"], w["dirs"], w["bytes"]), (
            skipped
        )
        return want

    added = sd.json("location", "add", root)
    want = index_is(DEFAULT_SKIPPED)
    assert added["created"] == len(want) and added["errors"] == 0
    assert_index_matches_disk(sd, root, want)
    assert sd.json("search", "cdef0123") == [] and sd.json("search", "HEAD") == []

    # Rules change at the next rescan, not before.
    changed = sd.json(
        "location", "rules", root, "--no-hidden", "--exclude", "*.tmp", "--exclude", "web/"
    )
    assert changed["changed"] is True
    assert changed["rules"]["skip_hidden"] is True
    assert changed["rules"]["exclude"] == ["*.tmp", "web/"]
    assert [loc["rules"] for loc in sd.json("location", "list")] == [changed["rules"]]
    index_is(DEFAULT_SKIPPED)
    assert sd.json("location", "rules", root, "--no-hidden")["changed"] is False

    rescanned = sd.json("location", "rescan", root)
    narrower = index_is(DEFAULT_SKIPPED | HIDDEN | EXCLUDED)
    assert (rescanned["created"], rescanned["modified"], rescanned["moved"]) == (0, 0, 0)
    assert rescanned["deleted"] == len(want) - len(narrower)
    names = {i["name"] for i in sd.json("ls", root)}
    assert names == {
        "README.md",
        "photos",
        "tmp",
        "repo",
        "notrepo",
        "rust",
        "notrust",
        "pyenv",
        "notvenv",
    }
    assert {i["name"] for i in sd.json("ls", f"{root}/repo")} == {"keep.log", "src", "other"}
    assert sd.json("search", "hidden") == [] and sd.json("search", ".tmp") == []

    # Widen again: hidden files back, no excludes, .gitignore no longer honoured.
    changed = sd.json("location", "rules", root, "--hidden", "--clear-excludes", "--no-gitignore")
    assert changed["rules"]["exclude"] == [] and changed["rules"]["gitignore"] is False
    rescanned = sd.json("location", "rescan", root)
    wider = index_is(DEFAULT_SKIPPED - GITIGNORED)
    assert (rescanned["modified"], rescanned["moved"], rescanned["deleted"]) == (0, 0, 0)
    assert rescanned["created"] == len(wider) - len(narrower)
    assert {i["name"] for i in sd.json("ls", f"{root}/repo")} == {
        ".gitignore",
        "app.log",
        "keep.log",
        "build",
        "src",
        "other",
    }
    assert {i["name"] for i in sd.json("ls", f"{root}/repo/src")} == {
        ".gitignore",
        "debug.log",
        "secret.txt",
        "main.py",
    }
    assert [i["name"] for i in sd.json("ls", f"{root}/repo/build")] == ["out.o"]
    # A rescan with nothing changed says so.
    again = sd.json("location", "rescan", root)
    assert (again["created"], again["modified"], again["moved"], again["deleted"]) == (0, 0, 0, 0)


def test_rules_given_when_adding(sd: Sd, tmp_path: Path) -> None:
    root_path = tmp_path / "rules"
    for rel, data in RULES_TREE.items():
        write(root_path, rel, data)
    root = os.path.realpath(root_path)
    sd.run("library", "create", "Home")
    added = sd.json("location", "add", root, "--no-hidden", "--exclude", "tmp/", "--dev")
    want = expected_under(
        disk_entries(root),
        root,
        (DEFAULT_SKIPPED | HIDDEN | {"tmp"})
        - {"node_modules", "web/node_modules", "__pycache__", "rust/target", "pyenv/.venv"},
    )
    # --no-hidden also hides the dev folders' hidden names (pyenv/.venv).
    want = expected_under(want, root, {"pyenv/.venv"})
    w = disk_stats(want)
    assert (added["files"], added["dirs"], added["created"]) == (w["files"], w["dirs"], len(want))
    st = sd.json("stats")
    assert (st["files"], st["dirs"], st["bytes"]) == (w["files"], w["dirs"], w["bytes"])
    assert {i["name"] for i in sd.json("ls", root)} == {
        "README.md",
        "a.tmp",
        "photos",
        "repo",
        "notrepo",
        "node_modules",
        "web",
        "__pycache__",
        "rust",
        "notrust",
        "pyenv",
        "notvenv",
    }
    assert [i["name"] for i in sd.json("ls", f"{root}/rust/target/debug")] == ["app"]


def test_no_wait_returns_at_once_and_indexes_in_the_background(sd: Sd, tmp_path: Path) -> None:
    """--no-wait gives the location back at once; a background process indexes it, and the
    index reaches the disk's state without anything else being run."""
    root = tmp_path / "tree"
    for i in range(300):
        write(root, f"d{i % 7}/file-{i}.txt", f"content {i}\n")
    sd.run("library", "create", "Home")
    added = sd.json("location", "add", str(root), "--no-wait")
    assert added["path"] == os.path.realpath(root) and added["background_pid"] > 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log = sd.json("log", "stats")["by_type"]
        if log.get("job.completed"):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the background index never completed")
    assert sd.json("stats")["files"] == 300
    assert sd.json("location", "rescan", str(root))["created"] == 0


@pytest.mark.hostile("M11")
def test_hard_links_and_bind_mounts_are_one_file_not_duplicates(sd: Sd, tmp_path: Path) -> None:
    """A file seen under several paths (hard links; a folder bind-mounted elsewhere, in the
    same location or another) is one file: never a duplicate, never waste to free. Deleting
    one of its paths would not free a byte, and deleting what it points to would lose it."""
    report = pdf_bytes() + b"the only copy" * 100
    tree = tmp_path / "tree"
    write(tree, "docs/report.pdf", report)
    os.link(tree / "docs/report.pdf", tree / "docs/report-link.pdf")
    write(tree, "docs/linked-only.txt", "one file, two names\n")
    os.link(tree / "docs/linked-only.txt", tree / "linked-only-too.txt")
    write(tree, "copies/report.pdf", report)  # a real second copy: that one is waste
    (tree / "view").mkdir()
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    bind_mount(tree / "docs", tree / "view")
    try:
        bind_mount(tree / "docs", mirror)
        try:
            sd.run("library", "create", "Home")
            sd.json("location", "add", str(tree))
            sd.json("location", "add", str(mirror))
            root, other = os.path.realpath(tree), os.path.realpath(mirror)
            # The disk's own answer: one group, two files (by device and inode).
            assert disk_duplicates({**disk_entries(root), **disk_entries(other)}) == [
                {
                    "content_id": shown(spacedrive_cid(report)),
                    "size": len(report),
                    "count": 2,
                    "waste": len(report),
                    "paths": [f"{other}/report-link.pdf", f"{root}/copies/report.pdf"],
                    "same_file": {
                        f"{other}/report-link.pdf": [
                            f"{other}/report.pdf",
                            f"{root}/docs/report-link.pdf",
                            f"{root}/docs/report.pdf",
                            f"{root}/view/report-link.pdf",
                            f"{root}/view/report.pdf",
                        ]
                    },
                }
            ]
            check_duplicates(sd, {**disk_entries(root), **disk_entries(other)})
            text = sd.run("duplicates").out
            assert text.count("same file as the one above:") == 5
            assert text.splitlines()[-1].startswith("1 groups, ")
            # Nothing changed on disk: a rescan finds nothing to say.
            for where in (root, other):
                again = sd.json("location", "rescan", where)
                assert [again[k] for k in ("created", "modified", "moved", "deleted")] == [0] * 4
        finally:
            unmount(mirror)
    finally:
        unmount(tree / "view")


@pytest.fixture
def ext4_image(tmp_path: Path) -> Iterator[Callable[[Path], None]]:
    """Mounts one ext4 image, each time through a loop device of its own: the same files
    and inodes on a volume the system numbers otherwise (``st_dev``), as after a reboot."""
    image = tmp_path / "disk.img"
    with open(image, "wb") as fh:
        fh.truncate(16 << 20)
    made = subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"no ext4 image here: {made.stderr.strip()}")
    loops: list[str] = []
    mounted: list[Path] = []

    def mount(where: Path) -> None:
        if mounted:
            subprocess.run(["umount", str(mounted.pop())], check=True)
        # The devices attached before stay attached: the next one is another.
        loop = subprocess.run(
            ["losetup", "-f", "--show", str(image)], capture_output=True, text=True
        )
        if loop.returncode != 0:
            pytest.skip(f"loop devices are not permitted here: {loop.stderr.strip()}")
        loops.append(loop.stdout.strip())
        subprocess.run(["mount", loops[-1], str(where)], check=True, capture_output=True)
        mounted.append(where)

    try:
        yield mount
    finally:
        for where in mounted:
            subprocess.run(["umount", str(where)], capture_output=True)
        for loop in loops:
            subprocess.run(["losetup", "-d", loop], capture_output=True)


def test_a_volume_numbered_otherwise_is_recorded_not_reindexed(
    sd: Sd, tmp_path: Path, ext4_image: Callable[[Path], None]
) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    ext4_image(disk)
    write(disk, "docs/a.txt", "alpha\n")
    write(disk, "docs/b.txt", "alpha\n")  # a copy
    os.link(disk / "docs/a.txt", disk / "a-link.txt")  # the same file
    shutil.rmtree(disk / "lost+found")
    sd.run("library", "create", "Home")
    sd.json("location", "add", str(disk))
    before = sd.json("duplicates")
    assert [(g["count"], len(g["same_file"])) for g in before] == [(2, 1)]
    first_dev = os.stat(disk).st_dev
    ext4_image(disk)
    assert os.stat(disk).st_dev != first_dev and (disk / "docs/a.txt").exists()
    # Every entry is the one it was: its new volume number is recorded, nothing else.
    again = sd.json("location", "rescan", str(disk))
    changes = [again[k] for k in ("created", "modified", "moved", "deleted")]
    assert changes == [0, 4, 0, 0]  # docs, a.txt, b.txt, a-link.txt
    assert sd.json("duplicates") == before
    again = sd.json("location", "rescan", str(disk))
    assert [again[k] for k in ("created", "modified", "moved", "deleted")] == [0, 0, 0, 0]
    assert_index_matches_disk(sd, str(disk), disk_entries(disk))
