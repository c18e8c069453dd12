"""The life of one path across devices, and the events that touch a path or what is under it.

``history`` reads the history read model (``projections.history``: each entry's rows, keyed
by its location's life and the event's seq), never the log's events. First the entries ever
at the path: looked up from the location's root down, one name at a time, each step kept
only where the folder above was there at the same time (an entry is at a path from the event
that puts it there until the one that takes it away, and only while every folder above it
is at its own place). Then the rows of those entries and of every folder they were ever
under are replayed as events (``tree.Replay``, as a replay of the whole log would see them),
which says what happened to each followed entry with the path it had then, moves of a folder
above included. ``touching`` (``sd log show --path``) still replays the whole log.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Iterable, Iterator

from events.envelope import Event
from events.store import EventStore
from projections.history import CREATED, DELETED, MODIFIED, MOVED, TYPES, unpack
from sdactors.replay.tree import Key, Replay, Touch, under

# After every position: an entry not taken away is still there.
FOREVER = 1 << 62


@dataclass(frozen=True, slots=True)
class Moment:
    """One event in the life of a path."""

    event: Event
    touch: Touch


@dataclass(frozen=True, slots=True)
class _Life:
    life: int
    device: bytes
    location: bytes
    root: bytes
    added: int
    removed: int | None


Row = tuple  # (seq, i, what, parent, name, ftype, size, kind, cid, old_parent)
_COLUMNS = "seq, i, what, parent, name, ftype, size, kind, cid, old_parent"


class _Rows:
    """The rows of one life's entries, each entry's read once."""

    def __init__(self, db: sqlite3.Connection, life: int) -> None:
        self.db = db
        self.life = life
        self._of: dict[int, list[Row]] = {}

    def of(self, eid: int, created_in: int | None = None) -> list[Row]:
        """Every row of ``eid`` in log order. A file's creation is packed with its folder's
        (``created_in``, or the folder its first move left)."""
        rows = self._of.get(eid)
        if rows is not None:
            return rows
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM history_items WHERE life = ? AND eid = ? ORDER BY seq, i",
            (self.life, eid),
        ).fetchall()
        if not any(row[2] == CREATED for row in rows):
            moved = next((row for row in rows if row[2] == MOVED), None)
            folder = moved[9] if moved is not None else created_in
            if folder is not None:
                rows.extend(row for found, row in self.files_in(folder) if found == eid)
                rows.sort(key=lambda row: (row[0], row[1]))
        self._of[eid] = rows
        return rows

    def files_in(self, parent: int, name: bytes | None = None) -> Iterator[tuple[int, Row]]:
        """``(eid, row)`` of the files created in ``parent`` (named ``name``)."""
        for seq, items in self.db.execute(
            "SELECT seq, items FROM history_files WHERE life = ? AND parent = ?",
            (self.life, parent),
        ):
            for i, eid, named, ftype, size, kind, cid in unpack(items):
                if name is None or named == name:
                    yield eid, (seq, i, CREATED, parent, named, ftype, size, kind, cid, None)

    def named(self, parent: int, name: bytes | None) -> list[tuple[int, int | None]]:
        """``(eid, the folder it was created in if that is known)`` of what was ever in
        ``parent`` named ``name`` (the root: anything in 0)."""
        if name is None:
            rows = self.db.execute(
                "SELECT DISTINCT eid FROM history_items WHERE life = ? AND parent = 0 "
                "AND name IS NOT NULL",
                (self.life,),
            )
        else:
            rows = self.db.execute(
                "SELECT DISTINCT eid FROM history_items WHERE life = ? AND parent = ? AND name = ?",
                (self.life, parent, name),
            )
        found: list[tuple[int, int | None]] = [(eid, None) for (eid,) in rows]
        if name is not None:
            found.extend((eid, parent) for eid, _row in self.files_in(parent, name))
        return found

    def spans(
        self, eid: int, parent: int, name: bytes | None, created_in: int | None
    ) -> list[tuple[int, int]]:
        """The seq spans ``[from, to)`` during which ``eid`` was in ``parent`` named
        ``name`` (any name for the root)."""
        placed = [row for row in self.of(eid, created_in) if row[2] != MODIFIED]
        spans = []
        for n, (seq, _i, what, at, named, *_rest) in enumerate(placed):
            if what != DELETED and at == parent and (name is None or named == name):
                spans.append((seq, placed[n + 1][0] if n + 1 < len(placed) else FOREVER))
        return spans

    def with_folders(self, eids: set[int]) -> set[int]:
        """``eids`` and every folder any of them was ever under, up to the root."""
        seen = set(eids)
        todo = list(eids)
        while todo:
            for row in self.of(todo.pop()):
                parent = row[3]
                if row[4] is not None and parent and parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
        return seen


def _entries_ever_at(
    db: sqlite3.Connection, lives: list[_Life], path: bytes
) -> tuple[set[tuple[Key, int]], dict[int, _Rows]]:
    """Every entry that was at ``path`` after some event: its own span at the last name
    overlapping those of the folders above it at theirs."""
    found: set[tuple[Key, int]] = set()
    read: dict[int, _Rows] = {}
    for life in lives:
        if not under(path, life.root):
            continue
        rows = read[life.life] = _Rows(db, life.life)
        rest = path[len(life.root.rstrip(b"/")) :].strip(b"/")
        lived = (life.added, life.removed if life.removed is not None else FOREVER)
        # (eid, span) at each step, from the root (the entry whose folder is 0) down.
        level = [(0, lived)]
        for part in [None, *(rest.split(b"/") if rest else ())]:
            below = []
            for parent, (lo, hi) in level:
                for eid, created_in in rows.named(parent, part):
                    for start, end in rows.spans(eid, parent, part, created_in):
                        span = (max(lo, start), min(hi, end))
                        if span[0] < span[1]:
                            below.append((eid, span))
            level = below
        found.update(((life.device, life.location), eid) for eid, _span in level)
    return found, read


def _events(
    store: EventStore,
    lives: list[_Life],
    followed: set[tuple[Key, int]],
    read: dict[int, _Rows],
) -> list[Event]:
    """The events of the followed entries' lives as a replay sees them, holding only the
    items of those entries and of the folders they were ever under, in log order."""
    events: list[Event] = []
    for life in lives:
        eids = {eid for key, eid in followed if key == (life.device, life.location)}
        if eids:
            events.extend(_life_events(store, life, read[life.life], eids))
    return sorted(events, key=lambda ev: ev.pos)


def _life_events(store: EventStore, life: _Life, rows: _Rows, eids: set[int]) -> list[Event]:
    items: dict[int, list[tuple[int, int, tuple]]] = {}
    for eid in rows.with_folders(eids):
        for seq, i, what, *fields, _old_parent in rows.of(eid):
            items.setdefault(seq, []).append((i, what, _item(eid, what, *fields)))
    stamps = dict(
        rows.db.execute("SELECT seq, hlc FROM history_events WHERE life = ?", (life.life,))
    )
    ends = [life.added] if life.removed is None else [life.added, life.removed]
    at = _positions(store, life.device, [*ends, *items])

    def event(seq: int, kind: str, body: dict) -> Event:
        hlc = stamps.get(seq, 0)
        return Event(life.device, seq, hlc, kind, 2, body, b"", b"", b"", None, at[seq])

    events = [event(life.added, "location.added", {"location": life.location, "path": life.root})]
    for seq, held in items.items():
        held.sort()
        what = held[0][1]
        field = "moves" if what == MOVED else "entries"
        events.append(
            event(seq, TYPES[what], {"location": life.location, field: [it for *_, it in held]})
        )
    if life.removed is not None:
        events.append(event(life.removed, "location.removed", {"location": life.location}))
    return events


def _item(
    eid: int,
    what: int,
    parent: int,
    name: bytes | None,
    ftype: str | None,
    size: int | None,
    kind: str | None,
    cid: bytes | None,
) -> tuple:
    """An item laid out as its event holds it (what a replay reads of it)."""
    if what == CREATED:
        return (eid, parent, name, ftype, size, None, None, kind, cid)
    if what == MODIFIED:
        return (eid, parent, size, None, None, kind, cid)
    if what == MOVED:
        return (eid, None, parent, name)
    return (eid, parent)


def _positions(store: EventStore, device: bytes, seqs: Iterable[int]) -> dict[int, int]:
    """Where each of ``device``'s events ``seqs`` is in this log (its segments, nothing
    decoded)."""
    found = {}
    for seq in set(seqs):
        pos = store.first_pos_after(device, seq - 1)
        found[seq] = pos if pos is not None else 0
    return found


def _lives(db: sqlite3.Connection) -> list[_Life]:
    return [
        _Life(*row)
        for row in db.execute(
            "SELECT life, device, location, root, added, removed FROM history_lives ORDER BY life"
        )
    ]


def history(db: sqlite3.Connection, store: EventStore, path: bytes) -> Iterator[Moment]:
    """Every event that created, modified, moved, identified or deleted what is or was at
    ``path``, in log order, across devices: from the history read model in ``db``, with
    each event's position in ``store``."""
    lives = _lives(db)
    followed, read = _entries_ever_at(db, lives, path)
    if not followed:
        return
    replay = Replay()
    for ev in _events(store, lives, followed, read):
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
