"""``sd why PATH``: whether a path is in the index, and if not, what kept it out.

The answer follows the way an entry comes in: a location of some device holds the path; that
device's walk lists each folder from the location's root down (``open_folder``, as the walk
does), keeps or skips each child by the location's rules (``FolderRules.excluded_by``: the
very decision the walk applies), and commits ``entries.indexed``; the event reaches this
device and is folded. So the first step that fails on the way down is the reason, and for an
entry that did come in, the event that brought it is found in its device's log by the
entry's eid (eids are never reused).

The disk is only consulted for locations of this device: another device's disk is not here
to look at, so for its locations the answer is what its events have (or have not) said.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from events.clock import hlc_ms
from events.domain import CATALOG
from events.domain.entries import EntriesIndexed, EntriesMoved
from events.envelope import Event
from projections.devices import device_names
from projections.files.query import LocationRow, location_for_path, locations, resolve
from projections.jobs import jobs_of
from sdactors.indexer.rules import Matcher, Rules
from sdactors.indexer.walk import open_folder
from sdactors.runtime.paths import FileId, show, text
from sdactors.volumes.presence import look

if TYPE_CHECKING:
    from sdactors.library.reader import LibraryReader

# Reasons, as --json gives them.
INDEXED = "indexed"
OUTSIDE = "outside_locations"
EXCLUDED = "excluded"
UNREADABLE = "unreadable"
MISSING = "missing"
OFFLINE = "offline"
NOT_RECEIVED = "not_received"
PENDING = "not_indexed_yet"
# The rule that keeps the data directory out (the others are the location's rules).
DATA_DIR = "data_dir"


def _time(hlc: int) -> str:
    try:
        return datetime.fromtimestamp(hlc_ms(hlc) / 1000, timezone.utc).isoformat()
    except (OverflowError, ValueError, OSError):
        return f"hlc {hlc}"


@dataclass(frozen=True, slots=True)
class Since:
    """The event that brought an entry in (or to where it is now)."""

    pos: int
    time: str
    type: str
    device: bytes
    seq: int

    @classmethod
    def of(cls, ev: Event) -> "Since":
        assert ev.pos is not None
        return cls(ev.pos, _time(ev.hlc), ev.type, ev.device, ev.seq)

    def as_json(self) -> dict[str, Any]:
        return {
            "pos": self.pos,
            "time": self.time,
            "type": self.type,
            "device": self.device.hex(),
            "seq": self.seq,
        }


@dataclass(frozen=True, slots=True)
class Why:
    path: bytes
    reason: str
    detail: str
    device: bytes | None = None
    device_name: str | None = None
    location: LocationRow | None = None
    since: Since | None = None
    moved: Since | None = None
    rule: str | None = None

    @property
    def indexed(self) -> bool:
        return self.reason == INDEXED

    def as_json(self) -> dict[str, Any]:
        loc = self.location
        return {
            "path": text(self.path),
            "indexed": self.indexed,
            "reason": self.reason,
            "detail": self.detail,
            "rule": self.rule,
            "device": self.device.hex() if self.device else None,
            "device_name": self.device_name,
            "since": self.since.as_json() if self.since else None,
            "moved": self.moved.as_json() if self.moved else None,
            "location": (
                {
                    "id": loc.location.hex(),
                    "name": loc.name,
                    "path": text(loc.path),
                    "device": loc.device.hex(),
                }
                if loc is not None
                else None
            ),
        }


def _arrivals(
    lib: "LibraryReader", loc: LocationRow, eid: int
) -> tuple[Since | None, Since | None]:
    """The ``entries.indexed`` that brought entry ``eid`` of ``loc`` in, and the last
    ``entries.moved`` that took it where it is (None if it never moved): one streamed pass
    over that device's entry events."""
    indexed = moved = None
    store = lib.log()
    try:
        for ev in store.read(type_prefix="entries.", device=loc.device):
            if ev.type not in ("entries.indexed", "entries.moved"):
                continue
            typed = CATALOG.typed(ev)
            if getattr(typed, "location", None) != loc.location:
                continue
            if isinstance(typed, EntriesIndexed):
                if indexed is None and any(item[0] == eid for item in typed.entries):
                    indexed = Since.of(ev)
            elif isinstance(typed, EntriesMoved):
                if any(item[0] == eid for item in typed.moves):
                    moved = Since.of(ev)
    finally:
        store.close()
    return indexed, moved


def _found(lib: "LibraryReader", db: sqlite3.Connection, path: bytes, device: bytes) -> Why | None:
    """The path as indexed on ``device``, with the events that brought it, if it is."""
    found = resolve(db, path, device)
    if found is None:
        return None
    loc = found.location
    assert loc.root is not None
    since, moved = _arrivals(lib, loc, found.eid)
    name = device_names(db).get(device)
    where = f"since pos {since.pos} ({since.type}, {since.time})" if since else ""
    return Why(
        path,
        INDEXED,
        f"in location {loc.name!r} of device {name or device.hex()[:10]} {where}".rstrip(),
        device,
        name,
        loc,
        since,
        moved,
    )


def _last_scan(db: sqlite3.Connection, loc: LocationRow) -> str | None:
    done = [
        job
        for job in jobs_of(db, device=loc.device, states=("completed",))
        if job.location == loc.location
    ]
    return _time(done[-1].updated) if done else None


def _on_disk(
    db: sqlite3.Connection, path: bytes, loc: LocationRow, data: tuple[bytes, FileId] | None
) -> tuple[str, str, str | None]:
    """Why the walk of ``loc`` (a location of this device) did not bring ``path`` in:
    ``(reason, detail, rule)``. Walks down from the root as the indexer does, which never
    enters ``data`` (the data directory: its path, its identity)."""
    where = f"location {loc.name!r}"
    presence = look(loc)
    offline = loc.offline or presence.offline
    if offline:
        return OFFLINE, f"{where} is offline: {offline}", None
    matcher = Matcher(Rules.from_dict(json.loads(loc.rules)))
    rules = matcher.folder_on_disk(loc.path, b"", None)
    folder, rel = loc.path, b""
    parts = [p for p in path[len(loc.path) :].split(b"/") if p]
    for i, part in enumerate(parts):
        try:
            os.close(open_folder(folder))
        except OSError as exc:
            return UNREADABLE, f"the folder {show(folder)} cannot be read: {exc.strerror}", None
        child = os.path.join(folder, part)
        try:
            st = os.lstat(child)
        except FileNotFoundError:
            return MISSING, f"{show(child)} does not exist on disk", None
        except OSError as exc:
            return UNREADABLE, f"{show(child)} cannot be read: {exc.strerror}", None
        is_dir = stat.S_ISDIR(st.st_mode)
        excluded = rules.excluded_by(part, is_dir)
        what = "it" if child == path else f"its folder {show(child)}"
        if excluded is not None:
            return EXCLUDED, f"{what} is skipped by {where}: {excluded.detail}", excluded.rule
        if is_dir and data is not None and FileId.of(st) == data[1]:
            seen = "" if child == data[0] else f" ({show(data[0])}, seen through another path)"
            detail = f"{show(child)} is sdactors' own data directory{seen}, never indexed"
            return EXCLUDED, f"{what} is skipped by {where}: {detail}", DATA_DIR
        if i + 1 == len(parts):
            break
        if not is_dir:
            return MISSING, f"{show(child)} is not a folder", None
        rel = os.path.join(rel, part) if rel else part
        rules = matcher.folder_on_disk(child, rel, rules)
        folder = child
    if loc.root is None:
        return PENDING, f"{where} has not been indexed yet", None
    scanned = _last_scan(db, loc)
    after = f" (last scan finished {scanned})" if scanned else ""
    return PENDING, f"not indexed yet: a rescan of {where} will add it{after}", None


def why(lib: "LibraryReader", path: bytes, mine: bytes) -> Why:
    """Where ``path`` (absolute, bytes) is indexed, or what kept it out."""
    with lib.index() as db:
        holders = sorted({loc.device for loc in locations(db)} - {mine})
        for device in (mine, *holders):
            found = _found(lib, db, path, device)
            if found is not None:
                return found
        own = location_for_path(db, path, mine)
        if own is not None:
            reason, detail, rule = _on_disk(db, path, own, lib.config.paths.data_dir_id())
            return Why(path, reason, detail, mine, None, own, rule=rule)
        names = device_names(db)
        for device in holders:
            theirs = location_for_path(db, path, device)
            if theirs is not None:
                name = names.get(device) or device.hex()[:10]
                return Why(
                    path,
                    NOT_RECEIVED,
                    f"location {theirs.name!r} of device {name} holds it, but no event of "
                    f"{name} has brought it into the index here: not yet received from {name}",
                    device,
                    names.get(device),
                    theirs,
                )
    return Why(path, OUTSIDE, "it is not under any location of any device")
