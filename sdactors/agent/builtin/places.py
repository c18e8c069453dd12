"""What the built-in agents that choose between files share: where a file of this device is
(its location, its path inside it, how fast its volume is), how organised that place looks,
and how an item says so in one line.

A place looks *organised* when a person put the file there on purpose: not a folder things
land in by themselves (``SCRATCH``: Downloads, Desktop, tmp...), not a name a copy gets from
a file manager or a browser (``COPY_NAME``: "copy of x", "x (1)", "x - Copy"), and inside
a named folder rather than loose at a location's top. Only the path inside the location
counts, plus the location's own folder name (a location that *is* ~/Downloads is scratch):
the folders above a location say nothing of the person's filing (a test's tree sits under
/tmp, a library's often under /home).
"""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass
from typing import Sequence

from projections.files.query import LocationRow, holding_location, locations
from projections.volumes import VolumeRow, device_volumes

# Folders files land in without a decision (compared case-folded).
SCRATCH = frozenset(
    {
        "downloads",
        "download",
        "desktop",
        "tmp",
        "temp",
        "cache",
        ".cache",
        "trash",
        ".trash",
        "new folder",
        "untitled folder",
    }
)
# Names file managers and browsers give copies: "Copy of x", "x copy", "x copy 2",
# "x - Copy", "x (1)", "x_copy" (matched on the name without its extension).
COPY_NAME = re.compile(
    r"^copy of |^copy_of_|[ _-]+copy( \d+)?$|[ _-]+copy \(\d+\)$|\s*\(\d+\)$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Place:
    """A file of this device where the index has it."""

    path: bytes
    location: LocationRow
    # Its path inside the location (no leading "/").
    rel: bytes
    # Its volume's speed (``VolumeRow.speed``), None if never measured.
    speed: float | None

    @property
    def scratch(self) -> str | None:
        """The scratch folder it is in (the location's own folder counts), else None."""
        top = os.path.basename(self.location.path.rstrip(b"/"))
        for folder in (top, *self.rel.split(b"/")[:-1]):
            name = os.fsdecode(folder)
            if name.casefold() in SCRATCH:
                return name
        return None

    @property
    def copy_name(self) -> bool:
        stem, _ = os.path.splitext(os.fsdecode(os.path.basename(self.path)))
        return COPY_NAME.search(stem) is not None

    @property
    def depth(self) -> int:
        """Named folders between the location's top and the file."""
        return self.rel.count(b"/")


class Where:
    """This device's locations and its volumes' speeds, read once per look."""

    def __init__(self, db: sqlite3.Connection, device: bytes) -> None:
        self.device = device
        self.locations: Sequence[LocationRow] = [
            loc for loc in locations(db) if loc.device == device
        ]
        self.volumes: dict[str, VolumeRow] = device_volumes(db, device)

    def speed(self, location: LocationRow) -> float | None:
        row = self.volumes.get(location.volume) if location.volume is not None else None
        return row.speed if row is not None else None

    def place(self, path: bytes) -> Place | None:
        """Where ``path`` of this device is; None if no location of this device holds it,
        or if its location is offline: a file on a volume that is not there can be neither
        moved nor trashed, nor vouched for as a kept copy (the disk may never come back)."""
        loc = holding_location(self.locations, path, self.device)
        if loc is None or loc.offline is not None:
            return None
        rel = path[len(loc.path.rstrip(b"/")) + 1 :]
        return Place(path, loc, rel, self.speed(loc))


def keep_order(place: Place) -> tuple:
    """The order in which copies are worth keeping, best first: an organised place (out of
    scratch folders, a name that is no copy's, inside a folder), then the faster volume, then
    the deeper folder, then the path (so every run and every device chooses alike)."""
    return (
        place.scratch is not None,
        place.copy_name,
        place.depth == 0,
        -(place.speed or 0.0),
        -place.depth,
        place.path,
    )


def why_kept(kept: Place, other: Place) -> str:
    """Why ``kept`` is kept rather than ``other``: the first rule of :func:`keep_order` that
    tells them apart, in words."""
    if (kept.scratch is None) != (other.scratch is None):
        return f"{other.scratch} is a scratch folder"
    if kept.copy_name != other.copy_name:
        return "its name is a copy's"
    if (kept.depth == 0) != (other.depth == 0):
        return "the kept one is filed in a folder"
    if (kept.speed or 0.0) != (other.speed or 0.0):
        return f"the kept one is on a faster volume ({rate(kept.speed)} vs {rate(other.speed)})"
    if kept.depth != other.depth:
        return "the kept one is in a deeper folder"
    return "equally placed: the first by path is kept"


def rate(speed: float | None) -> str:
    return "not measured" if speed is None else f"{speed:.0f} MB/s"
