"""The node's log file: JSON lines in ``<data>/logs/node.log``, rotated by size, owner-only
(the folder too, and each new file after a rotation)."""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import Any

from sdactors.runtime.logs import FILE_BACKUPS, FILE_BYTES, FILE_HANDLER
from sdactors.runtime.private_files import open_private, private_dir


def node_log_handler(path: str) -> logging.Handler:
    """The node's log file; always JSON lines (``logging.handlers`` only for the node).
    Owner-only, the folder too, and each new file after a rotation."""

    class PrivateRotatingHandler(logging.handlers.RotatingFileHandler):
        def _open(self) -> Any:
            fd = open_private(Path(self.baseFilename), os.O_WRONLY | os.O_APPEND, create=True)
            return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)

        def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
            """On a full disk the record is dropped, not reported with a traceback on stderr
            for every record: the libraries' status says the disk is full."""
            from events.sqlite_faults import disk_full

            if not disk_full(sys.exc_info()[1] or Exception()):
                super().handleError(record)

    private_dir(Path(path).parent)
    handler = PrivateRotatingHandler(
        path, maxBytes=FILE_BYTES, backupCount=FILE_BACKUPS, encoding="utf-8"
    )
    handler.set_name(FILE_HANDLER)
    return handler
