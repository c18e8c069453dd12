"""Benchmark of indexing and search, each figure a ratio against a baseline in the same run.

- first index of a generated tree (``sd location add``, end to end: walk, events,
  projections, content ids, kinds, search) vs ``find DIR -printf '%i %s %T@ %p\\n'``;
  goal <= 4x; plocate's ``updatedb`` over the same tree for comparison;
- rescan with nothing changed vs the same ``find``; goal <= 2x and no new entry events;
- content identity of the tree vs ``b3sum`` reading the same bytes, in two modes: the
  sampled content ids (the Identifier's worker processes, about 56 KiB of each large file)
  vs b3sum over exactly the sampled bytes, goal: at least as fast; and our full-file blake3
  vs b3sum over the same whole files;
- search: p50/p99 in-process over the index (goal p99 <= 20 ms) and ``sd search`` as a whole
  process, beside a ``plocate`` query;
- peak RSS of the indexing process (and of its workers); goal <= 300 MB at 1M files.

    python tools/bench_index.py --files 100000
    python tools/bench_index.py --files 1000000 --tree /var/tmp/tree-1m   # keep the tree

``b3sum`` and ``plocate`` come from Debian packages; the script installs them with apt-get
when it runs as root and they are missing. Without ``b3sum`` it stops (the content-identity
goal is a ratio against it); without ``plocate`` it skips those baselines.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sqlite3
import stat
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, NamedTuple

import psutil

from sdactors.indexer.content import (
    FULL_HASH_BUFFER,
    SMALL_FILE_MAX,
    full_hash,
    identify,
    sample_ranges,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    SD,
    ensure_tool,
    latency_summary,
    median_seconds,
    plocate_tools,
    sd,
    search_queries,
    timed_cmd,
    tree_options,
    updatedb_args,
)
from gen_tree import generate  # noqa: E402


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


# Files per b3sum process (xargs -n) and per task of our workers: the same split for both.
FILES_PER_CALL = 1000


def require_b3sum() -> str:
    """b3sum, installed if need be: the content-identity goal is a ratio against it, so the
    run stops rather than print a figure with nothing beside it."""
    b3sum = ensure_tool("b3sum", "b3sum")
    if b3sum is None:
        raise SystemExit(
            "bench_index.py compares content ids with b3sum, which is missing and could not "
            "be installed here: apt-get install b3sum (as root)"
        )
    return b3sum


class TreeFile(NamedTuple):
    path: bytes
    size: int
    mtime_ns: int


def tree_files(tree: Path) -> list[TreeFile]:
    """Every regular file of the tree, as b3sum is given them (listed off the clock)."""
    found = []
    for folder, _dirs, names in os.walk(os.fsencode(tree)):
        for name in names:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                found.append(TreeFile(path, st.st_size, st.st_mtime_ns))
    return found


def sampled_copies(files: list[TreeFile], into: Path) -> list[bytes]:
    """What b3sum reads to do the content ids' work. b3sum cannot read ranges of a file, so
    a file of at most 100 KiB (read whole by the indexer too) is given as it is, and each
    larger one as a copy of exactly the bytes its content id hashes: the size as a u64, then
    the sampled ranges (about 56 KiB). b3sum opens as many files as we do and reads the same
    bytes (8 more per large file), warm in the page cache like the originals; and its
    digest of a copy is the content id itself (see ``check_same_bytes``)."""
    into.mkdir()
    out = []
    for i, f in enumerate(files):
        if f.size <= SMALL_FILE_MAX:
            out.append(f.path)
            continue
        copy = os.path.join(os.fsencode(into), b"%d" % i)
        with open(f.path, "rb") as src, open(copy, "wb") as dst:
            dst.write(f.size.to_bytes(8, "little"))
            for offset, length in sample_ranges(f.size):
                dst.write(os.pread(src.fileno(), length, offset))
        out.append(copy)
    return out


def b3sum_digests(b3sum: str, paths: list[bytes]) -> list[bytes]:
    out = subprocess.run([b3sum, "--no-names", *paths], capture_output=True, check=True)
    return [bytes.fromhex(line.decode()) for line in out.stdout.split()]


def check_same_bytes(
    b3sum: str, files: list[TreeFile], copies: list[bytes], sample: int = 20
) -> None:
    """Both sides hash the same bytes: b3sum's digest of a large file's copy is our content
    id of the file, and of a whole file our full hash of it (checked on a few files)."""
    large = [i for i, f in enumerate(files) if f.size > SMALL_FILE_MAX][:sample]
    ours = [identify(*files[i]).cid for i in large]
    # (b3sum given no file reads its input: a tree of small files only checks none here.)
    if large and ours != b3sum_digests(b3sum, [copies[i] for i in large]):
        raise SystemExit("the sampled copies do not hash to the content ids: not the same bytes")
    whole = [files[i].path for i in large[:5]] + [f.path for f in files[:sample]]
    if [full_hash(path) for path in whole] != b3sum_digests(b3sum, whole):
        raise SystemExit("full_hash and b3sum disagree on the same files")


def timed_b3sum(b3sum: str, paths: list[bytes], listing: Path) -> float:
    """Median time of b3sum over ``paths``, one process per FILES_PER_CALL files and one
    per core at a time (given the list of files, which it need not find)."""
    listing.write_bytes(b"\0".join(paths))
    return timed_cmd(
        [
            "sh",
            "-c",
            f"xargs -0 -n {FILES_PER_CALL} -P {os.cpu_count() or 1} {b3sum} < '{listing}'",
        ]
    )


def time_indexer_ids(tree: Path) -> tuple[int, float]:
    """Content ids of every file the way the indexer computes them (worker processes, each
    listing a few folders, reading their files relative to the folder and detecting kinds
    too): files identified and the median seconds. The workers start before the clock."""
    from sdactors.indexer.identify import Identifier

    folders = [os.fsencode(folder) for folder, _dirs, _files in os.walk(tree)]
    identifier = Identifier()
    identifier.submit_folders([(folders[0], False)]).result()
    counts = []

    def run() -> None:
        futures = [
            identifier.submit_folders([(f, True) for f in folders[i : i + 8]])
            for i in range(0, len(folders), 8)
        ]
        counts.append(
            sum(
                sum(1 for x in result.identities or () if x is not None)
                for future in futures
                for result in future.result()
            )
        )

    seconds = median_seconds(run)
    identifier.close()
    return counts[-1], seconds


def content_ids(files: list[TreeFile]) -> None:
    """A worker's task given files as b3sum is: their content ids and nothing else."""
    for f in files:
        identify(*f)


def full_hashes(files: list[TreeFile]) -> None:
    """A worker's task in the full-hash pass: its files through one shared buffer."""
    buffer = bytearray(FULL_HASH_BUFFER)
    for f in files:
        full_hash(f.path, buffer=buffer)


def time_in_workers(task: Callable[[list[TreeFile]], None], files: list[TreeFile]) -> float:
    """Median seconds of ``task`` over every file, one worker process per core as b3sum
    runs, FILES_PER_CALL files per task. The workers start before the clock."""
    workers = os.cpu_count() or 1
    tasks = [files[i : i + FILES_PER_CALL] for i in range(0, len(files), FILES_PER_CALL)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        list(pool.map(task, [[]] * workers))
        return median_seconds(lambda: list(pool.map(task, tasks)))


def bench_identity(tree: Path, b3sum: str, scratch: Path) -> dict[str, Any]:
    """Content identity against b3sum, like with like, in two modes: the sampled content ids
    (about 56 KiB of each large file) vs b3sum over exactly those bytes, and our full-file
    hash vs b3sum over the same whole files. The sampled ids are timed twice: given the
    files as b3sum is (the same work), and as the indexer computes them (more work)."""
    files = tree_files(tree)
    copies = sampled_copies(files, scratch / "sampled-copies")
    check_same_bytes(b3sum, files, copies)
    identified, indexer_seconds = time_indexer_ids(tree)
    return {
        "files": identified,
        "sampled": {
            "bytes": sum(length for f in files for _offset, length in sample_ranges(f.size)),
            "b3sum_seconds": timed_b3sum(b3sum, copies, scratch / "sampled-list"),
            "ids_seconds": time_in_workers(content_ids, files),
            "indexer_seconds": indexer_seconds,
        },
        "full": {
            "bytes": sum(f.size for f in files),
            "b3sum_seconds": timed_b3sum(b3sum, [f.path for f in files], scratch / "full-list"),
            "seconds": time_in_workers(full_hashes, files),
        },
    }


def _timed_queries(
    db: sqlite3.Connection, queries: list[str], names: list[tuple[str, str, int, int]]
) -> dict[str, Any]:
    """Latency of each query with --limit 50, and its answer against the scan of every row."""
    from projections.files.search import search, search_by_scan

    latencies, expected, returned, exact = [], 0, 0, 0
    for query in queries:
        start = time.perf_counter()
        hits = search(db, query, limit=50)
        latencies.append(time.perf_counter() - start)
        truth = search_by_scan(db, query, limit=50, names=names)
        expected += len(truth)
        returned += len({h.path for h in hits} & {h.path for h in truth})
        exact += hits == truth
    return {
        "queries": len(queries),
        **latency_summary(latencies),
        "recall": returned / expected if expected else 1.0,
        "same_order": exact / len(queries),
    }


def bench_search(
    env: dict[str, str], index_db: Path, tree: Path, plocate: str | None, plocate_db: Path | None
) -> dict[str, Any]:
    from projections.files.search import every_name

    db = sqlite3.connect(f"file:{index_db}?mode=ro", uri=True)
    names = every_name(db)
    queries = search_queries(names, 300)
    out: dict[str, Any] = _timed_queries(db, queries["typed"], names)
    out["short"] = _timed_queries(db, queries["short"], names)
    db.close()
    sample = queries["typed"][:5]
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
    tree_options(
        parser, 100_000, 8_000_000, "Cap generated file sizes (bytes), for very large trees."
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
        plocate, updatedb = plocate_tools()
        plocate_db = scratch / "plocate.db"
        if plocate and updatedb:
            r["updatedb_seconds"] = timed_cmd(updatedb_args(updatedb, tree, plocate_db), repeat=3)
        env = {**os.environ, "SD_DATA_DIR": str(scratch / "data")}
        env.pop("SD_DEBUG", None)
        r["first_index"] = bench_first_index(env, tree)
        r["rescan"] = bench_rescan(env, tree)
        r["identity"] = bench_identity(tree, require_b3sum(), scratch)
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


def identity_lines(ident: dict[str, Any]) -> list[str]:
    """The two content-identity comparisons, b3sum first, each side saying what it did."""
    sampled, full = ident["sampled"], ident["full"]

    def row(label: str, seconds: float, rate: str, against: float | None = None) -> str:
        line = f"  {label:<44} {seconds:8.2f} s  {rate:>16}"
        if against is not None:
            line += f"  {against / seconds:.2f}x as fast as b3sum"
        return line

    def files_per_s(seconds: float) -> str:
        return f"{ident['files'] / seconds:,.0f} files/s"

    def gb_per_s(seconds: float) -> str:
        return f"{full['bytes'] / seconds / 1e9:.2f} GB/s"

    b3_sampled, b3_full = sampled["b3sum_seconds"], full["b3sum_seconds"]
    return [
        f"content ids, sampled: {ident['files']:,} files, {sampled['bytes'] / 1e6:,.0f} MB "
        "read by each side (large files: ~56 KiB each)",
        row("b3sum over the same bytes, given the files", b3_sampled, files_per_s(b3_sampled)),
        row(
            "ours, given the same files (ids only)",
            sampled["ids_seconds"],
            files_per_s(sampled["ids_seconds"]),
            b3_sampled,
        )
        + "   goal >= 1x",
        row(
            "ours as the indexer runs (+ listing, kinds)",
            sampled["indexer_seconds"],
            files_per_s(sampled["indexer_seconds"]),
            b3_sampled,
        ),
        f"full-file blake3: the same files whole, {full['bytes'] / 1e6:,.0f} MB",
        row("b3sum over the same files", b3_full, gb_per_s(b3_full)),
        row("ours: full_hash (reused buffer)", full["seconds"], gb_per_s(full["seconds"]), b3_full),
    ]


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
    for line in identity_lines(ident):
        print(line)
    print(
        f"peak RSS indexing             main {first['rss_main_mb']:.0f} MB, "
        f"with workers {first['rss_tree_mb']:.0f} MB   goal <= 300 MB"
    )
    if "search" in r:
        s = r["search"]
        line = (
            f"search in-process, --limit 50  p50 {s['p50_ms']:.2f} ms  p99 {s['p99_ms']:.2f} ms  "
            f"max {s['max_ms']:.1f} ms  goal p99 <= 20 ms  ({s['queries']} queries; recall "
            f"{s['recall']:.2%} against a scan of every row, same order {s['same_order']:.0%})"
        )
        print(line)
        t = s["short"]
        print(
            f"  1-2 character queries        p50 {t['p50_ms']:.2f} ms  p99 {t['p99_ms']:.2f} ms  "
            f"max {t['max_ms']:.1f} ms  ({t['queries']} queries; recall {t['recall']:.2%})"
        )
        line = f"sd search as a process       {s['sd_search_process_ms']:.0f} ms"
        if "plocate_process_ms" in s:
            line += f"   plocate {s['plocate_process_ms']:.1f} ms"
        print(line)


if __name__ == "__main__":
    main()
