"""THE CENTRAL INVARIANT over the whole index (DESIGN.md): any interleaving of the same events
that keeps each device's order folds to the same digest, equal to a rebuild.

Each of 2-4 devices runs a simulated disk: it adds locations and indexes them, adds files and
folders, modifies, moves, renames and deletes them, removes locations and changes their rules;
devices also edit shared facts (tags, the library's name, tags, favourite marks and notes on
files: on a content, or on an entry of any device) and now and then write events about
another device's locations, which the folds must ignore. Content ids come from a small shared
pool with kinds that disagree between devices, so what derives from several devices' facts (a
content's kind, instance counts, totals) is tested too. Some files are hard links of others
(the same volume and inode, anywhere on the same device): ``sd duplicates`` must count each
file once. The index is checked against the model, not only against itself: what each file
shows, and which files a search by tag or favourite finds, too.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.clock import HybridClock
from events.domain import CATALOG
from events.domain.device import DeviceRegistered
from events.domain.entries import (
    DIR,
    FILE,
    EntriesDeleted,
    EntriesIndexed,
    EntriesModified,
    EntriesMoved,
)
from events.domain.library import LibraryRenamed
from events.domain.locations import (
    LocationAdded,
    LocationOffline,
    LocationOnline,
    LocationRemoved,
    LocationRulesChanged,
    LocationVolumeSeen,
)
from events.domain.tags import TagCreated, TagDeleted, TagRenamed
from events.domain.volumes import VolumeObserved, VolumeUnmounted
from events.envelope import Event
from events.keys import DeviceKey
from events.writer import Draft, LogWriter
from projections.annotations import (
    Annotations,
    annotations_of,
    entry_target,
    favourite_entries,
    tagged_entries,
)
from projections.files.counters import content_key
from projections.files.listings import read_children
from projections.files.places import folders_of
from projections.files.query import (
    content_kind,
    duplicates,
    file_stats,
    folder_owners,
    folder_path,
)
from projections.files.search import Filters, search
from tests.cli.test_properties import (
    ANNOTATIONS,
    NOTES,
    TAG_IDS,
    annotation,
    expected_annotations,
    expected_tags,
    fold,
    interleave,
)
from tests.conftest import examples
from tests.helpers_log import CREATOR, LIBRARY_KEY, founding

# Device 0 created the library and paired the others.
KEYS = [CREATOR] + [DeviceKey.generate() for _ in range(3)]
CIDS = [bytes([i]) * 32 for i in range(1, 6)]
KINDS = ["text", "image", "document", None]
NAMES = [b"a", b"b.txt", b"Report 2024.pdf", b"caf\xc3\xa9", b"\xff\xfe", b"x y", b"IMG_1.jpg"]
RULES = {
    "skip_system": True,
    "skip_git": True,
    "skip_dev": True,
    "skip_hidden": False,
    "gitignore": True,
    "exclude": [],
}
SETTINGS = dict(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@dataclass
class Node:
    """One entry of the simulated disk."""

    parent: int
    name: bytes
    ftype: str
    size: int = 0
    cid: bytes | None = None
    kind: str | None = None
    # The file it is on its device: (volume, inode); hard links share it.
    file: tuple[int, int] = (0, 0)


@dataclass
class Location:
    id: bytes
    path: bytes
    root: int
    nodes: dict[int, Node] = field(default_factory=dict)
    volume: tuple[str, str] | None = None
    offline: str | None = None

    def folders(self) -> list[int]:
        return [e for e, n in self.nodes.items() if n.ftype == DIR]

    def subtree(self, eid: int) -> set[int]:
        out, todo = {eid}, [eid]
        while todo:
            here = todo.pop()
            for child, node in self.nodes.items():
                if node.parent == here and child not in out:
                    out.add(child)
                    todo.append(child)
        return out

    def path_of(self, eid: int) -> bytes:
        parts = []
        while eid != self.root:
            node = self.nodes[eid]
            parts.append(node.name)
            eid = node.parent
        return os.path.join(self.path, *reversed(parts)) if parts else self.path

    def free_name(self, folder: int, wanted: bytes) -> bytes:
        taken = {n.name for n in self.nodes.values() if n.parent == folder}
        name, i = wanted, 0
        while name in taken:
            i += 1
            name = wanted + b"-" + str(i).encode()
        return name


@dataclass
class Device:
    index: int
    writer: LogWriter
    events: list[Event] = field(default_factory=list)
    locations: dict[bytes, Location] = field(default_factory=dict)
    next_eid: int = 0
    # The last inode number each volume gave a file.
    inodes: dict[int, int] = field(default_factory=dict)

    def eid(self) -> int:
        self.next_eid += 1
        return self.next_eid

    def write(self, drafts: list[Draft]) -> None:
        if drafts:
            self.events.extend(self.writer.build(drafts))


def _file_fields(draw: st.DrawFn) -> tuple[int, bytes | None, str | None]:
    cid = draw(st.sampled_from([*CIDS, None]))
    # Few sizes: the same content (and size) on several files, copies or links, is common.
    return draw(st.sampled_from([0, 7, 4096, 5000])), cid, draw(st.sampled_from(KINDS))


def _step(draw: st.DrawFn, dev: Device, everyone: list[Device]) -> None:
    """One thing a device does, applied to its model and written as its events."""
    action = draw(
        st.sampled_from(
            ["add_location", "index", "index", "modify", "move", "delete", "remove_location"]
            + ["rules", "tag", "library", "volume", "presence", "foreign"]
            + ["annotate"] * 5
        )
    )
    live = list(dev.locations.values())
    if action == "add_location" or (not live and action in ("index", "modify", "move", "delete")):
        loc = Location(os.urandom(16), b"/d%d/loc%d" % (dev.index, len(dev.locations)), dev.eid())
        dev.locations[loc.id] = loc
        dev.write(
            [
                CATALOG.body(LocationAdded(loc.id, loc.path, "loc", RULES)),
                CATALOG.body(
                    EntriesIndexed(
                        loc.id, ((loc.root, 0, b"root", DIR, 0, 0, 1, None, None, None, 1),)
                    )
                ),
            ]
        )
        return
    if action == "index":
        loc = draw(st.sampled_from(live))
        items = []
        for _ in range(draw(st.integers(1, 5))):
            parent = draw(st.sampled_from([loc.root, *loc.folders()]))
            name = loc.free_name(parent, draw(st.sampled_from(NAMES)))
            eid = dev.eid()
            files = [n for other in live for n in other.nodes.values() if n.ftype == FILE]
            if files and draw(st.integers(0, 3)) == 0:
                # A hard link to a file of this device, in this location or another.
                same = draw(st.sampled_from(files))
                node = Node(parent, name, FILE, same.size, same.cid, same.kind, same.file)
                loc.nodes[eid] = node
                items.append(
                    (eid, parent, name, FILE, node.size, 1, node.file[1], node.kind, node.cid,
                     None, node.file[0])
                )  # fmt: skip
            elif draw(st.booleans()):
                size, cid, kind = _file_fields(draw)
                # Two volumes, each numbering its inodes from 1: the same numbers on both,
                # which only the volume tells apart.
                volume = draw(st.integers(1, 2))
                dev.inodes[volume] = dev.inodes.get(volume, 0) + 1
                file = (volume, dev.inodes[volume])
                loc.nodes[eid] = Node(parent, name, FILE, size, cid, kind, file)
                items.append((eid, parent, name, FILE, size, 1, file[1], kind, cid, None, file[0]))
            else:
                loc.nodes[eid] = Node(parent, name, DIR)
                items.append((eid, parent, name, DIR, 0, 1, eid, None, None, None, 1))
        dev.write([CATALOG.body(EntriesIndexed(loc.id, tuple(items)))])
    elif action == "modify":
        loc = draw(st.sampled_from(live))
        files = [e for e, n in loc.nodes.items() if n.ftype == FILE]
        if files:
            items = []
            for eid in draw(st.lists(st.sampled_from(files), min_size=1, max_size=3, unique=True)):
                node = loc.nodes[eid]
                node.size, node.cid, node.kind = _file_fields(draw)
                items.append(
                    (eid, node.parent, node.size, 2, node.file[1], node.kind, node.cid,
                     node.file[0])
                )  # fmt: skip
            dev.write([CATALOG.body(EntriesModified(loc.id, tuple(items)))])
    elif action == "move":
        loc = draw(st.sampled_from(live))
        if loc.nodes:
            eid = draw(st.sampled_from(sorted(loc.nodes)))
            node = loc.nodes[eid]
            targets = [f for f in [loc.root, *loc.folders()] if f not in loc.subtree(eid)]
            parent = draw(st.sampled_from(targets))
            name = loc.free_name(parent, draw(st.sampled_from(NAMES)))
            old = node.parent
            node.parent, node.name = parent, name
            dev.write([CATALOG.body(EntriesMoved(loc.id, ((eid, old, parent, name),)))])
    elif action == "delete":
        loc = draw(st.sampled_from(live))
        if loc.nodes:
            eid = draw(st.sampled_from(sorted(loc.nodes)))
            parent = loc.nodes[eid].parent
            for gone in loc.subtree(eid):
                del loc.nodes[gone]
            dev.write([CATALOG.body(EntriesDeleted(loc.id, ((eid, parent),)))])
    elif action == "remove_location" and live:
        loc = draw(st.sampled_from(live))
        del dev.locations[loc.id]
        dev.write([CATALOG.body(LocationRemoved(loc.id))])
    elif action == "rules" and live:
        loc = draw(st.sampled_from(live))
        dev.write([CATALOG.body(LocationRulesChanged(loc.id, {**RULES, "skip_hidden": True}))])
    elif action == "presence" and live:
        loc = draw(st.sampled_from(live))
        seen = draw(st.sampled_from(["volume", "offline", "online"]))
        if seen == "volume":
            loc.volume = (f"vol{draw(st.integers(0, 1))}", draw(st.sampled_from(["/a", "/b"])))
            dev.write([CATALOG.body(LocationVolumeSeen(loc.id, *loc.volume))])
        elif seen == "offline":
            loc.offline = draw(st.sampled_from(["unmounted", "missing"]))
            dev.write([CATALOG.body(LocationOffline(loc.id, loc.offline))])
        else:
            loc.offline = None
            dev.write([CATALOG.body(LocationOnline(loc.id))])
    elif action == "tag":
        tag = draw(st.sampled_from(TAG_IDS[:2]))
        kind = draw(st.sampled_from([TagCreated, TagRenamed, TagDeleted]))
        name = draw(st.sampled_from(["red", "blue"]))
        typed = {
            TagCreated: lambda: TagCreated(tag, name, None),
            TagRenamed: lambda: TagRenamed(tag, name),
            TagDeleted: lambda: TagDeleted(tag),
        }[kind]()
        dev.write([CATALOG.body(typed)])
    elif action == "annotate":
        # Shared facts on files: on contents of the pool, on entries of any device (some
        # gone since, some moved or changed since), whatever this device has seen of them.
        nodes = [(d.index, eid, node) for d in everyone for loc in d.locations.values()
                 for eid, node in loc.nodes.items()]  # fmt: skip
        held = sorted({node.cid for *_, node in nodes if node.cid})
        contents = draw(st.lists(st.sampled_from(held + CIDS[:2]), max_size=2))
        on = draw(st.lists(st.sampled_from([n[:2] for n in nodes]), max_size=2)) if nodes else []
        kind, tag = draw(st.sampled_from(ANNOTATIONS)), draw(st.integers(0, 1))
        drafts = []
        if kind == "tag" and draw(st.booleans()):  # as 'sd tag add --create' does
            drafts.append(
                CATALOG.body(TagCreated(TAG_IDS[tag], draw(st.sampled_from(["red", "blue"])), None))
            )
        typed = annotation(kind, tag, contents, on, draw(st.sampled_from(NOTES)))
        dev.write([*drafts, CATALOG.body(typed)])
    elif action == "library":
        dev.write([CATALOG.body(LibraryRenamed(draw(st.sampled_from(["Home", "Family"]))))])
    elif action == "volume":
        volume = f"vol{draw(st.integers(0, 1))}"
        if draw(st.booleans()):
            observed = VolumeObserved(
                volume, "disk", "/mnt", "/dev/sda", "ext4", "external", 9, 1, False
            )
            dev.write([CATALOG.body(observed)])
        else:
            dev.write([CATALOG.body(VolumeUnmounted(volume))])
    elif action == "foreign":
        # Events about another device's location: the folds must ignore every one.
        others = [loc for d in everyone if d is not dev for loc in d.locations.values()]
        if others:
            loc = draw(st.sampled_from(others))
            bogus = (dev.eid(), loc.root, b"hijack", FILE, 1, 1, 1, "text", CIDS[0], None, 1)
            dev.write(
                [
                    CATALOG.body(EntriesIndexed(loc.id, (bogus,))),
                    CATALOG.body(EntriesDeleted(loc.id, ((loc.root, 0),))),
                    CATALOG.body(LocationRulesChanged(loc.id, {**RULES, "exclude": ["*"]})),
                    CATALOG.body(LocationVolumeSeen(loc.id, "hijack", "/hijack")),
                    CATALOG.body(LocationOffline(loc.id, "hijacked")),
                    CATALOG.body(LocationRemoved(loc.id)),
                ]
            )


@dataclass
class World:
    devices: list[Device]

    @property
    def histories(self) -> list[list[Event]]:
        return [d.events for d in self.devices]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    count = draw(st.integers(2, 4))
    devices = []
    for i in range(count):
        wall = 1_700_000_000_000 + draw(st.integers(-5000, 5000))
        clock = HybridClock(wall=lambda wall=wall: wall)
        dev = Device(i, LogWriter(KEYS[i], clock, LIBRARY_KEY))
        first = [CATALOG.body(DeviceRegistered(f"dev{i}", "host", "os"))]
        if i == 0:
            first.extend(founding(KEYS[1:count]))
        dev.write(first)
        devices.append(dev)
    for _ in range(draw(st.integers(1, 25))):
        dev = devices[draw(st.integers(0, count - 1))]
        _step(draw, dev, devices)
    return World(devices)


@dataclass
class _History:
    devices: list[list[Event]]


def expected_entries(world: World) -> Counter:
    """What the index must hold: every live entry of every device's live locations."""
    out: Counter = Counter()
    for dev in world.devices:
        for loc in dev.locations.values():
            for eid, node in loc.nodes.items():
                out[
                    (
                        KEYS[dev.index].public,
                        loc.path_of(eid),
                        node.ftype,
                        node.size,
                        node.cid,
                        node.kind,
                    )
                ] += 1
    return out


def indexed_entries(db: Any) -> Counter:
    out: Counter = Counter()
    for folder, blob, device in db.execute(
        "SELECT l.folder, l.children, d.device FROM listings l JOIN devs d ON d.idx = l.folder >> 40"
    ):
        where = folder_path(db, folder)
        assert where is not None, "a listing of a folder the index does not hold"
        for c in read_children(blob):
            out[(device, os.path.join(where, c.name), c.ftype, c.size, c.cid, c.kind)] += 1
    return out


def expected_duplicates(world: World) -> dict[tuple[bytes, int], list[list[bytes]]]:
    """Each content held by several files: the files' paths (one file: one device, volume
    and inode, whatever its paths)."""
    groups: dict[tuple[bytes, int], dict[tuple[int, int, int], list[bytes]]] = {}
    for dev in world.devices:
        for loc in dev.locations.values():
            for eid, node in loc.nodes.items():
                if node.ftype == FILE and node.cid and node.size:
                    files = groups.setdefault((node.cid, node.size), {})
                    files.setdefault((dev.index, *node.file), []).append(loc.path_of(eid))
    return {
        key: sorted(sorted(paths) for paths in files.values())
        for key, files in groups.items()
        if len(files) > 1
    }


def expected_contents(world: World) -> dict[tuple[int, int], dict[str, int]]:
    counts: dict[tuple[int, int], dict[str, int]] = {}
    for dev in world.devices:
        for loc in dev.locations.values():
            for node in loc.nodes.values():
                if node.ftype == FILE and node.cid:
                    kinds = counts.setdefault((content_key(node.cid), node.size), {})
                    kinds[node.kind or ""] = kinds.get(node.kind or "", 0) + 1
    return counts


def expected_shown(world: World) -> dict[tuple[bytes, int], Annotations]:
    """What each live file must show: the tags (live ones, by name) on its content or its
    entry, a favourite if either is one, its entry's note before its content's."""
    events = [ev for dev in world.devices for ev in dev.events]
    facts = expected_annotations(events)
    names = {tag: name for tag, name, _ in expected_tags(events)}
    out = {}
    for dev in world.devices:
        device = KEYS[dev.index].public
        for loc in dev.locations.values():
            for eid, node in loc.nodes.items():
                own = entry_target(device, eid)
                targets = [own, *([node.cid] if node.cid else [])]
                tags = {
                    names[tag]
                    for (target, tag), on in facts.tags.items()
                    if on and target in targets and tag in names
                }
                note = facts.notes.get(own)
                if note is None and node.cid:
                    note = facts.notes.get(node.cid)
                shown = Annotations(
                    tuple(sorted(tags)),
                    any(facts.favourites.get(t, False) for t in targets),
                    note,
                )
                if shown != Annotations((), False, None):
                    out[(device, eid)] = shown
    return out


def live_files(world: World) -> list[tuple[bytes, int, bytes | None]]:
    return [
        (KEYS[dev.index].public, eid, node.cid)
        for dev in world.devices
        for loc in dev.locations.values()
        for eid, node in loc.nodes.items()
    ]


def found_by(db: Any, entries: frozenset[int]) -> set[tuple[bytes, int]]:
    """The files a search for ``entries`` (and nothing else) lists, as (device, eid)."""
    hits = search(db, "", Filters(entries=entries), limit=10_000)
    owners = folder_owners(db, (h.folder for h in hits))
    return {(owners[h.folder].device, h.entry & ((1 << 40) - 1)) for h in hits}


def check_annotations(db: Any, world: World) -> None:
    """What each file shows, and the files a search by each tag and by favourites finds."""
    shown = expected_shown(world)
    assert annotations_of(db, live_files(world)) == shown
    events = [ev for dev in world.devices for ev in dev.events]
    facts = expected_annotations(events)
    for tag in TAG_IDS[:2]:
        assert found_by(db, tagged_entries(db, [tag])) == {
            (device, eid)
            for device, eid, cid in live_files(world)
            if facts.tags.get((entry_target(device, eid), tag)) or facts.tags.get((cid, tag))
        }
    assert found_by(db, favourite_entries(db)) == {k for k, s in shown.items() if s.favourite}


def check_places(db: Any) -> None:
    """Every entry a listing holds is placed in that folder, and no other is placed."""
    held = {}
    for folder, blob in db.execute("SELECT folder, children FROM listings"):
        for c in read_children(blob):
            held[(folder & ~((1 << 40) - 1)) | c.eid] = folder
    assert folders_of(db, held) == held
    top = db.execute("SELECT coalesce(max(idx), 0), coalesce(max(max_eid), 0) FROM devs").fetchone()
    every = [(idx << 40) | eid for idx in range(1, top[0] + 1) for eid in range(1, top[1] + 1)]
    assert set(folders_of(db, every)) == set(held)


def check_holders(db: Any, world: World) -> None:
    """Every content an annotation named is watched, and its holders are the entries the
    listings hold it in, each as many times as they do."""
    named = {
        cid
        for dev in world.devices
        for ev in dev.events
        if ev.type.startswith("file.")
        for cid in CATALOG.typed(ev).contents
    }
    assert {cid for (cid,) in db.execute("SELECT cid FROM watched")} == named
    held: Counter = Counter()
    for folder, blob in db.execute("SELECT folder, children FROM listings"):
        for c in read_children(blob):
            if c.cid in named:
                held[(c.cid, (folder & ~((1 << 40) - 1)) | c.eid)] += 1
    assert dict(held) == {(c, e): n for c, e, n in db.execute("SELECT cid, entry, n FROM holders")}


@settings(max_examples=examples(120), **SETTINGS)
@given(
    world=worlds(),
    orders=st.lists(st.lists(st.integers(0, 3), max_size=80), min_size=2, max_size=3),
    cuts=st.lists(st.integers(min_value=0), max_size=5),
)
def test_any_interleaving_of_whole_devices_folds_to_the_same_index(
    world: World, orders: list[list[int]], cuts: list[int]
) -> None:
    history = _History(world.histories)
    arrivals = [interleave(history, picks) for picks in orders]  # type: ignore[arg-type]
    runners = [fold(order, cuts) for order in arrivals]
    runners.append(fold(arrivals[0]))  # a rebuild: the whole log in one batch
    # A node folding each event as it comes: what each fold keeps up for later ones (the
    # holders of watched contents) is kept at every step.
    runners.append(fold(arrivals[0], range(len(arrivals[0]))))
    digests = {r.digest() for r in runners}
    assert len(digests) == 1, "two arrival orders of the same events folded differently"
    db = runners[0].db
    # ...and the index is the disks' state, not merely the same on every device.
    assert indexed_entries(db) == expected_entries(world)
    assert {
        (device, location): (volume, mount_point, offline)
        for device, location, volume, mount_point, offline in db.execute(
            "SELECT device, location, volume, mount_point, offline FROM locations"
        )
    } == {
        (KEYS[dev.index].public, loc.id): (*(loc.volume or (None, None)), loc.offline)
        for dev in world.devices
        for loc in dev.locations.values()
    }
    contents: dict[tuple[int, int], dict[str, int]] = {}
    for key, size, kind, instances in db.execute("SELECT id, size, kind, instances FROM contents"):
        contents.setdefault((key, size), {})[kind] = instances
    assert contents == expected_contents(world)
    for kinds in contents.values():
        assert content_kind(kinds) == content_kind(dict(sorted(kinds.items(), reverse=True)))
    assert {(g.cid, g.size): g.files for g in duplicates(db)} == expected_duplicates(world)
    for r in runners:
        check_annotations(r.db, world)
        check_holders(r.db, world)
    check_places(db)
    stats = file_stats(db)
    live = expected_entries(world)
    assert stats.files == sum(n for (_, _, t, *_), n in live.items() if t == FILE)
    assert stats.dirs == sum(n for (_, _, t, *_), n in live.items() if t == DIR) + sum(
        len(d.locations) for d in world.devices
    )
    for r in runners:
        r.close()
