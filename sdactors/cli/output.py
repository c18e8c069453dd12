"""How the CLI speaks: JSON for programs (``--json``), rich tables and lines for people.

Everything ``sd`` prints for people goes through ``Output``, which shows control characters
escaped: a file name cannot move the cursor, recolour or clear the screen, or fake a line of
output. JSON keeps every character (as JSON escapes).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any, Iterable, Sequence, TextIO

from sdactors.runtime.plain import BYTES as _BYTES
from sdactors.runtime.plain import dumps
from sdactors.runtime.units import human_span

if TYPE_CHECKING:
    from rich.console import Console


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


def _as_a_file(stream: TextIO) -> bool:
    """Whether rich would write to ``stream`` as to a file, not a terminal (its own test, the
    variables it obeys included): then what it would write is plain text, known without it.

    Importing rich and building a table costs a read command more than the node takes to
    answer it; a pipe (a script, the benchmarks) gets the same bytes without it."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "0"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force == ""
    try:
        return not stream.isatty()
    except ValueError:  # closed
        return True


def _utf8(stream: TextIO) -> bool:
    """Every string that reaches the stream can be written (rich words the failure its way)."""
    return (getattr(stream, "encoding", None) or "").lower().replace("-", "") == "utf8"


def _plain_table(columns: Sequence[str], cells: list[list[str]]) -> str | None:
    """The table rich prints into a file: each cell left-aligned in its column, columns two
    spaces apart, the header unstyled. None when rich would lay it out otherwise or when
    widths are not plain character counts (a character that is not printable ASCII)."""
    rows = [list(columns), *cells]
    if not all(cell.isascii() and cell.isprintable() for row in rows for cell in row):
        return None
    widths = [max(len(cell) for cell in column) for column in zip(*rows)]
    last = len(widths) - 1
    lines = []
    for row in rows:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(padded) if last else padded[0])
    return "\n".join(lines) + "\n"


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
        if not self._write_plain(sys.stdout, for_terminal(text) + "\n"):
            self.console.print(for_terminal(text))

    def _write_plain(self, stream: TextIO, text: str) -> bool:
        """Write ``text`` as rich would to a file, flushed as it flushes; False if ``stream``
        is a terminal to rich, or cannot take every character (rich prints there)."""
        if not (_as_a_file(stream) and _utf8(stream)):
            return False
        try:
            stream.write(text)
            stream.flush()
        except BrokenPipeError:
            # As rich does: the rest of the output goes nowhere, exit status 1.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(1) from None
        return True

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
        cells = [["" if v is None else for_terminal(str(v)) for v in row] for row in rows]
        plain = _plain_table(columns, cells)
        if plain is not None and self._write_plain(sys.stdout, plain):
            return
        from rich.table import Table

        table = Table(show_edge=False, box=None, pad_edge=False, header_style="bold")
        for column in columns:
            table.add_column(column, overflow="fold")
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
        line = f"sd: error: {for_terminal(message)}"
        if not self._write_plain(sys.stderr, line + "\n"):
            self.err.print(line)
