"""The Projector: keeps a library's index.db folded up to the log.

It is told to catch up whenever the bus reports committed events, and it folds by reading the
log itself from its checkpoint, never from the notification: a notification may be late or
lost (a restart), the log is always right.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pykka

from events.domain import CATALOG
from events.store import EventStore
from projections.catalog import library_projections
from projections.errors import AheadOfLog, IndexDamaged, RefoldNeeded
from projections.rebuild import RebuildResult, rebuild_index
from projections.runner import ProjectionRunner
from sdactors.logs import get_logger
from sdactors.supervisor import CrashHook, SupervisedActor

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CatchUp:
    """Fold what is new; asked, it answers with the checkpoint reached."""


@dataclass(frozen=True, slots=True)
class Committed:
    """Told by the bus: the log grew. Folded soon, not necessarily at once (see below)."""


@dataclass(frozen=True, slots=True)
class Rebuild:
    """Rebuild the whole index from the log and swap it in; answers a RebuildResult."""


@dataclass(frozen=True, slots=True)
class Digest:
    """Answers the digest of the index, after catching up."""


# Under a stream of commits, fold at most this often: a fold per commit would cost more
# (a transaction and the per-batch work of every projection each time) and compete with the
# writers for the interpreter. Anyone who needs the index current asks (CatchUp) and gets it.
FOLD_INTERVAL_S = 0.01


class Projector(SupervisedActor):
    def __init__(self, events_path: str, index_path: str, on_crash: CrashHook | None = None):
        super().__init__(on_crash)
        self._events_path = events_path
        self._index_path = index_path
        self._last_fold = 0.0
        self._timer: threading.Timer | None = None

    def started(self) -> None:
        self._store = EventStore(self._events_path)
        self._runner = ProjectionRunner(self._index_path, library_projections(), CATALOG)
        try:
            self._runner.open()
            self._runner.catch_up(self._store)
        except (AheadOfLog, IndexDamaged, RefoldNeeded) as exc:
            # The index is disposable: a damaged one, or one ahead of a log restored from a
            # backup, is simply folded again.
            log.warning("index_rebuilt_on_open", reason=str(exc))
            self._runner.close()
            self._rebuild()

    def on_stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._catch_up()
        self._runner.close()
        self._store.close()

    def on_receive(self, message: object) -> object:
        if isinstance(message, Committed):
            self._soon()
            return None
        if isinstance(message, CatchUp):
            return self._catch_up()
        if isinstance(message, Digest):
            self._catch_up()
            return self._runner.digest()
        if isinstance(message, Rebuild):
            return self._rebuild()
        raise TypeError(f"Projector got an unexpected message: {message!r}")

    def _soon(self) -> None:
        """Fold now if the last fold is old enough, else once the interval has passed."""
        wait = self._last_fold + FOLD_INTERVAL_S - time.monotonic()
        if wait <= 0:
            self._catch_up()
        elif self._timer is None:
            self._timer = threading.Timer(wait, self._wake)
            self._timer.daemon = True
            self._timer.start()

    def _wake(self) -> None:
        self._timer = None
        try:
            self.actor_ref.tell(Committed())
        except pykka.ActorDeadError:
            pass

    def _catch_up(self) -> int:
        self._store.refresh()
        try:
            checkpoint = self._runner.catch_up(self._store)
        except RefoldNeeded as exc:
            log.info("index_refold", reason=str(exc))
            checkpoint = self._rebuild().checkpoint
        self._last_fold = time.monotonic()
        return checkpoint

    def _rebuild(self) -> RebuildResult:
        started = time.monotonic()
        self._runner.close()
        self._store.refresh()
        result = rebuild_index(self._index_path, self._store, library_projections(), CATALOG)
        self._runner = ProjectionRunner(self._index_path, library_projections(), CATALOG).open()
        log.info(
            "index_rebuilt", events=result.events, seconds=round(time.monotonic() - started, 3)
        )
        return result
