"""A tiny run of every benchmark, so none of them rots between the runs made by hand.

These check that each benchmark runs end to end and reports its figures; the figures
themselves are judged by people, in the benchmark's own run, never here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
pytestmark = pytest.mark.slow


def run_tool(*args: str, timeout: float = 300) -> dict:
    proc = subprocess.run(
        [sys.executable, str(TOOLS / args[0]), *args[1:], "--json"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_bench_log_smoke(tmp_path: Path) -> None:
    r = run_tool(
        "bench_log.py",
        "--events",
        "3000",
        "--single-events",
        "200",
        "--writers",
        "4",
        "--per-writer",
        "20",
        "--dir",
        str(tmp_path),
    )
    assert r["events"] == 3000 and r["single_events"] == 200
    for key in ("journal_append_per_s", "rebuild_per_s", "sqlite_floor_rows_per_s"):
        assert r[key] > 0, key
    for side in ("store_batch", "store_single"):
        assert r[side]["append_per_s"] > 0 and r[side]["build_append_per_s"] > 0, side
    # The baseline really ran, with the durability our store has.
    for side in ("es_batch", "es_single"):
        assert r[side]["per_s"] > 0, side
        assert r[side]["durability"] == "WAL, synchronous=FULL", side
    for load in ("concurrent", "concurrent_trio", "es_concurrent"):
        assert r[load]["events_per_s"] > 0 and r[load]["p99_ms"] > 0, load
    # Both logs were exported and imported whole: 1,000-event segments and a seal per event.
    assert r["segments_log"]["events"] > 3000
    assert r["one_by_one_log"]["events"] == 200
    for log in ("segments_log", "one_by_one_log"):
        assert r[log]["export_per_s"] > 0 and r[log]["import_per_s"] > 0, log


def test_bench_index_smoke(tmp_path: Path) -> None:
    r = run_tool("bench_index.py", "--files", "300", "--tree", str(tmp_path / "tree"))
    assert r["first_index"]["job"]["files"] == 301  # the generator's marker file counts
    assert r["rescan"]["new_entry_events"] == 0
    assert r["rescan"]["job"]["created"] == 0
    assert r["identity"]["files"] == 301
    # Both content-identity modes ran, each beside b3sum over the same bytes.
    sampled, full = r["identity"]["sampled"], r["identity"]["full"]
    for key in ("bytes", "b3sum_seconds", "ids_seconds", "indexer_seconds"):
        assert sampled[key] > 0, key
    for key in ("bytes", "b3sum_seconds", "seconds"):
        assert full[key] > 0, key
    assert sampled["bytes"] < full["bytes"]
    assert r["search"]["p99_ms"] > 0 and r["search"]["short"]["p99_ms"] > 0
    # Not a timing: every query's answer is the scan's (nothing left out).
    assert r["search"]["recall"] == 1.0 and r["search"]["short"]["recall"] == 1.0


def test_bench_node_smoke(tmp_path: Path) -> None:
    r = run_tool(
        "bench_node.py",
        "--files",
        "2000",
        "--runs",
        "5",
        "--burst",
        "200",
        "--burst-timeout",
        "5",
        "--idle-seconds",
        "2",
        "--tree",
        str(tmp_path / "tree"),
        timeout=120,
    )
    assert r["ok"] is True
    for figure in ("search", "change", "rss", "idle_cpu", "stop"):
        assert "goal" in r[figure] and "baseline" in r[figure], figure
    search = r["search"]
    assert search["runs"] == 5
    assert search["sd"]["p50_ms"] > 0 and search["sd"]["p99_ms"] > 0
    assert search["baseline"]["p50_ms"] > 0 and search["ratio_p50"] > 0
    # Not a timing: every answer, both sides, was held to the tree's own entries.
    checked = search["checked"]
    assert checked["answers"] == 10 and checked["failed"] == 0, checked["failures"]
    assert checked["whole_sets"] >= 1
    # Whether the node saw the burst in time is for people to judge (the node may not watch
    # yet): the figure is there, either seconds or "not seen within 5 s", nothing wrong found.
    change = r["change"]
    for key in ("seconds", "found", "result", "timeout_s", "burst_seconds", "polls"):
        assert key in change, key
    assert change["files"] == 200 and change["polls"] >= 1 and change["problems"] == []
    assert (change["seconds"] is None) == (change["result"] == "not seen within 5 s")
    assert change["baseline"]["found"] == 200  # plocate, after updatedb, sees the whole burst
    rss = r["rss"]
    assert rss["status_mb"] > 0 and rss["psutil_mb"] > 0 and rss["status_pid_is_node"]
    idle = r["idle_cpu"]
    assert idle["seconds"] >= 2 and idle["percent_of_core"] >= 0
    assert r["stop"]["exit_code"] == 0 and r["stop"]["seconds"] < 10
    assert r["network"]["off_loopback"] == []


def test_bench_kinds_smoke() -> None:
    proc = subprocess.run(
        [sys.executable, str(TOOLS / "bench_kinds.py"), "--seconds", "0.01", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)


def test_bench_sync_smoke(tmp_path: Path) -> None:
    r = run_tool(
        "bench_sync.py",
        "--files",
        "1500",
        "--edits",
        "5",
        "--drop-mib",
        "8",
        "--tree",
        str(tmp_path / "tree"),
    )
    assert r["ok"] is True
    initial = r["initial"]
    # The tree's files, and the generator's marker file.
    assert initial["events_received"] > 0 and initial["checked"]["files"] == 1501
    assert initial["checked"]["digests_equal"] and initial["checked"]["searches_equal"]
    assert 0 < r["reconnect"]["frame_bytes_sent"] <= 1024
    assert r["edits"]["edits"] == 5 and r["edits"]["not_seen_in_10s"] == 0
    assert r["off_loopback"] == []
    drop = r["drop"]
    assert drop["checked"]["byte_identical"] and drop["bytes"] == 8 << 20
    assert drop["raw_iroh"]["mb_per_s"] > 0 and drop["tcp"]["mb_per_s"] > 0


def test_bench_replay_smoke(tmp_path: Path) -> None:
    r = run_tool(
        "bench_replay.py",
        "--files",
        "300",
        "--tag-events",
        "500",
        "--tail-events",
        "20",
        "--tree",
        str(tmp_path / "tree"),
    )
    assert r["ok"] is True
    ls = r["ls_at"]
    # Not a timing: the listing --at gave, cold and warm, is the whole fold's.
    assert ls["listing_matches_fold"] and ls["folder_children"] > 0
    assert ls["cold_seconds"] > 0 and ls["warm_seconds"] > 0 and ls["snapshot_bytes"] > 0
    assert ls["near_seconds"] > 0 and "near_seconds" in ls["goal"]
    assert ls["baseline"]["full_fold_seconds"] > 0 and "cold_seconds" in ls["goal"]
    bisect = r["bisect"]
    assert bisect["events"] >= 500 and bisect["probes"] >= 3
    assert bisect["found_position"] == bisect["expected_position"]
    assert bisect["seconds"] > 0 and bisect["baseline"]["full_fold_seconds"] > 0
    history, tail = r["history"], r["tail"]
    assert history["answer_right"] and history["moments"] >= 1 and history["seconds"] > 0
    assert tail["seen"] == tail["events"] == 20 and tail["p99_ms"] > 0


def test_bench_cluster_smoke() -> None:
    proc = subprocess.run(
        [sys.executable, str(TOOLS / "bench_cluster.py"), "--nodes", "3", "--rounds", "1"]
        + ["--hold", "1", "--writes", "2", "--within", "60", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    r = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
    if proc.returncode == 2 and "skipped" in r:
        pytest.skip(r["skipped"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert r["ok"] is True
    (run,) = r["runs"]
    assert run["nodes"] == 3 and run["loss"] == 0.3
    # Not a timing: each heal converged, and the devices agreed on every write after.
    for way in run["holds"]["1"].values():
        assert way["not_converged"] == 0 and way["max_s"] > 0
    assert run["checked"] == {"writes": 4, "crossed_the_cut": [], "problems": []}
    for kind in ("wire", "frames"):
        assert len(run["bytes_sent"][kind]["each"]) == 3 and run["bytes_sent"][kind]["max"] > 0
