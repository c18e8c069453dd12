"""Declared shapes of event bodies, and the checks compiled from them.

Every known event type declares the shape of each field beside the field itself
(``tag: Annotated[bytes, Id()]``); the catalog compiles those shapes into one check per type
(:meth:`events.registry.Catalog.check`). The check runs before an event is written and on
every ingest, so a fold only ever sees bodies of the declared shape: a well-signed event whose
body does not match is refused like a forged one.

A check returns ``None`` when the value fits, else the reason, with the place of the value in
the body (``entries[12].name: ...``). Shapes are plain frozen dataclasses, so a test can read
them to generate bodies (valid and invalid) of every type.

Speed matters: every batch of a thousand entries is checked when written and again when
folded. So a shape compiles twice: :meth:`Shape.test` gives a Python expression that is true
when a value fits, and :func:`compile_check` turns a whole body's expression into one function
(no call per field); only when that says no does the slower closure from
:meth:`Shape.checker` run, to find the reason.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass
from typing import Any, Callable

Check = Callable[[Any], "str | None"]

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
_SEQUENCES = (tuple, list)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _Names:
    """The constants a compiled test refers to, each under a name of its own."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {"SEQ": _SEQUENCES}

    def add(self, value: Any) -> str:
        name = f"_c{len(self.values)}"
        self.values[name] = value
        return name


class Shape:
    """What a value may be. ``checker`` builds the check that says why a value does not fit;
    ``test`` the expression that only says whether it does; ``describe`` says it in words."""

    def checker(self) -> Check:
        raise NotImplementedError

    def test(self, x: str, names: _Names) -> str:
        """A Python expression, true when the value of expression ``x`` fits."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


def _function(source: str, names: _Names) -> Callable[[Any], bool]:
    """Compile generated source defining one function; the constants it names are its
    globals. The source is built from shapes only, never from data."""
    scope = dict(names.values)
    exec(compile(source, "<shape test>", "exec"), scope)  # noqa: S102
    return next(v for k, v in scope.items() if k not in names.values and k != "__builtins__")


def _remembered(check: Check, most: int = 1024) -> Callable[[Any], bool]:
    """``check`` as a test that remembers the values found to fit (hashable ones only)."""
    fit: set[Any] = set()

    def test(value: Any) -> bool:
        if value in fit:
            return True
        if check(value) is not None:
            return False
        if len(fit) < most:
            fit.add(value)
        return True

    return test


def compile_check(shape: Shape) -> Check:
    """The shape's check, fast when the value fits (the common case by far)."""
    names = _Names()
    test = shape.test("v", names)
    fits = _function(f"def fits(v):\n    return {test}\n", names)
    explain = shape.checker()

    def check(value: Any) -> str | None:
        if fits(value):
            return None
        return explain(value) or "it does not have its declared shape"

    return check


def compile_version_check(
    shape: Shape, version: int, otherwise: Callable[[int, Any], str | None]
) -> Callable[[int, Any], str | None]:
    """``check(v, body)``: None for a body of ``version`` that fits ``shape``, tested by one
    compiled expression; any other is ``otherwise``'s to answer (and explain)."""
    names = _Names()
    test = shape.test("b", names)
    source = (
        f"def check(v, b):\n    if v == {version} and {test}:\n        return None\n"
        f"    return {names.add(otherwise)}(v, b)\n"
    )
    return _function(source, names)


def compile_builder(
    shape: Shape, cls: type, version: int, otherwise: Callable[[int, Any], Any]
) -> Callable[[int, Any], Any]:
    """``build(v, body)``: ``cls`` made from a body of ``version`` that fits ``shape``, in
    one function of straight-line code (the test, then each slot set through its own
    descriptor); any other body is ``otherwise``'s. ``cls`` has a slot per field of
    ``shape``, a :class:`Struct`."""
    assert isinstance(shape, Struct)
    names = _Names()
    test = shape.test("b", names)
    made, new = names.add(cls), names.add(object.__new__)
    lines = ["def build(v, b):", f"    if v == {version} and {test}:", f"        o = {new}({made})"]
    for name, _ in shape.fields:
        lines.append(f"        {names.add(getattr(cls, name).__set__)}(o, b[{name!r}])")
    lines += ["        return o", f"    return {names.add(otherwise)}(v, b)"]
    return _function("\n".join(lines) + "\n", names)


@dataclass(frozen=True, slots=True)
class Int(Shape):
    lo: int = INT64_MIN
    hi: int = INT64_MAX

    def checker(self) -> Check:
        lo, hi = self.lo, self.hi

        def check(value: Any) -> str | None:
            if type(value) is not int:
                return f"{_show(value)} is not an integer"
            if value < lo or value > hi:
                return f"{value} is not within {lo}..{hi}"
            return None

        return check

    def test(self, x: str, names: _Names) -> str:
        return f"(type({x}) is int and {self.lo} <= {x} <= {self.hi})"

    def describe(self) -> str:
        return f"an integer in {self.lo}..{self.hi}"


@dataclass(frozen=True, slots=True)
class Num(Shape):
    """An integer or a finite float (a duration in seconds, say)."""

    lo: float = INT64_MIN
    hi: float = INT64_MAX

    def checker(self) -> Check:
        lo, hi = self.lo, self.hi

        def check(value: Any) -> str | None:
            if type(value) is not int and (type(value) is not float or not math.isfinite(value)):
                return f"{_show(value)} is not a finite number"
            if value < lo or value > hi:
                return f"{value} is not within {lo}..{hi}"
            return None

        return check

    def test(self, x: str, names: _Names) -> str:
        return f"({names.add(self.checker())}({x}) is None)"

    def describe(self) -> str:
        return f"a number in {self.lo}..{self.hi}"


@dataclass(frozen=True, slots=True)
class Bool(Shape):
    def checker(self) -> Check:
        def check(value: Any) -> str | None:
            return None if type(value) is bool else f"{_show(value)} is not true or false"

        return check

    def test(self, x: str, names: _Names) -> str:
        return f"(type({x}) is bool)"

    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True, slots=True)
class Bytes(Shape):
    """Bytes of exactly ``size`` (an id), or of ``min``..``max`` bytes."""

    size: int | None = None
    min: int = 0
    max: int = 4096

    def checker(self) -> Check:
        size, lo, hi = self.size, self.min, self.max

        def check(value: Any) -> str | None:
            if type(value) is not bytes:
                return f"{_show(value)} is not bytes"
            n = len(value)
            if size is not None:
                return None if n == size else f"{n} bytes where {size} are expected"
            if n < lo or n > hi:
                return f"{n} bytes, not within {lo}..{hi}"
            return None

        return check

    def test(self, x: str, names: _Names) -> str:
        if self.size is not None:
            return f"(type({x}) is bytes and len({x}) == {self.size})"
        return f"(type({x}) is bytes and {self.min} <= len({x}) <= {self.max})"

    def describe(self) -> str:
        if self.size is not None:
            return f"{self.size} bytes"
        return f"{self.min}..{self.max} bytes"


def Id(size: int = 16) -> Bytes:  # noqa: N802 - reads as a shape, like the classes
    """A random id (a location's, a tag's, a job's): 16 bytes unless said otherwise."""
    return Bytes(size=size)


@dataclass(frozen=True, slots=True)
class Text(Shape):
    min: int = 0
    max: int = 256
    # A regular expression the whole text must match (an enum-like token, a kind).
    pattern: str | None = None

    def checker(self) -> Check:
        lo, hi = self.min, self.max
        match = re.compile(self.pattern).fullmatch if self.pattern else None

        def check(value: Any) -> str | None:
            if type(value) is not str:
                return f"{_show(value)} is not text"
            if len(value) < lo or len(value) > hi:
                return f"text of {len(value)} characters, not within {lo}..{hi}"
            if match is not None and match(value) is None:
                return f"{_show(value)} is not of the form {self.pattern}"
            return None

        return check

    def test(self, x: str, names: _Names) -> str:
        if self.pattern:
            # A token (a kind, say) takes few values: remember those that fit, rather than
            # running the expression on every item of every batch.
            return f"(type({x}) is str and {names.add(_remembered(self.checker()))}({x}))"
        return f"(type({x}) is str and {self.min} <= len({x}) <= {self.max})"

    def describe(self) -> str:
        return f"text of {self.min}..{self.max} characters"


@dataclass(frozen=True, slots=True)
class OneOf(Shape):
    values: tuple[Any, ...]

    def checker(self) -> Check:
        allowed = frozenset(self.values)
        kinds = frozenset(type(v) for v in self.values)

        def check(value: Any) -> str | None:
            if type(value) in kinds and value in allowed:
                return None
            return f"{_show(value)} is not one of {', '.join(map(repr, self.values))}"

        return check

    def test(self, x: str, names: _Names) -> str:
        kinds = names.add(frozenset(type(v) for v in self.values))
        return f"(type({x}) in {kinds} and {x} in {names.add(frozenset(self.values))})"

    def describe(self) -> str:
        return f"one of {', '.join(map(repr, self.values))}"


@dataclass(frozen=True, slots=True)
class Name(Shape):
    """One path component: what a folder may hold under one name on any disk."""

    max: int = 1024

    def checker(self) -> Check:
        hi = self.max

        def check(value: Any) -> str | None:
            if type(value) is not bytes:
                return f"{_show(value)} is not bytes"
            if not value or len(value) > hi:
                return f"a name of {len(value)} bytes, not within 1..{hi}"
            if value == b"." or value == b".." or b"/" in value or b"\0" in value:
                return f"{_show(value)} is not one path component"
            return None

        return check

    def test(self, x: str, names: _Names) -> str:
        return f"({self.test_length(x)} and {self.test_bytes(x)})"

    def test_length(self, x: str) -> str:
        return f"type({x}) is bytes and 0 < len({x}) <= {self.max} and {x} != b'.' and {x} != b'..'"

    @staticmethod
    def test_bytes(x: str) -> str:
        """The search for '/' and NUL: a loop over many names does it once, on them all."""
        return f"b'/' not in {x} and b'\\0' not in {x}"

    def describe(self) -> str:
        return "one path component (not '.' or '..', no '/' or NUL)"


@dataclass(frozen=True, slots=True)
class AbsPath(Shape):
    """An absolute path without NUL, '.' or '..' components: what a location is rooted at."""

    max: int = 4096

    def checker(self) -> Check:
        hi = self.max

        def check(value: Any) -> str | None:
            if type(value) is not bytes:
                return f"{_show(value)} is not bytes"
            if not value.startswith(b"/") or len(value) > hi or b"\0" in value:
                return f"{_show(value)} is not an absolute path of at most {hi} bytes"
            if any(part in (b".", b"..") for part in value.split(b"/")):
                return f"{_show(value)} holds a '.' or '..' component"
            return None

        return check

    def test(self, x: str, names: _Names) -> str:
        return f"({names.add(self.checker())}({x}) is None)"

    def describe(self) -> str:
        return "an absolute path"


@dataclass(frozen=True, slots=True)
class Maybe(Shape):
    inner: Shape

    def checker(self) -> Check:
        inner = self.inner.checker()

        def check(value: Any) -> str | None:
            return None if value is None else inner(value)

        return check

    def test(self, x: str, names: _Names) -> str:
        return f"({x} is None or {self.inner.test(x, names)})"

    def describe(self) -> str:
        return f"nothing, or {self.inner.describe()}"


@dataclass(frozen=True, slots=True)
class Record(Shape):
    """A fixed-length array of named positions: a batch item, written as a tuple to keep a
    thousand repeated key names out of every batch."""

    fields: tuple[tuple[str, Shape], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.fields)

    def checker(self) -> Check:
        count = len(self.fields)
        checks = [(i, name, shape.checker()) for i, (name, shape) in enumerate(self.fields)]

        def check(value: Any) -> str | None:
            if type(value) not in _SEQUENCES or len(value) != count:
                return f"{_show(value)} is not an array of {count} fields"
            for i, name, field_check in checks:
                reason = field_check(value[i])
                if reason is not None:
                    return f".{name}: {reason}"
            return None

        return check

    def test(self, x: str, names: _Names) -> str:
        parts = [f"type({x}) in SEQ", f"len({x}) == {len(self.fields)}"]
        parts += [shape.test(f"{x}[{i}]", names) for i, (_, shape) in enumerate(self.fields)]
        return f"({' and '.join(parts)})"

    def describe(self) -> str:
        return f"an array of {len(self.fields)} fields ({', '.join(self.names)})"


@dataclass(frozen=True, slots=True)
class ListOf(Shape):
    item: Shape
    min: int = 0
    max: int = 10_000

    def checker(self) -> Check:
        item, lo, hi = self.item.checker(), self.min, self.max

        def check(value: Any) -> str | None:
            if type(value) not in _SEQUENCES:
                return f"{_show(value)} is not an array"
            if len(value) < lo or len(value) > hi:
                return f"an array of {len(value)} items, not within {lo}..{hi}"
            for i, one in enumerate(value):
                reason = item(one)
                if reason is not None:
                    return f"[{i}]{'' if reason.startswith('.') else ': '}{reason}"
            return None

        return check

    def test(self, x: str, names: _Names) -> str:
        # A loop of its own: a record's fields unpacked into local variables once, tested
        # without indexing, is what makes a thousand-item batch cheap to check.
        if isinstance(self.item, Record):
            fields = [f"f{i}" for i in range(len(self.item.fields))]
            tests, joined = [], []
            for var, (_, shape) in zip(fields, self.item.fields):
                if isinstance(shape, Name):
                    tests.append(f"({shape.test_length(var)})")
                    joined.append(var)
                else:
                    tests.append(shape.test(var, names))
            collect = "".join(f"        add_{var}({var})\n" for var in joined)
            body = (
                "".join(f"    all_{var} = []\n    add_{var} = all_{var}.append\n" for var in joined)
                + f"    for y in v:\n"
                f"        if type(y) not in SEQ or len(y) != {len(fields)}:\n"
                f"            return False\n"
                f"        {', '.join(fields)}{',' if len(fields) == 1 else ''} = y\n"
                f"        if not ({' and '.join(tests)}):\n"
                f"            return False\n{collect}"
                + "".join(
                    f"    if not ({Name.test_bytes(f'bytes().join(all_{var})')}):\n"
                    f"        return False\n"
                    for var in joined
                )
            )
        else:
            body = (
                f"    for y in v:\n"
                f"        if not {self.item.test('y', names)}:\n"
                f"            return False\n"
            )
        source = (
            f"def items(v):\n"
            f"    if type(v) not in SEQ or not {self.min} <= len(v) <= {self.max}:\n"
            f"        return False\n{body}    return True\n"
        )
        return f"{names.add(_function(source, names))}({x})"

    def describe(self) -> str:
        return f"an array of {self.min}..{self.max} items"


@dataclass(frozen=True, slots=True)
class MapOf(Shape):
    """A map of any keys of one shape to values of one shape (counts by name, say)."""

    key: Shape
    value: Shape
    max: int = 64

    def checker(self) -> Check:
        key, val, hi = self.key.checker(), self.value.checker(), self.max

        def check(value: Any) -> str | None:
            if type(value) is not dict:
                return f"{_show(value)} is not a map"
            if len(value) > hi:
                return f"a map of {len(value)} entries, more than {hi}"
            for k, v in value.items():
                reason = key(k)
                if reason is None:
                    reason = val(v)
                if reason is not None:
                    return f"[{_show(k)}]: {reason}"
            return None

        return check

    def test(self, x: str, names: _Names) -> str:
        return f"({names.add(self.checker())}({x}) is None)"

    def describe(self) -> str:
        return f"a map of at most {self.max} entries"


def field_reason(name: str, reason: str) -> str:
    """Why a map's field ``name`` is refused, read as a path: ``rules.exclude[3]: ...``."""
    return f"{name}{'' if reason[:1] in '.[' else ': '}{reason}"


@dataclass(frozen=True, slots=True)
class Struct(Shape):
    """A map with exactly these keys (an event body, a location's rules)."""

    fields: tuple[tuple[str, Shape], ...]

    def checker(self) -> Check:
        names = frozenset(name for name, _ in self.fields)
        checks = [(name, shape.checker()) for name, shape in self.fields]
        listed = ", ".join(sorted(names))

        def check(value: Any) -> str | None:
            if type(value) is not dict:
                return f"{_show(value)} is not a map"
            if len(value) != len(names) or not names.issuperset(value):
                return f"the keys are {', '.join(sorted(map(str, value)))}, not {listed}"
            for name, field_check in checks:
                reason = field_check(value[name])
                if reason is not None:
                    return field_reason(name, reason)
            return None

        return check

    def test(self, x: str, names: _Names) -> str:
        parts = [f"type({x}) is dict", f"len({x}) == {len(self.fields)}"]
        parts += [f"{name!r} in {x}" for name, _ in self.fields]
        parts += [shape.test(f"{x}[{name!r}]", names) for name, shape in self.fields]
        return f"({' and '.join(parts)})"

    def describe(self) -> str:
        return f"a map of {', '.join(name for name, _ in self.fields)}"


@dataclass(frozen=True, slots=True)
class Plain(Shape):
    """Any plain value (nothing, true or false, integers, text, bytes, arrays and maps of
    them), bounded in depth and size: what a command's arguments or outcome hold."""

    depth: int = 6
    items: int = 10_000
    length: int = 4096

    def checker(self) -> Check:
        depth, items, length = self.depth, self.items, self.length

        def check(value: Any) -> str | None:
            budget = [items]

            def walk(v: Any, level: int) -> str | None:
                budget[0] -= 1
                if budget[0] < 0:
                    return f"more than {items} values"
                kind = type(v)
                if v is None or kind is bool or kind is float:
                    return None
                if kind is int:
                    return None if INT64_MIN <= v <= INT64_MAX else f"{v} is out of range"
                if kind is str or kind is bytes:
                    if len(v) > length:
                        return f"a value of {len(v)}, over {length}"
                    if kind is str and not v.isascii():
                        try:
                            v.encode()
                        except UnicodeEncodeError:
                            return f"{_show(v)} is not UTF-8 text"
                    return None
                if level >= depth:
                    return f"nested deeper than {depth}"
                if kind in _SEQUENCES:
                    for one in v:
                        reason = walk(one, level + 1)
                        if reason is not None:
                            return reason
                    return None
                if kind is dict:
                    for k, one in v.items():
                        reason = walk(k, level + 1) or walk(one, level + 1)
                        if reason is not None:
                            return reason
                    return None
                return f"{_show(v)} is not a plain value"

            return walk(value, 0)

        return check

    def test(self, x: str, names: _Names) -> str:
        return f"({names.add(self.checker())}({x}) is None)"

    def describe(self) -> str:
        return "a plain value"


def declared_shape(cls: type) -> Struct:
    """The shape a dataclass declares in its fields' annotations (``Annotated[T, Shape]``);
    every field must declare one."""
    hints = typing.get_type_hints(cls, include_extras=True)
    fields: list[tuple[str, Shape]] = []
    for f in dataclasses.fields(cls):
        shapes = [m for m in getattr(hints[f.name], "__metadata__", ()) if isinstance(m, Shape)]
        if len(shapes) != 1:
            raise TypeError(f"{cls.__name__}.{f.name} must declare its shape: Annotated[T, Shape]")
        fields.append((f.name, shapes[0]))
    return Struct(tuple(fields))
