"""The hybrid logical clock: never backwards, whatever the wall clock or the peers do."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.clock import COUNTER_BITS, MAX_AHEAD_MS, MAX_HLC, HybridClock, hlc_ms
from events.errors import ClockError
from tests.conftest import examples

BASE_MS = 1_700_000_000_000


@dataclass
class Wall:
    """A wall clock the test moves by hand, forwards and backwards."""

    ms: int

    def __call__(self) -> int:
        return self.ms


steps = st.one_of(
    st.tuples(st.just("jump"), st.integers(min_value=-(10**9), max_value=10**9)),
    st.tuples(st.just("now"), st.just(0)),
    st.tuples(st.just("reserve"), st.integers(min_value=0, max_value=5000)),
    st.tuples(
        st.just("observe"),
        st.integers(min_value=0, max_value=(BASE_MS + 10**9) << COUNTER_BITS),
    ),
    # Peers near our own time: the interesting case for causality.
    st.tuples(st.just("observe_near"), st.integers(min_value=-(10**7), max_value=10**7)),
)


@settings(max_examples=examples(300), deadline=None)
@given(start=st.integers(min_value=0, max_value=2 * BASE_MS), script=st.lists(steps, max_size=60))
def test_clock_is_strictly_monotonic_under_any_wall_and_observations(
    start: int, script: list[tuple[str, int]]
) -> None:
    wall = Wall(start)
    clock = HybridClock(wall=wall)
    issued: list[int] = []
    for op, arg in script:
        if op == "jump":
            wall.ms = max(0, wall.ms + arg)
        elif op == "now":
            issued.append(clock.now())
            assert hlc_ms(issued[-1]) >= wall.ms  # never behind the wall clock
        elif op == "reserve":
            first = clock.reserve(arg)
            count = max(arg, 1)
            issued.extend(range(first, first + count))
            assert clock.last == first + count - 1
        else:
            remote = arg if op == "observe" else max(0, clock.last + arg)
            before = clock.last
            clock.observe(remote)
            assert clock.last >= before
            # A peer pulls the clock no further than the bound ahead of the wall clock.
            assert clock.last == before or hlc_ms(clock.last) <= wall.ms + MAX_AHEAD_MS
            stamp = clock.now()
            issued.append(stamp)
            # Causality: a timestamp taken after seeing ``remote`` is later than it, unless the
            # peer is beyond the bound ahead of the wall clock.
            if hlc_ms(remote) - wall.ms < MAX_AHEAD_MS:
                assert stamp > remote
    assert all(a < b for a, b in zip(issued, issued[1:]))


def test_a_clock_resumed_from_the_store_never_repeats_a_timestamp() -> None:
    """After a restart the Journal seeds the clock with this device's own last hlc."""
    wall = Wall(BASE_MS)
    first = HybridClock(wall=wall)
    stamps = [first.now() for _ in range(3)]
    wall.ms -= 60_000  # the machine's clock was set back an hour... a minute
    resumed = HybridClock(last=stamps[-1], wall=wall)
    assert resumed.now() == stamps[-1] + 1


def test_wall_time_wins_when_it_is_ahead() -> None:
    wall = Wall(BASE_MS)
    clock = HybridClock(last=(BASE_MS - 5) << COUNTER_BITS, wall=wall)
    assert clock.now() == BASE_MS << COUNTER_BITS
    assert clock.now() == (BASE_MS << COUNTER_BITS) + 1
    wall.ms += 1
    assert clock.now() == (BASE_MS + 1) << COUNTER_BITS


def test_a_peer_far_ahead_pulls_the_clock_no_further_than_the_bound() -> None:
    """One bad clock must not drag every device's timestamps into the future for good."""
    wall = Wall(BASE_MS)
    clock = HybridClock(wall=wall)
    far = (BASE_MS + 48 * 3600 * 1000) << COUNTER_BITS
    clock.observe(far)
    assert hlc_ms(clock.now()) == BASE_MS + MAX_AHEAD_MS
    wall.ms += 2 * MAX_AHEAD_MS  # time passes: the clock is the wall clock's again
    assert clock.now() == wall.ms << COUNTER_BITS
    near = (wall.ms + 1000) << COUNTER_BITS
    clock.observe(near)
    assert clock.now() == near + 1


def test_own_events_far_ahead_keep_their_order_but_peers_pull_no_further() -> None:
    """A device restarted with a correct clock after its clock ran two days ahead: its next
    event is still later than its last one (one device's events are in time order), and a
    peer just as far ahead does not pull it further."""
    wall = Wall(BASE_MS)
    own_last = (BASE_MS + 48 * 3600 * 1000) << COUNTER_BITS
    clock = HybridClock(last=own_last, wall=wall)
    clock.observe(own_last + (3600 * 1000 << COUNTER_BITS))
    assert clock.now() == own_last + 1
    clock.follow_own(own_last + 10)  # its own later events, fetched back from a peer
    assert clock.now() == own_last + 11


def test_reserve_gives_a_block_of_consecutive_stamps() -> None:
    wall = Wall(BASE_MS)
    clock = HybridClock(wall=wall)
    first = clock.reserve(10)
    assert clock.now() == first + 10
    assert clock.reserve(0) == first + 11  # an empty batch still takes one stamp


def test_a_clock_past_what_sqlite_holds_is_an_error_not_a_bad_event() -> None:
    wall = Wall((MAX_HLC >> COUNTER_BITS) + 1)
    clock = HybridClock(wall=wall)
    with pytest.raises(ClockError, match="set the clock right"):
        clock.now()
    wall.ms = BASE_MS
    clock.observe(MAX_HLC + 1)  # a hostile peer's stamp is not adopted at all
    assert hlc_ms(clock.now()) == BASE_MS
