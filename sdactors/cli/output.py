"""How the CLI speaks: JSON for programs (``--json``), rich tables and lines for people.

Everything ``sd`` prints for people goes through ``Output``, which shows control characters
escaped: a file name cannot move the cursor, recolour or clear the screen, or fake a line of
output. JSON keeps every character (as JSON escapes).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import msgpack

from sdactors.runtime.units import human_span

if TYPE_CHECKING:
    from rich.console import Console


def jsonable(value: Any) -> Any:
    """Event bodies hold bytes and tuples; JSON gets hex strings and arrays."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, msgpack.Timestamp):
        # msgpack's timestamp extension, e.g. in an event of a type this version does not know.
        return value.to_unix_nano()
    return value


# A byte of a name that is not UTF-8 comes as a lone surrogate, U+DC80 to U+DCFF
# (``sdactors.runtime.paths.text``): people see it as \xNN, JSON as the escape \udcNN.
_BYTES = range(0xDC80, 0xDD00)
# Characters that str.splitlines() and some terminals treat as line breaks: escaped in JSON so
# one JSON value is always one line, whatever names it holds; and those bytes.
_JSON_ESCAPES = str.maketrans(
    {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
    | {code: f"\\u{code:04x}" for code in _BYTES}
)


def _escaped(code: int) -> str:
    named = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}.get(code)
    return named or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


# What a terminal acts on instead of showing (C0 and C1 controls, DEL) or takes for a line
# break (U+2028, U+2029), each shown as the escape a programmer would type for it.
_CONTROLS = str.maketrans(
    {code: _escaped(code) for code in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)}
    | {code: f"\\x{code - 0xDC00:02x}" for code in _BYTES}
)


def for_terminal(text: str) -> str:
    return text.translate(_CONTROLS)


def clock_note(ahead: int | None) -> str:
    """What a device's row says of a clock that runs ahead of this device's (or nothing)."""
    return f"clock ahead by {human_span(ahead)}" if ahead else ""


def offline_mark(offline: bool) -> str:
    """What follows a path whose location is offline: it is shown as last indexed."""
    return "  [offline]" if offline else ""


def dumps(value: Any) -> str:
    return json.dumps(jsonable(value), ensure_ascii=False).translate(_JSON_ESCAPES)


class Output:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self._console: Console | None = None
        self._err: Console | None = None

    # rich is imported on first use: output for programs (--json) never needs it.
    @property
    def console(self) -> "Console":
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
        return self._console

    @property
    def err(self) -> "Console":
        if self._err is None:
            from rich.console import Console

            self._err = Console(
                stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False
            )
        return self._err

    def json(self, value: Any) -> None:
        sys.stdout.write(dumps(value) + "\n")

    def json_lines(self, values: Iterable[Any]) -> None:
        write = sys.stdout.write
        for value in values:
            write(dumps(value) + "\n")
        sys.stdout.flush()

    def line(self, text: str) -> None:
        self.console.print(for_terminal(text))

    def flush(self) -> None:
        """Out now, not when a buffer fills: a reader following a stream sees each line."""
        if self._console is not None:
            self._console.file.flush()
        sys.stdout.flush()

    def raw(self, text: str) -> None:
        """Text this program made whole (a unit file): printed as it is, line breaks kept."""
        sys.stdout.write(text)
        sys.stdout.flush()

    def table(self, columns: Sequence[str], rows: Iterable[Sequence[Any]], empty: str) -> None:
        rows = list(rows)
        if not rows:
            self.line(empty)
            return
        from rich.table import Table

        table = Table(show_edge=False, box=None, pad_edge=False, header_style="bold")
        for column in columns:
            table.add_column(column, overflow="fold")
        cells = [["" if v is None else for_terminal(str(v)) for v in row] for row in rows]
        for row in cells:
            table.add_row(*row)
        if self.console.is_terminal:
            self.console.print(table)
            return
        # Into a pipe or a file: whole lines, never folded at 80 columns (a script reading
        # paths must not find them cut in two).
        widest = [max(len(c) for c in column) for column in zip(columns, *cells)]
        self.console.width = max(sum(widest) + 2 * len(widest), 80)
        self.console.print(table)

    def result(self, value: Any, text: str) -> None:
        """One result: the object under --json, a sentence otherwise."""
        if self.as_json:
            self.json(value)
        else:
            self.line(text)

    def error(self, message: str) -> None:
        if self.as_json:
            self.json({"error": message})
        self.err.print(f"sd: error: {for_terminal(message)}")
