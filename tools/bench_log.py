"""Benchmark of the event log: append, concurrent durable appends, rebuild, export/import.

Each figure is printed beside a baseline measured in the same run on the same disk, so the
ratio means something on any machine:

- batch append vs the ``eventsourcing`` library's SQLite recorder at the same batch size
  (and vs a bare sqlite3 insert of the same bytes, the floor of any SQLite design);
- 64 concurrent durable writers through the Journal vs ``eventsourcing`` one event per commit;
- rebuild (fold into a fresh index.db) and export/import (full verification) against their
  goals.

    python tools/bench_log.py                 # full run: 1,000,000 events
    python tools/bench_log.py --events 20000 --writers 8 --per-writer 50   # a quick look
    python tools/bench_log.py --json          # one JSON object, for scripts
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from events.clock import HybridClock
from events.domain import CATALOG
from events.domain.tags import TagCreated, TagRecolored, TagRenamed
from events.envelope import library_key
from events.exportfile import ExportReader
from events.keys import DeviceKey
from events.store import EventStore
from events.writer import LogWriter
from projections.catalog import library_projections
from projections.rebuild import fold_into
from sdactors import logs, runtime
from sdactors.actions.logfile import export_log
from sdactors.node import Node
from sdactors.paths import DataDir
from sdactors.trio_bridge import TrioAppender

BATCH = 1000


def small_drafts(count: int, tags: int = 1000) -> list[tuple[str, int, Any]]:
    """Small events of the kind people write by hand: tag creates, renames, recolors."""
    ids = [uuid.UUID(int=i).bytes for i in range(tags)]
    drafts = []
    for i in range(count):
        tag = ids[i % tags]
        if i < tags:
            typed: object = TagCreated(tag, f"tag {i}", None)
        elif i % 3:
            typed = TagRenamed(tag, f"tag {i}")
        else:
            typed = TagRecolored(tag, "#336699")
        drafts.append(CATALOG.body(typed))
    return drafts


# The library of the events the store benchmark writes without a node.
BENCH_LIBRARY = bytes(range(16))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def bench_store_append(root: Path, drafts: list) -> float:
    """Events/s through LogWriter + EventStore.append, 1,000 events per transaction."""
    store = EventStore(root / "append.db", library=BENCH_LIBRARY)
    writer = LogWriter(DeviceKey.generate(), HybridClock(), library_key(BENCH_LIBRARY))

    def run() -> None:
        for start in range(0, len(drafts), BATCH):
            store.append(writer.build(drafts[start : start + BATCH]))

    seconds, _ = timed(run)
    store.close()
    return len(drafts) / seconds


def bench_journal_append(root: Path, drafts: list) -> float:
    """Events/s through the Journal actor (Library.append), 1,000 drafts per call."""
    with Node(root / "journal-node") as node:
        lib = node.create_library("bench")

        def run() -> None:
            for start in range(0, len(drafts), BATCH):
                lib.append(drafts[start : start + BATCH])

        seconds, _ = timed(run)
    return len(drafts) / seconds


def bench_sqlite_floor(root: Path, count: int, size: int) -> float:
    """Rows/s for a bare sqlite3 insert of ``size``-byte blobs, FULL sync, 1,000 per commit."""
    db = sqlite3.connect(root / "floor.db", isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE t (pos INTEGER PRIMARY KEY, data BLOB)")
    blob = os.urandom(size)

    def run() -> None:
        for start in range(0, count, BATCH):
            db.execute("BEGIN")
            db.executemany("INSERT INTO t VALUES (?, ?)", ((start + i, blob) for i in range(BATCH)))
            db.execute("COMMIT")

    seconds, _ = timed(run)
    db.close()
    return count / seconds


def eventsourcing_recorder(path: Path):  # type: ignore[no-untyped-def]
    try:
        from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
    except ImportError:
        return None
    recorder = SQLiteApplicationRecorder(SQLiteDatastore(str(path)))
    recorder.create_table()
    return recorder


def bench_eventsourcing(root: Path, count: int, per_commit: int, size: int) -> float | None:
    """Events/s of eventsourcing's SQLite recorder; ``None`` if it is not installed."""
    recorder = eventsourcing_recorder(root / f"es-{per_commit}.db")
    if recorder is None:
        return None
    from eventsourcing.persistence import StoredEvent

    state = os.urandom(size)
    originator = uuid.uuid4()

    def run() -> None:
        version = 0
        for _ in range(0, count, per_commit):
            batch = []
            for _ in range(per_commit):
                version += 1
                batch.append(StoredEvent(originator, version, "tag.created", state))
            recorder.insert_events(batch)

    seconds, _ = timed(run)
    return count / seconds


def bench_concurrent(root: Path, writers: int, per_writer: int) -> dict[str, float]:
    """64 threads each appending one event at a time through the Journal, waiting for each."""
    latencies: list[float] = []
    lock = threading.Lock()
    with Node(root / "concurrent-node") as node:
        lib = node.create_library("bench")
        draft = [CATALOG.body(TagCreated(b"\x01" * 16, "x", None))]
        barrier = threading.Barrier(writers + 1)

        def writer() -> None:
            mine = []
            barrier.wait()
            for _ in range(per_writer):
                t0 = time.perf_counter()
                lib.append(draft)
                mine.append(time.perf_counter() - t0)
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=writer) for _ in range(writers)]
        for t in threads:
            t.start()
        barrier.wait()
        start = time.perf_counter()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - start
    latencies.sort()
    return {
        "events_per_s": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def bench_concurrent_trio(root: Path, writers: int, per_writer: int) -> dict[str, float]:
    """The same load as 64 trio tasks in one thread, as the node shell runs them: their
    appends gathered by a TrioAppender (group commit on the trio side too)."""
    import trio

    latencies: list[float] = []
    with Node(root / "trio-node") as node:
        lib = node.create_library("bench")
        draft = [CATALOG.body(TagCreated(b"\x02" * 16, "y", None))]

        appender = TrioAppender(lambda: lib.supervisor.ref("journal"))

        async def writer() -> None:
            for _ in range(per_writer):
                t0 = time.perf_counter()
                await appender.append(draft)
                latencies.append(time.perf_counter() - t0)

        async def run() -> float:
            async with trio.open_nursery() as flushing:
                await flushing.start(appender.run)
                start = time.perf_counter()
                async with trio.open_nursery() as nursery:
                    for _ in range(writers):
                        nursery.start_soon(writer)
                seconds = time.perf_counter() - start
                flushing.cancel_scope.cancel()
            return seconds

        seconds = trio.run(run)
    latencies.sort()
    return {
        "events_per_s": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def bench_rebuild(root: Path) -> float:
    store = EventStore(root / "append.db", readonly=True)
    seconds, result = timed(
        lambda: fold_into(str(root / "rebuilt.db"), store, library_projections(), CATALOG)
    )
    store.close()
    return result.events / seconds


def bench_export_import(root: Path) -> dict[str, float]:
    """Export the journal library's log, then import it (verified) into a new data dir."""
    node_dir = root / "journal-node"
    with Node(node_dir) as node:
        config = node.libraries()[0]
    export_file = root / "log.sdlog"
    seconds, result = timed(lambda: export_log(config, export_file, DataDir(node_dir)))
    export_rate = result.events / seconds
    with open(export_file, "rb") as fh:
        reader = ExportReader(fh)
        target = EventStore(root / "imported.db", library=reader.header.library)
        seconds, report = timed(lambda: target.ingest(reader.records(), whole=True))
    target.close()
    assert report.ok and report.accepted == result.events, report.refused[:3]
    return {
        "export_per_s": export_rate,
        "import_per_s": report.accepted / seconds,
        "file_bytes": export_file.stat().st_size,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--writers", type=int, default=64)
    parser.add_argument("--per-writer", type=int, default=500)
    parser.add_argument(
        "--dir", type=Path, default=None, help="Scratch directory (default: a temp dir)."
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logs.configure(json=False)
    runtime.tune_for_throughput()

    root = Path(tempfile.mkdtemp(prefix="bench-log-", dir=args.dir))
    try:
        drafts = small_drafts(args.events)
        event_size = 150
        r: dict[str, Any] = {"events": args.events}
        r["store_append_per_s"] = bench_store_append(root, drafts)
        r["journal_append_per_s"] = bench_journal_append(root, drafts)
        r["sqlite_floor_rows_per_s"] = bench_sqlite_floor(root, args.events, event_size)
        r["eventsourcing_batch_per_s"] = bench_eventsourcing(root, args.events, BATCH, event_size)
        # The million drafts above would otherwise stay in the collector's view and make its
        # full passes (and so the latencies below) what no running node sees.
        del drafts
        gc.collect()
        gc.freeze()
        r["concurrent"] = bench_concurrent(root, args.writers, args.per_writer)
        r["concurrent_trio"] = bench_concurrent_trio(root, args.writers, args.per_writer)
        r["eventsourcing_single_per_s"] = bench_eventsourcing(
            root, min(args.writers * args.per_writer, 5000), 1, event_size
        )
        r["rebuild_per_s"] = bench_rebuild(root)
        r.update(bench_export_import(root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report(r, args.json)
    return r


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def report(r: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(r))
        return
    c, ct = r["concurrent"], r["concurrent_trio"]
    es_batch, es_single = r["eventsourcing_batch_per_s"], r["eventsourcing_single_per_s"]
    rows = [
        (
            "append, 1,000/commit (store)",
            f"{r['store_append_per_s']:,.0f}/s",
            ">= 200k/s",
            f"eventsourcing {es_batch or 0:,.0f}/s",
            _ratio(r["store_append_per_s"], es_batch),
        ),
        (
            "append, 1,000/commit (Journal)",
            f"{r['journal_append_per_s']:,.0f}/s",
            ">= 200k/s",
            f"bare sqlite {r['sqlite_floor_rows_per_s']:,.0f} rows/s",
            _ratio(r["journal_append_per_s"], r["sqlite_floor_rows_per_s"]),
        ),
        (
            "64 writers, durable single",
            f"{c['events_per_s']:,.0f}/s",
            ">= 20k/s",
            f"eventsourcing 1/commit {es_single or 0:,.0f}/s",
            _ratio(c["events_per_s"], es_single),
        ),
        ("  latency p50 / p99", f"{c['p50_ms']:.2f} / {c['p99_ms']:.2f} ms", "p99 <= 5 ms", "", ""),
        (
            "64 trio tasks, durable single",
            f"{ct['events_per_s']:,.0f}/s",
            ">= 20k/s",
            f"eventsourcing 1/commit {es_single or 0:,.0f}/s",
            _ratio(ct["events_per_s"], es_single),
        ),
        (
            "  latency p50 / p99",
            f"{ct['p50_ms']:.2f} / {ct['p99_ms']:.2f} ms",
            "p99 <= 5 ms",
            "",
            "",
        ),
        ("rebuild (fold)", f"{r['rebuild_per_s']:,.0f}/s", ">= 300k/s", "", ""),
        ("export", f"{r['export_per_s']:,.0f}/s", ">= 100k/s", "", ""),
        ("import (verified)", f"{r['import_per_s']:,.0f}/s", ">= 100k/s", "", ""),
    ]
    print(f"events: {r['events']:,}")
    for row in rows:
        print(f"{row[0]:<32} {row[1]:>22}  {row[2]:<12} {row[3]:<34} {row[4]}")


if __name__ == "__main__":
    main(sys.argv[1:])
