"""Tags: shared facts, last-writer-wins per field on ``(hlc, device)``, deletion a tombstone."""

from dataclasses import dataclass

from events.domain.catalog import CATALOG


@CATALOG.event("tag.created")
@dataclass(frozen=True, slots=True)
class TagCreated:
    tag: bytes
    name: str
    color: str | None


@CATALOG.event("tag.renamed")
@dataclass(frozen=True, slots=True)
class TagRenamed:
    tag: bytes
    name: str


@CATALOG.event("tag.recolored")
@dataclass(frozen=True, slots=True)
class TagRecolored:
    tag: bytes
    color: str | None


@CATALOG.event("tag.deleted")
@dataclass(frozen=True, slots=True)
class TagDeleted:
    tag: bytes
