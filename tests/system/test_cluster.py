"""Ten devices, each a real ``sd node run`` in a network namespace of its own, sharing one
library over a network that loses 30% of what it carries; cut in two while both sides write;
healed, after which every device must show the same digest and every acknowledged write."""

from __future__ import annotations

import random
from contextlib import ExitStack
from functools import partial
from pathlib import Path

import pytest

# tools/cluster.py (tests/system/conftest.py puts tools/ on the path)
from cluster import Net, agree, pair_all, partition_round, problems, started

from tests.conftest import Sd
from tests.helpers_cluster import Peer, device, until
from tests.system.conftest import SIZE

pytestmark = pytest.mark.slow

LOSS = 0.3
# Seconds for the joins, and for the devices to agree after the heal (lossy: QUIC resends).
JOINED_WITHIN_S = 60.0
AGREED_WITHIN_S = 30.0


def serving(peer: Peer) -> bool:
    assert peer.proc is not None and peer.proc.poll() is None, peer.tail()
    return started(peer.sd.data_dir)


def known_addresses(sd: Sd) -> dict[str, list[str]]:
    """Where ``sd sync status`` says each peer listens (hosts only: the ports are chosen)."""
    return {
        row["name"]: [a.rpartition(":")[0] for a in row["addresses"]]
        for row in sd.json("sync", "status")
    }


def test_ten_devices_agree_after_a_partition_heals_under_loss(tmp_path: Path, net: Net) -> None:
    devices = [device(tmp_path, f"d{i}", net.bind(i)) for i in range(SIZE)]
    devices[0].json("library", "create", "Home")
    peers = [Peer(sd, tmp_path / f"d{i}.log", prefix=net.prefix(i)) for i, sd in enumerate(devices)]
    with ExitStack() as stack:
        for peer in peers:
            stack.callback(peer.kill_if_running)
            peer.launch()
        for peer in peers:
            until(partial(serving, peer), 60, f"the node of {peer.sd.data_dir.name} serving")
        pair_all(devices, JOINED_WITHIN_S)
        until(lambda: agree(devices, set()), AGREED_WITHIN_S, "every device holds the library")
        # Each node listens at its namespace's address, and the first knows it there (once
        # its sync has followed the device events it just folded).
        wanted = {f"d{i}": [net.addresses[i]] for i in range(1, SIZE)}
        until(lambda: known_addresses(devices[0]) == wanted, 10, "d0 knows every address")

        net.set_loss(LOSS)
        done = partition_round(
            net,
            devices,
            random.Random(14),
            "split",
            writes=4,
            hold_s=2.0,
            within=AGREED_WITHIN_S,
            # What a user would type on one device once the network is back.
            wake=lambda: devices[0].run("sync", "now"),
        )
        # The cut was real: no write crossed it while it held.
        assert done.crossed == [], done.crossed
        assert done.seconds is not None, f"no agreement within {AGREED_WITHIN_S} s of the heal"
        assert problems(devices, done.acked) == []
        assert len(devices[0].json("device", "list")) == SIZE
