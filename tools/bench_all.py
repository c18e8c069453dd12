"""Every benchmark in one run, its figures in one JSON file; and two such files compared.

    python tools/bench_all.py --quick                  # a small run of each (a minute or so)
    python tools/bench_all.py                          # full sizes, 100k and 1M files (hours)
    python tools/bench_all.py --only index --only log  # some of them
    python tools/bench_all.py compare OLD.json NEW.json [--threshold 0.1] [--json]
    python tools/bench_all.py compare OLD1.json,OLD2.json NEW1.json,NEW2.json  # medians

Each benchmark runs as its own process (``tools/bench_X.py ... --json``, its own ``main``),
and the figures are read from the JSON it prints. Every figure carries its unit, which way
is better, its baseline from the same run and the ratio to it, and its goal where there is
one; the file also holds the machine's facts (cores, Python, commit, date, load) and each
benchmark's whole output. A benchmark whose checks failed (a wrong answer) makes the run exit
1; one that cannot run here (``bench_cluster.py`` without network namespaces) exits 2 saying
why, and is recorded as skipped with that reason.

``compare`` prints every figure of the two runs side by side and flags each that got worse
by more than the threshold, judged on its ratio to its same-run baseline where it has one
(this machine's speed moves 2-3x from run to run; the ratio much less), else on its value.
A figure that lost its value, or a benchmark that failed in NEW, is flagged too. The exit
status is 1 when anything was flagged.

Adding a benchmark is one entry in ``BENCHMARKS``: its script, its small arguments, its
figures (paths into its JSON).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

TOOLS = Path(__file__).resolve().parent
# The exit status a benchmark gives when it cannot run here, printing {"skipped": why}.
SKIPPED_STATUS = 2
QUICK_TIMEOUT_S = 600.0

# A path into a benchmark's JSON: "a.b.c", or a tuple of keys when a key holds a dot. A key
# may be a glob ("puremagic*": the first key that matches), a list index a number.
JsonPath = str | tuple[str, ...]


@dataclass(frozen=True)
class Figure:
    """One figure of a benchmark (named ``BENCH.NAME`` in the run). ``goal`` bounds the value, ``goal_ratio`` the ratio to the
    baseline (either a number, or a path to the goal the benchmark itself reports)."""

    name: str
    value: JsonPath
    unit: str
    better: str  # "lower" or "higher"
    baseline: JsonPath | None = None
    baseline_what: str = ""
    goal: float | JsonPath | None = None
    goal_ratio: float | JsonPath | None = None
    # The benchmark may give no value (e.g. "not seen within T s"): a null, not a fault.
    optional: bool = False


@dataclass(frozen=True)
class Bench:
    """One benchmark: ``tools/<script>``, run with ``quick`` for --quick (None: in full runs
    only) and ``full`` otherwise (its own defaults unless given); ``tree``: it takes
    ``--tree`` (``--trees`` keeps that tree between runs). ``figures`` may depend on the
    output (a list per size of cluster)."""

    name: str
    script: str
    quick: tuple[str, ...] | None
    figures: Sequence[Figure] | Callable[[dict[str, Any]], Sequence[Figure]]
    full: tuple[str, ...] = ()
    tree: bool = False

    def figures_of(self, output: dict[str, Any]) -> Sequence[Figure]:
        return self.figures(output) if callable(self.figures) else self.figures


def cluster_figures(output: dict[str, Any]) -> list[Figure]:
    """Per size of cluster and length of cut: the median heal, left alone and with sync now;
    and the bytes the busiest device sent."""
    figures = []
    for i, run in enumerate(output["runs"]):
        n = run["nodes"]
        goal = run["goal"]["seconds"] if n == run["goal"]["nodes"] else None
        for hold, ways in run["holds"].items():
            for way in ways:
                figures.append(
                    Figure(
                        f"{n}_devices.cut_{hold}s.{way}",
                        ("runs", str(i), "holds", hold, way, "median_s"),
                        "s",
                        "lower",
                        goal=goal,
                    )
                )
        figures.append(
            Figure(f"{n}_devices.bytes_sent", f"runs.{i}.bytes_sent.wire.max", "B", "lower")
        )
    return figures


INDEX_FIGURES = [
    Figure(
        "first_index",
        "first_index.seconds",
        "s",
        "lower",
        baseline="find_seconds",
        baseline_what="find",
        goal_ratio=6,
    ),
    Figure(
        "rescan",
        "rescan.seconds",
        "s",
        "lower",
        baseline="find_seconds",
        baseline_what="find",
        goal_ratio=2,
    ),
    Figure("peak_rss", "first_index.rss_tree_mb", "MB", "lower", goal=300),
    Figure(
        "content_ids",
        "identity.sampled.ids_seconds",
        "s",
        "lower",
        baseline="identity.sampled.b3sum_seconds",
        baseline_what="b3sum",
        goal_ratio=1,
    ),
    Figure(
        "content_ids_indexer",
        "identity.sampled.indexer_seconds",
        "s",
        "lower",
        baseline="identity.sampled.b3sum_seconds",
        baseline_what="b3sum",
    ),
    Figure(
        "full_hash",
        "identity.full.seconds",
        "s",
        "lower",
        baseline="identity.full.b3sum_seconds",
        baseline_what="b3sum",
    ),
    Figure("search_p50", "search.p50_ms", "ms", "lower"),
    Figure("search_p99", "search.p99_ms", "ms", "lower", goal=20),
    Figure("search_short_p99", "search.short.p99_ms", "ms", "lower"),
    Figure(
        "sd_search_process",
        "search.sd_search_process_ms",
        "ms",
        "lower",
        baseline="search.plocate_process_ms",
        baseline_what="plocate",
    ),
]
WEB_FIGURES = [
    Figure("search_c1_p50", "search.json_c1.p50_ms", "ms", "lower",
           baseline="search.socket_c1.p50_ms", baseline_what="control socket"),
    Figure("search_c1_p99", "search.json_c1.p99_ms", "ms", "lower",
           baseline="search.socket_c1.p99_ms", baseline_what="control socket"),
    Figure("search_c8_p99", "search.json_c8.p99_ms", "ms", "lower", goal="search.goal.json_c8_p99_ms",
           baseline="search.socket_c8.p99_ms", baseline_what="control socket"),
    Figure("event_to_client_p50", "event_latency.p50_ms", "ms", "lower",
           goal="event_latency.goal.p50_ms"),
    Figure("write_to_client_p50", "write_latency.p50_ms", "ms", "lower"),
    Figure("rss_100_streams", "streams.delta_mb", "MB", "lower", goal="streams.goal.delta_mb"),
]  # fmt: skip

TAGS_FIGURES = [
    Figure("suggest_cpu", "cpu_s", "s", "lower"),
    Figure("unrelated_tagged", "unrelated_tagged", "share", "lower"),
    Figure("planted_recall", "planted_recall", "share", "higher"),
]  # fmt: skip

EXPLORER_FIGURES = [
    Figure("typing_p50", "typing.p50_ms", "ms", "lower"),
    Figure("typing_p99", "typing.p99_ms", "ms", "lower", goal="typing.goal.p99_ms"),
    Figure("write_to_page_p50", "write.p50_ms", "ms", "lower", goal="write.goal.p50_ms"),
    Figure("disk_to_page_max", "disk.max_ms", "ms", "lower", optional=True),
]  # fmt: skip

NODE_FIGURES = [
    Figure(
        "index",
        "index_seconds",
        "s",
        "lower",
        baseline="updatedb_seconds",
        baseline_what="updatedb",
    ),
    Figure(
        "status_during_index_p99",
        "status_during_index.p99_ms",
        "ms",
        "lower",
        goal="status_during_index.goal.p99_ms",
        optional=True,
    ),
    Figure(
        "search_p50",
        "search.sd.p50_ms",
        "ms",
        "lower",
        baseline="search.baseline.p50_ms",
        baseline_what="plocate",
        goal="search.goal.p50_ms",
    ),
    Figure(
        "search_p99",
        "search.sd.p99_ms",
        "ms",
        "lower",
        baseline="search.baseline.p99_ms",
        baseline_what="plocate",
    ),
    Figure(
        "change_to_index",
        "change.seconds",
        "s",
        "lower",
        baseline="change.baseline.seconds",
        baseline_what="updatedb + plocate",
        goal="change.goal.seconds",
        optional=True,
    ),
    Figure(
        "rss",
        "rss.status_mb",
        "MB",
        "lower",
        baseline="rss.baseline.updatedb_peak_mb",
        baseline_what="updatedb peak",
        goal="rss.goal.mb",
    ),
    Figure(
        "idle_cpu",
        "idle_cpu.percent_of_core",
        "% of a core",
        "lower",
        goal="idle_cpu.goal.percent",
    ),
    Figure("stop", "stop.seconds", "s", "lower", goal="stop.goal.seconds"),
    Figure(
        "search_text_p50",
        "search.sd_text.p50_ms",
        "ms",
        "lower",
        baseline="reads.python_start.p50_ms",
        baseline_what="python -c pass",
        goal=60,
    ),
    *(
        Figure(
            f"{read}_{form}_p50",
            f"reads.{read}.{form}.p50_ms",
            "ms",
            "lower",
            baseline="reads.python_start.p50_ms",
            baseline_what="python -c pass",
            goal=60,
        )
        for read in ("ls_folder", "ls", "stats", "node_status")
        for form in ("text", "json")
    ),
]

BENCHMARKS: list[Bench] = [
    Bench(
        "kinds",
        "bench_kinds.py",
        quick=("--seconds", "0.01"),
        figures=[
            Figure(
                "mix",
                "mix_us.kind_of",
                "µs",
                "lower",
                baseline="mix_us.puremagic*",
                baseline_what="puremagic",
            ),
            Figure("import", "import_ms", "ms", "lower"),
        ],
    ),
    Bench(
        "index",
        "bench_index.py",
        quick=("--files", "300"),
        tree=True,
        figures=INDEX_FIGURES,
    ),
    Bench(
        "index_1m",
        "bench_index.py",
        quick=None,
        full=("--files", "1000000"),
        tree=True,
        figures=INDEX_FIGURES,
    ),
    Bench(
        "node",
        "bench_node.py",
        quick=("--files", "500", "--runs", "5", "--burst", "50", "--burst-timeout", "5")
        + ("--idle-seconds", "1"),
        tree=True,
        figures=NODE_FIGURES,
    ),
    Bench(
        "web",
        "bench_web.py",
        quick=("--files", "500", "--runs", "20", "--streams", "20", "--events", "3"),
        tree=True,
        figures=WEB_FIGURES,
    ),
    Bench(
        "tags",
        "bench_tags.py",
        quick=("--files", "2000", "--tagged", "200", "--unrelated", "200", "--repeat", "1"),
        full=("--unrelated", "1000"),
        figures=TAGS_FIGURES,
    ),
    # Needs Debian's chromium (installed when missing, as root): full runs only; its smoke
    # run is tests/browser/test_bench_explorer.py, beside the browser tests.
    Bench(
        "explorer",
        "bench_explorer.py",
        quick=None,
        full=(),
        tree=True,
        figures=EXPLORER_FIGURES,
    ),
    Bench(
        "node_100k",
        "bench_node.py",
        quick=None,
        full=("--files", "100000"),
        tree=True,
        figures=NODE_FIGURES,
    ),
    Bench(
        "log",
        "bench_log.py",
        quick=("--events", "3000", "--single-events", "200", "--writers", "4")
        + ("--per-writer", "20"),
        figures=[
            Figure(
                "journal_append",
                "journal_append_per_s",
                "ev/s",
                "higher",
                baseline="sqlite_floor_rows_per_s",
                baseline_what="bare sqlite rows",
                goal=200_000,
                goal_ratio=0.5,
            ),
            Figure(
                "store_append",
                "store_batch.append_per_s",
                "ev/s",
                "higher",
                baseline="es_batch.per_s",
                baseline_what="eventsourcing",
            ),
            Figure(
                "store_build_append",
                "store_batch.build_append_per_s",
                "ev/s",
                "higher",
                baseline="es_batch.per_s",
                baseline_what="eventsourcing",
                goal=200_000,
            ),
            Figure(
                "store_single",
                "store_single.append_per_s",
                "ev/s",
                "higher",
                baseline="es_single.per_s",
                baseline_what="eventsourcing",
            ),
            Figure(
                "concurrent",
                "concurrent.events_per_s",
                "ev/s",
                "higher",
                baseline="es_concurrent.events_per_s",
                baseline_what="eventsourcing",
                goal=20_000,
            ),
            Figure(
                "concurrent_p99",
                "concurrent.p99_ms",
                "ms",
                "lower",
                baseline="es_concurrent.p99_ms",
                baseline_what="eventsourcing",
                goal=5,
            ),
            Figure(
                "concurrent_trio",
                "concurrent_trio.events_per_s",
                "ev/s",
                "higher",
                baseline="es_concurrent.events_per_s",
                baseline_what="eventsourcing",
                goal=20_000,
            ),
            Figure(
                "concurrent_trio_p99",
                "concurrent_trio.p99_ms",
                "ms",
                "lower",
                baseline="es_concurrent.p99_ms",
                baseline_what="eventsourcing",
                goal=5,
            ),
            Figure("rebuild", "rebuild_per_s", "ev/s", "higher", goal=300_000),
            Figure(
                "import_segments",
                "segments_log.import_per_s",
                "ev/s",
                "higher",
                baseline="segments_log.export_per_s",
                baseline_what="export",
            ),
            Figure(
                "import_sealed_per_event",
                "one_by_one_log.import_per_s",
                "ev/s",
                "higher",
                baseline="segments_log.export_per_s",
                baseline_what="export",
                goal=50_000,
            ),
        ],
    ),
    Bench(
        "replay",
        "bench_replay.py",
        quick=("--files", "200", "--tag-events", "300", "--tail-events", "10"),
        tree=True,
        figures=[
            Figure(
                "ls_at_cold",
                "ls_at.cold_seconds",
                "s",
                "lower",
                baseline="ls_at.baseline.full_fold_seconds",
                baseline_what="whole fold",
                goal="ls_at.goal.cold_seconds",
            ),
            Figure(
                "ls_at_warm",
                "ls_at.warm_seconds",
                "s",
                "lower",
                baseline="ls_at.baseline.full_fold_seconds",
                baseline_what="whole fold",
                goal="ls_at.goal.warm_seconds",
            ),
            Figure(
                "history",
                "history.seconds",
                "s",
                "lower",
                baseline="history.baseline.show_every_entries_event_seconds",
                baseline_what="log show of every entries event",
                goal="history.goal.seconds",
            ),
            Figure(
                "bisect",
                "bisect.seconds",
                "s",
                "lower",
                baseline="bisect.baseline.full_fold_seconds",
                baseline_what="whole fold",
                goal="bisect.goal.seconds",
            ),
            Figure("tail_p99", "tail.p99_ms", "ms", "lower", goal="tail.goal.p99_ms"),
        ],
    ),
    Bench(
        "sync",
        "bench_sync.py",
        quick=("--files", "500", "--edits", "5", "--drop-mib", "1"),
        tree=True,
        figures=[
            Figure(
                "initial_searchable",
                "initial.seconds_searchable",
                "s",
                "lower",
                baseline="index_seconds",
                baseline_what="A's own index",
                goal="initial.goal.seconds_searchable",
            ),
            Figure(
                "initial_log",
                "initial.seconds_log",
                "s",
                "lower",
                baseline="index_seconds",
                baseline_what="A's own index",
            ),
            Figure(
                "initial_index",
                "initial.seconds_index",
                "s",
                "lower",
                baseline="index_seconds",
                baseline_what="A's own index",
            ),
            Figure(
                "wire_bytes",
                "initial.frame_bytes_sent",
                "B",
                "lower",
                baseline="initial.log_bytes",
                baseline_what="the events' own size",
            ),
            Figure(
                "reconnect_bytes",
                "reconnect.frame_bytes_sent",
                "B",
                "lower",
                goal="reconnect.goal.bytes_each_way",
            ),
            Figure("edit_p99", "edits.p99_ms", "ms", "lower", goal="edits.goal.p99_ms"),
            Figure(
                "spacedrop",
                "drop.mb_per_s",
                "MB/s",
                "higher",
                baseline="drop.raw_iroh.mb_per_s",
                baseline_what="raw iroh",
                goal_ratio="drop.goal.ratio_to_raw_iroh",
            ),
        ],
    ),
    Bench(
        "cluster",
        "bench_cluster.py",
        quick=("--nodes", "3", "--rounds", "1", "--hold", "0.5", "--writes", "1")
        + ("--within", "60"),
        figures=cluster_figures,
    ),
    Bench(
        "similar",
        "bench_similar.py",
        quick=("--count", "5000", "--repeat", "1"),
        figures=[
            Figure("group_cpu", "cpu_s", "s", "lower"),
            Figure("group_wall", "wall_s", "s", "lower"),
        ],
    ),
    Bench(
        "semantic",
        "bench_semantic.py",
        quick=("--quick",),
        figures=[
            Figure("semantic_mrr", "modes.semantic.mrr", "MRR", "higher", goal=0.7),
            Figure("plain_mrr", "modes.plain.mrr", "MRR", "higher"),
            Figure("balanced_mrr", "modes.balanced.mrr", "MRR", "higher"),
            Figure("balanced_p99_cpu", "modes.balanced.cpu.p99_ms", "ms", "lower", goal=50),
            Figure("semantic_p99_cpu", "modes.semantic.cpu.p99_ms", "ms", "lower", goal=100),
            Figure("scan_p99_cpu", "scan.cpu.p99_ms", "ms", "lower", goal=100),
            # The process's own memory; the vectors file's pages it maps apart (page cache).
            Figure("scan_rss", "scan.rss_added_mb", "MB", "lower", goal=300),
            Figure("scan_rss_file", "scan.rss_file_added_mb", "MB", "lower"),
            Figure("scan_recall", "scan.recall_at_10", "recall@10", "higher", goal=0.95),
            Figure("embeddings", "scan.embeddings_per_cpu_s", "/s", "higher"),
            Figure("vectors_share", "vectors_share_of_first_index", "ratio", "lower"),
        ],
    ),
    Bench(
        "media",
        "bench_media.py",
        quick=("--quick",),
        figures=[
            *(
                Figure(
                    kind,
                    f"ours.{kind}.files_per_s",
                    "files/s",
                    "higher",
                    baseline=f"vips.{kind}.files_per_s_3_sizes",
                    baseline_what="vipsthumbnail, the same 3 sizes",
                    goal_ratio=0.5 if kind == "jpeg" else None,
                )
                for kind in ("jpeg", "png", "pdf")
            ),
            Figure(
                "video",
                "ours.video.files_per_s",
                "files/s",
                "higher",
                baseline="ffmpegthumbnailer.files_per_s",
                baseline_what="ffmpegthumbnailer, 256 px",
                goal="goals.video_files_per_s_goal",
            ),
            Figure(
                "disk_per_thumbnail",
                "ours.disk.disk_bytes_per_thumbnail",
                "B",
                "lower",
                baseline="vips.disk.disk_bytes_per_thumbnail",
                baseline_what="vipsthumbnail",
            ),
            Figure("node_job", "node.files_per_s", "files/s", "higher"),
            Figure("node_rss", "node.rss_with_workers_mb", "MB", "lower"),
            Figure("status_p99", "node.status.p99_ms", "ms", "lower", goal=100),
        ],
    ),
]


# -- reading a benchmark's output ----------------------------------------------------------


def pick(output: Any, path: JsonPath) -> Any:
    """The value at ``path`` (None where the benchmark wrote null on the way). KeyError
    when the benchmark does not write that key at all: the registry is out of date."""
    node = output
    for key in path.split(".") if isinstance(path, str) else path:
        if node is None:
            return None
        if isinstance(node, list):
            node = node[int(key)]
        elif key in node:
            node = node[key]
        else:
            found = fnmatch.filter(node, key) if any(c in key for c in "*?[") else []
            if not found:
                raise KeyError(f"no {key!r} in the output at {path!r}")
            node = node[found[0]]
    return node


def bound(goal: float | JsonPath | None, output: dict[str, Any]) -> float | None:
    return goal if goal is None or isinstance(goal, (int, float)) else pick(output, goal)


def within(value: float | None, limit: float | None, better: str) -> bool | None:
    if limit is None:
        return None
    if value is None:
        return False
    return value <= limit if better == "lower" else value >= limit


def read_figure(fig: Figure, bench: str, output: dict[str, Any]) -> dict[str, Any]:
    value = pick(output, fig.value)
    if value is None and not fig.optional:
        raise KeyError(f"{fig.name}: null at {fig.value!r}")
    base = pick(output, fig.baseline) if fig.baseline is not None else None
    ratio = value / base if value is not None and base else None
    goal = {"value": bound(fig.goal, output), "ratio": bound(fig.goal_ratio, output)}
    met = [within(value, goal["value"], fig.better), within(ratio, goal["ratio"], fig.better)]
    return {
        "name": f"{bench}.{fig.name}",
        "benchmark": bench,
        "value": value,
        "unit": fig.unit,
        "better": fig.better,
        "baseline": None if fig.baseline is None else {"what": fig.baseline_what, "value": base},
        "ratio": ratio,
        "goal": {k: v for k, v in goal.items() if v is not None} or None,
        "goal_met": None if all(m is None for m in met) else all(m is not False for m in met),
    }


# -- running -------------------------------------------------------------------------------


def git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=TOOLS, capture_output=True, text=True)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def machine() -> dict[str, Any]:
    """What makes two runs comparable or not."""
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "commit": git("rev-parse", "HEAD"),
        "commit_dirty": None if dirty is None else bool(dirty),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average_at_start": os.getloadavg(),
    }


def children_cpu_seconds() -> float:
    """CPU time of the processes this one waited for, and of those they waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_one(bench: Bench, quick: bool, trees: Path | None) -> dict[str, Any]:
    """The benchmark as its own process; its status, its whole output and its figures."""
    args = [*((bench.quick or ()) if quick else bench.full)]
    if bench.tree and trees is not None:
        args += ["--tree", str(trees / f"{bench.name}{'-quick' if quick else ''}")]
    command = [sys.executable, str(TOOLS / bench.script), *args, "--json"]
    started, cpu = time.perf_counter(), children_cpu_seconds()
    # Its own process group: a benchmark out of time goes with the nodes it started.
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = proc.communicate(timeout=QUICK_TIMEOUT_S if quick else None)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {
            "status": "failed",
            "reason": f"no answer within {QUICK_TIMEOUT_S:.0f} s",
            "args": args,
            "seconds": time.perf_counter() - started,
        }
    r: dict[str, Any] = {
        "args": args,
        "seconds": time.perf_counter() - started,
        # Less moved than the wall time by what else runs on the machine.
        "cpu_seconds": children_cpu_seconds() - cpu,
    }
    lines = stdout.strip().splitlines()
    try:
        output = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        output = None
    r["output"] = output
    if proc.returncode == SKIPPED_STATUS and isinstance(output, dict) and "skipped" in output:
        return {**r, "status": "skipped", "reason": output["skipped"]}
    if proc.returncode != 0 or not isinstance(output, dict):
        tail = stderr.strip().splitlines()[-20:]
        reason = f"exit status {proc.returncode}" + (": " + "\n".join(tail) if tail else "")
        return {**r, "status": "failed", "reason": reason}
    try:
        r["figures"] = [read_figure(f, bench.name, output) for f in bench.figures_of(output)]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        return {**r, "status": "failed", "reason": f"its output lacks a figure: {exc}"}
    return {**r, "status": "ok"}


def run(args: argparse.Namespace) -> int:
    chosen = [
        b
        for b in BENCHMARKS
        if (not args.only or b.name in args.only) and (b.quick is not None or not args.quick)
    ]
    if not chosen:
        raise SystemExit(f"{', '.join(args.only)}: in full runs only, not with --quick")
    result: dict[str, Any] = {"quick": args.quick, "machine": machine(), "benchmarks": {}}
    started = time.perf_counter()
    figures: list[dict[str, Any]] = []
    for bench in chosen:
        print(f"{bench.name}: {bench.script} ...", end="", flush=True, file=sys.stderr)
        one = run_one(bench, args.quick, args.trees)
        figures += one.pop("figures", [])
        result["benchmarks"][bench.name] = one
        cpu = f", {one['cpu_seconds']:.1f} s of CPU" if "cpu_seconds" in one else ""
        print(f" {one['status']} in {one['seconds']:.1f} s{cpu}", file=sys.stderr)
    result["seconds"] = time.perf_counter() - started
    result["machine"]["load_average_at_end"] = os.getloadavg()
    result["figures"] = figures
    out = args.out or Path(default_name(result))
    out.write_text(json.dumps(result, indent=1) + "\n")
    print_run(result)
    print(f"figures written to {out}")
    return 0 if all(b["status"] != "failed" for b in result["benchmarks"].values()) else 1


def default_name(result: dict[str, Any]) -> str:
    m = result["machine"]
    stamp = m["date"].replace(":", "").replace("-", "").replace("+0000", "Z")
    commit = (m["commit"] or "nogit")[:10]
    return f"bench-{stamp}-{commit}{'-quick' if result['quick'] else ''}.json"


# -- printing ------------------------------------------------------------------------------


def num(v: float | None) -> str:
    if v is None:
        return "-"
    if float(v).is_integer():
        return f"{v:,.0f}"
    if abs(v) < 1:
        return f"{v:.3g}"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"


def ratio_text(fig: dict[str, Any]) -> str:
    if fig["baseline"] is None:
        return ""
    return f"{num(fig['ratio'])}x {fig['baseline']['what']}" if fig["ratio"] is not None else "-"


def goal_text(fig: dict[str, Any]) -> str:
    goal = fig["goal"] or {}
    sign = "<=" if fig["better"] == "lower" else ">="
    parts = [f"{sign} {num(goal['value'])} {fig['unit']}"] if "value" in goal else []
    if "ratio" in goal:
        parts.append(f"{sign} {num(goal['ratio'])}x")
    return ", ".join(parts)


def table(rows: list[Sequence[str]]) -> Iterator[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        yield "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()


def print_run(result: dict[str, Any]) -> None:
    rows: list[Sequence[str]] = [("figure", "value", "baseline", "ratio", "goal", "met")]
    for fig in result["figures"]:
        base = fig["baseline"]
        rows.append(
            (
                fig["name"],
                f"{num(fig['value'])} {fig['unit']}",
                f"{base['what']} {num(base['value'])}" if base else "",
                ratio_text(fig),
                goal_text(fig),
                {None: "", True: "yes", False: "NO"}[fig["goal_met"]],
            )
        )
    for line in table(rows):
        print(line)
    for name, b in result["benchmarks"].items():
        if b["status"] != "ok":
            print(f"{name}: {b['status'].upper()}: {b['reason']}")
    print(f"{len(result['figures'])} figures in {result['seconds']:.0f} s")


# -- compare -------------------------------------------------------------------------------


def worse_by(old: float | None, new: float | None, better: str) -> float | None:
    """How much worse ``new`` is than ``old``, as a share of ``old`` (negative: better);
    infinite when the value is gone; None when there is nothing to judge (no old value, or
    zero: no share of it means anything)."""
    if not old:
        return None
    if new is None:
        return math.inf
    change = (new - old) / abs(old)
    return change if better == "lower" else -change


def compare(old: dict[str, Any], new: dict[str, Any], threshold: float) -> dict[str, Any]:
    old_figs = {f["name"]: f for f in old["figures"]}
    new_figs = {f["name"]: f for f in new["figures"]}
    names = [*new_figs, *(n for n in old_figs if n not in new_figs)]
    figures = []
    for name in names:
        o, n = old_figs.get(name), new_figs.get(name)
        either = n or o
        assert either is not None
        # On the ratio to the same run's baseline when both runs have it, else the values.
        on = "ratio" if o and n and o["ratio"] and n["ratio"] else "value"
        w = worse_by((o or {}).get(on), (n or {}).get(on), either["better"])
        ov, nv = (o or {}).get("value"), (n or {}).get("value")
        figures.append(
            {
                "name": name,
                "unit": either["unit"],
                "better": either["better"],
                "old": ov,
                "new": nv,
                "value_change": None if ov in (None, 0) or nv is None else nv / ov - 1,
                "old_ratio": (o or {}).get("ratio"),
                "new_ratio": (n or {}).get("ratio"),
                "baseline": (either["baseline"] or {}).get("what"),
                "judged_on": on,
                "worse_by": None if w is None or math.isinf(w) else w,
                # A figure in one run only (its benchmark not run, or skipped) is listed, not
                # judged; one that lost its value in NEW is judged worse.
                "worse": o is not None and n is not None and w is not None and w > threshold,
                "only_in": None if o and n else ("old" if o else "new"),
            }
        )
    failed = [k for k, b in new["benchmarks"].items() if b["status"] == "failed"]
    skipped = {k: b["reason"] for k, b in new["benchmarks"].items() if b["status"] == "skipped"}
    return {
        "threshold": threshold,
        "old": {"quick": old["quick"], **old["machine"]},
        "new": {"quick": new["quick"], **new["machine"]},
        "figures": figures,
        "worse": [f["name"] for f in figures if f["worse"]],
        "failed_in_new": failed,
        "skipped_in_new": skipped,
    }


def pct(share: float | None) -> str:
    return "-" if share is None else f"{share:+.1%}"


def verdict_text(worse: float | None) -> str:
    if worse is None:
        return "-"
    if worse == 0:
        return "same"
    return f"{worse:.1%} worse" if worse > 0 else f"{-worse:.1%} better"


def print_compare(c: dict[str, Any]) -> None:
    for side in ("old", "new"):
        m = c[side]
        load = ", ".join(f"{x:.1f}" for x in m["load_average_at_start"])
        print(
            f"{side}: {(m['commit'] or '?')[:10]}{' (dirty)' if m['commit_dirty'] else ''} "
            f"{m['date']}  {'quick' if m['quick'] else 'full'}  {m['cores']} cores  "
            f"{m['python']}  load {load}"
            + (f"  (median of {m['runs']} runs)" if m.get("runs", 1) > 1 else "")
        )
    if c["old"]["quick"] != c["new"]["quick"]:
        print("warning: one run is --quick, the other full: their sizes differ")
    rows: list[Sequence[str]] = [
        ("figure", "unit", "old", "new", "change", "ratio old -> new", "judged", "")
    ]
    for f in c["figures"]:
        ratio = ""
        if f["baseline"]:
            ratio = f"{num(f['old_ratio'])}x -> {num(f['new_ratio'])}x {f['baseline']}"
        if f["only_in"]:
            verdict = f"only in {f['only_in']}"
        elif f["worse_by"] is None and f["new"] is None and f["old"] is not None:
            verdict = "no value in new"
        else:
            verdict = verdict_text(f["worse_by"])
        rows.append(
            (
                f["name"],
                f["unit"],
                num(f["old"]),
                num(f["new"]),
                pct(f["value_change"]),
                ratio,
                f"{f['judged_on']}: {verdict}",
                "WORSE" if f["worse"] else "",
            )
        )
    for line in table(rows):
        print(line)
    for name in c["failed_in_new"]:
        print(f"{name}: FAILED in new")
    for name, why in c["skipped_in_new"].items():
        print(f"{name}: skipped in new: {why}")
    flagged = len(c["worse"]) + len(c["failed_in_new"])
    print(
        f"{len(c['worse'])} of {len(c['figures'])} figures worse by more than "
        f"{c['threshold']:.0%} (on the ratio to the same run's baseline where there is one)"
        + (f"; {len(c['failed_in_new'])} benchmarks failed" if c["failed_in_new"] else "")
        + ("" if flagged else ": none")
    )


class NotARun(Exception):
    """A file ``compare`` was given that is not a run of bench_all.py."""


def load_run(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise NotARun(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or not {"figures", "machine", "benchmarks"} <= data.keys():
        raise NotARun(f"{path} is not a file written by bench_all.py")
    return data


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs of one side as one: each figure's median value, ratio and baseline (a
    value lost in any run is lost); a benchmark failed in any run failed."""
    if len(runs) == 1:
        return runs[0]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        for fig in r["figures"]:
            by_name.setdefault(fig["name"], []).append(fig)

    def median(values: list[float | None]) -> float | None:
        return None if None in values else statistics.median(values)  # type: ignore[type-var]

    figures = []
    for figs in by_name.values():
        fig = {**figs[0], "value": median([f["value"] for f in figs])}
        fig["ratio"] = median([f["ratio"] for f in figs])
        if fig["baseline"] is not None:
            values = [(f["baseline"] or {}).get("value") for f in figs]
            fig["baseline"] = {**fig["baseline"], "value": median(values)}
        figures.append(fig)
    benchmarks: dict[str, Any] = {}
    for r in runs:
        for name, b in r["benchmarks"].items():
            if name not in benchmarks or b["status"] == "failed":
                benchmarks[name] = b
    machine = {**runs[0]["machine"], "runs": len(runs)}
    return {
        "quick": runs[0]["quick"],
        "machine": machine,
        "benchmarks": benchmarks,
        "figures": figures,
    }


def compare_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="bench_all.py compare", description="Two runs of bench_all.py side by side."
    )
    runs = "a run's JSON file; several, comma-separated, for the median of each figure"
    parser.add_argument("old", help=f"Before: {runs}.")
    parser.add_argument("new", help=f"After: {runs}.")
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.10,
        help="Flag a figure worse by more than this share (default 0.10).",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        old, new = ([load_run(Path(f)) for f in side.split(",")] for side in (args.old, args.new))
        c = compare(median_run(old), median_run(new), args.threshold)
    except NotARun as exc:
        print(json.dumps({"error": str(exc)}) if args.json else f"error: {exc}")
        return 1
    if args.json:
        print(json.dumps(c))
    else:
        print_compare(c)
    return 1 if c["worse"] or c["failed_in_new"] else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["compare"]:
        return compare_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="A small run of each benchmark.")
    parser.add_argument(
        "--only",
        action="append",
        choices=[b.name for b in BENCHMARKS],
        help="Run only this benchmark (repeatable).",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="The JSON file (default: bench-DATE-COMMIT.json)."
    )
    parser.add_argument(
        "--trees",
        type=Path,
        default=None,
        help="Keep each benchmark's generated tree in DIR/NAME, to reuse on the next run.",
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
