"""Locations: folders a device indexes. Device-owned: only the device the folder is on writes them.

Paths are bytes (``os.fsencode``), so a folder whose name is not valid UTF-8 round-trips.
"""

from dataclasses import dataclass

from events.domain.catalog import CATALOG


@CATALOG.event("location.added")
@dataclass(frozen=True, slots=True)
class LocationAdded:
    location: bytes
    path: bytes
    name: str
    # Indexer rules, as ``sdactors.indexer.rules.Rules.as_dict()`` writes them.
    rules: dict


@CATALOG.event("location.rules_changed")
@dataclass(frozen=True, slots=True)
class LocationRulesChanged:
    location: bytes
    rules: dict


@CATALOG.event("location.removed")
@dataclass(frozen=True, slots=True)
class LocationRemoved:
    """The location and all its entries leave the index; the files on disk stay."""

    location: bytes
