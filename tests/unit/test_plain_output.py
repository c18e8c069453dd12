"""Into a pipe or a file, ``Output`` writes what rich would have written without importing
it (rich costs a read command more than the node takes to answer): byte for byte the same
lines, tables and errors, checked here against rich itself."""

from __future__ import annotations

import io
import sys
from typing import Any, Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdactors.cli import output
from sdactors.cli.output import Output

# Cells as names come: printable ASCII with spaces anywhere (leading, trailing, doubled),
# and now and then what the plain table declines (other scripts, wide characters, controls).
ASCII = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
ANY = st.text(max_size=12)
CELL = st.one_of(ASCII, ASCII, ASCII, ANY, st.none(), st.integers(-(10**6), 10**12))


def printed(write: Callable[[Output], Any], with_rich: bool) -> tuple[str, str]:
    """What ``write`` puts on stdout and stderr, both pipes of UTF-8."""
    saved = sys.stdout, sys.stderr, Output._write_plain
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    sys.stdout, sys.stderr = out, err
    if with_rich:
        Output._write_plain = lambda self, stream, text: False  # type: ignore[method-assign]
    try:
        write(Output(as_json=False))
    finally:
        sys.stdout, sys.stderr, Output._write_plain = saved
    return (
        out.buffer.getvalue().decode(),  # type: ignore[attr-defined]
        err.buffer.getvalue().decode(),  # type: ignore[attr-defined]
    )


def same_as_rich(write: Callable[[Output], Any]) -> tuple[str, str]:
    plain = printed(write, with_rich=False)
    assert plain == printed(write, with_rich=True)
    return plain


@settings(max_examples=300, deadline=None)
@given(
    st.lists(ASCII.filter(bool), min_size=1, max_size=6),
    st.data(),
)
def test_a_table_is_the_one_rich_prints(columns: list[str], data: st.DataObject) -> None:
    rows = data.draw(
        st.lists(st.lists(CELL, min_size=len(columns), max_size=len(columns)), max_size=8)
    )
    same_as_rich(lambda out: out.table(columns, rows, "nothing here"))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_a_line_and_an_error_are_the_ones_rich_prints(text: str) -> None:
    same_as_rich(lambda out: (out.line(text), out.error(text), out.line("after")))


def test_the_plain_table_is_taken_for_ascii_only() -> None:
    """The comparison above must be able to fail: the plain table is what is written for
    ASCII cells, and rich is asked for what the plain one declines."""
    columns, rows = ["name", "size"], [["a  b ", 1], ["c", "2 MB"]]
    assert output._plain_table(columns, [[str(c) for c in r] for r in rows]) == (
        "name   size\na  b   1   \nc      2 MB\n"
    )
    assert same_as_rich(lambda out: out.table(columns, rows, ""))[0].startswith("name   size")
    assert output._plain_table(["name"], [["größe"]]) is None
    assert output._plain_table(["name"], [["\u4e2d\u6587"]]) is None


@pytest.fixture
def a_terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    yield


@pytest.mark.parametrize(
    ("env", "isatty", "as_a_file"),
    [
        ({}, False, True),
        ({}, True, False),
        ({"FORCE_COLOR": "1"}, False, False),
        ({"FORCE_COLOR": ""}, True, True),
        ({"TTY_COMPATIBLE": "0"}, True, True),
        ({"TTY_COMPATIBLE": "1"}, False, False),
        ({"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"}, False, True),
    ],
)
def test_a_terminal_is_told_as_rich_tells_it(
    a_terminal: None,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    isatty: bool,
    as_a_file: bool,
) -> None:
    from rich.console import Console

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    stream = io.StringIO()
    stream.isatty = lambda: isatty  # type: ignore[method-assign]
    assert output._as_a_file(stream) is as_a_file
    assert (not Console(file=stream).is_terminal) is as_a_file
