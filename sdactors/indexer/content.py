"""Content identity, computed exactly as the Spacedrive V2 engine does, so ids agree.

blake3 over: the file size as a little-endian u64, then for files of at most 100 KiB their
whole content; for larger ones an 8 KiB header, four 10 KiB samples at
``8 KiB + i * ((size - 16 KiB) / 4)`` and the 8 KiB footer (about 56 KiB read whatever the
size). Empty files have no content id. Spacedrive shows the first 16 hex characters; the
whole 32-byte hash is kept and the prefix is only what people see.

A file is opened with O_NOFOLLOW and O_NONBLOCK: if it was swapped for a symlink or a FIFO
since it was listed, opening it neither follows the link nor hangs. It is re-checked with
fstat after reading; if it changed while being read, it is read again (a few times) and
otherwise given no id, never a wrong one.

The full-file hash (``full_hash``) is another thing: plain blake3 of every byte, as
``b3sum`` prints it, for the separate, optional jobs that need it (verification, Spacedrop).
"""

from __future__ import annotations

import errno
import os
import stat
from typing import NamedTuple

import blake3

from events.domain.entries import INODE_MASK

SMALL_FILE_MAX = 100 * 1024
HEADER_OR_FOOTER = 8 * 1024
SAMPLE_COUNT = 4
SAMPLE_SIZE = 10 * 1024
SHOWN_HEX = 16
_RETRIES = 3
# The full-file hash reads through one buffer of this size: big enough that a read costs
# little beside hashing it, small enough to stay in the CPU's caches.
FULL_HASH_BUFFER = 1 << 20

# open() errors meaning "no longer the regular file that was listed" (ELOOP: now a symlink).
_GONE = {errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENXIO}

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


class Identity(NamedTuple):
    """What reading a file told us. ``cid`` is None for empty, unreadable or unsteady files."""

    cid: bytes | None
    # The first bytes (up to 100 KiB for small files, 8 KiB otherwise), for kind detection.
    head: bytes | None
    size: int
    mtime_ns: int
    inode: int
    error: str | None = None
    # Vanished, or swapped for something that is not a regular file, since it was listed.
    gone: bool = False


def sample_offsets(size: int) -> list[int]:
    """Where the four samples of a large file start."""
    jump = (size - 2 * HEADER_OR_FOOTER) // SAMPLE_COUNT
    return [HEADER_OR_FOOTER + i * jump for i in range(SAMPLE_COUNT)]


def sample_ranges(size: int) -> list[tuple[int, int]]:
    """The ``(offset, length)`` ranges of a file of ``size`` bytes whose content, after the
    size, makes its content id: the whole file up to 100 KiB, else the header, the four
    samples and the footer. One definition, for the indexer and for whoever must read the
    very same bytes (the benchmark's ``b3sum`` baseline)."""
    if size <= SMALL_FILE_MAX:
        return [(0, size)]
    samples = [(offset, SAMPLE_SIZE) for offset in sample_offsets(size)]
    return [(0, HEADER_OR_FOOTER), *samples, (size - HEADER_OR_FOOTER, HEADER_OR_FOOTER)]


def content_id_of_bytes(data: bytes) -> bytes | None:
    """The content id of in-memory content (tests and verification)."""
    size = len(data)
    if size == 0:
        return None
    hasher = blake3.blake3(size.to_bytes(8, "little"))
    for offset, length in sample_ranges(size):
        hasher.update(data[offset : offset + length])
    return hasher.digest()


def full_hash(
    path: bytes | str, *, dir_fd: int | None = None, buffer: bytearray | None = None
) -> bytes:
    """blake3 of a regular file's whole content, the hash ``b3sum`` prints.

    The file is read into one reused buffer (``f.read()`` of a big file allocates it whole
    and caps blake3 at a fraction of its speed); pass ``buffer`` to reuse it across files as
    well, where a million small files would otherwise cost a million allocations. Opened
    like ``identify`` opens (no link followed, no FIFO waited on). Raises OSError, with
    EINVAL for what is not a regular file.
    """
    buf = buffer if buffer is not None else bytearray(FULL_HASH_BUFFER)
    view = memoryview(buf)
    hasher = blake3.blake3()
    fd = os.open(path, _OPEN_FLAGS, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        while read := os.readv(fd, [buf]):
            hasher.update(view[:read])
    finally:
        os.close(fd)
    return hasher.digest()


def shown(cid: bytes | None) -> str | None:
    """The prefix people see (Spacedrive's 16 hex characters)."""
    return cid.hex()[:SHOWN_HEX] if cid else None


def identify(path: bytes, size: int, mtime_ns: int, dir_fd: int | None = None) -> Identity:
    """Open, read and hash one regular file that a walk saw with ``size`` and ``mtime_ns``.

    With ``dir_fd``, ``path`` is a name in that folder (opened relative to it: cheaper).
    Never raises for the file's sake (see ``error``). The fast path trusts the walk's stat
    and checks it once after reading (one fstat); anything unexpected takes the careful path.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        return Identity(None, None, size, mtime_ns, 0, exc.strerror or str(exc), exc.errno in _GONE)
    try:
        if 0 < size <= SMALL_FILE_MAX:
            data = os.read(fd, size + 1)
            after = os.fstat(fd)
            if (
                len(data) == size
                and after.st_size == size
                and after.st_mtime_ns == mtime_ns
                and stat.S_ISREG(after.st_mode)
            ):
                hasher = blake3.blake3(size.to_bytes(8, "little"))
                hasher.update(data)
                return Identity(hasher.digest(), data, size, mtime_ns, after.st_ino & INODE_MASK)
            os.lseek(fd, 0, os.SEEK_SET)
        return _identify_fd(fd)
    except OSError as exc:
        return Identity(None, None, size, mtime_ns, 0, exc.strerror or str(exc))
    finally:
        os.close(fd)


def _identify_fd(fd: int) -> Identity:
    """The careful path: stat, read, stat again, and retry while the file keeps changing."""
    before = os.fstat(fd)
    if not stat.S_ISREG(before.st_mode):
        return Identity(
            None,
            None,
            before.st_size,
            before.st_mtime_ns,
            before.st_ino & INODE_MASK,
            "not a regular file",
            True,
        )
    for _ in range(_RETRIES):
        size = before.st_size
        if size == 0:
            return Identity(None, b"", 0, before.st_mtime_ns, before.st_ino & INODE_MASK)
        hasher = blake3.blake3(size.to_bytes(8, "little"))
        if size <= SMALL_FILE_MAX:
            head = os.read(fd, size) if size else b""
            whole = len(head) == size
            hasher.update(head)
        else:
            ranges = sample_ranges(size)
            chunks = [os.pread(fd, length, offset) for offset, length in ranges]
            whole = all(len(chunk) == length for chunk, (_, length) in zip(chunks, ranges))
            for chunk in chunks:
                hasher.update(chunk)
            head = chunks[0]
        after = os.fstat(fd)
        if whole and after.st_size == size and after.st_mtime_ns == before.st_mtime_ns:
            return Identity(
                hasher.digest(), head, size, after.st_mtime_ns, after.st_ino & INODE_MASK
            )
        # Changed while we read it: try again from the start with what it is now.
        before = after
        os.lseek(fd, 0, os.SEEK_SET)
    return Identity(
        None,
        None,
        before.st_size,
        before.st_mtime_ns,
        before.st_ino & INODE_MASK,
        "kept changing while being read",
    )
