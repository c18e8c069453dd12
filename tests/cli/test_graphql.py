"""``/graphql`` in process: the node's HTTP app (``build_app``) around a ``Node`` of a data
directory that ``sd`` made, asked through httpx's ASGI transport as a program would, with
an API key ``sd api key create`` printed."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import httpx
import pytest

from sdactors.node.http.app import build_app
from sdactors.node.node import Node
from tests.conftest import Sd


class _Host:
    """The HTTP server's host (``sd node run``'s ``NodeProcess``), over an in-process Node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.data = node.data

    def execute(self, command: Any, progress: Any = None) -> Any:
        return self.node.execute(command, progress)

    def find_id(self, wanted: str | None) -> str:
        return self.node.find(wanted).id

    def served(self, library_id: str) -> Any:
        return self.node.open_library(library_id)

    def status(self) -> dict[str, Any]:
        return {}


@pytest.fixture
def library(sd: Sd, tmp_path: Path) -> Path:
    tree = tmp_path / "photos"
    (tree / "2024").mkdir(parents=True)
    for name in ("beach.jpg", "beach-2.jpg", "notes.txt"):
        (tree / "2024" / name).write_bytes(name.encode() * 10)
    (tree / "2024" / "copy-of-beach.jpg").write_bytes(b"beach.jpg" * 10)
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(tree))
    return tree


@pytest.fixture
def node(sd: Sd, library: Path) -> Iterator[Node]:
    with Node(sd.data_dir) as running:
        yield running


@pytest.fixture
async def client(node: Node) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(_Host(node))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:0") as c:
        yield c


async def _graphql(
    client: httpx.AsyncClient, key: str | None, query: str, **variables: Any
) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )


@pytest.fixture
def keys(sd: Sd, library: Path) -> dict[str, str]:
    return {
        "full": sd.json("api", "key", "create", "tools")["key"],
        "read": sd.json("api", "key", "create", "viewer", "--read-only")["key"],
    }


async def test_queries_read_the_models_through_the_ops(
    keys: dict[str, str], client: httpx.AsyncClient, library: Path
) -> None:
    key = keys["read"]
    answer = await _graphql(
        client,
        key,
        """query Look($q: String, $under: String) {
             library_list { name }
             location_list { path }
             ls(path: $under)
             search(query: $q, limit: 10) { path name size device }
             stats { files dirs bytes by_kind }
             duplicates { count paths }
             tag_list { name }
             log_show(limit: 3) { events items { pos type body } }
           }""",
        q="beach",
        under=str(library / "2024"),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "errors" not in body, body
    data = body["data"]
    assert [lib["name"] for lib in data["library_list"]] == ["Home"]
    assert data["location_list"][0]["path"] == str(library)
    assert sorted(e["name"] for e in data["ls"]) == [
        "beach-2.jpg",
        "beach.jpg",
        "copy-of-beach.jpg",
        "notes.txt",
    ]
    assert [h["name"] for h in data["search"]][:2] == ["beach.jpg", "beach-2.jpg"]
    assert data["stats"]["files"] == 4 and data["stats"]["dirs"] >= 1
    assert data["duplicates"][0]["count"] == 2
    assert sorted(data["duplicates"][0]["paths"]) == [
        str(library / "2024" / "beach.jpg"),
        str(library / "2024" / "copy-of-beach.jpg"),
    ]
    assert data["tag_list"] == []
    shown = data["log_show"]
    assert shown["events"] == 3 and [e["pos"] for e in shown["items"]] == [1, 2, 3]


async def test_a_mutation_runs_its_op_audited_and_a_read_only_key_is_refused_it(
    sd: Sd, keys: dict[str, str], client: httpx.AsyncClient
) -> None:
    mutation = 'mutation { tag_create(name: "Holiday", color: "red") { name } }'
    refused = (await _graphql(client, keys["read"], mutation)).json()
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "forbidden"
    assert "read-only" in refused["errors"][0]["message"]

    made = (await _graphql(client, keys["full"], mutation)).json()
    assert "errors" not in made, made
    listed = (await _graphql(client, keys["read"], "{ tag_list { name color } }")).json()
    assert listed["data"]["tag_list"] == [{"name": "Holiday", "color": "red"}]
    audit = (await _graphql(client, keys["read"], "{ audit { command state arguments } }")).json()[
        "data"
    ]["audit"]
    assert [(a["command"], a["state"]) for a in audit if a["command"] == "tag.create"] == [
        ("tag.create", "completed")
    ]

    # The op's own checks answer, as one line with a code.
    again = (await _graphql(client, keys["full"], mutation)).json()
    assert again["errors"][0]["extensions"]["code"] == "tag_exists"
    assert again["errors"][0]["message"].count("\n") == 0


async def test_without_a_key_nothing_runs(keys: dict[str, str], client: httpx.AsyncClient) -> None:
    answer = await _graphql(client, None, 'mutation { tag_create(name: "X") { name } }')
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] in ("unauthenticated", "no_password")
    forged = await _graphql(client, "not-a-key", "{ tag_list { name } }")
    assert forged.status_code == 401


async def test_the_past_through_at_and_a_bad_argument(
    keys: dict[str, str], client: httpx.AsyncClient, library: Path
) -> None:
    key = keys["full"]
    head = (await _graphql(client, key, "{ log_stats { events } }")).json()["data"]
    await _graphql(client, key, 'mutation { tag_create(name: "Later") { name } }')
    (library / "2024" / "new.jpg").write_bytes(b"new")
    await _graphql(client, key, f'mutation {{ location_rescan(location: "{library}") }}')
    now = (await _graphql(client, key, "{ stats { files } }")).json()["data"]["stats"]["files"]
    before = await _graphql(client, key, "query($at: String) { stats(at: $at) { files } }", at="3")
    assert before.json()["data"]["stats"]["files"] < now, (before.json(), now, head)

    bad = (await _graphql(client, key, '{ search(query: "x", limit: 0) { name } }')).json()
    assert bad["errors"][0]["extensions"]["code"] == "invalid_argument"
    assert "limit" in bad["errors"][0]["message"]


async def test_search_p50(keys: dict[str, str], client: httpx.AsyncClient) -> None:
    """The figure the report gives: a small search through /graphql, in process."""
    times = []
    for _ in range(60):
        start = time.perf_counter()
        answer = await _graphql(client, keys["read"], '{ search(query: "beach") { path } }')
        times.append(time.perf_counter() - start)
        assert len(answer.json()["data"]["search"]) == 3
    p50 = statistics.median(times[10:]) * 1000
    print(f"graphql search p50 {p50:.2f} ms (in process, {os.cpu_count()} cpus)")
    assert p50 < 100
