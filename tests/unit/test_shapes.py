"""Declared body shapes: the compiled fast test and the explaining check always agree."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.domain import CATALOG
from events.shapes import ListOf, Name, Record, Shape, Text, compile_check
from tests.conftest import examples
from tests.shape_strategies import invalid, valid

SHAPES: list[Shape] = [CATALOG.shape(t) for t in CATALOG.types()] + [
    ListOf(Record((("a", Name()), ("b", Name()))), 0, 3),
    ListOf(Name(), 1, 3),
    Text(1, 8, pattern=r"[a-z]+"),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.describe()[:40])
@settings(max_examples=examples(60), deadline=None)
@given(data=st.data())
def test_the_fast_check_agrees_with_the_explaining_one(shape: Shape, data: st.DataObject) -> None:
    fast, slow = compile_check(shape), shape.checker()
    good = data.draw(valid(shape))
    assert fast(good) is None and slow(good) is None
    bad: Any = data.draw(invalid(shape))
    assert slow(bad) is not None
    assert fast(bad) == slow(bad)


def test_a_name_anywhere_in_a_batch_is_checked_for_slashes_and_nul() -> None:
    check = compile_check(ListOf(Record((("n", Name()), ("m", Name())))))
    ok = (b"a", b"b")
    assert check((ok, ok)) is None
    assert check((ok, (b"a", b"x/y"))) == "[1].m: b'x/y' is not one path component"
    assert check(((b"a\0", b"b"), ok)) == "[0].n: b'a\\x00' is not one path component"
    assert check(((b"..", b"b"),)) == "[0].n: b'..' is not one path component"
