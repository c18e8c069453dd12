"""``GET /api/v1/ops``: every op as an OpenAPI 3 operation, generated from the shapes its
arguments and its result declare (``events.shapes``, ``sdactors.ops.results``), so the
document cannot drift from what the node checks and answers."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from events.shapes import Shape, declared_shape
from sdactors.node.http.access import HOST_PATHS, READS
from sdactors.ops import registry  # noqa: F401 - every command registered
from sdactors.ops.base import command_class, commands
from sdactors.ops.results import Either, Fields, Value
from sdactors.runtime.json_shapes import json_object, json_schema


def _results(shape: Shape) -> dict[str, Any] | None:
    """The JSON Schema of the shapes only results declare (``sdactors.ops.results``)."""
    if isinstance(shape, Fields):
        return json_object(shape.required, shape.optional, _results)
    if isinstance(shape, Either):
        return {"oneOf": [schema(s) for s in shape.options]}
    if isinstance(shape, Value):
        return {"description": "any plain value"}
    return None


def schema(shape: Shape) -> dict[str, Any]:
    """The JSON Schema of a value of ``shape`` as JSON carries it (ids hex, paths text)."""
    return json_schema(shape, _results)


def _object(
    required: tuple[tuple[str, Shape], ...], optional: tuple[tuple[str, Shape], ...]
) -> dict[str, Any]:
    return json_object(required, optional, _results)


def _arguments(cls: type) -> dict[str, Any]:
    shape = declared_shape(cls)
    defaults = {f.name for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING} | {
        f.name for f in dataclasses.fields(cls) if f.default_factory is not dataclasses.MISSING
    }
    out = _object(shape.fields, ())
    out["required"] = [name for name, _ in shape.fields if name not in defaults]
    for f in dataclasses.fields(cls):
        if f.name in defaults and f.default is not dataclasses.MISSING:
            default = f.default
            out["properties"][f.name] = {**out["properties"][f.name]}
            out["properties"][f.name]["default"] = (
                list(default) if isinstance(default, tuple) else default
            )
    return out


_ERROR = {
    "description": "refused or failed: the CLI's one line",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _operation(name: str) -> dict[str, Any]:
    cls = command_class(name)
    doc = (cls.__doc__ or "").strip()
    if not doc or doc.startswith(f"{cls.__name__}("):  # the dataclass's own, not ours
        doc = name
    access = (
        "read-only keys may run it"
        if name in READS and name not in HOST_PATHS
        else "a full key or a session only"
    )
    if cls.stream is not None:
        ok = {
            "description": "one JSON line per item it sends",
            "content": {"application/x-ndjson": {"schema": schema(cls.stream)}},
        }
    else:
        ok = {
            "description": "as sd --json prints it",
            "content": {"application/json": {"schema": schema(cls.result)}},
        }
    return {
        "operationId": name,
        "summary": doc.splitlines()[0],
        "description": f"{doc}\n\n{'Writes (audited). ' if cls.writes else ''}Access: {access}.",
        "tags": [name.split(".")[0]],
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": _arguments(cls)}},
        },
        "responses": {
            "200": ok,
            "400": _ERROR,
            "401": _ERROR,
            "403": _ERROR,
            "404": _ERROR,
            "409": _ERROR,
            "500": _ERROR,
        },
    }


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every op (the same for the node's whole life)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sdactors node",
            "version": "1",
            "description": (
                "Every op of sd, at POST /api/v1/op/{name}. Ids travel as hex, paths as text. "
                "Authenticate with Authorization: Bearer KEY (sd api key create NAME), or a "
                "session (POST /api/v1/login) plus X-CSRF-Token on every write."
            ),
        },
        "paths": {f"/api/v1/op/{name}": {"post": _operation(name)} for name in commands()},
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                            "required": ["code", "message"],
                        }
                    },
                    "required": ["error"],
                }
            },
            "securitySchemes": {
                "key": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "sd_session"},
            },
        },
        "security": [{"key": []}, {"session": []}],
    }
