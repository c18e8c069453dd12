"""Downloads housekeeping: leftover partial downloads, zero-byte files and empty folders in
the agent's grant, proposed for the trash (``file.remove``, never permanently: the trash
keeps each, ``sd trash restore`` brings it back).

A file is a leftover only once it has not changed for ``min_age_hours`` (24 by default,
``[agents.downloads] min_age_hours`` in library.toml) by the node's clock: a download in
progress is written to, so it is never taken for one. One proposal per kind (partial
downloads, zero-byte files, empty folders), of at most ``ITEMS_MAX`` items each: the same
files make the same proposal, however often the agent looks. A file one of its proposals
already names (open, accepted and waiting, or rejected) is left out of new ones: a new
leftover comes as a proposal of its own, not as a copy of the open one with one more item.
"""

from __future__ import annotations

from typing import ClassVar, Iterable, Sequence

from events.domain.agents import ITEMS_MAX
from events.domain.entries import DIR, FILE
from events.envelope import Event
from projections.agents import pending_items
from projections.files.query import folder_children, resolve, tree_under
from projections.files.schema import EID_MASK
from sdactors.agent.protocol import AgentView, Item, Proposal
from sdactors.runtime.paths import text

# What browsers and download managers leave while a download is unfinished (lower case).
PARTIAL_SUFFIXES = (
    b".part",
    b".partial",
    b".crdownload",
    b".download",
    b".opdownload",
    b".!qb",
    b".!ut",
    b".aria2",
)
MIN_AGE_HOURS = 24.0


class Downloads:
    name: ClassVar[str] = "downloads"
    summary: ClassVar[str] = (
        "leftover partial downloads, zero-byte files and empty folders, to the trash"
    )
    follows: ClassVar[tuple[str, ...]] = ("entries.", "location.")
    reads: ClassVar[tuple[str, ...]] = ("files",)

    def propose(self, view: AgentView, events: Sequence[Event]) -> Iterable[Proposal]:
        hours = view.settings().get("min_age_hours", MIN_AGE_HOURS)
        if not isinstance(hours, (int, float)) or isinstance(hours, bool) or hours < 0:
            hours = MIN_AGE_HOURS
        before_ns = int((view.now() - hours * 3600) * 1e9)
        partial: list[Item] = []
        empty_files: list[Item] = []
        empty_folders: list[Item] = []
        with view.index() as db:
            named = {args.get("path") for op, args in pending_items(db, self.name)}
            for top in _granted_folders(view):
                base = resolve(db, top, view.device)
                if base is None or base.named_folder is None:
                    continue
                for path, child in tree_under(db, top, view.device):
                    if not view.granted(path) or path in named:
                        continue
                    if child.ftype == FILE and child.mtime_ns <= before_ns:
                        if child.name.lower().endswith(PARTIAL_SUFFIXES):
                            partial.append(_trash(path, "a partial download left unfinished"))
                        elif child.size == 0:
                            empty_files.append(_trash(path, "an empty (zero-byte) file"))
                    elif child.ftype == DIR and child.mtime_ns <= before_ns:
                        folder = (base.folder & ~EID_MASK) | child.eid
                        if not folder_children(db, folder):
                            empty_folders.append(_trash(path, "an empty folder"))
        yield from _proposals("partial download left unfinished", "partial downloads left "
                              "unfinished", partial)  # fmt: skip
        yield from _proposals("zero-byte file", "zero-byte files", empty_files)
        yield from _proposals("empty folder", "empty folders", empty_folders)


def _granted_folders(view: AgentView) -> list[bytes]:
    """The outermost granted folders (one inside another is swept with it)."""
    folders = sorted(set(view.granted_folders()))
    out: list[bytes] = []
    for folder in folders:
        if not any(folder.startswith(o.rstrip(b"/") + b"/") for o in out):
            out.append(folder)
    return out


def _trash(path: bytes, why: str) -> Item:
    return Item(f"{text(path)}: {why}", "file.remove", {"path": path, "permanent": False})


def _proposals(one: str, many: str, items: list[Item]) -> Iterable[Proposal]:
    for start in range(0, len(items), ITEMS_MAX):
        part = tuple(items[start : start + ITEMS_MAX])
        title = f"{len(part)} {many}" if len(part) != 1 else f"1 {one}"
        if len(items) > ITEMS_MAX:
            title += f" (part {start // ITEMS_MAX + 1})"
        yield Proposal(Downloads.name, title, part)
