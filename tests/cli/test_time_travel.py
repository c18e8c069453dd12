"""Time travel (``sd ls/search/stats --at``) and ``sd log bisect``, on logs made through ``sd``.

What a past state should be is decided independently of the snapshots: by a whole fold of
the log up to the same position (``sd projections rebuild --until POS --into FILE``), read
here with the read models' own queries.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from events.domain import CATALOG
from events.store import EventStore
from projections.catalog import library_projections
from projections.files.query import file_stats
from projections.files.search import Filters, search
from projections.rebuild import fold_into
from projections.runner import ProjectionRunner, digest_of
from sdactors.library.config import LibraryConfig
from sdactors.library.snapshots import held
from sdactors.replay.snapshots import SnapshotCache
from sdactors.runtime.errors import PositionBeyondHead
from sdactors.runtime.paths import LibraryPaths
from tests.conftest import Sd
from tests.helpers_log import LIBRARY, library_dirs, new_store, run_all, tag_drafts, writer
from tests.helpers_tree import write
from tests.system.test_node import until

pytestmark = pytest.mark.slow

RED_DELETED = "SELECT 1 FROM tags WHERE name = 'red' AND deleted"


def head(sd: Sd) -> int:
    return sd.json("log", "stats")["events"]


def snapshots(sd: Sd) -> list[int]:
    """The positions of the snapshots kept."""
    (lib,) = library_dirs(sd.data_dir)
    return sorted(s.position for s in held(lib / "snapshots"))


def snapshot_digest(sd: Sd, position: int) -> str:
    (lib,) = library_dirs(sd.data_dir)
    (snap,) = [s for s in held(lib / "snapshots") if s.position == position]
    with sqlite3.connect(f"file:{snap.path}?mode=ro", uri=True) as db:
        return digest_of(db, library_projections())


def fold_digest(sd: Sd, position: int, into: Path) -> str:
    return sd.json("projections", "rebuild", "--until", str(position), "--into", str(into))[
        "digest"
    ]


def folded(sd: Sd, position: int, into: Path) -> Path:
    """The index as a whole fold of the log up to ``position`` makes it."""
    sd.json("projections", "rebuild", "--until", str(position), "--into", str(into))
    return into


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tree indexed, then one file deleted and the location rescanned (made once: the
    tests only read it, and each travels to positions of its own)."""
    tmp_path = tmp_path_factory.mktemp("travel")
    sd = Sd(tmp_path / "data")
    root = tmp_path / "tree"
    for i in range(6):
        write(root, f"docs/note-{i}.txt", f"note {i}\n" * (i + 1))
        write(root, f"pics/pic-{i}.bin", bytes([i]) * (100 + i))
    sd.json("library", "create", "Home")
    sd.json("location", "add", str(root))
    before = head(sd)
    (root / "docs" / "note-3.txt").unlink()
    sd.json("location", "rescan", str(root))
    return {"sd": sd, "root": root, "before": before, "after": head(sd)}


def names(items: list[dict]) -> list[str]:
    return [i["name"] for i in items]


def test_ls_at_before_and_after_a_deletion(history: dict, tmp_path: Path) -> None:
    sd = history["sd"]
    docs = str(history["root"] / "docs")
    before, after = history["before"], history["after"]
    past, present, text = run_all(
        sd,
        ("--json", "ls", docs, "--at", str(before)),
        ("--json", "ls", docs, "--at", str(after)),
        ("ls", docs, "--at", str(before)),
    )
    assert "note-3.txt" in names(past.json())
    assert "note-3.txt" not in names(present.json())
    assert names(present.json()) == names(sd.json("ls", docs))
    # Text says it is the past; JSON keeps the shape scripts read without --at.
    assert text.out.splitlines()[0].startswith(f"as of position {before} (")
    assert set(past.json()[0]) == set(sd.json("ls", docs)[0])
    # The listing is what a whole fold to that position holds: the snapshot's read models
    # digest the same as the fold's.
    for position in snapshots(sd):
        assert snapshot_digest(sd, position) == fold_digest(sd, position, tmp_path / "f.db")


def test_search_and_stats_at_agree_with_a_fold(history: dict, tmp_path: Path) -> None:
    sd = history["sd"]
    before = history["before"]
    stats, hits = run_all(
        sd,
        ("--json", "stats", "--at", str(before)),
        ("--json", "search", "note", "--at", str(before)),
    )
    with sqlite3.connect(folded(sd, before, tmp_path / "fold.db")) as db:
        want = file_stats(db)
        want_hits = search(db, "note", Filters(None, None, None), 50)
    got = stats.json()
    assert (got["files"], got["dirs"], got["bytes"]) == (want.files, want.dirs, want.bytes)
    assert got["by_kind"] == want.by_kind
    assert [h["name"] for h in hits.json()] == [h.name.decode() for h in want_hits]
    assert "note-3.txt" in [h["name"] for h in hits.json()]
    now = sd.json("stats")
    assert now["files"] == got["files"] - 1


def test_at_a_time_and_a_nearby_position_from_a_snapshot(history: dict, tmp_path: Path) -> None:
    sd = history["sd"]
    docs = str(history["root"] / "docs")
    after = history["after"]
    # A time after every event is the head: the present state.
    later = (datetime.now(timezone.utc) + timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert names(sd.json("ls", docs, "--at", later)) == names(sd.json("ls", docs))
    # A look is kept as a snapshot a little before it (then folded on top to it).
    assert snapshots(sd) and max(snapshots(sd)) <= after
    # A nearby position is folded on top of the nearest snapshot before it, which stays as
    # it is (nothing new is kept), and shows what a whole fold makes.
    sd.json("ls", docs, "--at", str(history["before"]))
    kept = snapshots(sd)
    digests = [snapshot_digest(sd, position) for position in kept]
    stats = sd.json("stats", "--at", str(after - 1))
    with sqlite3.connect(folded(sd, after - 1, tmp_path / "f.db")) as db:
        want = file_stats(db)
    assert (stats["files"], stats["dirs"], stats["bytes"]) == (want.files, want.dirs, want.bytes)
    assert snapshots(sd) == kept
    assert [snapshot_digest(sd, position) for position in kept] == digests
    again = sd.json("ls", docs, "--at", str(history["before"]))
    assert "note-3.txt" in names(again)
    # A time before the first event, a position past the head: one line each.
    bad_time = sd.fails("ls", docs, "--at", "2001-01-01T00:00:00")
    assert "before the first event" in bad_time.err and len(bad_time.err.splitlines()) == 1
    beyond = sd.fails("ls", docs, "--at", str(after + 1000))
    assert "beyond the end of the log" in beyond.err and len(beyond.err.splitlines()) == 1


def test_bisect_finds_the_event_that_deleted_a_tag(sd: Sd) -> None:
    sd.json("library", "create", "Home")
    for name in ("red", "blue", "filler-1", "filler-2"):
        sd.json("tag", "create", name)
    sd.json("tag", "delete", "red")
    for name in ("after-1", "after-2"):
        sd.json("tag", "create", name)
    sd.json("tag", "delete", "blue")
    (deleted, _blue) = sd.run("--json", "log", "show", "--type", "tag.deleted").json_lines()
    found = sd.json("log", "bisect", "--when", RED_DELETED)
    assert found["position"] == deleted["pos"]
    assert found["event"]["type"] == "tag.deleted" and found["event"] == deleted
    text = sd.run("log", "bisect", "--when", RED_DELETED).out
    assert f"position {deleted['pos']}" in text and "tag.deleted" in text
    # Bad SQL, a statement that is not a SELECT, a hidden write: refused in one line each.
    refused = [
        "SELEC 1 FROM tags",
        "SELECT 1 FROM no_such_table",
        "DELETE FROM tags",
        "SELECT 1; DELETE FROM tags",
        "WITH x AS (SELECT 1) DELETE FROM tags",
    ]
    runs = run_all(sd, *[("log", "bisect", "--when", sql) for sql in refused], check=False)
    for sql, run in zip(refused, runs):
        assert run.code == 1, (sql, run.out)
        assert len(run.err.strip().splitlines()) == 1, (sql, run.err)
        assert "refused" in run.err, (sql, run.err)
    assert sd.json("tag", "list")  # nothing was written
    never = sd.fails("log", "bisect", "--when", "SELECT 1 FROM tags WHERE name = 'nope'").err
    assert "does not hold" in never
    start = sd.fails(
        "log",
        "bisect",
        "--when",
        "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM tags WHERE name = 'red')",
    ).err
    assert "already holds at position 0" in start


# -- the snapshot cache itself, on a log made without a node ---------------------------------


@pytest.fixture
def tag_log(tmp_path: Path) -> tuple[LibraryConfig, EventStore]:
    store = new_store(tmp_path / "events.db")
    w = writer()
    for start in range(0, 60, 6):
        store.append(w.build(tag_drafts(6, f"t{start}")))
    return LibraryConfig(LIBRARY.hex(), "t", "now", LibraryPaths(tmp_path)), store


def whole_fold_digest(store: EventStore, position: int, into: Path) -> str:
    return fold_into(str(into), store, library_projections(), CATALOG, until=position).digest


def test_snapshots_are_bounded_least_recently_used_out(
    tag_log: tuple[LibraryConfig, EventStore], tmp_path: Path
) -> None:
    config, store = tag_log
    cache = SnapshotCache(config, max_snapshots=3)
    for position in (10, 20, 30):
        cache.at(position, store)
    os.utime(cache.at(10, store), ns=(1, 1))  # used: but long ago
    cache.at(20, store)
    cache.at(40, store)  # folded from 30: four are too many, 10 is the least recently used
    assert [s.position for s in cache.held()] == [20, 30, 40]
    assert oct(os.stat(cache.folder).st_mode & 0o777) == "0o700"
    assert all(s.path.stat().st_mode & 0o077 == 0 for s in cache.held())
    # Folded forward from 20, 25 holds what a whole fold to 25 holds.
    with sqlite3.connect(cache.at(25, store)) as db:
        assert digest_of(db, library_projections()) == whole_fold_digest(
            store, 25, tmp_path / "f.db"
        )
    with pytest.raises(PositionBeyondHead):
        cache.at(61, store)


def test_a_failed_fold_leaves_no_snapshot(
    tag_log: tuple[LibraryConfig, EventStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, store = tag_log
    cache = SnapshotCache(config)
    cache.at(10, store)
    # A partial of a command killed earlier (its process is gone) is cleared on the next make.
    dead = cache.folder / ".partial-999999999-30.db"
    dead.write_bytes(b"half")

    def killed(*args: object, **kwargs: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(ProjectionRunner, "catch_up", killed)
    with pytest.raises(KeyboardInterrupt):
        cache.at(30, store)
    (left,) = cache.folder.iterdir()
    assert left.name.startswith("000000000010-travel-")


def test_a_snapshot_of_a_log_since_replaced_is_never_read(
    tag_log: tuple[LibraryConfig, EventStore], tmp_path: Path
) -> None:
    """A log restored or replaced under the snapshots (same positions, other events): they
    are not of it, so the past is folded from this log, never read from them."""
    config, store = tag_log
    cache = SnapshotCache(config)
    cache.at(30, store)
    store.close()
    os.rename(config.paths.events, tmp_path / "old-events.db")
    other = new_store(config.paths.events)
    w = writer()
    for start in range(0, 60, 6):
        other.append(w.build(tag_drafts(6, f"other{start}")))
    with cache.state(30, other) as db:
        got = digest_of(db, library_projections())
    assert got == whole_fold_digest(other, 30, tmp_path / "f.db")
    with sqlite3.connect(tmp_path / "f.db") as db:
        assert db.execute("SELECT count(*) FROM tags WHERE name LIKE 'other%'").fetchone()[0]


ENDLESS = (
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r) SELECT 1 FROM r WHERE i < 0"
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.hostile("M13")
def test_a_query_that_never_ends_stops_on_ctrl_c_and_sigterm(sd: Sd, signum: int) -> None:
    sd.json("library", "create", "Home")
    sd.json("tag", "create", "red")
    proc = sd.popen(
        "log", "bisect", "--when", ENDLESS, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        # The first probe folds position 0 into a snapshot, then runs the query there.
        (lib,) = library_dirs(sd.data_dir)
        until(lambda: 0 in snapshots(sd), 30, "the first snapshot")
        time.sleep(0.5)
        assert proc.poll() is None, "the query should still be running"
        proc.send_signal(signum)
        started = time.monotonic()
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signum, (proc.returncode, err)
    assert took < 2, f"stopped after {took:.1f} s"
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "stopped by" in lines[0], err
