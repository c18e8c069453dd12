"""Library facts. The name is shared: any device may rename, last writer wins."""

from dataclasses import dataclass

from events.domain.catalog import CATALOG


@CATALOG.event("library.created")
@dataclass(frozen=True, slots=True)
class LibraryCreated:
    """The first event of every library; binds the log to the library id."""

    library: bytes
    name: str


@CATALOG.event("library.renamed")
@dataclass(frozen=True, slots=True)
class LibraryRenamed:
    name: str
