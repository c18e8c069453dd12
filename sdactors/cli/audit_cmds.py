"""``sd audit``: who did what to a library, and how it ended."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

import click

from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.ops.audit import SINCE_MOST, Audit
from sdactors.runtime.errors import InvalidArgument

_AGO = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def span_s(text: str) -> int | None:
    """A span (90s, 15m, 2h, 3d, 1w) in seconds; None if ``text`` is not one."""
    match = _AGO.match(text.strip())
    return None if match is None else int(match.group(1)) * _UNIT_S[match.group(2)]


def since_ms(text: str | None) -> int:
    """``--since``: a time (2026-11-30, 2026-11-30T08:00, ISO with a zone) or a span ago
    (90s, 15m, 2h, 3d, 1w); milliseconds since the epoch, within what an event's clock
    carries: a span or a time before 1970 is everything, a time past it nothing."""
    if text is None:
        return 0
    ago = span_s(text)
    if ago is not None:
        return min(max(time.time_ns() // 1_000_000 - ago * 1000, 0), SINCE_MOST)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgument(
            f"--since {text!r} is neither a time (2026-11-30T08:00) nor a span (15m, 2h, 3d)"
        ) from None
    if when.tzinfo is None:
        # A time without a zone is the user's local time (as far as the system knows it, for
        # years before 1970 or past 9999 it may not: then the time is taken as UTC).
        try:
            when = when.astimezone()
        except (OverflowError, OSError, ValueError):
            when = when.replace(tzinfo=timezone.utc)
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return min(max((when - epoch) // timedelta(milliseconds=1), 0), SINCE_MOST)


@click.command("audit")
@click.option("--since", default=None, help="Only actions since then: a time or a span (2h).")
@library_option
@json_option
@pass_ctx
def audit(ctx: CliContext, since: str | None, library: str | None) -> None:
    """The actions run on the library (by any device): command, arguments, outcome."""
    rows = ctx.execute(Audit(since_ms(since), library))
    if ctx.out.as_json:
        ctx.out.json(rows)
        return
    ctx.out.table(
        ["requested", "device", "command", "state", "detail"],
        [
            (
                (r["requested"] or "")[:19].replace("T", " "),
                r["device_name"] or r["device"][:10],
                r["command"],
                r["state"],
                r["error"] or (f"proposal {r['proposal'][:12]}" if r["proposal"] else ""),
            )
            for r in rows
        ],
        "no actions",
    )
