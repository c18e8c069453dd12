"""``--at POS|TIME`` for the read commands (``sd ls``, ``sd search``, ``sd stats``).

The CLI turns what was typed into a position (a command's arguments are plain data, and
"the last event before 14:05" must mean the same whichever process runs the command), tells
the reader it sees the past (``sdactors.cli.reads.travel``), and the command reads the
snapshot of that position (``sdactors.replay.snapshots``) instead of the live index.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def at_option(command: F) -> F:
    """The ``--at`` option: a position of the log, or a time (UTC unless it has an offset)."""
    return click.option(
        "--at",
        "at",
        default=None,
        metavar="POS|TIME",
        help="Show the index as it was after this log position, or after the last event at "
        "or before this time (e.g. 2026-11-30T14:05:00; UTC unless an offset is given).",
    )(command)
