"""Devices in network namespaces this run makes: skipped, saying why, where it cannot."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from cluster import Net, Unavailable  # noqa: E402

# Ten devices: as many as the suite's share of a minute allows on two cores.
SIZE = 10


@pytest.fixture
def net() -> Iterator[Net]:
    """Ten namespaces on one bridge, removed afterwards whatever happened."""
    made = Net(SIZE)
    try:
        made.up()
    except Unavailable as exc:
        made.down()
        pytest.skip(f"no network namespaces for the cluster here: {exc}")
    try:
        yield made
    finally:
        made.down()
