"""The shapes of what commands return, declared beside each command (``Op.result``).

Built from ``events.shapes``, as the commands' arguments are, so one description serves a
check (tests hold real results to it) and, later, an API's documentation. A result is what
``--json`` prints: maps with named keys (some present only in some answers: ``Fields``),
lists, text (ids in hex, paths as text), numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from events.shapes import (
    Bool,
    Check,
    Int,
    ListOf,
    MapOf,
    Maybe,
    Num,
    Shape,
    Struct,
    Text,
    field_reason,
)

# Results are not bounded the way requests are: a listing can hold a million entries.
MOST = 1 << 40
# A total of sizes may pass 2**64 (the control socket carries it as a wide integer).
WIDE = 1 << 512


@dataclass(frozen=True, slots=True)
class Fields(Shape):
    """A map with the ``required`` keys, and any of the ``optional`` ones (a key present
    only in some answers), each value of its shape; no other key."""

    required: tuple[tuple[str, Shape], ...]
    optional: tuple[tuple[str, Shape], ...] = ()

    def checker(self) -> Check:
        required = [(name, shape.checker()) for name, shape in self.required]
        optional = {name: shape.checker() for name, shape in self.optional}
        known = {name for name, _ in required} | set(optional)

        def check(value: Any) -> str | None:
            if type(value) is not dict:
                return f"{str(value)[:40]!r} is not a map"
            for name, field_check in required:
                if name not in value:
                    return f"{name}: missing"
                reason = field_check(value[name])
                if reason is not None:
                    return field_reason(name, reason)
            for name, one in value.items():
                if name not in known:
                    return f"{name}: not a key of this map"
                if name in optional:
                    reason = optional[name](one)
                    if reason is not None:
                        return field_reason(name, reason)
            return None

        return check

    def test(self, x: str, names: Any) -> str:
        return f"({names.add(self.checker())}({x}) is None)"

    def describe(self) -> str:
        keys = [name for name, _ in self.required] + [f"{name}?" for name, _ in self.optional]
        return f"a map of {', '.join(keys)}"


@dataclass(frozen=True, slots=True)
class Either(Shape):
    """A value of one of these shapes (a command that answers in one form or another)."""

    options: tuple[Shape, ...]

    def checker(self) -> Check:
        checks = [shape.checker() for shape in self.options]

        def check(value: Any) -> str | None:
            reasons = []
            for one in checks:
                reason = one(value)
                if reason is None:
                    return None
                reasons.append(reason)
            return " / ".join(reasons)

        return check

    def test(self, x: str, names: Any) -> str:
        return f"({names.add(self.checker())}({x}) is None)"

    def describe(self) -> str:
        return " or ".join(shape.describe() for shape in self.options)


@dataclass(frozen=True, slots=True)
class Value(Shape):
    """Any value an answer may hold: nothing, true or false, numbers (of any size: totals
    pass 2**64), text (a name's byte that is not UTF-8 held as a lone surrogate, as
    ``sdactors.runtime.paths.text`` gives it), bytes, lists and maps of them, ``depth`` deep
    at most. Unlike the requests' ``Plain``, sizes are not bounded: an answer is ours."""

    depth: int = 64

    def checker(self) -> Check:
        depth = self.depth

        def walk(value: Any, level: int) -> str | None:
            kind = type(value)
            if value is None or kind in _SCALARS:
                return None
            if level >= depth:
                return f"nested deeper than {depth}"
            if kind is list or kind is tuple:
                for one in value:
                    reason = walk(one, level + 1)
                    if reason is not None:
                        return reason
                return None
            if kind is dict:
                for key, one in value.items():
                    reason = walk(key, depth) if key is not None else None
                    reason = reason or walk(one, level + 1)
                    if reason is not None:
                        return reason
                return None
            return f"{str(value)[:40]!r} ({kind.__name__}) is not a plain value"

        return lambda value: walk(value, 0)

    def test(self, x: str, names: Any) -> str:
        return f"({names.add(self.checker())}({x}) is None)"

    def describe(self) -> str:
        return "a plain value"


_SCALARS = (bool, int, float, str, bytes)


def record(**fields: Shape) -> Struct:
    """A map of exactly these keys."""
    return Struct(tuple(fields.items()))


def record_with(optional: dict[str, Shape], **required: Shape) -> Fields:
    """A map of these keys, and any of ``optional``."""
    return Fields(tuple(required.items()), tuple(optional.items()))


def many(item: Shape) -> ListOf:
    return ListOf(item, 0, MOST)


TEXT = Text(0, MOST)
MAYBE_TEXT = Maybe(TEXT)
HEX = Text(0, 1024, pattern="[0-9a-f]*")
MAYBE_HEX = Maybe(HEX)
COUNT = Int(0, WIDE)
MAYBE_COUNT = Maybe(COUNT)
INT = Int(-WIDE, WIDE)
NUMBER = Num()
BOOL = Bool()
MAYBE_BOOL = Maybe(BOOL)
# An ISO 8601 time, as results give times.
TIME = Text(0, 64)
MAYBE_TIME = Maybe(TIME)
# Any plain value: an event's body, a job's parameters, an action's arguments.
PLAIN = Value()
LINES = many(TEXT)
COUNTS = MapOf(TEXT, COUNT, max=MOST)
# A map whose keys and values another part answers with (a job's counts, the network's
# replies): its top level is a map, what it holds is plain.
MAP = MapOf(TEXT, PLAIN, max=MOST)
MAPS = many(MAP)
