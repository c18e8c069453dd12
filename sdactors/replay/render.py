"""Events for people: names and paths as text, ids short, devices by name, batches summed
up (or, expanded, one line per entry).

``--json`` stays lossless elsewhere (bytes as hex); this is only what a terminal shows.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

from events.clock import hlc_ms
from events.envelope import Event
from events.keys import short_device
from sdactors.replay.tree import Touch
from sdactors.runtime.paths import show

# Body fields that hold a path or a name (bytes shown as text, escaped where not UTF-8).
_TEXT_FIELDS = {"path", "name", "mount_point", "target", "old", "new"}
# How many names a batch event's one-line summary shows.
SUMMARY_NAMES = 3
LINE_MOST = 200


def when(ev: Event) -> str:
    try:
        at = datetime.fromtimestamp(hlc_ms(ev.hlc) / 1000, timezone.utc)
    except (OverflowError, ValueError, OSError):
        return f"hlc {ev.hlc}"  # a foreign clock beyond any date: show it, do not fail on it
    return f"{at:%Y-%m-%d %H:%M:%S}"


def readable(value: Any, key: str = "") -> Any:
    """A body value as people read it: text for paths and names, short hex for ids."""
    if isinstance(value, bytes):
        if key in _TEXT_FIELDS:
            return show(value)
        return value.hex()[:16] if len(value) > 8 else value.hex()
    if isinstance(value, (list, tuple)):
        return [readable(v, key) for v in value]
    if isinstance(value, dict):
        return {str(k): readable(v, str(k)) for k, v in value.items()}
    return value


def _batch_summary(ev: Event) -> str | None:
    body = ev.body
    if not isinstance(body, dict):
        return None
    items = body.get("entries") or body.get("moves")
    if not isinstance(items, (list, tuple)) or not ev.type.startswith("entries."):
        return None
    if ev.type == "entries.indexed":
        names = [show(i[2]) for i in items[:SUMMARY_NAMES]]
    elif ev.type == "entries.moved":
        names = [show(i[3]) for i in items[:SUMMARY_NAMES]]
    else:  # modified, deleted: the items carry ids only (--expand gives their paths)
        names = [f"#{i[0]}" for i in items[:SUMMARY_NAMES]]
    more = f", ... (+{len(items) - SUMMARY_NAMES:,})" if len(items) > SUMMARY_NAMES else ""
    return f"{len(items):,} entries: {', '.join(names)}{more}"


def event_line(ev: Event, names: dict[bytes, str]) -> str:
    """One line: position, time, device (by name), its seq, type, the body for people."""
    who = names.get(ev.device) or short_device(ev.device)
    summary = _batch_summary(ev)
    if summary is None:
        summary = json.dumps(
            readable(ev.body), ensure_ascii=False, separators=(", ", ": "), default=repr
        )
    if len(summary) > LINE_MOST:
        summary = summary[: LINE_MOST - 3] + "..."
    return f"{ev.pos:>8}  {when(ev)}  {who}#{ev.seq:<6} {ev.type:<22} {summary}"


def touch_lines(touches: Iterable[Touch]) -> Iterator[str]:
    """The entries of an expanded batch event, one line each."""
    for t in touches:
        yield "          " + touch_text(t)


def touch_text(t: Touch) -> str:
    mark = {"created": "+", "modified": "~", "moved": ">", "deleted": "-"}[t.what]
    text = f"{mark} {show(t.path)}"
    if t.old_path is not None:
        text = f"{mark} {show(t.old_path)} -> {show(t.path)}"
    details = t.details or {}
    extra = [f"{k} {readable(v, k)}" for k, v in details.items() if v is not None and k != "type"]
    if details.get("type") == "d":
        text += "/"
    return text + (f"  ({', '.join(extra)})" if extra else "")


def touch_json(t: Touch) -> dict[str, Any]:
    return {
        "what": t.what,
        "path": show(t.path),
        "old_path": show(t.old_path) if t.old_path is not None else None,
        "eid": t.eid,
        "details": {
            k: (v.hex() if isinstance(v, bytes) else v) for k, v in (t.details or {}).items()
        },
    }
