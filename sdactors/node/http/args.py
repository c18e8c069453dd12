"""An op's arguments as JSON carries them (``sdactors.runtime.json_shapes``: ids as hex,
paths as text), turned into what its declared shapes hold; the op's own check
(``sdactors.ops.base.decode``) says what is wrong with anything else.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

from starlette.requests import Request

from events.shapes import Struct, declared_shape
from sdactors.ops.base import Op, command_class, decode
from sdactors.runtime.errors import InvalidArgument
from sdactors.runtime.json_shapes import fields_from_json

# A request's body larger than this is refused (an op's arguments are small).
MOST_BODY = 1 << 20


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
