"""Library facts. The name is shared: any device may rename, last writer wins."""

from dataclasses import dataclass
from typing import Annotated

from events.domain.catalog import CATALOG
from events.envelope import LIBRARY_ID_LEN
from events.shapes import Bytes, Text

LIBRARY_NAME = Text(1, 256)


@CATALOG.event("library.created")
@dataclass(frozen=True, slots=True)
class LibraryCreated:
    """The first event of every library. Its ``library`` must be the library whose log holds
    it: the store checks that (see ``events.validation``)."""

    library: Annotated[bytes, Bytes(size=LIBRARY_ID_LEN)]
    name: Annotated[str, LIBRARY_NAME]


@CATALOG.event("library.renamed")
@dataclass(frozen=True, slots=True)
class LibraryRenamed:
    name: Annotated[str, LIBRARY_NAME]
