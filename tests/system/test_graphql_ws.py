"""GraphQL subscriptions against a real ``sd node run``: graphql-transport-ws over a real
websocket to the node's HTTP server (hypercorn under trio) on 127.0.0.1, seeing what ``sd``
commands do meanwhile."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import trio

from tests.conftest import Sd
from tests.helpers_cluster import Peer, device
from tests.helpers_tree import write
from tests.helpers_ws import Closed, WebSocket

pytestmark = pytest.mark.slow


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[Sd, str, str, Peer]]:
    """A node serving library Home; its GraphQL websocket's URL and a full API key."""
    sd = device(tmp_path, "laptop")
    sd.run("library", "create", "Home")
    key = sd.json("api", "key", "create", "tools")["key"]
    peer = Peer(sd, tmp_path / "node.log")
    try:
        peer.start()
        url = peer.status()["http"]["url"].replace("http://", "ws://") + "/graphql"
        yield sd, url, key, peer
        if peer.proc is not None and peer.proc.poll() is None:
            peer.stop()
    finally:
        peer.kill_if_running()


async def _connected(url: str, key: str) -> WebSocket:
    ws = await WebSocket.open(url, {"authorization": f"Bearer {key}"})
    assert ws.subprotocol == "graphql-transport-ws"
    await ws.send({"type": "connection_init", "payload": {}})
    assert await ws.receive() == {"type": "connection_ack"}
    return ws


async def test_a_subscription_sees_the_event_a_command_causes(
    node: tuple[Sd, str, str, Peer],
) -> None:
    sd, url, key, _peer = node
    ws = await _connected(url, key)
    try:
        await ws.send({"type": "ping"})
        assert await ws.receive() == {"type": "pong"}
        await ws.send(
            {
                "id": "tags",
                "type": "subscribe",
                "payload": {
                    "query": "subscription($t: [String!]) { events(types: $t) { pos type body } }",
                    "variables": {"t": ["tag."]},
                },
            }
        )
        # Subscribed from now on: what the library held before is not sent.
        await trio.to_thread.run_sync(lambda: sd.run("tag", "create", "Photos"))
        message = await ws.receive()
        assert message["id"] == "tags" and message["type"] == "next", message
        event = message["payload"]["data"]["events"]
        assert event["type"] == "tag.created" and event["body"]["name"] == "Photos"

        # A query over the same socket: one next, then complete.
        await ws.send(
            {"id": "q", "type": "subscribe", "payload": {"query": "{ tag_list { name } }"}}
        )
        answer = await ws.receive()
        assert answer["payload"]["data"]["tag_list"] == [{"name": "Photos"}], answer
        assert await ws.receive() == {"id": "q", "type": "complete"}

        # Completed by the client: nothing more comes for it.
        await ws.send({"id": "tags", "type": "complete"})
        await trio.to_thread.run_sync(lambda: sd.run("tag", "create", "Later"))
        await ws.send({"type": "ping"})
        assert await ws.receive() == {"type": "pong"}

        # A document that cannot run is an error, with nothing after it.
        await ws.send(
            {"id": "bad", "type": "subscribe", "payload": {"query": "subscription { nope }"}}
        )
        error = await ws.receive()
        assert error["type"] == "error" and error["id"] == "bad"
        assert "nope" in error["payload"][0]["message"]

        # The same id twice while it runs closes the socket (4409).
        subscribe = {
            "id": "twice",
            "type": "subscribe",
            "payload": {"query": "subscription { events { pos } }"},
        }
        await ws.send(subscribe)
        await ws.send(subscribe)
        with pytest.raises(Closed) as closed:
            await ws.receive()
        assert closed.value.code == 4409
    finally:
        await ws.close()


async def test_the_protocol_is_kept_strangers_are_refused_and_a_stop_ends_the_streams(
    node: tuple[Sd, str, str, Peer],
) -> None:
    _sd, url, key, peer = node
    with pytest.raises(Closed) as refused:
        await WebSocket.open(url)  # no key, no session
    assert refused.value.code in (401, 403, 4401)

    ws = await WebSocket.open(url, {"authorization": f"Bearer {key}"})
    await ws.send({"id": "1", "type": "subscribe", "payload": {"query": "{ tag_list { name } }"}})
    with pytest.raises(Closed) as early:
        await ws.receive()
    assert early.value.code == 4401  # before connection_init's ack
    await ws.close()

    ws = await _connected(url, key)
    await ws.send({"type": "connection_init"})
    with pytest.raises(Closed) as twice:
        await ws.receive()
    assert twice.value.code == 4429
    await ws.close()

    # The node stops: the subscription completes, the socket closes (going away), and the
    # node exits 0 within its drain time.
    ws = await _connected(url, key)
    await ws.send(
        {"id": "live", "type": "subscribe", "payload": {"query": "subscription { events { pos } }"}}
    )
    await ws.send({"type": "ping"})
    assert await ws.receive() == {"type": "pong"}
    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.to_thread.run_sync, peer.stop)
        assert await ws.receive() == {"id": "live", "type": "complete"}
        with pytest.raises(Closed) as gone:
            await ws.receive()
        assert gone.value.code == 1001
    assert trio.current_time() - started < 10
    await ws.close()


async def test_a_job_s_progress_to_its_end_and_the_log_resumed_from_a_position(
    node: tuple[Sd, str, str, Peer], tmp_path: Path
) -> None:
    sd, url, key, _peer = node
    tree = tmp_path / "docs"
    for i in range(300):
        write(tree, f"d{i % 7}/file-{i}.txt", f"file {i}\n")
    await trio.to_thread.run_sync(lambda: sd.run("location", "add", str(tree), "--no-wait"))
    job = sd.json("jobs", "list", "--all")[0]["id"]
    ws = await _connected(url, key)
    try:
        await ws.send(
            {
                "id": "job",
                "type": "subscribe",
                "payload": {
                    "query": "subscription($j: String!) { job(job: $j) { id kind state } }",
                    "variables": {"j": job[:8]},
                },
            }
        )
        states = []
        while (message := await ws.receive(timeout=60))["type"] == "next":
            assert "errors" not in message["payload"], message
            seen = message["payload"]["data"]["job"]
            assert (seen["id"], seen["kind"]) == (job, "index")
            states.append(seen["state"])
        assert message == {"id": "job", "type": "complete"}
        assert states[-1] == "completed" and states.count("completed") == 1, states

        # From position 0: the library's past first (its creation), then live.
        await ws.send(
            {
                "id": "past",
                "type": "subscribe",
                "payload": {"query": "subscription { events(after: 0) { pos type } }"},
            }
        )
        first = await ws.receive()
        assert first["payload"]["data"]["events"] == {"pos": 1, "type": "device.registered"}
    finally:
        await ws.close()
