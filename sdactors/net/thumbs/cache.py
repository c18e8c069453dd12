"""The thumbnails this node fetched from other devices, kept on disk and bounded in size.

Under the data directory (``cache/thumbnails/<library>/``, laid out as a library's own
thumbnails are: :func:`sdactors.media.layout.thumbnail_path`), at most ``[thumbnails]
cache_mb`` of node.toml; the least recently used go first. A use sets the file's mtime, so
the order survives a restart: the first write of a process reads it back from the disk.
Files appear by rename only (:func:`sdactors.runtime.private_files.write_private`): a
crash leaves a whole thumbnail or none, and what a killed writer left is removed then.

One node writes (its network service, one fetch per thumbnail at a time); a command run
without a node only reads. The bookkeeping is guarded by a lock: reads and writes come from
executor threads.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

from sdactors.media.layout import thumbnail_path
from sdactors.runtime.config import ThumbnailConfig
from sdactors.runtime.logs import get_logger
from sdactors.runtime.paths import DataDir
from sdactors.runtime.private_files import private_dir, write_private

log = get_logger(__name__)

SUFFIX = ".webp"


class ThumbnailCache:
    """See the module's text. ``most``: the bound in bytes."""

    def __init__(self, root: Path, most: int) -> None:
        self.root = root
        self.most = most
        self._lock = threading.Lock()
        # Each file and its size, least recently used first; None until the first write.
        self._files: OrderedDict[Path, int] | None = None
        self._total = 0

    @classmethod
    def of(cls, data: DataDir, config: ThumbnailConfig) -> ThumbnailCache:
        """The cache of the data directory ``data``, as node.toml bounds it."""
        return cls(data.thumbnail_cache, config.cache_mb << 20)

    def path(self, library: str, cid: bytes, size: int) -> Path:
        return thumbnail_path(self.root / library, cid, size)

    def get(self, library: str, cid: bytes, size: int) -> Path | None:
        """The cached thumbnail, marked as just used; None when it is not here."""
        path = self.path(library, cid, size)
        with self._lock:
            try:
                _used(path)
            except FileNotFoundError:
                return None
            if self._files is not None and path in self._files:
                self._files.move_to_end(path)
        return path

    def put(self, library: str, cid: bytes, size: int, data: bytes) -> Path:
        """Keep ``data`` as the thumbnail, then make room: the least recently used others
        go until the cache is within its bound (the one just kept stays, whatever it
        weighs: the asker is about to read it)."""
        path = self.path(library, cid, size)
        private_dir(path.parent)
        write_private(path, data)
        _used(path)
        with self._lock:
            files = self._loaded()
            self._total += len(data) - files.pop(path, 0)
            files[path] = len(data)
            self._evict()
        return path

    def total(self) -> int:
        """The bytes the cache holds (read from the disk the first time)."""
        with self._lock:
            self._loaded()
            return self._total

    def _loaded(self) -> OrderedDict[Path, int]:
        if self._files is None:
            mine = f".tmp-{os.getpid()}"  # a write of this process's, under way
            found = []
            for folder, _dirs, names in os.walk(self.root):
                for name in names:
                    path = Path(folder, name)
                    if name.startswith("."):  # what a killed writer left
                        if not name.endswith(mine):
                            path.unlink(missing_ok=True)
                        continue
                    try:
                        st = path.lstat()
                    except FileNotFoundError:
                        continue
                    if name.endswith(SUFFIX):
                        found.append((st.st_mtime_ns, path, st.st_size))
            found.sort()
            self._files = OrderedDict((path, size) for _mtime, path, size in found)
            self._total = sum(self._files.values())
        return self._files

    def _evict(self) -> None:
        """The least recently used out, until within the bound or only the newest is left."""
        files = self._files
        assert files is not None
        evicted = 0
        while self._total > self.most and len(files) > 1:
            oldest = next(iter(files))
            self._total -= files.pop(oldest)
            oldest.unlink(missing_ok=True)
            evicted += 1
        if evicted:
            log.info("thumbnail_cache_evicted", files=evicted, bytes=self._total, most=self.most)


def _used(path: Path) -> None:
    """Mark ``path`` as used now: its mtime, to the nanosecond the clock gives (the kernel's
    own stamp of a write is a tick coarse, too coarse to order two writes in a row)."""
    now = time.time_ns()
    os.utime(path, ns=(now, now))
