"""Hybrid logical clock: wall-clock milliseconds in the high bits, a counter in the low 16.

It gives every event a time that is close to the wall clock yet never goes backwards, even when
the wall clock does, and that is greater than every time this device has seen from others, so
last-writer-wins on ``(hlc, device)`` respects causality.
"""

from __future__ import annotations

import time
from typing import Callable

from events.errors import ClockError

COUNTER_BITS = 16
# SQLite integers are signed 64-bit: an hlc must fit (wall clock before the year 6429).
MAX_HLC = (1 << 63) - 1
# A peer's clock this far ahead of ours is not adopted: one bad clock must not drag every
# device's timestamps into the future for good. Its events are still accepted.
MAX_FORWARD_DRIFT_MS = 24 * 3600 * 1000


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def hlc_ms(hlc: int) -> int:
    """The wall-clock part of an hlc, in milliseconds since the epoch."""
    return hlc >> COUNTER_BITS


class HybridClock:
    """Not thread-safe: one clock belongs to one writer (the Journal)."""

    def __init__(self, last: int = 0, wall: Callable[[], int] = wall_ms) -> None:
        self._wall = wall
        self.last = last

    def now(self) -> int:
        """A new timestamp, strictly greater than any returned or observed before."""
        physical = self._wall() << COUNTER_BITS
        last = physical if physical > self.last else self.last + 1
        if last > MAX_HLC:
            raise ClockError(
                f"the system clock reads {self._wall()} ms since 1970, past what timestamps "
                "can hold; set the clock right"
            )
        self.last = last
        return last

    def reserve(self, count: int) -> int:
        """The first of ``count`` consecutive new timestamps (one wall-clock read for a batch)."""
        first = self.now()
        self.last = first + max(count, 1) - 1
        return first

    def observe(self, remote: int) -> None:
        """Take a timestamp seen on another device into account."""
        if remote <= self.last or remote > MAX_HLC:
            return
        if hlc_ms(remote) - self._wall() > MAX_FORWARD_DRIFT_MS:
            return
        self.last = remote
