"""Spacedrop's disk side: the files offered, and the inbox they land in.

Blocking functions, run in executor threads by :mod:`sdactors.net.drop.service`. What arrives is
written to ``inbox/.sd-partial-<blake3 hex>``: a drop cut off part way keeps it, and the same
content offered again (by the sender reconnecting, or sending the files anew) goes on from
its size. A file appears under its own name only once the whole of it, hashed as it was
written, has the blake3 that was offered, and is on the disk; it never replaces a file
already there.
"""

from __future__ import annotations

import errno
import mmap
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import blake3

from sdactors.fileops.transfer import CHUNK, PARTIAL, drop_cache, fsync_folder
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
# Writes that bypass the page cache go by whole blocks of this size, from an address
# aligned to it (what Linux asks of O_DIRECT on common disks and file systems).
BLOCK = 4096


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
    file. A resumed partial's first ``offset`` bytes are hashed from the disk once.

    Where the file system allows it (Linux), the bytes go to the disk straight from a buffer
    of ours (``O_DIRECT``), whole blocks at a time, not through the page cache: a drop's
    bytes are not read again here, and filling the cache with them cost the receiver more
    CPU than the stream itself (in the profile of a GiB: 1-2 s of the kernel's copying into
    new cache pages, against 0.1 s), then a second or so of fsync at the end. The last part
    of a block goes through the page cache, once the file ends or the writing stops; the
    partial is always the file's first bytes, as a resume needs. The fsync in
    :meth:`finish` still decides when the file is durable."""

    def __init__(self, partial: bytes, offset: int) -> None:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        self.partial = partial
        self._fd: int | None = os.open(partial, flags, 0o600)
        os.ftruncate(self._fd, offset)
        self._hasher = blake3.blake3()
        if offset:
            self._hasher.update_mmap(os.fsdecode(partial))
        # The file's bytes up to ``_at`` are written; ``_held`` more wait in ``_buffer``.
        self._at = offset
        self._held = 0
        self._direct = _open_direct(partial)
        self._buffer = mmap.mmap(-1, BLOCK + CHUNK) if self._direct is not None else None

    def write(self, data: bytes) -> None:
        assert self._fd is not None
        self._hasher.update(data)
        view = memoryview(data)
        if self._direct is not None and self._at % BLOCK and not self._held:
            # A resume from the middle of a block: through the cache up to its end.
            lead = view[: BLOCK - self._at % BLOCK]
            self._write_cached(lead)
            view = view[len(lead) :]
        if self._direct is None:
            self._write_cached(view)
            return
        buffer = self._buffer
        assert buffer is not None
        while view:
            part = view[: len(buffer) - self._held]
            buffer[self._held : self._held + len(part)] = part
            self._held += len(part)
            view = view[len(part) :]
            self._write_blocks()

    def _write_blocks(self) -> None:
        """Write the whole blocks held, straight to the disk; keep the rest."""
        assert self._direct is not None and self._buffer is not None
        whole = self._held - self._held % BLOCK
        if not whole:
            return
        try:
            with memoryview(self._buffer) as blocks:
                done = os.pwrite(self._direct, blocks[:whole], self._at)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            done = 0  # blocks larger than ours here: the cache takes it all from now on
        self._at += done
        self._buffer.move(0, done, self._held - done)
        self._held -= done
        if done != whole:
            self._stop_direct()

    def _stop_direct(self) -> None:
        """What is held goes through the page cache, and so does all that follows."""
        if self._direct is None:
            return
        buffer, direct = self._buffer, self._direct
        self._direct = self._buffer = None
        held, self._held = self._held, 0
        try:
            if held:
                assert buffer is not None
                with memoryview(buffer) as rest:
                    self._write_cached(rest[:held])
        finally:
            os.close(direct)  # the buffer goes with its last view (an error's may hold one)

    def _write_cached(self, view: memoryview) -> None:
        assert self._fd is not None
        while view:
            done = os.pwrite(self._fd, view, self._at)
            self._at += done
            view = view[done:]

    def close(self) -> None:
        """Stop writing; the partial stays, with every byte received, to go on from
        (closing twice is fine)."""
        fd = self._fd
        if fd is None:
            return
        try:
            self._stop_direct()
        except OSError:
            pass  # a full disk: the partial keeps fewer bytes, and a resume sends the rest
        finally:
            self._fd = None
            os.close(fd)

    def finish(self, folder: bytes, offered: Offered) -> bytes:
        """Check what was written against the offered blake3, make it durable, and put it
        in place under a free name; the path it got. A mismatch removes it."""
        assert self._fd is not None
        try:
            self._stop_direct()
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


def _open_direct(partial: bytes) -> int | None:
    """The partial opened for writes that bypass the page cache, or None where they cannot
    (not Linux, or a file system without them)."""
    flags = getattr(os, "O_DIRECT", 0)
    if not flags:
        return None
    try:
        return os.open(partial, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC | flags)
    except OSError as exc:
        if exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
            return None
        raise


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
