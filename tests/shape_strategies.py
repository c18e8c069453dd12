"""Hypothesis strategies read off the declared shapes (``events.shapes``): for every event
type, bodies that must be accepted and bodies that must be refused.

Sizes are kept small (a handful of items, short names): what is tested is each shape's rule,
and a long list is the same rule repeated.
"""

from __future__ import annotations

import math
import re
from typing import Any

from hypothesis import strategies as st

from events.shapes import (
    INT64_MAX,
    INT64_MIN,
    AbsPath,
    Bool,
    Bytes,
    Int,
    ListOf,
    MapOf,
    Maybe,
    Name,
    Num,
    OneOf,
    Plain,
    Record,
    Shape,
    Struct,
    Text,
)

SMALL = 4  # items per generated list or map, at most


def _name_bytes(max_size: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=1, max_size=max_size).filter(
        lambda b: b not in (b".", b"..") and b"/" not in b and b"\0" not in b
    )


def valid(shape: Shape) -> st.SearchStrategy[Any]:
    """Values the shape accepts."""
    if isinstance(shape, Int):
        return st.integers(shape.lo, shape.hi)
    if isinstance(shape, Num):
        return st.integers(int(shape.lo), int(shape.hi)) | st.floats(
            float(shape.lo), min(float(shape.hi), 1e18), allow_nan=False, allow_infinity=False
        )
    if isinstance(shape, Bool):
        return st.booleans()
    if isinstance(shape, Bytes):
        if shape.size is not None:
            return st.binary(min_size=shape.size, max_size=shape.size)
        return st.binary(min_size=shape.min, max_size=min(shape.max, shape.min + 40))
    if isinstance(shape, Text):
        if shape.pattern:
            return st.from_regex(shape.pattern, fullmatch=True).filter(
                lambda t: shape.min <= len(t) <= shape.max
            )
        return st.text(min_size=shape.min, max_size=min(shape.max, shape.min + 20))
    if isinstance(shape, OneOf):
        return st.sampled_from(shape.values)
    if isinstance(shape, Name):
        return _name_bytes(min(shape.max, 30))
    if isinstance(shape, AbsPath):
        return st.lists(_name_bytes(12), max_size=4).map(lambda parts: b"/" + b"/".join(parts))
    if isinstance(shape, Maybe):
        return st.none() | valid(shape.inner)
    if isinstance(shape, Record):
        return st.tuples(*(valid(s) for _, s in shape.fields))
    if isinstance(shape, ListOf):
        return st.lists(
            valid(shape.item), min_size=shape.min, max_size=max(shape.min, min(shape.max, SMALL))
        ).map(tuple)
    if isinstance(shape, MapOf):
        return st.dictionaries(valid(shape.key), valid(shape.value), max_size=min(shape.max, SMALL))
    if isinstance(shape, Struct):
        return st.fixed_dictionaries({name: valid(s) for name, s in shape.fields})
    if isinstance(shape, Plain):
        leaves = st.none() | st.booleans() | st.integers(INT64_MIN, INT64_MAX) | st.text(max_size=8)
        return st.recursive(
            leaves | st.binary(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3).map(tuple)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=8,
        ).filter(lambda v: shape.checker()(v) is None)
    raise TypeError(f"no strategy for {shape!r}")


def extreme(shape: Shape) -> st.SearchStrategy[Any]:
    """Values the shape accepts, taken at its edges: every number its lowest or highest (or
    next to it, or zero), every text and byte string as long as it may be, every list of
    edge values. What a fold sums, multiplies or stores must hold whatever these are."""
    if isinstance(shape, Int):
        edges = {shape.lo, shape.hi, min(shape.lo + 1, shape.hi), max(shape.hi - 1, shape.lo)}
        return st.sampled_from(sorted(edges | ({0} if shape.lo <= 0 <= shape.hi else set())))
    if isinstance(shape, Num):
        lo, hi = int(math.ceil(shape.lo)), int(shape.hi)
        # The largest float the range holds: float(2**63 - 1) is 2**63, out of it.
        top = math.nextafter(float(hi), -math.inf)
        while top > shape.hi:
            top = math.nextafter(top, -math.inf)
        return st.sampled_from([lo, hi, max(hi - 1, lo), top, float(lo)])
    if isinstance(shape, Bytes):
        if shape.size is not None:
            return st.sampled_from([b"\xff" * shape.size, b"\0" * shape.size])
        return st.sampled_from([b"\xff" * shape.max, b"\0" * shape.min])
    if isinstance(shape, Text):
        if shape.pattern:
            longest = "z" * shape.max
            found = [longest] if re.fullmatch(shape.pattern, longest) else []
            return st.sampled_from(found) | valid(shape) if found else valid(shape)
        # Characters of four bytes in UTF-8: the most bytes a text of its length can take.
        return st.sampled_from(["\U0010fffd" * shape.max, "x" * shape.min])
    if isinstance(shape, Name):
        return st.sampled_from([b"\xff" * shape.max, b"\\xff", b"\xff"])
    if isinstance(shape, AbsPath):
        deep = b"/" + b"/".join([b"\xfe" * 254] * (shape.max // 255))
        return st.sampled_from([deep[: shape.max].rstrip(b"/"), b"/"])
    if isinstance(shape, Maybe):
        return st.none() | extreme(shape.inner)
    if isinstance(shape, Record):
        return st.tuples(*(extreme(s) for _, s in shape.fields))
    if isinstance(shape, ListOf):
        return st.lists(
            extreme(shape.item), min_size=shape.min, max_size=max(shape.min, min(shape.max, SMALL))
        ).map(tuple)
    if isinstance(shape, MapOf):
        return st.dictionaries(
            extreme(shape.key), extreme(shape.value), max_size=min(shape.max, SMALL)
        )
    if isinstance(shape, Struct):
        return st.fixed_dictionaries({name: extreme(s) for name, s in shape.fields})
    if isinstance(shape, Plain):
        edges = st.sampled_from([INT64_MIN, INT64_MAX, "\U0010fffd" * shape.length])
        return edges | st.dictionaries(st.text(max_size=5), edges, max_size=3) | valid(shape)
    return valid(shape)  # booleans, choices: every value is an edge


_OTHER_TYPES = st.sampled_from([None, True, 1.5, "text", b"bytes", (), {}, {"k": 1}, 2**64])


def invalid(shape: Shape) -> st.SearchStrategy[Any]:
    """Values the shape must refuse: the wrong type, out of range, or a container with one
    member wrong (a missing or extra key, a bad item)."""
    own = _violations(shape)
    wrong_type = _OTHER_TYPES.filter(lambda v: _refused(shape, v))
    return st.one_of(wrong_type, own) if own is not None else wrong_type


def _refused(shape: Shape, value: Any) -> bool:
    return shape.checker()(value) is not None


def _violations(shape: Shape) -> st.SearchStrategy[Any] | None:
    if isinstance(shape, Int):
        out = []
        if shape.lo > INT64_MIN:
            out.append(st.integers(max_value=shape.lo - 1))
        if shape.hi < INT64_MAX:
            out.append(st.integers(min_value=shape.hi + 1))
        out.append(st.booleans())  # a bool is not an integer here
        return st.one_of(out)
    if isinstance(shape, Num):
        return st.sampled_from([float("nan"), float("inf"), shape.lo - 1, shape.hi + 1])
    if isinstance(shape, Bytes):
        if shape.size is not None:
            return st.binary(max_size=shape.size + 4).filter(lambda b: len(b) != shape.size)
        return st.binary(min_size=shape.max + 1, max_size=shape.max + 2)
    if isinstance(shape, Text):
        if shape.pattern:
            return st.text(max_size=shape.max + 1).filter(lambda t: _refused(shape, t))
        if shape.min > 0:
            return st.just("")
        return st.text(min_size=shape.max + 1, max_size=shape.max + 2)
    if isinstance(shape, OneOf):
        return st.text(max_size=3).filter(lambda t: t not in shape.values)
    if isinstance(shape, Name):
        return st.sampled_from([b"", b".", b"..", b"a/b", b"/", b"x\0y", b"../../etc/passwd"])
    if isinstance(shape, AbsPath):
        return st.sampled_from([b"", b"relative", b"/a/../b", b"/a/./b", b"/a\0b"])
    if isinstance(shape, Maybe):
        return _violations(shape.inner)
    if isinstance(shape, Record):
        return _one_wrong_position(shape) | st.lists(st.none(), max_size=len(shape.fields) - 1)
    if isinstance(shape, ListOf):
        item = st.tuples(
            st.lists(valid(shape.item), max_size=2), invalid(shape.item), st.integers(0, 2)
        ).map(lambda t: tuple(t[0][: t[2]] + [t[1]] + t[0][t[2] :]))
        return item if shape.min == 0 else item | st.just(())
    if isinstance(shape, MapOf):
        return st.builds(lambda k, v: {k: v}, valid(shape.key), invalid(shape.value))
    if isinstance(shape, Struct):
        return _one_wrong_key(shape)
    if isinstance(shape, Plain):
        return st.sampled_from(
            [2**63, -(2**63) - 1, "x" * (shape.length + 1), b"x" * (shape.length + 1)]
        ) | st.just(_nested(shape.depth + 1))
    return None


def _nested(depth: int) -> Any:
    """A value nested ``depth`` arrays deep."""
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


def _one_wrong_position(shape: Record) -> st.SearchStrategy[tuple]:
    @st.composite
    def build(draw: st.DrawFn) -> tuple:
        values = [draw(valid(s)) for _, s in shape.fields]
        at = draw(st.integers(0, len(values) - 1))
        values[at] = draw(invalid(shape.fields[at][1]))
        return tuple(values)

    return build()


def _one_wrong_key(shape: Struct) -> st.SearchStrategy[dict]:
    names = [name for name, _ in shape.fields]

    @st.composite
    def build(draw: st.DrawFn) -> dict:
        body = draw(valid(shape))
        how = draw(st.sampled_from(["drop", "add", "bad"]))
        name = draw(st.sampled_from(names))
        if how == "drop":
            del body[name]
        elif how == "add":
            body[name + "_extra"] = 1
        else:
            body[name] = draw(invalid(dict(shape.fields)[name]))
        return body

    return build()
