"""One location's watch, in a process of its own: ``python -m sdactors.watch.child ROOT
QUIET_MS MOST_MS IDLE_MS``. It writes JSON lines to stdout: ``{"started": true}`` once the
watch is in place, ``{"changes": [path, ...]}`` for each batch, ``{"gone": true}`` when the
folder is gone or now on another volume (then it ends), ``{"error": text}`` if watching
fails.

Why a process: setting up a recursive watch walks the whole tree inside watchfiles' Rust
code while holding the interpreter's lock (seconds for a million files), which in the node's
own process would stall its loop and its socket for as long. The process dies with the node
(its stdin is a pipe from the node, never written: when it closes, the node is gone), and
the node ends it when the location is no longer watched.
"""

from __future__ import annotations

import json
import os
import sys
import threading


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


def main(argv: list[str]) -> int:
    threading.Thread(target=_end_with_the_node, daemon=True).start()
    root, quiet_ms, most_ms, idle_ms = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    from watchfiles import watch

    try:
        device = os.stat(root).st_dev
        started = False
        for changes in watch(
            root,
            watch_filter=None,
            debounce=most_ms,
            step=quiet_ms,
            rust_timeout=idle_ms,
            yield_on_timeout=True,
            recursive=True,
            ignore_permission_denied=True,
            raise_interrupt=False,
        ):
            if not started:
                started = True
                _say({"started": True})
            if changes:
                _say({"changes": sorted({path for _, path in changes})})
            if _moved_away(root, device):
                _say({"gone": True})
                return 0
    except (OSError, RuntimeError) as exc:
        _say({"error": str(exc)})
        return 1
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
