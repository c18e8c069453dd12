"""Export and import of a library's log as a portable, self-verifying file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from events.errors import IngestRefused
from events.exportfile import ExportHeader, ExportReader, write_export
from events.store import EventStore
from sdactors.errors import LibraryMismatch
from sdactors.libraries import LibraryConfig, find_library, list_libraries
from sdactors.output_file import new_output
from sdactors.paths import DataDir

if TYPE_CHECKING:
    from sdactors.node import Node


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: str
    events: int
    bytes: int

    def as_json(self) -> dict:
        return {"path": self.path, "events": self.events, "bytes": self.bytes}


@dataclass(frozen=True, slots=True)
class ImportResult:
    library: LibraryConfig
    created: bool
    accepted: int
    skipped: int

    def as_json(self) -> dict:
        return {
            "library": self.library.id,
            "name": self.library.name,
            "created": self.created,
            "accepted": self.accepted,
            "skipped": self.skipped,
        }


def export_log(
    config: LibraryConfig, path: Path, data: DataDir, force: bool = False
) -> ExportResult:
    """Write the library's whole log to ``path`` (never over one of the data directory's own
    files, never half-written: see ``new_output``)."""
    with new_output(path, data, force) as tmp:
        store = EventStore(config.paths.events, readonly=True)
        try:
            with open(tmp, "wb") as out:
                count = write_export(
                    out,
                    ExportHeader(config.id_bytes, config.name, store.head_pos),
                    ((ev.data, ev.sig) for ev in store.read()),
                )
        finally:
            store.close()
    return ExportResult(str(path), count, path.stat().st_size)


def import_log(
    node: "Node", path: Path, wanted: str | None, name: str | None = None
) -> ImportResult:
    """Ingest an export: a restore (library created) or a merge (missing events added)."""
    with open(path, "rb") as fh:
        reader = ExportReader(fh, name=str(path))
        header = reader.header
        library_id = header.library.hex()
        if wanted is not None:
            target = find_library(node.data, wanted)
            if target.id != library_id:
                raise LibraryMismatch(
                    f"{header.name!r} ({library_id})", f"{target.name!r} ({target.id})"
                )
        existing = [lib for lib in list_libraries(node.data) if lib.id == library_id]
        created = not existing
        if created:
            lib = node.create_library(name or header.name, library_id, empty=True)
        else:
            lib = node.open_library(library_id)
        try:
            # One transaction: a forged event (reported precisely) or a file that breaks off
            # or fails its trailer (raised by the reader inside the ingest) writes nothing.
            report = lib.ingest(reader.records(), whole=True)
            if not report.ok:
                raise IngestRefused(report.refused)
        except BaseException:
            if created:
                node.discard_library(library_id)
            raise
    if report.accepted:
        lib.catch_up()
    return ImportResult(lib.config, created, report.accepted, report.skipped)
