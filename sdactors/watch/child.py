"""One location's watch, in a process of its own: ``python -m sdactors.watch.child ROOT
QUIET_MS MOST_MS IDLE_MS``. It writes JSON lines to stdout: ``{"started": true}`` each time
a watch is in place, ``{"changes": [path, ...], "folders": [path, ...]}`` for each batch
(``folders``: the folders among them whose own attributes changed, a ``chmod`` that may have
made one readable), ``{"gone": true}`` when the folder is gone or now on another volume
(then it ends), ``{"error": text}`` if watching fails.

Why a process: setting up a recursive watch walks the whole tree inside watchfiles' Rust
code while holding the interpreter's lock (seconds for a million files), which in the node's
own process would stall its loop and its socket for as long. The process dies with the node
(its stdin is a pipe from the node, never written: when it closes, the node is gone), and
the node ends it when the location is no longer watched.

A folder that cannot be read cannot be watched, and the recursive walk that sets up a watch
stops at the first one it meets: every folder it had not reached yet would go unwatched. So
the watch is set on the root and, around each unreadable folder, on every readable folder
beside it and beside each of its ancestors: each of those watches reaches what the others
stopped short of. When an unreadable folder becomes readable (its attributes change), the
watch is set up again, to reach into it; the new ``started`` asks for a whole rescan, which
also brings in what the folder holds.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import threading
from typing import Iterable

from sdactors.watch.limits import walk_folders


def _say(message: dict) -> None:
    # ensure_ascii: a name that is not UTF-8 travels as its surrogate escapes, exactly.
    sys.stdout.write(json.dumps(message, ensure_ascii=True) + "\n")
    sys.stdout.flush()


def _moved_away(root: str, device: int) -> bool:
    try:
        return os.stat(root).st_dev != device
    except OSError:
        return True


def _end_with_the_node() -> None:
    """Exit when stdin closes. Not a parent-death signal: that follows the thread that
    started this process, and the node starts processes from short-lived worker threads."""
    sys.stdin.buffer.read()
    os._exit(0)


def watch_paths(root: bytes, unreadable: Iterable[bytes]) -> list[bytes]:
    """What to watch, recursively, so that every readable folder under ``root`` is watched
    although each recursive walk stops at the first unreadable folder it meets: the root,
    and every readable folder beside an unreadable one or beside one of its ancestors. A
    readable folder is then either below all of those ancestors' siblings, in a subtree
    with nothing unreadable (its walk reaches it), or one of those siblings itself."""
    holes = set(unreadable)
    around: set[bytes] = set()
    prefix = root.rstrip(b"/") + b"/"
    for hole in holes:
        here = os.path.dirname(hole)
        while here not in around and (here == root or here.startswith(prefix)):
            around.add(here)
            if here == root:
                break
            here = os.path.dirname(here)
    paths = [root]
    for folder in sorted(around):
        try:
            with os.scandir(folder) as it:
                paths.extend(
                    sorted(
                        e.path
                        for e in it
                        if e.is_dir(follow_symlinks=False) and e.path not in holes
                    )
                )
        except OSError:
            continue
    return paths


def _is_folder(path: bytes) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _readable(path: bytes) -> bool:
    """Whether this process can list the folder, as a watch must to be set on it (this
    process's permissions, not ``access``'s real-user view)."""
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    except OSError:
        return False
    return True


def main(argv: list[str]) -> int:
    # Ctrl-C on the node's terminal reaches this process too: it ends when the node closes
    # its stdin, never with a KeyboardInterrupt of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_end_with_the_node, daemon=True).start()
    root, quiet_ms, most_ms, idle_ms = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    from watchfiles import Change, watch

    top = os.fsencode(root)
    try:
        device = os.stat(root).st_dev
        while True:
            holes = set(walk_folders(top).unreadable)
            started = again = False
            batches = watch(
                *(os.fsdecode(p) for p in watch_paths(top, holes)),
                watch_filter=None,
                debounce=most_ms,
                step=quiet_ms,
                rust_timeout=idle_ms,
                yield_on_timeout=True,
                recursive=True,
                ignore_permission_denied=True,
                raise_interrupt=False,
            )
            for changes in batches:
                if not started:
                    started = True
                    _say({"started": True})
                if changes:
                    attributes = set()
                    for change, path in changes:
                        raw = os.fsencode(path)
                        if change == Change.deleted or not _is_folder(raw):
                            continue
                        if change == Change.modified:
                            attributes.add(path)
                        if not _readable(raw):
                            holes.add(raw)  # made unreadable, or created so: not watched
                        elif raw in holes:
                            again = True  # readable now: watch it from now on
                    _say(
                        {
                            "changes": sorted({path for _, path in changes}),
                            "folders": sorted(attributes),
                        }
                    )
                if _moved_away(root, device):
                    _say({"gone": True})
                    return 0
                if again:
                    break
            else:
                return 0
            batches.close()  # the next watch starts once this one is let go
    except BrokenPipeError:
        return 0
    except (OSError, RuntimeError) as exc:
        _say({"error": str(exc)})
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
