"""``sd log``: read, verify, count, export and import a library's event log.

Each command is an op (``sdactors.ops.log``, ``sdactors.ops.log_read``), run by the node when
one serves the data directory, else here; this module parses and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sdactors.cli import log_read_cmds as log_read
from sdactors.cli.context import CliContext
from sdactors.cli.options import force_option, json_option, library_option, pass_ctx
from sdactors.runtime.paths import entry_path, user_path


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
    from sdactors.ops.log import LogVerify

    found = ctx.execute(LogVerify(library))
    if ctx.out.as_json:
        ctx.out.json(found)
    else:
        _verify_text(ctx, found)
    if not found["ok"]:
        raise click.exceptions.Exit(1)


def _verify_text(ctx: CliContext, found: dict[str, Any]) -> None:
    from events.domain.ownership import Violation
    from events.verify import Problem
    from projections.membership import NOT_ADMIN

    def raw(hex_id: str | None) -> bytes | None:
        return bytes.fromhex(hex_id) if hex_id is not None else None

    problems, violations = found["problems"], found["ownership_violations"]
    uncounted = [a for a in found["membership_not_counted"] if a["reason"] == NOT_ADMIN]
    for p in problems:
        ctx.out.line(f"BROKEN {Problem(p['pos'], raw(p['device']), p['seq'], p['reason'])}")
    for v in violations:
        owners = tuple(bytes.fromhex(o) for o in v["owners"])
        shown = Violation(
            v["pos"], raw(v["device"]), v["seq"], v["type"], v["kind"], raw(v["id"]), owners
        )
        ctx.out.line(f"NOT OWNER {shown}")
    for a in found["membership_not_counted"]:
        target = f" of {a['target'][:10]}" if a["target"] else ""
        if a["type"].startswith("agent.") and a["target"]:
            # An agent's grant or switch: its target is the agent's name (UTF-8, in hex).
            target = f" of agent {bytes.fromhex(a['target']).decode(errors='replace')}"
        ctx.out.line(
            f"NOT COUNTED {a['device'][:10]}#{a['seq']} {a['type']}{target}: {a['reason']} "
            "(ignored by every device)"
        )
    for cut in found["held_past_cut"]:
        ctx.out.line(
            f"HELD PAST CUT {cut['device'][:10]} #{cut['first']}..#{cut['last']}: written after "
            "its revocation's cut; kept in the log, never folded or forwarded"
        )
    for stranger in found["not_members"]:
        ctx.out.line(
            f"NOT A MEMBER {stranger['device'][:10]} #1..#{stranger['last']}: no admin paired "
            "this device; its events are kept in the log, never folded or forwarded"
        )
    if not found["ok"]:
        ctx.out.line(
            f"{len(problems)} problem(s), {len(violations)} ownership violation(s) and "
            f"{len(uncounted)} membership event(s) by non-admins in {found['events']} events"
        )
    else:
        ctx.out.line(f"ok: {found['events']} events verified")


@group.command("stats")
@library_option
@json_option
@pass_ctx
def stats(ctx: CliContext, library: str | None) -> None:
    """Count events by type, devices, and bytes."""
    from sdactors.ops.log import LogStats

    st = ctx.execute(LogStats(library))
    if ctx.out.as_json:
        ctx.out.json(st)
        return
    ctx.out.line(f"events   {st['events']}")
    ctx.out.line(f"devices  {st['devices']}")
    ctx.out.line(f"bytes    {st['bytes']}")
    ctx.out.table(["type", "events"], sorted(st["by_type"].items()), "no events")


@group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@force_option
@library_option
@json_option
@pass_ctx
def export(ctx: CliContext, file: Path, force: bool, library: str | None) -> None:
    """Write the whole log to FILE: a portable, self-verifying stream."""
    from sdactors.ops.log import LogExport

    result = ctx.execute(LogExport(entry_path(file), force, library))
    ctx.out.result(result, f"exported {result['events']} events to {result['path']}")


@group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="Name for a library the import creates.")
@library_option
@json_option
@pass_ctx
def import_(ctx: CliContext, file: Path, name: str | None, library: str | None) -> None:
    """Ingest FILE with full verification: restores a library, or merges into it."""
    from sdactors.ops.log import LogImport

    result = ctx.execute(LogImport(user_path(file), name, library))
    verb = "restored" if result["created"] else "merged into"
    ctx.out.result(
        result,
        f"{verb} library {result['name']}: {result['accepted']} events added, "
        f"{result['skipped']} already held",
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
    them too), unless --force. A running node closes the library for the swap and serves it
    again from the restored log."""
    from sdactors.ops.log import LogRestore

    result = ctx.execute(LogRestore(user_path(file), force, library))
    kept = f"; the old log is kept as {Path(result['kept']).name}" if result["kept"] else ""
    after = (
        "this device's later events are fetched back from a peer before it writes "
        "(start the node: sd node run)"
        if result["awaiting_peers"]
        else "import newer exports of your peers before writing"
    )
    ctx.out.result(
        result,
        f"restored library {result['name']}: {result['accepted']} events{kept}; {after}",
    )


@group.command("accept-loss")
@library_option
@json_option
@pass_ctx
def accept_loss(ctx: CliContext, library: str | None) -> None:
    """After 'sd log restore --force': write again without waiting for a peer to send back
    this device's later events. Only when no peer holds them: a peer that does refuses this
    device's new events from then on."""
    from sdactors.ops.log import AcceptLossOp

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
