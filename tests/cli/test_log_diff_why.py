"""``sd log diff`` and ``sd why`` on real logs made through ``sd``, run as real processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from events.exportfile import ExportHeader, write_export
from events.keys import DeviceKey
from tests.conftest import SD, Result, Sd, bind_mount, unmount
from tests.helpers_log import LIBRARY, new_store, tag_drafts, wire, writer
from tests.helpers_tree import write

pytestmark = pytest.mark.slow


def _seqs(sd: Sd) -> dict[str, int]:
    """Each device's last seq in ``sd``'s only library, as ``sd log show`` lists them."""
    last: dict[str, int] = {}
    for ev in sd.run("--json", "log", "show").json_lines():
        last[ev["device"]] = max(last.get(ev["device"], 0), ev["seq"])
    return last


def _by_device(diff: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["device"]: d for d in diff["devices"]}


def test_diff_of_two_diverged_copies(tmp_path: Path) -> None:
    a, b = Sd(tmp_path / "a"), Sd(tmp_path / "b")
    a.run("library", "create", "Home")
    a.run("log", "export", str(tmp_path / "a0.sdlog"))
    b.run("log", "import", str(tmp_path / "a0.sdlog"))
    a.run("tag", "create", "Work")
    for name in ("Family", "Travel", "Music"):
        b.run("tag", "create", name)
    seqs_a, seqs_b = _seqs(a), _seqs(b)
    (dev_a,) = seqs_a  # a has imported nothing yet: its own events only
    (dev_b,) = set(seqs_b) - {dev_a}
    shared_a = seqs_b[dev_a]  # what b received of a's events: the first export

    diff = a.json("log", "diff", str(tmp_path / "a"), str(tmp_path / "b"))
    assert diff["shared_agree"] is True and diff["first_disagreement"] is None
    assert diff["identical"] is False
    rows = _by_device(diff)
    assert set(rows) == {dev_a, dev_b}
    assert rows[dev_a]["only_a"] == {
        "count": seqs_a[dev_a] - shared_a,
        "first": shared_a + 1,
        "last": seqs_a[dev_a],
    }
    assert rows[dev_a]["only_b"] is None and rows[dev_a]["shared"] == shared_a
    assert rows[dev_b]["only_b"] == {"count": seqs_b[dev_b], "first": 1, "last": seqs_b[dev_b]}
    assert rows[dev_b]["only_a"] is None and rows[dev_b]["shared"] == 0
    assert all(r["equivocation"] is None for r in rows.values())

    # The other way round, with a library of this data directory named and an export file:
    # the same answer, sides swapped.
    b.run("log", "export", str(tmp_path / "b1.sdlog"))
    back = a.json("log", "diff", str(tmp_path / "b1.sdlog"), "Home")
    swapped = _by_device(back)
    for dev, row in rows.items():
        assert swapped[dev]["only_a"] == row["only_b"]
        assert swapped[dev]["only_b"] == row["only_a"]
    assert back["shared_agree"] is True

    # Once each has imported the other's export, they hold the same events.
    a.run("log", "export", str(tmp_path / "a1.sdlog"))
    a.run("log", "import", str(tmp_path / "b1.sdlog"))
    b.run("log", "import", str(tmp_path / "a1.sdlog"))
    same = a.json("log", "diff", str(tmp_path / "a"), str(tmp_path / "b"))
    assert same["identical"] is True
    assert "identical" in a.run("log", "diff", str(tmp_path / "a"), str(tmp_path / "b")).out

    # Another library's log is refused in one line.
    other = Sd(tmp_path / "c")
    other.run("library", "create", "Other")
    refused = a.fails("log", "diff", "Home", str(tmp_path / "c"))
    assert "only two copies of one library's log" in refused.err
    assert len(refused.err.strip().splitlines()) == 1


def test_diff_reports_an_equivocation(tmp_path: Path) -> None:
    """One device key, two histories after a shared prefix: each export alone is a valid
    log, and the diff names the seqs where the device signed two different events."""
    key = DeviceKey.generate()
    w = writer(key)
    base = w.build(tag_drafts(2))
    fork_a = w.build(tag_drafts(2, "a"))
    w.rewind(2, base[-1].id)
    fork_b = w.build(tag_drafts(3, "b"))
    for name, events in (("a", base + fork_a), ("b", base + fork_b)):
        with open(tmp_path / f"{name}.sdlog", "wb") as out:
            write_export(out, ExportHeader(LIBRARY, "Forged", len(events)), wire(events))
    sd = Sd(tmp_path / "data")
    diff = sd.json("log", "diff", str(tmp_path / "a.sdlog"), str(tmp_path / "b.sdlog"))
    assert diff["shared_agree"] is False
    assert diff["first_disagreement"] == {"device": key.public.hex(), "seq": 3}
    (row,) = diff["devices"]
    assert (row["a_seq"], row["b_seq"], row["shared"]) == (4, 5, 4)
    assert row["only_a"] is None
    assert row["only_b"] == {"count": 1, "first": 5, "last": 5}
    equivocation = row["equivocation"]
    assert (equivocation["count"], equivocation["first"], equivocation["last"]) == (2, 3, 4)
    assert equivocation["a_id"] == fork_a[0].id.hex()
    assert equivocation["b_id"] == fork_b[0].id.hex()
    text = sd.run("log", "diff", str(tmp_path / "a.sdlog"), str(tmp_path / "b.sdlog")).out
    assert "equivocation" in text and f"#{3}" in text


def _why(sd: Sd, path: Path) -> dict[str, Any]:
    return sd.json("why", str(path))


def _pos_of(sd: Sd, type_name: str, name: str) -> int:
    """The position of the one ``type_name`` event whose body names ``name``."""
    found = [
        ev["pos"]
        for ev in sd.run("--json", "log", "show", "--type", type_name).json_lines()
        if name.encode().hex() in json.dumps(ev["body"]) or name in json.dumps(ev["body"])
    ]
    assert len(found) == 1, found
    return found[0]


def _home(tmp_path: Path, files: dict[str, bytes]) -> tuple[Sd, Path]:
    """A data directory with one library, and a tree holding ``files``."""
    sd = Sd(tmp_path / "data")
    sd.run("library", "create", "Home")
    tree = tmp_path / "tree"
    for rel, content in files.items():
        write(tree, rel, content)
    return sd, tree


def test_why_indexed_excluded_outside(tmp_path: Path) -> None:
    sd, tree = _home(
        tmp_path,
        {
            "docs/why-indexed.txt": b"hello",
            "docs/why-moved.txt": b"moving",
            "node_modules/pkg/index.js": b"x",
            "logs/run.log": b"log",
        },
    )
    sd.run("location", "add", str(tree), "--exclude", "*.log")
    device = sd.json("location", "list")[0]["device"]

    indexed = _why(sd, tree / "docs/why-indexed.txt")
    assert indexed["indexed"] is True and indexed["device"] == device
    assert indexed["since"]["type"] == "entries.indexed"
    assert indexed["since"]["pos"] == _pos_of(sd, "entries.indexed", "why-indexed.txt")
    assert indexed["since"]["device"] == device and indexed["moved"] is None

    # Renamed on disk and rescanned: still the entry indexed then, moved since.
    os.rename(tree / "docs/why-moved.txt", tree / "docs/why-renamed.txt")
    sd.run("location", "rescan", str(tree))
    moved = _why(sd, tree / "docs/why-renamed.txt")
    assert moved["indexed"] is True
    assert moved["since"]["pos"] == _pos_of(sd, "entries.indexed", "why-moved.txt")
    assert moved["moved"]["pos"] == _pos_of(sd, "entries.moved", "why-renamed.txt")

    dev = _why(sd, tree / "node_modules/pkg/index.js")
    assert (dev["indexed"], dev["reason"], dev["rule"]) == (False, "excluded", "dev")
    assert "node_modules" in dev["detail"] and dev["location"]["path"] == str(tree)

    pattern = _why(sd, tree / "logs/run.log")
    assert (pattern["reason"], pattern["rule"]) == ("excluded", "exclude")
    assert "'*.log'" in pattern["detail"]

    outside = _why(sd, tmp_path / "elsewhere.txt")
    assert (outside["indexed"], outside["reason"]) == (False, "outside_locations")
    assert outside["location"] is None

    # Made after the last scan (no node watches): not indexed yet.
    write(tree, "docs/later.txt", b"later")
    later = _why(sd, tree / "docs/later.txt")
    assert later["reason"] == "not_indexed_yet"
    text = sd.run("why", str(tree / "node_modules/pkg/index.js")).out
    assert text.splitlines()[0].endswith("'node_modules' is a folder development tools fill")


@pytest.mark.hostile("M10")
def test_a_location_holding_the_data_directory_skips_it_and_why_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home, "notes.txt", b"mine")
    write(home, ".local/share/keep.txt", b"kept")
    sd = Sd(home / ".local/share/sdactors")  # where a data directory usually is
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(home))
    data = os.path.realpath(home / ".local/share/sdactors")
    # The node's own files are not indexed: not the log, not the index, not its key.
    assert [i["name"] for i in sd.json("ls", str(home / ".local/share"))] == ["keep.txt"]
    assert sd.json("search", "device.key") == [] and sd.json("search", "events.db") == []
    for path in (f"{data}/device.key", data):
        answer = sd.json("why", path)
        assert (answer["indexed"], answer["reason"], answer["rule"]) == (
            False,
            "excluded",
            "data_dir",
        ), answer
        assert f"{data} is sdactors' own data directory" in answer["detail"], answer["detail"]

    # The same folder seen through another path (a bind mount) is skipped all the same.
    (home / "again").mkdir()
    bind_mount(Path(data), home / "again")
    try:
        again = sd.json("location", "rescan", str(home))
        assert (again["created"], again["deleted"]) == (0, 0)
        assert "again" not in {i["name"] for i in sd.json("ls", str(home))}
        answer = sd.json("why", str(home / "again" / "device.key"))
        assert (answer["reason"], answer["rule"]) == ("excluded", "data_dir"), answer
    finally:
        unmount(home / "again")


# Root reads any folder whatever its mode; without these two capabilities it is held to the
# mode bits like anyone, so a folder of mode 000 is really unreadable to the walk and to why.
_DROP = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]


def _unprivileged(sd: Sd, *args: str) -> Result:
    prefix = _DROP if os.geteuid() == 0 else []
    proc = subprocess.run(
        [*prefix, *SD, *args], env=sd.env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.skipif(
    os.geteuid() == 0 and shutil.which("setpriv") is None,
    reason="as root a mode-000 folder is readable, and setpriv (to drop the capability that "
    "lets root read it) is not installed",
)
def test_why_unreadable(tmp_path: Path) -> None:
    sd, tree = _home(tmp_path, {"open/seen.txt": b"seen", "locked/secret.txt": b"secret"})
    (tree / "locked").chmod(0)
    try:
        added = _unprivileged(sd, "location", "add", str(tree))
        assert "Permission denied" in added.out
        answer = _unprivileged(sd, "--json", "why", str(tree / "locked/secret.txt")).json()
        assert (answer["indexed"], answer["reason"]) == (False, "unreadable")
        assert "Permission denied" in answer["detail"] and str(tree / "locked") in answer["detail"]
        # The folder itself was listed by its parent: it is in the index.
        assert _unprivileged(sd, "--json", "why", str(tree / "locked")).json()["indexed"]
    finally:
        (tree / "locked").chmod(0o755)


def test_diff_across_chunks_and_segments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store (read by seq ranges across its segments) against an export (read once), with
    chunks smaller than a segment: the fork is found at its exact seq in a later chunk."""
    from sdactors.replay import diff as log_diff

    monkeypatch.setattr(log_diff, "CHUNK", 3)
    w = writer()
    base = [ev for _ in range(3) for ev in w.build(tag_drafts(2))]  # three sealed segments
    fork = w.build(tag_drafts(4, "fork"))
    w.rewind(len(base), base[-1].id)
    other = w.build(tag_drafts(2, "other"))
    store = new_store(tmp_path / "events.db")
    store.append(base + fork)
    store.close()
    with open(tmp_path / "other.sdlog", "wb") as out:
        write_export(out, ExportHeader(LIBRARY, "x", 8), wire(base + other))
    a = log_diff.StoreSide(tmp_path / "events.db", "store")
    b = log_diff.ExportSide(tmp_path / "other.sdlog")
    try:
        (row,) = log_diff.diff_logs(a, b).devices
    finally:
        a.close()
        b.close()
    assert (row.a_seq, row.b_seq, row.shared) == (10, 8, 8)
    assert row.equivocation == log_diff.Run(2, 7, 8)
    assert (row.a_id, row.b_id) == (fork[0].id, other[0].id)
    assert row.only_a == log_diff.Run(2, 9, 10) and row.only_b is None
