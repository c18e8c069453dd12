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
    """Every entry that was at ``path`` at some position.

    Looking a path up needs only the entries named like one of its components, so only those
    are kept: (location, parent, name) -> eid. An entry comes to the path by being created
    there or by a move (its own, or a folder's above it) to such a name; the path is looked
    up again after those events only."""
    parts = set(path.split(b"/"))
    roots: dict[Key, bytes] = {}
    tops: dict[Key, int] = {}
    index: dict[tuple[Key, int, bytes], int] = {}
    where: dict[tuple[Key, int], tuple[int, bytes]] = {}
    found: set[tuple[Key, int]] = set()

    def look_up() -> None:
        for key, root in roots.items():
            if not under(path, root) or key not in tops:
                continue
            eid: int | None = tops[key]
            rest = path[len(root.rstrip(b"/")) :].strip(b"/")
            for part in rest.split(b"/") if rest else ():
                eid = index.get((key, eid, part))  # type: ignore[arg-type]
                if eid is None:
                    break
            if eid is not None:
                found.add((key, eid))

    def forget(key: Key, eid: int) -> None:
        held = where.pop((key, eid), None)
        if held is not None and index.get((key, *held)) == eid:
            del index[(key, *held)]

    for ev in store.read():
        kind, body = ev.type, ev.body
        if kind == "location.added":
            roots[(ev.device, body["location"])] = body["path"]
            continue
        if kind == "location.removed":
            roots.pop((ev.device, body["location"]), None)
            continue
        if not kind.startswith("entries."):
            continue
        key = (ev.device, body["location"])
        if kind == "entries.indexed":
            named = [item for item in body["entries"] if item[2] in parts or item[1] == 0]
            for eid, parent, name, *_rest in named:
                if parent == 0:
                    tops[key] = eid
                index[(key, parent, name)] = eid
                where[(key, eid)] = (parent, name)
        elif kind == "entries.moved":
            named = []
            for eid, _old, parent, name in body["moves"]:
                forget(key, eid)
                if name in parts:
                    named.append(name)
                    index[(key, parent, name)] = eid
                    where[(key, eid)] = (parent, name)
        elif kind == "entries.deleted":
            for eid, _parent in body["entries"]:
                forget(key, eid)
            continue
        else:
            continue
        if named:
            look_up()
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
        for touch in replay.apply(ev, only=followed):
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
            root = replay.root((ev.device, ev.body["location"]))
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
