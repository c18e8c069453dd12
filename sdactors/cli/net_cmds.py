"""``sd pair``, ``sd device``, ``sd sync``: devices sharing a library over iroh."""

from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import click

from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.cli.output import clock_note
from sdactors.runtime.units import human_bytes

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """``90``, ``90s``, ``10m``, ``2h``, ``1d`` as seconds."""
    found = _DURATION.match(text)
    if found is None:
        raise click.BadParameter(f"{text!r} is not a duration such as 90s, 10m, 2h or 1d")
    return int(found.group(1)) * _UNITS[found.group(2)]


@contextmanager
def live_line(
    ctx: CliContext,
    what: str,
    in_bytes: bool = False,
    describe: Callable[[dict], str] | None = None,
) -> Iterator[Callable[[dict], None] | None]:
    """A live line on a terminal (stderr) for long network work; nothing for scripts.

    Progress is ``done`` of ``expected`` (None: not known yet); ``in_bytes`` shows them as
    sizes with the speed and time left, ``describe`` words the line from each report."""
    if ctx.out.as_json or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    counts = (
        [DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()]
        if in_bytes
        else [TextColumn("{task.completed:,.0f} / {task.total:,.0f}"), TimeElapsedColumn()]
    )
    with Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        *counts,
        console=ctx.out.err,
        transient=True,
    ) as bar:
        task = bar.add_task(what, total=None)

        def update(info: dict) -> None:
            shown = describe(info) if describe is not None else what
            bar.update(
                task, description=shown, completed=info.get("done") or 0, total=info.get("expected")
            )

        yield update


# -- sd pair ----------------------------------------------------------------------------------


@click.group("pair")
def pair() -> None:
    """Pair devices in a library: one invites, the other joins with the ticket."""


@pair.command("invite")
@click.option(
    "--expires", default="10m", show_default=True, help="How long the ticket works (90s, 10m, 2h)."
)
@library_option
@json_option
@pass_ctx
def invite(ctx: CliContext, expires: str, library: str | None) -> None:
    """Print a one-time ticket another device joins this library with (needs a node)."""
    from sdactors.ops.network import PairInvite

    result = ctx.execute(PairInvite(parse_duration(expires), library))
    if ctx.out.as_json:
        ctx.out.json(result)
        return
    ctx.out.line(result["ticket"])
    click.echo(
        f"on the other device: sd pair join TICKET  (library {result['library_name']!r}, "
        f"works once, until {result['expires']})",
        err=True,
    )


@pair.command("join")
@click.argument("ticket")
@json_option
@pass_ctx
def join(ctx: CliContext, ticket: str) -> None:
    """Pair with the device that made TICKET, and receive its library (needs a node)."""
    from sdactors.ops.network import PairJoin

    with live_line(ctx, "receiving the library's log") as progress:
        result = ctx.execute(PairJoin(ticket), progress)
    name = result["name"] or result["device"][:10]
    ctx.out.result(
        result,
        f"paired with {name} in library {result['library_name']!r}"
        + (" (created here)" if result["created"] else "")
        + f"; {result['events_received']:,} events received",
    )


# -- sd device --------------------------------------------------------------------------------


@click.group("device")
def device() -> None:
    """The devices of a library."""


@device.command("list")
@library_option
@json_option
@pass_ctx
def device_list(ctx: CliContext, library: str | None) -> None:
    """Every device of the library: its role, whether connected, last seen, and whether its
    clock runs ahead of this device's (its changes then win over later ones made here)."""
    from sdactors.ops.network import DeviceList

    rows = ctx.execute(DeviceList(library))
    if ctx.out.as_json:
        ctx.out.json(rows)
        return
    ctx.out.table(
        ["device", "name", "role", "state", "last seen"],
        [
            (
                r["device"][:10],
                (r["name"] or "") + (" (this device)" if r["this_device"] else ""),
                (r["role"] or "not paired") + (", creator" if r["creator"] else ""),
                ", ".join(filter(None, (_device_state(r), clock_note(r["clock_ahead_ms"])))),
                r["last_seen"] or "",
            )
            for r in rows
        ],
        "no devices yet",
    )


def _device_state(row: dict[str, Any]) -> str:
    if row["revoked"]:
        return f"revoked: events after #{row['kept_upto']} refused"
    return "connected" if row["connected"] else ""


@device.command("revoke")
@click.argument("device_id", metavar="DEVICE")
@library_option
@json_option
@pass_ctx
def revoke(ctx: CliContext, device_id: str, library: str | None) -> None:
    """Refuse DEVICE from now on, here and on every device that receives this (by id or name).

    Its events up to the last one this device holds are kept; any later one is refused
    wherever the revocation arrives. Admins only."""
    from sdactors.ops.network import DeviceRevoke

    result = ctx.execute(DeviceRevoke(device_id, library))
    ctx.out.result(
        result,
        f"revoked {result['name'] or ''} ({result['device'][:10]}): its events after "
        f"#{result['kept_upto']} are refused",
    )


@device.command("role")
@click.argument("device_id", metavar="DEVICE")
@click.argument("role", type=click.Choice(["admin", "member"]))
@library_option
@json_option
@pass_ctx
def role(ctx: CliContext, device_id: str, role: str, library: str | None) -> None:
    """Make DEVICE an admin (it may pair, revoke and change roles) or a member. Admins only."""
    from sdactors.ops.network import DeviceRoleOp

    result = ctx.execute(DeviceRoleOp(device_id, role, library))
    ctx.out.result(result, f"{result['name'] or result['device'][:10]} is now {result['role']}")


# -- sd sync ----------------------------------------------------------------------------------


@click.group("sync")
def sync() -> None:
    """Replication of the library's log with its paired devices."""


def _state(row: dict[str, Any]) -> str:
    if row["connected"] and not row["behind"] and not row["ahead"]:
        return "in sync"
    return "connected" if row["connected"] else "not connected"


@sync.command("status")
@library_option
@json_option
@pass_ctx
def status(ctx: CliContext, library: str | None) -> None:
    """Per paired device: connected, events it lacks (behind), events it has that this
    device lacks (ahead), the last sync, why it is not in sync, and whether its clock runs
    ahead of this device's."""
    from sdactors.ops.network import SyncStatusOp

    rows = ctx.execute(SyncStatusOp(library))
    if ctx.out.as_json:
        ctx.out.json(rows)
        return
    ctx.out.table(
        ["device", "name", "state", "behind", "ahead", "last sync", "traffic", "reason"],
        [
            (
                r["device"][:10],
                r["name"] or "",
                _state(r),
                "" if r["behind"] is None else f"{r['behind']:,}",
                "" if r["ahead"] is None else f"{r['ahead']:,}",
                r["last_sync"] or "never",
                f"{human_bytes(r['bytes_sent'])} out, {human_bytes(r['bytes_received'])} in",
                "; ".join(
                    filter(
                        None,
                        (
                            (r["reason"] or "")
                            + (f" (since {r['since']})" if r.get("since") else ""),
                            clock_note(r["clock_ahead_ms"]),
                        ),
                    )
                ),
            )
            for r in rows
        ],
        "no paired devices (sd pair invite on this device, sd pair join on the other)",
    )


@sync.command("now")
@library_option
@json_option
@pass_ctx
def now(ctx: CliContext, library: str | None) -> None:
    """Reconnect to every paired device now, without waiting for the backoff."""
    from sdactors.ops.network import SyncNowOp

    result = ctx.execute(SyncNowOp(library))
    ctx.out.result(result, f"woke sync with {result['woken']} device(s)")


def _pause_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = pass_ctx(json_option(library_option(fn)))
    return click.argument("device_id", metavar="[DEVICE]", required=False)(fn)


def _set_paused(ctx: CliContext, device_id: str | None, library: str | None, paused: bool) -> None:
    from sdactors.ops.network import SyncPauseOp

    result = ctx.execute(SyncPauseOp(device_id, paused, library))
    done = "paused" if paused else "resumed"
    ctx.out.result(result, f"sync {done} with {len(result['devices'])} device(s)")


@sync.command("pause")
@_pause_options
def pause(ctx: CliContext, device_id: str | None, library: str | None) -> None:
    """Stop syncing with DEVICE (or every device) until resumed; kept across restarts."""
    _set_paused(ctx, device_id, library, True)


@sync.command("resume")
@_pause_options
def resume(ctx: CliContext, device_id: str | None, library: str | None) -> None:
    """Sync again with DEVICE (or every device)."""
    _set_paused(ctx, device_id, library, False)
