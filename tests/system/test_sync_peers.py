"""Who may sync a library, and what a paired device may not do: an unpaired device, an
expired or reused ticket, a revoked device, and a paired device that sends a tampered, a
foreign or a malformed event. Real nodes on 127.0.0.1; the hostile peer is
``tests/hostile_sync.py``, speaking the protocol by hand."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from events.domain import CATALOG
from events.domain.tags import TagCreated
from events.keys import DeviceKey
from tests.conftest import Sd
from tests.helpers_cluster import Peer, device, in_sync, pair, running, until
from tests.helpers_log import next_events
from tests.hostile_sync import offer

pytestmark = pytest.mark.slow


def _address(sd: Sd) -> tuple[bytes, list[str]]:
    network = sd.json("node", "status")["network"]
    return bytes.fromhex(network["device"]), network["addresses"]


def _library(sd: Sd) -> tuple[bytes, Path]:
    info = sd.json("library", "info")
    return bytes.fromhex(info["id"]), Path(info["path"])


def _next_events(sd: Sd, library: bytes, count: int, other_library: bytes | None = None) -> list:
    """The next ``count`` events of ``sd``'s device in ``library``, properly signed (its
    node must be stopped); with ``other_library``, keyed for that library instead."""
    _id, path = _library(sd)
    drafts = [CATALOG.body(TagCreated(bytes([i]) * 16, f"forged-{i}", None)) for i in range(count)]
    return next_events(sd.data_dir, path, other_library or library, drafts)


def _events_of(sd: Sd, dev: bytes) -> int:
    found = {d["device"]: d["seq"] for d in sd.json("library", "info")["devices"]}
    return found.get(dev.hex(), 0)


def test_only_paired_unrevoked_devices_sync_and_bad_events_write_nothing(tmp_path: Path) -> None:
    a, b, c = (device(tmp_path, n) for n in ("ash", "birch", "cedar"))
    a.json("library", "create", "Home")
    pa, pb, pc = (Peer(sd, tmp_path / f"{sd.data_dir.name}.log") for sd in (a, b, c))
    with running(pa, pb, pc):
        target, addresses = _address(a)
        library, _ = _library(a)

        # Tickets: one use only; an expired one is refused before anything is sent.
        ticket = a.json("pair", "invite")["ticket"]
        assert b.json("pair", "join", ticket)["created"] is True
        reused = c.fails("pair", "join", ticket).err
        assert "already used" in reused and reused.count("\n") == 1, reused
        short = a.json("pair", "invite", "--expires", "1s")["ticket"]
        time.sleep(1.2)
        assert "expired" in c.fails("pair", "join", short).err
        assert "not a pairing ticket" in c.fails("pair", "join", "sdpair1garbage").err
        assert c.json("library", "list") == []

        # Paused on one side: both say why, nothing flows until resumed.
        until(lambda: in_sync(a, b), 30, "birch in sync")
        assert a.json("sync", "pause", "birch")["paused"] is True
        a.json("tag", "create", "while-paused")

        def reason_of(sd: Sd, name: str) -> str:
            row = next(s for s in sd.json("sync", "status") if s["name"] == name)
            return "" if row["connected"] else row["reason"] or ""

        until(lambda: "paused on this device" in reason_of(a, "birch"), 10, "ash says paused")
        until(lambda: "paused" in reason_of(b, "ash"), 30, "birch told ash paused")
        assert "while-paused" not in {t["name"] for t in b.json("tag", "list")}
        a.json("sync", "resume")
        until(lambda: in_sync(a, b), 30, "birch in sync after resume")

        # An unpaired device is refused at the door, and the refusal is logged.
        stranger = offer(DeviceKey.generate().secret_bytes(), target, addresses, library, {})
        assert stranger["answer"]["code"] == "unauthorized"
        assert pa.log_records("sync_refused")

        # A paired device that turns hostile: cedar pairs, then its key sends by hand.
        pair(a, c)
        until(lambda: in_sync(a, c), 30, "cedar in sync")
        cedar = bytes.fromhex(c.json("node", "status")["network"]["device"])
        pc.stop()
        held = _events_of(a, cedar)
        vector = {
            bytes.fromhex(d["device"]): d["seq"] for d in a.json("library", "info")["devices"]
        }
        secret = (c.data_dir / "device.key").read_bytes()
        good, bad = _next_events(c, library, 2)
        tampered = bytearray(bad.data)
        tampered[-40] ^= 1
        foreign = _next_events(c, library, 1, other_library=b"\x07" * 16)[0]
        cases = {
            "tampered": [{"ev": [[good.data, None], [bytes(tampered), bad.sig]], "upto": {}}],
            "foreign": [{"ev": [[foreign.data, foreign.sig]], "upto": {}}],
            "malformed frame": [b"\x00\x00\x00\x03\xc1\xc1\xc1"],
            "not a list": [{"ev": {"x": 1}, "upto": {}}],
        }
        for what, frames in cases.items():
            result = offer(secret, target, addresses, library, vector, frames)
            assert "vec" in result["answer"], (what, result)
            assert result["dropped"], what
            assert _events_of(a, cedar) == held, what
        refusals = pa.log_records("sync_batch_refused")
        assert len(refusals) == 2 and all(r["device"] == cedar.hex() for r in refusals)
        row = next(s for s in a.json("sync", "status") if s["device"] == cedar.hex())
        assert row["reason"] and not row["connected"]
        assert a.run("log", "verify", check=False).code == 0

        # Revoked: birch is refused from then on, and gets nothing new.
        birch = next(d for d in a.json("device", "list") if d["name"] == "birch")
        assert a.json("device", "revoke", "birch")["revoked"] is True
        a.json("tag", "create", "after-revocation")

        def birch_refused() -> bool:
            row = next(s for s in b.json("sync", "status") if s["name"] == "ash")
            return not row["connected"] and "revoked" in (row["reason"] or "")

        until(birch_refused, 30, "birch told it is revoked")
        assert "after-revocation" not in {t["name"] for t in b.json("tag", "list")}
        assert next(d for d in a.json("device", "list") if d["device"] == birch["device"])[
            "revoked"
        ]
        assert "cannot revoke itself" in a.fails("device", "revoke", "ash").err
