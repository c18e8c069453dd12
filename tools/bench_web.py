"""Benchmark of the node's HTTP API (``sd node run``), each figure with its goal.

- search through ``POST /api/v1/op/search`` on keep-alive connections, at concurrency 1 and 8
  (a bounded loop of client threads, each request timed on its own); p50/p99; goal p99 <=
  30 ms at concurrency 8; beside the same queries over the node's control socket (the CLI's
  way in: what the node owes without HTTP), at the same concurrency. Every answer is checked against the entries of the tree that hold
  the query, computed here from the tree itself (as ``tools/bench_node.py`` checks ``sd
  search``); beside it, the same queries through ``/graphql`` with ``--graphql`` (its
  answers' paths checked alike);
- event to client: a file created in a watched folder, until the server-sent event of the
  index recording it reaches a client of ``/api/v1/events``; goal <= 200 ms (the watcher
  waits for ``QUIET_MS``, 300 ms, without a change before it rescans: that wait is in the
  figure); and a write through the API (``tag.create``) until its event reaches the client,
  what the log, the bus and the stream add;
- memory: the node's RSS with ``--streams`` (100) event streams open, beside its RSS
  without; goal <= +50 MB.

    python tools/bench_web.py --tree /var/tmp/tree-1m --data-dir /var/tmp/bench-web-1m
    python tools/bench_web.py --files 500 --runs 20 --streams 20 --events 3   # quick

The tree is only read (the files the latency is measured with are made in a folder of this
run's own, added as a second location and removed at the end). ``--data-dir`` keeps the
index for the next run: an index of 1M files takes minutes. The exit status is 1 when an
answer was wrong or the node did not stop cleanly; the timings are for people to judge.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import emit, latency_summary, sd, search_queries, tree_options  # noqa: E402
from bench_node import (  # noqa: E402
    RunningNode,
    TreeIndex,
    answer_problems,
    quiet_env,
    rank_problems,
)
from gen_tree import generate  # noqa: E402

SEARCH_LIMIT = 50
GOAL_P99_C8_MS = 30
GOAL_EVENT_MS = 200
GOAL_STREAMS_MB = 50
GOAL_STOP_S = 10
QUOTED = 10
GRAPHQL_QUERY = "query($q: String!, $limit: Int) { search(query: $q, limit: $limit) { path } }"


class Client:
    """One keep-alive connection to the node, with its key."""

    def __init__(self, url: str, key: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        self.conn.request("POST", path, json.dumps(body), self.headers)
        answer = self.conn.getresponse()
        data = answer.read()
        return answer.status, json.loads(data) if data else None

    def close(self) -> None:
        self.conn.close()


def search_paths(kind: str, status: int, answer: Any) -> list[str] | str:
    """The paths an answer lists, or what is wrong with it."""
    if status != 200:
        return f"status {status}: {str(answer)[:200]}"
    if kind == "graphql":
        if answer.get("errors"):
            return f"errors: {str(answer['errors'])[:200]}"
        return [h["path"] for h in answer["data"]["search"]]
    return [h["path"] for h in answer]


class SocketClient:
    """The baseline: the same op over the node's control socket (what the node owes without
    HTTP; the CLI's way in)."""

    def __init__(self, data: Path) -> None:
        from sdactors.node.control.client import connect

        client = connect(data)
        if client is None:
            raise SystemExit("the node stopped answering on its socket")
        self.client = client

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        from sdactors.node.http.app import command_of
        from sdactors.ops.base import encode

        args = encode(command_of("search", body))["args"]
        return 200, self.client.call("search", args)

    def close(self) -> None:
        self.client.close()


def bench_search(
    url: str, key: str, queries: list[str], concurrency: int, kind: str, data: Path
) -> tuple[dict[str, Any], list[tuple[str, Any, Any]]]:
    """Every query once, ``concurrency`` clients at a time; the timings and the answers."""
    path = "/graphql" if kind == "graphql" else "/api/v1/op/search"
    lock = threading.Lock()
    todo = list(reversed(queries))
    times: list[float] = []
    answers: list[tuple[str, Any, Any]] = []

    def body(query: str) -> Any:
        if kind != "graphql":
            return {"query": query, "limit": SEARCH_LIMIT}
        return {"query": GRAPHQL_QUERY, "variables": {"q": query, "limit": SEARCH_LIMIT}}

    def worker() -> None:
        client: Any = SocketClient(data) if kind == "socket" else Client(url, key)
        client.post(path, body(queries[0]))  # the connection open, the route warm
        try:
            while True:
                with lock:
                    if not todo:
                        return
                    query = todo.pop()
                start = time.perf_counter()
                status, answer = client.post(path, body(query))
                took = time.perf_counter() - start
                with lock:
                    times.append(took)
                    answers.append((query, status, answer))
        finally:
            client.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return {
        "concurrency": concurrency,
        "requests": len(times),
        "per_s": len(times) / wall if wall else None,
        **latency_summary(times),
    }, answers


def check_answers(
    entries: TreeIndex, answers: list[tuple[str, Any, Any]], kind: str, expected: dict
) -> list[str]:
    failures: list[str] = []
    for query, status, answer in answers:
        got = search_paths(kind, status, answer)
        if isinstance(got, str):
            failures.append(f"{kind} {query!r}: {got}")
            continue
        if query not in expected:
            expected[query] = entries.matching(query)
        failures += answer_problems(kind, query, got, expected[query], SEARCH_LIMIT)
        if kind != "graphql":
            failures += rank_problems(query, answer, expected[query], SEARCH_LIMIT)
    return failures


class EventStream:
    """One ``GET /api/v1/events`` on a raw socket: what it received, as it comes."""

    def __init__(self, url: str, key: str, params: str = "") -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        self.sock.sendall(
            f"GET /api/v1/events?{params} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {key}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        self.received = b""

    def wait_for(self, needle: bytes, timeout: float) -> float | None:
        """Read until ``needle`` is in what came: the time it came (None: not within)."""
        deadline = time.monotonic() + timeout
        while needle not in self.received:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except TimeoutError:
                return None
            if not chunk:
                return None
            self.received += chunk
        return time.perf_counter()

    def close(self) -> None:
        self.sock.close()


def bench_events(url: str, key: str, head: int, folder: Path, count: int) -> dict[str, Any]:
    """A file made, then the event of the index recording it, seen by a client: ``count``
    times, one file at a time (the stream from the log's ``head`` on)."""
    stream = EventStream(url, key, f"types=entries.&after={head}")
    problems: list[str] = []
    times: list[float] = []
    try:
        if stream.wait_for(b": sd events", 10) is None:
            return {"problems": ["the stream did not start"], "result": "failed"}
        for i in range(count):
            name = f"web-latency-{os.getpid()}-{i}.txt"
            start = time.perf_counter()
            (folder / name).write_bytes(b"x")
            seen = stream.wait_for(name.encode().hex().encode(), 10)
            if seen is None:
                problems.append(f"{name}: no event within 10 s")
                continue
            times.append(seen - start)
            time.sleep(0.3)
    finally:
        stream.close()
    return {
        "events": len(times),
        **(latency_summary(times) if times else {}),
        "goal": {"p50_ms": GOAL_EVENT_MS},
        "problems": problems,
    }


def bench_write_events(url: str, key: str, head: int, count: int) -> dict[str, Any]:
    """A write through the API (``tag.create``), until its event reaches a client of the
    stream: what the HTTP side adds, without the watcher's quiet period."""
    stream = EventStream(url, key, f"types=tag.&after={head}")
    client = Client(url, key)
    problems: list[str] = []
    times: list[float] = []
    try:
        if stream.wait_for(b": sd events", 10) is None:
            return {"problems": ["the stream did not start"]}
        for i in range(count):
            name = f"web-latency-{os.getpid()}-{i}"
            start = time.perf_counter()
            status, answer = client.post("/api/v1/op/tag.create", {"name": name})
            if status != 200:
                problems.append(f"tag.create {name}: {status} {answer}")
                continue
            seen = stream.wait_for(f'"name": "{name}"'.encode(), 10)
            if seen is None:
                problems.append(f"{name}: no event within 10 s")
                continue
            times.append(seen - start)
            client.post("/api/v1/op/tag.delete", {"name": name})
    finally:
        stream.close()
        client.close()
    return {"events": len(times), **(latency_summary(times) if times else {}), "problems": problems}


def bench_streams(node: RunningNode, url: str, key: str, count: int) -> dict[str, Any]:
    """The node's RSS with ``count`` event streams open, beside its RSS before."""
    before = node.ps.memory_info().rss
    streams = [EventStream(url, key, "types=tag.") for _ in range(count)]
    try:
        opened = sum(1 for s in streams if s.wait_for(b": sd events", 10) is not None)
        time.sleep(1.0)
        during = node.ps.memory_info().rss
    finally:
        for s in streams:
            s.close()
    return {
        "streams": count,
        "opened": opened,
        "rss_before_mb": before / 1e6,
        "rss_streams_mb": during / 1e6,
        "delta_mb": (during - before) / 1e6,
        "goal": {"delta_mb": GOAL_STREAMS_MB},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    tree_options(parser, 1_000_000, 16_384, "Cap generated file sizes (bytes).")
    parser.add_argument("--runs", type=int, default=300, help="Timed queries per concurrency.")
    parser.add_argument("--concurrency", default="1,8", help="Client counts, comma-separated.")
    parser.add_argument("--events", type=int, default=20, help="Files timed to their event.")
    parser.add_argument("--streams", type=int, default=100, help="Event streams held open.")
    parser.add_argument("--graphql", action="store_true", help="Also search through /graphql.")
    parser.add_argument("--settle-timeout", type=float, default=3600.0)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="Keep the index here (default: a temp dir); one already made is served again.",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="bench-web-"))
    tree = args.tree or scratch / "tree"
    data = args.data_dir or scratch / "data"
    live = scratch / "live"
    live.mkdir()
    reused = (data / "libraries").is_dir()
    env = quiet_env()
    node: RunningNode | None = None
    r: dict[str, Any] = {"files": args.files}
    try:
        generate(tree, args.files, max_size=args.max_size)
        entries = TreeIndex(tree)
        r["entries"] = len(entries.paths)
        if not reused:
            sd(env, "--data-dir", str(data), "library", "create", "bench")
        key = sd(env, "--data-dir", str(data), "api", "key", "create", f"bench-{os.getpid()}")
        node = RunningNode(data, env, scratch / "node.out")
        node.wait_answering(60)
        if not reused:
            start = time.perf_counter()
            sd(env, "--data-dir", str(data), "location", "add", str(tree))
            r["index_seconds"] = time.perf_counter() - start
        sd(env, "--data-dir", str(data), "location", "add", str(live))
        st = node.wait_settled(args.settle_timeout)
        url = st["http"]["url"]
        r["url"] = url
        queries = search_queries(entries.names(), args.runs)["typed"]
        expected: dict[str, set[str]] = {}
        failures: list[str] = []
        kinds = ["json", "socket", "graphql"] if args.graphql else ["json", "socket"]
        r["search"] = {}
        # Every query once first, untimed: the index's pages in the page cache for every
        # side alike (the first side to run would pay for them otherwise).
        bench_search(url, key["key"], queries, 2, "socket", data)
        for c in (int(x) for x in args.concurrency.split(",")):
            for kind in kinds:
                figures, answers = bench_search(url, key["key"], queries, c, kind, data)
                failures += check_answers(entries, answers, kind, expected)
                r["search"][f"{kind}_c{c}"] = figures
        r["search"]["goal"] = {"json_c8_p99_ms": GOAL_P99_C8_MS}
        r["search"]["baseline"] = {"what": "the same op over the node's control socket"}
        r["search"]["checked"] = {
            "answers": sum(v["requests"] for k, v in r["search"].items() if "_c" in k),
            "failed": len(failures),
            "failures": failures[:QUOTED],
        }
        head = sd(env, "--data-dir", str(data), "log", "stats")["events"]
        r["event_latency"] = bench_events(url, key["key"], head, live, args.events)
        r["write_latency"] = bench_write_events(url, key["key"], head, args.events)
        r["streams"] = bench_streams(node, url, key["key"], args.streams)
        sd(env, "--data-dir", str(data), "location", "remove", str(live))
        sd(env, "--data-dir", str(data), "api", "key", "revoke", key["name"])
        r["stop"] = {**node.stop(GOAL_STOP_S), "goal": {"seconds": GOAL_STOP_S}}
    finally:
        if node is not None:
            node.kill()
        shutil.rmtree(scratch, ignore_errors=True)
    r["ok"] = (
        r["search"]["checked"]["failed"] == 0
        and not r["event_latency"]["problems"]
        and not r["write_latency"]["problems"]
        and r["streams"]["opened"] == args.streams
        and r["stop"]["exit_code"] == 0
    )
    emit(r, args.json, report)
    return r


def report(r: dict[str, Any]) -> None:
    print(f"{r['entries']:,} entries, {r['url']}")
    for name, f in r["search"].items():
        if "_c" in name:
            print(
                f"search {name:<12} p50 {f['p50_ms']:6.2f} ms  p99 {f['p99_ms']:6.2f} ms  "
                f"{f['per_s']:7.0f}/s  ({f['requests']} requests)"
            )
    checked = r["search"]["checked"]
    print(f"  answers checked: {checked['answers']}, wrong: {checked['failed']}")
    for line in checked["failures"]:
        print(f"    {line}")
    ev = r["event_latency"]
    if ev.get("events"):
        print(f"event to client  p50 {ev['p50_ms']:.0f} ms  max {ev['max_ms']:.0f} ms "
              f"(goal {GOAL_EVENT_MS} ms)")  # fmt: skip
    for line in ev["problems"]:
        print(f"    {line}")
    ev = r["write_latency"]
    if ev.get("events"):
        print(f"write to client  p50 {ev['p50_ms']:.0f} ms  max {ev['max_ms']:.0f} ms "
              "(POST tag.create until its event arrives)")  # fmt: skip
    for line in ev["problems"]:
        print(f"    {line}")
    s = r["streams"]
    print(f"{s['opened']} streams open: RSS {s['rss_before_mb']:.0f} -> {s['rss_streams_mb']:.0f} "
          f"MB (+{s['delta_mb']:.1f}, goal +{GOAL_STREAMS_MB})")  # fmt: skip
    print(f"stop: {r['stop']['result']} in {r['stop']['seconds'] or 0:.2f} s")


if __name__ == "__main__":
    main()
