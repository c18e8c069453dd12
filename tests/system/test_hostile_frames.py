"""Frames and replies that could end a node: what a paired peer or a stranger sends, and what
the node must then answer its own user. One real node on 127.0.0.1; the peer speaks the
protocols by hand (``tests/hostile_sync.py``).

- A sync frame of 64 MiB of empty msgpack arrays: decoded as it stood, gigabytes of Python
  lists. It must be refused before it is decoded, the node's memory staying bounded.
- A peer's version vector whose seqs add up past 2**64, then ``sd sync status``.
- A refused batch claiming a billion events: ``sd sync status`` must not count them.
- A stranger's Spacedrop offer of files of 2**62 bytes each, then ``sd drop list``.

After each, the node still answers ``sd node status``.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgpack
import psutil
import pytest

from events.domain import CATALOG
from events.domain.device import DevicePaired
from events.exportfile import FORMAT, MAGIC, ExportHeader
from events.keys import DeviceKey
from sdactors.net.drop.disk import Offered
from sdactors.net.drop.wire import offer_frame
from sdactors.net.frames import HEADER, MAX_FRAME
from sdactors.runtime.errors import PeerGone
from tests.conftest import Sd
from tests.helpers_cluster import Peer, device
from tests.helpers_log import next_events, wire, write_export_file
from tests.hostile_sync import drop_offer, offer

pytestmark = pytest.mark.slow

INT64_MAX = (1 << 63) - 1
# What the node may grow by while it refuses a frame of MAX_FRAME bytes: the frame's own
# bytes, read whole, and some.
GROWTH_MOST = 256 << 20


@dataclass
class World:
    home: Sd
    node: Peer
    library: bytes
    target: bytes
    addresses: list[str]
    mallory: DeviceKey
    tmp: Path

    def vector(self) -> dict[bytes, int]:
        devices = self.home.json("library", "info")["devices"]
        return {bytes.fromhex(d["device"]): d["seq"] for d in devices}

    def alive(self) -> None:
        status = self.home.json("node", "status")
        assert status["pid"] == self.node.proc.pid  # type: ignore[union-attr]


def _pair_by_hand(home: Sd, library: bytes, stranger: DeviceKey, tmp: Path) -> None:
    """``home`` records ``stranger`` as paired: its own next event, imported (its node
    stopped), as a restore would bring it back."""
    path = Path(home.json("library", "info")["path"])
    drafts = [CATALOG.body(DevicePaired(stranger.public, "mallory"))]
    events = next_events(home.data_dir, path, library, drafts)
    export = tmp / "pairing.sdlog"
    write_export_file(export, ExportHeader(library, "Home", len(events)), wire(events))
    home.run("log", "import", str(export))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("frames")
    home = device(tmp, "home")
    library = bytes.fromhex(home.json("library", "create", "Home")["id"])
    mallory = DeviceKey.generate()
    _pair_by_hand(home, library, mallory, tmp)
    node = Peer(home, tmp / "node.log")
    try:
        node.start()
        network = home.json("node", "status")["network"]
        target = bytes.fromhex(network["device"])
        yield World(home, node, library, target, network["addresses"], mallory, tmp)
    finally:
        node.kill_if_running()


class _Peak:
    """The highest resident memory of a process, sampled while a block runs."""

    def __init__(self, pid: int) -> None:
        self._proc = psutil.Process(pid)
        self.start = self.peak = self._proc.memory_info().rss
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.is_set():
            try:
                self.peak = max(self.peak, self._proc.memory_info().rss)
            except psutil.NoSuchProcess:
                return
            time.sleep(0.01)

    def __enter__(self) -> _Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.5)  # what decoding the last frame allocates comes after it arrived
        self._done.set()
        self._thread.join()


def _arrays_frame(size: int) -> bytes:
    """A sync frame ``{"ev": [[], [], ...], "upto": {}}`` of ``size`` bytes in all."""
    head = b"\x82\xa2ev\xdd"
    tail = b"\xa4upto\x80"
    count = size - HEADER.size - len(head) - 4 - len(tail)
    body = head + count.to_bytes(4, "big") + b"\x90" * count + tail
    return HEADER.pack(len(body)) + body


@pytest.mark.hostile("M6")
def test_a_frame_of_64_mib_of_empty_arrays_is_refused_in_bounded_memory(world: World) -> None:
    frame = _arrays_frame(MAX_FRAME)
    assert len(frame) == MAX_FRAME
    secret = world.mallory.secret_bytes()
    with _Peak(world.node.proc.pid) as memory:  # type: ignore[union-attr]
        result = offer(
            secret, world.target, world.addresses, world.library, world.vector(), [frame]
        )
    assert "vec" in result["answer"] and result["dropped"], result
    grew = memory.peak - memory.start
    assert grew < GROWTH_MOST, f"the node grew by {grew >> 20} MiB"
    world.alive()
    row = next(s for s in world.home.json("sync", "status") if s["name"] == "mallory")
    assert "values" in (row["reason"] or ""), row


@pytest.mark.hostile("M5")
def test_a_vector_past_two_to_the_64_is_answered_exactly(world: World) -> None:
    """Three devices the peer claims to hold 2**63 - 1 events of: ``sd sync status`` says
    so (the sum passes 2**64), while the session lives and after."""
    claimed = {os.urandom(32): INT64_MAX for _ in range(3)}
    done: dict[str, object] = {}

    def hold() -> None:
        vector = {**world.vector(), **claimed}
        done["result"] = offer(
            world.mallory.secret_bytes(), world.target, world.addresses, world.library,
            vector, linger=4.0,
        )  # fmt: skip

    peer = threading.Thread(target=hold)
    peer.start()
    try:
        deadline = time.monotonic() + 10
        while True:
            row = next(s for s in world.home.json("sync", "status") if s["name"] == "mallory")
            if row["connected"] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert row["connected"], row
        assert row["ahead"] == 3 * INT64_MAX, row
    finally:
        peer.join()
    world.alive()
    # A seq no event can have is no vector: the node hangs up.
    with pytest.raises(PeerGone):
        offer(world.mallory.secret_bytes(), world.target, world.addresses, world.library,
              {os.urandom(32): 1 << 63})  # fmt: skip
    world.alive()


@pytest.mark.hostile("L1")
def test_a_refused_batch_claims_nothing(world: World) -> None:
    """A frame whose events are refused says it brings a billion: none of it is counted."""
    vector = world.vector()
    garbage = {"ev": [[b"not an event", None]], "upto": {world.mallory.public: 10**9}}
    result = offer(world.mallory.secret_bytes(), world.target, world.addresses, world.library,
                   vector, [garbage])  # fmt: skip
    assert result["dropped"], result
    row = next(s for s in world.home.json("sync", "status") if s["name"] == "mallory")
    assert row["ahead"] == 0 and not row["connected"], row
    world.alive()


@pytest.mark.hostile("M5")
def test_a_strangers_offer_of_exabytes_never_ends_the_node(world: World) -> None:
    stranger = DeviceKey.generate()
    files = [Offered(b"part%d.bin" % i, 1 << 62, os.urandom(32)) for i in range(5)]
    frame = offer_frame(world.library, "stranger", files, None)
    answer = drop_offer(stranger.secret_bytes(), world.target, world.addresses, frame, 0)
    assert "pending" not in answer and "accepted" not in answer, answer
    assert world.home.json("drop", "list") == []
    world.alive()
    # One file as large as an offer may be: refused for want of space (no disk holds it),
    # and listed with its size exactly.
    frame = offer_frame(world.library, "stranger", files[:1], None)
    done: dict[str, object] = {}
    peer = threading.Thread(
        target=lambda: done.update(
            answer=drop_offer(stranger.secret_bytes(), world.target, world.addresses, frame, 4)
        )
    )
    peer.start()
    try:
        deadline = time.monotonic() + 10
        while not (listed := world.home.json("drop", "list")) and time.monotonic() < deadline:
            time.sleep(0.1)
        (row,) = listed
        assert (row["state"], row["total"]) == ("rejected", 1 << 62), row
    finally:
        peer.join()
    assert "free space" in str(done["answer"]), done
    world.alive()


@pytest.mark.hostile("M6")
def test_an_export_of_nested_arrays_is_refused_in_bounded_memory(sd: Sd, tmp_path: Path) -> None:
    """``sd log import`` of a file whose one record is 60 MiB of arrays of arrays: a damaged
    file, said in one line, read in bounded memory (as it stood: some 700 MiB of tuples)."""
    level = b"\x90"
    for _ in range(6):
        level = b"\x9f" + level * 15  # an array of fifteen of the level below
    path = tmp_path / "nested.sdlog"
    with open(path, "wb") as out:
        out.write(MAGIC)
        out.write(msgpack.packb({"format": FORMAT, "library": b"\x01" * 16, "name": "Home",
                                 "events": 1}))  # fmt: skip
        out.write(b"\x95" + level * 5)
    proc = sd.popen("log", "import", str(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with _Peak(proc.pid) as memory:
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    grew = memory.peak - memory.start
    assert grew < GROWTH_MOST, f"sd log import grew by {grew >> 20} MiB"
    assert b"nested.sdlog is damaged" in err and err.count(b"\n") == 1, err
    assert sd.json("library", "list") == []


@pytest.mark.hostile("L4")
def test_names_that_are_not_utf8_come_through_the_node(world: World) -> None:
    """What a command gives for a name that is not UTF-8 (a lone surrogate per such byte)
    crosses the control socket as it is."""
    root = os.fsencode(world.tmp) + b"/caf\xe9"
    os.makedirs(root, exist_ok=True)
    for name in (b"\xff.bin", b"\\xff.bin"):
        with open(os.path.join(root, name), "wb") as out:
            out.write(b"x")
    world.home.json("location", "add", os.fsdecode(root))
    listed = world.home.json("ls", os.fsdecode(root))
    assert {os.fsencode(e["path"]) for e in listed} == {root + b"/\xff.bin", root + b"/\\xff.bin"}
    world.alive()
