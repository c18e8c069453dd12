"""What ``sd`` prints for people shows control characters escaped: a file name cannot send a
terminal an escape sequence or fake a line; ``--json`` gives every name exactly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Sd

# Names with an ESC sequence (recolour, clear the screen), a newline, a tab, a carriage
# return, DEL, a C1 control and a Unicode line separator; each shown as its escape.
NAMES = {
    "red\x1b[31mtext": "red\\x1b[31mtext",
    "clear\x1b[2J": "clear\\x1b[2J",
    "two\nlines": "two\\nlines",
    "a\ttab": "a\\ttab",
    "back\rover": "back\\rover",
    "del\x7fete": "del\\x7fete",
    "c1\x9bcsi": "c1\\x9bcsi",
    "line\u2028sep": "line\\u2028sep",
}
RAW = ["\x1b", "\x07", "\n", "\t", "\r", "\x7f", "\x9b", "\u2028"]
# The folder, a location named after it, holds an escape sequence too.
FOLDER = "loc\x1b]0;title\x07"
FOLDER_SHOWN = "loc\\x1b]0;title\\x07"


@pytest.fixture
def indexed(sd: Sd, tmp_path: Path) -> tuple[Sd, Path]:
    folder = tmp_path / FOLDER
    folder.mkdir()
    sd.env["COLUMNS"] = "1000"  # a table row per line, however long its paths
    for name in NAMES:
        (folder / f"{name}.txt").write_text("x")
    sd.run("library", "create", "Home")
    added = sd.run("location", "add", str(folder))
    assert_escaped(added.out, lines=1)
    assert FOLDER_SHOWN in added.out
    return sd, folder


def assert_escaped(text: str, lines: int) -> None:
    """``lines`` lines, none holding a raw control character."""
    body = text.removesuffix("\n")
    assert len(body.split("\n")) == lines, body.split("\n")
    for raw in RAW:
        assert raw not in body.replace("\n", ""), (raw, body)


def test_ls_and_search_escape_names(indexed: tuple[Sd, Path]) -> None:
    sd, folder = indexed
    listing = sd.run("ls", str(folder)).out
    assert_escaped(listing, lines=1 + len(NAMES))  # a header and one line per file
    for shown in NAMES.values():
        assert f"{shown}.txt" in listing
    found = sd.run("search", ".txt").out
    assert_escaped(found, lines=1 + len(NAMES))
    for shown in NAMES.values():
        assert f"{FOLDER_SHOWN}/{shown}.txt" in found
    # JSON is exact.
    assert sorted(i["name"] for i in sd.json("ls", str(folder))) == sorted(
        f"{n}.txt" for n in NAMES
    )
    assert sorted(h["path"] for h in sd.json("search", ".txt")) == sorted(
        os.path.join(os.path.realpath(folder), f"{n}.txt") for n in NAMES
    )


def test_locations_and_errors_escape_names(indexed: tuple[Sd, Path]) -> None:
    sd, folder = indexed
    for args in (["ls"], ["location", "list"]):
        out = sd.run(*args).out
        assert_escaped(out, lines=2)
        assert FOLDER_SHOWN in out
    assert sd.json("location", "list")[0]["name"] == FOLDER
    missing = sd.fails("ls", str(folder / "gone\x1b[2J"))
    assert_escaped(missing.err, lines=1)
    assert "gone\\x1b[2J" in missing.err
    assert "gone\x1b[2J" in sd.fails("--json", "ls", str(folder / "gone\x1b[2J")).json()["error"]


@pytest.mark.hostile("L4")
def test_json_names_that_are_not_utf8_cannot_pass_for_others(sd: Sd, tmp_path: Path) -> None:
    """``\\xff.bin`` (the byte 0xff) and ``\\\\xff.bin`` (a backslash, an x, two f's) are two
    names: every ``--json`` command gives them apart, the first as Python's os.fsdecode does
    (each byte that is not UTF-8 a lone surrogate, U+DC80..U+DCFF, written ``\\udcff``), which
    os.fsencode turns back into its bytes. People see ``\\xff`` for the byte."""
    root = os.fsencode(tmp_path) + b"/caf\xe9"  # the folder's name is Latin-1: not UTF-8
    odd, plain = b"\xff.bin", b"\\xff.bin"
    os.mkdir(root)
    for name in (odd, plain):
        with open(os.path.join(root, name), "wb") as out:
            out.write(b"same content")
    sd.run("library", "create", "Home")
    sd.run("location", "add", os.fsdecode(root))
    folder = os.fsdecode(root)
    want = {os.fsdecode(odd), os.fsdecode(plain)}
    assert {e["name"] for e in sd.json("ls", folder)} == want
    assert {os.fsencode(e["path"]) for e in sd.json("ls", folder)} == {
        os.path.join(root, odd),
        os.path.join(root, plain),
    }
    assert {os.fsencode(h["path"]) for h in sd.json("search", "xff")} >= {os.path.join(root, plain)}
    (group,) = sd.json("duplicates")
    assert {os.fsencode(p) for p in group["paths"]} == {
        os.path.join(root, odd),
        os.path.join(root, plain),
    }
    (loc,) = sd.json("location", "list")
    assert os.fsencode(loc["path"]) == root
    why = sd.json("why", os.fsdecode(os.path.join(root, odd)))
    assert os.fsencode(why["path"]) == os.path.join(root, odd)
    assert "\\udcff.bin" in sd.run("--json", "ls", folder).out
    # For people: each such byte as \xNN.
    listing = sd.run("ls", folder).out
    assert "\\xff.bin" in listing and "\udcff" not in listing
    assert "caf\\xe9" in sd.run("location", "list").out
