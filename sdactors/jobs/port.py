"""The library as its jobs see it: the one port jobs (and the JobManager) write and read
through. The library that runs them hands the JobManager an implementation; jobs never hold
the library itself, its actors or its Journal."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, Sequence

if TYPE_CHECKING:
    import pykka

    from events.writer import Draft
    from sdactors.runtime.paths import LibraryPaths


class JobLibrary(Protocol):
    @property
    def device(self) -> bytes:
        """This device's id: the jobs are this device's, in this library."""

    @property
    def paths(self) -> LibraryPaths:
        """The library's files (an index job never enters the data directory holding them)."""

    def catch_up(self) -> int:
        """Wait until the index has folded every committed event; the checkpoint."""

    def index(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read-only connection to the index."""

    def append_typed(self, *typed: object) -> Any:
        """Append typed events, and wait until they are durable."""

    def append_soon(self, drafts: Sequence[Draft]) -> pykka.Future:
        """Append drafts without waiting: the future settles once they are durable (or
        with why they were refused)."""

    def close_action(self, action: bytes, outcome: Any = None, error: str | None = None) -> None:
        """End the audited action a killed process left waiting on a job resumed since."""
