"""Reading a library's log as people debug it: ``show`` (filtered), ``tail`` (and follow),
``history`` of a path, ``explain`` of one event, ``bisect`` over the read models, ``diff`` of
two copies, and the position ``--at`` names.

Each reads the log file read-only (a read-only connection sees every commit: no lock, no
actor), so a node and the CLI's own process answer alike. Events come in the ``form`` asked
for: ``json``, lossless (bytes as hex: what ``--json`` prints), or ``text``, lines for people
(``sdactors.replay.render``: names and paths as text, devices by name, batches summed up),
made where the event's bytes are.

``show`` and ``tail`` stream: what they print goes out as progress frames of ``items``, a
batch at a time, as it is read; a follow ends when its client goes away (Ctrl-C). With no
change for a while, a follow still sends an empty frame, so that a node finds out its client
is gone and lets go of the follow.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Annotated, Any, Iterator

from events.clock import hlc_ms
from events.envelope import Event
from events.keys import short_device
from events.shapes import Bool, Int, Maybe, OneOf, Record, Text
from events.store import EventStore, read_head
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.results import (
    COUNT,
    HEX,
    INT,
    LINES,
    MAYBE_TEXT,
    PLAIN,
    TEXT,
    Either,
    many,
    record,
    record_with,
)
from sdactors.ops.shapes import LIBRARY, PATH
from sdactors.replay import render
from sdactors.runtime.errors import InvalidArgument
from sdactors.runtime.paths import show as show_path
from sdactors.runtime.plain import jsonable

FORM = OneOf(("json", "text"))
# A bound of ``show``: after a position (``pos``), or from a time (``ms`` since the epoch).
BOUND = Maybe(Record((("kind", OneOf(("pos", "ms"))), ("value", Int()))))
TYPE_PREFIX = Maybe(Text(0, 4096))
# Text as the user typed it: whatever it is, the command's own check says what is wrong.
TYPED = Text(0, 4096)

# How often a follow looks for new commits (a read of the log's head: two small queries).
FOLLOW_EVERY_S = 0.02
# How long a follow with nothing new waits before it sends an empty frame (its client may
# have gone).
FOLLOW_ALIVE_S = 1.0
# Items per progress frame of a long show.
FRAME_ITEMS = 100

TOUCH = record(what=TEXT, path=TEXT, old_path=MAYBE_TEXT, eid=INT, details=PLAIN)
EVENT = record_with(
    {"touches": many(TOUCH)},
    pos=COUNT,
    id=HEX,
    device=HEX,
    seq=COUNT,
    hlc=COUNT,
    type=TEXT,
    v=INT,
    body=PLAIN,
)
# A frame of a streaming command: events (``json``) or lines (``text``, ``raw``).
ITEMS = record(items=many(Either((EVENT, TEXT))))
STREAMED = record(events=COUNT)


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


def open_log(ctx: OpContext, library: str | None) -> EventStore:
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


class _Frames:
    """What a streaming command prints, sent as progress frames of up to FRAME_ITEMS."""

    def __init__(self, ctx: OpContext) -> None:
        self._ctx = ctx
        self._items: list[Any] = []

    def add(self, item: Any) -> None:
        self._items.append(item)
        if len(self._items) >= FRAME_ITEMS:
            self.flush()

    def flush(self, alive: bool = False) -> None:
        """Send what is waiting (with ``alive``, an empty frame when nothing is)."""
        if self._items or alive:
            items, self._items = self._items, []
            self._ctx.progress({"items": items})


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


def _chosen(
    store: EventStore, start: int, path: bytes | None, expand: bool
) -> Iterator[tuple[Event, list]]:
    """Events from ``start`` on, each with what it did to paths when that is asked for (a
    path filter or --expand: both need the log replayed from its beginning)."""
    if path is not None:
        from sdactors.replay.history import touching

        yield from touching(store, path, start)
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


def _raw_line(ev: Event) -> str:
    body = json.dumps(jsonable(ev.body), ensure_ascii=False)
    if len(body) > 160:
        body = body[:157] + "..."
    return f"{ev.pos:>8}  {render.when(ev)}  {short_device(ev.device)}#{ev.seq:<6} {ev.type:<22} {body}"


@op("log.show")
@dataclass(frozen=True)
class LogShow(Op):
    """Events in log order, filtered by position or time, type, device and path; ``raw``
    is the ``text`` form with bodies as stored."""

    since: Annotated[tuple | None, BOUND] = None
    until: Annotated[tuple | None, BOUND] = None
    type_prefix: Annotated[str | None, TYPE_PREFIX] = None
    device: Annotated[str | None, Maybe(TYPED)] = None
    path: Annotated[bytes | None, Maybe(PATH)] = None
    expand: Annotated[bool, Bool()] = False
    form: Annotated[str, OneOf(("json", "text", "raw"))] = "json"
    limit: Annotated[int | None, Maybe(Int(1, 1 << 62))] = None
    library: Annotated[str | None, LIBRARY] = None

    result = STREAMED
    stream = ITEMS

    def run(self, ctx: OpContext) -> Any:
        since, until = self.since, self.until
        out = _Frames(ctx)
        shown = 0
        store = open_log(ctx, self.library)
        try:
            dev = resolve_device(store, self.device) if self.device else None
            names = device_names(store)
            start = since[1] if since is not None and since[0] == "pos" else 0
            for ev, touches in _chosen(store, start, self.path, self.expand):
                if self.limit is not None and shown >= self.limit:
                    break
                if not (_after(ev, since) and _before(ev, until)):
                    if until is not None and until[0] == "pos" and ev.pos > until[1]:
                        break
                    continue
                if (self.type_prefix and not ev.type.startswith(self.type_prefix)) or (
                    dev is not None and ev.device != dev
                ):
                    continue
                shown += 1
                self._items(out, ev, touches, names)
        finally:
            store.close()
        out.flush()
        return {"events": shown}

    def _items(self, out: _Frames, ev: Event, touches: list, names: dict[bytes, str]) -> None:
        if self.form == "json":
            record = event_json(ev)
            if self.expand or touches:
                record["touches"] = [render.touch_json(t) for t in touches]
            out.add(record)
        elif self.form == "raw":
            out.add(_raw_line(ev))
        else:
            out.add(render.event_line(ev, names))
            if self.expand or touches:
                for line in render.touch_lines(touches):
                    out.add(line)


def _typed(ev: Event, prefix: str | None) -> bool:
    return not prefix or ev.type.startswith(prefix)


@op("log.tail")
@dataclass(frozen=True)
class LogTail(Op):
    """The last ``count`` events; with ``follow``, then each new one as it is committed,
    until the client goes away."""

    count: Annotated[int, Int(0, 1 << 31)] = 10
    follow: Annotated[bool, Bool()] = False
    type_prefix: Annotated[str | None, TYPE_PREFIX] = None
    form: Annotated[str, FORM] = "json"
    library: Annotated[str | None, LIBRARY] = None

    result = STREAMED
    stream = ITEMS

    def run(self, ctx: OpContext) -> Any:
        events = ctx.find(self.library).paths.events
        out = _Frames(ctx)
        sent = 0
        store = EventStore(events, readonly=True)
        try:
            names = device_names(store)
            head = store.head_pos
            recent = [
                ev
                for ev in store.read(max(0, head - max(self.count * 20, 1000)))
                if _typed(ev, self.type_prefix)
            ]
            for ev in recent[max(0, len(recent) - self.count) :] if self.count else []:
                out.add(self._item(ev, names))
                sent += 1
            out.flush()
            quiet_since = time.monotonic()
            while self.follow:
                time.sleep(FOLLOW_EVERY_S)
                now = read_head(events)
                if now <= head:
                    if time.monotonic() - quiet_since >= FOLLOW_ALIVE_S:
                        out.flush(alive=True)
                        quiet_since = time.monotonic()
                    continue
                store.refresh()
                for ev in store.read(head, until=now):
                    if ev.type == "device.registered":
                        names[ev.device] = ev.body["name"]
                    if _typed(ev, self.type_prefix):
                        out.add(self._item(ev, names))
                        sent += 1
                out.flush()
                quiet_since = time.monotonic()
                head = now
        finally:
            store.close()
        return {"events": sent}

    def _item(self, ev: Event, names: dict[bytes, str]) -> Any:
        return event_json(ev) if self.form == "json" else render.event_line(ev, names)


MOMENT = record_with(
    {"device_name": MAYBE_TEXT},
    pos=COUNT,
    time=TEXT,
    device=HEX,
    type=TEXT,
    what=TEXT,
    path=TEXT,
    old_path=MAYBE_TEXT,
    eid=INT,
    details=PLAIN,
)


@op("log.history")
@dataclass(frozen=True)
class LogHistory(Op):
    """The life of a path across devices: every event that created, modified, moved,
    identified or deleted it (and what changed)."""

    path: Annotated[bytes, PATH]
    form: Annotated[str, FORM] = "json"
    library: Annotated[str | None, LIBRARY] = None

    result = Either((many(MOMENT), LINES))

    def run(self, ctx: OpContext) -> Any:
        from projections.devices import device_names as registered_names
        from sdactors.replay.history import history

        store = open_log(ctx, self.library)
        try:
            with ctx.read_library(self.library).index() as db:
                names = registered_names(db)
                moments = list(history(db, store, self.path))
        finally:
            store.close()
        if self.form == "json":
            return [
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
        if not moments:
            return [f"{show_path(self.path)}: no event of this log ever touched it"]
        lines = []
        for m in moments:
            who = names.get(m.event.device) or m.event.device.hex()[:10]
            lines.append(
                f"{m.event.pos:>8}  {render.when(m.event)}  {who:<12} {m.touch.what:<9} "
                f"{render.touch_text(m.touch)[2:]}"
            )
        return lines


CHANGE = record(
    projection=TEXT,
    added=many(PLAIN),
    removed=many(PLAIN),
    changed=many(record(before=PLAIN, after=PLAIN)),
)


@op("log.explain")
@dataclass(frozen=True)
class LogExplain(Op):
    """The rows of each read model that the event at ``pos`` added, changed or removed."""

    pos: Annotated[int, Int(1, 1 << 62)]
    form: Annotated[str, FORM] = "json"
    library: Annotated[str | None, LIBRARY] = None

    result = Either((record(event=EVENT, changes=many(CHANGE)), LINES))

    def run(self, ctx: OpContext) -> Any:
        from sdactors.replay.explain import as_json, explain

        store = open_log(ctx, self.library)
        try:
            if self.pos > store.head_pos:
                raise InvalidArgument(
                    f"position {self.pos} is past the end of the log ({store.head_pos})"
                )
            [ev] = list(store.read(self.pos - 1, until=self.pos))
            names = device_names(store)
            changes = explain(store, self.pos)
        finally:
            store.close()
        if self.form == "json":
            return {"event": event_json(ev), "changes": [as_json(c, jsonable) for c in changes]}
        lines = [render.event_line(ev, names)]
        if not changes:
            lines.append("  changed no row of any read model")
        for change in changes:
            lines.append(
                f"  {change.projection}: {len(change.added)} added, {len(change.changed)} "
                f"changed, {len(change.removed)} removed"
            )
            lines.extend(f"    + {_row(row)}" for row in change.added[:20])
            lines.extend(f"    ~ {_row(b)}  ->  {_row(a)}" for b, a in change.changed[:20])
            lines.extend(f"    - {_row(row)}" for row in change.removed[:20])
        return lines


def _row(row: tuple) -> str:
    return ", ".join(_cell(v) for v in row)


def _cell(value: Any) -> str:
    """Ids (16 or 32 bytes) as short hex; other bytes (names, paths) as text."""
    if isinstance(value, bytes):
        return value.hex()[:16] if len(value) in (16, 32) else show_path(value)
    return str(value)


@op("log.bisect")
@dataclass(frozen=True)
class LogBisect(Op):
    """The first log position at which ``sql`` (one read-only SELECT over the read models)
    returns a row, and its event; each probe folds the read models to a position, starting
    from the nearest snapshot."""

    sql: Annotated[str, Text(0, 100_000)]
    form: Annotated[str, FORM] = "json"
    library: Annotated[str | None, LIBRARY] = None

    result = Either((record(position=COUNT, probes=COUNT, event=EVENT), LINES))

    def run(self, ctx: OpContext) -> Any:
        from sdactors.replay.bisect import bisect
        from sdactors.replay.snapshots import SnapshotCache

        config = ctx.find(self.library)
        store = EventStore(config.paths.events, readonly=True)
        try:
            found = bisect(SnapshotCache(config), store, self.sql)
            event = next(store.read(found.position - 1, until=found.position))
            names = device_names(store)
        finally:
            store.close()
        if self.form == "json":
            return {"position": found.position, "probes": found.probes, "event": event_json(event)}
        return [
            f"first holds at position {found.position} ({found.probes} probes), after:",
            render.event_line(event, names),
        ]


RUN = record(count=COUNT, first=COUNT, last=COUNT)
DEVICE_DIFF = record(
    device=HEX,
    a_seq=COUNT,
    b_seq=COUNT,
    shared=COUNT,
    only_a=Maybe(RUN),
    only_b=Maybe(RUN),
    equivocation=Maybe(record(count=COUNT, first=COUNT, last=COUNT, a_id=HEX, b_id=HEX)),
)
SIDE = record(source=TEXT, events=COUNT)


@op("log.diff")
@dataclass(frozen=True)
class LogDiff(Op):
    """Two copies of one library's log compared device by device. ``a`` and ``b`` are each
    an export file, a log file or a data directory (absolute paths), or a library of this
    data directory by name or id; ``library`` picks the library in a data directory that
    holds several."""

    a: Annotated[str, TYPED]
    b: Annotated[str, TYPED]
    library: Annotated[str | None, LIBRARY] = None

    result = record(
        library=HEX,
        a=SIDE,
        b=SIDE,
        identical=Bool(),
        shared_agree=Bool(),
        first_disagreement=Maybe(record(device=HEX, seq=COUNT)),
        devices=many(DEVICE_DIFF),
    )

    def run(self, ctx: OpContext) -> Any:
        from sdactors.replay.diff import diff_logs, open_pair

        side_a, side_b = open_pair(self.a, self.b, ctx.data, self.library)
        try:
            return diff_logs(side_a, side_b).as_json()
        finally:
            side_a.close()
            side_b.close()


@op("log.moment")
@dataclass(frozen=True)
class LogMoment(Op):
    """The position ``at`` names (a position, or a time: the last event at or before it,
    UTC unless it carries an offset), and the time of its event: what ``--at`` reads."""

    at: Annotated[str, TYPED]
    library: Annotated[str | None, LIBRARY] = None

    result = record(position=COUNT, when=TEXT)

    def run(self, ctx: OpContext) -> Any:
        from sdactors.replay.moments import moment_at

        store = open_log(ctx, self.library)
        try:
            moment = moment_at(store, self.at)
        finally:
            store.close()
        return {"position": moment.position, "when": moment.when()}
