"""A failed command as its client is told: the one line the CLI prints, whichever door it
came through (the control socket, the HTTP API)."""

from __future__ import annotations

from sdactors.runtime.errors import SdError
from sdactors.runtime.logs import get_logger

log = get_logger(__name__)


def failure(exc: BaseException) -> tuple[str, str, bool]:
    """``(kind, message, expected)``: an error of ours (or of the system: a full disk) is its
    own line; anything else is a bug, said as such and logged."""
    expected = isinstance(exc, (SdError, OSError)) or type(exc).__module__.startswith(
        ("events.", "projections.")
    )
    message = str(exc) if expected else f"internal error: {type(exc).__name__}: {exc}"
    if not expected:
        log.error("command_failed", error=message)
    return type(exc).__name__, message, expected
