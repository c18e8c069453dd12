"""Worker processes end with the command that started them, whatever ends it.

On Linux the identity pool's workers are forked by multiprocessing's fork server: they are
its children, not the command's. Killed with SIGKILL, a command used to leave the fork
server and its workers running for good: the fork server stops only when every holder of its
"alive" pipe has closed it, each worker is handed a copy, and a worker waits forever on a task
queue it holds both ends of.

So each worker, as it starts, asks the kernel to kill it when its parent, the fork server,
ends (prctl PR_SET_PDEATHSIG), then closes its copy of the alive pipe: the command is left
the only holder, so the fork server stops as soon as the command ends, and takes the workers
with it. In that order: while a worker still holds the pipe the fork server cannot stop, so
it cannot end before the signal is armed. Elsewhere the pool spawns the workers as the
command's own children, without a fork server: there is nothing to tie.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from multiprocessing import forkserver

PR_SET_PDEATHSIG = 1


def _kill_me_when_parent_ends() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    return prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0


def _let_fork_server_stop_with_its_owner() -> None:
    # multiprocessing keeps the descriptor on a private attribute: if a Python version
    # renames it, the worker still dies with the fork server, which then ends with the
    # command only once its workers are shut down normally.
    server = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is not None:
        os.close(fd)
        server._forkserver_alive_fd = None  # type: ignore[union-attr]


def init_worker() -> None:
    """The pool's worker initializer. Ctrl-C reaches every process of the terminal's group:
    a worker ignores it (it ends with the command, or its pool), or each would print a
    ``KeyboardInterrupt`` traceback while the command stops cleanly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _kill_me_when_parent_ends():
        _let_fork_server_stop_with_its_owner()
