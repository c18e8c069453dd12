"""sdactors' own files, readable by their owner only: the data directory and every folder and
file sdactors writes in it (library folders, databases, the device key, node.toml and
library.toml, locks, network.json, the node's log).

The log and the index hold the path of every file a user indexed, and device.key signs for
this device: folders are 0700, files 0600, and looser modes found on opening are tightened.
Modes are changed through an open descriptor, never by path, and a key or database that is a
symbolic link is refused rather than followed: a chmod by path would change whatever the link
points at.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from sdactors.runtime.errors import PrivateFileRefused
from sdactors.runtime.logs import get_logger

log = get_logger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# The files SQLite keeps beside a database in WAL mode; it creates them with the database's
# mode, so a database made 0600 before SQLite first opens it keeps them private too.
SQLITE_SIDE_FILES = ("-wal", "-shm")


def _tighten(fd: int, path: Path, mode: int) -> None:
    """Take every permission away from group and others; the owner's bits stay as they are.

    A file others could read (a key, a log) is worth a warning; a folder a user made for
    the data directory with the usual mode is not.
    """
    if mode & 0o077:
        os.fchmod(fd, stat.S_IMODE(mode) & ~0o077)
        report = log.warning if stat.S_ISREG(mode) else log.info
        report("permissions_tightened", path=str(path), was=oct(stat.S_IMODE(mode)))


def private_dir(path: Path) -> None:
    """Create the folder (its parents as ``mkdir -p`` would) or tighten the one there.

    A symbolic link to a folder is followed: a user may keep the data directory elsewhere.
    """
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _tighten(fd, path, os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def open_private(path: Path, flags: int, create: bool = False) -> int:
    """Open one of sdactors' files: a regular file, not through a symbolic link, made 0600.

    O_NONBLOCK: opening a FIFO put in a key's place must fail on the check, not hang.
    """
    extra = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags | extra, PRIVATE_FILE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PrivateFileRefused(str(path), stat.S_IFLNK) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise PrivateFileRefused(str(path), mode)
        _tighten(fd, path, mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with a private file holding ``data``: a crash leaves the old file or
    the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)  # left by a process of the same pid that died writing it
    fd = open_private(tmp, os.O_WRONLY | os.O_EXCL, create=True)
    try:
        os.fchmod(fd, PRIVATE_FILE)  # whatever the umask took away from the owner
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def private_database(path: Path) -> None:
    """Make a SQLite database (created empty if missing, which SQLite takes for a new
    database) and the WAL files beside it private, before SQLite opens it."""
    os.close(open_private(path, os.O_RDONLY, create=True))
    for suffix in SQLITE_SIDE_FILES:
        try:
            os.close(open_private(path.with_name(path.name + suffix), os.O_RDONLY))
        except FileNotFoundError:
            pass
