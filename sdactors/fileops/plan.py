"""What a copy or move will do, decided before anything is written: where the source lands,
whether that is allowed, and the tree to copy with its size (for progress)."""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from sdactors.runtime.errors import (
    CannotCopy,
    DestinationExists,
    DestinationIsFolder,
    IntoItself,
    NoDestinationFolder,
    SamePath,
    SourceMissing,
)
from sdactors.runtime.paths import show

ProgressFn = Callable[[dict[str, Any]], None]
EVERY_S = 0.1


@dataclass
class Progress:
    """Counters of one operation, reported as a dict: ``phase`` and bytes/files done of the
    totals (a total of 0 when not known)."""

    report: ProgressFn | None
    phase: str = "copy"
    bytes_done: int = 0
    bytes_total: int = 0
    files_done: int = 0
    files_total: int = 0
    _last: float = 0.0

    def tell(self, now: bool = False) -> None:
        """Report, at most every ``EVERY_S`` unless ``now`` (a phase starting or ending):
        a folder of many small files would otherwise send a report per file."""
        if self.report is None:
            return
        at = time.monotonic()
        if now or at - self._last >= EVERY_S:
            self._last = at
            self.report(
                {
                    "phase": self.phase,
                    "bytes_done": self.bytes_done,
                    "bytes_total": self.bytes_total,
                    "files_done": self.files_done,
                    "files_total": self.files_total,
                }
            )


DIR, FILE, LINK = "dir", "file", "link"


@dataclass
class Tree:
    """Everything below (and including) a source, parents before children; ``rel`` is b""
    for the source itself. ``stamps`` say what each entry was when scanned (inode, type,
    size, modification and change times): a tree scanned again with other stamps changed."""

    entries: list[tuple[bytes, str, int]] = field(default_factory=list)
    stamps: list[tuple[bytes, int, int, int, int, int]] = field(default_factory=list)
    bytes: int = 0
    files: int = 0


def scan(source: bytes) -> Tree:
    """The tree to copy. Links are copied as links; a FIFO, socket or device is refused up
    front (reading one could block or never end), before anything is written."""
    tree = Tree()

    def visit(path: bytes, rel: bytes) -> None:
        st = os.lstat(path)
        tree.stamps.append((rel, st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        if stat.S_ISDIR(st.st_mode):
            tree.entries.append((rel, DIR, 0))
            for name in sorted(os.listdir(path)):
                visit(os.path.join(path, name), os.path.join(rel, name) if rel else name)
        elif stat.S_ISREG(st.st_mode):
            tree.entries.append((rel, FILE, st.st_size))
            tree.bytes += st.st_size
            tree.files += 1
        elif stat.S_ISLNK(st.st_mode):
            tree.entries.append((rel, LINK, 0))
        else:
            raise CannotCopy(show(path), st.st_mode)

    visit(source, b"")
    return tree


def unchanged(source: bytes, tree: Tree) -> bool:
    """Whether ``source`` is still what ``tree`` scanned: no entry written, added, removed
    or replaced since (a move deletes its source only then)."""
    try:
        return scan(source).stamps == tree.stamps
    except (OSError, CannotCopy):
        return False


def destination(source: bytes, dst: bytes) -> bytes:
    """Where ``source`` lands: inside ``dst`` if that is an existing folder (as cp and mv
    do), else at ``dst`` itself."""
    if os.path.isdir(dst):
        return os.path.join(os.path.realpath(dst), os.path.basename(source))
    return dst


def check_transfer(source: bytes, target: bytes, force: bool) -> None:
    """Refuse a copy or move of ``source`` to ``target`` that would lose or corrupt data:
    a missing source, a target inside the source, an existing target without ``force``, a
    folder as the target even with it."""
    if not os.path.lexists(source):
        raise SourceMissing(show(source))
    if target == source:
        raise SamePath(show(source))
    if target.startswith(source.rstrip(b"/") + b"/"):
        raise IntoItself(show(source), show(target))
    if not os.path.isdir(os.path.dirname(target)):
        raise NoDestinationFolder(show(target))
    if os.path.lexists(target):
        if not force:
            raise DestinationExists(show(target))
        if stat.S_ISDIR(os.lstat(target).st_mode):
            raise DestinationIsFolder(show(target))


def same_volume(source: bytes, folder: bytes) -> bool:
    """Whether a rename can take ``source`` into ``folder`` (one file system)."""
    return os.lstat(source).st_dev == os.stat(folder).st_dev
