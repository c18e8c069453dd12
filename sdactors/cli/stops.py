"""Ctrl-C and SIGTERM in the ``sd`` process: both stop a command the same way.

The handlers raise in the main thread (SIGTERM as a ``KeyboardInterrupt`` of its own kind);
a command's own clean-up runs on the way out (a temporary file removed), and
:func:`as_interrupted` turns what reaches the command's edge into :class:`Interrupted`, which
the CLI reports as one line and exit status 128 + the signal.
"""

from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Iterator

from sdactors.runtime import interrupts
from sdactors.runtime.errors import Interrupted


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C is, so it stops a command the same way."""


def _on_sigterm(signum: int, _frame: object) -> None:
    interrupts.note(signum)
    raise Terminated()


def _on_sigint(signum: int, _frame: object) -> None:
    interrupts.note(signum)
    raise KeyboardInterrupt()


def install() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, _on_sigint)


@contextmanager
def as_interrupted() -> Iterator[None]:
    """A stop signal inside a command: :class:`Interrupted` by that signal, not click's
    "Aborted!" nor a bare ``KeyboardInterrupt``."""
    try:
        yield
    except KeyboardInterrupt as exc:
        signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        raise Interrupted(signum) from None
