"""A library's health beyond its actors: a full disk, an index being rebuilt.

The Journal and the Projector report here what they meet; ``sd node status`` and every read
consult it without asking an actor (the actor may be busy with the very fault).

- **A full disk.** A write that fails for want of space (SQLite's SQLITE_FULL) marks the
  library full and is answered with one line naming the data directory's disk and its free
  space. Nothing retries in a loop: a thread watches the free space, less and less often,
  until it has grown by ``SPACE_MARGIN``; then the library is told (``on_recovered``: the
  Projector folds what it could not, the jobs the full disk stopped resume). A write that
  succeeds meanwhile clears the mark the same way.
- **An index being rebuilt** (``Library.rebuild_index``): why, how far, and whether the live
  index is damaged. A damaged index is never read again: reads are answered with the
  rebuild's progress until the rebuilt file is swapped in.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from projections.rebuild import RebuildResult
from sdactors.library.config import LibraryConfig
from sdactors.runtime.errors import DiskFull, IndexRebuildFailed, IndexRebuilding
from sdactors.runtime.logs import get_logger

log = get_logger(__name__)

# Space is back once this much more is free than when a write failed.
SPACE_MARGIN = 1 << 20
# The free space is looked at after this wait, doubling up to the most.
SPACE_POLL_S = 0.25
SPACE_POLL_MOST_S = 5.0


@dataclass
class Rebuild:
    """A rebuild under way: the log is folded into a scratch file, up to ``total``."""

    reason: str
    total: int
    done: int = 0
    started: float = field(default_factory=time.time)

    @property
    def percent(self) -> int:
        return min(99, self.done * 100 // self.total) if self.total else 0

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "done": self.done, "total": self.total,
                "percent": self.percent, "started": self.started}  # fmt: skip


class LibraryHealth:
    """Thread-safe: written by the library's actors, read by any thread."""

    def __init__(
        self,
        config: LibraryConfig,
        on_recovered: Callable[[], None],
        on_rebuilt: Callable[[], None] = lambda: None,
    ) -> None:
        """``on_rebuilt``: after any rebuild is swapped in (what the index says may have
        changed at once: a late revocation's refold), beside ``on_recovered`` after one that
        replaced a damaged index."""
        self._name = config.name
        self._root = config.paths.root
        self._data = config.paths.data_dir
        self._on_recovered = on_recovered
        self._on_rebuilt = on_rebuilt
        self._lock = threading.Lock()
        self._closed = threading.Event()
        # The free space when a write last failed for want of it; None while writes succeed.
        self._full_at: int | None = None
        # What was found wrong with the live index, until a rebuilt one replaces it.
        self._damaged: str | None = None
        self._rebuild: Rebuild | None = None
        self._rebuild_error: str | None = None
        self._last_rebuild: dict[str, Any] | None = None
        # Held while the index file is swapped, and by a reader while it opens the index and
        # reads its first page: a connection to the old file must never read the new file's
        # WAL, which it would if it opened the WAL (by name) only after the swap.
        self.index_swap = threading.Lock()

    def close(self) -> None:
        self._closed.set()

    # -- the disk -------------------------------------------------------------------------------

    def free(self) -> int:
        try:
            return shutil.disk_usage(self._root).free
        except OSError:
            return 0

    @property
    def full(self) -> bool:
        return self._full_at is not None

    def disk_full(self) -> DiskFull:
        """A write failed for want of space: mark it (once), watch for space; the error to
        answer the write with."""
        free = self.free()
        with self._lock:
            first = self._full_at is None
            self._full_at = free if first else min(free, self._full_at or 0)
        if first:
            log.error("disk_full", library=self._name, data=str(self._data), free=free)
            threading.Thread(target=self._watch_space, name="disk-space", daemon=True).start()
        return DiskFull(str(self._data), free, self._name)

    def wrote(self) -> None:
        """A write succeeded: if the disk was full, it no longer is."""
        if self._full_at is not None:
            self._space_back()

    def _watch_space(self) -> None:
        wait = SPACE_POLL_S
        while not self._closed.wait(wait):
            with self._lock:
                floor = self._full_at
            if floor is None:
                return
            if self.free() >= floor + SPACE_MARGIN:
                self._space_back()
                return
            wait = min(wait * 2, SPACE_POLL_MOST_S)

    def _space_back(self) -> None:
        with self._lock:
            if self._full_at is None:
                return
            self._full_at = None
        log.info("disk_space_back", library=self._name, free=self.free())
        self._on_recovered()

    # -- the index --------------------------------------------------------------------------

    @property
    def damaged(self) -> str | None:
        """What was found wrong with the live index, if it is to be replaced."""
        return self._damaged

    def index_damaged(self, detail: str) -> None:
        """The live index is damaged: reads are refused until a rebuilt one is swapped in."""
        with self._lock:
            if self._damaged is None:
                log.error("index_damaged", library=self._name, detail=detail)
                self._damaged = detail
                self._rebuild_error = None

    def check_readable(self) -> None:
        """Raise the line a read gets while the live index is damaged."""
        with self._lock:
            damaged, error, rebuild = self._damaged, self._rebuild_error, self._rebuild
        if damaged is None:
            return
        if self._full_at is not None:  # the rebuild waits for space
            raise DiskFull(str(self._data), self.free(), self._name)
        if error is not None:
            raise IndexRebuildFailed(self._name, error)
        raise IndexRebuilding(self._name, rebuild.percent if rebuild is not None else 0)

    def rebuild_started(self, reason: str, total: int) -> None:
        with self._lock:
            self._rebuild = Rebuild(reason, total)
            self._rebuild_error = None
        log.info("index_rebuild_started", library=self._name, reason=reason, events=total)

    def rebuild_progress(self, done: int) -> None:
        rebuild = self._rebuild
        if rebuild is not None:
            rebuild.done = done

    def rebuild_done(self, result: RebuildResult) -> None:
        with self._lock:
            rebuild, self._rebuild = self._rebuild, None
            was_damaged, self._damaged = self._damaged is not None, None
            self._last_rebuild = {
                "reason": rebuild.reason if rebuild is not None else "",
                "events": result.events,
                "digest": result.digest,
                "at": time.time(),
                "seconds": round(time.time() - rebuild.started, 3) if rebuild else 0.0,
            }
        log.info("index_rebuilt", library=self._name, **self._last_rebuild)
        if was_damaged:
            self._on_recovered()
        self._on_rebuilt()

    def rebuild_failed(self, error: str | None) -> None:
        """The rebuild stopped: ``error`` says why (None: a full disk, which says itself)."""
        with self._lock:
            self._rebuild = None
            self._rebuild_error = error
        if error is not None:
            log.error("index_rebuild_failed", library=self._name, error=error)

    # -- status -----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The state ``sd node status`` shows (``serving``, ``disk full``, ``rebuilding``,
        ``failed``), a line saying why, and the details."""
        free = self.free()
        with self._lock:
            full, damaged, error = self._full_at is not None, self._damaged, self._rebuild_error
            rebuild = self._rebuild.as_dict() if self._rebuild is not None else None
            last = dict(self._last_rebuild) if self._last_rebuild is not None else None
        state, line = "serving", None
        if full:
            state, line = "disk full", str(DiskFull(str(self._data), free, self._name))
        elif damaged is not None and error is not None:
            state, line = "failed", str(IndexRebuildFailed(self._name, error))
        elif damaged is not None:
            percent = rebuild["percent"] if rebuild is not None else 0
            state, line = "rebuilding", str(IndexRebuilding(self._name, percent))
        elif rebuild is not None:
            state = "rebuilding"
            line = f"rebuilding the index from the log ({rebuild['percent']}%): {rebuild['reason']}"
        return {
            "state": state,
            "error": line,
            "index": {
                "damaged": damaged,
                "rebuild": rebuild,
                "last_rebuild": last,
                "rebuild_error": error,
            },
            "disk": {"full": full, "free_bytes": free},
        }
