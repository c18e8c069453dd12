"""What a projection is: a schema, a fold, and the rows that make up its digest.

A fold is a pure function of (state, events): the state is the projection's tables, reached
through the connection of the transaction the runner opened, and the events are the batch. It
reads no clock, calls no actor and depends on nothing else, which is what lets any device
rebuild the same tables from the same log.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable, Protocol, Sequence

from events.envelope import Event

# What a fold receives: each event with its typed body (a dataclass, never UnknownEvent).
Folded = Sequence[tuple[Event, Any]]


class Projection(Protocol):
    name: str
    # Bump when the schema or the fold changes meaning: the runner then rebuilds the index.
    version: int
    # Event type prefixes this projection folds; the runner hands it nothing else.
    types: tuple[str, ...]

    def create(self, db: sqlite3.Connection) -> None:
        """Create the tables (called on an empty index only)."""

    def fold(self, db: sqlite3.Connection, events: Folded) -> None:
        """Apply a batch, in log order, inside the runner's transaction."""

    def digest_rows(self, db: sqlite3.Connection) -> Iterable[Sequence[Any]]:
        """Every row that two devices with the same events must agree on, in a fixed order."""


def later(stamp: tuple[int, bytes], than: tuple[int, bytes] | None) -> bool:
    """Last-writer-wins order: ``(hlc, device)``, device breaking hlc ties."""
    return than is None or stamp > than
