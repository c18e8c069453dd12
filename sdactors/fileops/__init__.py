"""File operations on disk: move, verified copy, trash and permanent removal.

Pure disk work, nothing about libraries or events: each operation takes its paths (absolute
bytes), a progress callback (a dict of counters) and a ``threading.Event`` it checks between
chunks and files, so the same call can run in a command, an action thread or a durable job.
The index follows separately (``sdactors/ops/files.py`` asks the Indexer to rescan the
folders that changed).
"""

from sdactors.fileops.plan import Progress, check_transfer, destination
from sdactors.fileops.transfer import copy, move
from sdactors.fileops.trash import delete_permanently, trash

__all__ = [
    "Progress",
    "check_transfer",
    "copy",
    "delete_permanently",
    "destination",
    "move",
    "trash",
]
