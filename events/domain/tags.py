"""Tags: shared facts, last-writer-wins per field on ``(hlc, device)``, deletion a tombstone."""

from dataclasses import dataclass
from typing import Annotated

from events.domain.catalog import CATALOG
from events.shapes import Id, Maybe, Text

TAG_NAME = Text(1, 256)
COLOR = Maybe(Text(1, 32))


@CATALOG.event("tag.created")
@dataclass(frozen=True, slots=True)
class TagCreated:
    tag: Annotated[bytes, Id()]
    name: Annotated[str, TAG_NAME]
    color: Annotated[str | None, COLOR]


@CATALOG.event("tag.renamed")
@dataclass(frozen=True, slots=True)
class TagRenamed:
    tag: Annotated[bytes, Id()]
    name: Annotated[str, TAG_NAME]


@CATALOG.event("tag.recolored")
@dataclass(frozen=True, slots=True)
class TagRecolored:
    tag: Annotated[bytes, Id()]
    color: Annotated[str | None, COLOR]


@CATALOG.event("tag.deleted")
@dataclass(frozen=True, slots=True)
class TagDeleted:
    tag: Annotated[bytes, Id()]
