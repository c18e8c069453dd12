"""Benchmark of the node (``sd node run``) as it serves, each figure with its goal and a
baseline measured in the same run.

- search: ``sd search QUERY --json`` run as a whole process (interpreter start included),
  answered by the running node; p50/p99 over ``--runs`` queries people type; goal p50 <=
  60 ms; beside ``plocate -i -l 50`` over a private database of the same tree. Every answer,
  plocate's too, is checked against the entries of the tree that hold the query, computed
  here from the tree itself (not from the index); the same query as text (``sd search
  QUERY``) is timed too, its table checked line by line against the JSON answer;
- the other reads, each as a whole process, as text and with ``--json``, ``--runs`` times,
  each run beside its baseline: ``sd ls FOLDER`` (a different folder each run; beside
  ``ls -l`` of it, from the disk), ``sd ls`` (the locations), ``sd stats`` (beside ``plocate
  -c /``, plocate's count of its entries) and ``sd node status`` (beside the same question
  asked over the node's socket from this process: what the node owes, without a Python
  start); goal p50 <= 60 ms each; beside them all, ``python -c pass``: the interpreter's own
  start, the floor of any Python command. Every answer is checked against the tree (a
  folder's names and types, the counts of files and folders) or the node (its pid);
- change to index: ``--burst`` files made in a new folder of the indexed tree while the node
  runs; seconds from the end of the burst until ``sd search`` finds every one of them, the
  node picking the change up on its own (nothing asks it to rescan); goal <= 5 s; "not seen
  within T s" past ``--burst-timeout``. Baseline: plocate sees them once ``updatedb`` has
  gone over the whole tree again;
- memory: the node's RSS once the tree is indexed (``sd node status``, checked against psutil
  of its pid); goal <= 300 MB; beside updatedb's peak RSS and an idle Python (trio) process;
- idle CPU: the node's CPU time over ``--idle-seconds`` of nothing to do, as a percentage of
  one core; goal <= 1%; beside the same idle trio process over the same seconds;
- stop: SIGTERM, exit status 0 within 10 s.

The node serves a private data directory (``--data-dir``) and its Unix socket; the run checks
that it holds no network connection off 127.0.0.1.

    python tools/bench_node.py --files 100000 --idle-seconds 30
    python tools/bench_node.py --tree /var/tmp/tree-1m      # 1M files (the default), kept

``--before SOURCE`` times the ``sd`` of another source tree (the code before a change)
beside ours, alternately, on every read: a ratio from one run, on a machine whose load
varies more from run to run than the change does. ``--data-dir`` keeps the index for the
next run (which then starts the node on it instead of indexing again); ``--burst 0`` and
``--idle-seconds 0`` leave those figures out: with both, the run only reads (a tree shared
with others is not written to).

``plocate`` comes from Debian's package: the script installs it with apt-get when it runs as
root and it is missing, and stops without it. The exit status is 1 when an answer was wrong,
the node did not stop cleanly or it used the network; the timings are for people to judge.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    SD,
    latency_summary,
    plocate_tools,
    sd,
    search_queries,
    tree_options,
    updatedb_args,
)
from gen_tree import generate  # noqa: E402

T = TypeVar("T")
# What ``sd search`` gives by default; plocate is given the same limit.
SEARCH_LIMIT = 50
# The most ``sd search --limit`` takes: answers up to this size are compared whole.
WHOLE_LIMIT = 10_000
GOAL_SEARCH_P50_MS = 60
GOAL_CHANGE_S = 5
GOAL_RSS_MB = 300
GOAL_IDLE_PERCENT = 1
GOAL_STOP_S = 10
GOAL_STATUS_MS = 100
# Burst files hold this in their names and nothing else in a tree does (checked first).
BURST_TOKEN = "zqburst"
# Failures quoted in the report (all are counted).
QUOTED = 10


def quiet_env() -> dict[str, str]:
    """Ours, less what would point ``sd`` elsewhere or make it noisy (``--data-dir`` rules),
    or make each ``sd`` compile its modules again (an installed ``sd`` has its bytecode)."""
    unwanted = ("SD_DATA_DIR", "SD_DEBUG", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in unwanted}
    # The node listens on loopback only: nothing here talks to another machine; its HTTP
    # server on a port the system picks (several nodes may run side by side).
    return {**env, "SD_NETWORK_BIND": "127.0.0.1:0", "SD_HTTP_PORT": "0"}


# -- the tree and what each query must find -----------------------------------------------


class TreeIndex:
    """Every entry below the tree's root (files and folders), as plocate and our index list
    them: absolute paths, and the same folded (names here are ASCII: casefold is the fold)."""

    def __init__(self, tree: Path) -> None:
        self.paths: list[str] = []
        self.folders: list[str] = []
        self.files = 0
        for folder, dirs, files in os.walk(tree):
            self.paths.extend(os.path.join(folder, name) for name in dirs + files)
            self.folders.extend(os.path.join(folder, name) for name in dirs)
            self.files += len(files)  # generated trees hold files and folders only
        self.folded = [p.casefold() for p in self.paths]

    def names(self) -> list[tuple[str, str, int, int]]:
        """``(folded name, folded folder path, 0, 0)``: what ``search_queries`` picks from."""
        return [(os.path.basename(f), os.path.dirname(f) + "/", 0, 0) for f in self.folded]

    def matching(self, query: str) -> set[str]:
        """Entries whose path holds every term of the query (how both sides match)."""
        terms = query.casefold().split()
        found = [i for i, f in enumerate(self.folded) if terms[0] in f]
        for term in terms[1:]:
            found = [i for i in found if term in self.folded[i]]
        return {self.paths[i] for i in found}


def sd_search(data: Path, env: dict[str, str], query: str, limit: int | None = None) -> list:
    """``sd search QUERY --json`` (the query after ``--``: it may start with a dash)."""
    return json.loads(sd_read(data, env, "search", "--json", *limit_args(limit), "--", query))


def limit_args(limit: int | None) -> list[str]:
    return [] if limit is None else ["--limit", str(limit)]


def sd_read(data: Path, env: dict[str, str], *args: str) -> str:
    """What ``sd ARGS`` prints; the run stops if it fails."""
    out = subprocess.run(
        [*SD, "--data-dir", str(data), *args], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"sd {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


def timed_read(data: Path, env: dict[str, str], *args: str) -> tuple[float, str]:
    start = time.perf_counter()
    out = sd_read(data, env, *args)
    return time.perf_counter() - start, out


def table_problems(side: str, text: str, firsts: list[str]) -> list[str]:
    """A table printed for people: a header, then one line per item of the JSON answer, in
    its order, each starting with that item's first column."""
    lines = text.split("\n")[1:-1] if firsts else text.split("\n")[:-1]
    if len(lines) != max(1, len(firsts)):
        return [f"{side}: {len(lines)} lines for {len(firsts)} items"]
    wrong = [first for line, first in zip(lines, firsts) if not line.startswith(first)]
    return (
        [f"{side}: {len(wrong)} lines not as the JSON answer, e.g. {wrong[0]!r}"] if wrong else []
    )


def plocate_args(plocate: str, db: Path, query: str, *options: str) -> list[str]:
    """plocate over our database only, case-insensitive, every term required; glob
    characters escaped so that each term is a plain substring, as our terms are."""
    terms = ["".join("\\" + c if c in "\\*?[]" else c for c in term) for term in query.split()]
    return [plocate, "-d", str(db), "-i", *options, "--", *terms]


def plocate_paths(out: str) -> list[str]:
    return [line for line in out.split("\n") if line]


def answer_problems(
    side: str, query: str, got: list[str], expected: set[str], limit: int
) -> list[str]:
    """What is wrong with an answer cut at ``limit``: a path that does not hold the query,
    one listed twice, or fewer than the tree has."""
    problems = []
    if len(set(got)) != len(got):
        problems.append(f"{side} {query!r}: a path listed twice")
    stray = set(got) - expected
    if stray:
        problems.append(f"{side} {query!r}: {len(stray)} paths do not match, e.g. {min(stray)}")
    if len(got) != min(limit, len(expected)):
        problems.append(
            f"{side} {query!r}: {len(got)} paths, the tree has {len(expected)} (limit {limit})"
        )
    return problems


def rank_problems(query: str, hits: list[dict], expected: set[str], limit: int) -> list[str]:
    """Our answer is the best first: names that are the query come first, and names that
    start with it are all there (or fill the answer). Path fragments rank alike: skipped."""
    phrase = " ".join(query.casefold().split())
    if "/" in phrase:
        return []
    name = {p: os.path.basename(p).casefold() for p in expected}
    exact = {p for p in expected if name[p] == phrase}
    starting = {p for p in expected if name[p].startswith(phrase)}
    paths = [h["path"] for h in hits]
    problems = []
    if any(p not in exact for p in paths[: min(len(exact), limit)]):
        problems.append(f"sd {query!r}: the names equal to the query are not first")
    if len(starting) <= limit and not starting <= set(paths):
        problems.append(
            f"sd {query!r}: {len(starting - set(paths))} names starting with it left out"
        )
    if len(starting) > limit and not set(paths) <= starting:
        problems.append(f"sd {query!r}: a weaker match among {limit} names starting with it")
    return problems


def bench_search(
    data: Path,
    env: dict[str, str],
    entries: TreeIndex,
    plocate: str,
    db: Path,
    runs: int,
    before: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``runs`` queries, each run once as ``sd search`` and once as plocate, alternately;
    then every answer checked, and compared whole where the tree has at most 10,000.
    ``before``: the environment of an ``sd`` to time beside ours (``--before``)."""
    queries = search_queries(entries.names(), runs)["typed"]
    sd_search(data, env, queries[0])  # warm: the page cache holds the interpreter after this
    subprocess.run(plocate_args(plocate, db, queries[0]), capture_output=True)
    sd_times, text_times, plocate_times, answers = [], [], [], []
    before_times: dict[str, list[float]] = {"json": [], "text": []}
    failures: list[str] = []
    for query in queries:
        if before is not None:
            took, out = timed_read(data, before, "search", "--json", "--", query)
            before_times["json"].append(took)
            took, text = timed_read(data, before, "search", "--", query)
            before_times["text"].append(took)
            hits = json.loads(out)
            expected = entries.matching(query)
            failures += table_problems(
                f"before: sd text {query!r}", text, [h["path"] for h in hits]
            )
            failures += answer_problems("before: sd", query, [h["path"] for h in hits], expected,
                                        SEARCH_LIMIT)  # fmt: skip
        took, out = timed_read(data, env, "search", "--json", "--", query)
        sd_times.append(took)
        took, text = timed_read(data, env, "search", "--", query)
        text_times.append(took)
        start = time.perf_counter()
        theirs = subprocess.run(
            plocate_args(plocate, db, query, "-l", str(SEARCH_LIMIT)),
            capture_output=True,
            text=True,
        )
        plocate_times.append(time.perf_counter() - start)
        answers.append((query, json.loads(out), text, plocate_paths(theirs.stdout)))
    whole = 0
    for query, ours, text, theirs in answers:
        expected = entries.matching(query)
        paths = [h["path"] for h in ours]
        failures += table_problems(f"sd text {query!r}", text, paths)
        failures += answer_problems("sd", query, paths, expected, SEARCH_LIMIT)
        failures += rank_problems(query, ours, expected, SEARCH_LIMIT)
        failures += answer_problems("plocate", query, theirs, expected, SEARCH_LIMIT)
        if len(expected) <= WHOLE_LIMIT:
            whole += 1
            all_ours = [h["path"] for h in sd_search(data, env, query, WHOLE_LIMIT)]
            failures += answer_problems("sd whole", query, all_ours, expected, WHOLE_LIMIT)
            out = subprocess.run(plocate_args(plocate, db, query), capture_output=True, text=True)
            failures += answer_problems(
                "plocate whole", query, plocate_paths(out.stdout), expected, len(expected)
            )
        else:
            out = subprocess.run(
                plocate_args(plocate, db, query, "-c"), capture_output=True, text=True
            )
            if int(out.stdout.strip() or 0) != len(expected):
                failures.append(
                    f"plocate count {query!r}: {out.stdout.strip()}, the tree has {len(expected)}"
                )
    ours_summary, theirs_summary = latency_summary(sd_times), latency_summary(plocate_times)
    return {
        "runs": len(queries),
        "limit": SEARCH_LIMIT,
        "sd": ours_summary,
        "sd_text": latency_summary(text_times),
        "before": {k: latency_summary(t) for k, t in before_times.items()} if before else None,
        "ratio_p50": ours_summary["p50_ms"] / theirs_summary["p50_ms"],
        "ratio_p99": ours_summary["p99_ms"] / theirs_summary["p99_ms"],
        "goal": {"p50_ms": GOAL_SEARCH_P50_MS},
        "baseline": {
            "what": f"plocate -i -l {SEARCH_LIMIT}, private database of the same tree",
            **theirs_summary,
        },
        "checked": {
            "answers": (5 if before else 3) * len(answers),
            "whole_sets": whole,
            "failed": len(failures),
            "failures": failures[:QUOTED],
        },
    }


# -- the other reads, as whole processes -----------------------------------------------------

GOAL_READ_P50_MS = 60


class Read:
    """One read command, timed as text and as JSON beside its baseline; its problems."""

    def __init__(self, baseline: str) -> None:
        self.baseline = baseline
        self.times: dict[str, list[float]] = {
            "text": [], "json": [], "baseline": [], "before_text": [], "before_json": []
        }  # fmt: skip
        self.problems: list[str] = []
        self.answers = 0

    def run(
        self, data: Path, env: dict[str, str], before: dict[str, str] | None, *args: str
    ) -> list[tuple[str, str, str]]:
        """``sd ARGS`` as text, then with ``--json`` (the ``before`` sd first, if any): for
        each side, its name and both outputs."""
        sides = []
        for side, key, side_env in (("before: ", "before_", before), ("", "", env)):
            if side_env is None:
                continue
            took, text = timed_read(data, side_env, *args)
            self.times[key + "text"].append(took)
            took, out = timed_read(data, side_env, *args, "--json")
            self.times[key + "json"].append(took)
            self.answers += 2
            sides.append((side, text, out))
        return sides

    def base(self, work: Callable[[], T]) -> T:
        start = time.perf_counter()
        done = work()
        self.times["baseline"].append(time.perf_counter() - start)
        return done

    def summary(self) -> dict[str, Any]:
        text, js = latency_summary(self.times["text"]), latency_summary(self.times["json"])
        base = latency_summary(self.times["baseline"]) if self.times["baseline"] else None
        before = None
        if self.times["before_text"]:
            before = {k: latency_summary(self.times["before_" + k]) for k in ("text", "json")}
        return {
            "runs": len(self.times["text"]),
            "text": text,
            "json": js,
            "before": before,
            "goal": {"p50_ms": GOAL_READ_P50_MS},
            "baseline": {"what": self.baseline, **base} if base else None,
            "checked": {
                "answers": self.answers,
                "failed": len(self.problems),
                "failures": self.problems[:QUOTED],
            },
        }


def folder_problems(folder: str, text: str, out: str) -> list[str]:
    """``sd ls FOLDER``: the folder's own names and types (from the disk), and the table the
    JSON answer makes."""
    items = json.loads(out)
    with os.scandir(folder) as it:
        disk = {e.name: "dir" if e.is_dir(follow_symlinks=False) else "file" for e in it}
    problems = table_problems(f"sd ls {folder!r}", text, [
        i["name"] + ("/" if i["type"] == "dir" else "") for i in items
    ])  # fmt: skip
    got = {i["name"]: i["type"] for i in items}
    if got != disk:
        problems.append(f"sd ls {folder!r}: {len(got)} entries, the disk has {len(disk)}")
    return problems


def bench_reads(
    data: Path,
    env: dict[str, str],
    tree: Path,
    entries: TreeIndex,
    plocate: str,
    db: Path,
    node_pid: int,
    runs: int,
    before: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``sd ls FOLDER``, ``sd ls``, ``sd stats`` and ``sd node status``, ``runs`` times each
    as text and as JSON, each run beside its baseline (and the ``before`` sd's, if any);
    and the interpreter's start."""
    from sdactors.node.control.client import connect

    rng = random.Random(11)
    folders = rng.sample(entries.folders, min(runs, len(entries.folders)))
    sd_read(data, env, "ls", folders[0])  # warm, as search is
    reads = {
        "ls_folder": Read("ls -l FOLDER (from the disk)"),
        "ls": Read(""),
        "stats": Read("plocate -c / (its count of its entries)"),
        "node_status": Read("node.status over the socket from this process"),
        "python": Read(""),
    }
    root = os.path.realpath(tree)
    for i in range(runs):
        folder = folders[i % len(folders)]
        r = reads["ls_folder"]
        for side, text, out in r.run(data, env, before, "ls", folder):
            r.problems += [side + x for x in folder_problems(folder, text, out)]
        listing = ["ls", "-l", folder]
        r.base(lambda: subprocess.run(listing, capture_output=True, check=True))  # noqa: B023

        r = reads["ls"]
        for side, text, out in r.run(data, env, before, "ls"):
            locations = json.loads(out)
            if [loc["path"] for loc in locations] != [root]:
                r.problems.append(f"{side}sd ls: locations {[loc['path'] for loc in locations]}")
            r.problems += table_problems(f"{side}sd ls", text, [loc["name"] for loc in locations])

        r = reads["stats"]
        for side, text, out in r.run(data, env, before, "stats"):
            st = json.loads(out)
            # The location's own folder is one of the index's folders.
            if (st["files"], st["dirs"]) != (entries.files, len(entries.folders) + 1):
                r.problems.append(f"{side}sd stats: {st['files']} files, {st['dirs']} folders")
            if not text.startswith(f"files    {entries.files:,}\n"):
                r.problems.append(f"{side}sd stats: text {text[:40]!r}")
        counted = r.base(
            lambda: subprocess.run(
                [plocate, "-d", str(db), "-c", "/"], capture_output=True, text=True
            )
        )
        if int(counted.stdout.strip() or 0) != len(entries.paths):
            r.problems.append(f"plocate -c /: {counted.stdout.strip()}")

        r = reads["node_status"]
        for side, text, out in r.run(data, env, before, "node", "status"):
            pid = json.loads(out)["pid"]
            if pid != node_pid or not text.startswith(f"pid         {node_pid}\n"):
                r.problems.append(f"{side}sd node status: not the node's pid {node_pid}: {pid}")

        def ask() -> None:
            client = connect(data)
            assert client is not None, "the node stopped answering"
            try:
                client.call("node.status", {})
            finally:
                client.close()

        r.base(ask)
        reads["python"].base(lambda: subprocess.run([sys.executable, "-c", "pass"], env=env))
    result = {name: r.summary() for name, r in reads.items() if name != "python"}
    return {**result, "python_start": latency_summary(reads["python"].times["baseline"])}


# -- the node --------------------------------------------------------------------------------


class RunningNode:
    """``sd node run`` on a data directory, as a background process of this run."""

    def __init__(
        self, data: Path, env: dict[str, str], log: Path, prefix: Sequence[str] = ()
    ) -> None:
        """``prefix`` runs it (say, ``ip netns exec NS``); ``sd`` commands reach it anyway,
        through its socket."""
        self.data = data
        self.env = env
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [*prefix, *SD, "--data-dir", str(data), "node", "run"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        self.ps = psutil.Process(self.proc.pid)

    def status(self) -> dict[str, Any] | None:
        out = subprocess.run(
            [*SD, "--data-dir", str(self.data), "node", "status", "--json"],
            env=self.env,
            capture_output=True,
            text=True,
        )
        return json.loads(out.stdout) if out.returncode == 0 else None

    def wait_answering(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"sd node run exited with status {self.proc.returncode}")
            st = self.status()
            if st is not None:
                return st
            time.sleep(0.2)
        raise SystemExit(f"sd node run did not answer within {timeout:.0f} s")

    def wait_settled(self, timeout: float) -> dict[str, Any]:
        """Until no job runs and no watch is still starting, twice in a row (a node that
        watches rescans a location whole when its watch begins)."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            st = self.wait_answering(timeout)
            starting = [
                w for w in st["watching"] if isinstance(w, dict) and w.get("mode") == "starting"
            ]
            quiet = quiet + 1 if not st["jobs"] and not starting else 0
            if quiet == 2:
                return st
            time.sleep(0.5)
        raise SystemExit(f"the node still had jobs after {timeout:.0f} s: {st['jobs']}")

    def cpu_seconds(self) -> float:
        """CPU time of the node and of its processes (workers) that are alive."""
        total = 0.0
        for proc in [self.ps, *self.ps.children(recursive=True)]:
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system
        return total

    def off_loopback(self) -> list[str]:
        """Internet connections of the node and its processes that are not 127.0.0.1/::1."""
        found = []
        for proc in [self.ps, *self.ps.children(recursive=True)]:
            try:
                connections = proc.net_connections(kind="inet")
            except psutil.Error:
                continue
            for c in connections:
                ends = [c.laddr, c.raddr] if c.raddr else [c.laddr]
                if any(end and end.ip not in ("127.0.0.1", "::1") for end in ends):
                    found.append(f"{c.laddr} -> {c.raddr} ({c.status})")
        return found

    def stop(self, timeout: float) -> dict[str, Any]:
        start = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return {
                "exit_code": None,
                "seconds": None,
                "result": f"still running after {timeout} s",
            }
        seconds = time.perf_counter() - start
        return {"exit_code": code, "seconds": seconds, "result": "ok" if code == 0 else "failed"}

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def location_add_through_node() -> bool:
    """Whether ``sd location add`` is a command the node runs (else it takes the library's
    lock itself, and must run before the node holds it)."""
    from sdactors.ops import registry  # noqa: F401 - every command registered
    from sdactors.ops.base import commands

    return "location.add" in commands()


def peak_rss_run(args: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of a command, from its own rusage."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{args[0]} failed: {err.strip()}")
    return seconds, usage.ru_maxrss * 1024


class IdleTrio:
    """A Python process with a trio loop asleep: the floor of a Python daemon's memory and
    idle CPU, measured over the same seconds as the node."""

    def __init__(self, seconds: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"import trio; trio.run(trio.sleep, {seconds})"]
        )
        self.ps = psutil.Process(self.proc.pid)

    def cpu_seconds(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def bench_memory(node: RunningNode, st: dict[str, Any], updatedb_peak: int) -> dict[str, Any]:
    psutil_rss = node.ps.memory_info().rss
    return {
        "status_mb": st["rss_bytes"] / 1e6,
        "psutil_mb": psutil_rss / 1e6,
        "status_pid_is_node": st["pid"] == node.proc.pid,
        "goal": {"mb": GOAL_RSS_MB},
        "baseline": {"updatedb_peak_mb": updatedb_peak / 1e6},
    }


def bench_idle(node: RunningNode, seconds: float) -> dict[str, Any]:
    """CPU of the node (and of an idle trio process beside it) over ``seconds`` in which
    nothing is asked of it."""
    floor = IdleTrio(seconds + 30)
    try:
        time.sleep(1.0)  # its imports done: it too is idle from here
        start, node_before, floor_before = time.monotonic(), node.cpu_seconds(), floor.cpu_seconds()
        time.sleep(seconds)
        wall = time.monotonic() - start
        node_cpu, floor_cpu = node.cpu_seconds() - node_before, floor.cpu_seconds() - floor_before
        floor_rss = floor.ps.memory_info().rss
    finally:
        floor.close()
    return {
        "seconds": wall,
        "percent_of_core": node_cpu / wall * 100,
        "goal": {"percent": GOAL_IDLE_PERCENT},
        "baseline": {
            "what": "python -c 'import trio; trio.run(trio.sleep, ...)', the same seconds",
            "percent_of_core": floor_cpu / wall * 100,
            "rss_mb": floor_rss / 1e6,
        },
    }


def make_burst(folder: Path, count: int) -> dict[str, set[str]]:
    """``count`` small files in a new ``folder``, as fast as they can be made; their paths by
    the query that finds them (one per 10,000: an answer holds at most that many)."""
    folder.mkdir()
    shards: dict[str, set[str]] = {}
    for i in range(count):
        shard = f"{BURST_TOKEN}{i // WHOLE_LIMIT:03d}n"
        path = os.path.join(folder, f"{shard}{i:07d}.txt")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, b"%d\n" % i)
        finally:
            os.close(fd)
        shards.setdefault(shard, set()).add(path)
    return shards


def bench_change(
    data: Path,
    env: dict[str, str],
    tree: Path,
    folder: Path,
    count: int,
    timeout: float,
    plocate: str,
    updatedb: str,
    db: Path,
) -> dict[str, Any]:
    """Seconds from the end of a burst of ``count`` new files until ``sd search`` finds them
    all (the end of the poll that does), or "not seen within T s"."""
    problems = []
    if sd_search(data, env, BURST_TOKEN):
        problems.append(f"{BURST_TOKEN!r} found before the burst")
    start = time.perf_counter()
    shards = make_burst(folder, count)
    burst_end = time.perf_counter()
    found = {shard: 0 for shard in shards}
    polls, seconds = 0, None
    while time.perf_counter() - burst_end < timeout:
        polls += 1
        for shard, want in shards.items():
            if found[shard] == len(want):
                continue
            got = {h["path"] for h in sd_search(data, env, shard, WHOLE_LIMIT)}
            if not got <= want:
                problems.append(f"{shard!r} found {len(got - want)} paths not of the burst")
            found[shard] = len(got & want)
        if all(found[s] == len(w) for s, w in shards.items()):
            seconds = time.perf_counter() - burst_end
            break
        time.sleep(0.1)
    waited = time.perf_counter() - burst_end
    # The baseline: plocate sees new files once updatedb has gone over the tree again.
    base_start = time.perf_counter()
    subprocess.run(updatedb_args(updatedb, tree, db), check=True)
    out = subprocess.run(
        plocate_args(plocate, db, BURST_TOKEN, "-c"), capture_output=True, text=True
    )
    base_seconds = time.perf_counter() - base_start
    return {
        "files": count,
        "burst_seconds": burst_end - start,
        "seconds": seconds,
        "found": sum(found.values()),
        "timeout_s": timeout,
        "result": "ok" if seconds is not None else f"not seen within {timeout:g} s",
        "polls": polls,
        "poll_s": waited / polls if polls else None,
        "problems": problems,
        "goal": {"seconds": GOAL_CHANGE_S},
        "baseline": {
            "what": "updatedb over the whole tree again, then plocate -c",
            "seconds": base_seconds,
            "found": int(out.stdout.strip() or 0),
        },
    }


# -- the run -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    tree_options(
        parser,
        1_000_000,
        16_384,
        "Cap generated file sizes (bytes): nothing measured here depends on the contents.",
    )
    parser.add_argument("--runs", type=int, default=100, help="Timed queries per side.")
    parser.add_argument("--burst", type=int, default=10_000, help="Files made while it runs.")
    parser.add_argument(
        "--burst-timeout",
        type=float,
        default=60.0,
        help="Seconds to wait for the burst to be searchable before reporting it unseen.",
    )
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=1800.0,
        help="Seconds the node may take to finish its jobs once started.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="Keep the index here (default: a temp dir); one already made is served again.",
    )
    parser.add_argument(
        "--before",
        type=Path,
        default=None,
        metavar="SOURCE",
        help="Another source tree of sdactors (the code before a change): its sd is timed "
        "beside ours on every read, alternately, its answers checked alike.",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    plocate, updatedb = plocate_tools()
    if plocate is None or updatedb is None:
        raise SystemExit(
            "bench_node.py compares with plocate, which is missing and could not be installed "
            "here: apt-get install plocate (as root)"
        )
    scratch = Path(tempfile.mkdtemp(prefix="bench-node-"))
    tree = args.tree or scratch / "tree"
    burst_folder = tree / f"new folder {os.getpid()}"
    data, db = args.data_dir or scratch / "data", scratch / "plocate.db"
    reused = (data / "libraries").is_dir()
    env = quiet_env()
    # Its modules from SOURCE only: not from the working directory (python -m puts it first).
    before = {**env, "PYTHONPATH": str(args.before), "PYTHONSAFEPATH": "1"} if args.before else None
    node: RunningNode | None = None
    try:
        t0 = time.perf_counter()
        generate(tree, args.files, max_size=args.max_size)
        r: dict[str, Any] = {"files": args.files, "generate_seconds": time.perf_counter() - t0}
        entries = TreeIndex(tree)
        r["entries"] = len(entries.paths)
        r["updatedb_seconds"], updatedb_peak = peak_rss_run(updatedb_args(updatedb, tree, db))
        r["index"] = r["index_seconds"] = r["status_during_index"] = None
        through_node = location_add_through_node()
        if reused:
            r["location_added"] = f"before this run (index kept in {data})"
        else:
            sd(env, "--data-dir", str(data), "library", "create", "bench")
            r["location_added"] = "through the node" if through_node else "before the node started"
        if through_node and not reused:
            node = RunningNode(data, env, scratch / "node.out")
            node.wait_answering(60)
        if not reused:
            start = time.perf_counter()
            with StatusProbe(data if node is not None else None) as probe:
                r["index"] = sd(env, "--data-dir", str(data), "location", "add", str(tree))
            r["index_seconds"] = time.perf_counter() - start
            r["status_during_index"] = probe.summary()
        if node is None:
            node = RunningNode(data, env, scratch / "node.out")
            node.wait_answering(60)
        st = node.wait_settled(args.settle_timeout)
        r["watching"] = st["watching"]
        r["rss"] = bench_memory(node, st, updatedb_peak)
        r["search"] = bench_search(data, env, entries, plocate, db, args.runs, before)
        r["reads"] = bench_reads(
            data, env, tree, entries, plocate, db, node.proc.pid, args.runs, before
        )
        r["idle_cpu"] = bench_idle(node, args.idle_seconds) if args.idle_seconds > 0 else None
        r["change"] = None
        if args.burst > 0:
            r["change"] = bench_change(
                data, env, tree, burst_folder, args.burst, args.burst_timeout, plocate,
                updatedb, db,
            )  # fmt: skip
        r["rss"]["after_all_mb"] = node.ps.memory_info().rss / 1e6
        r["network"] = {"off_loopback": node.off_loopback()}
        r["stop"] = {
            **node.stop(GOAL_STOP_S),
            "goal": {"exit_code": 0, "seconds": GOAL_STOP_S},
            "baseline": None,
        }
    finally:
        if node is not None:
            node.kill()
        shutil.rmtree(burst_folder, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    reads_failed = sum(f["checked"]["failed"] for k, f in r["reads"].items() if "checked" in f)
    r["ok"] = (
        r["search"]["checked"]["failed"] == 0
        and reads_failed == 0
        and not (r["change"] and r["change"]["problems"])
        and r["rss"]["status_pid_is_node"]
        and not r["network"]["off_loopback"]
        and r["stop"]["exit_code"] == 0
    )
    report(r, args.json)
    if not r["ok"]:
        sys.exit(1)
    return r


class StatusProbe:
    """Asks the node for its status every 50 ms while the first index runs through it, over
    its socket (the round trip the node owes, without a Python start): goal 100 ms."""

    def __init__(self, data: Path | None) -> None:
        self._data = data
        self._times: list[float] = []
        self.unanswered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StatusProbe:
        if self._data is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        from sdactors.node.control.client import connect
        from sdactors.runtime.errors import SdError

        while not self._stop.wait(0.05):
            client = connect(self._data)
            if client is None:
                continue
            started = time.perf_counter()
            try:
                client.call("node.status", {})
            except SdError:
                self.unanswered += 1  # no acknowledgement within the client's 5 s
            finally:
                client.close()
            self._times.append(time.perf_counter() - started)

    def summary(self) -> dict[str, Any] | None:
        if not self._times:
            return None
        return {**latency_summary(self._times), "asked": len(self._times),
                "unanswered": self.unanswered, "goal": {"p99_ms": GOAL_STATUS_MS}}  # fmt: skip


READ_NAMES = {
    "ls_folder": "sd ls FOLDER",
    "ls": "sd ls (locations)",
    "stats": "sd stats",
    "node_status": "sd node status",
}


def read_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """A row per read command and output form: p50 and p99, and the baseline's."""
    s, reads = r["search"], r["reads"]
    floor = reads["python_start"]
    figures = [
        ("sd search QUERY", s["sd_text"], s["sd"], s["baseline"], "plocate", s["runs"],
         s["before"])
    ]  # fmt: skip
    for key, name in READ_NAMES.items():
        f = reads[key]
        figures.append((name, f["text"], f["json"], f["baseline"], "", f["runs"], f["before"]))
    rows = []
    for name, text, js, base, base_name, runs, before in figures:
        for form, t, kind in (("", text, "text"), (" --json", js, "json")):
            value = f"{t['p50_ms']:.1f} ms p50, {t['p99_ms']:.1f} p99"
            against = "-"
            if base is not None:
                against = (
                    f"{base_name or base['what']}: {base['p50_ms']:.1f} / {base['p99_ms']:.1f} "
                    f"ms ({t['p50_ms'] / base['p50_ms']:.1f}x)"
                )
            if before is not None:
                b = before[kind]
                against += (
                    f"; before: {b['p50_ms']:.1f} / {b['p99_ms']:.1f} ms "
                    f"(now {t['p50_ms'] / b['p50_ms']:.2f}x)"
                )
            rows.append((f"{name}{form} ({runs} runs)", value, f"p50 <= {GOAL_READ_P50_MS} ms",
                         against))  # fmt: skip
    rows.append((
        f"python -c pass (interpreter start, {reads['ls']['runs']} runs)",
        f"{floor['p50_ms']:.1f} ms p50, {floor['p99_ms']:.1f} p99", "", "the floor of any sd",
    ))  # fmt: skip
    return rows


def report(r: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(r))
        return
    s, c, m, idle, stop = r["search"], r["change"], r["rss"], r["idle_cpu"], r["stop"]
    indexed = (
        f"indexed in {r['index_seconds']:.1f} s by sd location add"
        if r["index_seconds"] is not None
        else "indexed"
    )
    print(
        f"tree: {r['files']:,} files, {r['entries']:,} entries; {indexed} "
        f"({r['location_added']}); plocate updatedb {r['updatedb_seconds']:.1f} s"
    )
    if not r["watching"]:
        print("the node reported no watched location")
    rows = [("figure", "value", "goal", "baseline"), *read_rows(r)]
    if c is not None:
        rows.append((
            f"change to index ({c['files']:,} new files)",
            f"{c['seconds']:.2f} s" if c["seconds"] is not None else c["result"],
            f"<= {c['goal']['seconds']} s",
            f"updatedb again + plocate {c['baseline']['seconds']:.2f} s",
        ))  # fmt: skip
    rows.append((
        "node RSS, tree indexed",
        f"{m['status_mb']:.0f} MB (psutil {m['psutil_mb']:.0f})",
        f"<= {m['goal']['mb']} MB",
        f"updatedb peak {m['baseline']['updatedb_peak_mb']:.0f} MB"
        + (f"; idle trio {idle['baseline']['rss_mb']:.0f} MB" if idle else ""),
    ))  # fmt: skip
    if idle is not None:
        rows.append((
            f"idle CPU over {idle['seconds']:.0f} s",
            f"{idle['percent_of_core']:.2f}% of a core",
            f"<= {idle['goal']['percent']}%",
            f"idle trio {idle['baseline']['percent_of_core']:.2f}%",
        ))  # fmt: skip
    rows.append((
        "stop on SIGTERM",
        f"exit {stop['exit_code']} in {stop['seconds']:.2f} s"
        if stop["seconds"] is not None
        else stop["result"],
        f"exit 0 within {stop['goal']['seconds']} s",
        "-",
    ))  # fmt: skip
    probe = r.get("status_during_index")
    if probe is not None:
        rows.append((
            f"node status during the index, p99 ({probe['asked']} asks, "
            f"{probe['unanswered']} unanswered in 5 s)",
            f"{probe['p99_ms']:.1f} ms (p50 {probe['p50_ms']:.1f}, max {probe['max_ms']:.1f})",
            f"<= {GOAL_STATUS_MS} ms",
            "-",
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    checked = s["checked"]
    reads = [f for f in r["reads"].values() if "checked" in f]
    print(
        f"answers checked against the tree: search {checked['answers']} ({checked['whole_sets']} "
        f"queries also compared whole, both sides), other reads "
        f"{sum(f['checked']['answers'] for f in reads)}; wrong: "
        f"{checked['failed'] + sum(f['checked']['failed'] for f in reads)}"
    )
    failures = checked["failures"] + [x for f in reads for x in f["checked"]["failures"]]
    for line in failures + (c["problems"] if c else []):
        print(f"  {line}")
    print(f"RSS after every figure: {m['after_all_mb']:.0f} MB")
    off = r["network"]["off_loopback"]
    print("network: " + ("; ".join(off) if off else "no connection off 127.0.0.1"))


if __name__ == "__main__":
    main()
