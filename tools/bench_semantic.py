"""Search by meaning: how fast, how good, how much memory (``sdactors/semantic/``,
``sdactors/ops/meaning.py``).

    python tools/bench_semantic.py [--filler 20000] [--scan-rows 1000000] [--index DATA_DIR]
                                   [--quick]

1. A home tree: the labelled files (``LABELLED``: a request in words and the file it means,
   names as people and cameras write them) among ``--filler`` others of realistic names,
   indexed by ``sd location add`` (its CPU time: the first index).
2. The vectors of every entry (``sdactors.semantic.vectors.refresh``, what the vectors job
   runs): its CPU time against the first index's, and embeddings per second.
3. Each labelled query in each mode and by plain search: top-1 and MRR (the intended file's
   reciprocal rank in the first 10, 0 if absent), and each query's CPU time (p50, p99): the
   machine is shared, so CPU time is the measure, wall time beside it.
4. The scan at ``--scan-rows`` vectors of generated names: p50/p99 of a query's nearest
   200, the RSS the mapped file adds, and recall@10 against an exact scan.
5. With ``--index DATA_DIR`` (a data dir indexed already, e.g. tools/gen_tree.py's 100k
   tree): each labelled request in each mode on it, CPU p50/p99.

Prints JSON. Every timed query checks its answer is a list of existing entries, best first.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# As sd sets it (sdactors/__init__.py), before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

from projections.files.search import Filters, search  # noqa: E402
from sdactors.ops.meaning import by_meaning  # noqa: E402
from sdactors.semantic.model import embed, words  # noqa: E402
from sdactors.semantic.query import MODES  # noqa: E402
from sdactors.semantic.vectors import Vectors, load, refresh, save  # noqa: E402

# (request, folder, file): what a user types, and the file they mean.
LABELLED: list[tuple[str, str, str]] = [
    ("beach holiday", "Pictures/2025", "IMG_2041 seaside vacation.jpg"),
    ("car insurance", "Documents/Car", "vehicle policy renewal.pdf"),
    ("tax return", "Documents/Taxes", "income tax filing 2023.pdf"),
    ("wedding photos", "Pictures/Family", "DSC0412 marriage ceremony.jpg"),
    ("apple pie recipe", "Documents/Cooking", "grandma apple tart baking.txt"),
    ("job application", "Documents/Work", "resume software engineer.pdf"),
    ("rent contract", "Documents/Home", "apartment lease agreement.pdf"),
    ("electricity bill", "Documents/Bills", "power utility invoice march.pdf"),
    ("dog pictures", "Pictures/Pets", "puppy playing in garden.jpg"),
    ("birthday party", "Pictures/Family", "IMG_3301 birthday celebration cake.jpg"),
    ("doctor appointment", "Documents/Health", "medical checkup results.pdf"),
    ("flight tickets", "Documents/Travel", "airline boarding pass lisbon.pdf"),
    ("hotel booking", "Documents/Travel", "hotel reservation confirmation.pdf"),
    ("bank statement", "Documents/Finance", "monthly account statement bank.pdf"),
    ("salary slip", "Documents/Work", "payslip october.pdf"),
    ("mortgage", "Documents/Home", "home loan repayment schedule.xlsx"),
    ("guitar song", "Music", "acoustic guitar melody.mp3"),
    ("workout plan", "Documents/Health", "gym training schedule.txt"),
    ("meeting notes", "Documents/Work", "team meeting minutes.md"),
    ("presentation slides", "Documents/Work", "quarterly review deck.pptx"),
    ("sunset photo", "Pictures/2024", "IMG_0933 evening sky over the sea.jpg"),
    ("snow holiday", "Pictures/2024", "ski trip alps winter.jpg"),
    ("kids school report", "Documents/School", "children report card.pdf"),
    ("passport scan", "Documents/Identity", "passport copy scanned.pdf"),
    ("driving licence", "Documents/Identity", "driver license front.jpg"),
    ("phone contract", "Documents/Bills", "mobile phone plan agreement.pdf"),
    ("internet bill", "Documents/Bills", "broadband invoice april.pdf"),
    ("christmas dinner", "Pictures/Family", "xmas family meal.jpg"),
    ("cat video", "Videos", "kitten chasing laser.mp4"),
    ("baby first steps", "Videos", "toddler walking first time.mp4"),
    ("garden plans", "Documents/Home", "backyard landscaping sketch.pdf"),
    ("novel draft", "Documents/Writing", "book manuscript chapter one.docx"),
    ("budget spreadsheet", "Documents/Finance", "household expenses tracker.xlsx"),
    ("car repair", "Documents/Car", "garage mechanic invoice.pdf"),
    ("house photos", "Pictures/Home", "living room interior.jpg"),
    ("mountain hike", "Pictures/2023", "trail summit panorama.jpg"),
    ("city trip paris", "Pictures/2023", "eiffel tower at night.jpg"),
    ("tax receipts", "Documents/Taxes", "deductible donation receipt.pdf"),
    ("piano lesson", "Music", "piano practice recording.m4a"),
    ("podcast episode", "Music", "interview show episode 12.mp3"),
    ("invoice client", "Documents/Work", "billing statement customer acme.pdf"),
    ("vaccination record", "Documents/Health", "immunization certificate.pdf"),
    ("wifi password", "Documents/Home", "router network credentials.txt"),
    ("moving checklist", "Documents/Home", "relocation todo list.txt"),
    ("warranty", "Documents/Home", "washing machine guarantee.pdf"),
    ("concert", "Videos", "live music festival stage.mp4"),
    ("graduation", "Pictures/Family", "university diploma ceremony.jpg"),
    ("family tree", "Documents/Family", "genealogy ancestors chart.pdf"),
    ("recipe pasta", "Documents/Cooking", "spaghetti carbonara instructions.txt"),
    ("thesis", "Documents/School", "master dissertation final.pdf"),
    ("fishing trip", "Pictures/2025", "lake boat catch.jpg"),
    ("insurance claim", "Documents/Car", "accident damage report.pdf"),
]
# Words filler names are made of: ordinary, and unrelated to no query in particular.
FILLER_WORDS = (
    "report draft final notes scan copy export backup data list plan photo image track "
    "document summary letter form sheet log archive old new review version project sample "
    "test misc temp part file record item page chart table set print memo agenda"
).split()
EXTENSIONS = (".pdf", ".jpg", ".txt", ".docx", ".xlsx", ".png", ".mp3", ".md", ".csv")
FOLDERS = ("Documents", "Pictures", "Downloads", "Music", "Videos", "Desktop", "Archive")
TOP = 10


def make_tree(root: Path, filler: int, seed: int) -> None:
    rng = random.Random(seed)
    for _, folder, name in LABELLED:
        path = root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
    for i in range(filler):
        folder = root / rng.choice(FOLDERS) / rng.choice(FILLER_WORDS)
        folder.mkdir(parents=True, exist_ok=True)
        words = rng.sample(FILLER_WORDS, rng.randint(1, 3))
        sep = rng.choice((" ", "_", "-"))
        (folder / f"{sep.join(words)}{sep}{i}{rng.choice(EXTENSIONS)}").write_bytes(b"x")


def sd(data: Path, *args: str) -> float:
    """Run ``sd``; the CPU seconds it (and its children) took."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "SD_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
    subprocess.run(
        [sys.executable, "-m", "sdactors", *args], env=env, check=True, capture_output=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(1000 * statistics.median(ordered), 2),
        "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
    }


def quality(db: sqlite3.Connection, root: Path, lib: Path, mode: str | None) -> dict[str, object]:
    """Top-1, MRR and CPU time per query of one mode (None: plain search)."""
    ranks, cpus, walls = [], [], []
    now = time.time()
    for query, folder, name in LABELLED:
        wall, cpu = time.perf_counter(), time.process_time()
        if mode is None:
            hits = search(db, query, Filters(), TOP)
        else:
            hits = [s.hit for s in by_meaning(db, lib, mode, query, Filters(), TOP, now)]
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
        assert len(hits) <= TOP and len({h.entry for h in hits}) == len(hits), query
        paths = [h.path for h in hits]
        intended = os.fsencode(root / folder / name)
        ranks.append(paths.index(intended) + 1 if intended in paths else None)
    return {
        "top1": round(sum(r == 1 for r in ranks) / len(ranks), 3),
        "mrr": round(sum(1 / r for r in ranks if r) / len(ranks), 3),
        "cpu": percentiles(cpus),
        "wall": percentiles(walls),
        "missed": [q for (q, _, _), r in zip(LABELLED, ranks) if r is None],
    }


def rss_mb() -> dict[str, float]:
    """This process's resident memory: its own (anonymous) and the file pages it maps
    (the vectors file: page cache, shared between processes, given back under pressure)."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("RssAnon:", "RssFile:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def scan(rows: int, queries: int, seed: int) -> dict[str, object]:
    """The search's scan at ``rows``: vectors of generated names (embedded here: the
    embeddings per second at scale), saved and mapped as the search reads them; each query's
    nearest 200 (``Vectors.nearest``: the first components scanned, the best shortlisted and
    scored whole) against an exact scan of every whole vector (recall@10)."""
    rng = random.Random(seed)
    vocabulary = FILLER_WORDS + sorted({w for _, _, n in LABELLED for w in words(n).split()})
    names = [" ".join(rng.sample(vocabulary, rng.randint(1, 4))) for _ in range(rows)]
    cpu = time.process_time()
    vecs = np.concatenate([embed(names[i : i + 50_000]) for i in range(0, rows, 50_000)])
    embed_cpu = time.process_time() - cpu
    del names
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vectors.bin"
        ids = np.arange(rows, dtype=np.int64)
        save(path, Vectors.of(ids, np.zeros(rows, np.uint64), vecs, 1))
        del vecs, ids
        gc.collect()
        before = rss_mb()
        vectors = load(path)
        assert vectors is not None
        cpus, walls, answers = [], [], []
        for query in embed([r for r, _, _ in LABELLED][:queries]):
            wall, cpu = time.perf_counter(), time.process_time()
            found, scores = vectors.nearest(query, 200)
            cpus.append(time.process_time() - cpu)
            walls.append(time.perf_counter() - wall)
            assert len(found) == 200 and np.all(np.diff(scores) <= 1e-6), "not best first"
            answers.append((query, found))
        # What the searches left resident (before the exact scans below read it all).
        after = rss_mb()
        recalls = []
        for query, found in answers:
            # Names repeat (and so do vectors): a found row counts when an exact scan ranks
            # it within the best 10, ties included.
            exact = np.concatenate(
                [
                    vectors.rows(np.arange(i, min(i + 100_000, rows))) @ query
                    for i in range(0, rows, 100_000)
                ]
            )
            tenth = np.partition(exact, rows - TOP)[rows - TOP]
            recalls.append(float(np.sum(exact[found[:TOP]] >= tenth - 1e-6)) / TOP)
        del vectors
    return {
        "rows": rows,
        "embeddings_per_cpu_s": round(rows / embed_cpu),
        "cpu": percentiles(cpus),
        "wall": percentiles(walls),
        "rss_added_mb": round(after["RssAnon"] - before["RssAnon"], 1),
        "rss_file_added_mb": round(after["RssFile"] - before["RssFile"], 1),
        "recall_at_10": round(statistics.mean(recalls), 3),
    }


def at_scale(data: Path) -> dict[str, object]:
    """Each labelled request in each mode on an index already made (``--index DATA_DIR``,
    e.g. of tools/gen_tree.py's 100k tree): CPU and wall time per query, p50/p99, after a
    first round (its wall time kept as the cold figure)."""
    [lib] = (data / "libraries").iterdir()
    db = sqlite3.connect(f"file:{lib / 'index.db'}?mode=ro", uri=True)
    cpu = time.process_time()
    refresh(lib, db)
    out: dict[str, object] = {
        "entries": db.execute("SELECT sum(count) FROM totals").fetchone()[0],
        # Nothing if the index's vectors were current already.
        "vectors_cpu_s": round(time.process_time() - cpu, 2),
    }
    now = time.time()
    # One round of every request first, untimed: the model's and the vectors' pages come in
    # (its cold figures: ``cold_wall``, the first round's wall time per query).
    for mode in MODES:
        walls = []
        for query, _, _ in LABELLED:
            wall = time.perf_counter()
            by_meaning(db, lib, mode, query, Filters(), 50, now)
            walls.append(time.perf_counter() - wall)
        out[f"{mode}_cold_wall"] = percentiles(walls)
    for mode in MODES:
        cpus, walls = [], []
        for query, _, _ in LABELLED:
            wall, cpu = time.perf_counter(), time.process_time()
            found = by_meaning(db, lib, mode, query, Filters(), 50, now)
            cpus.append(time.process_time() - cpu)
            walls.append(time.perf_counter() - wall)
            scores = [s.score for s in found]
            assert scores == sorted(scores, reverse=True), (mode, query)
        # CPU time counts every thread of the process (the tokenizer's own among them):
        # above the wall time on a quiet machine, the fairer measure on a busy one.
        out[mode] = {**percentiles(cpus), "wall": percentiles(walls)}
    db.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--filler", type=int, default=20_000)
    parser.add_argument("--scan-rows", type=int, default=1_000_000)
    parser.add_argument("--scan-queries", type=int, default=50)
    parser.add_argument("--index", type=Path, help="a data dir whose index to time queries on")
    parser.add_argument("--quick", action="store_true", help="small: 2,000 files, 20k rows")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="(the output is always JSON)")
    args = parser.parse_args()
    if args.quick:
        args.filler, args.scan_rows, args.scan_queries = 2_000, 20_000, 20

    with tempfile.TemporaryDirectory() as tmp:
        root, data = Path(tmp) / "home", Path(tmp) / "data"
        make_tree(root, args.filler, args.seed)
        sd(data, "library", "create", "bench")
        index_cpu = sd(data, "location", "add", str(root))
        [lib] = (data / "libraries").iterdir()
        db = sqlite3.connect(f"file:{lib / 'index.db'}?mode=ro", uri=True)
        cpu = time.process_time()
        update = refresh(lib, db)
        vectors_cpu = time.process_time() - cpu
        assert update is not None
        entries = len(update.vectors.ids)
        modes = {"plain": quality(db, root, lib, None)}
        for mode in MODES:
            modes[mode] = quality(db, root, lib, mode)
        db.close()
    result = {
        "entries": entries,
        "labelled_queries": len(LABELLED),
        "first_index_cpu_s": round(index_cpu, 2),
        "vectors_cpu_s": round(vectors_cpu, 2),
        # The vectors job runs after the index, never inside it: this is what it would add.
        "vectors_share_of_first_index": round(vectors_cpu / index_cpu, 3),
        "embeddings_per_cpu_s": round(entries / vectors_cpu),
        "modes": modes,
        "scan": scan(args.scan_rows, args.scan_queries, args.seed),
    }
    if args.index is not None:
        result["at_scale"] = at_scale(args.index)
    print(json.dumps(result))
    semantic = modes["semantic"]["mrr"]
    sys.exit(0 if semantic > modes["plain"]["mrr"] else 1)


if __name__ == "__main__":
    main()
