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

from events.domain.entries import BLOCK_DEVICE, CHAR_DEVICE, DIR, FIFO, FILE, SOCKET, SYMLINK

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
    return Seen(os.path.basename(path), ftype, st.st_size, st.st_mtime_ns, st.st_ino, target)


def _readlink(path: bytes) -> bytes | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def list_folder(path: bytes) -> Listing:
    """The children of ``path``, sorted by name (bytes), so walks are deterministic."""
    children: list[Seen] = []
    error: str | None = None
    skipped = 0
    try:
        with os.scandir(path) as it:
            for de in it:
                try:
                    st = de.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # vanished since the listing
                except OSError as exc:
                    error = error or f"{os.fsdecode(de.path)}: {exc.strerror or exc}"
                    skipped += 1
                    continue
                ftype = _FTYPES.get(stat.S_IFMT(st.st_mode), FILE)
                children.append(Seen(
                    de.name, ftype, st.st_size, st.st_mtime_ns, st.st_ino,
                    _readlink(de.path) if ftype == SYMLINK else None,
                ))
    except FileNotFoundError:
        return Listing([], "vanished while being indexed", 0)
    except OSError as exc:
        return Listing([], exc.strerror or str(exc), 0)
    children.sort()
    return Listing(children, error, skipped)
