"""Three devices sharing one library, as its users run them: real ``sd node run`` processes
on 127.0.0.1, paired with ``sd pair``, each indexing its own folder, edited while one of
them is down, killed in the middle of a sync, and refusing devices they should refuse."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from events.exportfile import ExportHeader
from tests.conftest import Sd
from tests.helpers_cluster import Peer, device, in_sync, pair, running, until
from tests.helpers_log import pair_offline, tag_drafts, wire, write_export_file, writer
from tests.helpers_tree import TreeCache, write

pytestmark = pytest.mark.slow

SYNCED_WITHIN_S = 30.0


def names(sd: Sd, query: str) -> dict[str, str]:
    """path -> name of the device holding it, for every hit of ``query``."""
    return {h["path"]: h["device_name"] for h in sd.json("search", query, "--limit", "1000")}


def tags(sd: Sd) -> list[str]:
    return sorted(t["name"] for t in sd.json("tag", "list"))


def test_three_devices_find_each_others_files_and_converge_after_a_partition(
    tmp_path: Path,
) -> None:
    a, b, c = (device(tmp_path, n) for n in ("ash", "birch", "cedar"))
    a.json("library", "create", "Home")
    peers = [Peer(sd, tmp_path / f"{sd.data_dir.name}.log") for sd in (a, b, c)]
    with running(*peers):
        joined_b = pair(a, b)
        assert joined_b["created"] is True and joined_b["library_name"] == "Home"
        pair(a, c, "--expires", "2m")
        # Each device indexes a folder of its own.
        folders = {}
        for sd in (a, b, c):
            root = tmp_path / f"disk-{sd.data_dir.name}"
            for i in range(30):
                write(root, f"docs/{sd.data_dir.name}-note-{i}.txt", f"{sd.data_dir.name} {i}\n")
            sd.json("location", "add", str(root))
            folders[sd.data_dir.name] = root

        def everyone_finds_everything() -> bool:
            return all(len(names(sd, "note")) == 90 for sd in (a, b, c))

        until(everyone_finds_everything, SYNCED_WITHIN_S, "every device finds all 90 notes")
        hits = names(c, "ash-note-7")
        assert hits == {str(folders["ash"] / "docs" / "ash-note-7.txt"): "ash"}
        assert set(names(a, "note").values()) == {"ash", "birch", "cedar"}
        listing = b.json("ls", str(folders["cedar"] / "docs"))
        assert len(listing) == 30 and {e["device_name"] for e in listing} == {"cedar"}
        until(lambda: in_sync(a, b, c), SYNCED_WITHIN_S, "equal digests")

        devices = {d["name"]: d for d in a.json("device", "list")}
        assert set(devices) == {"ash", "birch", "cedar"}
        assert devices["ash"]["this_device"] and devices["birch"]["paired"]
        status = {s["name"]: s for s in a.json("sync", "status")}
        assert set(status) == {"birch", "cedar"}
        until(
            lambda: all(
                s["connected"] and s["behind"] == 0 and s["ahead"] == 0 and s["reason"] is None
                for s in a.json("sync", "status")
            ),
            SYNCED_WITHIN_S,
            "ash in sync with both",
        )

        # A partition: cedar is down while ash and birch edit shared facts; then cedar
        # alone (the others down) edits the same tag without having seen their edits.
        for name in ("red", "green", "blue"):
            a.json("tag", "create", name)
        until(lambda: tags(c) == ["blue", "green", "red"], SYNCED_WITHIN_S, "tags reach cedar")
        peers[2].stop()
        a.json("tag", "rename", "red", "crimson")
        b.json("tag", "delete", "green")
        a.json("tag", "create", "violet")
        until(lambda: in_sync(a, b), SYNCED_WITHIN_S, "ash and birch agree")

        def cedar_down_has_reason() -> bool:
            row = {s["name"]: s for s in a.json("sync", "status")}["cedar"]
            return not row["connected"] and bool(row["reason"])

        until(cedar_down_has_reason, SYNCED_WITHIN_S, "ash says why cedar is not in sync")
        peers[0].stop()
        peers[1].stop()
        peers[2].start()
        c.json("tag", "rename", "red", "vermilion")
        c.json("tag", "create", "amber")
        assert tags(c) == ["amber", "blue", "green", "vermilion"]
        peers[0].start()
        peers[1].start()
        until(lambda: in_sync(a, b, c), SYNCED_WITHIN_S, "all three agree after the partition")
        # The later rename wins everywhere; a deletion wins over edits it never saw.
        assert tags(a) == tags(b) == tags(c) == ["amber", "blue", "vermilion", "violet"]


def test_a_device_joining_a_log_of_many_frames_finds_the_inviters_files(
    tmp_path: Path, trees: TreeCache
) -> None:
    """The joiner's own first event (where it listens) must not come before the membership
    that makes it a member: folded first, the inviter's creation of the library then cut it,
    the index was folded anew, and the join read the old one and left the library."""
    a, b = device(tmp_path, "ash"), device(tmp_path, "birch")
    a.json("library", "create", "Home")
    trees.copy(tmp_path / "big", 3000, fanout=(6, 6))
    a.json("location", "add", str(tmp_path / "big"))
    small = {"SD_SYNC_BATCH_BYTES": "20000"}  # the log comes in many frames
    with running(Peer(a, tmp_path / "ash.log", env=small), Peer(b, tmp_path / "birch.log")):
        joined = pair(a, b)
        assert joined["created"] is True
        found = b.json("search", "f0", "--limit", "5000")
        assert len(found) == 3042 and found == a.json("search", "f0", "--limit", "5000")
        # birch wrote nothing of its own before the log made it a member, and then says
        # where it listens.
        (me,) = [d["device"] for d in b.json("device", "list") if d["this_device"]]

        def own_after_pairing() -> bool:
            events = b.json_lines("log", "show", "--type", "device.")
            paired = next(e["pos"] for e in events if e["type"] == "device.paired")
            own = [e for e in events if e["device"] == me]
            assert all(e["pos"] > paired for e in own), own
            return any(e["type"] == "device.reachable" for e in own)

        until(own_after_pairing, SYNCED_WITHIN_S, "birch says where it listens")


def test_a_node_killed_mid_sync_resumes_without_loss_or_duplicates(
    tmp_path: Path, trees: TreeCache
) -> None:
    a, b = device(tmp_path, "ash"), device(tmp_path, "birch")
    library = bytes.fromhex(a.json("library", "create", "Home")["id"])
    trees.copy(tmp_path / "big", 3000, fanout=(6, 6))
    a.json("location", "add", str(tmp_path / "big"))
    # Many small events too, of a third device ash holds: thousands of ingests to make.
    export = tmp_path / "tags.sdlog"
    many = writer(library=library)
    pair_offline(a.data_dir, many.key.public, "many")  # a member, or ash would not forward it
    events = []
    drafts = tag_drafts(4000)
    for start in range(0, len(drafts), 4):
        events.extend(many.build(drafts[start : start + 4]))
    write_export_file(export, ExportHeader(library, "Home", len(events)), wire(events))
    a.json("log", "import", str(export))
    total = a.json("log", "stats")["events"]
    # One event per frame from ash: the sync takes thousands of ingests, so the kill lands in
    # the middle of it.
    slow = {"SD_SYNC_BATCH_BYTES": "1"}
    pa = Peer(a, tmp_path / "ash.log", env=slow)
    pb = Peer(b, tmp_path / "birch.log")
    with running(pa, pb):
        ticket = a.json("pair", "invite")["ticket"]
        joining = b.popen("--json", "pair", "join", ticket)

        def some_arrived() -> bool:
            libs = b.json("library", "list")
            return bool(libs) and b.json("log", "stats")["events"] > 200

        until(some_arrived, 60, "part of the log arrives")
        pb.stop(signal.SIGKILL)
        joining.wait(timeout=30)
        held = b.json("log", "stats")["events"]
        assert 0 < held < total, (held, total)
        assert b.run("log", "verify", check=False).code == 0

        pa.stop()
        pa.env.pop("SD_SYNC_BATCH_BYTES")
        pa.start()
        pb.start()

        # Nothing lost, nothing twice: the same events per device, a log that verifies. Equal
        # digests come first: birch's own last events (its address) may reach ash a moment
        # later, as they change nothing the digest covers.
        def settled() -> bool:
            held = [sd.json("library", "info")["devices"] for sd in (a, b)]
            return in_sync(a, b) and held[0] == held[1]

        until(settled, SYNCED_WITHIN_S, "equal digests and events after the restart")
        assert b.run("log", "verify", check=False).code == 0
        assert b.json("stats") == a.json("stats")
