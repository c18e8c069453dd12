"""The life of one path across devices, and the events that touch a path or what is under it.

Both replay the whole log (``tree.Replay``): an entry's path at a position is only known by
following its folder's moves. ``history`` goes twice: first to learn which entries were ever
at the path (created there, moved there, or under a folder that moved there), then to
collect every event that touched those entries, with the path each had at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from events.envelope import Event
from events.store import EventStore
from sdactors.replay.tree import Key, Replay, Touch, under


@dataclass(frozen=True, slots=True)
class Moment:
    """One event in the life of a path."""

    event: Event
    touch: Touch


def _relevant(ev: Event) -> bool:
    return ev.type.startswith(("entries.", "location.added", "location.removed"))


def _entries_ever_at(store: EventStore, path: bytes) -> set[tuple[Key, int]]:
    replay = Replay()
    found: set[tuple[Key, int]] = set()
    for ev in store.read():
        if not _relevant(ev):
            continue
        for touch in replay.apply(ev):
            if touch.path == path or touch.old_path == path:
                found.add((touch.location, touch.eid))
        if ev.type == "entries.moved":
            # A folder above it moved: the path may name another entry from now on.
            for key in replay.roots():
                eid = replay.resolve(key, path)
                if eid is not None:
                    found.add((key, eid))
    return found


def history(store: EventStore, path: bytes) -> Iterator[Moment]:
    """Every event that created, modified, moved, identified or deleted what is or was at
    ``path``, in log order, across devices."""
    followed = _entries_ever_at(store, path)
    if not followed:
        return
    replay = Replay()
    for ev in store.read():
        if not _relevant(ev):
            continue
        before = replay.paths_of(followed) if ev.type == "entries.moved" else {}
        touched = set()
        for touch in replay.apply(ev):
            if (touch.location, touch.eid) in followed:
                touched.add((touch.location, touch.eid))
                yield Moment(ev, touch)
        for (key, eid), old in before.items():
            # Moved along with a folder above it: no item of its own in the event.
            new = replay.paths_of({(key, eid)}).get((key, eid))
            if (key, eid) not in touched and new is not None and new != old:
                yield Moment(ev, Touch("moved", key, eid, new, old, None))


def touching(store: EventStore, top: bytes, since: int = 0) -> Iterator[tuple[Event, list[Touch]]]:
    """Events after ``since`` that touch ``top`` or anything under it, each with those
    touches (a location added or removed there counts, with no touches)."""
    replay = Replay()
    for ev in store.read():
        if ev.type in ("location.added", "location.removed"):
            root = replay.roots().get((ev.device, ev.body["location"]))
            list(replay.apply(ev))
            root = root if root is not None else ev.body.get("path", b"")
            if ev.pos > since and (under(root, top) or under(top, root)):
                yield ev, []
            continue
        if not ev.type.startswith("entries."):
            continue
        hits = [
            t
            for t in replay.apply(ev)
            if under(t.path, top) or (t.old_path is not None and under(t.old_path, top))
        ]
        if hits and ev.pos > since:
            yield ev, hits
