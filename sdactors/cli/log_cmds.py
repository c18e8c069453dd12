"""``sd log``: read, verify, count, export and import a library's event log."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import click

from events.clock import hlc_ms
from events.domain.ownership import ownership_violations
from events.envelope import Event
from events.errors import EventsError
from events.keys import short_device
from events.store import EventStore
from sdactors.actions.logfile import export_log, import_log, restore_log
from sdactors.cli.context import CliContext
from sdactors.cli.options import force_option, json_option, library_option, pass_ctx
from sdactors.cli.output import jsonable
from sdactors.errors import InvalidArgument
from sdactors.log_health import clear_damage, record_damage


@click.group("log")
def group() -> None:
    """The event log: every fact the library holds, signed and hash-chained."""


def _event_json(ev: Event) -> dict:
    return {
        "pos": ev.pos,
        "id": ev.id.hex(),
        "device": ev.device.hex(),
        "seq": ev.seq,
        "hlc": ev.hlc,
        "type": ev.type,
        "v": ev.v,
        "body": jsonable(ev.body),
    }


def _event_line(ev: Event) -> str:
    try:
        when = f"{datetime.fromtimestamp(hlc_ms(ev.hlc) / 1000, timezone.utc):%Y-%m-%d %H:%M:%S}"
    except (OverflowError, ValueError, OSError):
        when = f"hlc {ev.hlc}"  # a foreign clock beyond any date: show it, do not fail on it
    body = json.dumps(jsonable(ev.body), ensure_ascii=False)
    if len(body) > 160:
        body = body[:157] + "..."
    return f"{ev.pos:>8}  {when}  {short_device(ev.device)}#{ev.seq:<6} {ev.type:<22} {body}"


def _resolve_device(store: EventStore, wanted: str) -> bytes:
    wanted = wanted.lower()
    matches = [dev for dev in store.vector() if dev.hex().startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InvalidArgument(f"no device {wanted!r} has written to this library")
    raise InvalidArgument(f"{wanted!r} matches {len(matches)} devices: give more of its id")


def _open_log(ctx: CliContext, library: str | None) -> EventStore:
    # Reading the log needs no lock and no actors: a read-only connection sees every commit.
    return EventStore(ctx.find(library).paths.events, readonly=True)


@group.command("show")
@click.option(
    "--since", type=click.IntRange(min=0), default=0, help="Only events after this position."
)
@click.option(
    "--type", "type_prefix", default=None, help="Only types starting with this, e.g. 'tag.'."
)
@click.option("--device", default=None, help="Only events of this device (id or prefix).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many events.")
@library_option
@json_option
@pass_ctx
def show(
    ctx: CliContext,
    since: int,
    type_prefix: str | None,
    device: str | None,
    limit: int | None,
    library: str | None,
) -> None:
    """Show events in log order (JSON lines with --json)."""
    store = _open_log(ctx, library)
    try:
        dev = _resolve_device(store, device) if device else None
        events = store.read(since, type_prefix=type_prefix, device=dev, limit=limit)
        if ctx.out.as_json:
            ctx.out.json_lines(_event_json(ev) for ev in events)
        else:
            for ev in events:
                ctx.out.line(_event_line(ev))
    finally:
        store.close()


@group.command("verify")
@library_option
@json_option
@pass_ctx
def verify(ctx: CliContext, library: str | None) -> None:
    """Check every id, signature, chain link and sequence, and that every device-owned fact
    was changed only by its owner; exit 1 if anything is wrong."""
    config = ctx.find(library)
    store = _open_log(ctx, library)
    try:
        problems = store.verify()
        events = store.head_pos
        try:
            violations = ownership_violations(store.read())
        except EventsError:
            violations = []  # a log too damaged to read is reported by the problems above
    finally:
        store.close()
    # Damage refuses writes until the log is restored; a clean run lifts that.
    if problems:
        record_damage(config, problems)
    else:
        clear_damage(config)
    if ctx.out.as_json:
        ctx.out.json(
            {
                "ok": not problems and not violations,
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
            }
        )
    else:
        for p in problems:
            ctx.out.line(f"BROKEN {p}")
        for v in violations:
            ctx.out.line(f"NOT OWNER {v}")
        if problems or violations:
            ctx.out.line(
                f"{len(problems)} problem(s) and {len(violations)} ownership violation(s) "
                f"in {events} events"
            )
        else:
            ctx.out.line(f"ok: {events} events verified")
    if problems or violations:
        raise click.exceptions.Exit(1)


@group.command("stats")
@library_option
@json_option
@pass_ctx
def stats(ctx: CliContext, library: str | None) -> None:
    """Count events by type, devices, and bytes."""
    store = _open_log(ctx, library)
    try:
        st = store.stats()
    finally:
        store.close()
    result = {"events": st.events, "by_type": st.by_type, "devices": st.devices, "bytes": st.bytes}
    if ctx.out.as_json:
        ctx.out.json(result)
        return
    ctx.out.line(f"events   {st.events}")
    ctx.out.line(f"devices  {st.devices}")
    ctx.out.line(f"bytes    {st.bytes}")
    ctx.out.table(["type", "events"], sorted(st.by_type.items()), "no events")


@group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@force_option
@library_option
@json_option
@pass_ctx
def export(ctx: CliContext, file: Path, force: bool, library: str | None) -> None:
    """Write the whole log to FILE: a portable, self-verifying stream."""
    result = export_log(ctx.find(library), file, ctx.data, force)
    ctx.out.result(result.as_json(), f"exported {result.events} events to {result.path}")


@group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="Name for a library the import creates.")
@library_option
@json_option
@pass_ctx
def import_(ctx: CliContext, file: Path, name: str | None, library: str | None) -> None:
    """Ingest FILE with full verification: restores a library, or merges into it."""
    result = import_log(ctx.node, file, library, name)
    verb = "restored" if result.created else "merged into"
    ctx.out.result(
        result.as_json(),
        f"{verb} library {result.library.name}: {result.accepted} events added, "
        f"{result.skipped} already held",
    )


@group.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@library_option
@json_option
@pass_ctx
def restore(ctx: CliContext, file: Path, library: str | None) -> None:
    """Replace the library's log with FILE, an export of it (yours or a peer's), verified
    event by event: the way back from a lost or damaged log. The old log is kept beside it."""
    result = restore_log(ctx.data, file, library)
    kept = f"; the old log is kept as {result.kept.name}" if result.kept else ""
    ctx.out.result(
        result.as_json(),
        f"restored library {result.library.name}: {result.accepted} events{kept}; "
        "import newer exports of your peers before writing",
    )


# ``sd log bisect`` lives in its own module (time travel over the read models).
from sdactors.cli.bisect_cmds import bisect as _bisect  # noqa: E402

group.add_command(_bisect)
