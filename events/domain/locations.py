"""Locations: folders a device indexes. Device-owned: only the device the folder is on writes them.

A location is the pair (its device, its id): another device's events naming the same id
never touch it. Paths are bytes (``os.fsencode``), so a folder whose name is not valid UTF-8
round-trips.
"""

from dataclasses import dataclass
from typing import Annotated

from events.domain.catalog import CATALOG
from events.domain.volumes import VOLUME
from events.shapes import AbsPath, Bool, Id, ListOf, Struct, Text

# Indexer rules, as ``sdactors.indexer.rules.Rules.as_dict()`` writes them.
RULES = Struct(
    (
        ("skip_system", Bool()),
        ("skip_git", Bool()),
        ("skip_dev", Bool()),
        ("skip_hidden", Bool()),
        ("gitignore", Bool()),
        ("exclude", ListOf(Text(1, 1024), 0, 256)),
    )
)


@CATALOG.event("location.added")
@dataclass(frozen=True, slots=True)
class LocationAdded:
    location: Annotated[bytes, Id()]
    path: Annotated[bytes, AbsPath()]
    name: Annotated[str, Text(1, 256)]
    rules: Annotated[dict, RULES]


@CATALOG.event("location.rules_changed")
@dataclass(frozen=True, slots=True)
class LocationRulesChanged:
    location: Annotated[bytes, Id()]
    rules: Annotated[dict, RULES]


@CATALOG.event("location.removed")
@dataclass(frozen=True, slots=True)
class LocationRemoved:
    """The location and all its entries leave the index; the files on disk stay."""

    location: Annotated[bytes, Id()]


@CATALOG.event("location.volume_seen")
@dataclass(frozen=True, slots=True)
class LocationVolumeSeen:
    """The volume a location's folder is on, and where that volume was mounted: recorded when
    the location is added and when a rescan finds it on another volume. It is what tells a
    disk that is not mounted (its mount point left as an empty folder) from a folder whose
    files were deleted."""

    location: Annotated[bytes, Id()]
    volume: Annotated[str, VOLUME]
    mount_point: Annotated[str, Text(1, 4096)]


@CATALOG.event("location.offline")
@dataclass(frozen=True, slots=True)
class LocationOffline:
    """A rescan found the location's volume absent: its entries stay, nothing is deleted."""

    location: Annotated[bytes, Id()]
    reason: Annotated[str, Text(1, 1000)]


@CATALOG.event("location.online")
@dataclass(frozen=True, slots=True)
class LocationOnline:
    """An offline location's volume is back: rescans go on as before."""

    location: Annotated[bytes, Id()]
