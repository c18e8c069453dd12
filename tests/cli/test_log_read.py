"""Reading a real log as people debug one: made through ``sd`` (indexing, rescans with moves
and deletions, tags), then read with ``sd log show|tail|history|explain``."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import time
from typing import Any

import pytest

from tests.conftest import Sd
from tests.helpers_tree import write

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A file created, moved into another folder and renamed, modified, moved again with its
    folder, then deleted; each step a rescan."""
    tmp = tmp_path_factory.mktemp("story")
    sd = Sd(tmp / "data")
    tree = tmp / "tree"
    write(tree, "docs/a.txt", "first\n")
    write(tree, "old/b.txt", "b\n")
    sd.json("library", "create", "Home")
    sd.json("location", "add", str(tree))

    def rescan() -> None:
        sd.json("location", "rescan", str(tree))

    (tree / "docs/a.txt").rename(tree / "old/a2.txt")
    rescan()
    (tree / "old/a2.txt").write_text("first\nand more\n")
    rescan()
    (tree / "old").rename(tree / "new")
    rescan()
    (tree / "new/a2.txt").unlink()
    rescan()
    return {"sd": sd, "tree": tree}


def test_history_of_a_moved_then_deleted_file(story: dict[str, Any]) -> None:
    sd, tree = story["sd"], story["tree"]
    life = sd.json("log", "history", str(tree / "new/a2.txt"))
    steps = [(m["what"], m["old_path"], m["path"]) for m in life if m["what"] != "modified"]
    assert steps == [
        ("created", None, str(tree / "docs/a.txt")),
        ("moved", str(tree / "docs/a.txt"), str(tree / "old/a2.txt")),
        ("moved", str(tree / "old/a2.txt"), str(tree / "new/a2.txt")),
        ("deleted", None, str(tree / "new/a2.txt")),
    ]
    sizes = [m["details"]["size"] for m in life if m["what"] == "modified"]
    assert sizes[-1] == len("first\nand more\n")
    # The same life asked by its first path; every step names its device and position.
    assert sd.json("log", "history", str(tree / "docs/a.txt")) == life
    assert all(m["device_name"] and m["pos"] > 0 for m in life)
    text = sd.run("log", "history", str(tree / "new/a2.txt")).out
    assert "docs/a.txt -> " in text and "deleted" in text
    assert (
        "no event of this log ever touched it"
        in sd.run("log", "history", str(tree / "nope.txt")).out
    )


def test_history_of_a_path_held_by_several_entries(tmp_path: Any) -> None:
    """A path deleted then made again (two entries), a file moved into a folder that was
    renamed away and back, and one that was moved away: each life as the log tells it."""
    sd = Sd(tmp_path / "data")
    tree = tmp_path / "tree"
    write(tree, "docs/a.txt", "one\n")
    write(tree, "inbox/b.txt", "b\n")
    write(tree, "docs/c.txt", "c\n")
    sd.json("library", "create", "Home")
    sd.json("location", "add", str(tree))

    def rescan() -> None:
        sd.json("location", "rescan", str(tree))

    (tree / "docs/a.txt").unlink()
    rescan()
    write(tree, "docs/a.txt", "two, longer\n")
    (tree / "inbox/b.txt").rename(tree / "docs/b.txt")
    (tree / "docs/c.txt").rename(tree / "inbox/c.txt")
    rescan()
    (tree / "docs").rename(tree / "papers")
    rescan()
    (tree / "papers").rename(tree / "docs")
    rescan()

    def steps(path: str) -> list[tuple[str, str | None, str]]:
        life = sd.json("log", "history", str(tree / path))
        assert [m["pos"] for m in life] == sorted(m["pos"] for m in life)
        return [(m["what"], m["old_path"], m["path"]) for m in life]

    t = str(tree)
    a_created = [m for m in sd.json("log", "history", f"{t}/docs/a.txt") if m["what"] == "created"]
    assert [m["details"]["size"] for m in a_created] == [4, len("two, longer\n")]
    assert steps("docs/a.txt") == [
        ("created", None, f"{t}/docs/a.txt"),
        ("deleted", None, f"{t}/docs/a.txt"),
        ("created", None, f"{t}/docs/a.txt"),
        ("moved", f"{t}/docs/a.txt", f"{t}/papers/a.txt"),
        ("moved", f"{t}/papers/a.txt", f"{t}/docs/a.txt"),
    ]
    b_life = [
        ("created", None, f"{t}/inbox/b.txt"),
        ("moved", f"{t}/inbox/b.txt", f"{t}/docs/b.txt"),
        ("moved", f"{t}/docs/b.txt", f"{t}/papers/b.txt"),
        ("moved", f"{t}/papers/b.txt", f"{t}/docs/b.txt"),
    ]
    # Asked by any path it had, a file's life is the same.
    assert steps("docs/b.txt") == steps("papers/b.txt") == steps("inbox/b.txt") == b_life
    assert steps("docs/c.txt") == [
        ("created", None, f"{t}/docs/c.txt"),
        ("moved", f"{t}/docs/c.txt", f"{t}/inbox/c.txt"),
    ]
    # The folder itself, by its old name.
    assert [s[0] for s in steps("papers") if s[0] != "modified"] == ["created", "moved", "moved"]


def test_show_renders_filters_and_stays_lossless_in_json(story: dict[str, Any]) -> None:
    sd, tree = story["sd"], story["tree"]
    text = sd.run("log", "show", "--type", "location.added").out
    assert str(tree) in text and "\\x" not in text
    expanded = sd.run("log", "show", "--type", "entries.indexed", "--expand").out
    assert f"+ {tree / 'docs/a.txt'}" in expanded
    # --path: only events touching what is (or was) under that folder.
    under_new = sd.json_lines("log", "show", "--path", str(tree / "new"))
    kinds = [e["type"] for e in under_new]
    assert "entries.deleted" in kinds and "entries.moved" in kinds
    assert all(
        any(str(tree / "new") in (t["path"] or "") or str(tree / "new") in (t["old_path"] or "")
            for t in e["touches"])
        for e in under_new if e["type"].startswith("entries.")
    )  # fmt: skip
    # --json keeps the stored body (bytes as hex); --raw prints it on a line.
    raw = sd.json_lines("log", "show", "--type", "location.added")
    assert raw[0]["body"]["path"] == bytes(str(tree), "utf-8").hex()
    assert bytes(str(tree), "utf-8").hex()[:20] in sd.run("log", "show", "--raw").out
    # Positions and times bound it; a device by its name.
    name = sd.json("device", "list")[0]["name"]
    mine = sd.json_lines("log", "show", "--device", name, "--since", "3", "--until", "5")
    assert [e["pos"] for e in mine] == [4, 5]
    assert sd.json_lines("log", "show", "--since", "2999-01-01T00:00") == []


def test_explain_of_a_move(story: dict[str, Any]) -> None:
    sd = story["sd"]
    moves = sd.json_lines("log", "show", "--type", "entries.moved")
    folder_move = next(m for m in moves if m["body"]["moves"][0][3] == b"new".hex())
    explained = sd.json("log", "explain", str(folder_move["pos"]))
    assert explained["event"]["pos"] == folder_move["pos"]
    files = next(c for c in explained["changes"] if c["projection"] == "files")
    assert files["added"] or files["changed"]
    tags_only = [c["projection"] for c in explained["changes"]]
    assert "tags" not in tags_only
    assert "past the end" in sd.fails("log", "explain", "100000").err


def _lines(proc: subprocess.Popen) -> queue.Queue:
    """Each line the process prints, as it prints it (a thread reads; select() cannot see
    lines already in a reader's buffer)."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.put(json.loads(line))

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_tail_follow_sees_events_of_another_process_and_ends_on_ctrl_c(
    story: dict[str, Any],
) -> None:
    sd = story["sd"]
    last = sd.json_lines("log", "tail", "-n", "1")
    assert len(last) == 1
    follow = sd.popen(
        "--json", "log", "tail", "-n", "0", "--follow", stdout=subprocess.PIPE, text=True
    )
    lines = _lines(follow)
    try:
        time.sleep(1.0)
        started = time.monotonic()
        sd.json("tag", "create", "followed")
        seen: list[dict] = []
        while not any(e["type"] == "tag.created" for e in seen):
            seen.append(lines.get(timeout=10))
        assert time.monotonic() - started < 10
        assert seen[0]["pos"] == last[0]["pos"] + 1
    finally:
        follow.send_signal(signal.SIGINT)
        assert follow.wait(10) == 0


def test_tail_asked_for_more_than_there_are_gives_every_one(sd: Sd) -> None:
    sd.run("library", "create", "Few")
    sd.run("tag", "create", "One")
    sd.run("tag", "create", "Two")
    tags = sd.json_lines("log", "tail", "-n", "3", "--type", "tag.")
    assert [e["body"]["name"] for e in tags] == ["One", "Two"]
    every = sd.json_lines("log", "tail", "-n", "100")
    assert [e["pos"] for e in every] == list(range(1, len(every) + 1))
