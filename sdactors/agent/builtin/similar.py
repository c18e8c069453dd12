"""The near-duplicate photos agent: of a burst of near-identical pictures (the groups of
``sd duplicates --similar``: ``projections/files/similar.py``, from the media job's
perceptual hashes), keep the best and move the others to the trash, one proposal per group.

The rules, and why each:

- **The best picture is kept**: the largest resolution (the most detail; a resized copy is
  smaller), then the largest file (at one resolution, the least compressed), then the
  earliest taken (the original before its edits; a picture whose data has no date comes
  after the dated), then the first path, so every run chooses alike and the id is stable.
- **Every copy of the kept picture is kept**: copies of one content are the duplicates
  agent's to choose between (``duplicates``), and this agent never proposes the last copy
  of the picture it keeps. Copies of the others go, all of them: they are the lesser
  versions.
- **This device's own files within the grant only**: files of other devices, outside its
  grant, or in a location that is offline (a disk that may never come back) are neither
  kept nor trashed nor counted; a group where it sees fewer than two pictures gives nothing.
- **One file is not two**: a file with several paths (hard links, a bind mount) is never
  proposed for the trash: removing one path frees nothing.
- **To the trash** (``file.remove`` with ``permanent`` false): near-identical is a judgement,
  so a wrong one is undone with ``sd trash restore``.

Each look is a sweep of everything in its grant, whatever events woke it: what it proposes
depends on the index alone, so the same index gives the same proposals (and ids).

Setting (``[agents.similar]``): ``distance``, the most bits two pictures' hashes may differ
by to be one burst (``similar.DEFAULT_DISTANCE``, at most ``MOST_DISTANCE``).
"""

from __future__ import annotations

import os
from typing import Sequence

from events.domain.agents import ITEMS_MAX
from events.envelope import Event
from projections.files.similar import DEFAULT_DISTANCE, MOST_DISTANCE, SimilarFile, similar
from sdactors.agent import lines
from sdactors.agent.builtin.places import Where
from sdactors.agent.protocol import AgentView, Item, Proposal
from sdactors.runtime.paths import show
from sdactors.runtime.units import human_bytes


def _pixels(f: SimilarFile) -> int:
    return (f.width or 0) * (f.height or 0)


def best_order(f: SimilarFile) -> tuple:
    """Best first: the most pixels, the largest file, the earliest taken (undated last),
    the first path."""
    return (-_pixels(f), -f.size, f.taken is None, f.taken or "", f.paths[0])


def _why(kept: SimilarFile, other: SimilarFile) -> str:
    if _pixels(kept) != _pixels(other):
        return f"{_shape(kept)} kept over {_shape(other)}"
    if kept.size != other.size:
        return f"same size in pixels, larger file kept ({human_bytes(kept.size)} vs {human_bytes(other.size)})"
    if kept.taken != other.taken:
        return f"taken earlier ({kept.taken})"
    return "equal: the first by path is kept"


def _shape(f: SimilarFile) -> str:
    return f"{f.width or '?'}x{f.height or '?'}"


class Similar:
    name = "similar"
    summary = "bursts of near-identical photos: keep the best of each, trash the rest"
    follows = ("media.", "entries.", "location.")
    reads = ("files",)

    def propose(self, view: AgentView, events: Sequence[Event]) -> list[Proposal]:
        distance = int(view.settings().get("distance", DEFAULT_DISTANCE))
        distance = min(max(distance, 0), MOST_DISTANCE)
        with view.index() as db:
            where = Where(db, view.device)
            groups = similar(db, distance)
        out = []
        for group in groups:
            mine = [
                f
                for f in group.files
                if f.device == view.device
                and any(view.granted(p) and where.place(p) is not None for p in f.paths)
            ]
            if len({f.cid for f in mine}) < 2:
                continue
            kept = min(mine, key=best_order)
            trashed = [
                f for f in sorted(mine, key=best_order) if f.cid != kept.cid and len(f.paths) == 1
            ][:ITEMS_MAX]  # the rest in a later look, once these are gone
            if not trashed:
                continue
            items = tuple(
                Item(
                    lines.reason(f"near-identical to {show(kept.paths[0])}: {_why(kept, f)}"),
                    "file.remove",
                    {"path": f.paths[0], "permanent": False},
                )
                for f in trashed
            )
            freed = human_bytes(sum(f.size for f in trashed))
            title = (
                f"{len(mine)} near-identical photos: keep "
                f"{show(os.path.basename(kept.paths[0]))}, trash {len(trashed)} ({freed})"
            )
            out.append(Proposal(self.name, lines.title(title), items))
        return out
