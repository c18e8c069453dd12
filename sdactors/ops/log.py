"""The log's own commands: verify it, count it, export it, import an export (a restore of a
lost library, or a merge), restore it from an export, and write again after a forced restore.

Reads open the log file read-only. An import goes through the library's Journal (its Ingest),
so it merges into a library a node serves while the node goes on; a restore replaces the log
file itself, so in a node the library is closed for the swap and opened again on the new log,
its index rebuilt and swapped in as a damaged one is (``Node.closed_for``), the node's other
libraries serving meanwhile. None of these is
audited through the ActionManager: an import or a restore brings its own log, and a forced
restore's writes wait (see ``sdactors.library.log_health``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from events.shapes import Bool, Bytes, Maybe, Text
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
        from sdactors.ops.logfile_actions import export_log

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
        from sdactors.ops.logfile_actions import import_log

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
        from sdactors.ops.logfile_actions import restore_log, restore_target

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
