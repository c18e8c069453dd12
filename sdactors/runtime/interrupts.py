"""Ctrl-C and SIGTERM reach a command that is inside one long SQLite statement.

Python runs a signal's handler only between the bytecodes of the main thread. A statement
that runs for minutes in SQLite's C code (a ``--when`` query of ``sd log bisect`` that never
ends, a search over a huge snapshot) never gives it that chance, so both signals used to be
ignored until the statement ended, which might be never.

Every connection a command reads through gets :func:`watch`: SQLite calls a small Python
function every ``PROGRESS_STEPS`` steps of its virtual machine; running it lets the
interpreter run the handlers of the signals that arrived meanwhile. The CLI's handlers
:func:`note` the signal and raise, as they always did: raised inside that function, the
exception makes SQLite abandon the statement, which then fails with
``sqlite3.OperationalError("interrupted")``; :func:`raise_if_signalled` turns that back into
the stop the signal asked for (one line, exit 130 or 143). Only the statement running when
the signal came is abandoned: the function itself lets every statement go on, so what the
command does on its way out (a job paused, actors stopped) still reads as it must.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sdactors.runtime.errors import Interrupted

if TYPE_CHECKING:
    import sqlite3  # the CLI's signal handlers import this module: sqlite3 only when used

# A few milliseconds of SQLite's work between two looks at the signals: the look costs well
# under a microsecond, so this is unmeasurable on queries and quick enough for a person.
PROGRESS_STEPS = 20_000

_received: int | None = None


def note(signum: int) -> None:
    """Remember a stop signal (called by the CLI's signal handlers)."""
    global _received
    _received = signum


def _let_signals_in() -> int:
    return 0  # a signal's handler ran on the way in, and raised, if one arrived


def watch(db: sqlite3.Connection) -> sqlite3.Connection:
    """Let a stop signal abandon ``db``'s running statement."""
    db.set_progress_handler(_let_signals_in, PROGRESS_STEPS)
    return db


def raise_if_signalled() -> None:
    """Raise :class:`Interrupted` if a stop signal ended the statement that just failed."""
    if _received is not None:
        raise Interrupted(_received)
