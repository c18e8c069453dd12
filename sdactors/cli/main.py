"""``sd``: the command line of sdactors.

The reads a running node answers (``sd search``, ``ls``, ``stats``, ``node status``) come in
by the front door (``sdactors.cli.front``), which starts none of click; every other command
line is parsed by click (``sdactors.cli.group``). Global options go before the command
(``sd --json tag list``); ``--json`` is also accepted after it (``sd tag list --json``).
Every error is one line on stderr (and a JSON object with ``error`` on stdout under
``--json``), exit status 1.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from sdactors.cli import front, stops
from sdactors.cli.output import Output
from sdactors.runtime import tuning as runtime
from sdactors.runtime.errors import Interrupted, SdError


def _expected(exc: Exception) -> bool:
    """An error of ours or of the system, reported as its own line (not an internal error).
    What it takes to tell is imported here, on the way out of a failed command: the front
    door's commands never load sqlite3."""
    import sqlite3

    from events.errors import EventsError
    from projections.errors import ProjectionError

    return isinstance(exc, (SdError, EventsError, ProjectionError, OSError, sqlite3.DatabaseError))


def _wants_json(argv: list[str]) -> bool:
    return "--json" in argv


def main(argv: list[str] | None = None) -> None:
    runtime.tune_for_throughput()
    stops.install()
    code, by_the_front_door = _run(list(sys.argv[1:] if argv is None else argv))
    if by_the_front_door:
        _leave(code)
    sys.exit(code)


def run(args: list[str]) -> int:
    """Run one command and return its exit status, every error reported as one line.

    ``main`` is this plus the process's own settings (signals, the collector); the test
    suite calls it directly to run a command without starting an interpreter."""
    return _run(args)[0]


def _run(args: list[str]) -> tuple[int, bool]:
    """The exit status, and whether the front door took the command (click never ran)."""
    out = Output(_wants_json(args))
    by_the_front_door = True
    try:
        code = front.answer(args)
        if code is None:
            by_the_front_door = False
            code = _through_click(args, out)
    except Interrupted as exc:
        out.error(str(exc))
        code = 128 + exc.signum
    except KeyboardInterrupt:
        out.error("interrupted")
        code = 130
    except Exception as exc:  # noqa: BLE001 - the one place an unexpected error is reported
        if _expected(exc):
            out.error(str(exc) or type(exc).__name__)
            code = 1
        elif os.environ.get("SD_DEBUG"):
            raise
        else:
            out.error(
                f"internal error: {type(exc).__name__}: {exc} (set SD_DEBUG=1 for a traceback)"
            )
            code = 1
    return code, by_the_front_door


def _leave(code: int) -> NoReturn:
    """Exit without the interpreter's teardown, which frees every module one by one: a
    sixth of the CPU of a read through the front door. Such a read leaves nothing else to
    close (no log handler, no thread, no exit hook): only the output, flushed here."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        sys.exit(code)  # a closed pipe: Python reports it on the way out, as always
    os._exit(code)


def _through_click(args: list[str], out: Output) -> int:
    import click

    from sdactors.cli.group import cli

    try:
        # Without standalone mode click *returns* the code of a ``click.exceptions.Exit``
        # raised by a command (``sd log verify`` finding problems) instead of raising it.
        code = cli.main(args=args, prog_name="sd", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        out.error("aborted")
        return 1
    except click.ClickException as exc:
        out.error(exc.format_message())
        return 1
    return code if isinstance(code, int) else 0
