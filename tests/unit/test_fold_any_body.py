"""A fold never raises on a validated event, whatever its body holds within its shape.

Bodies of every known type are generated from the declared shapes (``events.shapes``), with
small pools of ids so that events refer to each other (entries of existing locations, parents
that are folders or files, moves into a folder's own subtree, a second root...). Invalid bodies
ride along: the catalog turns them into events that are never folded. Folding the same events
in one batch or in many gives the same digest.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.clock import HybridClock
from events.codec import pack
from events.domain import CATALOG
from events.envelope import Event
from events.keys import DeviceKey
from events.writer import LogWriter
from tests.cli.test_properties import fold
from tests.conftest import examples
from tests.helpers_log import LIBRARY_KEY
from tests.shape_strategies import invalid, valid

KEYS = [DeviceKey.generate() for _ in range(3)]
IDS = [bytes([i]) * 16 for i in range(1, 4)]  # locations, tags, jobs: a few, so they meet
TYPES = CATALOG.types()


def _small_world(value: object) -> object:
    """Pull generated ids and numbers into small pools, so events refer to each other."""
    if isinstance(value, bytes) and len(value) == 16:
        return IDS[value[0] % len(IDS)]
    if isinstance(value, dict):
        return {k: _small_world(v) for k, v in value.items()}
    if isinstance(value, tuple) and len(value) == 10 and isinstance(value[0], int):
        # An entries.indexed item: eid and parent among a few numbers.
        return (value[0] % 7 + 1, value[1] % 8, *value[2:])
    if (
        isinstance(value, tuple)
        and len(value) in (2, 4, 7)
        and all(isinstance(v, int) for v in value[:2])
    ):
        return tuple(v % 8 if i < (3 if len(value) == 4 else 2) else v for i, v in enumerate(value))
    if isinstance(value, tuple):
        return tuple(_small_world(v) for v in value)
    return value


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, dict]:
    type_name = draw(st.sampled_from(TYPES))
    shape = CATALOG.shape(type_name)
    if draw(st.integers(0, 9)) == 0:
        return type_name, draw(invalid(shape).filter(_encodable))
    return type_name, _small_world(draw(valid(shape)))


def _encodable(value: object) -> bool:
    """What msgpack cannot encode never reaches a log."""
    try:
        pack(value)
    except (OverflowError, TypeError, ValueError):
        return False
    return True


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    steps=st.lists(st.tuples(st.integers(0, 2), bodies()), min_size=1, max_size=40),
    cuts=st.lists(st.integers(min_value=0), max_size=6),
)
def test_folds_never_raise_and_batching_changes_nothing(
    steps: list[tuple[int, tuple[str, dict]]], cuts: list[int]
) -> None:
    writers = [LogWriter(key, HybridClock(), LIBRARY_KEY) for key in KEYS]
    events: list[Event] = []
    for who, (type_name, body) in steps:
        events.extend(writers[who].build([(type_name, 1, body)]))
    whole = fold(events)
    pieces = fold(events, cuts)
    one_by_one = fold(events, list(range(len(events))))
    assert whole.digest() == pieces.digest() == one_by_one.digest()
    for runner in (whole, pieces, one_by_one):
        runner.close()
