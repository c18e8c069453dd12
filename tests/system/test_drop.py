"""Spacedrop between real ``sd node run`` processes on 127.0.0.1: a paired device's files
land in the library's inbox byte for byte, also when the connection is cut part way; an
unpaired device's offer waits for ``sd drop accept`` (or ``reject``) on the receiving side.

A and B share the library Home (B joined it with a ticket); C is paired with nobody.
"""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import socket
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import blake3
import psutil
import pytest

from sdactors.net.drop.receive import BUSY
from sdactors.net.drop.service import PENDING_PER_DEVICE
from tests.conftest import Sd
from tests.hostile_drop import offer_many
from tests.system.test_node import Node, until

pytestmark = pytest.mark.slow

NODE_TOML = """schema_version = 3
[device]
name = "{name}"
[node]
log_format = "json"
[network]
bind = "127.0.0.1:0"
relays = false
discovery = false
"""
CUT_AFTER = 1_000_000


def data_dir(root: Path, name: str) -> Sd:
    """A data directory whose node listens on loopback only (no relays, no discovery)."""
    where = root / name
    where.mkdir(mode=0o700)
    (where / "node.toml").write_text(NODE_TOML.format(name=name))
    return Sd(where)


def start(sd: Sd, root: Path) -> Node:
    return Node(sd, root / f"{sd.data_dir.name}-{time.monotonic_ns()}.log").start()


@dataclass
class World:
    root: Path
    a: Sd
    b: Sd
    c: Sd
    nodes: dict[str, Node]
    a_id: str
    a_address: str

    def inbox(self) -> Path:
        (found,) = (self.a.data_dir / "libraries").glob("*.sdlibrary")
        return found / "inbox"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("drop")
    a, b, c = (data_dir(root, name) for name in ("dev-a", "dev-b", "dev-c"))
    a.run("library", "create", "Home")
    b.run("library", "create", "Own")  # a node starts serving once it has a library
    c.run("library", "create", "Elsewhere")
    nodes = {sd.data_dir.name: start(sd, root) for sd in (a, b, c)}
    try:
        ticket = a.run("pair", "invite").out.strip()
        b.run("pair", "join", ticket)
        network = a.json("node", "status")["network"]
        yield World(root, a, b, c, nodes, network["device"], network["addresses"][0])
    finally:
        for node in nodes.values():
            node.kill_if_running()


def random_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def b3(path: Path) -> str:
    return blake3.blake3(path.read_bytes()).hexdigest()


def test_a_file_from_a_paired_device_lands_in_the_inbox_byte_identical(world: World) -> None:
    sent = random_file(world.root / "photos.bin", 3_000_000)
    result = world.b.json("drop", "send", "dev-a", str(sent), "--library", "Home")
    (file,) = result["files"]
    assert (file["state"], file["as"], file["resumed_from"]) == ("delivered", "photos.bin", 0)
    assert file["blake3"] == b3(sent)
    landed = world.inbox() / "photos.bin"
    assert landed.read_bytes() == sent.read_bytes()
    assert os.stat(world.inbox()).st_mode & 0o777 == 0o700
    # Sent again: a second file beside the first, never over it; no partial left behind.
    again = world.b.json("drop", "send", "dev-a", str(sent), "--library", "Home")
    assert again["files"][0]["as"] == "photos (1).bin"
    assert (world.inbox() / "photos (1).bin").read_bytes() == sent.read_bytes()
    assert not [p for p in os.listdir(world.inbox()) if p.startswith(".sd-partial-")]
    # Both sides list it.
    assert any(r["id"] == result["id"] and r["state"] == "done"
               for r in world.a.json("drop", "list"))  # fmt: skip
    assert any(r["direction"] == "out" and r["state"] == "done"
               for r in world.b.json("drop", "list"))  # fmt: skip


def test_a_drop_cut_midway_resumes_and_arrives_byte_identical(world: World) -> None:
    # B's node again, told to cut its first connection of each drop after 1 MB.
    world.nodes["dev-b"].stop()
    cutting = Sd(world.b.data_dir)
    cutting.env["SD_DROP_CUT_AFTER"] = str(CUT_AFTER)
    world.nodes["dev-b"] = start(cutting, world.root)
    sent = random_file(world.root / "video.bin", 8_000_000)
    result = world.b.json("drop", "send", "dev-a", str(sent), "--library", "Home")
    (file,) = result["files"]
    assert result["reconnects"] == 1
    assert 0 < file["resumed_from"] < sent.stat().st_size
    # What was resent is what the receiver lacked, not the whole file again.
    assert result["bytes_sent"] < sent.stat().st_size + CUT_AFTER + (2 << 20)
    landed = world.inbox() / file["as"]
    assert b3(landed) == b3(sent) and landed.read_bytes() == sent.read_bytes()
    log = (world.a.data_dir / "logs" / "node.log").read_text()
    assert "drop_resumed" in log and "drop_interrupted" in log


def _pending(world: World, sd: Sd | None = None) -> list[dict]:
    return [r for r in (sd or world.a).json("drop", "list") if r["state"] == "pending"]


def _offer_from_c(world: World, path: Path) -> tuple[subprocess.Popen, dict]:
    sending = world.c.popen(
        "--json", "drop", "send", "--to", world.a_id, "--address", world.a_address, str(path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    until(lambda: _pending(world), 20, "C's offer waiting on A")
    (offer,) = _pending(world)
    assert offer["name"] == "dev-c" and offer["files"][0]["name"] == path.name
    assert sending.poll() is None, "the sender waits for the decision"
    return sending, offer


def test_an_unpaired_device_waits_until_its_offer_is_accepted(world: World) -> None:
    sent = random_file(world.root / "from-c.bin", 2_000_000)
    sending, offer = _offer_from_c(world, sent)
    assert not (world.inbox() / "from-c.bin").exists()
    row = world.a.json("drop", "accept", offer["id"])
    assert row["state"] == "done"
    out, err = sending.communicate(timeout=30)
    assert sending.returncode == 0, err
    assert (world.inbox() / "from-c.bin").read_bytes() == sent.read_bytes()
    assert row["files"][0]["path"] == str(world.inbox() / "from-c.bin")


def test_a_rejected_offer_fails_the_sender_and_writes_nothing(world: World) -> None:
    sent = random_file(world.root / "unwanted.bin", 100_000)
    sending, offer = _offer_from_c(world, sent)
    world.a.json("drop", "reject", offer["id"])
    out, err = sending.communicate(timeout=30)
    assert sending.returncode == 1
    assert "refused" in err and "declined" in err
    assert not (world.inbox() / "unwanted.bin").exists()
    # It is decided: neither accepted nor rejected again.
    assert "no pending Spacedrop offer" in world.a.fails("drop", "accept", offer["id"]).err


def test_the_senders_terminal_shows_its_drop_waiting_for_the_offer(world: World) -> None:
    """Progress reaches the user's live line: the node posts it to a channel named in the
    ask, and the command hands it to the client (``sd drop send`` on a terminal)."""
    sent = random_file(world.root / "shown.bin", 50_000)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 250, 0, 0))
    sending = world.c.popen(
        "drop", "send", "--to", world.a_id, "--address", world.a_address, str(sent),
        stdout=subprocess.PIPE, stderr=follower, text=True,
    )  # fmt: skip
    os.close(follower)
    shown = bytearray()

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                return  # the command ended: its terminal closed
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    try:
        until(lambda: _pending(world), 20, "C's offer waiting on A")
        (offer,) = _pending(world)
        words = f"waiting for the other device to accept (offer {offer['id']})"
        until(lambda: words in shown.decode(errors="replace"), 20, "the live line")
        world.a.json("drop", "reject", offer["id"])
        sending.communicate(timeout=30)
        assert sending.returncode == 1
        until(lambda: "declined" in shown.decode(errors="replace"), 5, "why, on the terminal")
    finally:
        if sending.poll() is None:
            sending.kill()
        reader.join(5)
        os.close(leader)


def test_sending_needs_a_node_and_refuses_folders(world: World, tmp_path: Path) -> None:
    lonely = data_dir(tmp_path, "lonely")
    lonely.run("library", "create", "Home")
    err = lonely.fails("drop", "send", "dev-a", str(tmp_path)).err
    assert "needs the node's network endpoint" in err
    err = world.b.fails("drop", "send", "dev-a", str(world.root), "--library", "Home").err
    assert "not folders" in err


@pytest.mark.hostile("M8")
def test_a_drop_to_a_receiver_killed_and_restarted_goes_through(world: World) -> None:
    # A dies without a word (its connections are never closed), then comes back: B's sync
    # connection to it is dead but does not know it yet.
    world.nodes["dev-a"].stop(signal.SIGKILL)
    world.nodes["dev-a"] = start(world.a, world.root)
    sent = random_file(world.root / "after-restart.bin", 500_000)
    started = time.monotonic()
    done = world.b.run("--json", "drop", "send", "dev-a", str(sent), "--library", "Home",
                       check=False)  # fmt: skip
    assert done.code == 0, done.err
    assert time.monotonic() - started < 15
    assert (world.inbox() / "after-restart.bin").read_bytes() == sent.read_bytes()


@pytest.mark.hostile("M8")
def test_a_receiver_back_at_another_address_is_reached_despite_a_dead_connection(
    world: World,
) -> None:
    # C's offer waits on A; A is killed, and its ports are taken meanwhile: it comes back on
    # others, and C's connection to it is dead without knowing it.
    waiting, _ = _offer_from_c(world, random_file(world.root / "before.bin", 1000))
    node = world.nodes["dev-a"]
    assert node.proc is not None
    ports = [c.laddr for c in psutil.Process(node.proc.pid).net_connections("udp")]
    node.stop(signal.SIGKILL)
    squatters = []
    for ip, port in ports:
        squatter = socket.socket(
            socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_DGRAM
        )
        squatter.bind((ip, port))
        squatters.append(squatter)
    try:
        world.nodes["dev-a"] = start(world.a, world.root)
        address = world.a.json("node", "status")["network"]["addresses"][0]
        assert address != world.a_address
        sent = random_file(world.root / "to-new-address.bin", 1000)
        started = time.monotonic()
        sending = world.c.popen(
            "--json", "drop", "send", "--to", world.a_id, "--address", address, str(sent),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            until(lambda: any(r["files"][0]["name"] == sent.name for r in _pending(world)),
                  15, "C's offer to A's new address waiting on A")  # fmt: skip
            assert sending.poll() is None, sending.communicate()
        finally:
            sending.kill()
            waiting.kill()
            sending.communicate()
            waiting.communicate()
        assert time.monotonic() - started < 15
        for row in _pending(world):
            world.a.json("drop", "reject", row["id"])
    finally:
        for squatter in squatters:
            squatter.close()
    world.a_address = address


# -- a receiver whose disk is small -------------------------------------------------------------


@dataclass
class Tiny:
    """T: a device paired with nobody, its data directory on an 8 MiB tmpfs."""

    sd: Sd
    id: str
    address: str

    def inbox(self) -> Path:
        (found,) = (self.sd.data_dir / "libraries").glob("*.sdlibrary")
        return found / "inbox"

    def leftovers(self) -> list[str]:
        inbox = self.inbox()
        return [p.name for p in inbox.iterdir()] if inbox.exists() else []


@pytest.fixture
def tiny(world: World) -> Iterator[Tiny]:
    mount = world.root / f"tmpfs-{time.monotonic_ns()}"
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount)],
        capture_output=True, text=True,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    node = None
    try:
        t = data_dir(mount, "dev-t")
        t.run("library", "create", "Tiny")
        node = start(t, world.root)
        network = t.json("node", "status")["network"]
        yield Tiny(t, network["device"], network["addresses"][0])
    finally:
        if node is not None:
            node.kill_if_running()
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _drop_to_tiny(world: World, tiny: Tiny, path: Path) -> tuple[int, str]:
    """C offers ``path`` to T, whose user accepts it if asked: C's exit code and stderr."""
    sending = world.c.popen(
        "--json", "drop", "send", "--to", tiny.id, "--address", tiny.address, str(path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    until(lambda: sending.poll() is not None or _pending(world, tiny.sd), 20, "C's offer answered")
    for row in _pending(world, tiny.sd):
        tiny.sd.run("drop", "accept", row["id"], check=False)
    _, err = sending.communicate(timeout=60)
    return sending.returncode, err


@pytest.mark.hostile("L3")
def test_a_drop_larger_than_the_free_space_is_refused_and_the_sender_says_why(
    world: World, tiny: Tiny
) -> None:
    code, err = _drop_to_tiny(world, tiny, random_file(world.root / "too-big.bin", 20 << 20))
    assert code == 1, err
    assert "not enough free space" in err
    # T's user sees what was refused, and why.
    (row,) = tiny.sd.json("drop", "list")
    assert row["state"] == "rejected" and "not enough free space" in row["reason"]
    assert tiny.leftovers() == []


def _take_the_disk_once_a_file_arrives(inbox: Path, hog: Path, stop: threading.Event) -> None:
    """As soon as a partial in ``inbox`` holds a byte, take every byte left on its disk."""
    while not stop.is_set():
        try:
            arriving = [p for p in inbox.iterdir() if p.name.startswith(".sd-partial-")]
            if arriving and arriving[0].stat().st_size:
                break
        except FileNotFoundError:
            pass
        time.sleep(0.001)
    else:
        return
    fd = os.open(hog, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        left = os.statvfs(inbox).f_bavail * os.statvfs(inbox).f_frsize
        while left > 0:
            try:
                os.posix_fallocate(fd, os.fstat(fd).st_size, left)
            except OSError:
                left //= 2
    finally:
        os.close(fd)


@pytest.mark.hostile("L3")
def test_a_disk_filling_up_midway_fails_the_drop_on_both_sides_and_frees_the_partial(
    world: World, tiny: Tiny
) -> None:
    sent = random_file(world.root / "fills-up.bin", 5 << 20)
    hog = tiny.sd.data_dir.parent / "hog"
    stop = threading.Event()
    hogging = threading.Thread(
        target=_take_the_disk_once_a_file_arrives, args=(tiny.inbox(), hog, stop)
    )
    hogging.start()
    try:
        code, err = _drop_to_tiny(world, tiny, sent)
    finally:
        stop.set()
        hogging.join()
    assert hog.exists(), "the file did not start arriving"
    assert code == 1, err
    assert "no space left" in err
    hog.unlink()
    (row,) = [r for r in tiny.sd.json("drop", "list") if r["files"][0]["name"] == sent.name]
    assert row["state"] == "failed" and "no space left" in row["reason"]
    assert tiny.leftovers() == []


def test_accepting_with_no_room_left_fails_and_the_offer_waits_for_room(
    world: World, tiny: Tiny
) -> None:
    sent = random_file(world.root / "later.bin", 3 << 20)
    sending = world.c.popen(
        "--json", "drop", "send", "--to", tiny.id, "--address", tiny.address, str(sent),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        until(lambda: _pending(world, tiny.sd), 20, "C's offer waiting on T")
        (offer,) = _pending(world, tiny.sd)
        # The disk fills up meanwhile.
        filler = tiny.sd.data_dir.parent / "filler"
        filler.write_bytes(b"\0" * (5 << 20))
        err = tiny.sd.fails("drop", "accept", offer["id"]).err
        assert "not enough free space" in err and "accept it again" in err
        assert [r["id"] for r in _pending(world, tiny.sd)] == [offer["id"]]
        filler.unlink()
        assert tiny.sd.json("drop", "accept", offer["id"])["state"] == "done"
        _, err = sending.communicate(timeout=30)
        assert sending.returncode == 0, err
    finally:
        sending.kill()
    assert (tiny.inbox() / "later.bin").read_bytes() == sent.read_bytes()


@pytest.mark.hostile("L2")
def test_offers_from_strangers_hold_bounded_memory_and_those_past_the_limits_are_refused(
    world: World,
) -> None:
    r = data_dir(world.root, f"dev-r-{time.monotonic_ns()}")
    r.run("library", "create", "Popular")
    node = start(r, world.root)
    try:
        assert node.proc is not None
        receiver = psutil.Process(node.proc.pid)
        network = r.json("node", "status")["network"]
        target, addresses = bytes.fromhex(network["device"]), network["addresses"]

        def rss() -> int:
            return receiver.memory_info().rss >> 20

        before = rss()
        # A stranger makes 4 offers at once, of 10,000 files under 200-byte names (2.4 MB
        # each on the wire), and leaves them waiting: one too many from one device.
        (answers,), _ = offer_many(target, addresses, 1, 4, 10_000, 200, rss)
        assert sorted(next(iter(a)) for a in answers) == ["pending"] * 3 + ["refused"]
        one_device = f"{PENDING_PER_DEVICE} offers from this device are waiting there already"
        assert [a["refused"] for a in answers if "refused" in a] == [one_device]
        # 6 more strangers do the same: what the offers waiting hold is bounded, and so is
        # how many are read at once.
        full = "too many offers are waiting there already (their lists of files fill it)"
        answers, first = offer_many(target, addresses, 6, 4, 10_000, 200, rss)
        waiting = [[a for a in mine if "pending" in a] for mine in answers]
        assert all(len(mine) <= PENDING_PER_DEVICE for mine in waiting), answers
        why = {a["refused"] for mine in answers for a in mine if "refused" in a}
        assert full in why and why <= {full, BUSY, one_device}, why
        # As many again: all refused, since the first ones still wait.
        answers, _ = offer_many(target, addresses, 6, 4, 10_000, 200, rss)
        assert all("refused" in a for mine in answers for a in mine), answers
        why |= {a["refused"] for mine in answers for a in mine}
        assert why <= {full, BUSY, one_device} and BUSY in why, why
        # Twice more: still refused.
        answers, third = offer_many(target, addresses, 6, 4, 10_000, 200, rss)
        assert all("refused" in a for mine in answers for a in mine), answers
        # Past what the offers waiting hold, the receiver's growth is what the allocators
        # keep of the offers read (iroh's buffers, the decoding): reused by the next ones,
        # not added to. One round's growth varies by tens of MiB with the allocator's arenas
        # (measured: -7 to +38); two rounds of 24 refused offers (2.4 MB each on the wire)
        # kept would add well over 100.
        assert first - before < 120, f"the receiver grew by {first - before} MiB"
        assert third - first < 60, f"and by {third - first} MiB more over two more rounds"
    finally:
        node.kill_if_running()
