"""The Projector: keeps a library's index.db folded up to the log.

It is told to catch up whenever the bus reports committed events, and it folds by reading the
log itself from its checkpoint, never from the notification: a notification may be late or
lost (a restart), the log is always right.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog

from events.domain import CATALOG
from events.store import EventStore
from projections.catalog import library_projections
from projections.errors import AheadOfLog, IndexDamaged
from projections.rebuild import RebuildResult, rebuild_index
from projections.runner import ProjectionRunner
from sdactors.supervisor import CrashHook, SupervisedActor

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CatchUp:
    """Fold what is new; asked, it answers with the checkpoint reached."""


@dataclass(frozen=True, slots=True)
class Rebuild:
    """Rebuild the whole index from the log and swap it in; answers a RebuildResult."""


@dataclass(frozen=True, slots=True)
class Digest:
    """Answers the digest of the index, after catching up."""


class Projector(SupervisedActor):
    def __init__(self, events_path: str, index_path: str, on_crash: CrashHook | None = None):
        super().__init__(on_crash)
        self._events_path = events_path
        self._index_path = index_path

    def started(self) -> None:
        self._store = EventStore(self._events_path)
        self._runner = ProjectionRunner(self._index_path, library_projections(), CATALOG)
        try:
            self._runner.open()
            self._runner.catch_up(self._store)
        except (AheadOfLog, IndexDamaged) as exc:
            # The index is disposable: a damaged one, or one ahead of a log restored from a
            # backup, is simply folded again.
            log.warning("index_rebuilt_on_open", reason=str(exc))
            self._runner.close()
            self._rebuild()

    def on_stop(self) -> None:
        self._catch_up()
        self._runner.close()
        self._store.close()

    def on_receive(self, message: object) -> object:
        if isinstance(message, CatchUp):
            return self._catch_up()
        if isinstance(message, Digest):
            self._catch_up()
            return self._runner.digest()
        if isinstance(message, Rebuild):
            return self._rebuild()
        raise TypeError(f"Projector got an unexpected message: {message!r}")

    def _catch_up(self) -> int:
        self._store.refresh()
        return self._runner.catch_up(self._store)

    def _rebuild(self) -> RebuildResult:
        started = time.monotonic()
        self._runner.close()
        self._store.refresh()
        result = rebuild_index(self._index_path, self._store, library_projections(), CATALOG)
        self._runner = ProjectionRunner(self._index_path, library_projections(), CATALOG).open()
        log.info("index_rebuilt", events=result.events, seconds=round(time.monotonic() - started, 3))
        return result
