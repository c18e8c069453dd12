"""What the benchmarks share: running ``sd``, timing commands, latency percentiles, the
queries people type, and plocate as a baseline (installed and given a private database)."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

SD = [sys.executable, "-m", "sdactors"]


def ensure_tool(binary: str, package: str) -> str | None:
    """The path of ``binary``, installing Debian's ``package`` if we can; None otherwise."""
    found = shutil.which(binary)
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    # Two test workers may want a tool at once: the second waits for the first's install
    # (apt refuses a second one at the same time, and the second would go without).
    with open(Path(tempfile.gettempdir()) / "sdactors-ensure-tool.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = shutil.which(binary)
        if found:
            return found
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=300", package]
        if subprocess.run(install, capture_output=True, env=env).returncode != 0:
            # A fresh machine may have no package lists yet: fetch them once and try again.
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
            subprocess.run(install, capture_output=True, env=env)
        return shutil.which(binary)


def emit(r: dict[str, Any], as_json: bool, report: Callable[[dict[str, Any]], None]) -> None:
    """A benchmark's result: one JSON line (``--json``, what bench_all reads) or its report
    for people; the exit status 1 when an answer was wrong (``r["ok"]`` false)."""
    if as_json:
        print(json.dumps(r))
    else:
        report(r)
    if not r["ok"]:
        sys.exit(1)


def median_seconds(run: Callable[[], object], repeat: int = 3) -> float:
    """Median wall time of ``run``: one slow pass (another process waking) moves no figure."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timed_cmd(args: list[str], repeat: int = 3, **kwargs: Any) -> float:
    """Median wall time of a command (output discarded)."""
    return median_seconds(
        lambda: subprocess.run(args, stdout=subprocess.DEVNULL, check=True, **kwargs), repeat
    )


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """p50, p99 and the slowest of some latencies, in milliseconds."""
    ordered = sorted(seconds)
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000,
        "max_ms": ordered[-1] * 1000,
    }


def tree_options(
    parser: argparse.ArgumentParser, files: int, max_size: int, max_size_help: str
) -> None:
    """``--files``, ``--tree`` and ``--max-size``: the generated tree a benchmark runs on."""
    parser.add_argument("--files", type=int, default=files, help="Files in the tree.")
    parser.add_argument(
        "--tree",
        type=Path,
        default=None,
        help="Where to generate (and keep) the tree; default: a temp dir.",
    )
    parser.add_argument("--max-size", type=int, default=max_size, help=max_size_help)


def sd(env: dict[str, str], *args: str) -> Any:
    """``sd --json ARGS``, its answer decoded; the run stops if it fails."""
    out = subprocess.run([*SD, "--json", *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"sd {' '.join(args)} failed: {out.stderr.strip()}")
    return json.loads(out.stdout) if out.stdout.strip() else None


def plocate_tools() -> tuple[str | None, str | None]:
    """``plocate`` and its ``updatedb``, installed from Debian's package if need be."""
    plocate = ensure_tool("plocate", "plocate")
    updatedb = shutil.which("updatedb.plocate") or shutil.which("updatedb")
    return plocate, updatedb


def updatedb_args(updatedb: str, tree: Path, db: Path) -> list[str]:
    """updatedb over ``tree`` only, into the private database ``db`` (the system's is never
    read or written): nothing pruned (the system's updatedb.conf prunes /tmp, .git...), and
    no visibility check, so every entry of the tree is in it as it is in our index."""
    return [
        updatedb,
        "--require-visibility",
        "0",
        "--prunepaths",
        "",
        "--prunenames",
        "",
        "--prunefs",
        "",
        "--prune-bind-mounts",
        "no",
        "--output",
        str(db),
        "--database-root",
        str(tree),
    ]


def search_queries(
    names: list[tuple[str, str, int, int]], count: int, seed: int = 7
) -> dict[str, list[str]]:
    """Queries people type, made from the indexed names and paths: whole names, prefixes,
    5-character pieces of names (often mid-word), words, two words in any order (one may be
    a folder's), and path fragments; plus, apart, the one- and two-character ones. Beside
    each list, the class each query was made as (``typed_classes``, ``short_classes``).
    ``names`` holds ``(folded name, folded folder path, ...)``."""
    rng = random.Random(seed)
    typed: list[str] = []
    typed_classes: list[str] = []
    while len(typed) < count:
        name, folder, _, _ = names[rng.randrange(len(names))]
        words = name.replace("_", " ").replace("-", " ").replace(".", " ").split() or [name]
        folder_words = folder.strip("/").split("/")[-1].split() or words
        roll = rng.random()
        if roll < 0.2:
            typed.append(name)
            typed_classes.append("name")
        elif roll < 0.4:
            typed.append(name[: max(3, len(name) // 2)])
            typed_classes.append("prefix")
        elif roll < 0.6:
            start = rng.randint(0, max(0, len(name) - 5))
            typed.append(name[start : start + 5])
            typed_classes.append("piece")
        elif roll < 0.8:
            typed.append(rng.choice(words))
            typed_classes.append("word")
        elif roll < 0.9:
            pair = [rng.choice(words), rng.choice(folder_words + words)]
            rng.shuffle(pair)
            typed.append(" ".join(pair))
            typed_classes.append("two_words")
        else:
            typed.append(folder.strip("/").split("/")[-1] + "/" + name[: max(3, len(name) // 2)])
            typed_classes.append("fragment")
    short = []
    while len(short) < max(10, count // 10):
        name = names[rng.randrange(len(names))][0]
        start = rng.randrange(len(name))
        short.append(name[start : start + rng.choice((1, 2))])
    return {
        "typed": typed,
        "short": short,
        "typed_classes": typed_classes,
        "short_classes": [f"short{len(q)}" for q in short],
    }
