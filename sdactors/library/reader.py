"""Reading a library's files directly: no actors, no lock, no writes.

Kept apart from ``sdactors.library.handle`` (the actors) so read-only commands start without
importing, let alone starting, any actor.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from typing import Callable, Iterator, NoReturn

from events.sqlite_faults import file_damaged
from events.store import EventStore, read_head
from projections.catalog import library_projections
from projections.errors import IndexDamaged
from projections.membership import NO_CUT, MembershipProjection
from projections.runner import digest_of, index_position
from sdactors.library.config import LibraryConfig
from sdactors.runtime.errors import IndexRebuilding
from sdactors.runtime.interrupts import watch


class LibraryReader:
    """Read access to a library's files: no actors, no lock, no writes.

    This is what a command gets when another process (a node) holds the library: whoever
    holds the lock keeps the index current, so reading the files directly is sound.
    """

    def __init__(
        self,
        config: LibraryConfig,
        on_damaged: Callable[[LibraryConfig, str], None] | None = None,
    ) -> None:
        self.config = config
        self._on_damaged = on_damaged

    @contextmanager
    def index(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection to index.db, for queries from the calling thread; its
        statements stop on Ctrl-C or SIGTERM (``sdactors.runtime.interrupts``). A query that finds
        the file damaged ends in :meth:`index_damaged`'s line."""
        db = watch(self._open_index())
        try:
            yield db
        except sqlite3.DatabaseError as exc:
            if file_damaged(exc):
                self.index_damaged(str(exc))
            raise
        finally:
            db.close()

    def _open_index(self) -> sqlite3.Connection:
        return sqlite3.connect(
            f"file:{self.config.paths.index}?mode=ro", uri=True, check_same_thread=False
        )

    def index_damaged(self, detail: str) -> NoReturn:
        """A read found index.db damaged: whoever made this reader is told (the CLI asks
        the node holding the library to rebuild it, and raises what the node answers);
        otherwise, or if it does not raise, the read ends with the damage."""
        if self._on_damaged is not None:
            self._on_damaged(self.config, detail)
        raise IndexDamaged(str(self.config.paths.index), detail)

    def log(self) -> EventStore:
        """A read-only view of the log, for the calling thread (close it when done)."""
        return EventStore(self.config.paths.events, readonly=True)

    def forwardable(self, device: bytes) -> dict[bytes, int] | None:
        """Per device, the last seq of its events this library may fold and send to peers
        (membership: members all, revoked devices up to their cut, others none), ``device``
        (this one) always all of its own; None: all of every device's (nobody to say who is
        a member yet)."""
        try:
            with self.index() as db:
                allowed = MembershipProjection.allowed(db)
        except (sqlite3.DatabaseError, IndexDamaged, IndexRebuilding):
            return {device: NO_CUT}  # no index (yet): only this device's own events
        if allowed is not None:
            allowed[device] = NO_CUT
        return allowed

    def digest(self) -> str:
        with self.index() as db:
            return digest_of(db, library_projections())


def index_is_current(config: LibraryConfig) -> bool:
    """Whether index.db has folded every event of the log, with today's projections.

    Then a read needs nobody to catch up first, and can open the files directly.
    """
    paths = config.paths
    if not os.path.exists(paths.index) or not os.path.exists(paths.events):
        return False
    position = index_position(str(paths.index), library_projections())
    return position is not None and position == read_head(str(paths.events))
