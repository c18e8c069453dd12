"""One index run over a location: walk the disk, compare with the index, emit what changed.

The walk goes folder by folder (breadth first, names sorted, so it is deterministic) and keeps
only a queue of folders to visit and the batches in flight, never the whole tree. Breadth
first, because the folders next in line were found long ago: the workers list them (and, for
new folders, identify their files) ahead of the walk. Each folder is compared with what the
index holds for it:

- a name the index lacks is new, unless an entry of this location had the same inode and is
  gone from its old path: then it moved (a rename, or a move with its whole subtree);
- same name, same inode, other size or mtime: modified (its content identified again);
- same name, other inode or type: the old entry went away and a new one came;
- same inode, on a volume numbered otherwise (``st_dev`` after a reboot, or an entry
  indexed before the volume was recorded): the new number is recorded, nothing read again;
- names the index has but the disk has not are deleted, decided at the end, once every move
  had its chance to claim them; unless that would delete more than half of the location
  (and more than ``HOLD_MIN`` entries): a disk that is not what it was is more likely than
  a user who deleted most of their files, so such a run stops and waits for a confirmation.

The data directory (the node's own log, index and key) is never entered, wherever the walk
meets it: it is known by its volume and inode, so a bind mount of it is skipped too.

A rescan of some folders only (``folders``: what a watcher saw change) compares those, and
goes below them only into what is new or changed (``sdactors/indexer/scope.py``).

Facts go out as batch events of up to ``BATCH`` items: a folder always before its children.
Content identity and kind are computed for new and modified files by the Identifier (worker
processes for large batches) while the walk goes on; batches are emitted in walk order.

A run killed at any moment leaves only whole committed batches behind. The next run compares
against them like any rescan: what was committed is unchanged, so it is neither emitted again
nor read again, and the run carries on with what is missing.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

from events.domain import CATALOG
from events.domain.entries import (
    DIR,
    FILE,
    EntriesDeleted,
    EntriesIndexed,
    EntriesModified,
    EntriesMoved,
)
from events.writer import Draft
from projections.files.listings import Child
from projections.files.query import IndexedChild, IndexView
from sdactors.indexer.identify import FolderResult, Identified, Identifier, Work
from sdactors.indexer.rules import FolderRules, Matcher, Rules
from sdactors.indexer.scope import Start, plan, walk_order
from sdactors.indexer.walk import Seen, list_folder, stat_path
from sdactors.runtime.errors import DeletionsHeld, InDataDir, NotAFolder
from sdactors.runtime.logs import get_logger
from sdactors.runtime.paths import FileId, reached_through

log = get_logger(__name__)

BATCH = 1000
# Batches whose identity is being computed while the walk goes on.
IN_FLIGHT = 4
# Folders listed ahead by the workers (bounded: each holds its listing in memory).
PREFETCH = 64
# Folders listed per worker task: a round trip through the pool costs about as much as
# listing a folder of a few dozen files.
FOLDERS_PER_TASK = 8
# Entries walked in the job's own thread before the workers take over the listing: below
# this a pool of processes costs more to start than it saves.
INLINE_ENTRIES = 2000
# A run that would delete more than half of a location's entries, and more than this many,
# is held until confirmed.
HOLD_MIN = 1000


# The name the root entry of a location at "/" gets (its path says where it is).
ROOT_NAME = b"root"


class JobCancelled(Exception):
    pass


@dataclass(slots=True)
class JobStats:
    created: int = 0
    modified: int = 0
    moved: int = 0
    deleted: int = 0
    files: int = 0
    dirs: int = 0
    bytes: int = 0
    errors: int = 0
    seconds: float = 0.0
    error_samples: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 20:
            self.error_samples.append(message)

    def as_dict(self) -> dict[str, object]:
        return {
            "created": self.created,
            "modified": self.modified,
            "moved": self.moved,
            "deleted": self.deleted,
            "files": self.files,
            "dirs": self.dirs,
            "bytes": self.bytes,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
        }


@dataclass(slots=True)
class _Batch:
    indexed: list[list[object]] = field(default_factory=list)
    modified: list[list[object]] = field(default_factory=list)
    moved: list[tuple[int, int, int, bytes]] = field(default_factory=list)
    # (list the item is in, position, Work) for every file whose identity is pending.
    work: list[tuple[list[list[object]], int, Work]] = field(default_factory=list)
    # ids of modified items that only retry a content id an earlier run could not read:
    # emitted only if the retry reads it.
    retries: set[int] = field(default_factory=set)
    identities: Future[list[Identified]] | None = None

    def __len__(self) -> int:
        return len(self.indexed) + len(self.modified) + len(self.moved)

    def full(self) -> bool:
        return len(self.indexed) + len(self.modified) + len(self.moved) >= BATCH


@dataclass(slots=True)
class _Folder:
    path: bytes
    rel: bytes
    eid: int
    known: bool
    parent_rules: FolderRules | None
    # Its listing, being made by a worker (and, for a new folder, its files identified):
    # the task's future and this folder's place among the task's folders.
    pending: "Future[list[FolderResult]] | None" = None
    slot: int = 0


Emit = Callable[[list[Draft]], None]
Progress = Callable[[JobStats], None]


class IndexJob:
    def __init__(
        self,
        location: bytes,
        path: bytes,
        rules: Rules,
        view: IndexView,
        emit: Emit,
        next_eid: Callable[[], int],
        identifier: Identifier,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        folders: Sequence[bytes] | None = None,
        confirm_deletions: bool = False,
        data_dir: tuple[bytes, FileId] | None = None,
        still_there: Callable[[], None] | None = None,
    ) -> None:
        """``data_dir``: the data directory (its path, for messages, and its identity),
        which the walk never enters. ``still_there`` raises if the location's volume is gone:
        asked again before any deletion, since a disk unmounted during the walk leaves an
        empty mount point that reads as every entry deleted."""
        self.location = location
        self.path = path
        self.matcher = Matcher(rules)
        self.view = view
        self.emit = emit
        self.next_eid = next_eid
        self.identifier = identifier
        self.progress = progress
        self.cancel = cancel or threading.Event()
        self.stats = JobStats()
        # None: the whole location.
        self.folders = folders
        self.confirm_deletions = confirm_deletions
        self.data_dir = data_dir
        self.still_there = still_there
        self._private = data_dir[1] if data_dir is not None else FileId(-1, -1)
        # Folders to go into even if unchanged (None: all of them, a whole rescan).
        self._wanted: frozenset[bytes] | None = None
        self._entries_before = 0
        self._batch = _Batch()
        self._in_flight: deque[_Batch] = deque()
        self._missing: dict[int, IndexedChild] = {}
        self._moved: set[int] = set()
        self._inodes: dict[tuple[int, int], tuple[int, str, int]] | None = None
        self._last_progress = 0.0

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> JobStats:
        started = time.monotonic()
        root_seen = stat_path(self.path)
        if root_seen is None:
            raise NotAFolder(os.fsdecode(self.path), "it does not exist (any more)")
        if root_seen.ftype != DIR:
            raise NotAFolder(os.fsdecode(self.path), "it is not a folder")
        if self.data_dir is not None:
            reached = reached_through(self.path, self.data_dir[1])
            if reached is not None:
                data = os.fsdecode(self.data_dir[0])
                raise InDataDir(os.fsdecode(self.path), data, inside=reached != self.path)
        root = self.view.root(self.location)
        self._entries_before = self.view.entry_count(self.location)
        starts: deque[_Folder] = deque()
        queue: deque[_Folder] = deque()
        if root is None:
            eid = self.next_eid()
            # A root is named like any entry, one path component; the disk's root has none.
            name = os.path.basename(self.path.rstrip(b"/")) or ROOT_NAME
            self._new(root_seen._replace(name=name), eid, 0)
            queue.append(_Folder(self.path, b"", eid, False, None))
        else:
            self._count(root_seen)
            if root.changed(root_seen):
                self._modified(root, root_seen)
            if self.folders is None:
                queue.append(_Folder(self.path, b"", root.eid, True, None))
            else:
                starts.extend(self._starts(root.eid))
        # The queue is ``ahead`` (handed to the workers, in order) then ``queue`` (not yet);
        # the starts of a rescan of some folders join it in walk order.
        ahead: deque[_Folder] = deque()
        while queue or ahead or starts:
            if self.cancel.is_set():
                raise JobCancelled()
            line = ahead if ahead else queue
            if starts and (not line or walk_order(starts[0].rel) < walk_order(line[0].rel)):
                folder = starts.popleft()
            else:
                folder = line.popleft()
            queue.extend(self._visit(folder))
            self._prefetch(queue, ahead)
        self._finish()
        self.stats.seconds = time.monotonic() - started
        return self.stats

    def _starts(self, root_eid: int) -> list[_Folder]:
        """Where a rescan of some folders starts; each start's own record is compared as its
        parent's listing would have been."""
        assert self.folders is not None
        scope = plan(self.path, root_eid, self.folders, self.view, self.matcher)
        self._wanted = scope.wanted
        # Moves are looked for among the folders named, not the whole location.
        self._inodes = self.view.folder_inodes(scope.compared)
        return [self._start(start) for start in scope.starts]

    def _start(self, start: Start) -> _Folder:
        if start.record is not None and start.seen is not None:
            self._count(start.seen)
            if start.record.changed(start.seen):
                self._modified(start.record, start.seen, start.path)
        return _Folder(start.path, start.rel, start.eid, True, start.parent_rules)

    def _descend(self, path: bytes) -> bool:
        """Whether the walk goes into a known folder where nothing changed."""
        return self._wanted is None or path in self._wanted

    def _prefetch(self, queue: deque[_Folder], ahead: deque[_Folder]) -> None:
        """Have the workers list the folders next in line (and identify the files of new
        ones), so the walk's own thread only compares. ``ahead`` holds the folders already
        handed over, in visiting order; the next ones come off the head of ``queue``."""
        if not self.identifier.running and self.stats.files + self.stats.dirs < INLINE_ENTRIES:
            return
        room = PREFETCH - len(ahead)
        if room < FOLDERS_PER_TASK or not queue:
            return
        todo = [queue.popleft() for _ in range(min(room, len(queue)))]
        ahead.extend(todo)
        for start in range(0, len(todo), FOLDERS_PER_TASK):
            group = todo[start : start + FOLDERS_PER_TASK]
            future = self.identifier.submit_folders([(f.path, not f.known) for f in group])
            for slot, folder in enumerate(group):
                folder.pending, folder.slot = future, slot

    def _visit(self, folder: _Folder) -> Iterator[_Folder]:
        """Compare one folder with the index; yield its subfolders to visit."""
        if folder.pending is not None:
            result = folder.pending.result()[folder.slot]
            folder.pending = None
            listing, identities = result.listing, result.identities
        else:
            listing, identities = list_folder(folder.path), None
        ready = (
            {c.name: i for c, i in zip(listing.children, identities) if i is not None}
            if identities is not None
            else None
        )
        if listing.error:
            self.stats.error(f"{os.fsdecode(folder.path)}: {listing.error}")
            if not listing.children:
                # Unreadable: what the index holds for it stays, rather than being deleted.
                return
        names = {c.name for c in listing.children}
        rules = self.matcher.folder(folder.path, folder.rel, names, folder.parent_rules)
        # The index's records of this folder's children, compared field by field; turned into
        # IndexedChild only for the few that changed.
        indexed = self.view.children(folder.eid) if folder.known else {}
        as_child = self.view.as_child
        # Joined by hand: os.path.join costs more than the rest of a file's comparison.
        prefix = folder.path if folder.path.endswith(b"/") else folder.path + b"/"
        rel_prefix = folder.rel + b"/" if folder.rel else b""
        keep = rules.keep
        private_inode, private_dev = self._private.inode, self._private.dev
        for seen in listing.children:
            is_dir = seen.ftype == DIR
            if not keep(seen.name, is_dir):
                continue
            if is_dir and seen.inode == private_inode and seen.dev == private_dev:
                continue  # the data directory, here or through a bind mount
            child_path = prefix + seen.name
            child_rel = rel_prefix + seen.name
            raw = indexed.pop(seen.name, None) if indexed else None
            if raw is not None and raw.eid in self._moved:
                raw = None  # that entry moved elsewhere in this run; this is a new one
            if raw is not None and raw.ftype == seen.ftype and raw.inode == seen.inode:
                changed = raw.size != seen.size or raw.mtime_ns != seen.mtime_ns
                if changed:
                    self._modified(as_child(raw, folder.eid), seen, child_path)
                elif raw.dev != seen.dev:
                    self._volume_renumbered(raw, folder.eid, seen)
                elif seen.ftype == FILE and seen.size and raw.cid is None:
                    self._retry(as_child(raw, folder.eid), seen, child_path)
                self._count(seen)
                if is_dir and (changed or self._descend(child_path)):
                    yield _Folder(child_path, child_rel, raw.eid, True, rules)
                continue
            if raw is not None:
                self._missing[raw.eid] = as_child(raw, folder.eid)
            origin = self._moved_here(seen, child_path) if folder.known else None
            if origin is not None:
                self._move(origin, folder.eid, seen, child_path)
                self._count(seen)
                if is_dir and (origin.changed(seen) or self._descend(child_path)):
                    yield _Folder(child_path, child_rel, origin.eid, True, rules)
                continue
            ident = ready.get(seen.name) if ready is not None else None
            if ident is not None and ident.gone:
                continue  # vanished or replaced since listed: the next run will see it
            eid = self.next_eid()
            self._new(seen, eid, folder.eid, child_path, ident)
            if is_dir:
                yield _Folder(child_path, child_rel, eid, False, rules)
        for raw in indexed.values():
            self._missing[raw.eid] = as_child(raw, folder.eid)

    # -- what a folder's comparison finds ------------------------------------------------------

    def _count(self, seen: Seen) -> None:
        if seen.ftype == DIR:
            self.stats.dirs += 1
        elif seen.ftype == FILE:
            self.stats.files += 1
            self.stats.bytes += seen.size

    def _new(
        self,
        seen: Seen,
        eid: int,
        parent: int,
        path: bytes | None = None,
        ident: Identified | None = None,
    ) -> None:
        self._count(seen)
        self.stats.created += 1
        if ident is not None:
            # Identified by the worker that listed the folder: nothing left to wait for.
            if ident.error is not None:
                self.stats.error(f"{os.fsdecode(path or self.path)}: {ident.error}")
            self._batch.indexed.append(
                [
                    eid,
                    parent,
                    seen.name,
                    seen.ftype,
                    ident.size,
                    ident.mtime_ns,
                    ident.inode or seen.inode,
                    ident.kind,
                    ident.cid,
                    seen.target,
                    seen.dev,
                ]
            )
            self._maybe_flush()
            return
        item: list[object] = [
            eid,
            parent,
            seen.name,
            seen.ftype,
            seen.size,
            seen.mtime_ns,
            seen.inode,
            None,
            None,
            seen.target,
            seen.dev,
        ]
        self._queue(self._batch.indexed, item, seen, path)

    def _modified(
        self, known: IndexedChild, seen: Seen, path: bytes | None = None, count: bool = True
    ) -> None:
        if count:
            self.stats.modified += 1
        item: list[object] = [
            known.eid,
            known.parent,
            seen.size,
            seen.mtime_ns,
            seen.inode,
            known.kind,
            None,
            seen.dev,
        ]
        self._queue(self._batch.modified, item, seen, path)

    def _volume_renumbered(self, known: Child, parent: int, seen: Seen) -> None:
        """The same entry, unchanged, on a volume the system numbers otherwise now: only the
        number is new (its content is what the index says)."""
        self.stats.modified += 1
        self._batch.modified.append(
            [known.eid, parent, seen.size, seen.mtime_ns, seen.inode, known.kind, known.cid,
             seen.dev]
        )  # fmt: skip
        self._maybe_flush()

    def _retry(self, known: IndexedChild, seen: Seen, path: bytes) -> None:
        """Try again for a content id an earlier run could not read (unreadable, unsteady)."""
        self._modified(known, seen, path, count=False)
        self._batch.retries.add(id(self._batch.modified[-1]))

    def _queue(
        self, items: list[list[object]], item: list[object], seen: Seen, path: bytes | None
    ) -> None:
        """Add an item to the batch; a regular file's also waits for its content identity."""
        if seen.ftype == FILE:
            work = Work(path or self.path, seen.size, seen.mtime_ns)
            self._batch.work.append((items, len(items), work))
        items.append(item)
        self._maybe_flush()

    def _move(self, origin: IndexedChild, parent: int, seen: Seen, path: bytes) -> None:
        self.stats.moved += 1
        self._moved.add(origin.eid)
        self._missing.pop(origin.eid, None)
        self._batch.moved.append((origin.eid, origin.parent, parent, seen.name))
        if origin.changed(seen):
            self._modified(origin._replace(parent=parent), seen, path)
        elif seen.ftype == FILE and self._renamed(origin, seen):
            # A file's kind comes from its name too (notes.json -> notes.py): identify it
            # again, as a fact that changed, though its content did not.
            self._modified(origin._replace(parent=parent), seen, path, count=False)
        else:
            self._maybe_flush()

    def _renamed(self, origin: IndexedChild, seen: Seen) -> bool:
        old_path = self.view.path_of(origin.eid, origin.parent, self.path)
        return old_path is None or os.path.basename(old_path) != seen.name

    def _moved_here(self, seen: Seen, path: bytes) -> IndexedChild | None:
        """The entry of this location that this new name is, moved, if there is one."""
        if self._inodes is None:
            self._inodes = self.view.inodes(self.location)
        hit = self._inodes.get((seen.dev, seen.inode))
        if hit is None or hit[1] != seen.ftype or hit[0] in self._moved:
            return None
        origin = self.view.entry(hit[0], hit[2])
        if origin is None:
            return None
        old_path = self.view.path_of(origin.eid, origin.parent, self.path)
        if old_path is not None and old_path != path:
            still = stat_path(old_path)
            if still is not None and (still.dev, still.inode) == (seen.dev, seen.inode):
                return None  # a second link to the same inode, not a move
        return origin

    # -- batches ------------------------------------------------------------------------------------

    def _maybe_flush(self) -> None:
        if self._batch.full():
            self._flush()

    def _flush(self) -> None:
        batch = self._batch
        if not len(batch):
            return
        self._batch = _Batch()
        if batch.work:
            batch.identities = self.identifier.submit([w for _, _, w in batch.work])
        self._in_flight.append(batch)
        # Emit in walk order: whatever is ready at the head, and wait only when too much is
        # in flight.
        while self._in_flight and (
            len(self._in_flight) > IN_FLIGHT
            or self._in_flight[0].identities is None
            or self._in_flight[0].identities.done()
        ):
            self._emit(self._in_flight.popleft())
        self._report()

    def _emit(self, batch: _Batch) -> None:
        if batch.identities is not None:
            dropped: set[int] = set()
            for (target, at, work), ident in zip(batch.work, batch.identities.result()):
                item = target[at]
                if ident.gone:
                    dropped.add(id(item))  # vanished or replaced since listed: the next run
                    continue
                if ident.error is not None:
                    self.stats.error(f"{os.fsdecode(work.path)}: {ident.error}")
                if id(item) in batch.retries:
                    if ident.cid is None:
                        dropped.add(id(item))  # still unreadable: nothing new to say
                        continue
                    self.stats.modified += 1
                if target is batch.indexed:
                    item[4], item[5] = ident.size, ident.mtime_ns
                    item[6] = ident.inode or item[6]
                    item[7], item[8] = ident.kind, ident.cid
                else:
                    item[2], item[3] = ident.size, ident.mtime_ns
                    item[4] = ident.inode or item[4]
                    item[5], item[6] = ident.kind, ident.cid
            if dropped:
                batch.indexed = [i for i in batch.indexed if id(i) not in dropped]
                batch.modified = [i for i in batch.modified if id(i) not in dropped]
        drafts: list[Draft] = []
        if batch.indexed:
            drafts.append(
                CATALOG.body(EntriesIndexed(self.location, tuple(tuple(i) for i in batch.indexed)))
            )
        if batch.moved:
            drafts.append(CATALOG.body(EntriesMoved(self.location, tuple(batch.moved))))
        if batch.modified:
            drafts.append(
                CATALOG.body(
                    EntriesModified(self.location, tuple(tuple(i) for i in batch.modified))
                )
            )
        if drafts:
            self.emit(drafts)

    def _finish(self) -> None:
        self._flush()
        while self._in_flight:
            self._emit(self._in_flight.popleft())
        gone = [(k.eid, k.parent) for k in self._missing.values() if k.eid not in self._moved]
        if gone and self.still_there is not None:
            self.still_there()
        chunks = [tuple(gone[start : start + BATCH]) for start in range(0, len(gone), BATCH)]
        deleting = sum(self.view.subtree_size(chunk) for chunk in chunks)
        if (
            not self.confirm_deletions
            and deleting > HOLD_MIN
            and deleting * 2 > self._entries_before
        ):
            self._report(force=True)
            raise DeletionsHeld(os.fsdecode(self.path), deleting, self._entries_before)
        for chunk in chunks:
            self.emit([CATALOG.body(EntriesDeleted(self.location, chunk))])
        self.stats.deleted += deleting
        self._report(force=True)

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.progress is not None and (force or now - self._last_progress > 0.1):
            self._last_progress = now
            self.progress(self.stats)
