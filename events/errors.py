"""Every failure the log can report, with the sentence a user reads.

The CLI prints ``str(error)`` as its one line, so each message here must stand alone.
"""

from __future__ import annotations


class EventsError(Exception):
    """Base of everything the log raises on purpose."""


class CodecError(EventsError):
    """Bytes that are not a well-formed event."""


class ClockError(EventsError):
    """The wall clock reads a time no event can carry."""


class UnknownEventType(EventsError):
    """A typed event was asked for a type this version cannot build."""

    def __init__(self, type_name: str, version: int) -> None:
        super().__init__(f"event type {type_name} v{version} is not known to this version")
        self.type_name = type_name
        self.version = version


class InvalidEvent(EventsError):
    """A draft of this device's own whose body does not have its type's declared shape."""

    def __init__(self, type_name: str, position: int, count: int, reason: str) -> None:
        super().__init__(
            f"refused to write {type_name} (event {position} of {count}): {reason}; "
            "nothing was written"
        )
        self.type_name = type_name
        self.reason = reason


class StoreError(EventsError):
    """The event store cannot be opened or written."""


class CorruptStore(StoreError):
    """SQLite itself reports the file as damaged."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"event store {path} is damaged: {detail}")


class OldLogFormat(StoreError):
    """A log written by a version whose events mean something else (not bound to their
    library, or made before membership had roles)."""

    def __init__(self, path: str, found: object, wanted: int) -> None:
        super().__init__(
            f"{path} is an event log of format {found}; this version reads format {wanted} "
            "only (events are now bound to their library, and membership has roles) and there is "
            "nothing to migrate: "
            "create the library again"
        )


class WrongLibrary(StoreError):
    """A log opened as the log of another library than the one it belongs to."""

    def __init__(self, path: str, held: bytes, wanted: bytes) -> None:
        super().__init__(
            f"{path} holds the events of library {held.hex()}, not of library {wanted.hex()}"
        )


class IngestRefused(EventsError):
    """A run of foreign events failed verification; none of it was written."""

    def __init__(self, refusals: list["Refusal"]) -> None:  # noqa: F821 - defined in events.ingest
        first = refusals[0]
        more = f" (and {len(refusals) - 1} more)" if len(refusals) > 1 else ""
        super().__init__(f"refused: {first}{more}; nothing was written")
        self.refusals = refusals


class ExportFileError(EventsError):
    """An export file is malformed, truncated or tampered with."""
