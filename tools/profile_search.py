"""Where search spends its time, on an existing index: the query mix of ``bench_index.py``
timed query by query, by class, and each query's time split into the reads of each rank.

    python tools/profile_search.py --data-dir DIR [--queries 300] [--repeat 3] [--top 15]

``DIR`` is an ``SD_DATA_DIR`` holding one library with an index (``sd location add``). Each
query is first timed as it runs (the fastest of ``--repeat`` runs: on a shared machine a
slower run measures the other processes; ``--median`` takes the median instead; ``--cpu``
times the CPU the search used rather than the wall clock, which on a machine shared by
many processes is the closer measure of the wall time an idle one would give),
and its answer held to the scan's (recall, same order); then it runs once more with every
read counted: the time in each phase of :class:`projections.files.search._Search` (the read
of each rank, the path matches and their parts, the final listing of hits), of which how
much inside SQLite (the statement and its rows), and how many rows each phase fetched.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import latency_summary, search_queries  # noqa: E402

RANK_PHASES = ("exact", "prefix", "word", "in_name", "path_pages")
# _Search's methods that make a phase of their own (while they run, time is theirs).
PHASES = {
    "_paths": "paths",
    "_named_folders": "paths.named_folders",
    "_subtrees": "paths.subtrees",
    "_roots": "paths.folders",
    "_every_folder": "paths.folders",
    "_named": "paths.count",
    "_held": "paths.held",
    "_read_listings": "paths.listings",
    "_read_folders_pages": "paths.folder_pages",
    "_hits": "hits",
}


class Clock:
    """Self time per phase (a phase's time, less that of the phases it calls), and the part
    of it spent inside SQLite."""

    def __init__(self) -> None:
        self.stack: list[str] = ["other"]
        self.last = time.perf_counter()
        self.time: dict[str, float] = defaultdict(float)
        self.sql: dict[str, float] = defaultdict(float)
        self.rows: dict[str, int] = defaultdict(int)

    def enter(self, phase: str) -> None:
        now = time.perf_counter()
        self.time[self.stack[-1]] += now - self.last
        self.stack.append(phase)
        self.last = now

    def leave(self) -> None:
        now = time.perf_counter()
        self.time[self.stack.pop()] += now - self.last
        self.last = now

    def in_sql(self, seconds: float, rows: int) -> None:
        self.sql[self.stack[-1]] += seconds
        self.rows[self.stack[-1]] += rows


class TimedCursor:
    def __init__(self, clock: Clock, cursor: sqlite3.Cursor) -> None:
        self.clock = clock
        self.cursor = cursor

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        start = time.perf_counter()
        try:
            row = next(self.cursor)
        except StopIteration:
            self.clock.in_sql(time.perf_counter() - start, 0)
            raise
        self.clock.in_sql(time.perf_counter() - start, 1)
        return row

    def fetchone(self) -> Any:
        start = time.perf_counter()
        row = self.cursor.fetchone()
        self.clock.in_sql(time.perf_counter() - start, row is not None)
        return row

    def fetchall(self) -> list[Any]:
        start = time.perf_counter()
        rows = self.cursor.fetchall()
        self.clock.in_sql(time.perf_counter() - start, len(rows))
        return rows


class TimedConnection:
    """A connection whose statements and rows are timed into the clock's current phase."""

    def __init__(self, clock: Clock, db: sqlite3.Connection) -> None:
        self.clock = clock
        self.db = db

    def execute(self, sql: str, params: Any = ()) -> TimedCursor:
        start = time.perf_counter()
        cursor = self.db.execute(sql, params)
        self.clock.in_sql(time.perf_counter() - start, 0)
        return TimedCursor(self.clock, cursor)


def instrument(clock: Clock) -> Callable[[], None]:
    """Wrap ``_Search``'s phases so that they tell ``clock``; returns the undo."""
    from projections.files import search as module

    cls = module._Search
    saved: dict[str, Any] = {}

    def wrap(name: str, phase: Callable[..., str]) -> None:
        original = getattr(cls, name, None)
        if original is None:
            return
        saved[name] = original

        def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
            clock.enter(phase(*args, **kwargs))
            try:
                return original(self, *args, **kwargs)
            finally:
                clock.leave()

        setattr(cls, name, timed)

    for name, phase_name in PHASES.items():
        wrap(name, lambda *a, _p=phase_name, **k: _p)

    def read_phase(pages: Any, needle: str, worst: int, stop: int | None = None) -> str:
        if clock.stack[-1].startswith("paths"):
            return "paths.read"
        return RANK_PHASES[worst] + ("(word)" if stop is not None and stop != worst else "")

    wrap("read", read_phase)

    def undo() -> None:
        for name, original in saved.items():
            setattr(cls, name, original)

    return undo


def profile(
    db: sqlite3.Connection,
    queries: dict[str, list[str]],
    repeat: int,
    top: int,
    median: bool,
    timer: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    from projections.files.search import every_name, search, search_by_scan

    names = every_name(db)
    out: dict[str, Any] = {"classes": {}, "phases": {}, "slowest": []}
    everything: list[tuple[float, str, str, dict[str, Any]]] = []
    totals: list[float] = []
    for cls, mix in queries.items():
        latencies, expected, returned, exact = [], 0, 0, 0
        phase_ms: dict[str, float] = defaultdict(float)
        sql_ms: dict[str, float] = defaultdict(float)
        rows: dict[str, int] = defaultdict(int)
        for query in mix:
            runs = []
            for _ in range(repeat):
                start = timer()
                hits = search(db, query, limit=50)
                runs.append(timer() - start)
            seconds = statistics.median(runs) if median else min(runs)
            latencies.append(seconds)
            truth = search_by_scan(db, query, limit=50, names=names)
            expected += len(truth)
            returned += len({h.path for h in hits} & {h.path for h in truth})
            exact += hits == truth
            clock = Clock()
            undo = instrument(clock)
            try:
                search(TimedConnection(clock, db), query, limit=50)  # type: ignore[arg-type]
            finally:
                undo()
            clock.leave()
            for phase, t in clock.time.items():
                phase_ms[phase] += t * 1000
            for phase, t in clock.sql.items():
                sql_ms[phase] += t * 1000
            for phase, n in clock.rows.items():
                rows[phase] += n
            everything.append(
                (
                    seconds,
                    cls,
                    query,
                    {
                        p: f"{t * 1000:.1f}/{clock.sql.get(p, 0) * 1000:.1f}ms {clock.rows.get(p, 0)}r"
                        for p, t in sorted(clock.time.items(), key=lambda pt: -pt[1])
                        if t >= 0.0005
                    },
                )
            )
        totals += latencies
        out["classes"][cls] = {
            "queries": len(mix),
            **(latency_summary(latencies) if latencies else {}),
            "recall": returned / expected if expected else 1.0,
            "same_order": exact / len(mix) if mix else 1.0,
        }
        out["phases"][cls] = {
            p: {"ms": round(phase_ms[p], 2), "sql_ms": round(sql_ms[p], 2), "rows": rows[p]}
            for p in sorted(phase_ms, key=lambda p: -phase_ms[p])
        }
    out["all"] = latency_summary(totals)
    everything.sort(key=lambda e: -e[0])
    out["slowest"] = [
        {"ms": round(s * 1000, 2), "class": c, "query": q, "phases": ph}
        for s, c, q, ph in everything[:top]
    ]
    return out


def classes(names: list[tuple[str, str, int, int]], count: int) -> dict[str, list[str]]:
    """bench_index's mix (the same queries), by the class each query was made as."""
    mix = search_queries(names, count)
    out: dict[str, list[str]] = defaultdict(list)
    for group in ("typed", "short"):
        for query, cls in zip(mix[group], mix[f"{group}_classes"]):
            out[cls].append(query)
    return dict(out)


def report(r: dict[str, Any]) -> None:
    a = r["all"]
    print(
        f"all {sum(c['queries'] for c in r['classes'].values())} queries: p50 {a['p50_ms']:.2f} "
        f"ms  p99 {a['p99_ms']:.2f} ms  max {a['max_ms']:.2f} ms"
    )
    print(f"{'class':<12} {'n':>4} {'p50':>7} {'p99':>7} {'max':>7}  recall  same order")
    for cls, c in r["classes"].items():
        print(
            f"{cls:<12} {c['queries']:>4} {c['p50_ms']:7.2f} {c['p99_ms']:7.2f} "
            f"{c['max_ms']:7.2f}  {c['recall']:6.1%}  {c['same_order']:6.1%}"
        )
    print("\nphases per class: ms in total over the class (of which in SQLite), rows fetched")
    for cls, phases in r["phases"].items():
        parts = [
            f"{p} {v['ms']:.0f} ({v['sql_ms']:.0f}) {v['rows']}r"
            for p, v in phases.items()
            if v["ms"] >= 1
        ]
        print(f"  {cls:<12} " + "; ".join(parts))
    print("\nslowest queries: phase self/sql ms, rows")
    for s in r["slowest"]:
        print(f"  {s['ms']:7.2f} ms {s['class']:<10} {s['query']!r}: {s['phases']}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--median", action="store_true")
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from projections.files.search import every_name

    (index_db,) = (args.data_dir / "libraries").glob("*.sdlibrary/index.db")
    db = sqlite3.connect(f"file:{index_db}?mode=ro", uri=True)
    timer = time.thread_time if args.cpu else time.perf_counter
    r = profile(
        db, classes(every_name(db), args.queries), args.repeat, args.top, args.median, timer
    )
    db.close()
    if args.json:
        print(json.dumps(r))
    else:
        report(r)
    return r


if __name__ == "__main__":
    main()
