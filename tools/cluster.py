"""Devices on a network of their own, cut and healed: the cluster test (``tests/system/``)
and ``tools/bench_cluster.py`` both run on it.

Each device's node runs in a network namespace of this run, its one interface a veth whose
other end is a port of a bridge in a namespace of the run too (the hub): every node reaches
every other, on a private /24 the run assigns, with no route anywhere else, and nothing of
the machine's own network is touched. Faults are iptables rules in each node's namespace, on
what arrives there: a partition drops what comes from the other groups, loss drops a share
of everything (the statistic match: this kernel has no netem, and dropping on arrival only
keeps a path's loss at the share asked, not twice over).

Convergence is judged as a user would judge it: every device shows the same digest and every
write acknowledged (its ``sd`` command exited 0) is there. While a run waits for that, it
reads each device's index directly (many times a second, no interpreter started each time);
the last word is the ``sd`` commands' own.
"""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from projections.catalog import library_projections
from projections.runner import digest_of
from sdactors.library.config import find_library
from sdactors.library.reader import LibraryReader, index_is_current
from sdactors.node.control.client import connect
from sdactors.runtime.errors import NoLibrary, SdError
from sdactors.runtime.paths import DataDir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import ensure_tool  # noqa: E402

# Device i listens at SUBNET.(i + 1). Private, and only ever inside this run's namespaces (two
# runs at once each have a hub of their own, so the same addresses never meet).
SUBNET = "10.213.47"


class Unavailable(Exception):
    """Why devices cannot have network namespaces here: the run is skipped, saying so."""


def _run(args: Sequence[str], input: str | None = None) -> None:
    done = subprocess.run(list(args), input=input, capture_output=True, text=True)
    if done.returncode != 0:
        what = " ".join(args[:6])
        raise RuntimeError(f"{what} failed: {done.stderr.strip() or done.returncode}")


def needs() -> None:
    """Raise :class:`Unavailable` unless this machine can make the network: root, ``ip``, and
    iptables (Debian's package is installed when it is missing)."""
    if os.geteuid() != 0:
        raise Unavailable("making network namespaces needs root")
    if shutil.which("ip") is None:
        raise Unavailable("the ip command (iproute2) is not installed")
    if ensure_tool("iptables-restore", "iptables") is None:
        raise Unavailable("iptables is not installed, and apt-get could not install it")


def _sweep() -> None:
    """Remove the namespaces a run left when it was killed (its process is gone)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in listed.splitlines():
        name = line.split(" ")[0]
        made_by = re.fullmatch(r"sdc(\d+)-[0-9a-f]{4}-(hub|\d+)", name)
        if made_by and not os.path.exists(f"/proc/{made_by[1]}"):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


class Net:
    """``size`` namespaces joined by one bridge; partitions and loss set on them at will.

    Every name holds this process's id and a random part: two runs never share one, and what
    a run made is all it removes."""

    def __init__(self, size: int) -> None:
        tag = f"sdc{os.getpid()}-{secrets.token_hex(2)}"
        self.hub = f"{tag}-hub"
        self.namespaces = [f"{tag}-{i}" for i in range(size)]
        self.addresses = [f"{SUBNET}.{i + 1}" for i in range(size)]
        self._made: list[str] = []
        self._loss = 0.0
        self._cut: list[set[int]] = []

    def __enter__(self) -> Net:
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self) -> None:
        needs()
        _sweep()
        try:
            self._netns(self.hub)
            _run(["ip", "-n", self.hub, "link", "add", "br0", "type", "bridge"])
            _run(["ip", "-n", self.hub, "link", "set", "br0", "up"])
            for i, (ns, address) in enumerate(zip(self.namespaces, self.addresses)):
                self._netns(ns)
                # Both ends made where they belong: no name is ever taken in this namespace.
                _run(
                    ["ip", "link", "add", "eth0", "netns", ns, "type", "veth"]
                    + ["peer", "name", f"n{i}", "netns", self.hub]
                )
                _run(["ip", "-n", self.hub, "link", "set", f"n{i}", "master", "br0", "up"])
                _run(["ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0"])
                _run(["ip", "-n", ns, "link", "set", "eth0", "up"])
                _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            self._apply()  # fails here, not in the middle of a run, where the match is missing
        except RuntimeError as exc:
            raise Unavailable(str(exc)) from None

    def _netns(self, name: str) -> None:
        _run(["ip", "netns", "add", name])
        self._made.append(name)

    def down(self) -> None:
        """Remove every namespace made (their veths, the bridge and the rules go with them)."""
        while self._made:
            subprocess.run(["ip", "netns", "del", self._made.pop()], capture_output=True)

    def prefix(self, i: int) -> list[str]:
        """What runs a command in device ``i``'s namespace."""
        return ["ip", "netns", "exec", self.namespaces[i]]

    def bind(self, i: int) -> str:
        return f"{self.addresses[i]}:0"

    def set_loss(self, share: float) -> None:
        self._loss = share
        self._apply()

    def partition(self, groups: Sequence[Sequence[int]]) -> None:
        """Each group reaches only itself."""
        self._cut = [set(g) for g in groups]
        self._apply()

    def heal(self) -> None:
        self._cut = []
        self._apply()

    def _apply(self) -> None:
        """Each namespace's rules replaced at once (iptables-restore: one process each)."""
        for i in range(len(self.namespaces)):
            rules = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]"]
            rules.append(":OUTPUT ACCEPT [0:0]")
            mine = next((g for g in self._cut if i in g), None)
            if mine is not None:
                rules += [
                    f"-A INPUT -s {self.addresses[j]}/32 -j DROP"
                    for j in range(len(self.namespaces))
                    if j not in mine
                ]
            if self._loss > 0:
                rules.append(
                    f"-A INPUT -s {SUBNET}.0/24 -m statistic --mode random "
                    f"--probability {self._loss:.4f} -j DROP"
                )
            _run([*self.prefix(i), "iptables-restore"], input="\n".join([*rules, "COMMIT", ""]))

    def bytes_sent(self) -> list[int]:
        """Bytes each device put on its link: what its bridge port received (lost on arrival
        or not; IP headers, UDP and QUIC included)."""
        out = subprocess.run(
            ["ip", "-n", self.hub, "-s", "-j", "link", "show"],
            capture_output=True,
            text=True,
            check=True,
        )
        ports = {link["ifname"]: link["stats64"]["rx"]["bytes"] for link in json.loads(out.stdout)}
        return [ports[f"n{i}"] for i in range(len(self.namespaces))]


# -- devices, and whether they agree -------------------------------------------------------


class Device(Protocol):
    """A device's data directory and ``sd`` run on it (the tests' ``Sd``, the bench's own)."""

    data_dir: Path

    def json(self, *args: str) -> Any: ...

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen: ...


def started(data_dir: Path) -> bool:
    """Whether the node of ``data_dir`` serves: it listens, and has opened its libraries.
    Asked over its socket from this process, so that waiting for many nodes to start costs
    nothing beside them (an ``sd node status`` each time would be an interpreter each)."""
    try:
        client = connect(data_dir)
        if client is None:
            return False
        try:
            status = client.call("node.status", {})
        finally:
            client.close()
    except (OSError, SdError):
        return False
    return bool(status["network"]["addresses"]) and all(
        lib["state"] != "opening" for lib in status["libraries"]
    )


@dataclass(frozen=True)
class Held:
    """What a device's index holds: its digest, whether it has folded its whole log, tags."""

    digest: str
    current: bool
    tags: frozenset[str]


def held(data_dir: Path) -> Held | None:
    """Read from the index itself, in one read transaction; None while there is no library
    (not joined yet) or no index to read."""
    try:
        config = find_library(DataDir(data_dir), None)
    except NoLibrary:
        return None
    current = index_is_current(config)
    try:
        with LibraryReader(config).index() as db:
            db.execute("BEGIN")
            tags = frozenset(name for (name,) in db.execute("SELECT name FROM tags"))
            digest = digest_of(db, library_projections())
    except sqlite3.OperationalError:
        return None  # not made yet, being swapped in, or locked for a moment
    return Held(digest, current, tags)


def agree(devices: Sequence[Device], acked: set[str]) -> bool:
    """Every index current, one digest, every acknowledged write in each (read directly)."""
    seen = [held(d.data_dir) for d in devices]
    return (
        all(h is not None and h.current and acked <= h.tags for h in seen)
        and len({h.digest for h in seen if h is not None}) == 1
    )


def problems(devices: Sequence[Device], acked: set[str]) -> list[str]:
    """What the ``sd`` commands show wrong: digests that differ, acknowledged tags missing.
    Empty when the cluster has converged."""

    def shown(d: Device) -> tuple[str, set[str]]:
        tags = {t["name"] for t in d.json("tag", "list")}
        return d.json("projections", "digest")["digest"], tags

    # The commands wait on processes: a few at once.
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(shown, devices))
    found = []
    digests = {digest for digest, _ in answers}
    if len(digests) != 1:
        found.append(f"{len(digests)} different digests")
    for d, (_, tags) in zip(devices, answers):
        if acked - tags:
            found.append(f"{d.data_dir.name} lacks {sorted(acked - tags)}")
    return found


def wait_for(check: Callable[[], bool], within: float, every: float = 0.05) -> float | None:
    """Seconds until ``check`` holds; None if it did not within ``within`` seconds."""
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > within:
            return None
        time.sleep(every)
    return time.monotonic() - began


def pair_all(devices: Sequence[Device], within: float) -> None:
    """Every other device joins the first one's library, with tickets the first one makes
    (the library's creator: it may invite); the invitations all at once, then the joins."""

    def each(runs: list[subprocess.Popen], what: str) -> list[Any]:
        answers = []
        for d, run in zip(devices[1:], runs):
            out, err = run.communicate(timeout=within)
            if run.returncode != 0:
                raise RuntimeError(f"{what} {d.data_dir.name}: {err.decode().strip()}")
            answers.append(json.loads(out))
        return answers

    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    invites = [devices[0].popen("--json", "pair", "invite", **pipes) for _ in devices[1:]]
    tickets = [answer["ticket"] for answer in each(invites, "no ticket for")]
    each(
        [d.popen("--json", "pair", "join", t, **pipes) for d, t in zip(devices[1:], tickets)],
        "could not join",
    )


def halves(size: int, rng: random.Random) -> list[list[int]]:
    """The devices in two groups as even as can be, chosen at random."""
    order = list(range(size))
    rng.shuffle(order)
    return [sorted(order[: size // 2]), sorted(order[size // 2 :])]


@dataclass
class Round:
    """One cut and heal: who was on which side, what was written, how long agreeing took."""

    groups: list[list[int]]
    acked: set[str]
    # Writes a device of the other group held before the heal: none, if the cut was real.
    crossed: list[str]
    seconds: float | None  # after the heal until every device agrees; None: not within


def partition_round(
    net: Net,
    devices: Sequence[Device],
    rng: random.Random,
    name: str,
    writes: int,
    hold_s: float,
    within: float,
    wake: Callable[[], None] | None = None,
) -> Round:
    """Cut the network in two, write on both sides (``sd tag create`` on devices chosen at
    random, each side in turn), keep it cut ``hold_s`` seconds, heal it, ``wake`` (say, ``sd
    sync now``), and time until every device agrees."""
    groups = halves(len(devices), rng)
    net.partition(groups)
    cut = time.monotonic()
    side: dict[str, int] = {}
    for k in range(writes):
        tag = f"{name}-{k}"
        devices[rng.choice(groups[k % 2])].json("tag", "create", tag)
        side[tag] = k % 2
    time.sleep(max(0.0, hold_s - (time.monotonic() - cut)))
    crossed = []
    for g, group in enumerate(groups):
        for i in group:
            seen = held(devices[i].data_dir)
            tags = seen.tags if seen is not None else frozenset()
            crossed += [f"{tag} (device {i})" for tag in tags if side.get(tag, g) != g]
    net.heal()
    healed = time.monotonic()
    if wake is not None:
        wake()
    converged = wait_for(lambda: agree(devices, set(side)), within) is not None
    return Round(groups, set(side), crossed, time.monotonic() - healed if converged else None)
