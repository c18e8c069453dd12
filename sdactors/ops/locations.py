"""Locations: add (and index), list, rescan, remove, rules. Paths travel absolute (resolved
where they were typed) as bytes; rules as the fields a user can set."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated, Any

from events.shapes import Bool, Bytes, ListOf, Maybe, Text
from projections.files.query import location_row
from sdactors.indexer.rules import Rules
from sdactors.jobs.index import check_presence
from sdactors.ops import location_actions as actions
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.results import BOOL, HEX, MAP, PLAIN, TEXT, many, record
from sdactors.ops.shapes import LIBRARY, PATH
from sdactors.runtime.paths import text

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


def _job_result(location: actions.Location, counts: dict[str, Any]) -> dict[str, Any]:
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
        actions.check_new_location(ctx.write_library(self.library), self.path, rules)

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.write_library(self.library)
        rules = _rule_change(self).applied(Rules())
        location, _new = actions.add_location(lib, self.path, self.name, rules)
        if self.then == WAIT:
            return _job_result(location, actions.index_location(lib, location, ctx.progress))
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
        return [loc.as_json() for loc in actions.list_locations(ctx.read_library(self.library))]


@dataclass(frozen=True)
class _OnLocation(Op):
    """A command on one of this device's locations, named as the user typed it."""

    location: Annotated[bytes, WANTED]

    def found(self, ctx: OpContext) -> actions.Location:
        lib = ctx.write_library(getattr(self, "library", None))
        lib.catch_up()
        return actions.find_location(lib, os.fsdecode(self.location), lib.device)

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
        loc.rules.check(actions.show(loc.path))

    def run(self, ctx: OpContext) -> Any:
        loc = self.found(ctx)
        lib = ctx.write_library(self.library)
        counts = actions.index_location(
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
        actions.remove_location(ctx.write_library(self.library), loc)
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
        loc = actions.change_rules(ctx.write_library(self.library), loc, new_rules)
        return {**loc.as_json(), "changed": changed}
