"""Hybrid logical clock: wall-clock milliseconds in the high bits, a counter in the low 16.

It gives every event a time that is close to the wall clock yet never goes backwards, even when
the wall clock does, and that is greater than every time this device has seen from others
(within ``MAX_AHEAD_MS`` of its own wall clock), so last-writer-wins on ``(hlc, device)``
respects causality between devices whose clocks roughly agree.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Mapping

from events.errors import ClockError

COUNTER_BITS = 16
# SQLite integers are signed 64-bit: an hlc must fit (wall clock before the year 6429).
MAX_HLC = (1 << 63) - 1
# How far another device's clock may pull this one ahead of its own wall clock. Adopting a
# peer's later time is what makes a change made after seeing another one win over it; but a
# peer whose clock is wrong by days would drag every device's timestamps days ahead, and
# since this device's own timestamps must keep increasing, they would stay there for good.
# Clocks kept by NTP agree within seconds; five minutes covers a device that went without
# it for a while, and bounds what one bad clock can do to the others. A peer further ahead
# still wins last-writer-wins (every device must order events alike), but it is shown as
# ahead (``sd device list``, ``sd sync status``) and a change that loses to it says so.
MAX_AHEAD_MS = 5 * 60 * 1000

# For tests only: shifts this process's wall clock by that many seconds (negative: behind),
# so a test can run a device whose clock is wrong. Nothing else may set it.
TEST_OFFSET_ENV = "SD_TEST_CLOCK_OFFSET_S"
_OFFSET_NS = int(float(os.environ.get(TEST_OFFSET_ENV) or 0) * 1e9)


def wall_ms() -> int:
    return (time.time_ns() + _OFFSET_NS) // 1_000_000


def hlc_ms(hlc: int) -> int:
    """The wall-clock part of an hlc, in milliseconds since the epoch."""
    return hlc >> COUNTER_BITS


def ahead_ms(hlc: int, wall: int | None = None) -> int | None:
    """How far ``hlc`` is ahead of this device's wall clock, when that is more than
    ``MAX_AHEAD_MS`` (a clock to show as wrong); None otherwise."""
    ahead = hlc_ms(hlc) - (wall_ms() if wall is None else wall)
    return ahead if ahead > MAX_AHEAD_MS else None


def clocks_ahead(last_hlcs: Mapping[bytes, int]) -> dict[bytes, int]:
    """The devices whose last event is stamped further ahead of this wall clock than
    ``MAX_AHEAD_MS``, and by how much (ms)."""
    wall = wall_ms()
    found = {device: ahead_ms(hlc, wall) for device, hlc in last_hlcs.items()}
    return {device: ms for device, ms in found.items() if ms is not None}


class HybridClock:
    """Not thread-safe: one clock belongs to one writer (the Journal).

    ``last`` is the last timestamp this device's own events used (0 for none): whatever the
    wall clock says, the next is later, so one device's events are in time order.
    """

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
        """Take a timestamp seen on another device into account, as far as the wall clock
        plus ``MAX_AHEAD_MS``: a peer further ahead pulls this clock no further than that."""
        if remote <= self.last or remote > MAX_HLC:
            return
        ceiling = (self._wall() + MAX_AHEAD_MS) << COUNTER_BITS
        self.last = max(self.last, min(remote, ceiling))

    def follow_own(self, own: int) -> None:
        """This device's own last timestamp (its events came back from a peer after a
        restore): the next must be later, however far ahead it was."""
        self.last = max(self.last, own)
