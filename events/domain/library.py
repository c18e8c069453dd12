"""Library facts. The name is shared: any device may rename, last writer wins.

A library's id is derived from the key of the device that created it and a nonce, and its
``library.created`` carries the nonce: so the creator (the library's first admin) is proved
by the id itself. No other device can write a ``library.created`` that names this library,
whatever clock it claims.
"""

from dataclasses import dataclass
from typing import Annotated

import blake3

from events.domain.catalog import CATALOG
from events.envelope import LIBRARY_ID_LEN
from events.shapes import Bytes, Text

LIBRARY_NAME = Text(1, 256)
NONCE_LEN = 16
_ID_CONTEXT = "sdactors 2026-12-04 library id of a creator"


def creator_library_id(device: bytes, nonce: bytes) -> bytes:
    """The id of the library ``device`` creates with ``nonce``."""
    return blake3.blake3(device + nonce, derive_key_context=_ID_CONTEXT).digest()[:LIBRARY_ID_LEN]


@CATALOG.event("library.created")
@dataclass(frozen=True, slots=True)
class LibraryCreated:
    """The first event of every library. Its ``library`` must be the library whose log holds
    it, and the id its writer and ``nonce`` derive: the store checks both (see
    ``events.validation``)."""

    library: Annotated[bytes, Bytes(size=LIBRARY_ID_LEN)]
    name: Annotated[str, LIBRARY_NAME]
    nonce: Annotated[bytes, Bytes(size=NONCE_LEN)]


@CATALOG.event("library.renamed")
@dataclass(frozen=True, slots=True)
class LibraryRenamed:
    name: Annotated[str, LIBRARY_NAME]
