"""The node's HTTP API in process: the app ``sd node run`` serves, on a real node of a real
data directory, driven through httpx's ASGI transport the way a browser or a program would
(a password and a session with its CSRF token; API keys, full and read-only).

Against a real ``sd node run`` on 127.0.0.1: tests/system/test_http_node.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, AsyncIterator

import httpx
import pytest
import trio
from starlette.routing import Mount, Route

from sdactors.library.config import list_libraries
from sdactors.node.http import access
from sdactors.node.http.app import build_app
from sdactors.node.http.openapi import document
from sdactors.node.process import NodeProcess
from sdactors.ops.base import CHECK_RESULTS_ENV, command_class, commands
from sdactors.runtime.errors import TagExists
from sdactors.runtime.plain import dumps
from tests.conftest import Sd
from tests.helpers_tree import write

PASSWORD = "correct horse battery"
BASE = "http://127.0.0.1:8787"
ORIGIN = BASE


class Api:
    def __init__(self, client: httpx.AsyncClient, sd: Sd, app: Any, root: Path) -> None:
        self.client = client
        self.sd = sd
        self.app = app
        self.root = root
        self.full = sd.json("api", "key", "create", "full")["key"]
        self.reader = sd.json("api", "key", "create", "reader", "--read-only")["key"]

    async def op(self, op_name: str, key: str | None = None, /, **args: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {key or self.full}"}
        return await self.client.post(f"/api/v1/op/{op_name}", json=args, headers=headers)

    async def login(self) -> str:
        answer = await self.client.post("/api/v1/login", json={"password": PASSWORD})
        assert answer.status_code == 200, answer.text
        return answer.json()["csrf"]


@pytest.fixture
async def api(sd: Sd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    monkeypatch.setenv(CHECK_RESULTS_ENV, "1")
    root = tmp_path / "tree"
    write(root, "docs/report.txt", "the report\n")
    write(root, "docs/notes.md", "notes\n")
    write(root, "pics/cat.txt", "a cat\n")
    sd.run("library", "create", "Home")
    sd.run("location", "add", str(root))
    sd.run("web", "password", input=PASSWORD + "\n")
    process = NodeProcess(sd.data_dir)
    try:
        # Its libraries served as the node serves them (no watches: nothing changes on disk
        # here but what the test rescans).
        for config in list_libraries(process.data):
            await trio.to_thread.run_sync(process._open, config.id, config.name)
        app = build_app(process, access.Binding("127.0.0.1", 8787))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield Api(client, sd, app, root)
    finally:
        await trio.to_thread.run_sync(process.close)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def _routes(app: Any) -> list[tuple[str, set[str]]]:
    out = []
    for route in app.routes:
        if isinstance(route, Route):
            out.append((route.path, set(route.methods or {"GET"})))
        elif isinstance(route, Mount) and route.name != "page":
            out.append((route.path + "/x", {"GET", "POST"}))
    return out


async def test_every_route_but_logging_in_is_refused_without_a_session_or_key(api: Api) -> None:
    routes = _routes(api.app)
    assert len(routes) >= 9
    checked = 0
    for path, methods in routes:
        for method in methods - {"HEAD"}:
            answer = await api.client.request(method, _concrete(path))
            if path in access.PUBLIC or path == "/":
                # Reached (what it answers is its own: a login without a password fails).
                assert "unauthenticated" not in answer.text, (method, path)
                continue
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.json()["error"]["code"] == "unauthenticated"
            checked += 1
    assert checked >= 6
    # A key that is not one (or no longer one) is refused the same way.
    answer = await api.op("tag.list", "sdk_not-a-key")
    assert answer.status_code == 401
    api.sd.run("api", "key", "revoke", "reader")
    answer = await api.op("tag.list", api.reader)
    assert (answer.status_code, answer.json()["error"]["code"]) == (401, "bad_key")


async def test_an_op_answers_what_the_cli_prints_and_writes_through_the_audit(api: Api) -> None:
    created = await api.op("tag.create", name="Holiday", color="#00ff00")
    assert created.status_code == 200, created.text
    assert created.json()["name"] == "Holiday"
    listed = await api.op("tag.list")
    assert listed.json() == api.sd.json("tag", "list")
    # Paths travel as text, ids as hex; arguments with defaults may be left out.
    tagged = await api.op("tag.add", paths=[str(api.root / "docs/report.txt")], tag="Holiday")
    assert tagged.status_code == 200, tagged.text
    found = await api.op("search", query="report")
    assert found.json() == api.sd.json("search", "report")
    assert found.json()[0]["tags"] == ["Holiday"]
    info = await api.op("info", path=str(api.root / "docs/report.txt"))
    assert info.json() == api.sd.json("info", str(api.root / "docs/report.txt"))
    audit = (await api.op("audit")).json()
    assert {"tag.create", "tag.add"} <= {a["command"] for a in audit}


async def test_a_failure_is_one_json_error_with_the_cli_s_line(api: Api) -> None:
    await api.op("tag.create", name="Dup")
    again = await api.op("tag.create", name="Dup")
    assert again.status_code == 409
    line = str(TagExists("Dup"))  # what sd prints after "sd: error: "
    assert again.json() == {"error": {"code": "tag_exists", "message": line}}
    unknown = await api.op("tag.explode")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "unknown_op")
    wrong = await api.op("tag.create", name=7)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == {
        "code": "invalid_argument",
        "message": "tag.create: name: 7 is not text",
    }
    missing = await api.op("tag.create")
    assert "name is missing" in missing.json()["error"]["message"]
    extra = await api.op("tag.list", shout=True)
    assert extra.status_code == 400
    not_json = await api.client.post(
        "/api/v1/op/tag.list", content=b"{", headers={"authorization": f"Bearer {api.full}"}
    )
    assert not_json.json()["error"]["code"] == "invalid_argument"


async def test_a_read_only_key_reads_and_is_refused_every_write(api: Api) -> None:
    assert (await api.op("search", api.reader, query="cat")).status_code == 200
    for name, args in [
        ("tag.create", {"name": "Nope"}),
        ("location.add", {"path": str(api.root)}),
        ("log.export", {"file": str(api.root / "out.sdlog")}),
        ("api.key.create", {"name": "more"}),
        ("web.password", {"password": "something else"}),
    ]:
        answer = await api.op(name, api.reader, **args)
        assert (answer.status_code, answer.json()["error"]["code"]) == (403, "forbidden"), name
    assert not (api.root / "out.sdlog").exists()
    assert (await api.op("tag.list")).json() == []
    # Every op is either a read or refused to it: a new op is a write until listed.
    for name in commands():
        refusal = access.Principal("key", "r", read_only=True).refusal(name)
        assert (refusal is None) == (name in access.READS and name not in access.HOST_PATHS), name


async def test_a_session_writes_only_with_its_csrf_token_and_from_its_own_origin(api: Api) -> None:
    session = (await api.client.get("/api/v1/session")).json()
    assert session == {"authenticated": False, "csrf": None, "password_set": True}
    wrong = await api.client.post("/api/v1/login", json={"password": "not it at all"})
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "bad_password")
    answer = await api.client.post("/api/v1/login", json={"password": PASSWORD})
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    csrf = answer.json()["csrf"]
    assert (await api.client.get("/api/v1/session")).json()["csrf"] == csrf
    # A read with the session alone.
    assert (await api.client.get("/api/v1/ops")).status_code == 200

    async def write(name: str, headers: dict[str, str]) -> httpx.Response:
        return await api.client.post("/api/v1/op/tag.create", json={"name": name}, headers=headers)

    refused = await write("NoToken", {})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "csrf")
    refused = await write("BadToken", {"x-csrf-token": csrf[:-1] + "A"})
    assert refused.json()["error"]["code"] == "csrf"
    foreign = await write("Foreign", {"x-csrf-token": csrf, "origin": "http://evil.example"})
    assert (foreign.status_code, foreign.json()["error"]["code"]) == (403, "foreign_origin")
    assert (await write("Mine", {"x-csrf-token": csrf, "origin": ORIGIN})).status_code == 200
    assert (await write("NoOrigin", {"x-csrf-token": csrf})).status_code == 200
    listed = await api.op("tag.list")
    assert [t["name"] for t in listed.json()] == ["Mine", "NoOrigin"]
    # Logging out ends the session.
    assert (
        await api.client.post("/api/v1/logout", headers={"x-csrf-token": csrf})
    ).status_code == 200
    assert (await api.client.get("/api/v1/ops")).status_code == 401


async def test_a_foreign_host_is_refused_on_loopback(api: Api) -> None:
    for host in ("evil.example", "evil.example:8787", "127.0.0.1:9999", "127.0.0.1"):
        answer = await api.client.get("/api/v1/session", headers={"host": host})
        assert (answer.status_code, answer.json()["error"]["code"]) == (403, "foreign_host"), host
    for host in ("localhost:8787", "127.0.0.1:8787", "[::1]:8787"):
        answer = await api.client.get("/api/v1/session", headers={"host": host})
        assert answer.status_code == 200, host


async def test_until_a_password_is_set_the_page_and_session_say_how(sd: Sd, tmp_path: Path) -> None:
    sd.run("library", "create", "Home")
    process = NodeProcess(sd.data_dir)
    try:
        app = build_app(process, access.Binding("127.0.0.1", 8787))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE
        ) as client:
            session = (await client.get("/api/v1/session")).json()
            assert session["password_set"] is False and "sd web password" in session["how"]
            page = await client.get("/")
            assert page.status_code == 200 and "sd web password" in page.text
            refused = await client.post("/api/v1/op/tag.list", json={})
            assert refused.json()["error"]["code"] == "no_password"
            assert "sd web password" in refused.json()["error"]["message"]
    finally:
        await trio.to_thread.run_sync(process.close)


async def test_the_openapi_document_has_every_op_with_its_declared_arguments(api: Api) -> None:
    doc = (
        await api.client.get("/api/v1/ops", headers={"authorization": f"Bearer {api.reader}"})
    ).json()
    assert doc == json.loads(json.dumps(document()))
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    assert set(paths) == {f"/api/v1/op/{name}" for name in commands()}
    search = paths["/api/v1/op/search"]["post"]
    args = search["requestBody"]["content"]["application/json"]["schema"]
    assert args["required"] == []
    assert args["properties"]["limit"]["type"] == "integer"
    created = paths["/api/v1/op/tag.create"]["post"]["requestBody"]["content"]["application/json"]
    assert created["schema"]["required"] == ["name"]
    for name in commands():
        cls = command_class(name)
        op = paths[f"/api/v1/op/{name}"]["post"]
        assert op["operationId"] == name
        assert "200" in op["responses"] and "403" in op["responses"]
        shape = op["requestBody"]["content"]["application/json"]["schema"]
        assert set(shape["properties"]) == {f.name for f in dataclasses.fields(cls)}


async def test_a_streaming_op_answers_one_json_line_per_item(api: Api) -> None:
    await api.op("tag.create", name="Streamed")
    answer = await api.op("log.tail", count=3)
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert lines == api.sd.json_lines("log", "tail", "-n", "3")
    follow = await api.op("log.tail", follow=True)
    assert follow.status_code == 400 and "/api/v1/events" in follow.json()["error"]["message"]


async def test_a_file_and_a_thumbnail_are_behind_the_guard_and_served_safely(api: Api) -> None:
    lib = api.sd.json("library", "list")[0]["id"]
    path = str(api.root / "docs/report.txt")
    headers = {"authorization": f"Bearer {api.reader}"}
    assert (await api.client.get(f"/api/v1/file/{lib}", params={"path": path})).status_code == 401
    answer = await api.client.get(f"/api/v1/file/{lib}", params={"path": path}, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.content == b"the report\n"
    assert answer.headers["content-security-policy"] == "sandbox"
    assert answer.headers["x-content-type-options"] == "nosniff"
    write(api.root, "docs/page.html", "<script>alert(1)</script>")
    rescan = await api.op("location.rescan", None, location=str(api.root))
    assert rescan.status_code == 200, rescan.text
    page = await api.client.get(
        f"/api/v1/file/{lib}", params={"path": str(api.root / "docs/page.html")}, headers=headers
    )
    assert page.status_code == 200, page.text
    assert page.headers["content-disposition"] == "attachment"
    assert page.headers["content-type"] == "application/octet-stream"
    outside = await api.client.get(
        f"/api/v1/file/{lib}", params={"path": "/etc/passwd"}, headers=headers
    )
    assert outside.status_code == 404
    info = api.sd.json("info", path)
    thumb = await api.client.get(f"/api/v1/thumb/{lib}/{info['content_id']}/256", headers=headers)
    assert thumb.status_code == 404  # a text file has none
    bad = await api.client.get(f"/api/v1/thumb/{lib}/{info['content_id']}/7", headers=headers)
    assert bad.status_code == 400


class _FakeFeed:
    """A feed whose deliveries the test makes: a notice lost, one delivered twice."""

    def __init__(self) -> None:
        self.send, self.receive = trio.open_memory_channel[Any](16)
        self.left = False

    def join(self, prefixes: tuple[str, ...]) -> tuple[object, Any]:
        return SimpleNamespace(pending=0), self.receive

    def leave(self, listener: object) -> None:
        self.left = True


async def test_a_stream_sends_every_event_once_past_its_position_even_when_notices_are_lost(
    api: Api,
) -> None:
    from sdactors.node.http.events import follow

    for name in ("A", "B", "C", "D", "E"):
        assert (await api.op("tag.create", None, name=name)).status_code == 200
    lib = api.sd.json("library", "list")[0]["id"]
    path = api.app.state.api.host.data.library(lib).events
    tags = [e for e in api.sd.json_lines("log", "tail", "-n", "100") if e["type"] == "tag.created"]
    positions = [e["pos"] for e in tags]
    feed, stopping = _FakeFeed(), trio.Event()
    got: list[int] = []

    async def consume() -> None:
        stream = follow(feed, path, positions[1], ("tag.",), stopping, trio.to_thread.run_sync)  # type: ignore[arg-type]
        async for item in stream:
            if item is not None:
                got.append(item[0])
                assert json.loads(item[1])["pos"] == item[0]

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        await trio.sleep(0.5)
        assert got == positions[2:]  # the log past the position
        # Delivered again (a commit the stream read from the log): skipped.
        await feed.send.send((positions[2], positions[4], []))
        # A notice lost: the next one starts past it; what it held is read from the log.
        (await api.op("tag.create", None, name="F")).raise_for_status()
        (await api.op("tag.create", None, name="G")).raise_for_status()
        after = [
            e for e in api.sd.json_lines("log", "tail", "-n", "100") if e["type"] == "tag.created"
        ]
        f, g = after[-2], after[-1]
        await feed.send.send((g["pos"], g["pos"], [(g["pos"], dumps(g))]))
        await trio.sleep(0.5)
        assert got == [*positions[2:], f["pos"], g["pos"]]
        stopping.set()
    assert feed.left


class _Bus:
    """A library's subscriptions, as the feed uses them."""

    def __init__(self) -> None:
        self.subscribed: dict[int, Any] = {}

    def subscribe(self, prefixes: tuple[str, ...], deliver: Any, name: str = "") -> int:
        self.subscribed[len(self.subscribed) + 1] = deliver
        return len(self.subscribed)

    def unsubscribe(self, token: int) -> None:
        del self.subscribed[token]


async def test_a_stream_that_falls_behind_is_ended_and_the_feed_unsubscribes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from events.envelope import Event
    from sdactors.node.http import events

    monkeypatch.setattr(events, "BACKLOG_BYTES", 4096)
    bus = _Bus()
    feed = events.Feed(bus, trio.lowlevel.current_trio_token())  # type: ignore[arg-type]
    slow, slow_in = feed.join(("tag.",))
    other, other_in = feed.join(("entries.",))
    assert len(bus.subscribed) == 1
    deliver = next(iter(bus.subscribed.values()))

    def event(pos: int, kind: str) -> Event:
        body = {"name": "x" * 1000}
        return Event(b"d" * 32, pos, pos, kind, 1, body, b"", b"i" * 32, b"", None, pos)

    # Delivered from the bus's thread, as the bus does.
    for pos in range(1, 8):
        await trio.to_thread.run_sync(deliver, [event(pos, "tag.created")])
    await trio.sleep(0.1)
    assert slow.overflowed  # over 4 KiB of JSON not taken: its channel is closed
    got = [batch async for batch in slow_in]
    assert 0 < len(got) < 7 and [items[0][0] for _, _, items in got] == list(range(1, len(got) + 1))
    # The other stream wants none of them: it only hears which positions went by.
    assert not other.overflowed
    spans = [other_in.receive_nowait() for _ in range(7)]
    assert [(lo, hi, items) for lo, hi, items in spans] == [(p, p, []) for p in range(1, 8)]
    feed.leave(slow)
    feed.leave(other)
    assert bus.subscribed == {}
