"""Annotations on files: ``sd tag add|remove``, ``sd favourite``, ``sd note``. Each change is
an audited action; what it writes is a shared fact (``events/domain/annotations.py``).

A path names what the index holds there, on this device or, failing that, on another device
of the library (as ``sd ls`` finds it). What is annotated is the file's content (every copy,
on every device) unless ``path_only`` says that one entry, or the file has no content id (a
folder, an empty file, one not identified yet): then the entry, whose eid survives renames
and moves. Taking an annotation off takes it off whatever holds it (the content and the
entry) unless ``path_only`` limits it to the entry; a file that still shows it (through its
content) is said to. Every path is checked before anything is written.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Callable, Iterable, NamedTuple

from events.domain.annotations import (
    NOTE_MAX,
    FileFavourited,
    FileNoted,
    FileTagged,
    FileUnfavourited,
    FileUntagged,
)
from events.domain.tags import TagCreated
from events.shapes import Bool, ListOf, Maybe, Text
from projections.annotations import entry_target, has_tag, target_annotations
from sdactors.agent.grants import Touches
from sdactors.ops.base import Op, OpContext, op
from sdactors.ops.browse import resolve_anywhere
from sdactors.ops.results import BOOL, LINES, MAYBE_TEXT, TEXT, many, record
from sdactors.ops.shapes import LIBRARY, PATH
from sdactors.ops.tags import NAME, TAG, TAG_ID_LEN, Tag, clean_name, find_tag
from sdactors.runtime.errors import InvalidArgument, RootNotAnnotated, TagNotFound, TagToCreate
from sdactors.runtime.paths import show, text

if TYPE_CHECKING:
    from sdactors.library.handle import Library

# Paths in one command: the audit trail records them all in one event.
MAX_PATHS = 5_000
PATHS = ListOf(PATH, 1, MAX_PATHS)
# A note as sent; its length is checked with its own words (NOTE_MAX).
NOTE_TEXT = Text(0, 1 << 20)

CONTENT, ENTRY = "content", "path"
# What a command did to each file: which of its content and its entry ("path") it changed,
# and whether the file still shows what was taken off (through its content).
FILE = record(path=TEXT, changed=LINES, still=BOOL)


class Target(NamedTuple):
    """A file a path names: the device holding it, its eid there, its content id."""

    path: bytes
    device: bytes
    eid: int
    cid: bytes | None

    @property
    def entry(self) -> bytes:
        return entry_target(self.device, self.eid)


def find_targets(db: sqlite3.Connection, paths: Iterable[bytes], mine: bytes) -> list[Target]:
    """The file each path names (each file once), or the one line saying which is not."""
    out: dict[tuple[bytes, int], Target] = {}
    for path in paths:
        found, device = resolve_anywhere(db, path, mine)
        if found.child is None:
            raise RootNotAnnotated(show(path))
        child = found.child
        out.setdefault((device, child.eid), Target(path, device, child.eid, child.cid))
    return list(out.values())


class Change(NamedTuple):
    target: Target
    content: bool  # its content changes
    entry: bool  # its entry changes
    still: bool  # it still shows what its entry lost (through its content)

    def as_json(self) -> dict[str, Any]:
        changed = [CONTENT] if self.content else []
        return {
            "path": text(self.target.path),
            "changed": changed + ([ENTRY] if self.entry else []),
            "still": self.still,
        }


def putting(targets: list[Target], path_only: bool) -> list[Change]:
    """Each file's content, or its entry (``path_only``, or no content id)."""
    return [
        Change(t, by_content, not by_content, False)
        for t in targets
        for by_content in [t.cid is not None and not path_only]
    ]


def taking(targets: list[Target], path_only: bool, holds: Callable[[bytes], bool]) -> list[Change]:
    """What holds the annotation (``holds``) on each file: its entry, and its content
    unless ``path_only`` (then the file still shows it, if its content holds it)."""
    out = []
    for t in targets:
        on_content = t.cid is not None and holds(t.cid)
        out.append(
            Change(t, on_content and not path_only, holds(t.entry), on_content and path_only)
        )
    return out


def named(changes: list[Change]) -> dict[str, tuple] | None:
    """The targets an event names (``contents``, ``entries``); None when there are none."""
    contents = sorted({c.target.cid for c in changes if c.content and c.target.cid})
    entries = sorted({(c.target.device, c.target.eid) for c in changes if c.entry})
    if not contents and not entries:
        return None
    return {"contents": tuple(contents), "entries": tuple(entries)}


def _read(lib: "Library", paths: Iterable[bytes], mine: bytes) -> list[Target]:
    lib.catch_up()
    with lib.index() as db:
        return find_targets(db, paths, mine)


def _tag_to_put(db: sqlite3.Connection, name: str, create: bool) -> Tag | None:
    """The tag named ``name``; None when it is to be created."""
    try:
        return find_tag(db, name)
    except TagNotFound:
        if not create:
            raise TagToCreate(name) from None
        clean_name(name)
        return None


def tag_files(
    lib: "Library", mine: bytes, paths: Iterable[bytes], name: str, create: bool, path_only: bool
) -> dict[str, Any]:
    lib.catch_up()
    with lib.index() as db:
        targets = find_targets(db, paths, mine)
        tag = _tag_to_put(db, name, create)
    events: list[object] = []
    if tag is None:
        tag = Tag(os.urandom(TAG_ID_LEN), clean_name(name), None)
        events.append(TagCreated(tag.id, tag.name, None))
    changes = putting(targets, path_only)
    body = named(changes)
    assert body is not None  # every path names a file
    events.append(FileTagged(tag.id, **body))
    lib.append_typed(*events)
    return {
        "tag": tag.as_json(),
        "created": len(events) == 2,
        "files": [c.as_json() for c in changes],
    }


def untag_files(
    lib: "Library", mine: bytes, paths: Iterable[bytes], name: str, path_only: bool
) -> dict[str, Any]:
    lib.catch_up()
    with lib.index() as db:
        targets = find_targets(db, paths, mine)
        tag = find_tag(db, name)
        changes = taking(targets, path_only, lambda target: has_tag(db, target, tag.id))
    body = named(changes)
    if body is not None:
        lib.append_typed(FileUntagged(tag.id, **body))
    return {"tag": tag.as_json(), "files": [c.as_json() for c in changes]}


def favourite_files(
    lib: "Library", mine: bytes, paths: Iterable[bytes], on: bool, path_only: bool
) -> dict[str, Any]:
    lib.catch_up()
    with lib.index() as db:
        targets = find_targets(db, paths, mine)
        if on:
            changes = putting(targets, path_only)
        else:
            changes = taking(
                targets, path_only, lambda target: target_annotations(db, target).favourite
            )
    body = named(changes)
    if body is not None:
        lib.append_typed(FileFavourited(**body) if on else FileUnfavourited(**body))
    return {"favourite": on, "files": [c.as_json() for c in changes]}


def check_note(note: str | None) -> None:
    if note is None:
        return
    if not note.strip():
        raise InvalidArgument("a note needs some text (to remove one: --clear)")
    if len(note) > NOTE_MAX:
        raise InvalidArgument(
            f"a note is at most {NOTE_MAX:,} characters; this one has {len(note):,}"
        )


def note_files(
    lib: "Library", mine: bytes, paths: Iterable[bytes], note: str | None, path_only: bool
) -> dict[str, Any]:
    check_note(note)
    lib.catch_up()
    with lib.index() as db:
        targets = find_targets(db, paths, mine)
        if note is not None:
            changes = putting(targets, path_only)
        else:
            changes = taking(
                targets, path_only, lambda target: target_annotations(db, target).note is not None
            )
    body = named(changes)
    if body is not None:
        lib.append_typed(FileNoted(note, **body))
    return {"note": note, "files": [c.as_json() for c in changes]}


@op("tag.add", writes=True)
@dataclass(frozen=True)
class TagAdd(Op):
    """Put a tag on files: on their content (every copy), or with ``path_only`` on the
    entries the paths name."""

    paths: Annotated[tuple, PATHS]
    tag: Annotated[str, NAME]
    create: Annotated[bool, Bool()] = False
    path_only: Annotated[bool, Bool()] = False
    library: Annotated[str | None, LIBRARY] = None

    result = record(tag=TAG, created=BOOL, files=many(FILE))

    def touches(self) -> Touches | None:
        # An existing tag only: making tags is the user's.
        return None if self.create else Touches(tuple(self.paths), (self.tag,))

    def validate(self, ctx: OpContext) -> None:
        lib = ctx.write_library(self.library)
        _read(lib, self.paths, ctx.device)
        with lib.index() as db:
            _tag_to_put(db, self.tag, self.create)

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.write_library(self.library)
        return tag_files(lib, ctx.device, self.paths, self.tag, self.create, self.path_only)


@op("tag.remove", writes=True)
@dataclass(frozen=True)
class TagRemove(Op):
    """Take a tag off files (their content and their entries; with ``path_only``, the
    entries only)."""

    paths: Annotated[tuple, PATHS]
    tag: Annotated[str, NAME]
    path_only: Annotated[bool, Bool()] = False
    library: Annotated[str | None, LIBRARY] = None

    result = record(tag=TAG, files=many(FILE))

    def touches(self) -> Touches | None:
        return Touches(tuple(self.paths), (self.tag,))

    def validate(self, ctx: OpContext) -> None:
        lib = ctx.write_library(self.library)
        _read(lib, self.paths, ctx.device)
        with lib.index() as db:
            find_tag(db, self.tag)

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.write_library(self.library)
        return untag_files(lib, ctx.device, self.paths, self.tag, self.path_only)


@op("file.favourite", writes=True)
@dataclass(frozen=True)
class Favourite(Op):
    """Mark files as favourites (``on``), or unmark them."""

    paths: Annotated[tuple, PATHS]
    on: Annotated[bool, Bool()] = True
    path_only: Annotated[bool, Bool()] = False
    library: Annotated[str | None, LIBRARY] = None

    result = record(favourite=BOOL, files=many(FILE))

    def validate(self, ctx: OpContext) -> None:
        _read(ctx.write_library(self.library), self.paths, ctx.device)

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.write_library(self.library)
        return favourite_files(lib, ctx.device, self.paths, self.on, self.path_only)


@op("file.note", writes=True)
@dataclass(frozen=True)
class Note(Op):
    """Set the note of files, or clear it (``note`` None)."""

    paths: Annotated[tuple, PATHS]
    note: Annotated[str | None, Maybe(NOTE_TEXT)]
    path_only: Annotated[bool, Bool()] = False
    library: Annotated[str | None, LIBRARY] = None

    result = record(note=MAYBE_TEXT, files=many(FILE))

    def validate(self, ctx: OpContext) -> None:
        check_note(self.note)
        _read(ctx.write_library(self.library), self.paths, ctx.device)

    def run(self, ctx: OpContext) -> Any:
        lib = ctx.write_library(self.library)
        return note_files(lib, ctx.device, self.paths, self.note, self.path_only)
