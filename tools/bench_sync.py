"""Sync between two nodes on 127.0.0.1: initial sync of an indexed library, an in-sync
reconnect, and how fast one tag edit reaches the other device.

    python tools/bench_sync.py --files 1000000 --edits 100

Device A indexes a generated tree (``tools/gen_tree.py``); device B joins with ``sd pair
join`` and receives the whole log. Figures, each with its goal and what it is measured
against in the same run:

- initial sync: the seconds from ``sd pair join`` to B holding every event (and to B's
  index caught up), events/s, and the bytes sent (frames, and UDP on the wire) against the
  events' own size in A's log. Checked: equal digests, equal stats, same search answers.
- in-sync reconnect: B's node restarted; the frames each way until both say in sync (goal
  <= 1 KiB each way), and the UDP bytes of that connection (QUIC's handshake included).
- live propagation: a tag renamed on A through its control socket, until B's index shows
  the new name (read straight from B's index.db); p50/p99 over ``--edits`` edits (goal p99
  <= 200 ms). Checked: each edit's name, in order.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
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

GOAL_INITIAL_S = 30.0
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
        self.env = {**quiet_env(), "SD_DATA_DIR": str(root), "SD_NETWORK_BIND": bind}
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


def bench_initial(a: Device, b: Device, timeout: float) -> dict[str, Any]:
    log = a.sd("log", "stats")
    ticket = a.sd("pair", "invite")["ticket"]
    started = time.perf_counter()
    joined = subprocess.run(
        [*SD, "--json", "pair", "join", ticket], env=b.env, capture_output=True, text=True
    )
    received = time.perf_counter() - started
    if joined.returncode != 0:
        raise SystemExit(f"sd pair join failed: {joined.stderr.strip()}")
    folded = received + until(lambda: caught_up(b), timeout, "B's index caught up", 0.2)
    row = a.peer_row()
    digests = [d.sd("projections", "digest")["digest"] for d in (a, b)]
    stats = [d.sd("stats") for d in (a, b)]
    queries = ["report", "photo 1", "notes", "zzz-nothing"]
    answers = [
        [sorted(h["path"] for h in d.sd("search", q, "--limit", "500")) for q in queries]
        for d in (a, b)
    ]
    joined_body = json.loads(joined.stdout)
    return {
        "events": log["events"],
        "events_received": joined_body["events_received"],
        "log_bytes": log["bytes"],
        "seconds_log": received,
        "seconds_index": folded,
        "events_per_s": log["events"] / received,
        "frame_bytes_sent": row["bytes_sent"],
        "udp_bytes_sent": (row["connection"] or {}).get("udp_sent"),
        "wire_ratio": row["bytes_sent"] / max(1, log["bytes"]),
        "checked": {
            "digests_equal": digests[0] == digests[1],
            "stats_equal": stats[0] == stats[1],
            "searches_equal": answers[0] == answers[1],
            "files": stats[1]["files"],
        },
        "goal": {"seconds": GOAL_INITIAL_S},
    }


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
    got, started = 0, None
    fd = os.open(into, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) if into else None
    while True:
        data = await recv.read(CHUNK)
        if not data:
            break
        started = started or time.perf_counter()
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
    await stream.send().write_all(json.dumps({"bytes": got, "seconds": seconds}).encode())
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
    }


def _blake3_file(path: Path) -> str:
    import blake3

    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(path)
    return hasher.hexdigest()


def bench_drop(a: Device, b: Device, work: Path, mib: int) -> dict[str, Any]:
    """A file of ``mib`` MiB from B to A with Spacedrop, against the same bytes over a raw
    iroh stream and over TCP between two processes, in this run."""
    source = work / "drop.bin"
    with open(source, "wb") as out:
        for _ in range(mib):
            out.write(os.urandom(CHUNK))
    total = mib * CHUNK
    sent = b.sd("drop", "send", "bench-a", str(source))
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


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    tree_options(parser, 1_000_000, 2_000, "Cap generated file sizes (bytes).")
    parser.add_argument("--edits", type=int, default=100, help="Tag edits timed A -> B.")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument(
        "--drop-mib", type=int, default=1024, help="Size of the Spacedrop file (MiB)."
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

    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        work = Path(tmp)
        tree = args.tree or work / "tree"
        generate(tree, args.files, max_size=args.max_size)
        a, b = Device(work / "a", "bench-a"), Device(work / "b", "bench-b")
        a.sd("library", "create", "Bench")
        started = time.perf_counter()
        added = a.sd("location", "add", str(tree))
        index_seconds = time.perf_counter() - started
        try:
            a.start()
            b.start()
            result = {
                "files": args.files,
                "entries": added["files"] + added["dirs"],
                "index_seconds": index_seconds,
                "initial": bench_initial(a, b, args.timeout),
                "reconnect": bench_reconnect(a, b),
                "edits": bench_edits(a, b, args.edits),
                "drop": bench_drop(a, b, work, args.drop_mib),
                "off_loopback": sorted(
                    set(a.node.off_loopback() + b.node.off_loopback())  # type: ignore[union-attr]
                ),
            }
        finally:
            for device in (a, b):
                if device.node is not None:
                    device.node.kill()
    checked = result["initial"]["checked"]
    result["ok"] = (
        all(v for k, v in checked.items() if k != "files")
        and result["drop"]["checked"]["byte_identical"]
        and result["edits"]["not_seen_in_10s"] == 0
        and not result["off_loopback"]
    )
    report(result, args.json)
    return result


def report(r: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(r))
        return
    i, c, e, d = r["initial"], r["reconnect"], r["edits"], r["drop"]
    print(
        f"library: {r['files']:,} files, {r['entries']:,} entries, {i['events']:,} events "
        f"({i['log_bytes'] / 1e6:.1f} MB); indexed by A in {r['index_seconds']:.1f} s"
    )
    rows = [
        ("figure", "value", "goal", "against"),
        (
            "initial sync: B holds every event",
            f"{i['seconds_log']:.1f} s ({i['events_per_s']:,.0f} events/s)",
            f"<= {i['goal']['seconds']:.0f} s",
            f"A indexing the tree: {r['index_seconds']:.1f} s",
        ),
        (
            "initial sync: B's index caught up",
            f"{i['seconds_index']:.1f} s",
            "-",
            "-",
        ),
        (
            "bytes sent for the initial sync",
            f"{i['frame_bytes_sent'] / 1e6:.1f} MB frames, "
            + (f"{i['udp_bytes_sent'] / 1e6:.1f} MB UDP" if i["udp_bytes_sent"] else "UDP ?"),
            "-",
            f"the events' own size {i['log_bytes'] / 1e6:.1f} MB ({i['wire_ratio']:.2f}x)",
        ),
        (
            "in-sync reconnect, frames each way",
            f"{c['frame_bytes_sent']} B out, {c['frame_bytes_received']} B in",
            f"<= {c['goal']['bytes_each_way']} B",
            f"UDP incl. QUIC handshake: {c['udp_sent']} B out, {c['udp_received']} B in",
        ),
        (
            f"tag edit A -> B's index, p50 / p99 ({e['edits']} edits)",
            f"{e['p50_ms']:.1f} / {e['p99_ms']:.1f} ms (max {e['max_ms']:.1f})",
            f"p99 <= {e['goal']['p99_ms']:.0f} ms",
            "-",
        ),
    ]
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
        f"searches equal {ck['searches_equal']}; edits not seen: {e['not_seen_in_10s']}; "
        f"dropped file byte-identical {d['checked']['byte_identical']}"
    )
    off = r["off_loopback"]
    print("network: " + ("no connection off 127.0.0.1" if not off else f"OFF LOOPBACK: {off}"))


if __name__ == "__main__":
    outcome = main()
    raise SystemExit(0 if outcome["ok"] else 1)
