"""File operations on disk: move, verified copy, trash and permanent removal.

Pure disk work, nothing about libraries or events: each operation takes its paths (absolute
bytes), a progress callback (a dict of counters) and a ``threading.Event`` it checks between
chunks and files, so the same call can run in a command, an action thread or a durable job.
The index follows separately (``sdactors/ops/files.py`` asks the Indexer to rescan the
folders that changed).
"""

from sdactors.fileops.plan import Progress, check_transfer, destination
from sdactors.fileops.transfer import Replace, copy, move, remove_partials
from sdactors.fileops.trash import (
    Trashed,
    check_restore,
    delete_permanently,
    empty,
    find,
    item_id,
    items,
    keep_copy,
    remove_leftovers,
    restore,
    trash,
)

__all__ = [
    "Progress",
    "Replace",
    "Trashed",
    "check_restore",
    "check_transfer",
    "copy",
    "delete_permanently",
    "destination",
    "empty",
    "find",
    "item_id",
    "items",
    "keep_copy",
    "move",
    "remove_leftovers",
    "remove_partials",
    "restore",
    "trash",
]
