"""tools/bench_all.py: a benchmark's figures read from its JSON, its failure or skip kept
apart from its figures, and two runs compared the way people compare them (the command)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))

import bench_all  # noqa: E402
from bench_all import BENCHMARKS, Bench, Figure, run_one  # noqa: E402


def test_every_benchmark_in_tools_is_in_the_run() -> None:
    scripts = {p.name for p in TOOLS.glob("bench_*.py")} - {"bench_all.py", "bench_common.py"}
    assert scripts == {b.script for b in BENCHMARKS}
    for bench in BENCHMARKS:
        if not callable(bench.figures):
            names = [f.name for f in bench.figures]
            assert len(names) == len(set(names)), bench.name
    names = [b.name for b in BENCHMARKS]
    assert len(names) == len(set(names))


def fake_bench(tmp_path: Path, body: str, figures: list[Figure]) -> Bench:
    script = tmp_path / "bench_fake.py"
    script.write_text(f"import json, sys\n{body}\n")
    return Bench("fake", str(script), quick=(), figures=figures)


SECONDS = Figure("first_index", "first.seconds", "s", "lower", "find", "find", goal_ratio=6)


def test_a_figure_has_its_baseline_ratio_and_goal(tmp_path: Path) -> None:
    out = {"first": {"seconds": 3.0}, "find": 0.5}
    r = run_one(fake_bench(tmp_path, f"print(json.dumps({out!r}))", [SECONDS]), True, None)
    assert r["status"] == "ok", r
    (fig,) = r["figures"]
    assert fig["name"] == "fake.first_index" and fig["value"] == 3.0
    assert fig["baseline"] == {"what": "find", "value": 0.5}
    assert fig["ratio"] == 6.0 and fig["goal"] == {"ratio": 6} and fig["goal_met"] is True


def test_a_benchmark_that_failed_its_checks_gives_no_figures(tmp_path: Path) -> None:
    body = 'print(json.dumps({"first": {"seconds": 1}, "find": 1, "ok": False})); sys.exit(1)'
    r = run_one(fake_bench(tmp_path, body, [SECONDS]), True, None)
    assert r["status"] == "failed" and r["reason"].startswith("exit status 1")
    assert "figures" not in r and r["output"]["ok"] is False


def test_a_benchmark_that_cannot_run_here_is_skipped_with_its_reason(tmp_path: Path) -> None:
    body = 'print(json.dumps({"skipped": "no network namespaces here"})); sys.exit(2)'
    r = run_one(fake_bench(tmp_path, body, [SECONDS]), True, None)
    assert r["status"] == "skipped" and r["reason"] == "no network namespaces here"


def test_a_figure_missing_from_the_output_fails_the_benchmark(tmp_path: Path) -> None:
    body = 'print(json.dumps({"first": {"secs": 1}, "find": 1}))'
    r = run_one(fake_bench(tmp_path, body, [SECONDS]), True, None)
    assert r["status"] == "failed" and "first.seconds" in r["reason"]


def test_a_benchmark_out_of_time_goes_with_what_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench_all, "QUICK_TIMEOUT_S", 1.0)
    pid_file = tmp_path / "node.pid"
    body = (
        "import subprocess, time\n"
        "node = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(node.pid))\n"
        "time.sleep(60)"
    )
    started = time.monotonic()
    r = run_one(fake_bench(tmp_path, body, [SECONDS]), True, None)
    # Not left waiting for the output pipe the child still holds.
    assert time.monotonic() - started < 15
    assert r["status"] == "failed" and r["reason"] == "no answer within 1 s"
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the benchmark's own child outlived it"
        time.sleep(0.05)


# -- compare ---------------------------------------------------------------------------------


def figure(name: str, value: float | None, better: str = "lower", base: float | None = None):
    return {
        "name": name,
        "benchmark": name.split(".")[0],
        "value": value,
        "unit": "s" if better == "lower" else "ev/s",
        "better": better,
        "baseline": None if base is None else {"what": "find", "value": base},
        "ratio": None if base is None or value is None else value / base,
        "goal": None,
        "goal_met": None,
    }


def run_file(path: Path, figures: list[dict[str, Any]], failed: str | None = None) -> Path:
    benchmarks = {f["benchmark"]: {"status": "ok"} for f in figures}
    if failed:
        benchmarks[failed] = {"status": "failed", "reason": "exit status 1"}
    machine = {
        "cores": 2,
        "python": "CPython 3.11",
        "commit": "0" * 40,
        "commit_dirty": False,
        "date": "2026-01-01T00:00:00+00:00",
        "load_average_at_start": [0.5, 0.5, 0.5],
    }
    data = {"quick": False, "machine": machine, "benchmarks": benchmarks, "figures": figures}
    path.write_text(json.dumps(data))
    return path


def compare(old: Path, new: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOLS / "bench_all.py"), "compare", str(old), str(new), *more],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_slower_machine_is_not_a_regression_when_the_ratio_held(tmp_path: Path) -> None:
    old = run_file(tmp_path / "old.json", [figure("index.first", 10.0, base=1.0)])
    # Everything twice as slow, the baseline too: the same 10x find.
    new = run_file(tmp_path / "new.json", [figure("index.first", 20.0, base=2.0)])
    proc = compare(old, new)
    assert proc.returncode == 0, proc.stdout
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("index.first")]
    assert "+100.0%" in line and "10x -> 10x find" in line and "ratio: same" in line
    assert "WORSE" not in line
    assert "0 of 1 figures worse by more than 10%" in proc.stdout


def test_a_worse_ratio_is_flagged_and_the_exit_status_says_so(tmp_path: Path) -> None:
    old = run_file(
        tmp_path / "old.json",
        [figure("index.first", 10.0, base=1.0), figure("log.append", 100_000, "higher")],
    )
    # The value is better (a faster machine), the ratio to find 20% worse; the throughput
    # has no baseline and lost 15%.
    new = run_file(
        tmp_path / "new.json",
        [figure("index.first", 6.0, base=0.5), figure("log.append", 85_000, "higher")],
    )
    proc = compare(old, new)
    assert proc.returncode == 1
    lines = {x.split()[0]: x for x in proc.stdout.splitlines() if x.startswith(("index", "log"))}
    assert "ratio: 20.0% worse" in lines["index.first"] and "WORSE" in lines["index.first"]
    assert "value: 15.0% worse" in lines["log.append"] and "WORSE" in lines["log.append"]
    as_json = compare(old, new, "--json")
    assert as_json.returncode == 1
    c = json.loads(as_json.stdout)
    assert c["worse"] == ["index.first", "log.append"] and c["threshold"] == 0.1
    first = c["figures"][0]
    assert first["judged_on"] == "ratio" and abs(first["worse_by"] - 0.2) < 1e-9
    # A looser threshold lets both through.
    assert compare(old, new, "--threshold", "0.25").returncode == 0


def test_a_figure_that_lost_its_value_or_a_failed_benchmark_is_flagged(tmp_path: Path) -> None:
    old = run_file(tmp_path / "old.json", [figure("node.change", 1.0), figure("sync.x", 1.0)])
    new = run_file(tmp_path / "new.json", [figure("node.change", None)], failed="sync")
    c = json.loads(compare(old, new, "--json").stdout)
    assert c["worse"] == ["node.change"] and c["failed_in_new"] == ["sync"]
    gone = c["figures"][1]
    assert gone["name"] == "sync.x" and gone["only_in"] == "old"
    proc = compare(old, new)
    assert proc.returncode == 1 and "sync: FAILED in new" in proc.stdout
    assert "no value in new" in proc.stdout


def test_several_runs_a_side_are_judged_on_their_medians(tmp_path: Path) -> None:
    olds = [
        run_file(tmp_path / f"old{i}.json", [figure("index.first", v, base=1.0)])
        for i, v in enumerate((10.0, 10.0, 13.0))  # one slow pass: another process woke
    ]
    news = [
        run_file(tmp_path / f"new{i}.json", [figure("index.first", 10.5, base=1.0)]) for i in (0, 1)
    ]
    both = (",".join(map(str, olds)), ",".join(map(str, news)))
    proc = compare(*both)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.count("(median of 3 runs)") == 1 and "(median of 2 runs)" in proc.stdout
    # Judged on the medians: 10x -> 10.5x, not the slow pass against one new run.
    assert "10x -> 10.50x find" in proc.stdout and "ratio: 5.0% worse" in proc.stdout
    # A benchmark that failed in any one run of the new side failed.
    failed = run_file(tmp_path / "failed.json", [figure("index.first", 10.0, base=1.0)], "index")
    c = json.loads(compare(both[0], f"{news[0]},{failed}", "--json").stdout)
    assert c["failed_in_new"] == ["index"]


def test_a_file_that_is_not_a_run_is_one_clear_line(tmp_path: Path) -> None:
    old = run_file(tmp_path / "old.json", [figure("index.first", 1.0)])
    (tmp_path / "other.json").write_text("[1, 2]")
    proc = compare(old, tmp_path / "other.json")
    assert proc.returncode == 1
    assert (
        proc.stdout == f"error: {tmp_path / 'other.json'} is not a file written by bench_all.py\n"
    )
    proc = compare(old, tmp_path / "missing.json", "--json")
    assert proc.returncode == 1 and "cannot read" in json.loads(proc.stdout)["error"]
