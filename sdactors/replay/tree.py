"""The paths of entries as the log goes: a light replay of locations and entries events.

Entries events name an entry by ``eid`` and its folder by ``parent``; only a replay knows
the path an entry had at a given position. This keeps, per location (its device and id),
each entry's parent and name, and turns each entries event into *touches*: what happened to
which path (created, modified, moved from one path to another, deleted), with the details
people ask about (size, content id, kind). Deleting a folder deletes its subtree, as the
fold does.

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
    children: dict[int, set[int]] = field(default_factory=dict)
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
        self.children.setdefault(parent, set()).add(eid)

    def drop(self, eid: int) -> list[int]:
        """Forget ``eid`` and its subtree; the eids forgotten."""
        gone, stack = [], [eid]
        while stack:
            one = stack.pop()
            gone.append(one)
            stack.extend(self.children.pop(one, ()))
            parent = self.parent.pop(one, None)
            self.name.pop(one, None)
            if parent is not None and one == eid:
                self.children.get(parent, set()).discard(one)
        self.paths.clear()
        return gone


class Replay:
    """Feed it events in log order; ``apply`` says what each did to which paths."""

    def __init__(self) -> None:
        self._locations: dict[Key, _Location] = {}

    def roots(self) -> dict[Key, bytes]:
        return {key: loc.root for key, loc in self._locations.items()}

    def resolve(self, key: Key, path: bytes) -> int | None:
        """The eid at ``path`` in that location now, if any."""
        loc = self._locations.get(key)
        if loc is None or not (path == loc.root or path.startswith(loc.root.rstrip(b"/") + b"/")):
            return None
        folder = next((e for e in loc.children.get(0, ())), None)
        if folder is None:
            return None
        rest = path[len(loc.root.rstrip(b"/")) :].strip(b"/")
        for part in rest.split(b"/") if rest else ():
            folder = next(
                (c for c in loc.children.get(folder, ()) if loc.name.get(c) == part), None
            )
            if folder is None:
                return None
        return folder

    def apply(self, ev: Event) -> Iterator[Touch]:
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
            for eid, parent, name, ftype, size, _mtime, _inode, kind_, cid, _target in body[
                "entries"
            ]:
                loc.add(eid, parent, name)
                details = {"type": ftype, "size": size, "kind": kind_, "content_id": cid}
                yield Touch("created", key, eid, loc.path(eid), None, details)
        elif kind == "entries.modified":
            for eid, _parent, size, _mtime, _inode, kind_, cid in body["entries"]:
                if eid in loc.parent:
                    details = {"size": size, "kind": kind_, "content_id": cid}
                    yield Touch("modified", key, eid, loc.path(eid), None, details)
        elif kind == "entries.moved":
            moved = []
            for eid, _old_parent, parent, name in body["moves"]:
                if eid not in loc.parent:
                    continue
                old = loc.path(eid)
                loc.children.get(loc.parent[eid], set()).discard(eid)
                loc.add(eid, parent, name)
                moved.append((eid, old))
            loc.paths.clear()
            for eid, old in moved:
                yield Touch("moved", key, eid, loc.path(eid), old, None)
        elif kind == "entries.deleted":
            gone = []
            for eid, _parent in body["entries"]:
                if eid in loc.parent:
                    gone.extend(self._subtree(loc, eid))
                    loc.drop(eid)
            for eid, path in gone:
                yield Touch("deleted", key, eid, path, None, None)

    @staticmethod
    def _subtree(loc: _Location, eid: int) -> list[tuple[int, bytes]]:
        """``eid`` and everything below it, with their paths (a folder's deletion is its
        subtree's too)."""
        out, stack = [], [eid]
        while stack:
            one = stack.pop()
            out.append((one, loc.path(one)))
            stack.extend(loc.children.get(one, ()))
        return out

    def paths_of(self, followed: set[tuple[Key, int]]) -> dict[tuple[Key, int], bytes]:
        """The current path of each followed entry that exists."""
        out = {}
        for key, eid in followed:
            loc = self._locations.get(key)
            if loc is not None and eid in loc.parent:
                out[(key, eid)] = loc.path(eid)
        return out


def under(path: bytes, top: bytes) -> bool:
    """``path`` is ``top`` or inside it."""
    return path == top or path.startswith(top.rstrip(b"/") + b"/")
