"""Plain values as JSON holds them: what a command's result gives where an event's body (or
a row of the index) holds bytes.

Here, not in the CLI: a command that answers with event bodies (``sd log show --json``)
converts them where it runs, so every client gets the same lossless answer.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack


def jsonable(value: Any) -> Any:
    """Event bodies hold bytes and tuples; JSON gets hex strings and arrays."""
    # The plain types by their exact type first: a search's answer is hundreds of values,
    # each walked here (a chain of isinstance calls per value cost a millisecond a request).
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): jsonable(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [jsonable(v) for v in value]
    if kind is bytes:
        return value.hex()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, msgpack.Timestamp):
        # msgpack's timestamp extension, e.g. in an event of a type this version does not know.
        return value.to_unix_nano()
    return value


# A byte of a name that is not UTF-8 comes as a lone surrogate, U+DC80 to U+DCFF
# (``sdactors.runtime.paths.text``): people see it as \xNN, JSON as the escape \udcNN.
BYTES = range(0xDC80, 0xDD00)
# Characters that str.splitlines() and some terminals treat as line breaks: escaped in JSON so
# one JSON value is always one line, whatever names it holds; and those bytes.
_JSON_ESCAPES = str.maketrans(
    {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
    | {code: f"\\u{code:04x}" for code in BYTES}
)


def dumps(value: Any) -> str:
    """A result as ``--json`` prints it (and the HTTP API sends it): one line of JSON, the
    bytes of a name that is not UTF-8 as the escapes of their surrogates."""
    return json.dumps(jsonable(value), ensure_ascii=False).translate(_JSON_ESCAPES)
