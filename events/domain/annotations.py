"""Annotations: tags, favourites and notes that people put on files. Shared facts, written
by any device about any file of the library, last-writer-wins on ``(hlc, device)``.

An annotation is on a *target*: a content (``contents``: content ids), so every copy of the
file on every device shares it, as Spacedrive's objects do; or one entry (``entries``: the
device holding it and its eid, which survives renames and moves). A file with no content id
(empty, not yet identified, a folder) can only be annotated as an entry. One event names any
number of targets of either kind, so tagging a thousand files is one event.

Each (target, tag) and each (target, field) is its own fact: ``file.tagged`` and
``file.untagged`` set whether the tag is on, ``file.favourited`` and ``file.unfavourited``
whether the file is a favourite, ``file.noted`` its note (``None`` clears it). The later
``(hlc, device)`` wins, whatever order the events arrive in (``projections.annotations``).
"""

from dataclasses import dataclass
from typing import Annotated

from events.domain.catalog import CATALOG
from events.domain.device import DEVICE_ID
from events.domain.entries import BATCH_MAX, EID
from events.shapes import Id, ListOf, Maybe, Record, Text

# A note, in characters: a few paragraphs. (The audit trail records a command's arguments,
# and holds no text longer than 4,096 characters.)
NOTE_MAX = 4096

CONTENTS = ListOf(Id(32), 0, BATCH_MAX)
# An entry: the device holding it and its eid there.
ENTRY = Record((("device", DEVICE_ID), ("eid", EID)))
ENTRIES = ListOf(ENTRY, 0, BATCH_MAX)


@CATALOG.event("file.tagged")
@dataclass(frozen=True, slots=True)
class FileTagged:
    tag: Annotated[bytes, Id()]
    contents: Annotated[tuple, CONTENTS]
    entries: Annotated[tuple, ENTRIES]


@CATALOG.event("file.untagged")
@dataclass(frozen=True, slots=True)
class FileUntagged:
    tag: Annotated[bytes, Id()]
    contents: Annotated[tuple, CONTENTS]
    entries: Annotated[tuple, ENTRIES]


@CATALOG.event("file.favourited")
@dataclass(frozen=True, slots=True)
class FileFavourited:
    contents: Annotated[tuple, CONTENTS]
    entries: Annotated[tuple, ENTRIES]


@CATALOG.event("file.unfavourited")
@dataclass(frozen=True, slots=True)
class FileUnfavourited:
    contents: Annotated[tuple, CONTENTS]
    entries: Annotated[tuple, ENTRIES]


@CATALOG.event("file.noted")
@dataclass(frozen=True, slots=True)
class FileNoted:
    note: Annotated[str | None, Maybe(Text(1, NOTE_MAX))]
    contents: Annotated[tuple, CONTENTS]
    entries: Annotated[tuple, ENTRIES]
