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

TOOLS = Path(__file__).resolve().parent.parent / "tools"
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
        "--writers",
        "4",
        "--per-writer",
        "20",
        "--dir",
        str(tmp_path),
    )
    assert r["events"] == 3000
    for key in (
        "store_append_per_s",
        "journal_append_per_s",
        "rebuild_per_s",
        "export_per_s",
        "import_per_s",
    ):
        assert r[key] > 0, key
    assert r["concurrent"]["events_per_s"] > 0 and r["concurrent"]["p99_ms"] > 0
    assert r["concurrent_trio"]["events_per_s"] > 0


def test_bench_index_smoke(tmp_path: Path) -> None:
    r = run_tool("bench_index.py", "--files", "300", "--tree", str(tmp_path / "tree"))
    assert r["first_index"]["job"]["files"] == 301  # the generator's marker file counts
    assert r["rescan"]["new_entry_events"] == 0
    assert r["rescan"]["job"]["created"] == 0
    assert r["identity"]["files"] == 301
    assert r["search"]["p99_ms"] > 0


def test_bench_kinds_smoke() -> None:
    proc = subprocess.run(
        [sys.executable, str(TOOLS / "bench_kinds.py"), "--seconds", "0.01", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)
