"""Plain values as JSON holds them: what a command's result gives where an event's body (or
a row of the index) holds bytes.

Here, not in the CLI: a command that answers with event bodies (``sd log show --json``)
converts them where it runs, so every client gets the same lossless answer.
"""

from __future__ import annotations

from typing import Any

import msgpack


def jsonable(value: Any) -> Any:
    """Event bodies hold bytes and tuples; JSON gets hex strings and arrays."""
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
