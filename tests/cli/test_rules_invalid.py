"""An exclude pattern that cannot be compiled is refused before anything is written; rules
that cannot be compiled but are already in the log (written by an older version, or by hand)
fail a rescan with one clear line, and can be cleared."""

from __future__ import annotations

from pathlib import Path

import pytest

from events.domain.locations import LocationRulesChanged
from sdactors.node.node import Node
from sdactors.ops.locations import list_locations
from tests.conftest import Sd
from tests.helpers_tree import write

# Patterns pathspec's GitIgnoreSpec cannot compile, each with a word of why.
INVALID = [
    ("\\", "escape character found with no next character"),
    ("!", "pattern normalized to nothing"),
    ("[-.-#]", "bad character range"),
]


@pytest.fixture
def home(sd: Sd, tmp_path: Path) -> Sd:
    sd.run("library", "create", "Home")
    write(tmp_path / "docs", "a.txt", "a")
    write(tmp_path / "docs", "skip/b.txt", "b")
    return sd


def assert_refused_unchanged(sd: Sd, args: list[str], pattern: str, why: str) -> None:
    before = sd.json("log", "stats")
    result = sd.fails(*args)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert f"invalid exclude pattern {pattern!r}: {why}" in lines[0]
    error = sd.fails("--json", *args).json()["error"]
    assert f"{pattern!r}" in error and why in error
    assert sd.json("log", "stats") == before


@pytest.mark.parametrize("pattern,why", INVALID)
def test_an_invalid_pattern_is_refused(home: Sd, tmp_path: Path, pattern: str, why: str) -> None:
    docs = str(tmp_path / "docs")
    # With a valid pattern beside it: the invalid one is named, not the first.
    assert_refused_unchanged(
        home, ["location", "add", docs, "--exclude", "*.tmp", "--exclude", pattern], pattern, why
    )
    assert home.json("location", "list") == []

    home.run("location", "add", docs, "--exclude", "skip/")
    rules = home.json("location", "list")[0]["rules"]
    assert rules["exclude"] == ["skip/"]
    assert_refused_unchanged(home, ["location", "rules", docs, "--exclude", pattern], pattern, why)
    assert home.json("location", "list")[0]["rules"] == rules


def test_stored_rules_that_cannot_compile_fail_a_rescan_in_one_line(
    home: Sd, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    home.run("location", "add", str(docs))
    # What an older version let through: rules with an invalid pattern, in the log.
    with Node(home.data_dir) as node:
        lib = node.open_library(None)
        [location] = list_locations(lib)
        bad = {**location.rules.as_dict(), "exclude": ["skip/", "\\"]}
        lib.append_typed(LocationRulesChanged(location.id, bad))
    assert home.json("location", "list")[0]["rules"]["exclude"] == ["skip/", "\\"]

    before = home.json("log", "stats")
    result = home.fails("location", "rescan", str(docs))
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "invalid exclude pattern '\\\\'" in lines[0]
    assert f"sd location rules {docs} --clear-excludes" in lines[0]
    assert home.json("log", "stats") == before  # no job was started for it

    home.run("location", "rules", str(docs), "--clear-excludes", "--exclude", "skip/")
    again = home.json("location", "rescan", str(docs))
    assert again["files"] == 1  # skip/ is skipped again


def test_invalid_lines_of_a_gitignore_are_skipped(home: Sd, tmp_path: Path) -> None:
    """A .gitignore is the user's file: like git, the walk skips the lines it cannot use and
    honours the others."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write(repo, ".gitignore", "".join(f"{p}\n" for p, _ in INVALID) + "ignored.txt\n")
    write(repo, "ignored.txt", "i")
    write(repo, "kept.txt", "k")
    result = home.json("location", "add", str(repo))
    assert result["errors"] == 0
    names = {i["name"] for i in home.json("ls", str(repo))}
    assert names == {".gitignore", "kept.txt"}
