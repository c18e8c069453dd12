"""Tags: shared facts, last writer wins. Each change is an audited action.

Names are unique among visible tags on this device's view of the library;
two devices creating the same name at once both keep theirs (each tag has its own id).
"""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from events.clock import ahead_ms
from events.domain.tags import TagCreated, TagDeleted, TagRecolored, TagRenamed
from events.shapes import Maybe, Text
from projections.devices import device_names
from projections.tags import field_stamps, live_tags
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.results import HEX, MAPS, MAYBE_TEXT, TEXT, many, record
from sdactors.ops.shapes import LIBRARY
from sdactors.runtime.errors import AmbiguousTag, InvalidArgument, TagExists, TagNotFound

if TYPE_CHECKING:
    from sdactors.library.handle import Library

TAG_ID_LEN = 16
MAX_NAME = 256
_COLOR = re.compile(r"^(#[0-9a-fA-F]{3}|#[0-9a-fA-F]{6}|[A-Za-z]{1,32})$")


@dataclass(frozen=True, slots=True)
class Tag:
    id: bytes
    name: str
    color: str | None

    def as_json(self) -> dict:
        return {"id": self.id.hex(), "name": self.name, "color": self.color}


@dataclass(frozen=True, slots=True)
class Overridden:
    """A change that is in the log but loses last-writer-wins to one already there with a
    later ``(hlc, device)``: on every device the field keeps the other value. Said to the
    user, since nothing else would show it; usually the winner's clock is ahead of this
    device's by more than ``events.clock.MAX_AHEAD_MS``."""

    field: str
    kept: str | None
    device: bytes
    name: str | None
    clock_ahead_ms: int | None

    def as_json(self) -> dict:
        return {
            "field": self.field,
            "kept": self.kept,
            "device": self.device.hex(),
            "name": self.name,
            "clock_ahead_ms": self.clock_ahead_ms,
        }


def list_tags(db: sqlite3.Connection) -> list[Tag]:
    return [Tag(*row) for row in live_tags(db)]


def clean_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidArgument("a tag needs a name")
    if len(name) > MAX_NAME:
        raise InvalidArgument(f"a tag name is at most {MAX_NAME} characters")
    return name


def check_color(color: str | None) -> str | None:
    if color is not None and not _COLOR.match(color):
        raise InvalidArgument(f"{color!r} is not a color: use a name like 'red' or '#RRGGBB'")
    return color


def find_tag(db: sqlite3.Connection, name_or_id: str) -> Tag:
    tags = list_tags(db)
    named = [t for t in tags if t.name == name_or_id]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise AmbiguousTag(name_or_id, len(named))
    by_id = [t for t in tags if len(name_or_id) >= 8 and t.id.hex().startswith(name_or_id.lower())]
    if len(by_id) == 1:
        return by_id[0]
    raise TagNotFound(name_or_id)


def tags_named(db: sqlite3.Connection, name: str) -> list[Tag]:
    """Every live tag named ``name`` (two devices may each have made one), else the one
    whose id starts with it: what a search by tag takes."""
    named = [t for t in list_tags(db) if t.name == name]
    return named or [find_tag(db, name)]


def check_new_name(db: sqlite3.Connection, name: str) -> None:
    """No visible tag may already have the name."""
    if any(t.name == name for t in list_tags(db)):
        raise TagExists(name)


def create_tag(lib: "Library", name: str, color: str | None = None) -> Tag:
    name, color = clean_name(name), check_color(color)
    lib.catch_up()
    with lib.index() as db:
        check_new_name(db, name)
    tag = Tag(os.urandom(TAG_ID_LEN), name, color)
    lib.append_typed(TagCreated(tag.id, name, color))
    return tag


def rename_tag(
    lib: "Library", old: str, new: str, color: str | None = None
) -> tuple[Tag, list[Overridden]]:
    """The tag as renamed, and the changes of it that lose to later ones already held."""
    new, color = clean_name(new), check_color(color)
    lib.catch_up()
    with lib.index() as db:
        tag = find_tag(db, old)
        if new != tag.name:
            check_new_name(db, new)
        stamps = field_stamps(db, tag.id)
        names = device_names(db)
    events: list[object] = []
    fields = []
    if new != tag.name:
        events.append(TagRenamed(tag.id, new))
        fields.append("name")
    if color is not None and color != tag.color:
        events.append(TagRecolored(tag.id, color))
        fields.append("color")
    lost = []
    if events:
        appended = lib.append_typed(*events)
        for ev, field in zip(appended.events, fields):
            kept, hlc, device = stamps[field]
            if (hlc, device) > (ev.hlc, ev.device):
                lost.append(Overridden(field, kept, device, names.get(device), ahead_ms(hlc)))
    return Tag(tag.id, new, color if color is not None else tag.color), lost


def delete_tag(lib: "Library", name: str) -> Tag:
    lib.catch_up()
    with lib.index() as db:
        tag = find_tag(db, name)
    lib.append_typed(TagDeleted(tag.id))
    return tag


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
            check_new_name(db, clean_name(self.name))
        check_color(self.color)

    def run(self, ctx: OpContext) -> Any:
        return create_tag(ctx.write_library(self.library), self.name, self.color).as_json()


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
        new = clean_name(self.new)
        check_color(self.color)
        with lib.index() as db:
            tag = find_tag(db, self.old)
            if new != tag.name:
                check_new_name(db, new)

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.write_library(self.library)
        tag, lost = rename_tag(lib, self.old, self.new, self.color)
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
            find_tag(db, self.name)

    def run(self, ctx: OpContext) -> Any:
        return delete_tag(ctx.write_library(self.library), self.name).as_json()


@op("tag.list")
@dataclass(frozen=True)
class TagList(Op):
    library: Annotated[str | None, LIBRARY] = None

    result = many(TAG)

    def run(self, ctx: OpContext) -> Any:
        with ctx.read_library(self.library).index() as db:
            return [t.as_json() for t in list_tags(db)]
