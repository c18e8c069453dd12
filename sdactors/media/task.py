"""What the media job hands a worker and gets back: plain values, light to import (the job's
process never loads a decoder)."""

from __future__ import annotations

from typing import Any, NamedTuple

from events.domain.media import ITEM

# The media fields of an item (``events/domain/media.py: ITEM``) a read fills in: all but
# the entry and the content it names.
FIELDS = ITEM.names[3:]


class Task(NamedTuple):
    """One content to read: every file of this location that holds it, tried in order
    until one can be read (another copy may still be what the index says when one changed)."""

    cid: bytes
    # The index's kind of it: only a hint (``sdactors/media/decode.py``).
    kind: str | None
    # (path, size, mtime_ns) of each file, as the index holds them.
    files: tuple[tuple[bytes, int, int], ...]
    # The thumbnails folder (``LibraryPaths.thumbnails``).
    root: str
    # What the temporary names of this job's thumbnails start with.
    partial: str
    gps: bool


class Outcome(NamedTuple):
    # One per file of the task: its media fields (``FIELDS``), ``error`` set on a failure.
    fields: list[dict[str, Any]]
    # Thumbnails renamed into place.
    written: int
    # The worker ran out of the memory it may use: it leaves, and is replaced.
    exhausted: bool = False


def failed(reason: str) -> dict[str, Any]:
    """The fields of a file that could not be read, and why."""
    fields: dict[str, Any] = dict.fromkeys(FIELDS)
    fields["error"] = reason[:500] or "unknown failure"
    return fields


def all_failed(task: Task, reason: str) -> Outcome:
    return Outcome([failed(reason) for _ in task.files], 0)
