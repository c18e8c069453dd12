"""Values of declared shapes (``events.shapes``) as JSON carries them, both ways: the JSON
Schema of a shape, and a JSON value made what the shape holds.

JSON has no bytes. An id (bytes of a fixed size) travels as hex, as ``--json`` prints ids; a
path or a name travels as text, as ``--json`` prints paths (a byte that is not UTF-8 as the
escape of its lone surrogate, ``\\udcNN``), made bytes again with the file system's encoding.
The HTTP API (its OpenAPI document and its arguments) and the tools a language model is
given (``sd agent ask``) both speak it, so a client of either sees one form.
"""

from __future__ import annotations

import os
from typing import Any, Callable

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
from sdactors.runtime.errors import InvalidArgument

# JSON Schema keeps integers to what a double holds exactly past this; ours go further.
_SAFE = 1 << 53
# The schema of a shape this module does not know (a command's result shapes), or None.
Other = Callable[[Shape], "dict[str, Any] | None"]


def json_schema(shape: Shape, other: Other | None = None) -> dict[str, Any]:
    """The JSON Schema of a value of ``shape`` as JSON carries it; ``other`` answers for
    shapes declared elsewhere (it is asked first, at every level)."""

    def schema(shape: Shape) -> dict[str, Any]:
        found = other(shape) if other is not None else None
        if found is not None:
            return found
        if isinstance(shape, Maybe):
            return {"anyOf": [schema(shape.inner), {"type": "null"}]}
        if isinstance(shape, Bool):
            return {"type": "boolean"}
        if isinstance(shape, Int):
            out: dict[str, Any] = {"type": "integer"}
            if abs(shape.lo) <= _SAFE:
                out["minimum"] = shape.lo
            if abs(shape.hi) <= _SAFE:
                out["maximum"] = shape.hi
            return out
        if isinstance(shape, Num):
            return {"type": "number"}
        if isinstance(shape, Bytes) and shape.size is not None:
            hex_len = 2 * shape.size
            return {"type": "string", "pattern": f"^[0-9a-f]{{{hex_len}}}$", "description": "hex"}
        if isinstance(shape, (Bytes, AbsPath, Name)):
            return {"type": "string", "description": shape.describe() + ", as text"}
        if isinstance(shape, Text):
            out = {"type": "string", "minLength": shape.min}
            if shape.max <= _SAFE:
                out["maxLength"] = shape.max
            if shape.pattern:
                out["pattern"] = f"^(?:{shape.pattern})$"
            return out
        if isinstance(shape, OneOf):
            return {"enum": list(shape.values)}
        if isinstance(shape, ListOf):
            out = {"type": "array", "items": schema(shape.item), "minItems": shape.min}
            if shape.max <= _SAFE:
                out["maxItems"] = shape.max
            return out
        if isinstance(shape, Record):
            return {
                "type": "array",
                "description": f"fields in order: {', '.join(shape.names)}",
                "prefixItems": [schema(s) for _, s in shape.fields],
                "minItems": len(shape.fields),
                "maxItems": len(shape.fields),
            }
        if isinstance(shape, Struct):
            return json_object(shape.fields, (), other)
        if isinstance(shape, MapOf):
            return {"type": "object", "additionalProperties": schema(shape.value)}
        if isinstance(shape, Plain):
            return {"description": "any plain value"}
        return {"description": shape.describe()}

    return schema(shape)


def json_object(
    required: tuple[tuple[str, Shape], ...] | list[tuple[str, Shape]],
    optional: tuple[tuple[str, Shape], ...] | list[tuple[str, Shape]],
    other: Other | None = None,
) -> dict[str, Any]:
    """The JSON Schema of an object of named fields, ``required`` and ``optional``."""
    return {
        "type": "object",
        "properties": {name: json_schema(s, other) for name, s in (*required, *optional)},
        "required": [name for name, _ in required],
        "additionalProperties": False,
    }


def from_json(shape: Shape, value: Any, where: str) -> Any:
    """``value`` as JSON carried it, made what ``shape`` holds where JSON cannot say it (ids
    from hex, paths from text); anything else passes as it is, for the shape's own check to
    judge. ``where``: the field, for the one line saying what is wrong."""
    if isinstance(shape, Maybe):
        return None if value is None else from_json(shape.inner, value, where)
    if isinstance(shape, Bytes) and shape.size is not None:
        if not isinstance(value, str):
            return value
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise InvalidArgument(f"{where}: {value[:40]!r} is not hex") from None
    if isinstance(shape, (Bytes, Name, AbsPath)):
        if not isinstance(value, str):
            return value
        try:
            return os.fsencode(value)
        except UnicodeEncodeError:
            raise InvalidArgument(f"{where}: not a path this system can name") from None
    if isinstance(shape, ListOf) and isinstance(value, list):
        return tuple(from_json(shape.item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(shape, Record) and isinstance(value, list) and len(value) == len(shape.fields):
        return tuple(from_json(s, v, f"{where}.{n}") for (n, s), v in zip(shape.fields, value))
    if isinstance(shape, Struct) and isinstance(value, dict):
        return fields_from_json(shape, value, where)
    if isinstance(shape, MapOf) and isinstance(value, dict):
        return {
            from_json(shape.key, k, where): from_json(shape.value, v, f"{where}[{k!r}]")
            for k, v in value.items()
        }
    return value


def fields_from_json(shape: Struct, value: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Each known field converted; an unknown one is left for the op's check to name."""
    declared = dict(shape.fields)
    return {
        k: from_json(declared[k], v, f"{where}{'.' if where else ''}{k}") if k in declared else v
        for k, v in value.items()
    }
