"""Files a command writes where its user says (``sd log export FILE``, ``sd projections
rebuild --into FILE``), so that nothing of the user's is lost by writing one.

Never over sdactors' own files (a mistyped path must not replace the log it exports), never
over anything but a regular file (renaming over a device node as root replaces the node),
never over an existing file without ``--force``, and never half-written: the output goes to
a temporary file beside the target, is fsynced, and is renamed into place; a command that
fails or is interrupted removes it. Paths are resolved first: relative paths and symbolic
links are checked, and written, where they lead.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sdactors.runtime.errors import OutputExists, OutputFailed, OutputIsOwnFile, OutputNotRegular
from sdactors.runtime.paths import DataDir


def _same(a: Path, b: Path) -> bool:
    """One file, however it is spelled (a bind mount, a case-insensitive file system)."""
    try:
        return a == b or os.path.samefile(a, b)
    except OSError:
        return False


def _own_file(target: Path, data: DataDir) -> bool:
    """Anything inside the data directory's ``libraries`` folder, device.key, node.toml."""
    libraries = Path(os.path.realpath(data.libraries))
    if any(_same(folder, libraries) for folder in (target, *target.parents)):
        return True
    own = (data.device_key, data.node_config)
    return any(_same(target, Path(os.path.realpath(path))) for path in own)


def _check(target: Path, shown: str, data: DataDir, force: bool) -> None:
    if _own_file(target, data):
        raise OutputIsOwnFile(shown)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise OutputNotRegular(shown, mode)
    if not force:
        raise OutputExists(shown)


def _fsync(path: Path, flags: int = 0) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | flags)
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some file systems cannot fsync a folder; the file itself is already durable.
        if not (flags & os.O_DIRECTORY and exc.errno == errno.EINVAL):
            raise
    finally:
        os.close(fd)


def _place(tmp: Path, target: Path, shown: str, force: bool) -> None:
    if force:
        os.replace(tmp, target)
        return
    # Without --force a file that appeared meanwhile is not replaced either: link(2) never
    # replaces anything, where rename(2) would.
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise OutputExists(shown) from None
    except OSError:
        os.replace(tmp, target)  # a file system without hard links: checked just before
        return
    os.unlink(tmp)


@contextmanager
def new_output(path: Path, data: DataDir, force: bool) -> Iterator[Path]:
    """Refuse ``path`` now if it must not be written; else yield an empty temporary file
    (owner-only) to write the output into, which takes ``path``'s place on success."""
    shown = str(path)
    target = Path(os.path.realpath(path))
    _check(target, shown, data, force)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    except OSError as exc:
        raise OutputFailed(shown, exc.strerror or str(exc)) from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync(tmp)
        _check(target, shown, data, force)
        _place(tmp, target, shown, force)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync(target.parent, os.O_DIRECTORY)
