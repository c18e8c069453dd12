"""The node's HTTP API (Starlette), built around a port of the node (:class:`HttpHost`).

Routes (every one behind :class:`sdactors.node.http.access.Guard`):

- ``POST /api/v1/op/{name}``: any op of the registry, its arguments a JSON object (ids as
  hex, paths as text: ``sdactors/node/http/args.py``; an argument with a default may be left
  out), checked as the control socket checks them (``sdactors.ops.base.decode``) and run the
  way the socket runs them (``Node.execute``: writes through the ActionManager, audited).
  The answer is what ``sd --json`` prints; a streaming op (``log.show``, ``log.tail``)
  answers with one JSON line per item (``application/x-ndjson``). A failure is
  ``{"error": {"code", "message"}}``, the message the CLI's one line.
- ``GET /api/v1/ops``: the OpenAPI document of every op (``openapi.py``).
- ``GET /api/v1/events``: the log as server-sent events (``events.py``).
- ``POST /api/v1/login``, ``POST /api/v1/logout``, ``GET /api/v1/session``.
- ``GET /api/v1/thumb/...``, ``GET /api/v1/file/...``: ``files.py``.
- ``/graphql``: mounted from ``sdactors.node.http.graphql`` when that module is there.
- ``/``: the Explorer's page, from ``static/`` (package data), when it is there.
"""

from __future__ import annotations

import contextlib
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Protocol

import anyio
import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Match, Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from sdactors.node.failures import failure
from sdactors.node.http import access, events, files, openapi
from sdactors.node.http.args import command_of, json_body
from sdactors.node.http.codes import http_failure
from sdactors.ops import registry  # noqa: F401 - every command registered
from sdactors.ops.base import Op, commands
from sdactors.runtime import errors
from sdactors.runtime.errors import InvalidArgument
from sdactors.runtime.logs import get_logger
from sdactors.runtime.plain import dumps
from sdactors.runtime.web_auth import CredentialStore

if TYPE_CHECKING:
    from sdactors.library.handle import Library
    from sdactors.ops.context import OpContext, ProgressSink
    from sdactors.runtime.paths import DataDir

log = get_logger(__name__)
_COMMAND_NAMES = frozenset(commands())

# The page's files: package data, served at / when present.
STATIC = "static"


class HttpHost(Protocol):
    """What the HTTP server needs of the node (``sd node run``'s ``NodeProcess``)."""

    data: DataDir

    def execute(self, command: Op, progress: ProgressSink | None = None) -> Any:
        """Run an op as the control socket runs it (in a worker thread: it blocks)."""

    def status(self) -> dict[str, Any]: ...

    def served(self, library_id: str) -> Library | None:
        """The open library of that id (None: not serving)."""

    def find_id(self, wanted: str | None) -> str:
        """A library's id, by id or name (None: the only one); NoLibrary if none."""

    def context(self) -> OpContext:
        """The node's ports as a command sees them (a read on behalf of a route)."""


def error_response(exc: BaseException) -> Response:
    return refusal(*http_failure(exc))


def refusal(status: int, code: str, message: str) -> Response:
    return Response(
        access.error_body(code, message),
        status_code=status,
        media_type="application/json",
        headers={"cache-control": "no-store"},
    )


def json_response(value: Any) -> Response:
    return Response(
        dumps(value).encode(), media_type="application/json", headers={"cache-control": "no-store"}
    )


class Api:
    """The routes' shared state: the node, the guard's stores, the streams' feeds."""

    def __init__(self, host: HttpHost, binding: access.Binding) -> None:
        self.host = host
        self.binding = binding
        self.store = CredentialStore(host.data)
        self.sessions = access.Sessions()
        self.stopping = trio.Event()
        self._feeds: dict[str, events.Feed] = {}

    async def run_op(self, request: Request) -> Response:
        name = request.path_params["name"]
        principal = access.principal_of(request.scope)
        try:
            if name not in _COMMAND_NAMES:
                return refusal(404, "unknown_op", f"unknown command {name!r}")
            why = principal.refusal(name) if principal is not None else "no session or key"
            if why is not None:
                return refusal(403, "forbidden", why)
            command = command_of(name, await json_body(request))
            if type(command).stream is not None:
                return await self._streamed(command)
            result = await anyio.to_thread.run_sync(self.host.execute, command)
        except Exception as exc:  # noqa: BLE001 - every failure is the client's answer
            return error_response(exc)
        return json_response(result)

    async def _streamed(self, command: Op) -> Response:
        """A streaming op's items, one JSON line each, as it sends them."""
        if getattr(command, "follow", False):
            raise InvalidArgument("follow the log through GET /api/v1/events")
        send, receive = trio.open_memory_channel[bytes](64)
        token = trio.lowlevel.current_trio_token()

        class Sink:
            def put(self, info: dict[str, Any]) -> None:
                lines = "".join(dumps(item) + "\n" for item in info.get("items", ()))
                if lines:
                    trio.from_thread.run(send.send, lines.encode(), trio_token=token)

        async def body() -> AsyncIterator[bytes]:
            async with trio.open_nursery() as nursery:

                async def run() -> None:
                    async with send:
                        try:
                            await anyio.to_thread.run_sync(self.host.execute, command, Sink())
                        except Exception as exc:  # noqa: BLE001 - told as the last line
                            _kind, message, _ = failure(exc)
                            await send.send((dumps({"error": message}) + "\n").encode())

                nursery.start_soon(run)
                async with receive:
                    async for chunk in receive:
                        yield chunk

        return StreamingResponse(body(), media_type="application/x-ndjson")

    async def ops(self, request: Request) -> Response:
        return json_response(openapi.document())

    async def session(self, request: Request) -> Response:
        state = request.scope.get("state", {})
        found = state.get("session")
        password_set = self.store.current().password is not None
        body: dict[str, Any] = {
            "authenticated": access.principal_of(request.scope) is not None,
            "csrf": found[1].csrf if found is not None else None,
            "password_set": password_set,
        }
        if not password_set:
            body["how"] = "set a password on the node's machine: sd web password"
        return json_response(body)

    async def login(self, request: Request) -> Response:
        try:
            given = await json_body(request)
        except InvalidArgument as exc:
            return error_response(exc)
        password = given.get("password") if isinstance(given, dict) else None
        credentials = self.store.current()
        if credentials.password is None:
            return refusal(401, "no_password", "no password is set: run `sd web password`")
        if not isinstance(password, str) or not await anyio.to_thread.run_sync(
            credentials.password_matches, password
        ):
            await trio.sleep(0.5)  # a guess costs half a second more
            return refusal(401, "bad_password", "wrong password")
        token, session = self.sessions.open()
        response = json_response({"csrf": session.csrf})
        response.set_cookie(
            access.COOKIE, token, httponly=True, samesite="strict", path="/", secure=False
        )
        return response

    async def logout(self, request: Request) -> Response:
        found = request.scope.get("state", {}).get("session")
        if found is not None:
            self.sessions.close(found[0])
        response = json_response({"authenticated": False})
        response.delete_cookie(access.COOKIE, path="/", httponly=True, samesite="strict")
        return response

    def feed(self, library_id: str) -> events.Feed:
        lib = self.host.served(library_id)
        if lib is None:
            raise errors.LibraryOpening(library_id)
        feed = self._feeds.get(library_id)
        if feed is None or feed.library is not lib:
            feed = self._feeds[library_id] = events.Feed(lib, trio.lowlevel.current_trio_token())
        return feed

    async def _follow(self, query: Any, headers: Any) -> Any:
        """The events a stream asked for: its library's, of its types, past its position
        (``after``, or ``Last-Event-ID``; neither: from now on)."""
        library_id = self.host.find_id(query.get("library"))
        path = self.host.data.library(library_id).events
        raw = query.get("after") or headers.get("last-event-id")
        feed = self.feed(library_id)
        if raw is None or raw == "":
            after = await anyio.to_thread.run_sync(events.head, path)
        else:
            after = _position(raw)
        prefixes = tuple(p for p in (query.get("types") or "").split(",") if p)
        return events.follow(feed, path, after, prefixes, self.stopping, anyio.to_thread.run_sync)

    async def events(self, request: Request) -> Response:
        try:
            found = await self._follow(request.query_params, request.headers)
        except Exception as exc:  # noqa: BLE001
            return error_response(exc)
        return StreamingResponse(
            events.sse_body(found),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def events_socket(self, socket: WebSocket) -> None:
        """The same events on a websocket: one text message per event (its JSON)."""
        try:
            found = await self._follow(socket.query_params, socket.headers)
        except Exception as exc:  # noqa: BLE001
            _kind, message, _ = failure(exc)
            await socket.close(code=4400, reason=message[:120])
            return
        await socket.accept()

        async def until_closed(scope: trio.CancelScope) -> None:
            try:
                while (await socket.receive())["type"] != "websocket.disconnect":
                    pass
            finally:
                scope.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(until_closed, nursery.cancel_scope)
            try:
                async with contextlib.aclosing(found) as items:
                    async for item in items:
                        if item is not None:
                            await socket.send_text(item[1])
                await socket.close()
            except (WebSocketDisconnect, trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            nursery.cancel_scope.cancel()

    async def thumb(self, request: Request) -> Response:
        params = request.path_params
        try:
            size = files.query_int(request, "size")
            found = await anyio.to_thread.run_sync(
                files.thumbnail,
                self.host.context(),
                params["library"],
                params["content"],
                size,
                request.query_params.get("device"),
            )
            return await files.send_file(found, "image/webp")
        except Exception as exc:  # noqa: BLE001
            return error_response(exc)

    async def file(self, request: Request) -> Response:
        params = request.path_params
        try:
            by_path = None if "device" in params else request.query_params.get("path")
            if "device" not in params and by_path is None:
                raise InvalidArgument("which file: /{library}/{device}/{eid}, or ?path=PATH")
            path = await anyio.to_thread.run_sync(
                files.held_file,
                self.host.context(),
                params["library"],
                params.get("device"),
                files.query_int(request, "eid"),
                by_path,
            )
            return await files.send_file(path)
        except Exception as exc:  # noqa: BLE001
            return error_response(exc)

    async def index(self, request: Request) -> Response:
        """The page when none is installed: how to reach the API, and to set a password."""
        password_set = self.store.current().password is not None
        hint = (
            "Log in with the password set by <code>sd web password</code>."
            if password_set
            else "No password is set yet: run <code>sd web password</code> on the node's "
            "machine, then reload this page."
        )
        return HTMLResponse(
            "<!doctype html><html lang=en><meta charset=utf-8><title>sdactors</title>"
            f"<h1>sdactors</h1><p>{hint}</p><p>API: <code>/api/v1/ops</code></p></html>"
        )


def _position(raw: str) -> int:
    if not raw.isdigit():
        raise InvalidArgument(f"after: {raw[:40]!r} is not a log position")
    return int(raw)


def build_app(host: HttpHost, binding: access.Binding | None = None) -> Starlette:
    """The node's HTTP app. ``binding``: where the server listens (the Host check); the
    server fills in its port once bound."""
    api = Api(host, binding or access.Binding("127.0.0.1", 0))
    routes: list[BaseRoute] = [
        Route("/api/v1/op/{name}", api.run_op, methods=["POST"]),
        Route("/api/v1/ops", api.ops, methods=["GET"]),
        Route("/api/v1/events", api.events, methods=["GET"]),
        WebSocketRoute("/api/v1/events", api.events_socket),
        Route("/api/v1/session", api.session, methods=["GET"]),
        Route("/api/v1/login", api.login, methods=["POST"]),
        Route("/api/v1/logout", api.logout, methods=["POST"]),
        Route("/api/v1/thumb/{library}/{content}/{size}", api.thumb, methods=["GET"]),
        Route("/api/v1/file/{library}/{device}/{eid}", api.file, methods=["GET"]),
        Route("/api/v1/file/{library}", api.file, methods=["GET"]),
    ]
    routes += _graphql(host)
    protected = list(routes)
    routes.append(_page(api))
    app = Starlette(routes=routes, exception_handlers={Exception: _failed})
    app.state.api = api

    def is_protected(scope: access.Scope) -> bool:
        if scope.get("path") in access.PUBLIC:
            return False
        return any(route.matches(scope)[0] != Match.NONE for route in protected)

    app.add_middleware(
        access.Guard,
        store=api.store,
        sessions=api.sessions,
        binding=api.binding,
        protected=is_protected,
    )
    return app


async def _failed(request: Request, exc: Exception) -> Response:
    """A bug in a route: logged (by its path, never its query or headers), answered 500."""
    log.error("http_failed", path=request.url.path, error=f"{type(exc).__name__}: {exc}")
    return refusal(500, "internal", f"internal error: {type(exc).__name__}")


def _graphql(host: HttpHost) -> list[BaseRoute]:
    """``/graphql``, once its module is there (f-graphql's)."""
    try:
        from sdactors.node.http import graphql  # type: ignore[attr-defined]
    except ImportError:
        return []
    return list(graphql.routes(host))


def _page(api: Api) -> BaseRoute:
    """The Explorer's files at ``/`` (public: they hold no data), or a page saying how."""
    from starlette.staticfiles import StaticFiles

    folder = Path(str(resources.files("sdactors.node.http") / STATIC))
    if (folder / "index.html").is_file():
        return Mount("/", StaticFiles(directory=folder, html=True), name="page")
    return Route("/", api.index, methods=["GET"], name="page")
