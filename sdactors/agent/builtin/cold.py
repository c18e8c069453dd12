"""The cold data agent: large files nobody changed for months, on a fast volume, moved to a
slower volume of this device that has room, where they keep their path.

The rules, and why each:

- **Cold** is large and old: at least ``min_size`` bytes (100 MB: below that, the space won
  is not worth a person's decision) and not modified for ``months`` months (6), by the
  node's clock (``view.now()``: tests set it). Only this device's files within the grant.
- **Fast and slow come from the volumes' speed tests** (``sd volume speedtest``,
  ``projections/volumes.py``: a volume's speed is the slower of its read and write). A file
  is a candidate only when its own volume was measured and a measured volume is slower: a
  volume never measured is neither fast nor slow, so nothing is moved on a guess.
- **Where to**: the slowest measured volume (the coldest tier) that is mounted, writable,
  holds an online location of this device inside the grant, and keeps room after the move:
  its free space when last observed, less a reserve of ``RESERVE`` of its size (a disk
  filled to the brim is a failure waiting), less what this look already sends there. No
  such volume, no proposal.
- **Keeping the path**: the file goes to the same path, relative to its location, under the
  target's place (the target location's top when the grant covers it all, else the
  shallowest granted folder in it). ``file.move`` does not make folders, so where the
  folder of that path does not exist on the target yet, the file goes into the deepest one
  that does (the item says so); a file already at the destination, or named there by an
  older file of this look, is left alone.
- **One file is not two**: a file with several paths (hard links, a bind mount) is never
  moved: moving one path moves nothing off the fast volume.
- **One proposal per source folder**: files of one folder usually grow cold together, and a
  proposal that stays the same while other folders change keeps its id (and what people
  decided about it).

Each look is a sweep of everything in its grant, whatever events woke it: what it proposes
depends on the index alone, so the same index gives the same proposals (and ids).

Settings (``[agents.cold]``): ``min_size`` (bytes), ``months``.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from typing import Sequence

from events.domain.agents import ITEMS_MAX
from events.envelope import Event
from projections.files.query import FileAt, LocationRow, device_files, folder_children, resolve
from projections.volumes import VolumeRow
from sdactors.agent import lines
from sdactors.agent.builtin.places import Where, rate
from sdactors.agent.protocol import AgentView, Item, Proposal
from sdactors.runtime.paths import show
from sdactors.runtime.units import human_bytes

MB = 1000 * 1000
DEFAULT_MIN_SIZE = 100 * MB
DEFAULT_MONTHS = 6
MONTH_S = 365.25 / 12 * 86400
# The part of a target volume kept free after the moves.
RESERVE = 0.10


@dataclass(frozen=True, slots=True)
class Target:
    """A place on a slower volume that may take cold files."""

    volume: VolumeRow
    speed: float
    location: LocationRow
    # The granted folder files go under (the location's top, or a folder in it).
    root: bytes


class Cold:
    name = "cold"
    summary = (
        "large files unchanged for months on a fast volume: move them to a slower one with room"
    )
    follows = ("entries.", "location.", "volume.")
    reads = ("files", "volumes")

    def propose(self, view: AgentView, events: Sequence[Event]) -> list[Proposal]:
        settings = view.settings()
        min_size = max(int(settings.get("min_size", DEFAULT_MIN_SIZE)), 1)
        months = float(settings.get("months", DEFAULT_MONTHS))
        before_ns = int((view.now() - months * MONTH_S) * 1e9)
        with view.index() as db:
            where = Where(db, view.device)
            landing = Landing(db, view.device)
            targets = _targets(view, where, landing)
            if not targets:
                return []
            found = list(device_files(db, view.device, min_size))
            paths_of_file: dict[tuple[int, int], int] = {}
            for f in found:
                key = (f.child.dev, f.child.inode)
                paths_of_file[key] = paths_of_file.get(key, 0) + 1
            cold = sorted(
                (
                    f
                    for f in found
                    if f.child.mtime_ns < before_ns
                    and paths_of_file[(f.child.dev, f.child.inode)] == 1
                    and view.granted(f.path)
                ),
                key=lambda f: (f.child.mtime_ns, f.path),
            )
            sent: dict[str, int] = {}
            by_folder: dict[bytes, list[Item]] = {}
            moved: dict[bytes, int] = {}
            for f in cold:
                folder = os.path.dirname(f.path)
                if len(by_folder.get(folder, ())) >= ITEMS_MAX:
                    continue  # a proposal's worth: the rest in a later look
                item = _move(view, where, targets, sent, landing, f)
                if item is not None:
                    by_folder.setdefault(folder, []).append(item)
                    moved[folder] = moved.get(folder, 0) + f.child.size
        out = []
        for folder in sorted(by_folder):
            items = by_folder[folder]
            files = "file" if len(items) == 1 else "files"
            title = (
                f"move {len(items)} cold {files} ({human_bytes(moved[folder])}) "
                f"from {show(folder)} to a slower volume"
            )
            out.append(Proposal(self.name, lines.title(title), tuple(items)))
        return out


def _targets(view: AgentView, where: Where, landing: Landing) -> list[Target]:
    """Places of this device that may take cold files, the slowest volume first."""
    out = []
    for loc in where.locations:
        row = where.volumes.get(loc.volume) if loc.volume is not None else None
        if (
            row is None
            or row.speed is None
            or not row.mounted
            or row.read_only
            or row.free_bytes is None
            or loc.offline is not None
        ):
            continue
        root = _granted_root(view, loc)
        if root is not None and landing.names(root) is not None:
            out.append(Target(row, row.speed, loc, root))
    out.sort(key=lambda t: (t.speed, -(t.volume.free_bytes or 0), t.volume.volume, t.root))
    return out


def _granted_root(view: AgentView, loc: LocationRow) -> bytes | None:
    """The shallowest granted folder in the location (its top, when the grant covers it)."""
    top = loc.path.rstrip(b"/")
    inside = [f for f in view.granted_folders() if f == loc.path or f.startswith(top + b"/")]
    return min(inside, key=lambda f: (f.count(b"/"), f)) if inside else None


def _room(target: Target, sent: dict[str, int]) -> int:
    volume = target.volume
    reserve = int((volume.total_bytes or 0) * RESERVE)
    return (volume.free_bytes or 0) - reserve - sent.get(volume.volume, 0)


class Landing:
    """Where files may land on the targets, as the index has it: each folder looked up once
    per look (a look may send thousands of files into a few folders)."""

    def __init__(self, db: sqlite3.Connection, device: bytes) -> None:
        self.db = db
        self.device = device
        self._names: dict[bytes, frozenset[bytes] | None] = {}
        # Destinations this look already names: two files of one name may fall back to
        # one folder.
        self.taken: set[bytes] = set()

    def names(self, folder: bytes) -> frozenset[bytes] | None:
        """The names in ``folder``, None if the index holds no folder there."""
        if folder not in self._names:
            found = resolve(self.db, folder, self.device)
            named = found.named_folder if found is not None else None
            self._names[folder] = (
                None
                if named is None
                else frozenset(c.name for c in folder_children(self.db, named))
            )
        return self._names[folder]

    def folder(self, root: bytes, folder: bytes) -> bytes:
        """``folder`` if the index holds it, else its deepest ancestor it holds, ``root`` at
        the least (a granted folder the index has)."""
        while folder != root and len(folder) > len(root):
            if self.names(folder) is not None:
                return folder
            folder = os.path.dirname(folder)
        return root

    def free(self, destination: bytes) -> bool:
        folder, name = os.path.split(destination)
        names = self.names(folder)
        return destination not in self.taken and (names is None or name not in names)


def _move(
    view: AgentView,
    where: Where,
    targets: list[Target],
    sent: dict[str, int],
    landing: Landing,
    f: FileAt,
) -> Item | None:
    """The move of ``f`` to the first target that takes it, None if none does. ``sent``:
    bytes this look already sends to each volume."""
    place = where.place(f.path)
    if place is None or place.speed is None:
        return None
    for target in targets:
        if target.speed >= place.speed or target.location.volume == place.location.volume:
            continue
        if _room(target, sent) < f.child.size:
            continue
        wanted = os.path.dirname(os.path.join(target.root, place.rel))
        folder = landing.folder(target.root, wanted)
        destination = os.path.join(folder, os.path.basename(f.path))
        if not landing.free(destination):
            continue
        landing.taken.add(destination)
        sent[target.volume.volume] = sent.get(target.volume.volume, 0) + f.child.size
        age = (view.now() - f.child.mtime_ns / 1e9) / MONTH_S
        note = "" if folder == wanted else f" ({show(wanted)} does not exist yet)"
        reason = (
            f"{human_bytes(f.child.size)}, unchanged for {age:.0f} months, on a volume at "
            f"{rate(place.speed)}: to {show(destination)} at {rate(target.speed)}{note}"
        )
        return Item(
            lines.reason(reason),
            "file.move",
            {"source": f.path, "destination": destination},
        )
    return None
