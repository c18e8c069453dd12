"""How soon devices agree again after a partition heals, on a network that loses packets.

    python tools/bench_cluster.py --nodes 3 --nodes 10 --loss 0.3 --rounds 3

Each device is a real ``sd node run`` in a network namespace of this run (``tools/cluster.py``:
one bridge, a private /24, no route anywhere else), every other one joined to the first one's
library. Once all hold it, every packet a device receives is dropped with probability
``--loss``. Then, per partition length (``--hold``, seconds) and ``--rounds`` times: the
devices are cut in two halves chosen at random, ``--writes`` tags are created (``sd tag
create``) on both sides, the cut is healed, and the seconds until every device's index holds
every one of those writes and all digests are equal are timed; once left to itself, once
with ``sync.now`` asked of every node at the heal (the request ``sd sync now`` sends, over
each node's socket: ten interpreters started would be timed too). The default lengths are a
short cut that sessions outlive, and one long enough that every session across it is lost
(QUIC's idle timeout, then the sync's own limit for a silent peer), after which devices must
dial each other again, with backoff. Goal: <= 10 s for 10 devices.

Also reported: the bytes each device sent during the rounds, on its link (its bridge port's
counter: IP, UDP and QUIC, resent packets included) and in sync frames (``sd sync status``,
``bytes_sent`` summed over its peers).

Checked: no write crosses the cut while it holds; after the rounds, ``sd projections
digest``, ``sd log stats`` and ``sd tag list`` agree on every device and show every write.
The exit status is 1 when a check failed or a heal did not converge within ``--within``
seconds, and 2 (with a line saying why) where network namespaces cannot be made; the timings
are for people to judge.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from sdactors.net.sync import PEER_SILENT_S
from sdactors.node.control.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import SD  # noqa: E402
from bench_sync import Device  # noqa: E402
from cluster import (  # noqa: E402
    Net,
    Unavailable,
    agree,
    pair_all,
    partition_round,
    problems,
    started,
    wait_for,
)

GOAL_SECONDS = 10.0
GOAL_NODES = 10
HOLDS = [3.0, PEER_SILENT_S + 10]


class Member(Device):
    """A device of the cluster: its node in namespace ``i`` of ``net``."""

    def __init__(self, root: Path, net: Net, i: int) -> None:
        super().__init__(root, root.name, net.bind(i), net.prefix(i))
        self.data_dir = root

    def json(self, *args: str) -> Any:
        return self.sd(*args)

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen:
        return subprocess.Popen([*SD, *args], env=self.env, **kwargs)

    def frames_sent(self) -> int:
        return sum(row["bytes_sent"] for row in self.sd("sync", "status"))


def sync_now(members: list[Member]) -> None:
    for member in members:
        client = connect(member.root)
        if client is None:
            raise SystemExit(f"the node of {member.root.name} does not answer on its socket")
        try:
            client.call("sync.now", {"library": None})
        finally:
            client.close()


def spread(seconds: list[float | None]) -> dict[str, Any]:
    done = [s for s in seconds if s is not None]
    return {
        "seconds": seconds,
        "median_s": statistics.median(done) if done else None,
        "max_s": max(done) if done else None,
        "not_converged": len(seconds) - len(done),
    }


def per_node(values: list[int]) -> dict[str, Any]:
    return {"each": values, "median": statistics.median(values), "max": max(values)}


def bench(size: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    rng = random.Random(size)
    with Net(size) as net:
        members = [Member(work / f"n{size}-d{i}", net, i) for i in range(size)]
        members[0].json("library", "create", "Bench")
        began = time.monotonic()
        try:
            for member in members:
                member.launch()
            for member in members:
                if wait_for(partial(started, member.root), 120) is None:
                    raise SystemExit(f"the node of {member.root.name} did not start serving")
                member.serving()
            serving = time.monotonic() - began
            pair_all(members, args.within)
            if wait_for(lambda: agree(members, set()), args.within) is None:
                raise SystemExit(f"{size} devices did not all hold the library")
            joined = time.monotonic() - began - serving
            net.set_loss(args.loss)
            frames, wire = [m.frames_sent() for m in members], net.bytes_sent()
            acked: set[str] = set()
            crossed: list[str] = []
            holds = {}
            for hold in args.hold:
                timed: dict[str, list[float | None]] = {"left_alone": [], "sync_now": []}
                for r in range(args.rounds):
                    for how, wake in (
                        ("left_alone", None),
                        ("sync_now", partial(sync_now, members)),
                    ):
                        done = partition_round(
                            net,
                            members,
                            rng,
                            f"h{hold:g}-r{r}-{how}",
                            args.writes,
                            hold,
                            args.within,
                            wake,
                        )
                        timed[how].append(done.seconds)
                        acked |= done.acked
                        crossed += done.crossed
                holds[f"{hold:g}"] = {how: spread(s) for how, s in timed.items()}
            frames = [m.frames_sent() - f for m, f in zip(members, frames)]
            wire = [after - before for after, before in zip(net.bytes_sent(), wire)]
            found = problems(members, acked)
        finally:
            for member in members:
                if member.node is not None:
                    member.node.kill()
    return {
        "nodes": size,
        "loss": args.loss,
        "rounds": args.rounds,
        "writes_per_round": args.writes,
        "setup": {"serving_s": serving, "joined_s": joined},
        "holds": holds,
        "bytes_sent": {"wire": per_node(wire), "frames": per_node(frames)},
        "checked": {"writes": len(acked), "crossed_the_cut": crossed, "problems": found},
        "goal": {"seconds": GOAL_SECONDS, "nodes": GOAL_NODES},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, action="append", help="Devices (repeatable).")
    parser.add_argument("--loss", type=float, default=0.3, help="Share of packets dropped.")
    parser.add_argument("--rounds", type=int, default=3, help="Cuts per length and way.")
    parser.add_argument(
        "--hold", type=float, action="append", help="Seconds a cut lasts (repeatable)."
    )
    parser.add_argument("--writes", type=int, default=4, help="Tags created during a cut.")
    parser.add_argument("--within", type=float, default=120.0, help="Seconds a heal may take.")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    args.nodes = args.nodes or [3, 10]
    args.hold = args.hold or HOLDS
    try:
        with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
            runs = [bench(size, args, Path(tmp)) for size in args.nodes]
    except Unavailable as exc:
        reason = f"no network namespaces for the cluster here: {exc}"
        print(json.dumps({"skipped": reason}) if args.json else reason)
        return 2
    ok = all(
        not run["checked"]["crossed_the_cut"]
        and not run["checked"]["problems"]
        and all(
            way["not_converged"] == 0 for hold in run["holds"].values() for way in hold.values()
        )
        for run in runs
    )
    result = {"ok": ok, "runs": runs}
    report(result, args.json)
    return 0 if ok else 1


def seconds(way: dict[str, Any]) -> str:
    if way["median_s"] is None:
        return "never"
    late = f", {way['not_converged']} never" if way["not_converged"] else ""
    return f"{way['median_s']:.1f} / {way['max_s']:.1f} s{late}"


def report(r: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(r))
        return
    rows = [("devices", "cut", "agree after heal", "with sync now", "sent per device")]
    for run in r["runs"]:
        wire, frames = run["bytes_sent"]["wire"], run["bytes_sent"]["frames"]
        for hold, ways in run["holds"].items():
            rows.append(
                (
                    f"{run['nodes']} ({run['loss']:.0%} loss)",
                    f"{hold} s",
                    seconds(ways["left_alone"]),
                    seconds(ways["sync_now"]),
                    "",
                )
            )
        rows[-1] = rows[-1][:4] + (
            f"{wire['median'] / 1e3:,.0f} kB (max {wire['max'] / 1e3:,.0f}) on the link, "
            f"{frames['median'] / 1e3:,.0f} kB (max {frames['max'] / 1e3:,.0f}) in frames",
        )
    widths = [max(len(row[k]) for row in rows) for k in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    print(
        f"times: median / max over the rounds; goal <= {GOAL_SECONDS:.0f} s for "
        f"{GOAL_NODES} devices. Bytes: each device over all its rounds."
    )
    for run in r["runs"]:
        ck = run["checked"]
        print(
            f"checked ({run['nodes']} devices): {ck['writes']} writes, crossed the cut: "
            f"{ck['crossed_the_cut'] or 'none'}; problems: {ck['problems'] or 'none'}; "
            f"set up in {run['setup']['serving_s']:.1f} s (nodes) + "
            f"{run['setup']['joined_s']:.1f} s (joins)"
        )


if __name__ == "__main__":
    raise SystemExit(main())
