"""``sd log show|tail|history|explain``: reading a library's log as people debug it.

``show`` renders bodies for people (``--raw`` keeps the stored form, ``--json`` stays
lossless), filtered by position or time, type, device (name or id) and path; ``tail`` prints
the last events and, with ``--follow``, each new one as it is committed; ``history`` is the
life of one path across devices; ``explain`` the rows one event changed.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Iterator

import click

from events.clock import hlc_ms
from events.envelope import Event
from events.store import EventStore, read_head
from sdactors.cli.context import CliContext
from sdactors.cli.options import json_option, library_option, pass_ctx
from sdactors.cli.output import jsonable
from sdactors.replay import render
from sdactors.replay.history import history as path_history
from sdactors.replay.history import touching
from sdactors.runtime.errors import InvalidArgument
from sdactors.runtime.paths import show as show_path
from sdactors.runtime.paths import user_path

# How often --follow looks for new commits (a read of the log's head: two small queries).
FOLLOW_EVERY_S = 0.02


def event_json(ev: Event) -> dict[str, Any]:
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


def open_log(ctx: CliContext, library: str | None) -> EventStore:
    # Reading the log needs no lock and no actors: a read-only connection sees every commit.
    return EventStore(ctx.find(library).paths.events, readonly=True)


def device_names(store: EventStore) -> dict[bytes, str]:
    """Each device's name, as it registered itself (its latest registration)."""
    return {ev.device: ev.body["name"] for ev in store.read(type_prefix="device.registered")}


def resolve_device(store: EventStore, wanted: str) -> bytes:
    """A device of this log by id prefix or by the name it registered."""
    lowered = wanted.lower()
    matches = [dev for dev in store.vector() if dev.hex().startswith(lowered)]
    if not matches:
        matches = [dev for dev, name in device_names(store).items() if name == wanted]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise InvalidArgument(f"no device {wanted!r} has written to this library")
    raise InvalidArgument(f"{wanted!r} matches {len(matches)} devices: give more of its id")


class Bound(click.ParamType):
    """A position (a number) or a time (ISO, UTC unless it says otherwise)."""

    name = "POS|TIME"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[str, int]:
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        if text.isdigit():
            return ("pos", int(text))
        try:
            at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{text!r} is neither a position nor a time like 2026-11-30T14:05", param)
        if at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)
        return ("ms", int(at.timestamp() * 1000))


def _after(ev: Event, bound: tuple[str, int] | None) -> bool:
    if bound is None:
        return True
    kind, value = bound
    return ev.pos > value if kind == "pos" else hlc_ms(ev.hlc) >= value  # type: ignore[operator]


def _before(ev: Event, bound: tuple[str, int] | None) -> bool:
    if bound is None:
        return True
    kind, value = bound
    return ev.pos <= value if kind == "pos" else hlc_ms(ev.hlc) <= value  # type: ignore[operator]


@click.command("show")
@click.option("--since", type=Bound(), default=None, help="After this position, or from this time.")
@click.option("--until", type=Bound(), default=None, help="Up to this position or time.")
@click.option(
    "--type", "type_prefix", default=None, help="Only types starting with this, e.g. 'tag.'."
)
@click.option("--device", default=None, help="Only events of this device (name, or id prefix).")
@click.option("--path", default=None, help="Only events touching this path or anything under it.")
@click.option("--expand", is_flag=True, help="Batch events: one line per entry, with its path.")
@click.option("--raw", is_flag=True, help="Bodies as stored (ids and paths in hex).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many events.")
@library_option
@json_option
@pass_ctx
def show(
    ctx: CliContext,
    since: tuple[str, int] | None,
    until: tuple[str, int] | None,
    type_prefix: str | None,
    device: str | None,
    path: str | None,
    expand: bool,
    raw: bool,
    limit: int | None,
    library: str | None,
) -> None:
    """Show events in log order, for people (JSON lines with --json, lossless)."""
    store = open_log(ctx, library)
    try:
        dev = resolve_device(store, device) if device else None
        names = device_names(store)
        start = since[1] if since is not None and since[0] == "pos" else 0
        chosen = _chosen(store, start, path, expand)
        shown = 0
        for ev, touches in chosen:
            if limit is not None and shown >= limit:
                break
            if not (_after(ev, since) and _before(ev, until)):
                if until is not None and until[0] == "pos" and ev.pos > until[1]:
                    break
                continue
            if (type_prefix and not ev.type.startswith(type_prefix)) or (
                dev is not None and ev.device != dev
            ):
                continue
            shown += 1
            _print_event(ctx, ev, touches, names, expand, raw)
    finally:
        store.close()


def _chosen(
    store: EventStore, start: int, path: str | None, expand: bool
) -> Iterator[tuple[Event, list]]:
    """Events from ``start`` on, each with what it did to paths when that is asked for (a
    path filter or --expand: both need the log replayed from its beginning)."""
    if path is not None:
        yield from touching(store, user_path(path), start)
        return
    if expand:
        from sdactors.replay.tree import Replay

        replay = Replay()
        for ev in store.read():
            touches = (
                list(replay.apply(ev)) if ev.type.startswith(("entries.", "location.")) else []
            )
            if ev.pos > start:
                yield ev, touches
        return
    for ev in store.read(start):
        yield ev, []


def _print_event(
    ctx: CliContext, ev: Event, touches: list, names: dict[bytes, str], expand: bool, raw: bool
) -> None:
    if ctx.out.as_json:
        record = event_json(ev)
        if expand or touches:
            record["touches"] = [render.touch_json(t) for t in touches]
        ctx.out.json(record)
    elif raw:
        ctx.out.line(_raw_line(ev))
    else:
        ctx.out.line(render.event_line(ev, names))
        if expand or touches:
            for line in render.touch_lines(touches):
                ctx.out.line(line)


def _raw_line(ev: Event) -> str:
    import json

    from events.keys import short_device

    body = json.dumps(jsonable(ev.body), ensure_ascii=False)
    if len(body) > 160:
        body = body[:157] + "..."
    return f"{ev.pos:>8}  {render.when(ev)}  {short_device(ev.device)}#{ev.seq:<6} {ev.type:<22} {body}"


@click.command("tail")
@click.option("-n", "count", type=click.IntRange(min=0), default=10, show_default=True)
@click.option("--follow", "-f", is_flag=True, help="Then print each new event as it is committed.")
@click.option(
    "--type", "type_prefix", default=None, help="Only types starting with this, e.g. 'tag.'."
)
@library_option
@json_option
@pass_ctx
def tail(
    ctx: CliContext, count: int, follow: bool, type_prefix: str | None, library: str | None
) -> None:
    """The last events; with --follow, new ones as they are committed, until Ctrl-C."""
    config = ctx.find(library)
    store = EventStore(config.paths.events, readonly=True)
    try:
        names = device_names(store)
        head = store.head_pos
        recent = [
            ev for ev in store.read(max(0, head - max(count * 20, 1000))) if _typed(ev, type_prefix)
        ]
        for ev in recent[len(recent) - count :] if count else []:
            _emit(ctx, ev, names)
        while follow:
            time.sleep(FOLLOW_EVERY_S)
            now = read_head(config.paths.events)
            if now <= head:
                continue
            store.refresh()
            for ev in store.read(head, until=now):
                if ev.type == "device.registered":
                    names[ev.device] = ev.body["name"]
                if _typed(ev, type_prefix):
                    _emit(ctx, ev, names)
            head = now
    except BrokenPipeError:
        pass  # the reader went away (| head): done, quietly
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a follow ends
    finally:
        store.close()


def _typed(ev: Event, prefix: str | None) -> bool:
    return not prefix or ev.type.startswith(prefix)


def _emit(ctx: CliContext, ev: Event, names: dict[bytes, str]) -> None:
    if ctx.out.as_json:
        ctx.out.json(event_json(ev))
    else:
        ctx.out.line(render.event_line(ev, names))
    ctx.out.flush()


@click.command("history")
@click.argument("path")
@library_option
@json_option
@pass_ctx
def history(ctx: CliContext, path: str, library: str | None) -> None:
    """The life of PATH across devices: every event that created, modified, moved,
    identified or deleted it (and what changed)."""
    wanted = user_path(path)
    store = open_log(ctx, library)
    try:
        names = device_names(store)
        moments = list(path_history(store, wanted))
    finally:
        store.close()
    if ctx.out.as_json:
        ctx.out.json(
            [
                {
                    "pos": m.event.pos,
                    "time": render.when(m.event),
                    "device": m.event.device.hex(),
                    "device_name": names.get(m.event.device),
                    "type": m.event.type,
                    **render.touch_json(m.touch),
                }
                for m in moments
            ]
        )
        return
    if not moments:
        ctx.out.line(f"{show_path(wanted)}: no event of this log ever touched it")
        return
    for m in moments:
        who = names.get(m.event.device) or m.event.device.hex()[:10]
        ctx.out.line(
            f"{m.event.pos:>8}  {render.when(m.event)}  {who:<12} {m.touch.what:<9} "
            f"{render.touch_text(m.touch)[2:]}"
        )


@click.command("explain")
@click.argument("pos", type=click.IntRange(min=1))
@library_option
@json_option
@pass_ctx
def explain(ctx: CliContext, pos: int, library: str | None) -> None:
    """The rows of each read model that the event at POS added, changed or removed."""
    from sdactors.replay.explain import as_json
    from sdactors.replay.explain import explain as explain_event

    store = open_log(ctx, library)
    try:
        if pos > store.head_pos:
            raise InvalidArgument(f"position {pos} is past the end of the log ({store.head_pos})")
        [ev] = list(store.read(pos - 1, until=pos))
        names = device_names(store)
        changes = explain_event(store, pos)
    finally:
        store.close()
    if ctx.out.as_json:
        ctx.out.json({"event": event_json(ev), "changes": [as_json(c, jsonable) for c in changes]})
        return
    ctx.out.line(render.event_line(ev, names))
    if not changes:
        ctx.out.line("  changed no row of any read model")
    for change in changes:
        ctx.out.line(
            f"  {change.projection}: {len(change.added)} added, {len(change.changed)} changed, "
            f"{len(change.removed)} removed"
        )
        for row in change.added[:20]:
            ctx.out.line(f"    + {_row(row)}")
        for before, after in change.changed[:20]:
            ctx.out.line(f"    ~ {_row(before)}  ->  {_row(after)}")
        for row in change.removed[:20]:
            ctx.out.line(f"    - {_row(row)}")


def _row(row: tuple) -> str:
    return ", ".join(_cell(v) for v in row)


def _cell(value: Any) -> str:
    """Ids (16 or 32 bytes) as short hex; other bytes (names, paths) as text."""
    if isinstance(value, bytes):
        return value.hex()[:16] if len(value) in (16, 32) else show_path(value)
    return str(value)
