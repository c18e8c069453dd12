"""How many inotify watches a location needs, how many the system allows, and the backoff
of a location that cannot be watched.

On Linux a recursive watch costs one inotify watch per folder, every folder on disk (the
indexer's rules do not matter: the kernel is asked to watch each folder). The per-user
limit is ``fs.inotify.max_user_watches``; past it, adding a watch fails. A location whose
folders do not fit is rescanned periodically instead, and the wait between those rescans
grows, so a location that cannot be watched never costs a busy loop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

MAX_USER_WATCHES = Path("/proc/sys/fs/inotify/max_user_watches")


def read_max_user_watches(path: Path = MAX_USER_WATCHES) -> int | None:
    """The per-user inotify watch limit; None where there is none to read (not Linux)."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class Folders(NamedTuple):
    # Every folder under the root, the root included.
    count: int
    # The folders that could not be listed: a watch cannot be set on them either.
    unreadable: list[bytes]


def walk_folders(root: bytes) -> Folders:
    """The folders under ``root``, as a recursive watch meets them. Links are not followed
    (a watch does not follow them either); an unreadable folder counts as one."""
    count = 0
    unreadable = []
    todo = [root]
    while todo:
        folder = todo.pop()
        count += 1
        try:
            with os.scandir(folder) as it:
                todo.extend(e.path for e in it if e.is_dir(follow_symlinks=False))
        except OSError:
            unreadable.append(folder)
    return Folders(count, unreadable)


def count_folders(root: bytes) -> int:
    """The folders a recursive watch of ``root`` needs, ``root`` included."""
    return walk_folders(root).count


@dataclass(slots=True)
class Backoff:
    """The waits between periodic rescans: ``first``, doubling up to ``most`` (seconds)."""

    first: float = 30.0
    most: float = 900.0
    _next: float | None = field(default=None, repr=False)

    def next(self) -> float:
        wait = self.first if self._next is None else self._next
        self._next = min(wait * 2, self.most)
        return wait

    def reset(self) -> None:
        self._next = None
