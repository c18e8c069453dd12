"""The locations' watcher: which folders changed, per location, in coalesced batches.

Each location is watched by watchfiles (the Rust ``notify`` crate: inotify on Linux), in a
process of its own (``sdactors.watch.child``) whose lines the trio loop reads. Nothing here
polls: a watched location costs a process blocked in the watch. A change to a file is a change of its folder (a rescan of that
folder compares its children); the folders of one location are gathered in a set, so a burst
of thousands of changes in one folder is one folder. watchfiles releases what it gathered
after ``quiet_ms`` without a change, and at least every ``most_ms`` under a continuous
stream; while the receiver is busy (rescanning), what comes in meanwhile joins the next batch.

A whole rescan is asked for whenever changes may have been missed: once a watch is in
place (what changed while the node was down, or before the watch began), when a watch
fails, and, for a location that cannot be watched, after each wait of its backoff. A
location cannot be watched when its folders need more inotify watches than the system
allows (``fs.inotify.max_user_watches``, shared by every location watched here), or when
watching it fails (the limit reached after all, its folder gone): it is rescanned
periodically, waits doubling up to a bound, and watching is tried again after each wait.

Changes inside folders that the location's rules skip wherever they are (``.git``,
``node_modules``, hidden folders when hidden files are skipped...) are dropped here: a
rescan would not look at them. So are changes inside the data directory, when a location
holds it: the node's own writes (its log, its index) are not the location's changes, and
indexing them would write to the log again, and again.

A folder whose own attributes changed (``chmod``) is rescanned itself, not only its parent:
made readable again, what it holds comes in (the index kept what it held before, unread).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable

import trio

from sdactors.indexer.rules import Matcher, Rules
from sdactors.runtime.logs import get_logger
from sdactors.runtime.paths import FileId, file_id
from sdactors.watch.limits import Backoff, count_folders, read_max_user_watches

log = get_logger(__name__)

QUIET_MS = 300
MOST_MS = 1000
# How long a watch waits in Rust before handing control back (when nothing changes): the
# first hand-back also says the watch is in place.
IDLE_MS = 1000


@dataclass(frozen=True, slots=True)
class WatchedLocation:
    location: bytes
    root: bytes
    rules: Rules = field(default_factory=Rules)
    # How many folders it has, if known (the watches it needs); None: counted on disk.
    folders: int | None = None
    # The data directory's identity: changes inside it are never the location's.
    private: FileId | None = None


@dataclass(frozen=True, slots=True)
class Changed:
    """What to rescan in one location: some ``folders`` (absolute, sorted), or all of it."""

    location: bytes
    folders: tuple[bytes, ...]
    whole: bool = False


@dataclass(slots=True)
class WatchState:
    """What ``sd node status`` shows of one location's watch."""

    root: bytes
    # "starting", then "watching" or "periodic".
    mode: str = "starting"
    watches_needed: int | None = None
    watches_allowed: int | None = None
    reason: str | None = None
    # In periodic mode, the wait before the next rescan (seconds).
    next_rescan_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "root": os.fsdecode(self.root),
            "mode": self.mode,
            "watches_needed": self.watches_needed,
            "watches_allowed": self.watches_allowed,
            "reason": self.reason,
            "next_rescan_s": self.next_rescan_s,
        }


@dataclass(slots=True)
class _Pending:
    folders: set[bytes] = field(default_factory=set)
    whole: bool = False


class _Location:
    """One watched location: its state, its stop event and its task's cancel scope."""

    def __init__(self, spec: WatchedLocation, backoff: Backoff) -> None:
        self.spec = spec
        self.state = WatchState(spec.root)
        self.backoff = backoff
        self.stop = threading.Event()
        self.scope = trio.CancelScope()
        self.matcher = Matcher(spec.rules)
        # Its watches are counted against the limit (from the moment it may start watching).
        self.holds_watches = False
        self._kept: dict[bytes, bool] = {}

    def folder_of(self, path: bytes) -> bytes | None:
        """The folder to rescan for a change at ``path``; None if the rules skip it (or the
        root itself changed: its parent is not this location's)."""
        return self.itself(os.path.dirname(path))

    def itself(self, folder: bytes) -> bytes | None:
        """``folder`` to rescan itself; None if the rules skip it or it is not this
        location's."""
        root = self.spec.root
        if folder != root and not folder.startswith(root.rstrip(b"/") + b"/"):
            return None
        return folder if self._kept_folder(folder) else None

    def _kept_folder(self, folder: bytes) -> bool:
        known = self._kept.get(folder)
        if known is None:
            root = self.spec.root
            if folder == root:
                known = True
            else:
                parent = os.path.dirname(folder)
                rel = parent[len(root) :].lstrip(b"/")
                known = (
                    self._kept_folder(parent)
                    and self.matcher.folder(parent, rel, set(), None).keep(
                        os.path.basename(folder), True
                    )
                    and not self._private(folder)
                )
            if len(self._kept) > 100_000:
                self._kept.clear()
            self._kept[folder] = known
        return known

    def _private(self, folder: bytes) -> bool:
        """Whether ``folder`` is the data directory (by identity: a bind mount of it too)."""
        private = self.spec.private
        return private is not None and file_id(folder, follow=False) == private


class LocationWatcher:
    """Watches locations and sends :class:`Changed` batches to a trio channel.

    Run it as a trio task (``await nursery.start(watcher.run, send_channel)``); ``add`` and
    ``remove`` change what it watches while it runs; ``stop`` (or cancelling the task) ends
    it promptly. Not thread-safe: call it from the trio thread.
    """

    def __init__(
        self,
        locations: Iterable[WatchedLocation] = (),
        *,
        max_user_watches: int | None = None,
        backoff: Backoff | None = None,
        quiet_ms: int = QUIET_MS,
        most_ms: int = MOST_MS,
    ) -> None:
        """``max_user_watches``: the inotify limit to plan with (None: the system's)."""
        self._initial = list(locations)
        self._max_watches = max_user_watches
        self._backoff = backoff or Backoff()
        self._quiet_ms = quiet_ms
        self._most_ms = most_ms
        self._locations: dict[bytes, _Location] = {}
        self._pending: dict[bytes, _Pending] = {}
        self._wake = trio.Event()
        self._stopped = trio.Event()
        self._nursery: trio.Nursery | None = None

    # -- what the node calls ------------------------------------------------------------------

    async def run(
        self,
        send: trio.MemorySendChannel[Changed],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with send, trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._deliver, send)
            for spec in self._initial:
                self.add(spec)
            task_status.started()
            try:
                await self._stopped.wait()
            finally:
                # Each watch thread sees its stop event within ``quiet_ms``: only then can
                # the tasks waiting on those threads end.
                for loc in self._locations.values():
                    loc.stop.set()
                nursery.cancel_scope.cancel()
                self._nursery = None

    def add(self, spec: WatchedLocation) -> None:
        """Watch another location (or the same one again, afresh)."""
        if self._nursery is None:
            raise RuntimeError("the watcher is not running")
        self.remove(spec.location)
        loc = self._locations[spec.location] = _Location(
            spec, Backoff(self._backoff.first, self._backoff.most)
        )
        self._nursery.start_soon(self._watch, loc)

    def remove(self, location: bytes) -> None:
        loc = self._locations.pop(location, None)
        if loc is not None:
            loc.stop.set()
            loc.scope.cancel()
        self._pending.pop(location, None)

    def stop(self) -> None:
        self._stopped.set()

    def status(self) -> dict[str, dict[str, Any]]:
        """Per location (id in hex): how it is watched, and why not when it is not."""
        return {key.hex(): loc.state.as_dict() for key, loc in self._locations.items()}

    # -- one location ---------------------------------------------------------------------------

    async def _watch(self, loc: _Location) -> None:
        with loc.scope:
            while True:
                if await self._fits(loc):
                    await self._watch_while_it_works(loc)
                    if loc.stop.is_set():
                        return
                # Not watched: rescanned now, and again after each wait (watching is tried
                # again first, as the limit or the folder may have changed).
                self._ask(loc.spec.location, whole=True)
                wait = loc.backoff.next()
                loc.state.next_rescan_s = wait
                await trio.sleep(wait)

    async def _fits(self, loc: _Location) -> bool:
        """Whether the location's folders fit in the watches left; says why not if not."""
        state = loc.state
        needed = loc.spec.folders
        if needed is None:
            needed = await trio.to_thread.run_sync(
                count_folders, loc.spec.root, abandon_on_cancel=True
            )
        allowed = self._max_watches if self._max_watches is not None else read_max_user_watches()
        state.watches_needed, state.watches_allowed = needed, allowed
        taken = sum(
            other.state.watches_needed or 0
            for other in self._locations.values()
            if other is not loc and other.holds_watches
        )
        if allowed is None or taken + needed <= allowed:
            loc.holds_watches = True
            return True
        state.mode = "periodic"
        state.reason = (
            f"needs {needed:,} inotify watches (one per folder) and {allowed:,} are allowed"
            + (f", {taken:,} of them taken by other locations" if taken else "")
            + ": raise fs.inotify.max_user_watches (sysctl) to watch it"
        )
        log.warning("watch_limit", root=os.fsdecode(loc.spec.root), reason=state.reason)
        return False

    async def _watch_while_it_works(self, loc: _Location) -> None:
        state = loc.state
        root = loc.spec.root
        try:
            # watchfiles accepts a missing folder (and then sees nothing): look first.
            if not os.path.isdir(root):
                raise NotADirectoryError(f"{os.fsdecode(root)} is missing or not a folder")
            gone = await self._watch_in_child(loc)
        except (OSError, RuntimeError) as exc:
            loc.holds_watches = False
            state.mode, state.reason = "periodic", f"watching failed: {exc}"
            log.warning("watch_failed", root=os.fsdecode(loc.spec.root), error=str(exc))
            return
        if gone:
            # Unmounted, or another volume mounted over it: the watch sees nothing of what
            # is there now. A whole rescan finds out (offline, or back).
            loc.holds_watches = False
            state.mode = "periodic"
            state.reason = "its folder is gone or now on another volume"

    async def _watch_in_child(self, loc: _Location) -> bool:
        """Runs the location's watch in its own process (see ``sdactors.watch.child``) until
        this task is cancelled; True if the folder went away (or off its volume)."""
        args = [sys.executable, "-m", "sdactors.watch.child", os.fsdecode(loc.spec.root),
                str(self._quiet_ms), str(self._most_ms), str(IDLE_MS)]  # fmt: skip
        # Its stdin stays open, unwritten, for as long as this process lives.
        proc = await trio.lowlevel.open_process(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert proc.stdout is not None
            buffer = b""
            async for chunk in proc.stdout:
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    said = json.loads(line)
                    if "started" in said:
                        self._began(loc)
                    elif "changes" in said:
                        self._collect(loc, said["changes"], said.get("folders", ()))
                    elif "gone" in said:
                        return True
                    elif "error" in said:
                        raise RuntimeError(said["error"])
            raise RuntimeError(f"the watch ended (status {await proc.wait()})")
        finally:
            with trio.CancelScope(shield=True):
                proc.kill()
                await proc.wait()

    def _began(self, loc: _Location) -> None:
        """The watch is in place: what changed before it, a whole rescan finds."""
        state = loc.state
        state.mode, state.reason, state.next_rescan_s = "watching", None, None
        loc.backoff.reset()
        self._ask(loc.spec.location, whole=True)

    def _collect(self, loc: _Location, changes: Iterable[str], folders: Iterable[str]) -> None:
        """Changes at ``changes``; ``folders`` among them changed their own attributes."""
        wanted = {loc.folder_of(os.fsencode(path)) for path in changes}
        wanted.update(loc.itself(os.fsencode(path)) for path in folders)
        wanted.discard(None)
        if wanted:
            self._ask(loc.spec.location, wanted)  # type: ignore[arg-type]

    # -- batches --------------------------------------------------------------------------------

    def _ask(self, location: bytes, folders: Iterable[bytes] = (), whole: bool = False) -> None:
        pending = self._pending.get(location)
        if pending is None:
            pending = self._pending[location] = _Pending()
        pending.whole = pending.whole or whole
        if not pending.whole:
            pending.folders.update(folders)
        self._wake.set()

    async def _deliver(self, send: trio.MemorySendChannel[Changed]) -> None:
        """Hands batches over one at a time, oldest location first: whatever comes in while
        the receiver is busy is merged into what is still pending."""
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            while self._pending:
                location = next(iter(self._pending))
                pending = self._pending.pop(location)
                folders = () if pending.whole else tuple(sorted(pending.folders))
                await send.send(Changed(location, folders, pending.whole))
