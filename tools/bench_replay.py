"""Benchmark of replay and debugging over a big log, each figure with its goal and a baseline
measured in the same run.

- ``sd ls FOLDER --at POS`` at a random position of a log holding the index of ``--files``
  files (default 1M: ``tools/gen_tree.py`` makes the tree, ``sd location add`` indexes it
  through a running ``sd node run``, which serves every command after), run as a whole
  process: cold (only the snapshots the node took on its own as it folded) goal <= 5 s; warm
  (POS again) and near (POS + 1, + 2, + 3: a second look near the first) goal <= 0.3 s,
  medians of 3. Baseline: the whole fold ``sd projections rebuild --until POS --into FILE``;
  each listing is checked against that fold's (read here with the read models' own queries,
  not through a snapshot), the near ones against a fold to POS + 3;
- ``sd log history PATH`` of one file of that log, goal <= 0.5 s (median of 3). Checked: its
  life starts with the ``entries.indexed`` that created it at that path. Baseline: ``sd log
  show --json --type entries.`` (every entries event read, decoded and printed);
- ``sd log tail --follow`` as a process: from an append's commit (returned to this process,
  which appends ``--tail-events`` tags at random intervals) to the line on the follower's
  output, p99 goal <= 100 ms;
- ``sd log bisect --when SQL`` over a log of ``--tag-events`` small events (default 100k: tag
  events signed here by a new device and imported with ``sd log import``), one of them the
  deletion of the tag ``target`` at a random place; goal <= 10 s. The position found must be
  that of the one ``tag.deleted`` (``sd log show --type tag.deleted``). Baseline: the whole
  fold of that log.

    python tools/bench_replay.py --files 1000000 --tree /var/tmp/tree-1m
    python tools/bench_replay.py --files 20000 --tag-events 10000     # a quick run

The exit status is 1 when an answer was wrong; the timings are for people to judge.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_common import SD, sd, tree_options  # noqa: E402
from bench_node import RunningNode, quiet_env  # noqa: E402
from gen_tree import generate  # noqa: E402

from events.clock import HybridClock  # noqa: E402
from events.domain import CATALOG  # noqa: E402
from events.domain.tags import TagCreated, TagDeleted  # noqa: E402
from events.envelope import library_key  # noqa: E402
from events.exportfile import ExportHeader, write_export  # noqa: E402
from events.keys import DeviceKey  # noqa: E402
from events.writer import LogWriter  # noqa: E402
from projections.files.query import folder_children, locations, resolve  # noqa: E402
from sdactors.ops.log_read import FOLLOW_EVERY_S  # noqa: E402

GOAL_LS_COLD_S = 5.0
GOAL_LS_WARM_S = 0.3
GOAL_BISECT_S = 10.0
GOAL_HISTORY_S = 0.5
GOAL_TAIL_P99_MS = 100.0
TARGET_DELETED = "SELECT 1 FROM tags WHERE name = 'target' AND deleted"


@dataclass
class Run:
    """What every figure gets: where the library is, and how to run ``sd`` on it."""

    args: argparse.Namespace
    scratch: Path
    env: dict[str, str]
    rng: random.Random
    # The node that indexed the tree of ls_at, serving every command after.
    node: RunningNode | None = None

    def sd(self, data: Path, *args: str) -> Any:
        return sd(self.env, "--data-dir", str(data), *args)

    def timed(self, data: Path, *args: str) -> tuple[float, Any]:
        """Wall time of ``sd --json ARGS`` as a whole process, and its answer."""
        start = time.perf_counter()
        out = subprocess.run(
            [*SD, "--data-dir", str(data), "--json", *args],
            env=self.env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        if out.returncode != 0:
            raise SystemExit(f"sd {' '.join(args)} failed: {out.stderr.strip()}")
        return seconds, json.loads(out.stdout)


Row = tuple[str, str, str, str]


def _fold(run: Run, data: Path, position: int, into: Path) -> float:
    """Seconds of the baseline: a whole fold of the log up to ``position``."""
    if into.exists():
        into.unlink()
    seconds, _ = run.timed(
        data, "projections", "rebuild", "--until", str(position), "--into", str(into)
    )
    return seconds


def _listing_in(path: Path, folder: bytes) -> list[tuple[str, int, str | None]]:
    """The children of ``folder`` in a folded index file, read with the read models' own
    queries: what ``sd ls`` must show (name, size, content id prefix)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        (device,) = {loc.device for loc in locations(db)}
        found = resolve(db, folder, device)
        assert found is not None and found.named_folder is not None
        children = folder_children(db, found.named_folder)
    return sorted(
        (c.name.decode("utf-8", "backslashreplace"), c.size, _prefix(c.cid)) for c in children
    )


def _prefix(cid: bytes | None) -> str | None:
    return cid.hex()[:16] if cid else None


def _a_folder(path: Path, rng: random.Random) -> bytes:
    """A folder with children in the folded index, picked at random."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        (device,) = {loc.device for loc in locations(db)}
        paths = [row[0] for row in db.execute("SELECT path FROM folders")]
        rng.shuffle(paths)
        for folder in paths:
            found = resolve(db, folder, device)
            if found is not None and found.named_folder is not None:
                if folder_children(db, found.named_folder):
                    return folder
    raise SystemExit(f"no folder with children in the index folded into {path}")


def bench_ls_at(run: Run) -> tuple[dict[str, Any], list[Row]]:
    """``sd ls --at`` cold and warm at a random position of the indexed tree's log."""
    args = run.args
    tree = args.tree or run.scratch / "tree"
    data = run.scratch / "ls-data"
    t0 = time.perf_counter()
    generate(tree, args.files, max_size=args.max_size)
    generated = time.perf_counter() - t0
    run.sd(data, "library", "create", "bench")
    run.node = RunningNode(data, run.env, run.scratch / "node.out")
    run.node.wait_answering(60)
    t0 = time.perf_counter()
    run.sd(data, "location", "add", str(tree))
    indexed = time.perf_counter() - t0
    run.node.wait_settled(1800)
    snaps = _snapshots(data)
    head = run.sd(data, "log", "stats")["events"]
    # From the location's first batch on, so the fold has a folder to list.
    first = run.sd(data, "log", "show", "--type", "entries.indexed", "--limit", "1")["pos"]
    position = run.rng.randint(first, max(first, head - 3))
    fold_file = run.scratch / "fold.db"
    baseline = _fold(run, data, position, fold_file)
    folder = _a_folder(fold_file, run.rng)
    shown = os.fsdecode(folder)
    want = _listing_in(fold_file, folder)
    cold, got = run.timed(data, "ls", shown, "--at", str(position))
    answers = [got]
    warm_times = []
    for _ in range(3):
        seconds, again = run.timed(data, "ls", shown, "--at", str(position))
        warm_times.append(seconds)
        answers.append(again)
    warm = sorted(warm_times)[1]
    near_times = []
    for step in (1, 2, 3):
        seconds, near = run.timed(data, "ls", shown, "--at", str(min(position + step, head)))
        near_times.append(seconds)
    last = min(position + 3, head)
    near_want = _listing_in(_fold_to(run, data, last, run.scratch / "near.db"), folder)
    near_seconds = sorted(near_times)[1]
    # The farthest any position is from the snapshot before it: just before one of the
    # node's, past the one before it (after the looks above, so none of theirs helps).
    later = [p for p, _size in snaps if p > position + 3]
    worst, worst_seconds, worst_ok = None, None, True
    if len(later) >= 2:
        worst = later[1] - 1
        worst_seconds, got_worst = run.timed(data, "ls", shown, "--at", str(worst))
        worst_fold = _fold_to(run, data, worst, run.scratch / "worst.db")
        worst_ok = _shown(got_worst) == _listing_in(worst_fold, folder)
    # What any ``sd ls`` costs as a process (interpreter, imports): the present, no --at.
    present = sorted(run.timed(data, "ls", shown)[0] for _ in range(3))[1]
    ok = all(_shown(a) == want for a in answers) and _shown(near) == near_want and worst_ok
    r = {
        "files": args.files,
        "generate_seconds": generated,
        "index_seconds": indexed,
        "log_events": head,
        "position": position,
        "folder_children": len(want),
        "node_snapshots": [s[0] for s in snaps],
        "node_snapshot_bytes": sum(s[1] for s in snaps),
        "cold_seconds": cold,
        "warm_seconds": warm,
        "near_seconds": near_seconds,
        "worst_position": worst,
        "worst_cold_seconds": worst_seconds,
        "goal": {
            "cold_seconds": GOAL_LS_COLD_S,
            "warm_seconds": GOAL_LS_WARM_S,
            "near_seconds": GOAL_LS_WARM_S,
        },
        "baseline": {"full_fold_seconds": baseline, "ls_present_seconds": present},
        "listing_matches_fold": ok,
        "snapshot_bytes": sum(p.stat().st_size for p in data.glob("libraries/*/snapshots/*")),
    }
    where = f"pos {position:,} of {head:,}"
    rows = [
        (
            f"sd ls --at, cold ({where}; {args.files:,} files; {len(snaps)} node snapshots)",
            f"{cold:.2f} s",
            f"<= {GOAL_LS_COLD_S} s",
            f"full fold to POS {baseline:.2f} s ({cold / baseline:.2f}x)",
        ),
        (
            "sd ls --at, warm (median of 3)",
            f"{warm:.3f} s",
            f"<= {GOAL_LS_WARM_S} s",
            f"sd ls of the present {present:.3f} s",
        ),
        *(
            [
                (
                    f"sd ls --at, cold, farthest from a snapshot (pos {worst:,})",
                    f"{worst_seconds:.2f} s",
                    f"<= {GOAL_LS_COLD_S} s",
                    f"full fold to POS {baseline:.2f} s",
                )
            ]
            if worst is not None and worst_seconds is not None
            else []
        ),
        (
            "sd ls --at POS+1..3, near (median of 3)",
            f"{near_seconds:.3f} s",
            f"<= {GOAL_LS_WARM_S} s",
            f"sd ls of the present {present:.3f} s",
        ),
    ]
    return r, rows


def _fold_to(run: Run, data: Path, position: int, into: Path) -> Path:
    _fold(run, data, position, into)
    return into


def _shown(answer: list[dict[str, Any]]) -> list[tuple[str, int, str | None]]:
    return sorted((i["name"], i["size"], i["content_id"]) for i in answer)


def _snapshots(data: Path) -> list[tuple[int, int]]:
    """(position, bytes) of the snapshots the node took."""
    found = []
    for path in data.glob("libraries/*/snapshots/*-node-*.db"):
        found.append((int(path.name.split("-", 1)[0]), path.stat().st_size))
    return sorted(found)


def _tag_export(path: Path, data: Path, library: bytes, count: int, deleted_at: int) -> None:
    """``count`` tag events of a new device, which the library's creator (``data``) pairs
    first: the tag ``target`` first, its deletion as event ``deleted_at`` (0-based), the
    rest new tags."""
    from events.domain.device import DevicePaired
    from sdactors.node.node import Node

    key = DeviceKey.generate()
    with Node(data) as node:
        node.write_library(None).append_typed(DevicePaired(key.public, "bench"))
    writer = LogWriter(key, HybridClock(), library_key(library))
    target = os.urandom(16)
    drafts = [CATALOG.body(TagCreated(target, "target", None))]
    for i in range(1, count):
        if i == deleted_at:
            drafts.append(CATALOG.body(TagDeleted(target)))
        else:
            drafts.append(CATALOG.body(TagCreated(os.urandom(16), f"t-{i}", None)))
    events = []
    for start in range(0, len(drafts), 100):
        events.extend(writer.build(drafts[start : start + 100]))
    with open(path, "wb") as fh:
        write_export(
            fh, ExportHeader(library, "bench", len(events)), [(e.data, e.sig) for e in events]
        )


def bench_bisect(run: Run) -> tuple[dict[str, Any], list[Row]]:
    """``sd log bisect`` over a log of many small events, the answer known in advance."""
    count = run.args.tag_events
    data = run.scratch / "bisect-data"
    (lib,) = [run.sd(data, "library", "create", "bisect")["id"]]
    export = run.scratch / "tags.sdlog"
    deleted_at = run.rng.randint(count // 10, count - 2)
    t0 = time.perf_counter()
    _tag_export(export, data, bytes.fromhex(lib), count, deleted_at)
    run.sd(data, "log", "import", str(export))
    made = time.perf_counter() - t0
    head = run.sd(data, "log", "stats")["events"]
    shown = subprocess.run(
        [*SD, "--data-dir", str(data), "--json", "log", "show", "--type", "tag.deleted"],
        env=run.env,
        capture_output=True,
        text=True,
        check=True,
    )
    (deletion,) = [json.loads(line) for line in shown.stdout.splitlines() if line.strip()]
    seconds, found = run.timed(data, "log", "bisect", "--when", TARGET_DELETED)
    baseline = _fold(run, data, head, run.scratch / "tags-fold.db")
    ok = found["position"] == deletion["pos"] and found["event"]["type"] == "tag.deleted"
    r = {
        "events": head,
        "make_seconds": made,
        "expected_position": deletion["pos"],
        "found_position": found["position"],
        "probes": found["probes"],
        "seconds": seconds,
        "goal": {"seconds": GOAL_BISECT_S},
        "baseline": {"full_fold_seconds": baseline},
        "answer_right": ok,
    }
    row = (
        f"sd log bisect ({head:,} events, {found['probes']} probes)",
        f"{seconds:.2f} s",
        f"<= {GOAL_BISECT_S} s",
        f"full fold of the log {baseline:.2f} s",
    )
    return r, [row]


def _a_file(tree: Path, rng: random.Random) -> Path:
    """A file of the tree, picked at random among the first folders walked."""
    found: list[Path] = []
    for folder, _dirs, files in os.walk(tree):
        found.extend(Path(folder) / f for f in files if not f.startswith("."))
        if len(found) > 5000:
            break
    return rng.choice(found)


def bench_history(run: Run) -> tuple[dict[str, Any], list[Row]]:
    """``sd log history PATH`` of one file in the log ``bench_ls_at`` made (it runs first)."""
    data = run.scratch / "ls-data"
    tree = run.args.tree or run.scratch / "tree"
    path = _a_file(tree, run.rng)
    times, life = [], []
    for _ in range(3):
        seconds, life = run.timed(data, "log", "history", str(path))
        times.append(seconds)
    took = sorted(times)[1]
    t0 = time.perf_counter()
    subprocess.run(
        [*SD, "--data-dir", str(data), "--json", "log", "show", "--type", "entries."],
        env=run.env,
        stdout=subprocess.DEVNULL,
        check=True,
    )
    scan = time.perf_counter() - t0
    created = [m for m in life if m["what"] == "created"]
    right = len(created) == 1 and created[0]["path"] == str(path) and life[0] == created[0]
    r = {
        "seconds": took,
        "moments": len(life),
        "answer_right": right,
        "goal": {"seconds": GOAL_HISTORY_S},
        "baseline": {"show_every_entries_event_seconds": scan},
    }
    row = (
        "sd log history of one file (median of 3)",
        f"{took:.2f} s",
        f"<= {GOAL_HISTORY_S} s",
        f"sd log show of every entries event {scan:.2f} s",
    )
    return r, [row]


def bench_tail(run: Run) -> tuple[dict[str, Any], list[Row]]:
    """``sd log tail --follow``: from an append's commit (returned here) to its line on the
    follower's output, over ``--tail-events`` appends made by this process."""
    import threading

    from events.domain.tags import TagCreated as Created
    from sdactors.node.node import Node

    data = run.scratch / "tail-data"
    run.sd(data, "library", "create", "tail")
    follower = subprocess.Popen(
        [*SD, "--data-dir", str(data), "--json", "log", "tail", "-n", "0", "--follow"],
        env=run.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    seen: dict[int, float] = {}

    def read() -> None:
        for line in follower.stdout:  # type: ignore[union-attr]
            seen[json.loads(line)["pos"]] = time.perf_counter()

    threading.Thread(target=read, daemon=True).start()
    committed: dict[int, float] = {}
    try:
        time.sleep(1.0)  # the follower is up
        with Node(data) as node:
            lib = node.open_library(None)
            for i in range(run.args.tail_events):
                done = lib.append_typed(Created(os.urandom(16), f"tail-{i}", None))
                committed[done.first_pos] = time.perf_counter()
                time.sleep(run.rng.uniform(0.005, 0.03))
        deadline = time.monotonic() + 10
        while len(seen) < len(committed) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        follower.terminate()
        follower.wait(10)
    latencies = [seen[p] - t for p, t in committed.items() if p in seen]
    ordered = sorted(latencies)
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)] if ordered else float("inf")
    r = {
        "events": len(committed),
        "seen": len([p for p in committed if p in seen]),
        "p50_ms": (ordered[len(ordered) // 2] if ordered else float("inf")) * 1000,
        "p99_ms": p99 * 1000,
        "goal": {"p99_ms": GOAL_TAIL_P99_MS},
    }
    row = (
        f"sd log tail --follow, commit to output ({r['events']} appends)",
        f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms",
        f"p99 <= {GOAL_TAIL_P99_MS:.0f} ms",
        f"polls the log head every {FOLLOW_EVERY_S * 1000:.0f} ms",
    )
    return r, [row]


# The figures, in the order they run: name -> function(run) -> (result, table rows).
# history reads the log ls_at made: it runs after it.
FIGURES: dict[str, Callable[[Run], tuple[dict[str, Any], list[Row]]]] = {
    "ls_at": bench_ls_at,
    "history": bench_history,
    "bisect": bench_bisect,
    "tail": bench_tail,
}
# Whether a figure's answer was right (the run exits 1 otherwise).
CHECKS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "ls_at": lambda r: r["listing_matches_fold"],
    "bisect": lambda r: r["answer_right"],
    "history": lambda r: r["answer_right"],
    "tail": lambda r: r["seen"] == r["events"],
}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    tree_options(
        parser,
        1_000_000,
        4096,
        "Cap generated file sizes (bytes): nothing measured here depends on the contents.",
    )
    parser.add_argument(
        "--tag-events", type=int, default=100_000, help="Events of the log bisect runs over."
    )
    parser.add_argument(
        "--tail-events", type=int, default=200, help="Appends timed through log tail --follow."
    )
    parser.add_argument(
        "--only", choices=sorted(FIGURES), action="append", help="Run only these figures."
    )
    parser.add_argument("--seed", type=int, default=None, help="Of the random positions.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    scratch = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    run = Run(args, scratch, quiet_env(), random.Random(seed))
    r: dict[str, Any] = {"seed": seed}
    rows: list[Row] = []
    try:
        for name, figure in FIGURES.items():
            if args.only and name not in args.only:
                continue
            r[name], more = figure(run)
            rows.extend(more)
    finally:
        if run.node is not None:
            run.node.kill()
        shutil.rmtree(scratch, ignore_errors=True)
    r["ok"] = all(check(r[name]) for name, check in CHECKS.items() if name in r)
    report(r, rows, args.json)
    if not r["ok"]:
        sys.exit(1)
    return r


def report(r: dict[str, Any], rows: list[Row], as_json: bool) -> None:
    if as_json:
        print(json.dumps(r))
        return
    table = [("figure", "value", "goal", "baseline"), *rows]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    if "ls_at" in r:
        ls = r["ls_at"]
        print(
            f"ls --at: {ls['log_events']:,} events after indexing {ls['files']:,} files in "
            f"{ls['index_seconds']:.1f} s; listing of {ls['folder_children']} entries "
            f"{'matches' if ls['listing_matches_fold'] else 'DIFFERS FROM'} the whole fold"
        )
    if "bisect" in r:
        b = r["bisect"]
        print(
            f"bisect: found {b['found_position']:,}, the tag.deleted is at "
            f"{b['expected_position']:,} ({'right' if b['answer_right'] else 'WRONG'})"
        )
    print(f"seed {r['seed']}")


if __name__ == "__main__":
    main()
