"""``/graphql`` in process: the node's HTTP app on a real node of a real data directory
(``tests/unit/test_http_api.py``'s fixture), asked through httpx's ASGI transport as a
program (an API key) or the browser (a session and its CSRF token) would.

Subscriptions over a real websocket to a real ``sd node run``:
tests/system/test_graphql_ws.py."""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx
import pytest
import trio

from tests.helpers_tree import write
from tests.unit import test_http_api
from tests.unit.test_http_api import ORIGIN, Api

# Its fixture: a node of a data directory with a library, a password and two keys.
api = test_http_api.api


async def _graphql(api: Api, key: str | None, query: str, **variables: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return await api.client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )


async def _data(api: Api, key: str, query: str, **variables: Any) -> Any:
    answer = await _graphql(api, key, query, **variables)
    body = answer.json()
    assert answer.status_code == 200 and "errors" not in body, body
    return body["data"]


async def test_queries_read_the_models_through_the_ops(api: Api) -> None:
    write(api.root, "docs/copy.txt", "the report\n")
    await _data(
        api, api.full, "mutation($at: String!) { location_rescan(location: $at) }", at=str(api.root)
    )
    data = await _data(
        api,
        api.reader,
        """query Look($q: String, $under: String) {
             library_list { name }
             location_list { path }
             ls(path: $under) { name type size device }
             search(query: $q, limit: 10) { path name size device }
             stats { files dirs bytes by_kind }
             duplicates { count paths }
             tag_list { name }
             jobs_list(all: true) { kind state }
             device_list { name this_device role }
             sync_status { device reason }
             log_show(limit: 3) { events items { pos type body } }
           }""",
        q="report",
        under=str(api.root / "docs"),
    )
    assert [lib["name"] for lib in data["library_list"]] == ["Home"]
    assert data["location_list"][0]["path"] == str(api.root)
    assert sorted(e["name"] for e in data["ls"]) == ["copy.txt", "notes.md", "report.txt"]
    assert [h["name"] for h in data["search"]] == ["report.txt"]
    assert data["stats"]["files"] == 4
    assert sorted(data["duplicates"][0]["paths"]) == [
        str(api.root / "docs" / "copy.txt"),
        str(api.root / "docs" / "report.txt"),
    ]
    assert data["tag_list"] == []
    assert {j["kind"] for j in data["jobs_list"]} == {"index"}
    assert [(d["this_device"], d["role"]) for d in data["device_list"]] == [(True, "admin")]
    assert data["sync_status"] == []
    shown = data["log_show"]
    assert shown["events"] == 3 and [e["pos"] for e in shown["items"]] == [1, 2, 3]


async def test_a_mutation_runs_its_op_audited_and_a_read_only_key_is_refused_it(
    api: Api,
) -> None:
    mutation = 'mutation { tag_create(name: "Holiday", color: "red") { name } }'
    refused = (await _graphql(api, api.reader, mutation)).json()
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "forbidden"
    assert "read-only" in refused["errors"][0]["message"]

    await _data(api, api.full, mutation)
    listed = await _data(api, api.reader, "{ tag_list { name color } }")
    assert listed["tag_list"] == [{"name": "Holiday", "color": "red"}]
    audit = (await _data(api, api.reader, "{ audit { command state } }"))["audit"]
    assert [(a["command"], a["state"]) for a in audit if a["command"] == "tag.create"] == [
        ("tag.create", "completed")
    ]

    # The op's own check answers: one line, and the code the JSON API gives.
    again = (await _graphql(api, api.full, mutation)).json()
    assert again["errors"][0]["extensions"]["code"] == "tag_exists"
    assert "\n" not in again["errors"][0]["message"]


async def test_without_a_key_or_the_csrf_token_a_mutation_is_refused(api: Api) -> None:
    mutation = {"query": 'mutation { tag_create(name: "X") { name } }'}
    assert (await api.client.post("/graphql", json=mutation)).status_code == 401
    forged = await api.client.post(
        "/graphql", json=mutation, headers={"authorization": "Bearer nope"}
    )
    assert forged.status_code == 401

    csrf = await api.login()
    refused = await api.client.post("/graphql", json=mutation)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "csrf")
    foreign = await api.client.post(
        "/graphql", json=mutation, headers={"x-csrf-token": csrf, "origin": "http://evil.example"}
    )
    assert foreign.status_code == 403
    made = await api.client.post(
        "/graphql", json=mutation, headers={"x-csrf-token": csrf, "origin": ORIGIN}
    )
    assert made.json() == {"data": {"tag_create": {"name": "X"}}}


async def test_the_past_through_at_and_a_bad_argument(api: Api) -> None:
    head = (await _data(api, api.full, "{ log_stats { events } }"))["log_stats"]["events"]
    write(api.root, "docs/later.txt", "later\n")
    await _data(
        api, api.full, "mutation($at: String!) { location_rescan(location: $at) }", at=str(api.root)
    )
    now = (await _data(api, api.full, "{ stats { files } }"))["stats"]["files"]
    then = await _data(
        api, api.full, "query($at: String) { stats(at: $at) { files } }", at=str(head)
    )
    assert then["stats"]["files"] == now - 1

    bad = (await _graphql(api, api.full, '{ search(query: "x", limit: 0) { name } }')).json()
    assert bad["errors"][0]["extensions"]["code"] == "invalid_argument"
    assert "limit" in bad["errors"][0]["message"]
    not_graphql = await api.client.post(
        "/graphql", json={"query": "{ nope"}, headers={"authorization": f"Bearer {api.full}"}
    )
    assert not_graphql.status_code == 400 and not_graphql.json()["errors"]
    streamed = await _graphql(api, api.full, "subscription { events { pos } }")
    assert streamed.status_code == 400
    assert "websocket" in streamed.json()["errors"][0]["message"]


async def test_search_p50(api: Api) -> None:
    """The figure the report gives: a small search through /graphql, in process."""
    times = []
    for _ in range(60):
        start = time.perf_counter()
        found = await _data(api, api.reader, '{ search(query: "report") { path } }')
        times.append(time.perf_counter() - start)
        assert len(found["search"]) == 1
    p50 = statistics.median(times[10:]) * 1000
    print(f"graphql search p50 {p50:.2f} ms (in process)")
    assert p50 < 100


def _socket(api: Api) -> Any:
    """A websocket to the app in process (starlette's test client: its own trio loop, in
    the worker thread that uses it)."""
    from starlette.testclient import TestClient

    client = TestClient(api.app, base_url="http://127.0.0.1:8787", backend="trio")
    return client.websocket_connect(
        "ws://127.0.0.1:8787/graphql",
        subprotocols=["graphql-transport-ws"],
        headers={"authorization": f"Bearer {api.full}"},
    )


def _closed_with(ws: Any) -> int:
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    return closed.value.code


async def test_a_protocol_fault_closes_the_socket_and_nothing_else(api: Api) -> None:
    def talk() -> int:
        with _socket(api) as ws:
            ws.send_json({"type": "connection_init"})
            assert ws.receive_json() == {"type": "connection_ack"}
            ws.send_json({"type": "connection_init"})
            return _closed_with(ws)

    assert await trio.to_thread.run_sync(talk) == 4429


async def test_a_client_that_never_says_init_is_closed(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sdactors.node.http.graphql import transport_ws

    monkeypatch.setattr(transport_ws, "INIT_WAIT_S", 0.2)

    def wait() -> int:
        with _socket(api) as ws:
            return _closed_with(ws)

    assert await trio.to_thread.run_sync(wait) == 4408


async def test_a_socket_runs_a_bounded_number_of_operations(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sdactors.node.http.graphql import transport_ws

    monkeypatch.setattr(transport_ws, "MOST_RUNNING", 1)
    live = {"query": "subscription { events { pos } }"}

    def talk() -> dict[str, Any]:
        with _socket(api) as ws:
            ws.send_json({"type": "connection_init"})
            assert ws.receive_json() == {"type": "connection_ack"}
            ws.send_json({"id": "1", "type": "subscribe", "payload": live})
            ws.send_json({"id": "2", "type": "subscribe", "payload": live})
            refused: dict[str, Any] = ws.receive_json()
            ws.send_json({"id": "1", "type": "complete"})
            ws.send_json(
                {"id": "3", "type": "subscribe", "payload": {"query": "{ tag_list { name } }"}}
            )
            assert ws.receive_json()["payload"] == {"data": {"tag_list": []}}
            return refused

    refused = await trio.to_thread.run_sync(talk)
    assert refused["id"] == "2" and refused["type"] == "error"
    assert "at most 1" in refused["payload"][0]["message"]


async def test_a_streaming_op_answers_a_bounded_number_of_items(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sdactors.node.http.graphql import schema

    monkeypatch.setattr(schema, "MOST_ITEMS", 2)
    answer = (await _graphql(api, api.reader, "{ log_show { events } }")).json()
    error = answer["errors"][0]
    assert (error["extensions"]["code"], error["message"]) == (
        "invalid_argument",
        "more than 2 events: give a limit",
    )
    shown = await _data(api, api.reader, "{ log_show(limit: 2) { events } }")
    assert shown["log_show"]["events"] == 2


async def test_a_document_runs_a_bounded_number_of_fields(api: Api) -> None:
    many = " ".join(f"t{i}: tag_list {{ name }}" for i in range(65))
    refused = await _graphql(api, api.reader, f"{{ {many} }}")
    assert refused.status_code == 400
    assert "aliases" in refused.json()["errors"][0]["message"]
    few = " ".join(f"t{i}: tag_list {{ name }}" for i in range(64))
    assert len(await _data(api, api.reader, f"{{ {few} }}")) == 64
