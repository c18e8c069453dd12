"""Sync between two nodes on 127.0.0.1: initial sync of an indexed library, an in-sync
reconnect, and how fast one tag edit reaches the other device.

    python tools/bench_sync.py --files 1000000 --edits 100

Device A indexes a generated tree (``tools/gen_tree.py``); device B joins with ``sd pair
join`` and receives the whole log. Figures, each with its goal and what it is measured
against in the same run:

- initial sync: the seconds from ``sd pair join`` to B answering ``sd search`` completely
  (the same answer as A's: goal <= 15 s at 1M entries), against A's own index of the tree;
  on the way, when B held every event and when its index had folded them (read from B's
  files, not through its node), events/s, and the bytes sent (frames, and UDP on the wire)
  against the events' own size in A's log. Checked: equal digests, equal stats, same search
  answers.
- in-sync reconnect: B's node restarted; the frames each way until both say in sync (goal
  <= 1 KiB each way), and the UDP bytes of that connection (QUIC's handshake included).
- live propagation: a tag renamed on A through its control socket, until B's index shows
  the new name (read straight from B's index.db); p50/p99 over ``--edits`` edits (goal p99
  <= 200 ms). Checked: each edit's name, in order.
- Spacedrop: a file of ``--drop-mib`` MiB from B to A, against the same bytes over a raw
  iroh stream between two processes, received only (goal >= 80%), and written to disk.

``--a-data DIR`` keeps A's indexed data directory there: A indexes the tree once (minutes at
1M files) and each run starts from a copy of it. ``--skip`` leaves figures out;
``--profile DIR`` records B's node with py-spy during the join and both nodes during the
drop (raw samples, for a flame graph or a table of shares).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from sdactors.node.control.client import connect
from sdactors.runtime.config import NetworkConfig, init_node_config
from sdactors.runtime.paths import DataDir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import SD, latency_summary, sd, tree_options  # noqa: E402
from bench_node import RunningNode, quiet_env  # noqa: E402
from gen_tree import generate  # noqa: E402

GOAL_SEARCHABLE_S = 15.0
GOAL_RECONNECT_BYTES = 1024
GOAL_EDIT_P99_MS = 200.0


class Device:
    """A data directory whose node listens on 127.0.0.1 only (or at ``bind``, run by
    ``prefix``: an address in a network namespace of the run, and what runs it there)."""

    def __init__(
        self, root: Path, name: str, bind: str = "127.0.0.1:0", prefix: Sequence[str] = ()
    ) -> None:
        self.root = root
        init_node_config(DataDir(root), name, NetworkConfig(bind=bind))
        self.env = {
            **quiet_env(),
            "SD_DATA_DIR": str(root),
            "SD_NETWORK_BIND": bind,
            "SD_HTTP_PORT": "0",
        }
        self.prefix = list(prefix)
        self.node: RunningNode | None = None

    def sd(self, *args: str) -> Any:
        return sd(self.env, *args)

    def start(self) -> RunningNode:
        return self.launch().serving()

    def launch(self) -> Device:
        """Start the node, not waiting: many start at once, then each is waited for."""
        log = self.root.parent / f"{self.root.name}.log"
        self.node = RunningNode(self.root, self.env, log, self.prefix)
        return self

    def serving(self) -> RunningNode:
        assert self.node is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            st = self.node.wait_answering(120)
            if st["network"]["addresses"] and all(
                lib["state"] != "opening" for lib in st["libraries"]
            ):
                return self.node
            time.sleep(0.2)
        raise SystemExit(f"the node of {self.root.name} did not start serving")

    def stop(self) -> None:
        if self.node is not None:
            self.node.stop(30)
            self.node = None

    def peer_row(self) -> dict[str, Any]:
        rows = self.sd("sync", "status")
        if len(rows) != 1:
            raise SystemExit(f"expected one peer, got {rows}")
        return rows[0]


def until(check: Any, timeout: float, what: str, every: float = 0.05) -> float:
    started = time.perf_counter()
    while True:
        if check():
            return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


def caught_up(device: Device) -> bool:
    info = device.sd("library", "info")
    return info["checkpoint"] == info["head"]


class Progress:
    """How far B's log and B's index are, read from its files every ``every`` seconds in a
    thread of this process (no ``sd`` process, which would compete with B's node for the
    CPU): when B first held every event of A's log, and when its index had folded them."""

    def __init__(self, device: Device, events: int, every: float = 0.05) -> None:
        self.device = device
        self.events = events
        self.every = every
        self.started = time.perf_counter()
        self.log_at: float | None = None
        self.index_at: float | None = None
        self.samples: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            head, checkpoint = self._read()
            at = time.perf_counter() - self.started
            self.samples.append((round(at, 2), head, checkpoint))
            if self.log_at is None and head >= self.events:
                self.log_at = at
            if self.index_at is None and checkpoint >= self.events:
                self.index_at = at

    def _read(self) -> tuple[int, int]:
        found = list((self.device.root / "libraries").glob("*.sdlibrary"))
        if not found:
            return 0, 0
        return (
            _read_int(found[0] / "events.db", "SELECT max(pos + n - 1) FROM segments"),
            _read_int(found[0] / "index.db", "SELECT value FROM _meta WHERE key = 'checkpoint'"),
        )


def _read_int(path: Path, query: str) -> int:
    if not path.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.05)
        try:
            row = db.execute(query).fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return 0  # being created, or locked for a moment
    return int(row[0]) if row and row[0] is not None else 0


QUERIES = ["report", "photo 1", "notes", "zzz-nothing"]


def answers(device: Device) -> list[list[str]]:
    return [sorted(h["path"] for h in device.sd("search", q, "--limit", "500")) for q in QUERIES]


def bench_initial(
    a: Device, b: Device, timeout: float, profile: Path | None = None
) -> dict[str, Any]:
    log = a.sd("log", "stats")
    expected = answers(a)
    ticket = a.sd("pair", "invite")["ticket"]
    spy = Spy(profile / "join.txt", a, b) if profile is not None else None
    progress = Progress(b, log["events"])
    started = time.perf_counter()
    joined = subprocess.run(
        [*SD, "--json", "pair", "join", ticket], env=b.env, capture_output=True, text=True
    )
    joined_s = time.perf_counter() - started
    if joined.returncode != 0:
        progress.stop()
        raise SystemExit(f"sd pair join failed: {joined.stderr.strip()}")
    # The first search after the join, as a user would type it, and again until it answers
    # what A answers (a search answers from the index as folded so far).
    searches = 0
    while True:
        first = b.sd("search", QUERIES[0], "--limit", "500")
        searches += 1
        if sorted(h["path"] for h in first) == expected[0]:
            break
        if time.perf_counter() - started > timeout:
            raise SystemExit("B's search did not answer as A's in time")
    searchable = time.perf_counter() - started
    folded = joined_s + until(lambda: caught_up(b), timeout, "B's index caught up", 0.2)
    if spy is not None:
        spy.stop()
    progress.stop()
    row = a.peer_row()
    digests = [d.sd("projections", "digest")["digest"] for d in (a, b)]
    stats = [d.sd("stats") for d in (a, b)]
    joined_body = json.loads(joined.stdout)
    received = progress.log_at or joined_s
    return {
        "events": log["events"],
        "events_received": joined_body["events_received"],
        "log_bytes": log["bytes"],
        "seconds_join": joined_s,
        "seconds_searchable": searchable,
        "searches_until_complete": searches,
        "seconds_log": received,
        "seconds_index": progress.index_at or folded,
        "timeline": progress.samples[:: max(1, len(progress.samples) // 200)],
        "events_per_s": log["events"] / received,
        "frame_bytes_sent": row["bytes_sent"],
        "udp_bytes_sent": (row["connection"] or {}).get("udp_sent"),
        "wire_ratio": row["bytes_sent"] / max(1, log["bytes"]),
        "checked": {
            "digests_equal": digests[0] == digests[1],
            "stats_equal": stats[0] == stats[1],
            "searches_equal": expected == answers(b),
            "files": stats[1]["files"],
        },
        "goal": {"seconds_searchable": GOAL_SEARCHABLE_S},
    }


class Spy:
    """py-spy recording a node (and its children) until stopped: raw stacks in ``out``."""

    def __init__(self, out: Path, *devices: Device) -> None:
        spy = Path(sys.executable).parent / "py-spy"
        out.parent.mkdir(parents=True, exist_ok=True)
        self.procs = []
        for device in devices:
            assert device.node is not None
            target = out.with_name(f"{out.stem}-{device.root.name}{out.suffix}")
            self.procs.append(
                subprocess.Popen(
                    [str(spy), "record", "-r", "200", "--subprocesses", "-f", "raw", "-o",
                     str(target), "-p", str(device.node.proc.pid)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        time.sleep(1.0)  # attached before the clock starts

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            proc.wait(60)


def in_sync(row: dict[str, Any]) -> bool:
    return row["connected"] and row["behind"] == 0 and row["ahead"] == 0


def bench_reconnect(a: Device, b: Device) -> dict[str, Any]:
    until(lambda: in_sync(a.peer_row()), 60, "in sync before the restart")
    b.stop()
    until(lambda: not a.peer_row()["connected"], 60, "A sees B gone")
    before = a.peer_row()
    b.start()
    until(lambda: in_sync(a.peer_row()), 60, "in sync after the restart")
    after = a.peer_row()
    connection = after["connection"] or {}
    return {
        "frame_bytes_sent": after["bytes_sent"] - before["bytes_sent"],
        "frame_bytes_received": after["bytes_received"] - before["bytes_received"],
        "udp_sent": connection.get("udp_sent"),
        "udp_received": connection.get("udp_received"),
        "goal": {"bytes_each_way": GOAL_RECONNECT_BYTES},
    }


def tag_name(index: Path, tag: bytes) -> str | None:
    db = sqlite3.connect(f"file:{index}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT name FROM tags WHERE tag = ?", (tag,)).fetchone()
    except sqlite3.OperationalError:
        return None  # the index is being swapped or locked for a moment
    finally:
        db.close()
    return row[0] if row else None


def bench_edits(a: Device, b: Device, edits: int) -> dict[str, Any]:
    tag = bytes.fromhex(a.sd("tag", "create", "bench-0")["id"])
    index = Path(b.sd("library", "info")["path"]) / "index.db"
    until(lambda: tag_name(index, tag) == "bench-0", 30, "the tag reaches B")
    client = connect(a.root)
    if client is None:
        raise SystemExit("A's node does not answer on its socket")
    latencies, wrong = [], 0
    try:
        for i in range(1, edits + 1):
            name = f"bench-{i}"
            started = time.perf_counter()
            client.call(
                "tag.rename",
                {"old": f"bench-{i - 1}", "new": name, "color": None, "library": None},
                None,
            )
            while tag_name(index, tag) != name:
                if time.perf_counter() - started > 10:
                    wrong += 1
                    break
                time.sleep(0.001)
            latencies.append(time.perf_counter() - started)
    finally:
        client.close()
    return {
        "edits": edits,
        **latency_summary(latencies),
        "not_seen_in_10s": wrong,
        "goal": {"p99_ms": GOAL_EDIT_P99_MS},
    }


# -- baselines for Spacedrop: the same bytes over a raw iroh stream and over plain TCP ----------
#
# Each runs between two processes, as Spacedrop does between two nodes: this one sends, a
# child (this script with --receive) receives and says how long it took from first to last
# byte.

CHUNK = 1 << 20
ALPN = b"bench/raw/1"


async def _iroh_receive(into: Path | None = None) -> None:
    """Receive one stream; with ``into``, write it to that file and fsync it (as Spacedrop
    must), the time until it is durable."""
    import asyncio

    import iroh

    from sdactors.net import ffi_buffer

    ffi_buffer.install()
    endpoint = await iroh.Endpoint.bind(
        iroh.EndpointOptions(preset=iroh.preset_minimal(), bind_addr="127.0.0.1:0", alpns=[ALPN])
    )
    addr = endpoint.addr()
    print(json.dumps({"id": addr.id().to_bytes().hex(), "addresses": addr.direct_addresses()}))
    sys.stdout.flush()
    incoming = await endpoint.accept_next()
    conn = await (await incoming.accept()).connect()
    stream = await conn.accept_bi()
    recv = stream.recv()
    got, started, cpu = 0, None, 0.0
    fd = os.open(into, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) if into else None
    while True:
        data = await recv.read(CHUNK)
        if not data:
            break
        if started is None:
            started, cpu = time.perf_counter(), time.process_time()
        got += len(data)
        if fd is not None:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
    if fd is not None:
        os.fsync(fd)
        os.close(fd)
        os.unlink(into)  # type: ignore[arg-type]
    seconds = time.perf_counter() - (started or time.perf_counter())
    cpu = time.process_time() - cpu
    answer = {"bytes": got, "seconds": seconds, "cpu_seconds": cpu}
    await stream.send().write_all(json.dumps(answer).encode())
    await stream.send().finish()
    await asyncio.wait_for(conn.closed(), 10)
    await endpoint.close()


async def _iroh_send(target: dict[str, Any], total: int, stock: bool) -> dict[str, Any]:
    """``stock``: with the binding's own byte-at-a-time copy, to show what the fix is for."""
    from iroh import iroh_ffi

    from sdactors.net import ffi_buffer

    ffi_buffer.install()
    builder = iroh_ffi._UniffiRustBufferBuilder
    fixed = builder.write
    if stock:
        builder.write = ffi_buffer.stock_write()
    try:
        return await _iroh_stream(target, total)
    finally:
        builder.write = fixed


async def _iroh_stream(target: dict[str, Any], total: int) -> dict[str, Any]:
    import iroh

    endpoint = await iroh.Endpoint.bind(
        iroh.EndpointOptions(preset=iroh.preset_minimal(), bind_addr="127.0.0.1:0", alpns=[ALPN])
    )
    addr = iroh.EndpointAddr(
        iroh.EndpointId.from_bytes(bytes.fromhex(target["id"])), None, target["addresses"]
    )
    conn = await endpoint.connect(addr, ALPN)
    stream = await conn.open_bi()
    send = stream.send()
    chunk = os.urandom(CHUNK)
    for _ in range(total // CHUNK):
        await send.write_all(chunk)
    await send.finish()
    answer = json.loads(await stream.recv().read_to_end(4096))
    conn.close(0, b"done")
    await endpoint.close()
    return answer


def _tcp_receive() -> None:
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    print(json.dumps({"port": server.getsockname()[1]}))
    sys.stdout.flush()
    conn, _ = server.accept()
    buffer = bytearray(CHUNK)
    got, started = 0, None
    while True:
        n = conn.recv_into(buffer)
        if not n:
            break
        started = started or time.perf_counter()
        got += n
    seconds = time.perf_counter() - (started or time.perf_counter())
    conn.sendall(json.dumps({"bytes": got, "seconds": seconds}).encode())
    conn.close()


def _tcp_send(target: dict[str, Any], total: int) -> dict[str, Any]:
    import socket

    conn = socket.create_connection(("127.0.0.1", target["port"]))
    chunk = os.urandom(CHUNK)
    for _ in range(total // CHUNK):
        conn.sendall(chunk)
    conn.shutdown(socket.SHUT_WR)
    answer = b""
    while True:
        data = conn.recv(4096)
        if not data:
            break
        answer += data
    conn.close()
    return json.loads(answer)


def stream_baseline(
    kind: str, total: int, stock: bool = False, into: Path | None = None
) -> dict[str, Any]:
    """MB/s of ``total`` bytes from this process to a child over ``kind`` (iroh or tcp);
    with ``into``, the child writes them to that file and fsyncs it."""
    import asyncio

    extra = ["--into", str(into)] if into is not None else []
    child = subprocess.Popen(
        [sys.executable, __file__, "--receive", kind, *extra], stdout=subprocess.PIPE, text=True
    )
    try:
        target = json.loads(child.stdout.readline())  # type: ignore[union-attr]
        if kind == "iroh":
            answer = asyncio.run(_iroh_send(target, total, stock))
        else:
            answer = _tcp_send(target, total)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    if answer["bytes"] != total:
        raise SystemExit(f"the {kind} baseline received {answer['bytes']} of {total} bytes")
    return {
        "bytes": total,
        "seconds": answer["seconds"],
        "mb_per_s": total / answer["seconds"] / 1e6,
        "receiver_cpu_seconds": answer.get("cpu_seconds"),
    }


def _blake3_file(path: Path) -> str:
    import blake3

    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(path)
    return hasher.hexdigest()


def bench_drop(
    a: Device, b: Device, work: Path, mib: int, profile: Path | None = None
) -> dict[str, Any]:
    """A file of ``mib`` MiB from B to A with Spacedrop, against the same bytes over a raw
    iroh stream and over TCP between two processes, in this run."""
    source = work / "drop.bin"
    with open(source, "wb") as out:
        for _ in range(mib):
            out.write(os.urandom(CHUNK))
    total = mib * CHUNK
    spy = Spy(profile / "drop.txt", a, b) if profile is not None else None
    cpu = [d.node.cpu_seconds() for d in (a, b)]  # type: ignore[union-attr]
    try:
        sent = b.sd("drop", "send", "bench-a", str(source))
    finally:
        if spy is not None:
            spy.stop()
    cpu = [d.node.cpu_seconds() - c for d, c in zip((a, b), cpu)]  # type: ignore[union-attr]
    landed = Path(sent["files"][0]["as"] or "")
    inbox = Path(a.sd("library", "info")["path"]) / "inbox"
    arrived = landed if landed.is_absolute() else inbox / landed.name
    identical = arrived.exists() and _blake3_file(arrived) == _blake3_file(source)
    raw = stream_baseline("iroh", total)
    raw_disk = stream_baseline("iroh", total, into=work / "raw.bin")
    tcp = stream_baseline("tcp", total)
    stock = stream_baseline("iroh", 16 * CHUNK, stock=True)
    drop_rate = total / sent["seconds"] / 1e6
    return {
        "bytes": total,
        "seconds": sent["seconds"],
        "overall_seconds": sent["overall_seconds"],
        "mb_per_s": drop_rate,
        "cpu_seconds": {"receiver": cpu[0], "sender": cpu[1]},
        "raw_iroh": raw,
        "raw_iroh_to_disk": raw_disk,
        "tcp": tcp,
        "raw_iroh_stock_copy": stock,
        "ratio_to_raw_iroh": drop_rate / raw["mb_per_s"],
        "ratio_to_raw_iroh_to_disk": drop_rate / raw_disk["mb_per_s"],
        "ratio_to_tcp": drop_rate / tcp["mb_per_s"],
        "checked": {"byte_identical": identical, "reconnects": sent["reconnects"]},
        "goal": {"ratio_to_raw_iroh": 0.8},
    }


def indexed_a(root: Path, tree: Path, keep: Path | None) -> dict[str, Any]:
    """A's data directory at ``root``, its library indexing ``tree``: indexed here, or
    copied from ``keep`` (indexed there first if it holds no index of that tree)."""
    place = keep if keep is not None else root
    marker = place / "bench_sync.json"
    made = json.loads(marker.read_text()) if keep is not None and marker.exists() else None
    if made is None or made["tree"] != str(tree.resolve()):
        shutil.rmtree(place, ignore_errors=True)
        device = Device(place, "bench-a")
        device.sd("library", "create", "Bench")
        started = time.perf_counter()
        added = device.sd("location", "add", str(tree))
        made = {
            "tree": str(tree.resolve()),
            "entries": added["files"] + added["dirs"],
            "seconds": time.perf_counter() - started,
        }
        if keep is None:
            return {**made, "reused": False}
        marker.write_text(json.dumps(made))
        shutil.copytree(place, root, symlinks=True)
        return {**made, "reused": False}
    shutil.copytree(place, root, symlinks=True)
    return {**made, "reused": True}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    tree_options(parser, 1_000_000, 2_000, "Cap generated file sizes (bytes).")
    parser.add_argument("--edits", type=int, default=100, help="Tag edits timed A -> B.")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument(
        "--drop-mib", type=int, default=1024, help="Size of the Spacedrop file (MiB)."
    )
    parser.add_argument(
        "--a-data",
        type=Path,
        default=None,
        help="Keep A's indexed data directory here, and start each run from a copy of it.",
    )
    parser.add_argument(
        "--skip",
        default="",
        help="Figures left out, comma-separated: reconnect, edits, drop.",
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="Record the nodes with py-spy into DIR."
    )
    parser.add_argument("--receive", choices=("iroh", "tcp"), help=argparse.SUPPRESS)
    parser.add_argument("--into", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.receive == "iroh":
        import asyncio

        asyncio.run(_iroh_receive(args.into))
        raise SystemExit(0)
    if args.receive == "tcp":
        _tcp_receive()
        raise SystemExit(0)

    skip = {name for name in args.skip.split(",") if name}
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        work = Path(tmp)
        tree = args.tree or work / "tree"
        generate(tree, args.files, max_size=args.max_size)
        indexed = indexed_a(work / "a", tree, args.a_data)
        a, b = Device(work / "a", "bench-a"), Device(work / "b", "bench-b")
        try:
            a.start()
            b.start()
            # A's node rescans its location when its watch begins: the join and the drop are
            # timed against a node at rest, as a user's would be.
            settling = time.perf_counter()
            a.node.wait_settled(args.timeout)  # type: ignore[union-attr]
            settled_s = time.perf_counter() - settling
            result: dict[str, Any] = {
                "files": args.files,
                "entries": indexed["entries"],
                "index_seconds": indexed["seconds"],
                "index_reused": indexed["reused"],
                "a_settled_seconds": settled_s,
                "initial": bench_initial(a, b, args.timeout, args.profile),
            }
            if "reconnect" not in skip:
                result["reconnect"] = bench_reconnect(a, b)
            if "edits" not in skip:
                result["edits"] = bench_edits(a, b, args.edits)
            if "drop" not in skip:
                result["drop"] = bench_drop(a, b, work, args.drop_mib, args.profile)
            result["off_loopback"] = sorted(
                set(a.node.off_loopback() + b.node.off_loopback())  # type: ignore[union-attr]
            )
        finally:
            for device in (a, b):
                if device.node is not None:
                    device.node.kill()
    checked = result["initial"]["checked"]
    result["ok"] = (
        all(v for k, v in checked.items() if k != "files")
        and ("drop" not in result or result["drop"]["checked"]["byte_identical"])
        and ("edits" not in result or result["edits"]["not_seen_in_10s"] == 0)
        and not result["off_loopback"]
    )
    report(result, args.json)
    return result


def report(r: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(r))
        return
    i = r["initial"]
    print(
        f"library: {r['files']:,} files, {r['entries']:,} entries, {i['events']:,} events "
        f"({i['log_bytes'] / 1e6:.1f} MB); indexed by A in {r['index_seconds']:.1f} s"
        + (" (an earlier run's index, reused)" if r["index_reused"] else "")
    )
    rows = [
        ("figure", "value", "goal", "against"),
        (
            "a joining device: B answers sd search",
            f"{i['seconds_searchable']:.1f} s (sd pair join {i['seconds_join']:.1f} s)",
            f"<= {i['goal']['seconds_searchable']:.0f} s",
            f"A indexing the tree: {r['index_seconds']:.1f} s",
        ),
        (
            "initial sync: B holds every event",
            f"{i['seconds_log']:.1f} s ({i['events_per_s']:,.0f} events/s)",
            "-",
            "-",
        ),
        ("initial sync: B's index caught up", f"{i['seconds_index']:.1f} s", "-", "-"),
        (
            "bytes sent for the initial sync",
            f"{i['frame_bytes_sent'] / 1e6:.1f} MB frames, "
            + (f"{i['udp_bytes_sent'] / 1e6:.1f} MB UDP" if i["udp_bytes_sent"] else "UDP ?"),
            "-",
            f"the events' own size {i['log_bytes'] / 1e6:.1f} MB ({i['wire_ratio']:.2f}x)",
        ),
    ]
    if "reconnect" in r:
        c = r["reconnect"]
        rows.append(
            (
                "in-sync reconnect, frames each way",
                f"{c['frame_bytes_sent']} B out, {c['frame_bytes_received']} B in",
                f"<= {c['goal']['bytes_each_way']} B",
                f"UDP incl. QUIC handshake: {c['udp_sent']} B out, {c['udp_received']} B in",
            )
        )
    if "edits" in r:
        e = r["edits"]
        rows.append(
            (
                f"tag edit A -> B's index, p50 / p99 ({e['edits']} edits)",
                f"{e['p50_ms']:.1f} / {e['p99_ms']:.1f} ms (max {e['max_ms']:.1f})",
                f"p99 <= {e['goal']['p99_ms']:.0f} ms",
                "-",
            )
        )
    if "drop" in r:
        d = r["drop"]
        rows.append(
            (
                f"Spacedrop of {d['bytes'] / 2**20:,.0f} MiB B -> A",
                f"{d['mb_per_s']:.0f} MB/s ({d['seconds']:.1f} s; {d['overall_seconds']:.1f} s "
                "with hashing)",
                f">= {d['goal']['ratio_to_raw_iroh']:.0%} of raw iroh",
                f"raw iroh {d['raw_iroh']['mb_per_s']:.0f} MB/s ({d['ratio_to_raw_iroh']:.0%}), "
                f"written to disk {d['raw_iroh_to_disk']['mb_per_s']:.0f} MB/s "
                f"({d['ratio_to_raw_iroh_to_disk']:.0%}); "
                f"TCP {d['tcp']['mb_per_s']:.0f} MB/s ({d['ratio_to_tcp']:.0%}); "
                f"iroh with the stock copy {d['raw_iroh_stock_copy']['mb_per_s']:.1f} MB/s",
            )
        )
    widths = [max(len(str(row[k])) for row in rows) for k in range(4)]
    for row in rows:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)))
    ck = i["checked"]
    print(
        f"checked: digests equal {ck['digests_equal']}, stats equal {ck['stats_equal']}, "
        f"searches equal {ck['searches_equal']}"
        + (f"; edits not seen: {r['edits']['not_seen_in_10s']}" if "edits" in r else "")
        + (
            f"; dropped file byte-identical {r['drop']['checked']['byte_identical']}"
            if "drop" in r
            else ""
        )
    )
    off = r["off_loopback"]
    print("network: " + ("no connection off 127.0.0.1" if not off else f"OFF LOOPBACK: {off}"))


if __name__ == "__main__":
    outcome = main()
    raise SystemExit(0 if outcome["ok"] else 1)
