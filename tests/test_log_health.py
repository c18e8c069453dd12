"""A log that lost events, or that ``sd log verify`` found damaged, is never written to: the
user is told how to restore it, and ``sd log restore`` does, keeping the old log."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Sd
from tests.helpers_log import library_dirs


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
