"""Structured logs: JSON lines for a node, readable key=value lines on a terminal.

Everything goes through structlog, including the standard-library loggers of our
dependencies (pykka reports actor crashes there), so one setting governs all of it.

structlog takes a fifth of a second to import. A command that only reads (``sd search``,
``sd ls``) usually logs nothing, so loggers here are lazy: ``get_logger`` returns a stand-in
that imports and configures structlog on its first use, never before.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class _Settings:
    json: bool = True
    level: int = logging.WARNING
    applied: bool = False
    # A node also writes JSON lines to a rotating file in its data directory.
    file: bool = False


# A node's log file: this large, and this many older ones kept beside it.
FILE_BYTES = 10 << 20
FILE_HANDLER = "sd-node-file"
FILE_BACKUPS = 5


_SETTINGS = _Settings()


class _Handler(logging.StreamHandler):
    """The root handler; its formatter becomes structlog's once structlog is in use."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)


def configure(
    *, json: bool, level: int = logging.WARNING, file: logging.Handler | None = None
) -> None:
    """Decide how logs look; structlog itself is set up on first use (or now, if loaded).

    With ``file`` (a handler named ``FILE_HANDLER``: the node's, ``runtime.log_file``),
    every record also goes there as a JSON line.
    """
    _SETTINGS.json = json
    _SETTINGS.level = level
    _SETTINGS.file = file is not None
    _SETTINGS.applied = False
    root = logging.getLogger()
    root.handlers[:] = [_Handler()]
    if file is not None:
        root.handlers.append(file)
    root.setLevel(level)
    # The actor library's own records (each actor registered, started, stopped; an exception
    # handed to its caller) are its internals, not the node's: only its warnings show.
    logging.getLogger("pykka").setLevel(max(level, logging.WARNING))
    if "structlog" in sys.modules or file is not None:
        _apply()


def _apply() -> None:
    import structlog

    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = (
        structlog.processors.JSONRenderer()
        if _SETTINGS.json
        # repr: a value's control characters are shown escaped, not sent to the terminal.
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(), repr_native_str=True)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if _SETTINGS.json else (lambda _l, _m, e: e),
            renderer,
        ],
    )
    as_json = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    root = logging.getLogger()
    if not any(isinstance(h, _Handler) for h in root.handlers):
        root.handlers[:] = [_Handler()]
        root.setLevel(_SETTINGS.level)
    for handler in root.handlers:
        handler.setFormatter(as_json if handler.get_name() == FILE_HANDLER else formatter)
    _SETTINGS.applied = True


class LazyLogger:
    """A structlog logger that costs nothing until something is logged."""

    __slots__ = ("_name", "_logger")

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, attr: str) -> Any:
        if self._logger is None:
            if not _SETTINGS.applied:
                _apply()
            import structlog

            self._logger = structlog.get_logger(self._name)
        return getattr(self._logger, attr)


def get_logger(name: str) -> LazyLogger:
    return LazyLogger(name)
