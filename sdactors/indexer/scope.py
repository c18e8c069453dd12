"""Where a rescan of some folders starts, and which folders it must go through.

A watcher names the folders where something changed; rescanning only those compares each
with the index as a whole rescan would, and goes below it only where something is new or
changed, or on the way to another named folder. The rest of the location is not read.

Each named folder is found step by step from the root, through the index *and* the disk:
the rescan starts at the deepest folder both agree on (the same folder, same volume and
inode, in the same place, kept by the rules). A folder that no longer exists, was replaced,
or is not indexed yet (new, or moved there) is thereby reached from its nearest ancestor
both agree on, whose comparison finds it new, moved or gone exactly as a whole rescan would.

Folders are visited in the order a whole rescan visits them (breadth first, names sorted):
new entries then get the same eids, so both leave the same index, digest included.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NamedTuple, Sequence

from events.domain.entries import DIR
from projections.files.listings import Child
from projections.files.query import IndexedChild, IndexView
from sdactors.indexer.rules import FolderRules, Matcher
from sdactors.indexer.walk import Seen, stat_path
from sdactors.runtime.errors import NotInLocation

WalkOrder = tuple[int, tuple[bytes, ...]]


def walk_order(rel: bytes) -> WalkOrder:
    """Where a folder (by its path from the root) comes in a breadth-first walk whose
    folders' children are visited in name order: by depth, then component by component."""
    parts = tuple(rel.split(b"/")) if rel else ()
    return (len(parts), parts)


class Start(NamedTuple):
    """A folder the rescan compares without having come to it from its parent."""

    path: bytes
    rel: bytes
    eid: int
    # The rules in force in its parent (None at the root); its own come from its listing.
    parent_rules: FolderRules | None
    # Its record in its parent's listing and what the disk says of it now: a whole rescan
    # compares the two when it lists the parent, so this one does it instead. None at the
    # root, whose record the job always compares.
    record: IndexedChild | None
    seen: Seen | None


@dataclass(frozen=True, slots=True)
class Scope:
    # In walk order; none lies below another (those are reached on the way, through
    # ``wanted``).
    starts: tuple[Start, ...]
    # Every named folder and every folder between it and the root: the walk goes into
    # these even when nothing about them changed.
    wanted: frozenset[bytes]
    # The eids of every folder found for a name: entries that moved between two of them
    # are recognised by their inode.
    compared: tuple[int, ...]


def inside(path: bytes, root: bytes) -> bool:
    return path == root or path.startswith(root.rstrip(b"/") + b"/")


def plan(
    root: bytes, root_eid: int, folders: Sequence[bytes], view: IndexView, matcher: Matcher
) -> Scope:
    """The scope of a rescan of ``folders`` (absolute paths inside the location ``root``)."""
    named = []
    for folder in folders:
        path = os.path.normpath(folder)
        if not inside(path, root):
            raise NotInLocation(os.fsdecode(folder), os.fsdecode(root))
        named.append(path[len(root) :].strip(b"/"))
    finder = _Finder(root, root_eid, view, matcher)
    found = {start.rel: start for start in (finder.find(rel) for rel in named)}
    wanted: set[bytes] = set()
    for rel in named:
        parts = rel.split(b"/") if rel else []
        for depth in range(len(parts) + 1):
            wanted.add(os.path.join(root, *parts[:depth]) if depth else root)
    starts: list[Start] = []
    kept: set[bytes] = set()
    for rel in sorted(found, key=walk_order):
        parts = rel.split(b"/") if rel else []
        if any(b"/".join(parts[:depth]) in kept for depth in range(len(parts))):
            continue  # reached on the way from the start above it
        kept.add(rel)
        starts.append(found[rel])
    return Scope(tuple(starts), frozenset(wanted), tuple(s.eid for s in found.values()))


class _Finder:
    """Finds named folders through the index and the disk, sharing the steps they share."""

    def __init__(self, root: bytes, root_eid: int, view: IndexView, matcher: Matcher) -> None:
        self.root = root
        self.view = view
        self.matcher = matcher
        self._children: dict[int, dict[bytes, Child]] = {}
        self._rules: dict[bytes, FolderRules] = {b"": matcher.folder_on_disk(root, b"", None)}
        self._root = Start(root, b"", root_eid, None, None, None)

    def find(self, rel: bytes) -> Start:
        here = self._root
        for part in rel.split(b"/") if rel else ():
            rules = self._rules[here.rel]
            children = self._children.get(here.eid)
            if children is None:
                children = self._children[here.eid] = self.view.children(here.eid)
            known = children.get(part)
            if known is None or known.ftype != DIR or not rules.keep(part, True):
                break
            path = os.path.join(here.path, part)
            seen = stat_path(path)
            if (
                seen is None
                or seen.ftype != DIR
                or seen.inode != known.inode
                or seen.dev != known.dev
            ):
                break
            child_rel = os.path.join(here.rel, part) if here.rel else part
            here = Start(
                path, child_rel, known.eid, rules, self.view.as_child(known, here.eid), seen
            )
            if child_rel not in self._rules:
                self._rules[child_rel] = self.matcher.folder_on_disk(path, child_rel, rules)
        return here
