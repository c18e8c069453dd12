"""``/graphql``: the op registry as a GraphQL schema (``schema.py``: what it holds, generated
from the ops), answered over HTTP (``POST /graphql``, queries and mutations) and over a
websocket speaking graphql-transport-ws (``transport_ws.py``: subscriptions too), both behind
the HTTP server's guard (``sdactors.node.http.access``: a session with its CSRF token, or a
key; a read-only key runs queries only).

A document runs in one worker thread (``strawberry.Schema.execute_sync``): its ops block, and
the resolvers' results are plain data, so nothing in the execution needs an event loop (which
matters: graphql-core runs sibling async fields with asyncio, and the node runs trio).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from sdactors.node.http.graphql.host import GraphQLHost

if TYPE_CHECKING:
    from sdactors.node.http.graphql.endpoint import Endpoint

__all__ = ["routes", "GraphQLHost"]


def routes(host: GraphQLHost) -> list[BaseRoute]:
    """``/graphql`` over HTTP and over a websocket (the app mounts them behind its guard)."""
    lazy = _Lazy(host)
    return [
        Route("/graphql", lazy.post, methods=["POST"]),
        WebSocketRoute("/graphql", lazy.websocket),
    ]


class _Lazy:
    """Strawberry and the schema take a third of a second to import and build: the first
    request pays it (in a worker thread), not every node's start."""

    def __init__(self, host: GraphQLHost) -> None:
        self.host = host
        self._endpoint: Endpoint | None = None

    async def _loaded(self) -> Endpoint:
        if self._endpoint is None:
            self._endpoint = await anyio.to_thread.run_sync(_load, self.host)
        return self._endpoint

    async def post(self, request: Request) -> Response:
        return await (await self._loaded()).post(request)

    async def websocket(self, websocket: WebSocket) -> None:
        await (await self._loaded()).websocket(websocket)


def _load(host: GraphQLHost) -> Any:
    from sdactors.node.http.graphql.endpoint import Endpoint
    from sdactors.node.http.graphql.schema import schema

    schema()
    return Endpoint(host)
