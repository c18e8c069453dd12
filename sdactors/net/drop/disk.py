"""Spacedrop's disk side: the files offered, and the inbox they land in.

Blocking functions, run in executor threads by :mod:`sdactors.net.drop.service`. What arrives is
written to ``inbox/.sd-partial-<blake3 hex>``: a drop cut off part way keeps it, and the same
content offered again (by the sender reconnecting, or sending the files anew) goes on from
its size. A file appears under its own name only once the whole of it, read back from the
disk, has the blake3 that was offered; it never replaces a file already there.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import blake3

from sdactors.fileops.transfer import PARTIAL, drop_cache, fsync_folder, write_all
from sdactors.indexer.content import full_hash
from sdactors.runtime.errors import DropMismatch, DropNotAFile, SourceChanged
from sdactors.runtime.paths import show, text
from sdactors.runtime.private_files import private_dir

# A name in the inbox is at most this long (most file systems allow 255 bytes).
NAME_MOST = 255
# Room a drop leaves on the inbox's disk for everything else there: this much, or a
# sixteenth of a small disk.
SPARE_MOST = 64 << 20
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


@dataclass(frozen=True, slots=True)
class Offered:
    """One file of an offer: its name (one path component), size and whole-file blake3."""

    name: bytes
    size: int
    blake3: bytes

    def wire(self) -> dict[str, object]:
        return {"name": self.name, "size": self.size, "blake3": self.blake3}

    def shown(self) -> dict[str, object]:
        return {"name": text(self.name), "size": self.size, "blake3": self.blake3.hex()}


@dataclass(frozen=True, slots=True)
class Source:
    """A file about to be sent, with what it looked like when it was hashed: a file that
    changes while it is sent is caught here rather than by the receiver's check."""

    path: bytes
    offered: Offered
    mtime_ns: int


def describe(path: bytes) -> Source:
    """Hash a file to offer it (a folder, a device or a FIFO is refused)."""
    try:
        fd = os.open(path, _READ)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW on a link: the CLI resolved links already
            raise DropNotAFile(show(path)) from None
        raise
    try:
        before = os.fstat(fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(before.st_mode):
        raise DropNotAFile(show(path))
    digest = full_hash(path)
    _unchanged(path, before.st_size, before.st_mtime_ns)
    offered = Offered(os.path.basename(path), before.st_size, digest)
    return Source(path, offered, before.st_mtime_ns)


def _unchanged(path: bytes, size: int, mtime_ns: int) -> None:
    after = os.stat(path, follow_symlinks=False)
    if (after.st_size, after.st_mtime_ns) != (size, mtime_ns):
        raise SourceChanged(show(path))


class Reader:
    """The chunks of a source from an offset on; ``close`` checks it did not change."""

    def __init__(self, source: Source, offset: int) -> None:
        self.source = source
        self._fd = os.open(source.path, _READ)
        os.lseek(self._fd, offset, os.SEEK_SET)

    def read(self, most: int) -> bytes:
        return os.read(self._fd, most)

    def close(self, check: bool) -> None:
        os.close(self._fd)
        if check:
            _unchanged(self.source.path, self.source.offered.size, self.source.mtime_ns)


def inbox(root: Path) -> bytes:
    """The library's inbox, made owner-only (it holds what other devices sent)."""
    private_dir(root)
    return os.fsencode(root)


def partial_of(folder: bytes, blake3: bytes) -> bytes:
    return os.path.join(folder, PARTIAL + blake3.hex().encode())


def held(partial: bytes, size: int) -> int:
    """How much of the file the partial already holds: where sending goes on from. A partial
    longer than the file offered is not of this file: it starts again."""
    have = _holds(partial, size)
    if have is None:
        os.unlink(partial)
        return 0
    return have


def _holds(partial: bytes, size: int) -> int | None:
    """The partial's size; 0 when there is none, None when it is not of this file."""
    try:
        have = os.stat(partial, follow_symlinks=False)
    except FileNotFoundError:
        return 0
    if not stat.S_ISREG(have.st_mode) or have.st_size > size:
        return None
    return have.st_size


def short_of_room(folder: bytes, files: Iterable[Offered]) -> str | None:
    """Why ``files`` do not fit on the inbox's disk, or None when they do: what partials of
    them hold already is not needed again, and some room is left for everything else."""
    needed = sum(f.size - (_holds(partial_of(folder, f.blake3), f.size) or 0) for f in files)
    found = os.statvfs(folder)
    free = found.f_bavail * found.f_frsize
    spare = min(SPARE_MOST, found.f_blocks * found.f_frsize // 16)
    if needed + spare <= free:
        return None
    return (
        f"not enough free space on the receiving device ({_mb(needed)} needed, "
        f"{_mb(max(0, free - spare))} free)"
    )


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


class Writer:
    """Appends to a partial from ``offset`` (what was there past it is cut off first), and
    hashes every byte as it is written: the check at the end needs no second read of the
    file. A resumed partial's first ``offset`` bytes are hashed from the disk once."""

    def __init__(self, partial: bytes, offset: int) -> None:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        self.partial = partial
        self._fd: int | None = os.open(partial, flags, 0o600)
        os.ftruncate(self._fd, offset)
        self._hasher = blake3.blake3()
        if offset:
            self._hasher.update_mmap(os.fsdecode(partial))
        os.lseek(self._fd, offset, os.SEEK_SET)

    def write(self, data: bytes) -> None:
        assert self._fd is not None
        self._hasher.update(data)
        write_all(self._fd, data)

    def close(self) -> None:
        """Stop writing; the partial stays, to go on from (closing twice is fine)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def finish(self, folder: bytes, offered: Offered) -> bytes:
        """Check what was written against the offered blake3, make it durable, and put it
        in place under a free name; the path it got. A mismatch removes it."""
        assert self._fd is not None
        try:
            os.fsync(self._fd)
            drop_cache(self._fd)
        finally:
            self.close()
        if self._hasher.digest() != offered.blake3:
            os.unlink(self.partial)
            raise DropMismatch(show(offered.name))
        placed = place(self.partial, folder, offered.name)
        fsync_folder(folder)
        return placed


def discard(partial: bytes) -> None:
    """Remove a partial: the disk filled up, and what it holds would only keep it full."""
    try:
        os.unlink(partial)
    except FileNotFoundError:
        pass


def place(partial: bytes, folder: bytes, name: bytes) -> bytes:
    """Give the partial its name, or ``name (1).ext``, ``name (2).ext``...: never over a file
    already there, even one that appears meanwhile (a hard link fails on an existing name;
    a rename would replace it)."""
    n = 0
    while True:
        target = os.path.join(folder, numbered(name, n))
        try:
            os.link(partial, target)
        except FileExistsError:
            n += 1
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            if os.path.lexists(target):  # no hard links here: check, then rename
                n += 1
                continue
            os.rename(partial, target)
            return target
        os.unlink(partial)
        return target


def numbered(name: bytes, n: int) -> bytes:
    """``report.pdf``, then ``report (1).pdf``, ``report (2).pdf``... within NAME_MOST."""
    if n == 0:
        return name
    stem, dot, ext = name.rpartition(b".")
    if not stem or not dot:  # no extension, or a name like ".profile"
        stem, ext = name, b""
    else:
        ext = b"." + ext
    suffix = b" (%d)" % n + ext
    return stem[: max(1, NAME_MOST - len(suffix))] + suffix
