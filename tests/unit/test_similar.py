"""Near pairs of perceptual hashes: every pair within the distance is found, none beyond it,
without comparing every pair (checked against the comparison of every pair)."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.files.similar import (
    BITS,
    MOST_DISTANCE,
    bands_for,
    components,
    near_pairs,
)
from tests.conftest import examples


def flipped(value: int, bits: list[int]) -> int:
    for bit in bits:
        value ^= 1 << bit
    return value


def every_pair(hashes: set[int], distance: int) -> set[tuple[int, int]]:
    return {
        (min(a, b), max(a, b))
        for a, b in itertools.combinations(hashes, 2)
        if (a ^ b).bit_count() <= distance
    }


@pytest.mark.parametrize("distance", [0, 1, 3, 6, 8, 12])
def test_pairs_at_chosen_distances(distance: int) -> None:
    """A hash and copies of it 0 to 16 bits away (different bits each): those within the
    distance pair with it, the first one past it does not."""
    rng = random.Random(distance)
    base = rng.getrandbits(BITS)
    copies = {d: flipped(base, rng.sample(range(BITS), d)) for d in range(1, 17)}
    found = near_pairs({base, *copies.values()}, distance)
    with_base = {b if a == base else a for a, b in found if base in (a, b)}
    assert with_base == {copies[d] for d in range(1, distance + 1)}
    assert copies[distance + 1] not in with_base


def test_flips_in_every_band_and_across_band_edges() -> None:
    """The bits that differ spread over every band, or crowded into one: found either way."""
    base = 0x0123_4567_89AB_CDEF
    for distance in range(1, MOST_DISTANCE + 1):
        for layout in bands_for(100_000, distance), bands_for(10, distance):
            ends = [b.shift + b.bits - 1 for b in layout]
            spread = flipped(base, ends[:distance])
            crowded = flipped(base, list(range(layout[0].shift, layout[0].shift + distance)))
            assert near_pairs({base, spread, crowded}, distance) >= {
                (min(base, spread), max(base, spread)),
                (min(base, crowded), max(base, crowded)),
            }


@settings(max_examples=examples(200), deadline=None)
@given(
    st.integers(0, MOST_DISTANCE),
    st.lists(st.integers(0, (1 << BITS) - 1), min_size=1, max_size=6),
    st.lists(st.tuples(st.integers(0, 5), st.lists(st.integers(0, BITS - 1), max_size=14))),
)
def test_the_same_pairs_as_comparing_every_pair(
    distance: int, bases: list[int], edits: list[tuple[int, list[int]]]
) -> None:
    """Clusters of hashes (a few bases, copies a few bits off each): the pairs found are
    exactly those a comparison of every pair finds."""
    hashes = set(bases)
    for which, bits in edits:
        hashes.add(flipped(bases[which % len(bases)], bits))
    assert near_pairs(hashes, distance) == every_pair(hashes, distance)


def test_random_hashes_with_planted_pairs() -> None:
    rng = random.Random(7)
    hashes = {rng.getrandbits(BITS) for _ in range(3000)}
    planted = set()
    for value in rng.sample(sorted(hashes), 40):
        near = flipped(value, rng.sample(range(BITS), rng.randint(1, 6)))
        hashes.add(near)
        planted.add((min(value, near), max(value, near)))
    found = near_pairs(hashes, 6)
    assert planted <= found
    assert found == every_pair(hashes, 6)


@pytest.mark.parametrize("count", [1, 100, 10_000, 1_000_000])
def test_bands_cover_the_hash_and_hold_the_pigeonhole(count: int) -> None:
    for distance in range(0, MOST_DISTANCE + 1):
        layout = bands_for(count, distance)
        assert sum(b.bits for b in layout) == BITS
        assert [b.shift for b in layout] == list(
            itertools.accumulate((b.bits for b in layout[:-1]), initial=0)
        )
        # Were two hashes radius + 1 apart in every band, they would be further apart
        # than the distance: so a pair within it is within a radius in some band.
        assert sum(b.radius + 1 for b in layout) > distance


def test_components_join_chains() -> None:
    assert sorted(map(sorted, components([(1, 2), (2, 3), (5, 6), (7, 5), (3, 1)]))) == [
        [1, 2, 3],
        [5, 6, 7],
    ]
    assert components([]) == []
