"""``sd drop``: Spacedrop, files sent to another device's library inbox (needs a node)."""

from __future__ import annotations

from typing import Any

import click

from sdactors.cli.context import CliContext
from sdactors.cli.net_cmds import live_line
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.cli.output import for_terminal
from sdactors.runtime.paths import user_path
from sdactors.runtime.units import human_bytes

_PHASES = {
    "hashing": "hashing",
    "waiting": "waiting for the other device to accept (offer {offer})",
    "sending": "sending {file}",
    "reconnecting": "connection lost, reconnecting",
    "receiving": "receiving",
}


def _phase(info: dict) -> str:
    """What a progress report says the drop is doing, in words."""
    words = _PHASES.get(info.get("phase", ""), "")
    return words.format(offer=info.get("offer") or "", file=for_terminal(info.get("file") or ""))


@click.group("drop")
def group() -> None:
    """Spacedrop: send files to another device; take or refuse what others offer."""


@group.command("send")
@click.argument("args", nargs=-1, required=True, metavar="DEVICE FILE...")
@click.option(
    "--to", "to", metavar="ID", help="The device's whole id (then every argument is a file)."
)
@click.option(
    "--address",
    "addresses",
    multiple=True,
    metavar="IP:PORT",
    help="Where to reach the device (one not in the library: give its whole id).",
)
@library_option
@json_option
@pass_ctx
def send(
    ctx: CliContext, args: tuple[str, ...], to: str | None, addresses: tuple[str, ...],
    library: str | None,
) -> None:  # fmt: skip
    """Send FILEs to DEVICE (id, id prefix or name in the library). A device paired in the
    library takes them at once; any other is asked first (sd drop accept on its side)."""
    from sdactors.ops.drop import DropSendOp

    device, files = (to, args) if to else (args[0], args[1:])
    if not files:
        raise click.UsageError("name at least one FILE to send")
    paths = tuple(user_path(f) for f in files)
    with live_line(ctx, "sending", in_bytes=True, describe=_phase) as progress:
        result = ctx.execute(DropSendOp(device, paths, addresses, library), progress)
    if ctx.out.as_json:
        ctx.out.json(result)
        return
    sent = result["files"]
    resumed = (
        f", resumed from {human_bytes(result['resumed_from'])}" if result["reconnects"] else ""
    )
    ctx.out.line(
        f"sent {len(sent)} file(s), {human_bytes(result['bytes'])}, to {result['device'][:10]} "
        f"in {result['seconds']:.1f} s ({result['mb_per_s'] or 0:.1f} MB/s{resumed})"
    )


@group.command("list")
@json_option
@pass_ctx
def list_(ctx: CliContext) -> None:
    """Offers waiting here (accept or reject them by id), then drops sent and received."""
    from sdactors.ops.drop import DropListOp

    rows = ctx.execute(DropListOp())
    if ctx.out.as_json:
        ctx.out.json(rows)
        return
    ctx.out.table(
        ["id", "", "device", "state", "files", "size", "when"],
        [
            (
                r["id"] or "",
                "from" if r["direction"] == "in" else "to",
                f"{r['name']} ({r['device'][:10]})" if r["name"] else r["device"][:10],
                r["state"] + (f": {r['reason']}" if r["reason"] else ""),
                _names(r["files"]),
                human_bytes(r["total"]) if r["total"] is not None else "",
                r["when"],
            )
            for r in rows
        ],
        "no Spacedrop offers or drops yet",
    )


def _names(files: list[dict[str, Any]]) -> str:
    names = [f.get("name") or f.get("path") or "" for f in files]
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


@group.command("accept")
@click.argument("offer")
@library_option
@json_option
@pass_ctx
def accept(ctx: CliContext, offer: str, library: str | None) -> None:
    """Take the pending offer OFFER: its files land in the library's inbox."""
    from sdactors.ops.drop import DropAcceptOp

    with live_line(ctx, "receiving", in_bytes=True, describe=_phase) as progress:
        row = ctx.execute(DropAcceptOp(offer, library), progress)
    if ctx.out.as_json:
        ctx.out.json(row)
        return
    reason = f" ({row['reason']})" if row["reason"] else ""
    ctx.out.line(f"accepted {row['id']}: {row['state']}{reason}")
    for f in row["files"]:
        if f["path"]:
            ctx.out.line(f["path"])


@group.command("reject")
@click.argument("offer")
@json_option
@pass_ctx
def reject(ctx: CliContext, offer: str) -> None:
    """Refuse the pending offer OFFER: the sender is told, nothing is written."""
    from sdactors.ops.drop import DropRejectOp

    row = ctx.execute(DropRejectOp(offer))
    ctx.out.result(row, f"rejected {row['id']} from {row['name'] or row['device'][:10]}")
