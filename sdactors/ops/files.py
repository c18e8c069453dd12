"""``sd cp``, ``sd mv``, ``sd rm``: file operations inside this device's locations, each an
audited action, the index following at once.

The disk work is ``sdactors.fileops`` (verified copies, renames, trash). Here: what may be
touched (only entries inside this device's online locations, never a location's root or a
folder holding the data directory), refused in ``validate`` before anything is written;
then, after the disk changed, the library's index job rescans just the folders that changed (a move
within a location comes out as ``entries.moved``, found by inode), so the index is what a
whole rescan would make without waiting for one. A file that ``--force`` replaces goes to
the library's trash (``sdactors/ops/trash.py``), as ``sd rm`` does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from events.shapes import Bool
from projections.files.query import LocationRow, location_for_path
from sdactors import fileops
from sdactors.agent.grants import Touches
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.results import MAP, MAYBE_TEXT, PLAIN, TEXT, record
from sdactors.ops.shapes import CLEAN_PATH, LIBRARY
from sdactors.runtime.errors import (
    FileOpOffline,
    HoldsDataDir,
    LocationRootRefused,
    OutsideLocations,
    SdError,
    SourceChangedKept,
    SourceMissing,
)
from sdactors.runtime.logs import get_logger
from sdactors.runtime.paths import show, text

if TYPE_CHECKING:
    from sdactors.library.handle import Library

log = get_logger(__name__)

CHANGES = ("created", "modified", "moved", "deleted")


TRANSFERRED = record(source=TEXT, destination=TEXT, how=PLAIN, replaced=PLAIN, index=MAP)


def in_location(lib: Library, device: bytes, path: bytes, verb: str, root_ok: bool) -> LocationRow:
    """The online location of this device holding ``path``; refused otherwise."""
    with lib.index() as db:
        loc = location_for_path(db, path, device)
    if loc is None:
        raise OutsideLocations(show(path))
    if loc.path == path and not root_ok:
        raise LocationRootRefused(show(path), verb)
    if loc.offline is not None:
        raise FileOpOffline(show(path), loc.offline)
    return loc


def _source(ctx: OpContext, lib: Library, path: bytes, verb: str, root_ok: bool) -> None:
    """Refuse a source that is missing, outside the locations, or holds our own files."""
    if not os.path.lexists(path):
        raise SourceMissing(show(path))
    in_location(lib, ctx.device, path, verb, root_ok)
    if verb != "copy":
        data = os.path.realpath(os.fsencode(ctx.data.root))
        if data == path or data.startswith(path.rstrip(b"/") + b"/"):
            raise HoldsDataDir(show(path), verb)


def follow(lib: Library, device: bytes, folders: list[bytes]) -> dict[str, Any]:
    """Rescan ``folders`` (those inside this device's locations), grouped by location.

    The disk has already changed, so a rescan that fails is reported in the result rather
    than failing the action: the next rescan (or the watcher) catches up.
    """
    groups: dict[bytes, list[bytes]] = {}
    with lib.index() as db:
        for folder in folders:
            loc = location_for_path(db, folder, device)
            if loc is not None and folder not in groups.setdefault(loc.location, []):
                groups[loc.location].append(folder)
    totals: dict[str, Any] = dict.fromkeys(CHANGES, 0)
    for location, named in groups.items():
        try:
            # Deletions are ours and wanted: no question about how many there are.
            stats = lib.index_location(location, None, named, confirm_deletions=True)
        except SdError as exc:
            log.warning("file_op_rescan_failed", error=str(exc))
            totals["error"] = str(exc)
            continue
        for key in CHANGES:
            totals[key] += stats[key]
    return totals


def location_id(lib: Library, device: bytes, path: bytes) -> bytes:
    """The location a file operation works in: its job waits for that location's others."""
    with lib.index() as db:
        loc = location_for_path(db, path, device)
    if loc is None:  # validate refused this already; the index changed since
        raise OutsideLocations(show(path))
    return loc.location


def run_job(ctx: OpContext, lib: Library, kind: str, path: bytes, params: dict[str, Any]) -> Any:
    """Run the file job ``kind`` in the location of ``path``, carrying the action it runs
    for (a run after a crash ends that action)."""
    if ctx.action is not None:
        params = {**params, "action": ctx.action}
    return lib.run_job(kind, location_id(lib, ctx.device, path), params, ctx.progress)


@dataclass(frozen=True)
class _Transfer(Op):
    """What copy and move share: the checks, then the disk work, then the index."""

    source: Annotated[bytes, CLEAN_PATH]
    destination: Annotated[bytes, CLEAN_PATH]
    force: Annotated[bool, Bool()] = False
    library: Annotated[str | None, LIBRARY] = None

    verb: ClassVar[str]

    def _target(self, ctx: OpContext) -> tuple[Library, bytes]:
        lib = ctx.write_library(self.library)
        lib.catch_up()
        _source(ctx, lib, self.source, self.verb, root_ok=self.verb == "copy")
        target = fileops.destination(self.source, self.destination)
        in_location(lib, ctx.device, target, self.verb, root_ok=False)
        fileops.check_transfer(self.source, target, self.force)
        return lib, target

    def validate(self, ctx: OpContext) -> None:
        self._target(ctx)

    def run(self, ctx: OpContext) -> Any:
        lib, target = self._target(ctx)
        changed = [os.path.dirname(target)]
        if self.verb == "move":
            changed.insert(0, os.path.dirname(self.source))
        trash = os.fsencode(lib.config.paths.trash)
        params = {"source": self.source, "target": target, "force": self.force, "trash": trash}
        try:
            done = run_job(ctx, lib, self.verb, self.source, params)
        except SourceChangedKept:
            follow(lib, ctx.device, changed)  # both are on the disk: both in the index
            raise
        if done["replaced"] is not None:
            changed.append(trash)  # should the trash be inside a location
        return {
            "source": text(self.source),
            "destination": text(target),
            "how": done["how"],
            "replaced": done["replaced"],
            "index": follow(lib, ctx.device, changed),
        }


@op("file.copy", writes=True)
@dataclass(frozen=True)
class FileCopy(_Transfer):
    """Copy a file or folder: streamed, checked with blake3, put in place whole."""

    result = TRANSFERRED

    verb: ClassVar[str] = "copy"


@op("file.move", writes=True)
@dataclass(frozen=True)
class FileMove(_Transfer):
    """Move a file or folder: a rename on one volume, a verified copy across volumes."""

    result = TRANSFERRED

    verb: ClassVar[str] = "move"

    def touches(self) -> Touches | None:
        # Never over a file (``force``): an agent moves into free places only.
        return None if self.force else Touches((self.source, self.destination))


@op("file.remove", writes=True)
@dataclass(frozen=True)
class FileRemove(Op):
    """Remove a file or folder: into the library's trash, or for good with ``permanent``."""

    path: Annotated[bytes, CLEAN_PATH]
    permanent: Annotated[bool, Bool()] = False
    library: Annotated[str | None, LIBRARY] = None

    result = record(path=TEXT, trash=MAYBE_TEXT, id=PLAIN, index=MAP)

    def touches(self) -> Touches | None:
        # To the trash only: what an agent proposes to remove can always come back.
        return None if self.permanent else Touches((self.path,))

    def _checked(self, ctx: OpContext) -> Library:
        lib = ctx.write_library(self.library)
        lib.catch_up()
        _source(ctx, lib, self.path, "remove", root_ok=False)
        return lib

    def validate(self, ctx: OpContext) -> None:
        self._checked(ctx)

    def run(self, ctx: OpContext) -> Any:
        lib = self._checked(ctx)
        changed = [os.path.dirname(self.path)]
        trash = os.fsencode(lib.config.paths.trash)
        params = {"path": self.path, "permanent": self.permanent, "trash": trash}
        done = run_job(ctx, lib, "remove", self.path, params)
        where = done["trash"]
        if where is not None:
            changed.append(trash)  # should the trash be inside a location
        return {
            "path": text(self.path),
            "trash": None if where is None else text(where),
            "id": done["id"],
            "index": follow(lib, ctx.device, changed),
        }
