"""Tags: shared facts, last writer wins. Each change is an audited action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from events.shapes import Maybe, Text
from sdactors.ops import tag_actions as actions
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.results import HEX, MAPS, MAYBE_TEXT, TEXT, many, record
from sdactors.ops.shapes import LIBRARY

NAME = Text(0, 1024)  # length and content are checked with their own words by the action
COLOR = Maybe(Text(0, 64))


TAG = record(id=HEX, name=TEXT, color=MAYBE_TEXT)


@op("tag.create", writes=True)
@dataclass(frozen=True)
class TagCreate(Op):
    name: Annotated[str, NAME]
    color: Annotated[str | None, COLOR] = None
    library: Annotated[str | None, LIBRARY] = None

    result = TAG

    def validate(self, ctx: OpContext) -> None:
        lib = ctx.write_library(self.library)
        lib.catch_up()
        with lib.index() as db:
            actions.check_new_name(db, actions.clean_name(self.name))
        actions.check_color(self.color)

    def run(self, ctx: OpContext) -> Any:
        return actions.create_tag(ctx.write_library(self.library), self.name, self.color).as_json()


@op("tag.rename", writes=True)
@dataclass(frozen=True)
class TagRename(Op):
    old: Annotated[str, NAME]
    new: Annotated[str, NAME]
    color: Annotated[str | None, COLOR] = None
    library: Annotated[str | None, LIBRARY] = None

    result = record(id=HEX, name=TEXT, color=MAYBE_TEXT, overridden=MAPS)

    def validate(self, ctx: OpContext) -> None:
        lib = ctx.write_library(self.library)
        lib.catch_up()
        new = actions.clean_name(self.new)
        actions.check_color(self.color)
        with lib.index() as db:
            tag = actions.find_tag(db, self.old)
            if new != tag.name:
                actions.check_new_name(db, new)

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.write_library(self.library)
        tag, lost = actions.rename_tag(lib, self.old, self.new, self.color)
        return {**tag.as_json(), "overridden": [one.as_json() for one in lost]}


@op("tag.delete", writes=True)
@dataclass(frozen=True)
class TagDelete(Op):
    name: Annotated[str, NAME]
    library: Annotated[str | None, LIBRARY] = None

    result = TAG

    def validate(self, ctx: OpContext) -> None:
        lib = ctx.write_library(self.library)
        lib.catch_up()
        with lib.index() as db:
            actions.find_tag(db, self.name)

    def run(self, ctx: OpContext) -> Any:
        return actions.delete_tag(ctx.write_library(self.library), self.name).as_json()


@op("tag.list")
@dataclass(frozen=True)
class TagList(Op):
    library: Annotated[str | None, LIBRARY] = None

    result = many(TAG)

    def run(self, ctx: OpContext) -> Any:
        with ctx.read_library(self.library).index() as db:
            return [t.as_json() for t in actions.list_tags(db)]
