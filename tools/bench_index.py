"""Benchmark of indexing and search, each figure a ratio against a baseline in the same run.

- first index of a generated tree (``sd location add``, end to end: walk, events,
  projections, content ids, kinds, search) vs ``find DIR -printf '%i %s %T@ %p\\n'``;
  goal <= 4x; plocate's ``updatedb`` over the same tree for comparison;
- rescan with nothing changed vs the same ``find``; goal <= 2x and no new entry events;
- content identity of the tree (the Identifier's worker processes) vs ``b3sum`` over the
  same files; goal: at least as fast;
- search: p50/p99 in-process over the index (goal p99 <= 20 ms) and ``sd search`` as a whole
  process, beside a ``plocate`` query;
- peak RSS of the indexing process (and of its workers); goal <= 300 MB at 1M files.

    python tools/bench_index.py --files 100000
    python tools/bench_index.py --files 1000000 --tree /var/tmp/tree-1m   # keep the tree

``b3sum`` and ``plocate`` come from Debian packages; the script installs them with apt-get
when it runs as root and they are missing, and otherwise skips those baselines.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_tree import generate  # noqa: E402

SD = [sys.executable, "-m", "sdactors"]


def ensure_tool(binary: str, package: str) -> str | None:
    """The path of ``binary``, installing Debian's ``package`` if we can; None otherwise."""
    found = shutil.which(binary)
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    subprocess.run(
        ["apt-get", "install", "-y", "-q", package],
        capture_output=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    return shutil.which(binary)


def timed_cmd(args: list[str], repeat: int = 3, **kwargs: Any) -> float:
    """Median wall time of a command (output discarded)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(args, stdout=subprocess.DEVNULL, check=True, **kwargs)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class PeakRss:
    """Samples the RSS of a process (and, separately, of its children) while it runs."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.main = 0
        self.tree = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                main = self.proc.memory_info().rss
                kids = sum(c.memory_info().rss for c in self.proc.children(recursive=True))
            except psutil.Error:
                continue
            self.main = max(self.main, main)
            self.tree = max(self.tree, main + kids)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def sd(env: dict[str, str], *args: str) -> Any:
    out = subprocess.run([*SD, "--json", *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"sd {' '.join(args)} failed: {out.stderr.strip()}")
    return json.loads(out.stdout) if out.stdout.strip() else None


def bench_first_index(env: dict[str, str], tree: Path) -> dict[str, Any]:
    sd(env, "library", "create", "bench")
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*SD, "--json", "location", "add", str(tree)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    rss = PeakRss(proc.pid)
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    rss.stop()
    if proc.returncode != 0:
        raise SystemExit(f"sd location add failed: {err.strip()}")
    return {
        "seconds": seconds,
        "job": json.loads(out),
        "rss_main_mb": rss.main / 1e6,
        "rss_tree_mb": rss.tree / 1e6,
    }


def entry_events(env: dict[str, str]) -> int:
    stats = sd(env, "log", "stats")
    return sum(n for t, n in stats["by_type"].items() if t.startswith("entries."))


def bench_rescan(env: dict[str, str], tree: Path) -> dict[str, Any]:
    before = entry_events(env)
    start = time.perf_counter()
    job = sd(env, "location", "rescan", str(tree))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "job": job, "new_entry_events": entry_events(env) - before}


def bench_identity(tree: Path, b3sum: str | None) -> dict[str, Any]:
    """Content ids of every file the way the indexer computes them (worker processes, each
    listing a few folders and reading their files relative to the folder), vs ``b3sum``
    over the same files (given the list of files, which it need not find)."""
    from sdactors.indexer.identify import Identifier

    folders = [os.fsencode(folder) for folder, _dirs, _files in os.walk(tree)]
    identifier = Identifier()
    identifier.submit_folders([(folders[0], False)]).result()  # start the workers first
    start = time.perf_counter()
    futures = [
        identifier.submit_folders([(f, True) for f in folders[i : i + 8]])
        for i in range(0, len(folders), 8)
    ]
    files = sum(
        sum(1 for x in result.identities or () if x is not None)
        for future in futures
        for result in future.result()
    )
    ours = time.perf_counter() - start
    identifier.close()
    out: dict[str, Any] = {"files": files, "seconds": ours}
    if b3sum:
        listing = Path(tempfile.mktemp(prefix="b3sum-files-"))
        subprocess.run(["sh", "-c", f"find '{tree}' -type f -print0 > {listing}"], check=True)
        try:
            out["b3sum_seconds"] = timed_cmd(
                ["sh", "-c", f"xargs -0 -n 2000 -P {os.cpu_count() or 1} {b3sum} < {listing}"],
                repeat=1,
            )
        finally:
            listing.unlink()
    return out


def search_queries(index_db: Path, count: int, seed: int = 7) -> list[str]:
    """Realistic queries: whole names, prefixes, substrings and words of indexed names."""
    rng = random.Random(seed)
    db = sqlite3.connect(f"file:{index_db}?mode=ro", uri=True)
    total = db.execute("SELECT max(rowid) FROM search").fetchone()[0] or 1
    names: list[str] = []
    while len(names) < count:
        row = db.execute(
            "SELECT names FROM search WHERE rowid >= ? LIMIT 1", (rng.randint(1, total),)
        ).fetchone()
        if row:
            names.append(rng.choice(row[0].strip("\n").split("\n")))
    db.close()
    queries = []
    for name in names:
        roll = rng.random()
        if roll < 0.25:
            queries.append(name)
        elif roll < 0.5:
            queries.append(name[: max(3, len(name) // 2)])
        elif roll < 0.75:
            start = rng.randint(0, max(0, len(name) - 5))
            queries.append(name[start : start + 5])
        else:
            queries.append(rng.choice(name.replace("_", " ").replace("-", " ").split()))
    return queries


def bench_search(
    env: dict[str, str], index_db: Path, tree: Path, plocate: str | None, plocate_db: Path | None
) -> dict[str, Any]:
    from projections.files_search import search

    queries = search_queries(index_db, 300)
    db = sqlite3.connect(f"file:{index_db}?mode=ro", uri=True)
    latencies = []
    for query in queries:
        start = time.perf_counter()
        search(db, query, limit=50)
        latencies.append(time.perf_counter() - start)
    db.close()
    latencies.sort()
    out: dict[str, Any] = {
        "queries": len(queries),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "max_ms": latencies[-1] * 1000,
    }
    sample = queries[:5]
    out["sd_search_process_ms"] = (
        statistics.median(
            timed_cmd([*SD, "search", q, "--limit", "50"], repeat=1, env=env) for q in sample
        )
        * 1000
    )
    if plocate and plocate_db:
        out["plocate_process_ms"] = (
            statistics.median(
                timed_cmd([plocate, "-d", str(plocate_db), "-i", "-l", "50", q], repeat=1)
                for q in sample
            )
            * 1000
        )
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument(
        "--tree",
        type=Path,
        default=None,
        help="Where to generate (and keep) the tree; default: a temp dir.",
    )
    parser.add_argument(
        "--max-size",
        type=int,
        default=8_000_000,
        help="Cap generated file sizes (bytes), for very large trees.",
    )
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="bench-index-"))
    tree = args.tree or scratch / "tree"
    try:
        t0 = time.perf_counter()
        generate(tree, args.files, max_size=args.max_size)
        r: dict[str, Any] = {"files": args.files, "generate_seconds": time.perf_counter() - t0}
        find_args = ["find", str(tree), "-printf", "%i %s %T@ %p\\n"]
        # Warm the page cache, contents too: figures are for a warm cache (DESIGN.md), and a
        # cold one would measure the disk, the same for every indexer.
        subprocess.run(
            ["sh", "-c", f"find '{tree}' -type f -print0 | xargs -0 cat > /dev/null"], check=True
        )
        r["find_seconds"] = timed_cmd(find_args)
        plocate = ensure_tool("plocate", "plocate")
        updatedb = shutil.which("updatedb.plocate") or shutil.which("updatedb")
        plocate_db = scratch / "plocate.db"
        if plocate and updatedb:
            r["updatedb_seconds"] = timed_cmd(
                [updatedb, "-l", "0", "-o", str(plocate_db), "-U", str(tree)], repeat=3
            )
        env = {**os.environ, "SD_DATA_DIR": str(scratch / "data")}
        env.pop("SD_DEBUG", None)
        r["first_index"] = bench_first_index(env, tree)
        r["rescan"] = bench_rescan(env, tree)
        r["identity"] = bench_identity(tree, ensure_tool("b3sum", "b3sum"))
        if not args.skip_search:
            index_db = next((scratch / "data" / "libraries").glob("*.sdlibrary")) / "index.db"
            r["search"] = bench_search(
                env, index_db, tree, plocate, plocate_db if plocate_db.exists() else None
            )
    finally:
        if args.tree is None:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    report(r, args.json)
    return r


def report(r: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(r))
        return
    find = r["find_seconds"]
    first, rescan, ident = r["first_index"], r["rescan"], r["identity"]
    print(f"tree: {r['files']:,} files; find -printf {find:.2f} s")
    if "updatedb_seconds" in r:
        print(
            f"plocate updatedb              {r['updatedb_seconds']:8.2f} s  "
            f"{r['updatedb_seconds'] / find:5.2f}x find"
        )
    print(
        f"first index (sd location add) {first['seconds']:8.2f} s  "
        f"{first['seconds'] / find:5.2f}x find   goal <= 4x   "
        f"({r['files'] / first['seconds']:,.0f} files/s)"
    )
    print(
        f"rescan, nothing changed       {rescan['seconds']:8.2f} s  "
        f"{rescan['seconds'] / find:5.2f}x find   goal <= 2x   "
        f"new entry events: {rescan['new_entry_events']}"
    )
    line = f"list + content ids (workers)  {ident['seconds']:8.2f} s  {ident['files'] / ident['seconds']:,.0f} files/s"
    if "b3sum_seconds" in ident:
        line += (
            f"   b3sum {ident['b3sum_seconds']:.2f} s: "
            f"{ident['b3sum_seconds'] / ident['seconds']:.2f}x as fast as b3sum   goal >= 1x"
        )
    print(line)
    print(
        f"peak RSS indexing             main {first['rss_main_mb']:.0f} MB, "
        f"with workers {first['rss_tree_mb']:.0f} MB   goal <= 300 MB"
    )
    if "search" in r:
        s = r["search"]
        line = (
            f"search in-process             p50 {s['p50_ms']:.2f} ms  p99 {s['p99_ms']:.2f} ms  "
            f"goal p99 <= 20 ms;  sd search process {s['sd_search_process_ms']:.0f} ms"
        )
        if "plocate_process_ms" in s:
            line += f", plocate {s['plocate_process_ms']:.1f} ms"
        print(line)


if __name__ == "__main__":
    main()
