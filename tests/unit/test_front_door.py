"""The front door reads a command line as click reads it, or leaves it to click.

Command lines are drawn from the words these commands take (and words they do not); for each
one the door takes, click must take it too, to the same command with the same values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdactors.cli import front, reads
from sdactors.cli.context import CliContext
from sdactors.cli.group import cli
from tests.conftest import examples

HERE = str(Path(__file__).resolve().parent)  # a readable folder
A_FILE = str(Path(__file__).resolve())
WORDS = [
    *("search", "ls", "stats", "node", "status", "duplicates", "tag"),
    *("--json", "--json=1", "--", "-", "", "-h", "--help", "-v", "-x", "--bogus"),
    *("--data-dir", f"--data-dir={HERE}", HERE, A_FILE, "/no/such/dir", "--data-dir="),
    *("--library", "-l", "-lHome", "--library=Home", "-l=Home", "Home", "--at", "--at=3"),
    *("--kind", "--kind=image", "text", "image", "Image", "nope"),
    *("--ext", "--ext=", "pdf", "--under", "--under=/tmp", "/tmp", "report"),
    *("--limit", "5", "0", "10000", "10001", "+3", " 7", "1_0", "--limit=7", "--limit="),
    *("--taken", "--taken=2024", "2024-07", "--camera", "--camera=Canon", "canon"),
    *("--min-width", "--min-width=3000", "3000", "--min-height", "--min-height=0", "2147483649"),
    *("--sort", "--sort=taken", "taken", "size", "Taken", "--reverse", "--reverse=1"),
    *("--tag", "--tag=Work", "--tag=", "Work", "--favourite", "--favourite=1", "--fav"),
]
WORD = st.sampled_from(WORDS)
# An option as these commands take it (or nearly), with a value.
VALUE = st.sampled_from(
    ["Home", "text", "image", "5", "10000", "/tmp", "-x", "--json", "", "taken", "2024-07"]
)
OPTION = st.one_of(
    st.tuples(
        st.sampled_from(["--kind", "--ext", "--under", "--limit", "--at", "-l", "--tag"]), VALUE
    ),
    st.tuples(st.sampled_from(["--taken", "--min-width", "--min-height", "--camera"]), VALUE),
    st.tuples(st.just("--sort"), VALUE),
    st.tuples(st.sampled_from(["--library=", "--limit=", "--kind=", "--at=", "--tag="]), VALUE).map(
        lambda pair: ("".join(pair),)
    ),
    st.tuples(st.sampled_from(["--min-width=", "--sort=", "--taken="]), VALUE).map(
        lambda pair: ("".join(pair),)
    ),
    st.just(("--json",)),
    st.just(("--reverse",)),
    st.just(("--favourite",)),
    st.tuples(st.sampled_from(["report", "-", "--", "x y"])),
)
LINE = st.one_of(
    st.lists(WORD, max_size=8),
    st.tuples(
        st.sampled_from([[], ["--json"], ["--data-dir", HERE], [f"--data-dir={HERE}", "--json"]]),
        st.sampled_from([["search"], ["ls"], ["stats"], ["node", "status"]]),
        st.lists(st.one_of(OPTION, OPTION, OPTION, st.tuples(WORD)), max_size=4),
    ).map(lambda parts: [*parts[0], *parts[1], *(w for option in parts[2] for w in option)]),
)


def click_reads(args: list[str]) -> tuple[Any, ...] | None:
    """What click makes of ``args``: (data dir, JSON or not, command, its values); None if it
    refuses them (or they ask for help)."""
    try:
        group = cli.make_context("sd", list(args), resilient_parsing=False)
        context = CliContext(group.params["data_dir"] or Path("default"), group.params["as_json"])
        group.obj = context
        words = [*group._protected_args, *group.args]
        name, command, rest = cli.resolve_command(group, words)
        parent = group
        if isinstance(command, click.Group):
            sub = command.make_context(name, rest, parent=group)
            name, command, rest = command.resolve_command(sub, [*sub._protected_args, *sub.args])
            parent = sub
        assert command is not None
        leaf = command.make_context(name, rest, parent=parent)
    except (click.exceptions.Exit, click.ClickException):
        return None
    data_dir = group.params["data_dir"]
    return (
        None if data_dir is None else str(data_dir),
        context.out.as_json,
        command.callback.__wrapped__.__name__ if command.callback else None,
        leaf.params,
    )


def door_reads(args: list[str]) -> tuple[Any, ...] | None:
    asked = front.parse(args)
    if asked is None:
        return None
    name = {reads.ls: "ls", reads.search: "search_", reads.stats: "stats"}
    return (
        asked.data_dir,
        asked.as_json,
        name.get(asked.grammar.run, "status"),
        asked.values,
    )


@settings(max_examples=examples(1500), deadline=None)
@given(LINE)
def test_what_the_door_takes_click_takes_the_same_way(args: list[str]) -> None:
    door = door_reads(args)
    if door is not None:
        assert door == click_reads(args), args


@pytest.mark.parametrize(
    "args",
    [
        ["search", "report"],
        ["--json", "search", "--kind", "text", "--ext=pdf", "-l", "Home", "--", "-x"],
        ["search", "x", "--limit", "10000", "--under", "/tmp", "--json", "--at", "3"],
        ["--data-dir", HERE, "ls", "/tmp", "--library=Home"],
        ["ls"],
        ["stats", "--at=3", "--json"],
        ["node", "status", "--json"],
        ["search", "--library", "--json", "x"],  # click takes the word after as the value
        ["search", "--taken", "2024-07"],
        ["search", "x", "--sort", "taken", "--reverse", "--min-width", "3000", "--camera", "eos"],
        ["search", "--min-height=10", "--sort=taken", "--camera=Canon EOS", "--json"],
        ["search"],  # no query: the command says what it needs, whichever way it came
        ["search", "--tag", "Work"],
        ["search", "--favourite", "--tag=a", "--tag", "b c", "x", "--json", "--taken", "2024"],
        ["--json", "search", "--favourite", "--limit", "3"],
        ["search", "--tag", "--favourite"],  # a tag named "--favourite", and no query
    ],
)
def test_the_door_takes_the_usual_lines(args: list[str]) -> None:
    """The property above must not hold by the door taking nothing."""
    assert door_reads(args) is not None
    assert door_reads(args) == click_reads(args)


@pytest.mark.parametrize(
    "args",
    [
        ["search", "a", "b"],
        ["search", "x", "--sort", "size"],
        ["search", "x", "--min-width", "0"],
        ["search", "x", "--min-height", "+3"],
        ["search", "--reverse=1", "x"],
        ["search", "x", "--kind", "nope"],
        ["search", "x", "--limit", "0"],
        ["search", "x", "--limit", "+3"],
        ["search", "x", "-h"],
        ["ls", "--help"],
        ["-v", "stats"],
        ["--data-dir", A_FILE, "stats"],
        ["stats", "--library"],
        ["stats", "-lHome"],
        ["node", "status", "extra"],
        ["duplicates"],
        ["search", "--favourite=1"],
        ["search", "--fav"],
        ["search", "--tag"],
    ],
)
def test_the_door_leaves_to_click_what_it_does_not_know(args: list[str]) -> None:
    assert door_reads(args) is None
