"""The exclusive lock a process holds while it has a library open.

flock, not a PID file: the kernel drops it when the holder dies, even by SIGKILL, so a stale
lock is taken over simply by locking again. The file's content only names the holder, for the
error message a second process shows.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from sdactors.runtime.errors import LibraryLocked
from sdactors.runtime.private_files import open_private


def _describe(info: dict) -> str:
    pid = info.get("pid", "?")
    cmd = info.get("cmd") or "unknown command"
    host = info.get("host")
    where = f" on {host}" if host and host != socket.gethostname() else ""
    return f"process {pid} ({cmd}){where}"


# How long opening a library waits for another process to let go of it before giving up:
# long enough for a finishing command, short enough that a busy library fails fast.
LOCK_WAIT_S = 2.0


class LibraryLock:
    def __init__(self, path: Path, library_name: str) -> None:
        self.path = path
        self.library_name = library_name
        self._fd: int | None = None

    def acquire(self, wait: float = 0.0) -> "LibraryLock":
        """Take the lock, waiting up to ``wait`` seconds for a holder that is finishing
        (a background index closing, the previous command still exiting)."""
        fd = open_private(self.path, os.O_RDWR, create=True)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                try:
                    info = json.loads(os.pread(fd, 4096, 0) or b"{}")
                except ValueError:
                    info = {}
                os.close(fd)
                raise LibraryLocked(self.library_name, _describe(info)) from None
        record = json.dumps(
            {
                "pid": os.getpid(),
                "cmd": " ".join([os.path.basename(sys.argv[0] or "python"), *sys.argv[1:3]]),
                "host": socket.gethostname(),
                "since": time.time(),
            }
        ).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None
