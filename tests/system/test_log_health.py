"""A log that lost events, or that ``sd log verify`` found damaged, is never written to: the
user is told how to restore it, and ``sd log restore`` does, keeping the old log."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Sd
from tests.helpers_cluster import Peer, device, in_sync, pair, running, until
from tests.helpers_log import device_of, library_dirs, pair_offline


def _home(sd: Sd, tmp_path: Path) -> tuple[Path, Path, list[dict]]:
    sd.run("library", "create", "Home")
    for name in ("one", "two", "three"):
        sd.run("tag", "create", name)
    backup = tmp_path / "backup.sdlog"
    sd.run("log", "export", str(backup))
    (lib_dir,) = library_dirs(sd.data_dir)
    return lib_dir, backup, sd.json("tag", "list")


def _checkpoint(lib_dir: Path) -> int:
    import sqlite3

    db = sqlite3.connect(lib_dir / "index.db")
    try:
        return int(db.execute("SELECT value FROM _meta WHERE key = 'checkpoint'").fetchone()[0])
    finally:
        db.close()


@pytest.mark.parametrize("how", ["emptied", "deleted"])
def test_a_lost_log_is_refused_then_restored(sd: Sd, tmp_path: Path, how: str) -> None:
    lib_dir, backup, tags = _home(sd, tmp_path)
    folded = _checkpoint(lib_dir)
    for suffix in ("", "-wal", "-shm"):
        path = lib_dir / f"events.db{suffix}"
        if how == "deleted" or suffix:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(b"")
    for args in (["tag", "list"], ["tag", "create", "four"], ["stats"]):
        line = sd.fails(*args).err.strip()
        assert "\n" not in line and f"holds 0 events but its index has folded {folded}" in line
        assert "sd log restore FILE" in line
    assert _checkpoint(lib_dir) == folded, "the index must not be folded into an empty log"
    restored = sd.json("log", "restore", str(backup))
    assert restored["accepted"] == folded
    assert sd.json("tag", "list") == tags
    sd.run("tag", "create", "four")
    # The device's chain carries on where it was: a peer holding the old events takes the new.
    peer = Sd(tmp_path / "peer")
    peer.run("log", "import", str(backup))
    sd.run("log", "export", str(tmp_path / "after.sdlog"))
    merged = peer.json("log", "import", str(tmp_path / "after.sdlog"))
    # The tag and its action's two records.
    assert merged["accepted"] == 3 and merged["skipped"] == folded


def test_a_damaged_log_refuses_writes_until_restored(sd: Sd, tmp_path: Path) -> None:
    lib_dir, backup, tags = _home(sd, tmp_path)
    raw = bytearray((lib_dir / "events.db").read_bytes())
    at = raw.find(b"two")
    raw[at] ^= 0x01
    (lib_dir / "events.db").write_bytes(bytes(raw))
    assert sd.run("log", "verify", check=False).code == 1
    line = sd.fails("tag", "create", "four").err.strip()
    assert "\n" not in line and "is damaged (1 problem(s)" in line
    assert "sd log restore FILE" in line and "sd log verify" in line
    assert sd.json("tag", "list") == tags  # reading is still allowed
    restored = sd.json("log", "restore", str(backup))
    kept = Path(restored["kept"])
    assert kept.parent == lib_dir and kept.name.startswith("events.db.replaced-")
    assert kept.read_bytes() == bytes(raw), "the damaged log is kept, as it was"
    assert sd.json("log", "verify")["ok"]
    sd.run("tag", "create", "four")
    assert sorted(t["name"] for t in sd.json("tag", "list")) == ["four", "one", "three", "two"]


def test_restore_refuses_a_forged_export_and_changes_nothing(sd: Sd, tmp_path: Path) -> None:
    lib_dir, backup, _ = _home(sd, tmp_path)
    raw = bytearray(backup.read_bytes())
    raw[raw.find(b"three")] ^= 0x01
    forged = tmp_path / "forged.sdlog"
    forged.write_bytes(bytes(raw))
    before = (lib_dir / "events.db").read_bytes()
    sd.fails("log", "restore", str(forged))
    assert (lib_dir / "events.db").read_bytes() == before
    assert not [p for p in os.listdir(lib_dir) if "restore" in p or "replaced" in p]


@pytest.mark.slow
@pytest.mark.hostile("M15")
def test_a_restored_device_fetches_its_own_later_events_before_it_writes(tmp_path: Path) -> None:
    """Restoring an older export of this device's own log drops events a peer holds: refused
    without --force; forced, the device's next write waits until the peer sent them back,
    so its chain goes on after them and the peer keeps accepting it."""
    ash, birch = device(tmp_path, "ash"), device(tmp_path, "birch")
    ash.json("library", "create", "Home")
    ash.json("tag", "create", "one")
    old = tmp_path / "old.sdlog"
    ash.run("log", "export", str(old))
    ash_node, birch_node = Peer(ash, tmp_path / "ash.log"), Peer(birch, tmp_path / "birch.log")
    with running(ash_node, birch_node):
        pair(ash, birch)
        ash.json("tag", "create", "two")
        ash.json("tag", "create", "three")
        until(lambda: in_sync(ash, birch), 30, "birch holding ash's events")
        own = _own_seq(ash)
        ash_node.stop()
        birch_node.stop()

        refused = ash.fails("log", "restore", str(old)).err.strip()
        assert "\n" not in refused and "--force" in refused, refused
        dropped = own - _own_seq_in(old, ash)
        assert f"would drop {dropped} of this device's own events" in refused, refused
        assert "peers may already hold" in refused
        restored = ash.json("log", "restore", str(old), "--force")
        assert restored["awaiting_peers"]
        # Without a node nothing can bring them back: a write is refused at once.
        line = ash.fails("tag", "create", "four").err.strip()
        assert "\n" not in line and "restored from an older copy" in line, line

        ash_node.start()
        write = ash.popen("--json", "tag", "create", "four", stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(2)
            assert write.poll() is None, "the write must wait for a peer"
            birch_node.start()
            out, _ = write.communicate(timeout=40)
        finally:
            if write.poll() is None:
                write.kill()
        assert write.returncode == 0, out
        assert sorted(t["name"] for t in ash.json("tag", "list")) == ["four", "one", "three", "two"]
        until(lambda: in_sync(ash, birch), 30, "birch taking ash's new events")
        assert "four" in {t["name"] for t in birch.json("tag", "list")}
        for one in (ash, birch):
            (row,) = one.json("sync", "status")
            assert row["connected"] and row["reason"] is None, row
        assert birch.json("log", "verify")["ok"]


def _own_seq(sd: Sd) -> int:
    me = sd.json("node", "status")["network"]["device"]
    return {d["device"]: d["seq"] for d in sd.json("library", "info")["devices"]}[me]


def _own_seq_in(export: Path, sd: Sd) -> int:
    from events.envelope import ZERO_ID, decode
    from events.exportfile import ExportReader
    from events.keys import DeviceKey

    me = DeviceKey((sd.data_dir / "device.key").read_bytes()).public
    with open(export, "rb") as fh:
        return sum(decode(data, ZERO_ID).device == me for data, _sig in ExportReader(fh).records())


@pytest.mark.hostile("M15")
def test_after_a_forced_restore_writes_wait_until_the_loss_is_accepted(tmp_path: Path) -> None:
    """No node, so no peer can send the dropped events back: writes are refused in one line
    until 'sd log accept-loss' (for when no peer holds them)."""
    ash, birch = Sd(tmp_path / "ash"), Sd(tmp_path / "birch")
    ash.json("library", "create", "Home")
    pair_offline(ash.data_dir, device_of(birch.data_dir), "birch")
    ash.run("log", "export", str(tmp_path / "ash.sdlog"))
    birch.json("log", "import", str(tmp_path / "ash.sdlog"))
    birch.json("tag", "create", "birch's")
    birch.run("log", "export", str(tmp_path / "birch.sdlog"))
    ash.json("log", "import", str(tmp_path / "birch.sdlog"))
    old = tmp_path / "old.sdlog"
    ash.run("log", "export", str(old))
    ash.json("tag", "create", "later")
    assert "--force" in ash.fails("log", "restore", str(old)).err
    assert ash.json("log", "restore", str(old), "--force")["awaiting_peers"]
    assert "restored from an older copy" in ash.fails("tag", "create", "new").err
    assert ash.json("log", "accept-loss") == {"was_waiting": True}
    ash.json("tag", "create", "new")
    assert sorted(t["name"] for t in ash.json("tag", "list")) == ["birch's", "new"]
