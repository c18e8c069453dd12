"""``sd log``: read, verify, count, export and import a library's event log."""

from __future__ import annotations

from pathlib import Path

import click

from events.domain.device import MEMBERSHIP_TYPES
from events.domain.ownership import ownership_violations
from events.errors import EventsError
from projections.membership import NOT_ADMIN, Act, Membership, act_of_body, membership
from sdactors.cli import log_read_cmds as log_read
from sdactors.cli.context import CliContext
from sdactors.cli.options import force_option, json_option, library_option, pass_ctx
from sdactors.library.log_health import clear_damage, record_damage
from sdactors.ops.logfile_actions import export_log, import_log, restore_log


@click.group("log")
def group() -> None:
    """The event log: every fact the library holds, signed and hash-chained."""


@group.command("verify")
@library_option
@json_option
@pass_ctx
def verify(ctx: CliContext, library: str | None) -> None:
    """Check every id, signature, chain link and sequence, and that every device-owned fact
    was changed only by its owner; exit 1 if anything is wrong."""
    config = ctx.find(library)
    store = log_read.open_log(ctx, library)
    acts: list[Act] = []

    def tap(events):
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
    past_cut, strangers = _outside_membership(members, held)
    # Damage refuses writes until the log is restored; a clean run lifts that.
    if problems:
        record_damage(config, problems)
    else:
        clear_damage(config)
    if ctx.out.as_json:
        ctx.out.json(
            {
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
                "membership_not_counted": [_act_json(a, why) for a, why in uncounted + notes],
                "held_past_cut": [
                    {"device": d.hex(), "first": first, "last": last} for d, first, last in past_cut
                ],
                "not_members": [
                    {"device": d.hex(), "first": 1, "last": last} for d, last in strangers
                ],
            }
        )
    else:
        for p in problems:
            ctx.out.line(f"BROKEN {p}")
        for v in violations:
            ctx.out.line(f"NOT OWNER {v}")
        for a, why in uncounted + notes:
            ctx.out.line(f"NOT COUNTED {_act_text(a, why)}")
        for d, first, last in past_cut:
            ctx.out.line(
                f"HELD PAST CUT {d.hex()[:10]} #{first}..#{last}: written after its "
                "revocation's cut; kept in the log, never folded or forwarded"
            )
        for d, last in strangers:
            ctx.out.line(
                f"NOT A MEMBER {d.hex()[:10]} #1..#{last}: no admin paired this device; "
                "its events are kept in the log, never folded or forwarded"
            )
        if problems or violations or uncounted:
            ctx.out.line(
                f"{len(problems)} problem(s), {len(violations)} ownership violation(s) and "
                f"{len(uncounted)} membership event(s) by non-admins in {events} events"
            )
        else:
            ctx.out.line(f"ok: {events} events verified")
    if problems or violations or uncounted:
        raise click.exceptions.Exit(1)


def _outside_membership(
    members: Membership, held: dict[bytes, int]
) -> tuple[list[tuple[bytes, int, int]], list[tuple[bytes, int]]]:
    """Events the log holds that membership keeps out: ``(device, first, last)`` past a
    revocation's cut, and ``(device, last)`` of devices that are no member."""
    allowed = members.allowed()
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


def _act_json(act: Act, why: str) -> dict:
    return {
        "device": act.device.hex(),
        "seq": act.seq,
        "type": act.type,
        "target": act.target.hex() if act.target else None,
        "reason": why,
    }


def _act_text(act: Act, why: str) -> str:
    target = f" of {act.target.hex()[:10]}" if act.target else ""
    return f"{act.device.hex()[:10]}#{act.seq} {act.type}{target}: {why} (ignored by every device)"


@group.command("stats")
@library_option
@json_option
@pass_ctx
def stats(ctx: CliContext, library: str | None) -> None:
    """Count events by type, devices, and bytes."""
    store = log_read.open_log(ctx, library)
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
@click.option(
    "--force",
    is_flag=True,
    help="Restore even if FILE lacks events of this device that the log holds; this device "
    "then fetches them back from a peer before it writes.",
)
@library_option
@json_option
@pass_ctx
def restore(ctx: CliContext, file: Path, force: bool, library: str | None) -> None:
    """Replace the library's log with FILE, an export of it (yours or a peer's), verified
    event by event: the way back from a lost or damaged log. The old log is kept beside it.

    Refused if FILE lacks events this device wrote that the log holds (its peers may hold
    them too), unless --force."""
    result = restore_log(ctx.data, file, library, force)
    kept = f"; the old log is kept as {result.kept.name}" if result.kept else ""
    after = (
        "this device's later events are fetched back from a peer before it writes "
        "(start the node: sd node run)"
        if result.awaiting_peers
        else "import newer exports of your peers before writing"
    )
    ctx.out.result(
        result.as_json(),
        f"restored library {result.library.name}: {result.accepted} events{kept}; {after}",
    )


@group.command("accept-loss")
@library_option
@json_option
@pass_ctx
def accept_loss(ctx: CliContext, library: str | None) -> None:
    """After 'sd log restore --force': write again without waiting for a peer to send back
    this device's later events. Only when no peer holds them: a peer that does refuses this
    device's new events from then on."""
    from sdactors.ops.logfile import AcceptLossOp

    result = ctx.execute(AcceptLossOp(library))
    ctx.out.result(
        result,
        "writes no longer wait for this device's own events"
        if result["was_waiting"]
        else "nothing was waiting: this library was not restored with --force",
    )


# Reading the log like a person: show (rendered, filtered), tail, history, explain; diff and
# bisect (time travel over the read models), each in its own module.
from sdactors.cli.bisect_cmds import bisect as _bisect  # noqa: E402
from sdactors.cli.log_diff_cmds import diff as _diff  # noqa: E402

for _command in (
    log_read.show,
    log_read.tail,
    log_read.history,
    log_read.explain,
    _diff,
    _bisect,
):
    group.add_command(_command)
