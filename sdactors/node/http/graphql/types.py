"""GraphQL types made from the shapes the ops declare (``events.shapes``,
``sdactors.ops.results``), so the schema says what the op registry says and cannot drift from
it: an op's arguments become a field's arguments, its result the field's type.

Names stay as the ops and ``--json`` spell them (``min_size``, not ``minSize``): a result read
through ``/graphql`` has the keys of the same result read through ``/api/v1/op/...``.

- A map of named keys (``Struct``, ``Fields``) is an object type, named after the first place
  it appears (``SearchResult``) or as :data:`NAMES` says for the shapes many ops share; a key
  present only in some answers is nullable.
- Integers that may pass 32 bits (sizes, positions, clocks) are ``Long``: a JSON number of
  any size, as ``--json`` prints it (GraphQL's own ``Int`` is 32 bits).
- What has no fixed shape (a map of counts, an event's body, a value of one shape or another)
  is ``JSON``.
- In arguments, a path is text, as ``--json`` prints paths (a byte that is not UTF-8 as the
  escape of its lone surrogate, ``\\udcNN``); an id of fixed size is hex; an array of
  named positions (``Record``) is an input object.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, NewType, Optional

import strawberry
from strawberry.scalars import JSON

from events.shapes import (
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
from sdactors.ops.jobs import JOB_SHOWN
from sdactors.ops.log_read import BOUND, EVENT
from sdactors.ops.results import Either, Fields, Value

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def _long(value: Any) -> int:
    """A Long given as a JSON number, or as text of digits (what a client limited to 53-bit
    numbers can send)."""
    if type(value) is int:
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,20}", value):
        return int(value)
    raise ValueError(f"{str(value)[:40]!r} is not an integer")


Long = NewType("Long", int)
# For the schema's ``scalar_map``.
LONG = strawberry.scalar(
    name="Long",
    description="An integer of any size (a size, a log position, a clock): a JSON number.",
    serialize=int,
    parse_value=_long,
)

# The shapes many ops share, by the name their type has wherever it appears.
NAMES: dict[Shape, str] = {EVENT: "Event", JOB_SHOWN: "Job", BOUND.inner: "LogBound"}


def camel(name: str) -> str:
    """``duplicates.similar`` -> ``DuplicatesSimilar``; ``min_size`` -> ``MinSize``."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[._\-]", name) if part)


def _int_type(shape: Int | OneOf) -> Any:
    values = shape.values if isinstance(shape, OneOf) else (shape.lo, shape.hi)
    return int if INT32_MIN <= min(values) and max(values) <= INT32_MAX else Long


def _fields_of(shape: Struct | Fields) -> list[tuple[str, Shape, bool]]:
    """(key, shape, always there) of a map's keys."""
    if isinstance(shape, Struct):
        return [(name, one, True) for name, one in shape.fields]
    return [(name, one, True) for name, one in shape.required] + [
        (name, one, False) for name, one in shape.optional
    ]


class Types:
    """The GraphQL types of one schema, each made once (a shape seen again is the same type)."""

    def __init__(self) -> None:
        self._outputs: dict[Shape, Any] = {}
        self._inputs: dict[Shape, Any] = {}
        self._taken: set[str] = set()

    def object_names(self) -> list[str]:
        """The names of the object types made for what ops return (maps, read by key)."""
        return [made.__strawberry_definition__.name for made in self._outputs.values()]

    def _name(self, shape: Shape, wanted: str) -> str:
        name = NAMES.get(shape, wanted)
        while name in self._taken:
            name += "_"
        self._taken.add(name)
        return name

    # -- what ops return ---------------------------------------------------------------------

    def output(self, shape: Shape, name: str, json_form: bool = False) -> Any:
        """The type of a value of ``shape``; ``name`` names an object type made for it.
        ``json_form``: the op answers in its JSON form, the first of an ``Either``'s."""
        if isinstance(shape, Maybe):
            return Optional[self.output(shape.inner, name, json_form)]  # noqa: UP007 - a runtime type
        if isinstance(shape, Either):
            if json_form:
                return self.output(shape.options[0], name, json_form)
            return JSON
        if isinstance(shape, ListOf):
            return list[self.output(shape.item, name, json_form)]  # type: ignore[misc]
        if isinstance(shape, (Struct, Fields)):
            return self._object(shape, name, json_form)
        return _scalar(shape)

    def _object(self, shape: Struct | Fields, name: str, json_form: bool) -> Any:
        made = self._outputs.get(shape)
        if made is not None:
            return made
        annotations = {}
        for key, one, always in _fields_of(shape):
            kind = self.output(one, name + camel(key), json_form)
            annotations[key] = kind if always else Optional[kind]  # noqa: UP007
        cls = type(self._name(shape, name), (), {"__annotations__": annotations})
        made = self._outputs[shape] = strawberry.type(cls)
        return made

    # -- what ops take -----------------------------------------------------------------------

    def input(self, shape: Shape, name: str) -> Any:
        """The type of an argument of ``shape``."""
        if isinstance(shape, Maybe):
            return Optional[self.input(shape.inner, name)]  # noqa: UP007
        if isinstance(shape, ListOf):
            return list[self.input(shape.item, name)]  # type: ignore[misc]
        if isinstance(shape, (Record, Struct)):
            made = self._inputs.get(shape)
            if made is None:
                annotations = {key: self.input(one, name + camel(key)) for key, one in shape.fields}
                cls = type(self._name(shape, name), (), {"__annotations__": annotations})
                made = self._inputs[shape] = strawberry.input(cls)
            return made
        return _scalar(shape)


def _scalar(shape: Shape) -> Any:
    if isinstance(shape, Bool):
        return bool
    if isinstance(shape, Int):
        return _int_type(shape)
    if isinstance(shape, Num):
        return float
    if isinstance(shape, OneOf):
        return _int_type(shape) if all(type(v) is int for v in shape.values) else str
    if isinstance(shape, (Text, Bytes, Name, AbsPath)):
        return str
    if isinstance(shape, (MapOf, Value, Plain, Record)):
        return JSON
    raise TypeError(f"no GraphQL type for the shape {shape!r}")


def as_json(value: Any) -> Any:
    """An argument as GraphQL handed it over, as JSON would carry it (an input object: the
    map of its fields, or for a ``Record``, their values in order), for the same conversion
    the JSON API applies (``sdactors.node.http.args``)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    return value


def records_as_lists(shape: Shape, value: Any) -> Any:
    """``value`` (from :func:`as_json`) with each ``Record``'s map made the array it is."""
    if value is None:
        return None
    if isinstance(shape, Maybe):
        return records_as_lists(shape.inner, value)
    if isinstance(shape, ListOf) and isinstance(value, list):
        return [records_as_lists(shape.item, v) for v in value]
    if isinstance(shape, Record) and isinstance(value, dict):
        return [records_as_lists(one, value.get(key)) for key, one in shape.fields]
    if isinstance(shape, Struct) and isinstance(value, dict):
        declared = dict(shape.fields)
        return {
            k: records_as_lists(declared[k], v) if k in declared else v for k, v in value.items()
        }
    return value
