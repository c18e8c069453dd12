"""A device whose clock is far ahead: it still wins last-writer-wins (convergence needs one
order everywhere), but it pulls no other device's clock further than ``MAX_AHEAD_MS``, it is
shown as ahead by ``sd device list`` and ``sd sync status``, and a change that loses to it
says so. The device two days ahead is a real data directory whose processes run with
``SD_TEST_CLOCK_OFFSET_S`` (the tests' clock injection point)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from events.clock import MAX_AHEAD_MS, TEST_OFFSET_ENV, hlc_ms
from tests.conftest import Sd
from tests.helpers_cluster import Peer, device, pair, running, until
from tests.helpers_log import device_of, pair_offline

TWO_DAYS_S = 48 * 3600
TWO_DAYS_MS = TWO_DAYS_S * 1000
# Exit status of a change that was recorded but loses to a later one (README, Errors).
OVERRIDDEN = 3


def ahead_device(tmp_path: Path, name: str) -> Sd:
    sd = device(tmp_path, name)
    sd.env[TEST_OFFSET_ENV] = str(TWO_DAYS_S)
    return sd


def _own_id(sd: Sd) -> str:
    (me,) = [d for d in sd.json("device", "list") if d["this_device"]]
    return me["device"]


def last_own_hlc(sd: Sd) -> int:
    mine = _own_id(sd)
    return max(ev["hlc"] for ev in sd.json_lines("log", "show") if ev["device"] == mine)


@pytest.mark.hostile("M12")
def test_a_device_two_days_ahead_wins_but_says_so_and_drags_no_clock(tmp_path: Path) -> None:
    ash, fast = device(tmp_path, "ash"), ahead_device(tmp_path, "fast")
    ash.json("library", "create", "Home")
    pair_offline(ash.data_dir, device_of(fast.data_dir), "fast")  # ash, the admin, pairs fast
    ash.json("tag", "create", "red")
    ash.run("log", "export", str(tmp_path / "ash.sdlog"))
    fast.json("log", "import", str(tmp_path / "ash.sdlog"))
    fast.json("tag", "rename", "red", "crimson")
    fast.run("log", "export", str(tmp_path / "fast.sdlog"))
    ash.json("log", "import", str(tmp_path / "fast.sdlog"))
    fast_id = _own_id(fast)

    # The rename loses to the change stamped two days ahead: recorded, and said so.
    lost = ash.run("tag", "rename", "crimson", "scarlet", check=False)
    assert lost.code == OVERRIDDEN, (lost.code, lost.out, lost.err)
    message = (lost.out + lost.err).strip()
    assert "recorded" in message and "later change from fast" in message, message
    assert "clock is ahead by 2d" in message and "crimson" in message, message
    as_json = ash.run(
        "--json", "tag", "rename", "crimson", "scarlet", "--color", "red", check=False
    )
    assert as_json.code == OVERRIDDEN
    (overridden,) = as_json.json()["overridden"]
    assert overridden["field"] == "name" and overridden["kept"] == "crimson"
    assert overridden["device"] == fast_id and overridden["name"] == "fast"
    assert overridden["clock_ahead_ms"] > TWO_DAYS_MS - 600_000
    assert [t["name"] for t in ash.json("tag", "list")] == ["crimson"]
    assert ash.json("tag", "list")[0]["color"] == "red", "the recolor did not lose: it holds"

    # This device's clock was not dragged two days ahead, in this process or the next.
    ash.json("tag", "create", "blue")
    assert hlc_ms(last_own_hlc(ash)) - time.time() * 1000 < MAX_AHEAD_MS + 60_000

    # Both lists show the device ahead; this one is not.
    rows = {d["name"]: d for d in ash.json("device", "list")}
    assert rows["fast"]["clock_ahead_ms"] > TWO_DAYS_MS - 600_000
    assert rows["ash"]["clock_ahead_ms"] is None
    assert "clock ahead by 2d" in ash.run("device", "list").out

    # Restarted with a correct clock, the device ahead keeps its own order: its next event is
    # later than its last one, and it shows itself as ahead.
    before = last_own_hlc(fast)
    fast.env.pop(TEST_OFFSET_ENV)
    fast.json("log", "import", str(tmp_path / "ash.sdlog"))
    fast.json("tag", "create", "green")
    assert last_own_hlc(fast) > before
    (me,) = [d for d in fast.json("device", "list") if d["this_device"]]
    assert me["clock_ahead_ms"] > TWO_DAYS_MS - 600_000


@pytest.mark.slow
@pytest.mark.hostile("M12")
def test_sync_status_shows_a_peer_whose_clock_is_ahead(tmp_path: Path) -> None:
    ash, fast = device(tmp_path, "ash"), ahead_device(tmp_path, "fast")
    ash.json("library", "create", "Home")
    peers = Peer(ash, tmp_path / "ash.log"), Peer(fast, tmp_path / "fast.log", fast.env)
    with running(*peers):
        pair(ash, fast)
        fast.json("tag", "create", "late")
        until(lambda: [t["name"] for t in ash.json("tag", "list")] == ["late"], 30, "the tag")
        (row,) = ash.json("sync", "status")
        assert row["clock_ahead_ms"] > TWO_DAYS_MS - 600_000
        assert "clock ahead by 2d" in ash.run("sync", "status").out
        # ash's own new events are stamped by its own clock, not two days ahead.
        ash.json("tag", "create", "early")
        assert hlc_ms(last_own_hlc(ash)) - time.time() * 1000 < MAX_AHEAD_MS + 60_000
