"""The log's own commands: verify it, count it, export it, import an export (a restore of a
lost library, or a merge), restore it from an export, and write again after a forced restore.

Reads open the log file read-only. An import goes through the library's Journal (its Ingest),
so it merges into a library a node serves while the node goes on; a restore replaces the log
file itself, so in a node the library is closed for the swap and opened again on the new log,
its index rebuilt and swapped in as a damaged one is (``Node.closed_for``), the node's other
libraries serving meanwhile. None of these is audited through the ActionManager: an import
or a restore brings its own log, and a forced restore's writes wait (see
``sdactors.library.log_health``). An export is a portable, self-verifying file
(``events.exportfile``).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from events.errors import EventsError, IngestRefused
from events.exportfile import ExportHeader, ExportReader, write_export
from events.shapes import Bool, Bytes, Maybe, Text
from events.store import EventStore
from sdactors.library.config import LibraryConfig, find_library, list_libraries
from sdactors.library.log_health import (
    clear_damage,
    folded_position,
    paired_in_index,
    record_restore,
)
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.results import (
    BOOL,
    COUNT,
    COUNTS,
    HEX,
    MAYBE_COUNT,
    MAYBE_HEX,
    MAYBE_TEXT,
    TEXT,
    many,
    record,
)
from sdactors.ops.shapes import LIBRARY
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


# A file the user named, made absolute where it was typed.
FILE = Bytes(min=1, max=4096)

PROBLEM = record(pos=MAYBE_COUNT, device=MAYBE_HEX, seq=MAYBE_COUNT, reason=TEXT)
VIOLATION = record(
    pos=MAYBE_COUNT, device=HEX, seq=COUNT, type=TEXT, kind=TEXT, id=HEX, owners=many(HEX)
)
ACT = record(device=HEX, seq=COUNT, type=TEXT, target=MAYBE_HEX, reason=TEXT)
IMPORTED = record(library=HEX, name=TEXT, created=BOOL, accepted=COUNT, skipped=COUNT)


@op("log.verify")
@dataclass(frozen=True)
class LogVerify(Op):
    """Check every id, signature, chain link and sequence, and that every device-owned fact
    was changed only by its owner; list membership events that did not count and events
    membership keeps out. Damage found refuses writes until the log is restored; a clean
    run lifts that."""

    library: Annotated[str | None, LIBRARY] = None

    result = record(
        ok=BOOL,
        events=COUNT,
        problems=many(PROBLEM),
        ownership_violations=many(VIOLATION),
        membership_not_counted=many(ACT),
        held_past_cut=many(record(device=HEX, first=COUNT, last=COUNT)),
        not_members=many(record(device=HEX, first=COUNT, last=COUNT)),
    )

    def run(self, ctx: OpContext) -> Any:
        from events.domain.device import MEMBERSHIP_TYPES
        from events.domain.ownership import ownership_violations
        from events.errors import EventsError
        from events.store import EventStore
        from projections.membership import NOT_ADMIN, Act, act_of_body, membership
        from sdactors.library.log_health import clear_damage, record_damage

        config = ctx.find(self.library)
        store = EventStore(config.paths.events, readonly=True)
        acts: list[Act] = []

        def tap(events: Any) -> Any:
            for ev in events:
                if ev.type in MEMBERSHIP_TYPES and (act := act_of_body(ev)) is not None:
                    acts.append(act)
                yield ev

        try:
            problems = store.verify()
            events = store.head_pos
            try:
                violations = ownership_violations(tap(store.read()))
            except EventsError:
                violations = []  # a log too damaged to read is reported by the problems above
            held = store.vector()
        finally:
            store.close()
        members = membership(acts)
        uncounted = [(a, why) for a, why in members.ignored if why == NOT_ADMIN]
        notes = [(a, why) for a, why in members.ignored if why != NOT_ADMIN]
        past_cut, strangers = _outside_membership(members.allowed(), held)
        if problems:
            record_damage(config, problems)
        else:
            clear_damage(config)
        return {
            "ok": not problems and not violations and not uncounted,
            "events": events,
            "problems": [
                {
                    "pos": p.pos,
                    "device": p.device.hex() if p.device else None,
                    "seq": p.seq,
                    "reason": p.reason,
                }
                for p in problems
            ],
            "ownership_violations": [
                {
                    "pos": v.pos,
                    "device": v.device.hex(),
                    "seq": v.seq,
                    "type": v.type,
                    "kind": v.kind,
                    "id": v.id.hex(),
                    "owners": [o.hex() for o in v.owners],
                }
                for v in violations
            ],
            "membership_not_counted": [
                {
                    "device": a.device.hex(),
                    "seq": a.seq,
                    "type": a.type,
                    "target": a.target.hex() if a.target else None,
                    "reason": why,
                }
                for a, why in uncounted + notes
            ],
            "held_past_cut": [
                {"device": d.hex(), "first": first, "last": last} for d, first, last in past_cut
            ],
            "not_members": [{"device": d.hex(), "first": 1, "last": last} for d, last in strangers],
        }


def _outside_membership(
    allowed: dict[bytes, int] | None, held: dict[bytes, int]
) -> tuple[list[tuple[bytes, int, int]], list[tuple[bytes, int]]]:
    """Events the log holds that membership keeps out: ``(device, first, last)`` past a
    revocation's cut, and ``(device, last)`` of devices that are no member."""
    past: list[tuple[bytes, int, int]] = []
    strangers: list[tuple[bytes, int]] = []
    if allowed is None:
        return past, strangers
    for device, last in sorted(held.items()):
        if device not in allowed:
            strangers.append((device, last))
        elif last > allowed[device]:
            past.append((device, allowed[device] + 1, last))
    return past, strangers


@op("log.stats")
@dataclass(frozen=True)
class LogStats(Op):
    """Events by type, devices, and bytes."""

    library: Annotated[str | None, LIBRARY] = None

    result = record(events=COUNT, by_type=COUNTS, devices=COUNT, bytes=COUNT)

    def run(self, ctx: OpContext) -> Any:
        from events.store import EventStore

        store = EventStore(ctx.find(self.library).paths.events, readonly=True)
        try:
            st = store.stats()
        finally:
            store.close()
        return {
            "events": st.events,
            "by_type": st.by_type,
            "devices": st.devices,
            "bytes": st.bytes,
        }


@op("log.export")
@dataclass(frozen=True)
class LogExport(Op):
    """Write the whole log to ``file``: a portable, self-verifying stream (never over one of
    the data directory's files; over another file only with ``force``)."""

    file: Annotated[bytes, FILE]
    force: Annotated[bool, Bool()] = False
    library: Annotated[str | None, LIBRARY] = None

    result = record(path=TEXT, events=COUNT, bytes=COUNT)

    def run(self, ctx: OpContext) -> Any:

        target = Path(os.fsdecode(self.file))
        return export_log(ctx.find(self.library), target, ctx.data, self.force).as_json()


@op("log.import")
@dataclass(frozen=True)
class LogImport(Op):
    """Ingest an export with full verification: a library it creates (a restore of a lost
    one, named ``name`` or as the export says), or the events missing from one held."""

    file: Annotated[bytes, FILE]
    name: Annotated[str | None, Maybe(Text(1, 256))] = None
    library: Annotated[str | None, LIBRARY] = None

    result = IMPORTED

    def run(self, ctx: OpContext) -> Any:

        done = import_log(ctx, Path(os.fsdecode(self.file)), self.library, self.name)
        if done.created:
            ctx.serve_new(done.library)
        return done.as_json()


@op("log.restore")
@dataclass(frozen=True)
class LogRestore(Op):
    """Replace the library's log with an export of it, verified event by event, keeping the
    old log beside it; refused if the export lacks events this device wrote that the log
    holds, unless ``force``. In a node the library is closed for the swap and opened again
    on the restored log (its index folded anew); the node's other libraries go on."""

    file: Annotated[bytes, FILE]
    force: Annotated[bool, Bool()] = False
    library: Annotated[str | None, LIBRARY] = None

    result = record(library=HEX, name=TEXT, accepted=COUNT, kept=MAYBE_TEXT, awaiting_peers=BOOL)

    def run(self, ctx: OpContext) -> Any:

        path = Path(os.fsdecode(self.file))

        def restore() -> Any:
            return restore_log(ctx.data, path, self.library, self.force).as_json()

        if not ctx.serving:
            return restore()
        # Refused before the library is closed, if the export is not the library's.
        target = restore_target(ctx.data, path, self.library)
        return ctx.closed_for(target.id, restore)


@op("log.accept_loss")
@dataclass(frozen=True)
class AcceptLossOp(Op):
    """After a forced restore: write again without waiting for a peer to send this device's
    later events back (see ``sdactors.library.log_health``). Not audited through the ActionManager,
    whose record would itself wait; the warning is in the node's log."""

    library: Annotated[str | None, LIBRARY] = None

    result = record(was_waiting=BOOL)

    def run(self, ctx: OpContext) -> Any:
        return {"was_waiting": ctx.write_library(self.library).accept_loss()}
