"""Benchmark of the event log: append, concurrent durable appends, rebuild, export/import.

Each figure is printed beside a baseline measured in the same run on the same disk, so the
ratio means something on any machine. Both sides of a comparison write the same number of
events, in commits of the same size, with the same durability (SQLite in WAL mode,
``synchronous=FULL``), and the baseline stores our events' own canonical bytes:

- append, 1,000 events per commit: ``EventStore.append`` of built events vs the
  ``eventsourcing`` library's ``SQLiteApplicationRecorder.insert_events`` of made stored
  events (its call closest to our append: the recorder that also gives every event a place
  in one total order), and vs a bare sqlite3 insert of rows of the same size (the floor of
  any SQLite design). Building our events (encode, id, seal) is timed apart, and with the
  append it is what the goal is about;
- the same through the Journal actor;
- one event per commit: the same comparison as the first;
- 64 concurrent durable writers, each waiting for its event: through the Journal (which
  commits what arrives together in one transaction) vs 64 threads on the recorder (one
  transaction each: it has no group commit);
- rebuild (fold into a fresh index.db) against its goal;
- export and import (full verification, all or nothing) of two logs: the Journal's, one
  seal per 1,000 events, and a log built one command at a time, as ``sd tag create`` run N
  times writes it: every event its own commit with its own seal, so every event's
  signature is checked on import.

The baseline is required, never skipped: ``pip install -e '.[bench]'`` installs it (the
test extra, and so ``./run-tests``, does too).

    python tools/bench_log.py                 # full run: 1,000,000 events, 100,000 one by one
    python tools/bench_log.py --events 20000 --single-events 2000 --writers 8 --per-writer 50
    python tools/bench_log.py --json          # one JSON object, for scripts
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import itertools
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
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

from events.clock import HybridClock
from events.domain import CATALOG
from events.domain.tags import TagCreated, TagRecolored, TagRenamed
from events.envelope import library_key
from events.exportfile import ExportReader
from events.keys import DeviceKey
from events.store import EventStore
from events.writer import Draft, LogWriter
from projections.catalog import library_projections
from projections.rebuild import fold_into
from sdactors.library.config import LibraryConfig
from sdactors.library.journal import Append, Appended
from sdactors.node.node import Node
from sdactors.ops.log import export_log
from sdactors.runtime import logs
from sdactors.runtime import tuning as runtime
from sdactors.runtime.paths import DataDir, LibraryPaths

BATCH = 1000
# What our store does on commit (events/store.py), the durability the baseline must match.
OUR_DURABILITY = "WAL, synchronous=FULL"
SYNCHRONOUS_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
# The library of the events the store benchmark writes without a node.
BENCH_LIBRARY = bytes(range(16))
# The one event each concurrent writer appends, again and again.
SINGLE_DRAFT = CATALOG.body(TagCreated(b"\x01" * 16, "x", None))

T = TypeVar("T")


def require_eventsourcing() -> str:
    """The baseline library's version. Without it the run stops at once and says how to get
    it: a comparison that quietly loses its baseline only looks like a result."""
    try:
        import eventsourcing.sqlite  # noqa: F401
    except ImportError:
        raise SystemExit(
            "bench_log.py compares against the eventsourcing library, which is not installed: "
            "pip install -e '.[bench]'"
        ) from None
    return importlib.metadata.version("eventsourcing")


def small_drafts(count: int, tags: int = 1000) -> list[Draft]:
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


def new_writer() -> LogWriter:
    """A fresh device writing events of the benchmark's library."""
    return LogWriter(DeviceKey.generate(), HybridClock(), library_key(BENCH_LIBRARY))


def grouped(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last may be shorter): one list per commit."""
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def timed_commits(batches: Iterable[T], commit: Callable[[T], object]) -> float:
    """Seconds spent in ``commit`` alone. The batches are made off the clock, so both sides
    of a comparison are timed on the same step: writing events that are ready."""
    spent = 0.0
    for batch in batches:
        start = time.perf_counter()
        commit(batch)
        spent += time.perf_counter() - start
    return spent


def mean_event_bytes(drafts: list[Draft]) -> float:
    """Mean size of our events' canonical bytes: the row size of the bare sqlite floor."""
    return statistics.mean(len(ev.data) for ev in new_writer().build(drafts[:BATCH]))


def bench_store_append(path: Path, drafts: list[Draft], per_commit: int) -> dict[str, float]:
    """Our store: ``LogWriter.build`` (encode, id, one seal per commit) then
    ``EventStore.append``, ``per_commit`` events per transaction. The two steps are timed
    apart: the append alone is what the baseline's insert of ready events compares with."""
    store = EventStore(path, library=BENCH_LIBRARY)
    writer = new_writer()
    build = append = 0.0
    for batch in grouped(drafts, per_commit):
        start = time.perf_counter()
        events = writer.build(batch)
        built = time.perf_counter()
        store.append(events)
        append += time.perf_counter() - built
        build += built - start
    store.close()
    return {
        "append_per_s": len(drafts) / append,
        "build_append_per_s": len(drafts) / (build + append),
    }


def bench_journal_append(root: Path, drafts: list[Draft]) -> float:
    """Events/s through the Journal actor (Library.append), 1,000 drafts per call."""
    with Node(root / "journal-node") as node:
        lib = node.create_library("bench")
        seconds = timed_commits(grouped(drafts, BATCH), lib.append)
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


def eventsourcing_recorder(path: Path) -> Any:
    """The library's application recorder on a new file, set up as an application's would
    be. The library puts the file in WAL mode itself and sets no synchronous level, so
    SQLite's default applies: ``recorder_durability`` reads back what that is."""
    from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

    # 64 threads queue for its one writer: wait for it as long as the Journal's callers do.
    recorder = SQLiteApplicationRecorder(SQLiteDatastore(str(path), pool_timeout=60))
    recorder.create_table()
    return recorder


def recorder_durability(recorder: Any) -> str:
    """What the recorder's connections do on commit, as one of them reports it."""
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute("PRAGMA journal_mode")
        mode = cursor.fetchone()[0]
        cursor.execute("PRAGMA synchronous")
        level = cursor.fetchone()[0]
    return f"{mode.upper()}, synchronous={SYNCHRONOUS_NAMES.get(level, level)}"


def stored_events(drafts: list[Draft]) -> Iterator[Any]:
    """The baseline's input: each of our events (type, canonical bytes) as the next stored
    event of one aggregate, so both sides store the same bytes in the same order."""
    from eventsourcing.persistence import StoredEvent

    originator = uuid.uuid4()
    writer = new_writer()
    version = itertools.count(1)
    for batch in grouped(drafts, BATCH):
        for ev in writer.build(batch):
            yield StoredEvent(originator, next(version), ev.type, ev.data)


def bench_eventsourcing(path: Path, drafts: list[Draft], per_commit: int) -> dict[str, Any]:
    """Events/s of the recorder's ``insert_events``, ``per_commit`` ready events per call
    (one transaction each), and the durability it wrote with."""
    recorder = eventsourcing_recorder(path)
    seconds = timed_commits(grouped(stored_events(drafts), per_commit), recorder.insert_events)
    return {"per_s": len(drafts) / seconds, "durability": recorder_durability(recorder)}


def latency_summary(latencies: list[float], seconds: float) -> dict[str, float]:
    """Events/s over a run of single appends, and the median and p99 of their latencies."""
    latencies.sort()
    return {
        "events_per_s": len(latencies) / seconds,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def run_writers(
    writers: int, per_writer: int, append_one: Callable[[int], object]
) -> dict[str, float]:
    """``writers`` threads, each calling ``append_one(its index)`` ``per_writer`` times and
    waiting for each: the load of many clients each writing one event durably."""
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(writers + 1)

    def writer(index: int) -> None:
        mine = []
        barrier.wait()
        for _ in range(per_writer):
            t0 = time.perf_counter()
            append_one(index)
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return latency_summary(latencies, time.perf_counter() - start)


def bench_concurrent(root: Path, writers: int, per_writer: int) -> dict[str, float]:
    """64 threads each appending one event at a time through the Journal, waiting for each."""
    with Node(root / "concurrent-node") as node:
        lib = node.create_library("bench")
        return run_writers(writers, per_writer, lambda _index: lib.append([SINGLE_DRAFT]))


def bench_eventsourcing_concurrent(path: Path, writers: int, per_writer: int) -> dict[str, float]:
    """The same load on the recorder: each thread inserts the next event of its own aggregate
    (the bytes of ``SINGLE_DRAFT`` as our writer builds it), one transaction per event."""
    from eventsourcing.persistence import StoredEvent

    recorder = eventsourcing_recorder(path)
    ev = new_writer().build([SINGLE_DRAFT])[0]
    originators = [uuid.uuid4() for _ in range(writers)]
    versions = [itertools.count(1) for _ in range(writers)]

    def append_one(index: int) -> None:
        stored = StoredEvent(originators[index], next(versions[index]), ev.type, ev.data)
        recorder.insert_events([stored])

    return run_writers(writers, per_writer, append_one)


class _Slot:
    __slots__ = ("done", "result", "error")

    def __init__(self, done: Any) -> None:
        self.done = done
        self.result: Any = None
        self.error: BaseException | None = None

    def give(self, result: Any) -> None:
        self.result = result
        self.done.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.done.set()


class _TrioAppender:
    """Group commit on the trio side: appends from many tasks go to the Journal as one.

    Each task's append waits in a list; a single flusher task sends everything gathered
    since the last commit as one ``Append`` and, on its one reply, wakes every waiter with
    its share. While one batch is being committed the next one gathers.
    """

    def __init__(self, journal: Callable[[], Any]) -> None:
        import trio

        self._trio = trio
        self._journal = journal
        self._waiting: list[tuple[tuple[Any, ...], _Slot]] = []
        self._ready = trio.Event()

    async def append(self, drafts: Iterable[Any]) -> Any:
        slot = _Slot(self._trio.Event())
        self._waiting.append((tuple(drafts), slot))
        self._ready.set()
        await slot.done.wait()
        if slot.error is not None:
            raise slot.error
        return slot.result

    async def run(self, task_status: Any = None) -> None:
        trio = self._trio
        (task_status or trio.TASK_STATUS_IGNORED).started()
        while True:
            await self._ready.wait()
            self._ready = trio.Event()
            batch, self._waiting = self._waiting, []
            if not batch:
                continue
            drafts = tuple(d for part, _ in batch for d in part)
            event = trio.Event()
            wake = partial(trio.lowlevel.current_trio_token().run_sync_soon, event.set)
            try:
                # Asked: the answer wakes this task from whichever thread sets it.
                reply = self._journal().ask(Append(drafts), block=False)
                reply.add_done_callback(lambda _, wake=wake: wake())
                await event.wait()
                done = reply.get(timeout=0)
            except Exception as exc:  # noqa: BLE001 - every waiter gets the failure
                for _, slot in batch:
                    slot.fail(exc)
                continue
            at = 0
            for part, slot in batch:
                slot.give(Appended(done.first_pos + at, done.events[at : at + len(part)]))
                at += len(part)


def bench_concurrent_trio(root: Path, writers: int, per_writer: int) -> dict[str, float]:
    """The same load as 64 trio tasks in one thread, as the node shell runs them: their
    appends gathered by a _TrioAppender (group commit on the trio side too)."""
    import trio

    latencies: list[float] = []
    with Node(root / "trio-node") as node:
        lib = node.create_library("bench")
        appender = _TrioAppender(lambda: lib.supervisor.ref("journal"))

        async def writer() -> None:
            for _ in range(per_writer):
                t0 = time.perf_counter()
                await appender.append([SINGLE_DRAFT])
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
    return latency_summary(latencies, seconds)


def bench_rebuild(root: Path) -> float:
    store = EventStore(root / "append.db", readonly=True)
    seconds, result = timed(
        lambda: fold_into(str(root / "rebuilt.db"), store, library_projections(), CATALOG)
    )
    store.close()
    return result.events / seconds


def one_by_one_library(root: Path) -> LibraryConfig:
    """Where the log built one command at a time is written: a library folder holding only
    its log, which is all an export reads."""
    paths = LibraryPaths(root / "one-by-one.sdlibrary")
    paths.root.mkdir()
    return LibraryConfig(BENCH_LIBRARY.hex(), "one-by-one", "", paths)


def bench_export_import(root: Path, config: LibraryConfig) -> dict[str, float]:
    """Export a library's log, then import it into a new store with full verification
    (every id, chain link and seal's signature; all or nothing)."""
    export_file = root / f"{config.name}.sdlog"
    seconds, result = timed(
        lambda: export_log(config, export_file, DataDir(config.paths.root.parent.parent))
    )
    export_rate = result.events / seconds
    with open(export_file, "rb") as fh:
        reader = ExportReader(fh)
        target = EventStore(root / f"{config.name}-imported.db", library=reader.header.library)
        seconds, report = timed(lambda: target.ingest(reader.records(), whole=True))
    target.close()
    assert report.ok and report.accepted == result.events, report.refused[:3]
    return {
        "events": result.events,
        "export_per_s": export_rate,
        "import_per_s": report.accepted / seconds,
        "file_bytes": export_file.stat().st_size,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--single-events",
        type=int,
        default=100_000,
        help="Events written one per commit (and so sealed one by one), on each side.",
    )
    parser.add_argument("--writers", type=int, default=64)
    parser.add_argument("--per-writer", type=int, default=500)
    parser.add_argument(
        "--dir", type=Path, default=None, help="Scratch directory (default: a temp dir)."
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    es_version = require_eventsourcing()
    logs.configure(json=False)
    runtime.tune_for_throughput()

    root = Path(tempfile.mkdtemp(prefix="bench-log-", dir=args.dir))
    try:
        r = run_all(root, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    r["eventsourcing_version"] = es_version
    report(r, args.json)
    return r


def run_all(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement, in an order that keeps the big draft lists out of the latency runs."""
    drafts = small_drafts(args.events)
    single = small_drafts(args.single_events)
    one_by_one = one_by_one_library(root)
    r: dict[str, Any] = {"events": args.events, "single_events": args.single_events}
    r["event_bytes"] = mean_event_bytes(drafts)
    r["store_batch"] = bench_store_append(root / "append.db", drafts, BATCH)
    r["es_batch"] = bench_eventsourcing(root / "es-batch.db", drafts, BATCH)
    r["journal_append_per_s"] = bench_journal_append(root, drafts)
    r["sqlite_floor_rows_per_s"] = bench_sqlite_floor(root, args.events, round(r["event_bytes"]))
    r["store_single"] = bench_store_append(one_by_one.paths.events, single, 1)
    r["es_single"] = bench_eventsourcing(root / "es-single.db", single, 1)
    # The drafts above would otherwise stay in the collector's view and make its full
    # passes (and so the latencies below) what no running node sees.
    del drafts, single
    gc.collect()
    gc.freeze()
    r["concurrent"] = bench_concurrent(root, args.writers, args.per_writer)
    r["concurrent_trio"] = bench_concurrent_trio(root, args.writers, args.per_writer)
    r["es_concurrent"] = bench_eventsourcing_concurrent(
        root / "es-concurrent.db", args.writers, args.per_writer
    )
    r["rebuild_per_s"] = bench_rebuild(root)
    with Node(root / "journal-node") as node:
        r["segments_log"] = bench_export_import(root, node.libraries()[0])
    r["one_by_one_log"] = bench_export_import(root, one_by_one)
    return r


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x"


def _latency(c: dict[str, float]) -> str:
    return f"{c['p50_ms']:.2f} / {c['p99_ms']:.2f} ms"


def report(r: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(r))
        return
    es = f"eventsourcing {r['eventsourcing_version']}"
    print(
        f"events: {r['events']:,} (1,000 per commit), {r['single_events']:,} one per commit; "
        f"{r['event_bytes']:.0f} bytes each on average (canonical encoding)\n"
        f"ours: LogWriter.build (msgpack, blake3 id, ed25519 seal per commit), then "
        f"EventStore.append (one row per commit); {OUR_DURABILITY}\n"
        f"{es}: SQLiteApplicationRecorder.insert_events of StoredEvents holding our events' "
        f"bytes (one row per event); {r['es_batch']['durability']}\n"
        f"both timed on the write of ready events; 'build + append' adds the building\n"
    )
    sb, ss = r["store_batch"], r["store_single"]
    esb, ess, esc = r["es_batch"]["per_s"], r["es_single"]["per_s"], r["es_concurrent"]
    c, ct = r["concurrent"], r["concurrent_trio"]
    rows = [
        ("append, 1,000/commit (store)", sb["append_per_s"], "", esb, f"{es}, 1,000/commit"),
        ("  build + append", sb["build_append_per_s"], ">= 200k/s", None, ""),
        (
            "append, 1,000/commit (Journal)",
            r["journal_append_per_s"],
            ">= 200k/s",
            r["sqlite_floor_rows_per_s"],
            "bare sqlite rows",
        ),
        ("append, 1/commit (store)", ss["append_per_s"], "", ess, f"{es}, 1/commit"),
        ("  build + append", ss["build_append_per_s"], "", None, ""),
        (
            "64 writers, durable single",
            c["events_per_s"],
            ">= 20k/s",
            esc["events_per_s"],
            f"{es}, 64 threads",
        ),
        (
            "64 trio tasks, durable single",
            ct["events_per_s"],
            ">= 20k/s",
            esc["events_per_s"],
            f"{es}, 64 threads",
        ),
        ("rebuild (fold)", r["rebuild_per_s"], ">= 300k/s", None, ""),
    ]
    for label, ours, goal, base, base_label in rows:
        line = f"{label:<32} {ours:>12,.0f}/s  {goal:<10}"
        if base is not None:
            line += f"  {base_label} {base:,.0f}/s: {_ratio(ours, base)}"
        print(line.rstrip())
    print(
        f"  latency p50 / p99: Journal {_latency(c)}, trio {_latency(ct)}, "
        f"{es} {_latency(esc)}   goal p99 <= 5 ms"
    )
    print()
    print(
        f"{'log (exported, then imported verified)':<40} {'events':>10} {'export':>12} {'import':>12}"
    )
    for label, key in (
        ("Journal's: a seal per 1,000 events", "segments_log"),
        ("one command at a time: a seal per event", "one_by_one_log"),
    ):
        x = r[key]
        print(
            f"{label:<40} {x['events']:>10,} {x['export_per_s']:>10,.0f}/s {x['import_per_s']:>10,.0f}/s"
        )
    print(f"{'goal':<40} {'':>10} {'>= 100k/s':>12} {'>= 100k/s':>12}")


if __name__ == "__main__":
    main(sys.argv[1:])
