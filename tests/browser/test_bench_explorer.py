"""A small run of ``tools/bench_explorer.py`` as people run it: it answers with every
figure, and every answer the page showed was the API's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.conftest import ensure_chromium

pytestmark = pytest.mark.slow

TOOL = Path(__file__).resolve().parents[2] / "tools" / "bench_explorer.py"


def test_a_quick_run_measures_the_page_and_checks_its_answers(tmp_path: Path) -> None:
    ensure_chromium()
    done = subprocess.run(
        [sys.executable, str(TOOL), "--files", "300", "--runs", "8", "--events", "2",
         "--tree", str(tmp_path / "tree"), "--json"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    r = json.loads(done.stdout.splitlines()[-1])
    assert r["ok"] is True
    assert (r["typing"]["queries"], r["typing"]["wrong"]) == (8, 0)
    assert 0 < r["typing"]["p50_ms"] <= r["typing"]["p99_ms"] <= r["typing"]["max_ms"]
    assert r["disk"]["problems"] == [] and r["disk"]["max_ms"] > 0
    assert r["write"]["problems"] == [] and r["write"]["max_ms"] > 0
