"""Whether an event may enter a library's log: the one check shared by every way in.

The Journal runs it on this device's drafts before it builds them into events; the store runs
it on every ingested event (an import, a peer's batch). It is the declared body shape of the
event's type (``events.shapes``, through :meth:`events.registry.Catalog.check`) plus what only
the log can know: a ``library.created`` names the library whose log holds it, and was
written by the device that library's id was derived from (its creator, the first admin).
"""

from __future__ import annotations

from typing import Any

from events.domain import CATALOG
from events.domain.library import LibraryCreated, creator_library_id


def event_problem(type_name: str, v: int, body: Any, library: bytes, device: bytes) -> str | None:
    """Why ``device``'s event may not enter the log of ``library``; None if it may."""
    reason = CATALOG.checker(type_name)(v, body)
    if reason is not None:
        return reason
    if type_name == LibraryCreated.type_name:  # type: ignore[attr-defined]
        typed = CATALOG.build(type_name, v, body)
        if isinstance(typed, LibraryCreated) and typed.library != library:
            return f"it creates library {typed.library.hex()}, not this library ({library.hex()})"
        if isinstance(typed, LibraryCreated) and creator_library_id(device, typed.nonce) != library:
            return "it was not written by the device that created this library"
    return None
