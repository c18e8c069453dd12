"""Where a node keeps its files (see DESIGN: data directory)."""

from __future__ import annotations

import os
from pathlib import Path


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
        return LibraryPaths(self.libraries / f"{library_id}.sdlibrary")


class LibraryPaths:
    def __init__(self, root: Path) -> None:
        self.root = root

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
    def damaged(self) -> Path:
        """Present while ``sd log verify``'s last run found the log damaged."""
        return self.root / "damaged"

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
