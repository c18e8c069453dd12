"""``/graphql`` answered: ``POST`` (a query or a mutation, in one worker thread) and the
websocket (``transport_ws.py``), each request's caller being who the guard let in."""

from __future__ import annotations

from typing import Any, Optional

import anyio
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.schema.exceptions import InvalidOperationTypeError

from sdactors.node.http import access
from sdactors.node.http.args import json_body
from sdactors.node.http.codes import http_failure
from sdactors.node.http.graphql.host import GraphQLHost
from sdactors.node.http.graphql.schema import QUERY_OR_MUTATION, Caller, schema
from sdactors.node.http.graphql.transport_ws import Connection
from sdactors.runtime.errors import InvalidArgument
from sdactors.runtime.plain import dumps


def caller_of(host: GraphQLHost, scope: dict[str, Any]) -> Caller:
    principal = access.principal_of(scope)

    def refusal(op_name: str) -> Optional[str]:
        return "no session or key" if principal is None else principal.refusal(op_name)

    return Caller(host.execute, refusal)


def result_json(data: Any, errors: Optional[list[GraphQLError]]) -> dict[str, Any]:
    """An execution's result as GraphQL's response format has it."""
    out: dict[str, Any] = {"data": data}
    if errors:
        out["errors"] = [e.formatted for e in errors]
    return out


def _answer(body: dict[str, Any], status: int = 200) -> Response:
    return Response(
        dumps(body).encode(),
        status_code=status,
        media_type="application/json",
        headers={"cache-control": "no-store"},
    )


class Endpoint:
    def __init__(self, host: GraphQLHost) -> None:
        self.host = host

    async def post(self, request: Request) -> Response:
        """``{"query", "variables"?, "operationName"?}`` -> ``{"data", "errors"?}``."""
        try:
            body = await json_body(request)
            query, variables, name = _request_of(body)
        except Exception as exc:  # noqa: BLE001 - a bad request is its client's answer
            status, code, message = http_failure(exc)
            return _answer({"errors": [{"message": message, "extensions": {"code": code}}]}, 400)
        caller = caller_of(self.host, request.scope)
        try:
            result = await anyio.to_thread.run_sync(
                lambda: schema().execute_sync(
                    query,
                    variable_values=variables,
                    context_value=caller,
                    operation_name=name,
                    allowed_operation_types=QUERY_OR_MUTATION,
                )
            )
        except InvalidOperationTypeError:
            message = "a subscription is served over the websocket (graphql-transport-ws)"
            return _answer({"errors": [{"message": message}]}, 400)
        # A document that could not run at all (not GraphQL, not valid) is a bad request.
        status = 400 if result.data is None and result.errors else 200
        return _answer(result_json(result.data, result.errors), status)

    async def websocket(self, websocket: WebSocket) -> None:
        api = getattr(websocket.app.state, "api", None)
        connection = Connection(websocket, caller_of(self.host, websocket.scope), self.host, api)
        await connection.serve()


def _request_of(body: Any) -> tuple[str, Optional[dict[str, Any]], Optional[str]]:
    """The query, its variables and the operation's name of a request's body."""
    if type(body) is not dict or not isinstance(body.get("query"), str):
        raise InvalidArgument('a GraphQL request is a JSON object with a "query" text')
    variables = body.get("variables")
    name = body.get("operationName")
    if variables is not None and type(variables) is not dict:
        raise InvalidArgument('"variables" must be a JSON object')
    if name is not None and not isinstance(name, str):
        raise InvalidArgument('"operationName" must be text')
    return body["query"], variables, name
