"""Export and import of a library's log as a portable, self-verifying file."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from events.errors import EventsError, IngestRefused
from events.exportfile import ExportHeader, ExportReader, write_export
from events.store import EventStore
from sdactors.library.config import LibraryConfig, find_library, list_libraries
from sdactors.library.log_health import (
    clear_damage,
    folded_position,
    paired_in_index,
    record_restore,
)
from sdactors.runtime.errors import LibraryMismatch, RestoreWouldDropOwnEvents
from sdactors.runtime.identity import load_device_key
from sdactors.runtime.lock import LOCK_WAIT_S, LibraryLock
from sdactors.runtime.output_file import new_output
from sdactors.runtime.paths import DataDir
from sdactors.runtime.private_files import SQLITE_SIDE_FILES, private_database

if TYPE_CHECKING:
    from sdactors.ops.context import Host


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


def import_log(host: Host, path: Path, wanted: str | None, name: str | None = None) -> ImportResult:
    """Ingest an export: a restore (library created) or a merge (missing events added)."""
    with open(path, "rb") as fh:
        reader = ExportReader(fh, name=str(path))
        header = reader.header
        library_id = header.library.hex()
        if wanted is not None:
            _target_of(header, host.data, wanted)  # it must be the export's library
        existing = [lib for lib in list_libraries(host.data) if lib.id == library_id]
        created = not existing
        if created:
            lib = host.create_library(name or header.name, library_id, empty=True)
        else:
            lib = host.write_library(library_id)
        try:
            # One transaction: a forged event (reported precisely) or a file that breaks off
            # or fails its trailer (raised by the reader inside the ingest) writes nothing.
            report = lib.ingest_export(path)
            if not report.ok:
                raise IngestRefused(report.refused)
        except BaseException:
            if created:
                host.discard_library(library_id)
            raise
    if report.accepted:
        lib.catch_up()
    return ImportResult(lib.config, created, report.accepted, report.skipped)


@dataclass(frozen=True, slots=True)
class RestoreResult:
    library: LibraryConfig
    accepted: int
    # Where the log that was replaced now is (None if there was none).
    kept: Path | None
    # Whether this device's writes wait for a peer to send its own later events back.
    awaiting_peers: bool = False

    def as_json(self) -> dict:
        return {
            "library": self.library.id,
            "name": self.library.name,
            "accepted": self.accepted,
            "kept": str(self.kept) if self.kept else None,
            "awaiting_peers": self.awaiting_peers,
        }


def _own_head(events: Path, me: bytes) -> int | None:
    """This device's last seq in the log being replaced; None if it cannot be read."""
    if not events.exists() or not events.stat().st_size:
        return None
    try:
        store = EventStore(events, readonly=True)
    except (EventsError, sqlite3.DatabaseError):
        return None
    try:
        return store.head(me)[0]
    finally:
        store.close()


def restore_log(
    data: DataDir, path: Path, wanted: str | None, force: bool = False
) -> RestoreResult:
    """Replace a library's log with a verified export of it: the way back from a lost or
    damaged log. The export is ingested into a new log beside the old one, which is kept
    (renamed, never deleted); the index is folded again from the new log on next use.

    An export that lacks events of this device the old log holds (or may hold: an old log
    that cannot be read, whose index folded more than the export holds) would roll this
    device's chain back under its peers: refused unless ``force``; forced, with peers, the
    library is marked restored and its writes wait for a peer to send them back
    (``sdactors.library.log_health``)."""
    me = load_device_key(data).public
    with open(path, "rb") as fh:
        reader = ExportReader(fh, name=str(path))
        target = _target_of(reader.header, data, wanted)
        paths = target.paths
        lock = LibraryLock(paths.lock, target.name).acquire(wait=LOCK_WAIT_S)
        fresh = paths.events.with_name(f"{paths.events.name}.restore-{os.getpid()}")
        try:
            _remove_database(fresh)
            private_database(fresh)
            store = EventStore(fresh, library=reader.header.library)
            try:
                report = store.ingest(reader.records(), whole=True)
                own = store.head(me)[0]
                others = set(store.vector()) - {me}
                restored_events = store.head_pos
            finally:
                store.close()
            if not report.ok:
                raise IngestRefused(report.refused)
            old = _own_head(paths.events, me)
            if old is not None:
                rolled_back = old > own
            else:
                rolled_back = folded_position(str(paths.index)) > restored_events
            paired = paired_in_index(str(paths.index), me)
            if rolled_back and not force:
                raise RestoreWouldDropOwnEvents(
                    str(path), None if old is None else old - own, own + 1, old
                )
            kept = _set_aside(paths.events)
            os.replace(fresh, paths.events)
            _remove_database(paths.index)
            clear_damage(target)
            if rolled_back and (paired or others):
                record_restore(target, own, paired)
        finally:
            _remove_database(fresh)
            lock.release()
    return RestoreResult(target, report.accepted, kept, paths.restored.exists())


def restore_target(data: DataDir, path: Path, wanted: str | None) -> LibraryConfig:
    """The library an export restores: ``wanted`` if given (it must be the export's), else
    the export's own."""
    with open(path, "rb") as fh:
        return _target_of(ExportReader(fh, name=str(path)).header, data, wanted)


def _target_of(header: ExportHeader, data: DataDir, wanted: str | None) -> LibraryConfig:
    library_id = header.library.hex()
    target = find_library(data, wanted or library_id)
    if target.id != library_id:
        raise LibraryMismatch(f"{header.name!r} ({library_id})", f"{target.name!r} ({target.id})")
    return target


def _set_aside(events: Path) -> Path | None:
    """Rename the log being replaced (and its WAL files) out of the way, with the time."""
    if not events.exists():
        return None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    kept = events.with_name(f"{events.name}.replaced-{stamp}")
    for suffix in ("", *SQLITE_SIDE_FILES):
        try:
            os.replace(f"{events}{suffix}", f"{kept}{suffix}")
        except FileNotFoundError:
            pass
    return kept


def _remove_database(path: Path) -> None:
    for suffix in ("", *SQLITE_SIDE_FILES):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
