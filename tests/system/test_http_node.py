"""The HTTP API of a real ``sd node run`` on 127.0.0.1, as a program and a browser reach it:
every route refused without a session or key, writes refused without the CSRF token or from
another site, a read-only key refused a write, a foreign Host refused, the event stream
resumed from a position, a stop with streams open, no secret in the node's log or the audit,
and the node refusing to start where it must not serve.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.routing import WebSocketRoute

from sdactors.node.http.app import build_app
from sdactors.node.http.server import DRAIN_S
from sdactors.runtime.paths import DataDir
from tests.conftest import SD, Sd
from tests.system.test_node import node_on

pytestmark = pytest.mark.slow

PASSWORD = "a long enough password"


class _Host:
    """Enough of a node for build_app to list its routes."""

    def __init__(self, data: Path) -> None:
        self.data = DataDir(data)


def _keys(sd: Sd) -> tuple[str, str]:
    sd.run("library", "create", "Home")
    sd.run("web", "password", input=PASSWORD + "\n")
    full = sd.json("api", "key", "create", "full")["key"]
    reader = sd.json("api", "key", "create", "reader", "--read-only")["key"]
    return full, reader


def _url(sd: Sd) -> str:
    return sd.json("node", "status")["http"]["url"]


def _events(
    url: str,
    key: str,
    stop_after: int,
    params: dict[str, str],
    headers: dict[str, str] | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """The first ``stop_after`` events of a stream (id and data)."""
    got: list[tuple[int, dict[str, Any]]] = []
    pos = None
    with httpx.stream(
        "GET",
        f"{url}/api/v1/events",
        params=params,
        headers={"authorization": f"Bearer {key}", **(headers or {})},
        timeout=10,
    ) as answer:
        assert answer.status_code == 200, answer.read()
        for line in answer.iter_lines():
            if line.startswith("id: "):
                pos = int(line[4:])
            elif line.startswith("data: "):
                assert pos is not None
                got.append((pos, json.loads(line[6:])))
                if len(got) >= stop_after:
                    break
    return got


def test_a_real_node_refuses_every_route_without_credentials_and_foreign_writes(
    sd: Sd, tmp_path: Path
) -> None:
    full, reader = _keys(sd)
    with node_on(sd, tmp_path):
        url = _url(sd)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        routes = [r for r in build_app(_Host(sd.data_dir)).routes if r.name != "page"]
        public = {"/api/v1/login", "/api/v1/logout", "/api/v1/session"}
        sockets = [r for r in routes if isinstance(r, WebSocketRoute)]
        assert sockets
        for route in sockets:
            path = re.sub(r"\{[^}]+\}", "x", route.path)
            assert _websocket(url, path, {})[0] == "rejected", path
        with httpx.Client(base_url=url, timeout=10) as client:
            for route in routes:
                if isinstance(route, WebSocketRoute):
                    continue
                path = re.sub(r"\{[^}]+\}", "x", route.path)
                for method in set(route.methods) - {"HEAD"}:
                    answer = client.request(method, path)
                    if route.path in public:
                        assert answer.status_code != 401 or route.path != "/api/v1/session"
                        continue
                    assert answer.status_code == 401, (method, path, answer.text)
            # A read-only key reads, and is refused a write.
            bearer = {"authorization": f"Bearer {reader}"}
            assert client.post("/api/v1/op/tag.list", json={}, headers=bearer).status_code == 200
            refused = client.post("/api/v1/op/tag.create", json={"name": "X"}, headers=bearer)
            assert refused.status_code == 403
            # A foreign Host (DNS rebinding) is refused, even with a key.
            foreign = client.get(
                "/api/v1/ops", headers={"authorization": f"Bearer {full}", "host": "evil.example"}
            )
            assert (foreign.status_code, foreign.json()["error"]["code"]) == (403, "foreign_host")
            # The browser: a session, its CSRF token and its own Origin.
            csrf = client.post("/api/v1/login", json={"password": PASSWORD}).json()["csrf"]
            no_token = client.post("/api/v1/op/tag.create", json={"name": "A"})
            assert no_token.json()["error"]["code"] == "csrf"
            foreign_origin = client.post(
                "/api/v1/op/tag.create",
                json={"name": "B"},
                headers={"x-csrf-token": csrf, "origin": "http://evil.example"},
            )
            assert foreign_origin.json()["error"]["code"] == "foreign_origin"
            mine = client.post(
                "/api/v1/op/tag.create",
                json={"name": "C"},
                headers={"x-csrf-token": csrf, "origin": url},
            )
            assert mine.status_code == 200, mine.text
            cookie = {"cookie": f"sd_session={client.cookies['sd_session']}"}
            hijack = _websocket(url, "/api/v1/events", {**cookie, "origin": "http://evil.example"})
            assert hijack[0] == "rejected"
            own = _websocket(url, "/api/v1/events?types=tag.&after=0", {**cookie, "origin": url}, 1)
            assert own[0] == "accepted" and json.loads(own[1][0])["body"]["name"] == "C"
        assert [t["name"] for t in sd.json("tag", "list")] == ["C"]


def test_the_event_stream_follows_live_and_resumes_from_a_position(sd: Sd, tmp_path: Path) -> None:
    full, _ = _keys(sd)
    with node_on(sd, tmp_path):
        url = _url(sd)
        head = sd.json("log", "stats")["events"]
        found: list[Any] = []
        reader = threading.Thread(
            target=lambda: found.extend(
                _events(url, full, 2, {"types": "tag.", "after": str(head)})
            )
        )
        reader.start()
        time.sleep(0.5)
        sd.run("tag", "create", "One")
        sd.run("tag", "create", "Two")
        reader.join(timeout=20)
        assert [data["body"]["name"] for _, data in found] == ["One", "Two"]
        assert all(data["type"] == "tag.created" for _, data in found)
        tail = {e["pos"]: e for e in sd.json_lines("log", "tail", "-n", "100")}
        assert [data for _, data in found] == [tail[pos] for pos, _ in found]
        first = found[0][0]
        # Resumed after the first (as a browser does, by Last-Event-ID): the second, then
        # what came since.
        sd.run("tag", "create", "Three")
        again = _events(url, full, 2, {"types": "tag."}, {"last-event-id": str(first)})
        assert [data["body"]["name"] for _, data in again] == ["Two", "Three"]
        assert again[0][0] == found[1][0]
        # Without a filter, from a position: every event after it, in order.
        every = _events(url, full, 3, {"after": str(first)})
        assert [pos for pos, _ in every] == [first + 1, first + 2, first + 3]
        # Without a position: from now on.
        live: list[Any] = []
        reader = threading.Thread(
            target=lambda: live.extend(_events(url, full, 1, {"types": "tag."}))
        )
        reader.start()
        time.sleep(0.5)
        sd.run("tag", "create", "Four")
        reader.join(timeout=20)
        assert [data["body"].get("name") for _, data in live] == ["Four"]


def test_a_stop_ends_open_streams_within_the_drain_time(sd: Sd, tmp_path: Path) -> None:
    full, _ = _keys(sd)
    with node_on(sd, tmp_path) as node:
        url = _url(sd)
        ended: list[float] = []

        def listen() -> None:
            try:
                with httpx.stream(
                    "GET",
                    f"{url}/api/v1/events",
                    headers={"authorization": f"Bearer {full}"},
                    timeout=30,
                ) as answer:
                    for _ in answer.iter_bytes():
                        pass
            except httpx.HTTPError:
                pass
            ended.append(time.monotonic())

        streams = [threading.Thread(target=listen) for _ in range(5)]
        for t in streams:
            t.start()
        time.sleep(1.0)
        assert not ended  # the streams are open, waiting for events
        started = time.monotonic()
        took = node.stop(signal.SIGTERM)
        for t in streams:
            t.join(timeout=10)
        assert len(ended) == 5
        assert max(ended) - started <= DRAIN_S + 0.5, [e - started for e in ended]
        assert took <= DRAIN_S + 3.0


def test_no_secret_reaches_the_node_s_log_or_the_audit(sd: Sd, tmp_path: Path) -> None:
    full, reader = _keys(sd)
    with node_on(sd, tmp_path):
        url = _url(sd)
        made = sd.json("api", "key", "create", "through-the-node")["key"]
        with httpx.Client(base_url=url, timeout=10) as client:
            client.post("/api/v1/login", json={"password": "a wrong password here"})
            client.post("/api/v1/login", json={"password": PASSWORD})
            bearer = {"authorization": f"Bearer {full}"}
            client.post("/api/v1/op/tag.create", json={"name": "T"}, headers=bearer)
            client.post(
                "/api/v1/op/web.password", json={"password": "the next password!"}, headers=bearer
            )
            over_http = client.post(
                "/api/v1/op/api.key.create", json={"name": "over-http"}, headers=bearer
            ).json()["key"]
            client.post("/api/v1/op/tag.list", json={}, headers={"authorization": "Bearer sdk_bad"})
        audit = sd.run("--json", "audit").out + sd.run("--json", "log", "show").out
    log = "".join(p.read_text() for p in (sd.data_dir / "logs").iterdir())
    node_err = "".join(p.read_text() for p in tmp_path.glob("node-*.log"))
    assert "tag.create" in audit and "http_refused" in log
    for secret in (full, reader, made, over_http, PASSWORD, "the next password!", "sdk_bad"):
        for where, text in (("audit", audit), ("node log", log), ("node stderr", node_err)):
            assert secret not in text, (secret, where)
    stored = (sd.data_dir / "web-auth.json").read_text()
    assert full not in stored and PASSWORD not in stored
    assert (sd.data_dir / "web-auth.json").stat().st_mode & 0o077 == 0


def test_the_node_refuses_to_serve_other_machines_without_a_password_or_a_busy_port(
    sd: Sd, tmp_path: Path
) -> None:
    sd.run("library", "create", "Home")
    config = sd.data_dir / "node.toml"
    original = config.read_text()
    config.write_text(original + '\n[http]\nbind = "0.0.0.0"\n')
    env = {**sd.env}
    env.pop("SD_HTTP_PORT")
    run = subprocess.run([*SD, "node", "run"], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "no password or API key is set" in run.stderr and "sd web password" in run.stderr
    assert not (sd.data_dir / "node.sock").exists()
    config.write_text(original)
    with _busy_port() as port:
        env["SD_HTTP_PORT"] = str(port)
        run = subprocess.run(
            [*SD, "node", "run"], env=env, capture_output=True, text=True, timeout=60
        )
    assert run.returncode == 1
    assert f"127.0.0.1:{port} is in use" in run.stderr


def _websocket(
    url: str, target: str, headers: dict[str, str], messages: int = 0
) -> tuple[str, list[str]]:
    """Open a websocket (wsproto over a plain socket): whether it was accepted, and its
    first ``messages`` text messages."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, RejectConnection, Request, TextMessage

    parts = urlsplit(url)
    ws = WSConnection(ConnectionType.CLIENT)
    got: list[str] = []
    state = "waiting"
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        extra = [(k.encode(), v.encode()) for k, v in headers.items()]
        sock.sendall(ws.send(Request(host=parts.netloc, target=target, extra_headers=extra)))
        while state == "waiting" or (state == "accepted" and len(got) < messages):
            data = sock.recv(65536)
            if not data:
                break
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    state = "accepted"
                elif isinstance(event, RejectConnection):
                    state = "rejected"
                elif isinstance(event, TextMessage):
                    got.append(event.data)
    return state, got


@contextmanager
def _busy_port() -> Iterator[int]:
    """A port of 127.0.0.1 something listens on."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()
