"""What a failed SQLite call says about the machine: a full disk, a damaged file.

Both are faults of the disk, not of the code or the data: a full disk passes once space is
freed, a damaged index is folded again from the log. Telling them apart from every other
error is what lets the actors wait or rebuild instead of crashing, so it is decided here, by
SQLite's result code, once for the log and the index alike.
"""

from __future__ import annotations

import errno
import sqlite3

SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_NOTADB = 26


def _primary_code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def disk_full(exc: BaseException) -> bool:
    """SQLite's SQLITE_FULL, or a file write's ENOSPC / EDQUOT."""
    if isinstance(exc, sqlite3.Error):
        return _primary_code(exc) == SQLITE_FULL
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def file_damaged(exc: BaseException) -> bool:
    """SQLite found the file malformed (SQLITE_CORRUPT) or not a database (SQLITE_NOTADB)."""
    return isinstance(exc, sqlite3.DatabaseError) and _primary_code(exc) in (
        SQLITE_CORRUPT,
        SQLITE_NOTADB,
    )
