"""Locations: add (and index), list, rescan, remove, rules. Paths travel absolute (resolved
where they were typed) as bytes; rules as the fields a user can set.

Each op's checks and its run sit beside it: paths from users are made absolute and real (symlinks resolved) and handled as bytes, so a
folder whose name is not UTF-8 can be added, and ``sd ls`` later finds it by the same path.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Callable, Sequence

from events.domain.locations import (
    LocationAdded,
    LocationRemoved,
    LocationRulesChanged,
    LocationVolumeSeen,
)
from events.shapes import Bool, Bytes, ListOf, Maybe, Text
from projections.files.query import LocationRow, location_row, locations
from sdactors.indexer.rules import Rules
from sdactors.jobs.index import check_presence
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.results import BOOL, HEX, MAP, PLAIN, TEXT, many, record
from sdactors.ops.shapes import LIBRARY, PATH
from sdactors.runtime.errors import (
    AmbiguousLocation,
    InDataDir,
    LocationExists,
    LocationNotFound,
    NotAFolder,
    NotOwner,
)
from sdactors.runtime.paths import reached_through, show, text, user_path

if TYPE_CHECKING:
    from sdactors.library.handle import Library
    from sdactors.library.reader import LibraryReader

LOCATION_ID_LEN = 16


@dataclass(frozen=True, slots=True)
class Location:
    id: bytes
    path: bytes
    name: str
    rules: Rules
    device: bytes
    # Why its volume is absent (its entries kept as last indexed); None while it is online.
    offline: str | None = None

    @classmethod
    def of(cls, row: LocationRow) -> "Location":
        return cls(
            row.location,
            row.path,
            row.name,
            Rules.from_dict(json.loads(row.rules)),
            row.device,
            row.offline,
        )

    def as_json(self) -> dict:
        return {
            "id": self.id.hex(),
            "path": text(self.path),
            "name": self.name,
            "device": self.device.hex(),
            "rules": self.rules.as_dict(),
            "offline": self.offline is not None,
            "offline_reason": self.offline,
        }


def list_locations(lib: "LibraryReader") -> list[Location]:
    with lib.index() as db:
        return [Location.of(row) for row in locations(db)]


def find_location(lib: "LibraryReader", wanted: str, device: bytes) -> Location:
    """``device``'s location named by path, id (or a prefix of at least 6 hex digits) or name.

    Locations are device-owned: one that matches but belongs to another device is refused
    with its owner's name, rather than reported as missing.
    """
    everyone = list_locations(lib)
    path = user_path(wanted) if wanted else b""
    lowered = wanted.lower()
    for rule in (
        lambda loc: loc.path == path or loc.id.hex() == lowered,
        lambda loc: len(wanted) >= 6 and loc.id.hex().startswith(lowered),
        lambda loc: loc.name == wanted,
    ):
        matching = [loc for loc in everyone if rule(loc)]
        mine = [loc for loc in matching if loc.device == device]
        if len(mine) == 1:
            return mine[0]
        if len(mine) > 1:
            raise AmbiguousLocation(wanted, len(mine))
        if matching:
            owner = matching[0]
            raise NotOwner(show(owner.path), owner.device.hex(), device_name(lib, owner.device))
    raise LocationNotFound(wanted)


def device_name(lib: "LibraryReader", device: bytes) -> str | None:
    """The name a device registered with, if this library has heard of it."""
    with lib.index() as db:
        row = db.execute("SELECT name FROM devices WHERE device = ?", (device,)).fetchone()
    return row[0] if row else None


def _inside(path: bytes, folder: bytes) -> bool:
    return path.startswith(folder.rstrip(b"/") + b"/")


def check_new_location(lib: "Library", real: bytes, rules: Rules) -> Location | None:
    """Refuse a folder that cannot be a new location (missing, not a folder, unreadable,
    the data directory or inside it, inside or around another of this device's), or bad
    rules; the location if it is one already. Writes nothing."""
    rules.check()
    if not os.path.exists(real):
        raise NotAFolder(show(real), "it does not exist")
    if not os.path.isdir(real):
        raise NotAFolder(show(real), "it is not a folder")
    if not os.access(real, os.R_OK | os.X_OK):
        raise NotAFolder(show(real), "permission denied")
    data = lib.config.paths.data_dir_id()
    if data is not None:
        reached = reached_through(real, data[1])
        if reached is not None:
            raise InDataDir(show(real), show(data[0]), inside=reached != real)
    lib.catch_up()
    for loc in list_locations(lib):
        if loc.device != lib.device:
            continue
        if loc.path == real:
            return loc
        if _inside(real, loc.path):
            raise LocationExists(show(real), loc.name, show(loc.path), inside=True)
        if _inside(loc.path, real):
            raise LocationExists(show(real), loc.name, show(loc.path), inside=False)
    return None


def add_location(
    lib: "Library", path: str | bytes, name: str | None = None, rules: Rules | None = None
) -> tuple[Location, bool]:
    """Record a new location; returns it and whether it was new (an existing one is reused,
    so adding the same folder again resumes or refreshes its index)."""
    rules = rules or Rules()
    real = user_path(path)
    existing = check_new_location(lib, real, rules)
    if existing is not None:
        return existing, False
    location = Location(
        os.urandom(LOCATION_ID_LEN),
        real,
        name or show(os.path.basename(real)) or show(real),
        rules,
        lib.device,
    )
    from sdactors.volumes.detect import volume_holding  # psutil: only for commands that add

    added: list[LocationAdded | LocationVolumeSeen] = [
        LocationAdded(location.id, real, location.name, rules.as_dict())
    ]
    volume = volume_holding(real)
    if volume is not None:
        added.append(LocationVolumeSeen(location.id, volume.id, volume.mount_point))
    lib.append_typed(*added)
    return location, True


def index_location(
    lib: "Library",
    location: Location,
    progress: "Callable[[dict[str, Any]], None] | None" = None,
    folders: "Sequence[str | bytes] | None" = None,
    confirm_deletions: bool = False,
) -> "dict[str, Any]":
    """Index the location, or only ``folders`` of it (paths as typed, inside it), as a job;
    its counts when it ends."""
    wanted = None if folders is None else [user_path(folder) for folder in folders]
    return lib.index_location(location.id, progress, wanted, confirm_deletions)


def remove_location(lib: "Library", location: Location) -> None:
    lib.append_typed(LocationRemoved(location.id))
    lib.catch_up()


def change_rules(lib: "Library", location: Location, rules: Rules) -> Location:
    rules.check()
    if rules != location.rules:
        lib.append_typed(LocationRulesChanged(location.id, rules.as_dict()))
        lib.catch_up()
    return Location(
        location.id, location.path, location.name, rules, location.device, location.offline
    )


# How `location add` goes on after recording the location.
WAIT, QUEUE, NONE = "wait", "queue", "none"
PATTERN = Text(1, 4096)
# A path, id, id prefix or name, as the user typed it: bytes, as a path need not be UTF-8.
WANTED = Bytes(min=1, max=4096)


@dataclass(frozen=True)
class RuleChange:
    """What a command says of the rules: None leaves a rule as it is."""

    hidden: bool | None = None
    gitignore: bool | None = None
    system: bool | None = None
    dev: bool | None = None
    git: bool | None = None
    exclude: tuple[str, ...] = ()
    clear_excludes: bool = False

    def applied(self, rules: Rules) -> Rules:
        excludes = () if self.clear_excludes else rules.exclude
        return rules.changed(
            skip_hidden=None if self.hidden is None else not self.hidden,
            gitignore=self.gitignore,
            skip_system=None if self.system is None else not self.system,
            skip_dev=None if self.dev is None else not self.dev,
            skip_git=None if self.git is None else not self.git,
            exclude=tuple(dict.fromkeys([*excludes, *self.exclude])),
        )


LOCATION = record(
    id=HEX, path=TEXT, name=TEXT, device=HEX, rules=MAP, offline=BOOL, offline_reason=PLAIN
)


def _rule_change(cmd: Any) -> RuleChange:
    return RuleChange(
        cmd.hidden, cmd.gitignore, cmd.system, cmd.dev, cmd.git, cmd.exclude, cmd.clear_excludes
    )


def _job_result(location: Location, counts: dict[str, Any]) -> dict[str, Any]:
    return {"id": location.id.hex(), "path": text(location.path),
            "name": location.name, **counts}  # fmt: skip


@op("location.add", writes=True)
@dataclass(frozen=True)
class LocationAdd(Op):
    path: Annotated[bytes, PATH]
    name: Annotated[str | None, Maybe(Text(1, 256))] = None
    # "wait" for its index, "queue" it as a job and answer at once, or "none" (the CLI
    # indexes it in a process of its own).
    then: Annotated[str, Text(1, 8, pattern="wait|queue|none")] = WAIT
    hidden: Annotated[bool | None, Maybe(Bool())] = None
    gitignore: Annotated[bool | None, Maybe(Bool())] = None
    system: Annotated[bool | None, Maybe(Bool())] = None
    dev: Annotated[bool | None, Maybe(Bool())] = None
    git: Annotated[bool | None, Maybe(Bool())] = None
    exclude: Annotated[tuple[str, ...], ListOf(PATTERN, max=1000)] = ()
    clear_excludes: Annotated[bool, Bool()] = False
    library: Annotated[str | None, LIBRARY] = None

    result = MAP

    def validate(self, ctx: OpContext) -> None:
        rules = _rule_change(self).applied(Rules())
        check_new_location(ctx.write_library(self.library), self.path, rules)

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.write_library(self.library)
        rules = _rule_change(self).applied(Rules())
        location, _new = add_location(lib, self.path, self.name, rules)
        if self.then == WAIT:
            return _job_result(location, index_location(lib, location, ctx.progress))
        if self.then == QUEUE:
            lib.submit_job("index", location.id, {})
        return {"id": location.id.hex(), "path": text(location.path),
                "name": location.name, "queued": self.then == QUEUE}  # fmt: skip


@op("location.list")
@dataclass(frozen=True)
class LocationList(Op):
    library: Annotated[str | None, LIBRARY] = None

    result = many(LOCATION)

    def run(self, ctx: OpContext) -> Any:
        return [loc.as_json() for loc in list_locations(ctx.read_library(self.library))]


@dataclass(frozen=True)
class _OnLocation(Op):
    """A command on one of this device's locations, named as the user typed it."""

    location: Annotated[bytes, WANTED]

    def found(self, ctx: OpContext) -> Location:
        lib = ctx.write_library(getattr(self, "library", None))
        lib.catch_up()
        return find_location(lib, os.fsdecode(self.location), lib.device)

    def validate(self, ctx: OpContext) -> None:
        self.found(ctx)


@op("location.rescan", writes=True)
@dataclass(frozen=True)
class LocationRescan(_OnLocation):
    folders: Annotated[tuple[bytes, ...], ListOf(PATH, max=10_000)] = ()
    confirm_deletions: Annotated[bool, Bool()] = False
    library: Annotated[str | None, LIBRARY] = None

    result = MAP

    def validate(self, ctx: OpContext) -> None:
        """An absent volume is refused before anything is queued (its going offline is
        recorded, once: a fact seen, not an action)."""
        loc = self.found(ctx)
        lib = ctx.write_library(self.library)
        with lib.index() as db:
            row = location_row(db, lib.device, loc.id)
        if row is not None:
            check_presence(lib, row)
        # Rules stored by an older version (or by hand) may not compile: say so now.
        loc.rules.check(show(loc.path))

    def run(self, ctx: OpContext) -> Any:
        loc = self.found(ctx)
        lib = ctx.write_library(self.library)
        counts = index_location(
            lib, loc, ctx.progress, self.folders or None, self.confirm_deletions
        )
        return _job_result(loc, counts)


@op("location.remove", writes=True)
@dataclass(frozen=True)
class LocationRemove(_OnLocation):
    library: Annotated[str | None, LIBRARY] = None

    result = record(id=HEX, path=TEXT, removed=BOOL)

    def run(self, ctx: OpContext) -> Any:
        loc = self.found(ctx)
        remove_location(ctx.write_library(self.library), loc)
        return {"id": loc.id.hex(), "path": text(loc.path), "removed": True}


@op("location.rules", writes=True)
@dataclass(frozen=True)
class LocationRules(_OnLocation):
    hidden: Annotated[bool | None, Maybe(Bool())] = None
    gitignore: Annotated[bool | None, Maybe(Bool())] = None
    system: Annotated[bool | None, Maybe(Bool())] = None
    dev: Annotated[bool | None, Maybe(Bool())] = None
    git: Annotated[bool | None, Maybe(Bool())] = None
    exclude: Annotated[tuple[str, ...], ListOf(PATTERN, max=1000)] = ()
    clear_excludes: Annotated[bool, Bool()] = False
    library: Annotated[str | None, LIBRARY] = None

    result = MAP

    def validate(self, ctx: OpContext) -> None:
        _rule_change(self).applied(self.found(ctx).rules).check()

    def run(self, ctx: OpContext) -> Any:
        loc = self.found(ctx)
        new_rules = _rule_change(self).applied(loc.rules)
        changed = new_rules != loc.rules
        loc = change_rules(ctx.write_library(self.library), loc, new_rules)
        return {**loc.as_json(), "changed": changed}
