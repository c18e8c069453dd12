"""Where a node keeps its files (see DESIGN: data directory)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

# The name of a copy still being written beside its destination (a verified copy, a file
# arriving by Spacedrop): never an entry of the index, whatever a location's rules.
PARTIAL = b".sd-partial-"


def default_data_dir() -> Path:
    explicit = os.environ.get("SD_DATA_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "sdactors"


def user_path(path: str | bytes) -> bytes:
    """A path as typed (relative, with ``~``, through symlinks) as the real absolute bytes.

    Resolved where the user typed it: a command sent to a node carries it absolute, since
    the node's working directory is not the user's.
    """
    raw = os.fsencode(path)
    return os.path.realpath(os.path.expanduser(raw))


def entry_path(path: str | bytes) -> bytes:
    """A path as typed, absolute, its folders real but its last component kept as it is.

    For commands that act on the entry itself (``sd rm link`` removes the link, not what it
    points to): only the folders leading to it are resolved.
    """
    raw = os.path.abspath(os.path.expanduser(os.fsencode(path)))
    parent, name = os.path.split(raw)
    if not name:
        return raw
    return os.path.join(os.path.realpath(parent), name)


def show(path: bytes) -> str:
    """A path for people (in a message): bytes that are not UTF-8 shown as ``\\xNN``."""
    return path.decode("utf-8", "backslashreplace")


class FileId(NamedTuple):
    """What makes a file or folder itself, whatever path reaches it (a hard link, a bind
    mount): its volume (``st_dev``) and its inode, kept to 63 bits as the index keeps them."""

    dev: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> "FileId":
        # Here, not at the top: importing ``events.domain`` (every event type) would cost
        # each ``sd`` process that only needs a path of this module (tens of ms).
        from events.domain.entries import INODE_MASK

        return cls(st.st_dev & INODE_MASK, st.st_ino & INODE_MASK)


def file_id(path: str | bytes | os.PathLike[str], follow: bool = True) -> FileId | None:
    """The identity of what ``path`` names now; None if it cannot be stat'ed."""
    try:
        st = os.stat(path, follow_symlinks=follow)
    except (OSError, ValueError):
        return None
    return FileId.of(st)


def reached_through(path: bytes, folder: FileId) -> bytes | None:
    """Which of ``path`` and its ancestors is ``folder`` (by identity, so also through a bind
    mount or another name for it), if one is."""
    here = path
    while True:
        if file_id(here) == folder:
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def text(path: bytes) -> str:
    """A name or path as a command's result gives it (what ``--json`` prints): a UTF-8 name
    as itself, and each byte that is not UTF-8 as a lone surrogate, U+DC80 to U+DCFF (how
    ``os.fsdecode`` decodes, ``os.fsencode`` gives the bytes back). No valid name holds one,
    so no two names give the same text; the CLI shows such a byte to people as ``\\xNN``."""
    return path.decode("utf-8", "surrogateescape")


class DataDir:
    """The layout of one data directory; it creates nothing by itself."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def node_config(self) -> Path:
        return self.root / "node.toml"

    @property
    def device_key(self) -> Path:
        return self.root / "device.key"

    @property
    def libraries(self) -> Path:
        return self.root / "libraries"

    def library(self, library_id: str) -> "LibraryPaths":
        return LibraryPaths(self.libraries / f"{library_id}.sdlibrary", self.root)

    @property
    def thumbnail_cache(self) -> Path:
        """Thumbnails fetched from other devices, by library (``sdactors/net/thumbs/cache.py``)."""
        return self.root / "cache" / "thumbnails"


class LibraryPaths:
    def __init__(self, root: Path, data: Path | None = None) -> None:
        """``data``: the data directory holding the library (None for one standing alone)."""
        self.root = root
        self.data = data

    def data_dir_id(self) -> tuple[bytes, FileId] | None:
        """The data directory holding the library (real path, identity): never indexed,
        whatever path reaches it. None for a library standing alone."""
        if self.data is None:
            return None
        found = file_id(self.data)
        if found is None:
            return None
        return os.path.realpath(os.fsencode(self.data)), found

    @property
    def data_dir(self) -> Path:
        """The data directory the library is in (``<data>/libraries/<id>.sdlibrary``)."""
        return self.root.parent.parent

    @property
    def config(self) -> Path:
        return self.root / "library.toml"

    @property
    def events(self) -> Path:
        return self.root / "events.db"

    @property
    def index(self) -> Path:
        return self.root / "index.db"

    @property
    def thumbnails(self) -> Path:
        """This device's thumbnails of the library's files (``sdactors/media/layout.py``)."""
        return self.root / "thumbnails"

    @property
    def damaged(self) -> Path:
        """Present while ``sd log verify``'s last run found the log damaged."""
        return self.root / "damaged"

    @property
    def restored(self) -> Path:
        """Present after a restore that may have dropped this device's own events that its
        peers hold: its writes wait until a peer sends them back (``sdactors.library.log_health``)."""
        return self.root / "restored"

    @property
    def lock(self) -> Path:
        return self.root / "lock"

    @property
    def trash(self) -> Path:
        """Where ``sd rm`` moves what it removes (unless ``--permanent``)."""
        return self.root / "trash"

    @property
    def thumbs(self) -> Path:
        return self.root / "thumbs"

    @property
    def inbox(self) -> Path:
        """Where files sent to this device with Spacedrop (``sd drop``) land."""
        return self.root / "inbox"
