"""The control socket's frames: any integer travels, a request is bounded, and an answer the
node cannot encode is an error answer on that connection, never the end of the node.

The last needs an answer no command gives any more (each one that did is fixed, and tested
where it is: totals past 2**64, sync status, drop list); the node's connection code is run
here as the node runs it, with a command whose result is something msgpack cannot carry.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import trio
import trio.testing

from sdactors.node.control.protocol import (
    HEADER,
    REQUEST_VALUES,
    ProtocolError,
    frame,
    length_of,
    message_of,
)
from sdactors.node.process import _connection

STATS = {"library": None, "at": None}


def test_integers_of_any_size_make_the_round_trip() -> None:
    values = [0, -1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1, 3 * (2**63 - 1), 2**500]
    message = {"id": 1, "result": {"n": values, "bytes_by_kind": {"big": 2**70}}}
    data = frame(message)
    assert message_of(data[HEADER.size :]) == message
    with pytest.raises(TypeError):
        frame({"n": 2**600})


@pytest.mark.hostile("M6")
def test_a_request_of_too_many_values_is_refused() -> None:
    n = REQUEST_VALUES + 1
    body = b"\x81\xa4args\xdd" + n.to_bytes(4, "big") + b"\x80" * n
    with pytest.raises(ProtocolError, match="more than"):
        message_of(body)


async def _answers(stream: trio.abc.Stream, request_id: int) -> list[dict[str, Any]]:
    """Frames for ``request_id`` up to its result or error."""
    got: list[dict[str, Any]] = []
    buffer = b""
    while not got or not ({"result", "error"} & set(got[-1])):
        while len(buffer) < HEADER.size or len(buffer) < HEADER.size + length_of(
            buffer[: HEADER.size]
        ):
            buffer += await stream.receive_some(1 << 16)
        length = length_of(buffer[: HEADER.size])
        got.append(message_of(buffer[HEADER.size : HEADER.size + length]))
        buffer = buffer[HEADER.size + length :]
    assert all(m["id"] == request_id for m in got)
    return got


@pytest.mark.hostile("M5")
async def test_an_answer_that_cannot_be_encoded_is_an_error_and_the_connection_goes_on() -> None:
    results: list[Any] = [{"odd": object()}, {"fine": 2**70}]

    def execute(command: Any, sink: Any) -> Any:
        sink.put({"progress": object()})  # cannot be sent either: left out, and logged
        return results.pop(0)

    process = SimpleNamespace(node=SimpleNamespace(execute=execute))
    client, server = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_connection, server, process)
        await client.send_all(frame({"id": 1, "op": "stats", "args": STATS}))
        first = await _answers(client, 1)
        assert first[0] == {"id": 1, "accepted": True}
        assert "could not send its answer" in first[-1]["error"]["message"]
        assert "progress" not in {k for m in first for k in m}
        await client.send_all(frame({"id": 2, "op": "stats", "args": STATS}))
        second = await _answers(client, 2)
        assert second[-1] == {"id": 2, "result": {"fine": 2**70}}
        await client.aclose()
