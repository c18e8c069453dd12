"""Snapshots of the read models: the index as it was at a position, so that time travel
(``sdactors.replay.snapshots``) folds forward from the nearest one instead of from the start.

A node takes them as it folds (:class:`NodeSnapshots`, driven by the Projector): once enough
of the log has been folded since the last one (``every_mib`` of it: a thousand small tag
events and a thousand batches of entries are not the same work to fold again, their bytes
are), or once ``every_minutes`` have passed with anything folded. The copy is SQLite's
backup of the live index, in one step on a connection of its own: one committed state, the
one its checkpoint names, while the Projector goes on folding. It runs in a thread, so the
fold never waits for it.

Every snapshot is one file in ``<library>/snapshots/`` (owner-only: an index holds every
indexed path), named ``<position>-<kind>-<log>-<blake3>.db``: ``node`` for the node's,
``travel`` for those a ``--at`` made (kept least recently used first out). ``log`` names the
events the log held up to the position (each device's last one there): a log restored or
replaced under it leaves the snapshot unused, never read as another log's. The digest is of
the whole file: a snapshot is read only when its bytes are still the ones written, so a file damaged
or torn (nothing is fsynced: a snapshot is never the only copy of anything) is never an
answer, only a longer fold from an older one. Each is made under a temporary name and
renamed into place once complete: a process killed mid-snapshot leaves no half snapshot,
only a temporary file the next snapshot removes.

The node's are kept spread over the log: past ``keep`` of them, or past ``max_mib`` for
every snapshot of the library, the one whose removal leaves the shortest stretch of log
between its neighbours goes first (never the newest), so any position stays within about
``log / keep`` of one.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import blake3

from events.store import EventStore
from projections.rebuild import remove_db
from projections.runner import read_checkpoint
from sdactors.library.config import LibraryConfig
from sdactors.runtime.logs import get_logger
from sdactors.runtime.private_files import PRIVATE_FILE, private_dir

log = get_logger(__name__)

SUFFIX = ".db"
TEMP_PREFIX = ".partial-"
NODE = "node"
TRAVEL = "travel"
CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class SnapshotPolicy:
    """When the node takes a snapshot and how many it keeps (``[snapshots]`` of
    library.toml: ``every_mib``, ``every_minutes``, ``keep``, ``max_mib``).

    The defaults: a snapshot per 8 MiB of log (about 90,000 indexed entries; folding that
    again takes a few seconds at a million entries), 12 of them spread over the log, and at
    most 4 GiB for every snapshot of the library (an index of a million entries is about
    350 MB)."""

    every_bytes: int = 8 << 20
    every_s: float = 30 * 60.0
    keep: int = 12
    max_bytes: int = 4 << 30


def load_policy(config: LibraryConfig) -> SnapshotPolicy:
    """The library's snapshot settings: the defaults, less what library.toml says."""
    try:
        table: Any = tomllib.loads(config.paths.config.read_text()).get("snapshots", {})
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        table = {}
    if not isinstance(table, dict):
        table = {}
    default = SnapshotPolicy()

    def number(key: str, scale: float, fallback: float) -> float:
        value = table.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return value * scale
        return fallback

    return SnapshotPolicy(
        every_bytes=int(number("every_mib", 1 << 20, default.every_bytes)),
        every_s=number("every_minutes", 60.0, default.every_s),
        keep=max(1, int(number("keep", 1, default.keep))),
        max_bytes=int(number("max_mib", 1 << 20, default.max_bytes)),
    )


@dataclass(frozen=True, slots=True)
class Snapshot:
    position: int
    kind: str  # NODE or TRAVEL
    log: str  # log_mark of the log it was folded from, at its position
    digest: str
    path: Path

    def intact(self) -> bool:
        """Its bytes are still those it was named after: read whole (a fraction of a second
        for an index of a million entries), unless this process found so already and the
        file has not been written to since (its inode, size, mtime and ctime say)."""
        if self.known_intact():
            return True
        try:
            stamp = _stamp(self.path)
            if file_digest(self.path) != self.digest:
                return False
        except OSError:
            return False
        checked(self.path, stamp)
        return True

    def known_intact(self) -> bool:
        """This process read it whole and found it intact, and it was not written to since."""
        try:
            stamp = _stamp(self.path)
        except OSError:
            return False
        with _checked_lock:
            return _checked.get(self.path) == stamp

    def used(self) -> None:
        """Mark it used now (the travels go least recently used first), still known intact
        if it was."""
        try:
            before = _stamp(self.path)
            os.utime(self.path)
            after = _stamp(self.path)
        except OSError:
            return
        with _checked_lock:
            if _checked.get(self.path) == before:
                _checked[self.path] = after

    def stamp(self) -> tuple[int, int, int, int]:
        """What says it was not written to: its inode, size, mtime and ctime."""
        return _stamp(self.path)


# Snapshots this process read whole and found intact, with the stat they had then.
_checked: dict[Path, tuple[int, int, int, int]] = {}
_checked_lock = threading.Lock()


def _stamp(path: Path) -> tuple[int, int, int, int]:
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def snapshot_dir(config: LibraryConfig) -> Path:
    return config.paths.root / "snapshots"


def snapshot_name(position: int, kind: str, log: str, digest: str) -> str:
    return f"{position:012d}-{kind}-{log}-{digest}{SUFFIX}"


def log_mark(store: EventStore, position: int) -> str:
    """What names the events ``store`` holds up to ``position``: a snapshot of that
    position is of this log only if it bears the same."""
    hasher = blake3.blake3()
    for device, last in sorted(store.heads_at(position).items()):
        hasher.update(device + last)
    return hasher.hexdigest()[:16]


def held(folder: Path) -> list[Snapshot]:
    """The snapshots in ``folder``, by position (the node's first at one position)."""
    found = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return []
    for entry in entries:
        if not entry.name.endswith(SUFFIX) or entry.name.startswith("."):
            continue
        parts = entry.name[: -len(SUFFIX)].split("-")
        if len(parts) == 4 and parts[0].isdigit() and parts[1] in (NODE, TRAVEL):
            found.append(Snapshot(int(parts[0]), parts[1], parts[2], parts[3], Path(entry.path)))
    return sorted(found, key=lambda s: (s.position, s.kind != NODE))


def file_digest(path: Path) -> str:
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(path)
    return hasher.hexdigest()


def temp_path(folder: Path, what: str) -> Path:
    """A temporary file of this process (removed by :func:`remove_partials` once it is
    gone)."""
    return folder / f"{TEMP_PREFIX}{os.getpid()}-{what}{SUFFIX}"


def place(tmp: Path, position: int, kind: str, store: EventStore) -> Snapshot:
    """Name a complete file after its position, its log and its digest, by a rename."""
    digest = file_digest(tmp)
    log = log_mark(store, position)
    final = tmp.parent / snapshot_name(position, kind, log, digest)
    os.replace(tmp, final)
    checked(final, _stamp(final))
    return Snapshot(position, kind, log, digest, final)


def checked(path: Path, stamp: tuple[int, int, int, int]) -> None:
    """This process read ``path`` whole, with ``stamp``, and found it intact."""
    with _checked_lock:
        _checked[path] = stamp


def remove_partials(folder: Path) -> None:
    """Temporary files of processes that were killed (never one of a live process), and
    files no snapshot of today is named like."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    named = {s.path.name for s in held(folder)}
    for entry in entries:
        if entry.name.startswith(TEMP_PREFIX):
            pid = entry.name[len(TEMP_PREFIX) :].split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                remove_db(entry.path)
        elif entry.name.endswith(SUFFIX) and entry.name not in named:
            remove_db(entry.path)  # of a version that named them otherwise: never read


def take(index_path: str, folder: Path, store: EventStore) -> Snapshot | None:
    """A snapshot of the live index as it is now (None if one of that position is held)."""
    private_dir(folder)
    remove_partials(folder)
    tmp = temp_path(folder, f"{NODE}-{threading.get_ident()}")
    remove_db(str(tmp))
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE))
        source = sqlite3.connect(f"file:{index_path}?mode=ro", uri=True)
        target = sqlite3.connect(tmp)
        try:
            # One step: the whole copy reads one committed state of the index.
            source.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            position = read_checkpoint(target)
        finally:
            target.close()
            source.close()
        if any(s.position == position and s.kind == NODE for s in held(folder)):
            remove_db(str(tmp))
            return None
        return place(tmp, position, NODE, store)
    except BaseException:
        remove_db(str(tmp))
        raise


def prune(folder: Path, policy: SnapshotPolicy, store: EventStore) -> None:
    """Thin the node's snapshots down to ``keep``, and every snapshot down to ``max_bytes``
    (the node's thinned first, then the least recently used travels)."""
    snaps = held(folder)
    nodes = [s for s in snaps if s.kind == NODE]
    sizes = {s.path: _size(s.path) for s in snaps}
    total = sum(sizes.values())
    while len(nodes) > 1 and (len(nodes) > policy.keep or total > policy.max_bytes):
        gone = _thinnest(nodes, store)
        nodes.remove(gone)
        remove_db(str(gone.path))
        total -= sizes[gone.path]
    if total > policy.max_bytes:
        travels = sorted((s for s in snaps if s.kind == TRAVEL), key=lambda s: _mtime(s.path))
        for snap in travels:
            if total <= policy.max_bytes:
                break
            remove_db(str(snap.path))
            total -= sizes[snap.path]


def _thinnest(nodes: list[Snapshot], store: EventStore) -> Snapshot:
    """The snapshot (not the newest) whose neighbours are closest, in bytes of log."""
    best, best_gap = nodes[0], None
    for i, snap in enumerate(nodes[:-1]):
        before = nodes[i - 1].position if i else 0
        gap = store.bytes_between(before, nodes[i + 1].position)
        if best_gap is None or gap < best_gap:
            best, best_gap = snap, gap
    return best


class NodeSnapshots:
    """The Projector's part: after each fold, whether a snapshot is due, and taking it in a
    thread of its own (one at a time)."""

    def __init__(self, config: LibraryConfig, index_path: str, policy: SnapshotPolicy) -> None:
        self.folder = snapshot_dir(config)
        self.index_path = index_path
        self.policy = policy
        self._thread: threading.Thread | None = None
        mine = [s for s in held(self.folder) if s.kind == NODE]
        self._last = mine[-1].position if mine else 0
        self._last_at = _mtime(mine[-1].path) if mine else time.time()

    def folded(self, checkpoint: int, store: EventStore) -> None:
        """Called after a fold reached ``checkpoint``: take a snapshot if one is due."""
        if checkpoint <= self._last or self.busy:
            return
        waited = time.time() - self._last_at >= self.policy.every_s
        if not waited and store.bytes_between(self._last, checkpoint) < self.policy.every_bytes:
            return
        self._last, self._last_at = checkpoint, time.time()
        self._thread = threading.Thread(
            target=self._take, args=(store.path,), name="index-snapshot", daemon=True
        )
        self._thread.start()

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float) -> None:
        """Wait for a snapshot under way (its copy cannot be stopped halfway)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _take(self, events_path: str) -> None:
        try:
            store = EventStore(events_path, readonly=True)
            try:
                made = take(self.index_path, self.folder, store)
                prune(self.folder, self.policy, store)
            finally:
                store.close()
        except (OSError, sqlite3.Error) as exc:
            # A snapshot only saves time: a full disk or a replaced index costs a longer fold.
            log.warning("snapshot_failed", error=f"{type(exc).__name__}: {exc}")
            return
        if made is not None:
            log.info("snapshot_taken", position=made.position, bytes=_size(made.path))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
