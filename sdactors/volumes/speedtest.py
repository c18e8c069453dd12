"""A volume's sequential write and read speed, measured with a temporary file on it.

The test must say something about the disk, not about memory, and must never hurt the
volume or keep the user waiting:

- the write is synced (``fdatasync`` every few MiB and ``fsync`` at the end, all timed), so
  it measures the disk and not the page cache;
- before the read, the file's pages are dropped from the cache (``posix_fadvise`` with
  ``DONTNEED`` on Linux; on macOS the file is opened ``F_NOCACHE``), so the read comes from the
  disk too. A memory-backed volume (tmpfs) reads at memory speed regardless, as it should;
- it writes at most ``max_bytes`` and stops early when its time is up: the write gets half of
  ``max_seconds``, the read what is left. A phase ends at most one sync interval past its
  share, and always moves at least one chunk, so a number is always reported;
- the file is removed whatever happens.
"""

from __future__ import annotations

import errno
import fcntl
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

from sdactors.runtime.errors import SpeedTestFailed, VolumeReadOnly
from sdactors.runtime.logs import get_logger

log = get_logger(__name__)

MIB = 1 << 20
DEFAULT_MAX_BYTES = 64 * MIB
DEFAULT_MAX_SECONDS = 5.0
CHUNK = MIB
# Sync this often while writing, so time is checked against the disk and not the cache.
SYNC_EVERY = 4 * MIB
TEMP_PREFIX = ".sd-speedtest-"

# macOS only: turns the page cache off for one file descriptor.
_F_NOCACHE: int | None = getattr(fcntl, "F_NOCACHE", None)
_datasync = getattr(os, "fdatasync", os.fsync)

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class SpeedResult:
    bytes_written: int
    write_seconds: float
    bytes_read: int
    read_seconds: float
    # Whether the read could be kept from being served from the page cache.
    cache_dropped: bool

    @property
    def write_mbps(self) -> float:
        """Megabytes (10^6 bytes) per second."""
        return self.bytes_written / self.write_seconds / 1e6 if self.write_seconds else 0.0

    @property
    def read_mbps(self) -> float:
        return self.bytes_read / self.read_seconds / 1e6 if self.read_seconds else 0.0

    @property
    def seconds(self) -> float:
        return self.write_seconds + self.read_seconds


def speed_test(
    mount_point: str,
    *,
    read_only: bool,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> SpeedResult:
    """Measure the volume mounted at ``mount_point`` (validated by the caller)."""
    if read_only:
        raise VolumeReadOnly(mount_point)
    directory = writable_directory(mount_point)
    try:
        result = measure(directory, max_bytes=max_bytes, max_seconds=max_seconds)
    except OSError as exc:
        if exc.errno == errno.EROFS:
            raise VolumeReadOnly(mount_point) from exc
        raise SpeedTestFailed(mount_point, exc.strerror or str(exc)) from exc
    log.info(
        "volume_speed_measured",
        mount_point=mount_point,
        directory=directory,
        write_mbps=round(result.write_mbps, 1),
        read_mbps=round(result.read_mbps, 1),
        bytes=result.bytes_written,
        cache_dropped=result.cache_dropped,
    )
    return result


def writable_directory(mount_point: str) -> str:
    """Where on the volume the test file can go: the mount point itself if this user may
    write there, else the temp directory or the home directory when they are on that volume
    (``/`` is rarely writable, ``/tmp`` on it usually is)."""
    dev = os.stat(mount_point).st_dev
    for candidate in (mount_point, tempfile.gettempdir(), os.path.expanduser("~")):
        try:
            same = os.stat(candidate).st_dev == dev
        except OSError:
            continue
        if same and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    raise SpeedTestFailed(mount_point, "this user may not write anywhere on it")


def measure(
    directory: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    clock: Clock = time.perf_counter,
) -> SpeedResult:
    """Write then read one temporary file in ``directory``; raises OSError as it comes."""
    if max_bytes <= 0 or max_seconds <= 0:
        raise ValueError("a speed test needs a positive size and time")
    chunk = min(CHUNK, max_bytes)
    fd, path = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
    try:
        uncached = _open_uncached(fd)
        written, write_s = _write(fd, os.urandom(chunk), max_bytes, max_seconds / 2, clock)
        dropped = _drop_cache(fd)
        read, read_s = _read(fd, chunk, written, max_seconds - write_s, clock)
    finally:
        os.close(fd)
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    return SpeedResult(written, write_s, read, read_s, uncached or dropped)


def _write(fd: int, block: bytes, max_bytes: int, budget: float, clock: Clock) -> tuple[int, float]:
    view = memoryview(block)
    start = clock()
    done = unsynced = 0
    while done < max_bytes:
        n = os.write(fd, view[: max_bytes - done])
        done += n
        unsynced += n
        if unsynced >= SYNC_EVERY:
            _datasync(fd)
            unsynced = 0
        if clock() - start >= budget:
            break
    os.fsync(fd)
    return done, clock() - start


def _read(fd: int, chunk: int, size: int, budget: float, clock: Clock) -> tuple[int, float]:
    buffer = bytearray(chunk)
    os.lseek(fd, 0, os.SEEK_SET)
    start = clock()
    done = 0
    while done < size:
        n = os.readv(fd, [buffer])
        if n == 0:
            break
        done += n
        if clock() - start >= budget:
            break
    return done, clock() - start


def _open_uncached(fd: int) -> bool:
    """macOS has no ``posix_fadvise``; ``F_NOCACHE`` keeps this file's pages out instead."""
    if _F_NOCACHE is None:
        return False
    fcntl.fcntl(fd, _F_NOCACHE, 1)
    return True


def _drop_cache(fd: int) -> bool:
    """Evict the file's (synced, so clean) pages, so the read has to go to the disk."""
    if not hasattr(os, "posix_fadvise"):
        return False
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    return True
