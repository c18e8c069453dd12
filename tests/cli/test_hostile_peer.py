"""A paired device that means harm, as the first device meets it: through ``sd log import``.

The hostile device is built from the project's own modules with a key of its own, and signs
everything it sends properly: only the body checks and the ownership rules stand between it
and the first device's data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from events.clock import HybridClock
from events.domain import CATALOG
from events.domain.device import DeviceRegistered
from events.domain.entries import FILE, EntriesIndexed
from events.domain.locations import LocationAdded, LocationRemoved, LocationRulesChanged
from events.envelope import library_key
from events.exportfile import ExportHeader
from events.keys import DeviceKey
from events.writer import Draft, LogWriter
from tests.conftest import Sd
from tests.helpers_log import pair_offline, run_each, wire, write_export_file
from tests.helpers_tree import write

EVERYTHING_EXCLUDED = {
    "skip_system": True,
    "skip_git": True,
    "skip_dev": True,
    "skip_hidden": True,
    "gitignore": True,
    "exclude": ["*"],
}


@dataclass
class World:
    home: Sd
    tree: Path
    library: bytes
    location: dict[str, Any]
    root_eid: int
    hostile: LogWriter
    tmp: Path

    def send(self, name: str, drafts: list[Draft]) -> Path:
        """The hostile device's next events, as an export file of the library."""
        path = self.tmp / f"{name}.sdlog"
        events = self.hostile.build(drafts)
        write_export_file(path, ExportHeader(self.library, "Home", len(events)), wire(events))
        return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp("hostile")
    tree = tmp / "tree"
    for rel in ("a.txt", "docs/report.pdf", "docs/notes.md", "music/song.mp3"):
        write(tree, rel, f"content of {rel}\n" * 20)
    home = Sd(tmp / "home")
    lib = home.json("library", "create", "Home")
    home.json("location", "add", str(tree))
    location = home.json("location", "list")[0]
    shown = home.run("--json", "log", "show", "--type", "entries.indexed").json_lines()
    root_eid = next(item[0] for item in shown[0]["body"]["entries"] if item[1] == 0)
    library = bytes.fromhex(lib["id"])
    hostile = LogWriter(DeviceKey.generate(), HybridClock(), library_key(library))
    world = World(home, tree, library, location, root_eid, hostile, tmp)
    # A paired device (the library's admin let it in) that turns hostile.
    pair_offline(home.data_dir, hostile.key.public, "mallory")
    first = world.send("hello", [CATALOG.body(DeviceRegistered("mallory", "evil", "linux"))])
    home.run("log", "import", str(first))
    return world


def entry(eid: int, parent: int, name: bytes) -> tuple:
    return (eid, parent, name, FILE, 5, 1, 99, "text", os.urandom(32), None, 1)


def snapshot(sd: Sd) -> list[Any]:
    return [
        r.out
        for r in run_each(
            *(
                (sd, ["--json", *args])
                for args in (
                    ["location", "list"],
                    ["stats"],
                    ["ls", str(sd_tree(sd))],
                    ["search", "hijack"],
                    ["projections", "digest"],
                )
            )
        )
    ]


def sd_tree(sd: Sd) -> Path:
    return sd.data_dir.parent / "tree"


@pytest.mark.parametrize(
    "why, drafts, reason",
    [
        (
            "an entries.indexed item of 3 fields",
            lambda w: [("entries.indexed", 2, {"location": b"L" * 16, "entries": ((1, 2, 3),)})],
            "entries[0]: (1, 2, 3) is not an array of 11 fields",
        ),
        (
            "a tag id that is a map",
            lambda w: [("tag.created", 1, {"tag": {"a": 1}, "name": "x", "color": None})],
            "tag: {'a': 1} is not bytes",
        ),
        (
            "a path that climbs out of its folder",
            lambda w: [
                CATALOG.body(
                    EntriesIndexed(
                        bytes.fromhex(w.location["id"]),
                        (entry(10**6, w.root_eid, b"../../../etc/passwd"),),
                    )
                )
            ],
            "is not one path component",
        ),
        (
            "a library.created of another library",
            lambda w: [
                (
                    "library.created",
                    1,
                    {"library": b"\x01" * 16, "name": "Evil", "nonce": b"n" * 16},
                )
            ],
            "it creates library 0101",
        ),
        (
            "a library.created of this library by another device than its creator",
            lambda w: [
                ("library.created", 1, {"library": w.library, "name": "Evil", "nonce": b"n" * 16})
            ],
            "not written by the device that created this library",
        ),
    ],
)
def test_a_malformed_body_is_refused_and_nothing_of_its_batch_is_written(
    world: World, why: str, drafts: Any, reason: str
) -> None:
    home = world.home
    before = home.json("log", "stats")
    # A valid event first: the batch goes or stays whole.
    good = CATALOG.body(DeviceRegistered("mallory", "evil", "linux"))
    writer_state = (world.hostile.seq, world.hostile.prev)
    path = world.send("bad", [good, *drafts(world)])
    world.hostile.rewind(*writer_state)  # what was refused never happened for the others
    line = home.fails("log", "import", str(path)).err.strip()
    assert "\n" not in line and reason in line and "record 2" in line, (why, line)
    assert "nothing was written" in line
    assert home.json("log", "stats") == before
    # ...and the library is fully usable.
    for args in (["tag", "list"], ["stats"], ["location", "list"], ["log", "verify"]):
        home.run("--json", *args)
    home.run("tag", "create", f"after {why}")


def test_another_devices_events_cannot_touch_my_location(world: World) -> None:
    home, loc_id = world.home, bytes.fromhex(world.location["id"])
    before = snapshot(home)
    path = world.send(
        "hijack",
        [
            CATALOG.body(LocationRulesChanged(loc_id, EVERYTHING_EXCLUDED)),
            CATALOG.body(EntriesIndexed(loc_id, (entry(10**6, world.root_eid, b"hijack.txt"),))),
            CATALOG.body(LocationRemoved(loc_id)),
            # Its "own" location under my location's id: a location of its own, nothing more.
            CATALOG.body(LocationAdded(loc_id, b"/etc", "etc", EVERYTHING_EXCLUDED)),
        ],
    )
    imported = home.json("log", "import", str(path))
    assert imported["accepted"] == 4
    after = snapshot(home)
    locations = home.json("location", "list")
    mine = [loc for loc in locations if loc["device"] == world.location["device"]]
    assert mine == [world.location]  # same path, same rules
    assert after[1:4] == before[1:4]  # stats, ls, search: untouched
    assert "hijack" not in after[2] and home.json("search", "hijack") == []
    # A rescan finds the disk as it was: nothing to create, nothing to delete.
    rescan = home.json("location", "rescan", str(world.tree))
    assert (rescan["created"], rescan["deleted"], rescan["modified"]) == (0, 0, 0)
    # verify names each event that touched what is not its device's.
    verify = home.run("--json", "log", "verify", check=False)
    assert verify.code == 1
    report = verify.json()
    assert report["problems"] == []
    flagged = {(v["type"], v["kind"]) for v in report["ownership_violations"]}
    assert flagged == {
        ("location.rules_changed", "location"),
        ("entries.indexed", "location"),
        ("location.removed", "location"),
        ("location.added", "location"),
    }
    text = home.run("log", "verify", check=False).out
    assert text.count("NOT OWNER") == 4
    # The index is what a rebuild makes of the log.
    digest = home.json("projections", "digest")["digest"]
    assert home.json("projections", "rebuild")["digest"] == digest


def test_the_cli_refuses_to_change_another_devices_location(world: World) -> None:
    home = world.home
    locations = home.json("location", "list")
    theirs = next(loc for loc in locations if loc["device"] != world.location["device"])
    assert theirs["path"] == "/etc"
    for args in (
        ["location", "rescan", "/etc"],
        ["location", "remove", "/etc"],
        ["location", "rules", "etc", "--no-hidden"],
    ):
        line = home.fails(*args).err.strip()
        assert "\n" not in line and "belongs to device mallory" in line, line
    assert home.json("location", "list") == locations
