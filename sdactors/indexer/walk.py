"""Listing one folder: what is in it, with lstat's view of each child.

Nothing here follows a symlink or opens a special file: children are stat'ed with lstat
(``follow_symlinks=False``), a link's target is read with readlink and recorded, never
visited. A child that vanishes between listing and stat is simply not there; a folder that
cannot be listed is reported, not fatal.
"""

from __future__ import annotations

import os
import stat
from typing import NamedTuple

from events.domain.entries import (
    BLOCK_DEVICE,
    CHAR_DEVICE,
    DIR,
    FIFO,
    FILE,
    INODE_MASK,
    SOCKET,
    SYMLINK,
)

_FTYPES = {
    stat.S_IFREG: FILE,
    stat.S_IFDIR: DIR,
    stat.S_IFLNK: SYMLINK,
    stat.S_IFIFO: FIFO,
    stat.S_IFSOCK: SOCKET,
    stat.S_IFCHR: CHAR_DEVICE,
    stat.S_IFBLK: BLOCK_DEVICE,
}


class Seen(NamedTuple):
    name: bytes
    ftype: str
    size: int
    mtime_ns: int
    inode: int
    target: bytes | None
    # The volume it is on (st_dev): with the inode, what makes it one file whatever path
    # it is seen through (a hard link, a bind mount).
    dev: int

    def __reduce__(self) -> tuple:
        # Unpickled in C, not through the named tuple's Python __new__: workers send
        # millions of these.
        return (tuple.__new__, (Seen, tuple(self)))


class Listing(NamedTuple):
    children: list[Seen]
    # Why the folder (or some of its children) could not be read; None when all went well.
    error: str | None
    skipped: int


def ftype_of(mode: int) -> str:
    return _FTYPES.get(stat.S_IFMT(mode), FILE)


def stat_path(path: bytes) -> Seen | None:
    """lstat one path as a walk would list it; None if it does not exist."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    ftype = ftype_of(st.st_mode)
    target = _readlink(path) if ftype == SYMLINK else None
    return Seen(
        os.path.basename(path),
        ftype,
        st.st_size,
        st.st_mtime_ns,
        st.st_ino & INODE_MASK,
        target,
        st.st_dev & INODE_MASK,
    )


def _readlink(path: bytes) -> bytes | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


_DIR_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def open_folder(path: bytes) -> int:
    """A descriptor for a folder, never through a symlink: children are then stat'ed and
    opened relative to it, which spares the kernel resolving the whole path every time
    (a third of a stat's cost in a deep tree)."""
    return os.open(path, _DIR_FLAGS)


def list_folder(path: bytes) -> Listing:
    """The children of ``path``, sorted by name (bytes), so walks are deterministic."""
    try:
        fd = open_folder(path)
    except FileNotFoundError:
        return Listing([], "vanished while being indexed", 0)
    except OSError as exc:
        return Listing([], exc.strerror or str(exc), 0)
    try:
        return list_open_folder(fd, path)
    finally:
        os.close(fd)


def list_open_folder(fd: int, path: bytes) -> Listing:
    """The children of the folder open at ``fd`` (``path`` only names it in messages)."""
    children: list[Seen] = []
    error: str | None = None
    skipped = 0
    try:
        with os.scandir(fd) as it:
            for de in it:
                name = os.fsencode(de.name)
                try:
                    st = de.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # vanished since the listing
                except OSError as exc:
                    error = (
                        error or f"{os.fsdecode(os.path.join(path, name))}: {exc.strerror or exc}"
                    )
                    skipped += 1
                    continue
                ftype = _FTYPES.get(stat.S_IFMT(st.st_mode), FILE)
                children.append(
                    Seen(
                        name,
                        ftype,
                        st.st_size,
                        st.st_mtime_ns,
                        st.st_ino & INODE_MASK,
                        _readlink_at(name, fd) if ftype == SYMLINK else None,
                        st.st_dev & INODE_MASK,
                    )
                )
    except OSError as exc:
        return Listing([], exc.strerror or str(exc), 0)
    children.sort()
    return Listing(children, error, skipped)


def _readlink_at(name: bytes, fd: int) -> bytes | None:
    try:
        return os.fsencode(os.readlink(name, dir_fd=fd))
    except OSError:
        return None
