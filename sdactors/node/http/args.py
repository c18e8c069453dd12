"""An op's arguments as JSON carries them, turned into what its declared shapes hold.

JSON has no bytes. Where a shape holds bytes: an id (bytes of a fixed size) travels as hex,
as ``--json`` prints ids; a path or a name travels as text, as ``--json`` prints paths (a byte
that is not UTF-8 as the escape of its lone surrogate, ``\\udcNN``), made bytes again with the
file system's encoding. Anything else passes as it is, and the op's own check
(``sdactors.ops.base.decode``) says what is wrong with it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any

from starlette.requests import Request

from events.shapes import (
    AbsPath,
    Bytes,
    ListOf,
    MapOf,
    Maybe,
    Name,
    Record,
    Shape,
    Struct,
    declared_shape,
)
from sdactors.ops.base import Op, command_class, decode
from sdactors.runtime.errors import InvalidArgument

# A request's body larger than this is refused (an op's arguments are small).
MOST_BODY = 1 << 20


def from_json(shape: Shape, value: Any, where: str) -> Any:
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


@functools.cache
def _declared(cls: type) -> tuple[Struct, tuple[tuple[str, Any], ...], tuple[str, ...]]:
    """An op's argument shapes, its defaults and its required fields (read once: reading
    annotations costs a millisecond)."""
    defaults: list[tuple[str, Any]] = []
    required: list[str] = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            defaults.append((f.name, lambda v=f.default: v))
        elif f.default_factory is not dataclasses.MISSING:
            defaults.append((f.name, f.default_factory))
        else:
            required.append(f.name)
    return declared_shape(cls), tuple(defaults), tuple(required)


def command_of(name: str, given: Any) -> Op:
    """The op ``name`` with the arguments a JSON object gave (defaults filled in)."""
    try:
        cls = command_class(name)
    except KeyError:
        raise InvalidArgument(f"unknown command {name!r}") from None
    if type(given) is not dict:
        raise InvalidArgument(f"{name}: the arguments must be a JSON object")
    shape, defaults, required = _declared(cls)
    args = fields_from_json(shape, given)
    for field, make in defaults:
        if field not in args:
            args[field] = make()
    for field in required:
        if field not in args:
            raise InvalidArgument(f"{name}: the argument {field} is missing")
    return decode(name, args)


async def json_body(request: Request) -> Any:
    """A request's body as JSON (nothing: an empty map), refused past MOST_BODY."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MOST_BODY:
            raise InvalidArgument(f"a request body of more than {MOST_BODY} bytes")
    if not body:
        return {}
    try:
        return json.loads(body)
    except ValueError as exc:
        raise InvalidArgument(f"the body is not JSON: {exc}") from None
