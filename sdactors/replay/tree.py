"""The paths of entries as the log goes: a light replay of locations and entries events.

Entries events name an entry by ``eid`` and its folder by ``parent``; only a replay knows
the path an entry had at a given position. This keeps, per location (its device and id),
each entry's parent and name, and turns each entries event into *touches*: what happened to
which path (created, modified, moved from one path to another, deleted), with the details
people ask about (size, content id, kind). Deleting a folder deletes its subtree, as the
fold does: what was below it can no longer be reached (and, when followed, is said to be
deleted with it).

Folders' paths are remembered until a move or deletion in their location, so a batch of a
thousand entries in one folder costs one walk up the tree, not a thousand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from events.envelope import Event

Key = tuple[bytes, bytes]  # (device, location id)


@dataclass(frozen=True, slots=True)
class Touch:
    """What one event did to one entry."""

    what: str  # created, modified, moved, deleted
    location: Key
    eid: int
    path: bytes
    old_path: bytes | None = None
    details: dict[str, Any] | None = None


@dataclass
class _Location:
    root: bytes
    parent: dict[int, int] = field(default_factory=dict)
    name: dict[int, bytes] = field(default_factory=dict)
    paths: dict[int, bytes] = field(default_factory=dict)

    def path(self, eid: int) -> bytes:
        found = self.paths.get(eid)
        if found is not None:
            return found
        parent = self.parent.get(eid)
        if parent is None or parent == 0:
            path = self.root
        else:
            path = self.path(parent) + b"/" + self.name.get(eid, b"?")
        self.paths[eid] = path
        return path

    def add(self, eid: int, parent: int, name: bytes) -> None:
        self.parent[eid] = parent
        self.name[eid] = name

    def unlink(self, eid: int) -> None:
        """Take ``eid`` from where it was (what is below it cannot be reached any more)."""
        self.parent.pop(eid, None)
        self.name.pop(eid, None)
        self.paths.clear()

    def alive(self, eid: int) -> bool:
        """Still reachable from the root: neither it nor a folder above it was deleted."""
        while eid:
            parent = self.parent.get(eid)
            if parent is None:
                return False
            eid = parent
        return True


class Replay:
    """Feed it events in log order; ``apply`` says what each did to which paths."""

    def __init__(self) -> None:
        self._locations: dict[Key, _Location] = {}

    def root(self, key: Key) -> bytes | None:
        """The folder of a location, while it is one."""
        loc = self._locations.get(key)
        return loc.root if loc is not None else None

    def apply(self, ev: Event, only: set[tuple[Key, int]] | None = None) -> Iterator[Touch]:
        """What ``ev`` did; with ``only``, just to those entries (the others are still
        followed, but no path is worked out for them)."""
        body = ev.body
        kind = ev.type
        if kind == "location.added":
            self._locations[(ev.device, body["location"])] = _Location(body["path"])
            return
        if kind == "location.removed":
            self._locations.pop((ev.device, body["location"]), None)
            return
        if not kind.startswith("entries."):
            return
        key = (ev.device, body["location"])
        loc = self._locations.get(key)
        if loc is None:
            return
        if kind == "entries.indexed":
            add = loc.add
            items = body["entries"]
            if only is not None:
                # Following a few entries: folders (their paths) and those entries only.
                wanted = {eid for k, eid in only if k == key}
                items = [i for i in items if i[3] == "d" or i[0] in wanted]
            else:
                wanted = None
            # Items of every version: version 2 added the volume, last.
            for eid, parent, name, ftype, size, _mtime, _inode, kind_, cid, *_ in items:
                add(eid, parent, name)
                if wanted is not None and eid not in wanted:
                    continue
                details = {"type": ftype, "size": size, "kind": kind_, "content_id": cid}
                yield Touch("created", key, eid, loc.path(eid), None, details)
        elif kind == "entries.modified":
            for eid, _parent, size, _mtime, _inode, kind_, cid, *_ in body["entries"]:
                if only is not None and (key, eid) not in only:
                    continue
                if eid in loc.parent:
                    details = {"size": size, "kind": kind_, "content_id": cid}
                    yield Touch("modified", key, eid, loc.path(eid), None, details)
        elif kind == "entries.moved":
            moved = []
            for eid, _old_parent, parent, name in body["moves"]:
                if eid not in loc.parent:
                    continue
                old = loc.path(eid)
                loc.unlink(eid)
                loc.add(eid, parent, name)
                moved.append((eid, old))
            loc.paths.clear()
            for eid, old in moved:
                if only is None or (key, eid) in only:
                    yield Touch("moved", key, eid, loc.path(eid), old, None)
        elif kind == "entries.deleted":
            gone = []
            deleted = set()
            for eid, _parent in body["entries"]:
                if eid in loc.parent:
                    if only is None or (key, eid) in only:
                        gone.append((eid, loc.path(eid)))
                    deleted.add(eid)
            # Followed entries below a deleted folder go with it.
            for fkey, feid in only or ():
                if fkey == key and feid not in deleted and feid in loc.parent:
                    up = loc.parent.get(feid)
                    while up:
                        if up in deleted:
                            gone.append((feid, loc.path(feid)))
                            break
                        up = loc.parent.get(up)
            for eid in deleted:
                loc.unlink(eid)
            for eid, path in gone:
                yield Touch("deleted", key, eid, path, None, None)

    def paths_of(self, followed: set[tuple[Key, int]]) -> dict[tuple[Key, int], bytes]:
        """The current path of each followed entry that exists."""
        out = {}
        for key, eid in followed:
            loc = self._locations.get(key)
            if loc is not None and loc.alive(eid):
                out[(key, eid)] = loc.path(eid)
        return out


def under(path: bytes, top: bytes) -> bool:
    """``path`` is ``top`` or inside it."""
    return path == top or path.startswith(top.rstrip(b"/") + b"/")
