"""The library's own facts: its id and its name (shared, last writer wins)."""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable, Sequence

from events.domain.library import LibraryCreated, LibraryRenamed
from projections.base import Folded, later


class LibraryProjection:
    name = "library"
    version = 1
    types = ("library.",)

    def create(self, db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE library (key TEXT PRIMARY KEY, value, hlc INTEGER, device BLOB)")

    def fold(self, db: sqlite3.Connection, events: Folded) -> None:
        for ev, typed in events:
            stamp = (ev.hlc, ev.device)
            if isinstance(typed, LibraryCreated):
                self._set(db, "id", typed.library, stamp)
                self._set(db, "name", typed.name, stamp)
            elif isinstance(typed, LibraryRenamed):
                self._set(db, "name", typed.name, stamp)

    @staticmethod
    def _set(db: sqlite3.Connection, key: str, value: Any, stamp: tuple[int, bytes]) -> None:
        row = db.execute("SELECT hlc, device FROM library WHERE key = ?", (key,)).fetchone()
        if later(stamp, tuple(row) if row else None):
            db.execute(
                "INSERT OR REPLACE INTO library (key, value, hlc, device) VALUES (?, ?, ?, ?)",
                (key, value, *stamp),
            )

    def digest_rows(self, db: sqlite3.Connection) -> Iterable[Sequence[Any]]:
        return db.execute("SELECT key, value FROM library ORDER BY key")
