"""The duplicates agent: of the copies of one content on this device, which one to keep and
which to move to the trash. It reads the groups ``sd duplicates`` shows
(``projections/files/query.py: duplicates``, limited to this device's files).

The rules, and why each:

- **One file is not two copies.** Paths of one file (hard links; a folder seen again through
  a bind mount: one volume, one inode) are never proposed for the trash: removing one path
  frees nothing, and to the person both paths are the file. Such a file still counts as a
  copy, and is always kept.
- **Never the last copy.** Of each content, the agent keeps at least one of this device's own
  files inside its grant, even when other devices or folders outside its grant hold the
  content too: those are not its to see, another device may leave the library or delete
  its copy before a proposal is accepted, and a copy it cannot see it cannot vouch for.
  Nor does a copy in an offline location count (an unplugged disk may never come back). So
  it proposes only where this device holds two copies or more, online, within its grant.
- **Which copy is kept** (``places.keep_order``): the one in an organised place (not in
  Downloads, Desktop, tmp...; not named like a copy, "report (1).pdf"; filed in a folder
  rather than loose at a location's top), then the one on the faster volume (the volumes'
  speed tests: the copy people open should be the quick one), then the deeper folder, then
  the first path, so every run and every device chooses alike and the proposal's id is
  stable.
- **To the trash, never deleted** (``file.remove`` with ``permanent`` false): a wrong choice
  is undone with ``sd trash restore``.
- **One proposal per content**, each item saying which copy is kept and why: each can be
  accepted or rejected alone, and a change to one group leaves the others' ids (and what
  people decided about them) as they were. A content with more extra copies than a proposal holds
  (``ITEMS_MAX``) has the first of them proposed, and the rest once those are gone.

Each look is a sweep of everything in its grant, whatever events woke it: what it proposes
depends on the index alone, so the same index gives the same proposals (and ids).

Setting (``[agents.duplicates]``): ``min_size``, the smallest file worth a proposal, in
bytes (1: every non-empty file).
"""

from __future__ import annotations

import os
from typing import Sequence

from events.domain.agents import ITEMS_MAX
from events.envelope import Event
from projections.files.query import DuplicateGroup, duplicates
from sdactors.agent import lines
from sdactors.agent.builtin.places import (
    Place,
    Where,
    keep_order,
    why_kept,
)
from sdactors.agent.protocol import AgentView, Item, Proposal
from sdactors.runtime.paths import show
from sdactors.runtime.units import human_bytes


class Duplicates:
    name = "duplicates"
    summary = "copies of one content on this device: keep the best placed one, trash the others"
    follows = ("entries.", "location.", "volume.")
    reads = ("files", "volumes")

    def propose(self, view: AgentView, events: Sequence[Event]) -> list[Proposal]:
        min_size = max(int(view.settings().get("min_size", 1)), 1)
        with view.index() as db:
            where = Where(db, view.device)
            groups = duplicates(db, min_size=min_size, device=view.device)
        found = (_proposal(self.name, view, where, group) for group in groups)
        return [p for p in found if p is not None]


def _proposal(agent: str, view: AgentView, where: Where, group: DuplicateGroup) -> Proposal | None:
    # Each file this agent may see, at its best placed granted path; with how many paths
    # it has (more than one: one file, never trashed).
    files: list[tuple[Place, int]] = []
    for paths in group.files:
        seen = [where.place(p) for p in paths if view.granted(p)]
        places = [p for p in seen if p is not None]
        if places:
            files.append((min(places, key=keep_order), len(paths)))
    if len(files) < 2:
        return None
    kept = min((place for place, _ in files), key=keep_order)
    # At most a proposal's worth: the rest come in a later look, once these are gone.
    trashed = [place for place, paths in files if paths == 1 and place is not kept][:ITEMS_MAX]
    if not trashed:
        return None
    items = tuple(
        Item(
            lines.reason(
                f"same content as {show(kept.path)}, which is kept: {why_kept(kept, place)}"
            ),
            "file.remove",
            {"path": place.path, "permanent": False},
        )
        for place in trashed
    )
    name = show(os.path.basename(kept.path))
    copies = "copy" if len(trashed) == 1 else "copies"
    title = (
        f"{len(trashed)} extra {copies} of {name} ({human_bytes(group.size * len(trashed))}): "
        f"keep {show(kept.path)}"
    )
    return Proposal(agent, lines.title(title), items)
