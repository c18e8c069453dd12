"""The graphql-transport-ws protocol (the ``graphql-ws`` library's, the one GraphQL clients
speak today) on a Starlette websocket, under trio. Strawberry's own handler runs its tasks on
asyncio, which the node does not run; this one is small enough to be ours.

The protocol, as this side plays it:

- the client asks for the subprotocol ``graphql-transport-ws`` (else: close 4406), then sends
  ``connection_init`` within INIT_WAIT_S (else: close 4408); a second one closes 4429. It is
  answered ``connection_ack``: who the client is was settled when the socket opened (the
  guard's session cookie and Origin, or key), so the init's payload asks nothing more;
- ``ping`` is answered ``pong``, at any time; a ``pong`` is taken and ignored;
- ``subscribe`` {id, payload: {query, variables?, operationName?}} runs the operation: a
  query or mutation answers one ``next`` then ``complete``; a subscription a ``next`` per
  event until its stream ends (``complete``) or the client sends ``complete`` for its id. A
  document that cannot run (not valid) is answered ``error`` with its errors, and nothing
  after. Before the ack: close 4401; an id already running: close 4409;
- anything else, or text that is not such a message: close 4400.

When the node stops, the streams end (``complete``) and the socket closes (1001).
"""

from __future__ import annotations

import inspect
import json
from contextlib import aclosing
from typing import Any, AsyncIterator, Optional

import anyio
import trio
from graphql import GraphQLError, OperationType, get_operation_ast, parse, validate
from graphql.execution import (
    ExecutionResult,
    Executor,
    create_source_event_stream,
    execute_subscription_event,
)
from starlette.websockets import WebSocket, WebSocketState

from events.store import read_head
from sdactors.node.http import events
from sdactors.node.http.codes import http_failure
from sdactors.node.http.graphql.schema import QUERY_OR_MUTATION, Caller, schema
from sdactors.runtime.logs import get_logger
from sdactors.runtime.plain import dumps

log = get_logger(__name__)

PROTOCOL = "graphql-transport-ws"
# How long a client has to send connection_init once the socket is open.
INIT_WAIT_S = 10.0
SINGLE = frozenset({OperationType.QUERY, OperationType.MUTATION})
# Operations one socket may run at once (each holds a task, and a subscription its feed).
MOST_RUNNING = 64


class _Closed(Exception):
    """The socket was closed (by this side, for a protocol fault, or by the client)."""


class Connection:
    """One websocket: its state, and the operations it runs, each a task of its own."""

    def __init__(self, websocket: WebSocket, caller: Caller, host: Any, api: Any) -> None:
        self.ws = websocket
        self.host = host
        self.api = api
        self.caller = Caller(caller.execute, caller.refusal, self._follow)
        self.acked = False
        self.running: dict[str, trio.CancelScope] = {}
        self._send_lock = trio.Lock()
        self._init_seen = trio.Event()

    async def serve(self) -> None:
        if PROTOCOL not in self.ws.scope.get("subprotocols", ()):
            await self.ws.close(4406, "Subprotocol not acceptable")
            return
        await self.ws.accept(subprotocol=PROTOCOL)
        try:
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                nursery.start_soon(self._init_deadline)
                if self.api is not None:
                    nursery.start_soon(self._stop_with_node)
                await self._receive()
                nursery.cancel_scope.cancel()
        except* _Closed:
            pass  # the socket is closed: nothing more to do (trio groups what its tasks raise)

    async def _receive(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            try:
                decoded = json.loads(text) if text is not None else None
            except ValueError:
                decoded = None
            if type(decoded) is not dict or not isinstance(decoded.get("type"), str):
                await self._close(4400, "Invalid message: not a JSON object with a type")
            await self._handle(decoded)

    async def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "connection_init":
            if self._init_seen.is_set():
                await self._close(4429, "Too many initialisation requests")
            self._init_seen.set()
            self.acked = True
            await self._send({"type": "connection_ack"})
        elif kind == "ping":
            await self._send({"type": "pong"})
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            op_id, payload = message.get("id"), message.get("payload")
            if not isinstance(op_id, str) or type(payload) is not dict:
                await self._close(4400, "Invalid message: subscribe needs an id and a payload")
            if not self.acked:
                await self._close(4401, "Unauthorized")
            if op_id in self.running:
                await self._close(4409, f"Subscriber for {op_id} already exists")
            if len(self.running) >= MOST_RUNNING:
                error = GraphQLError(f"at most {MOST_RUNNING} operations run at once on a socket")
                await self._send_error(op_id, [error])
                return
            scope = self.running[op_id] = trio.CancelScope()
            self.nursery.start_soon(self._operation, op_id, payload, scope)
        elif kind == "complete":
            op_id = message.get("id")
            scope = self.running.pop(op_id, None) if isinstance(op_id, str) else None
            if scope is not None:
                scope.cancel()
        else:
            await self._close(4400, f"Invalid message: unknown type {kind[:40]!r}")

    async def _operation(
        self, op_id: str, payload: dict[str, Any], scope: trio.CancelScope
    ) -> None:
        with scope:
            try:
                await self._run(op_id, payload)
            finally:
                if self.running.get(op_id) is scope:
                    del self.running[op_id]

    async def _run(self, op_id: str, payload: dict[str, Any]) -> None:
        query = payload.get("query")
        variables = payload.get("variables")
        name = payload.get("operationName")
        if not isinstance(query, str) or (variables is not None and type(variables) is not dict):
            await self._send_error(op_id, [GraphQLError("a query text, and variables as a map")])
            return
        the_schema = schema()
        try:
            document = parse(query)
        except GraphQLError as exc:
            await self._send_error(op_id, [exc])
            return
        problems = validate(the_schema._schema, document)
        operation = get_operation_ast(document, name)
        if not problems and operation is None:
            problems = [GraphQLError("no operation of that name in the document")]
        if problems:
            await self._send_error(op_id, problems)
            return
        assert operation is not None
        if operation.operation in SINGLE:
            result = await anyio.to_thread.run_sync(
                lambda: the_schema.execute_sync(
                    query,
                    variable_values=variables,
                    context_value=self.caller,
                    operation_name=name,
                    allowed_operation_types=QUERY_OR_MUTATION,
                )
            )
            await self._next(op_id, result)
        else:
            await self._subscription(op_id, document, variables, name)
        await self._send({"id": op_id, "type": "complete"})

    async def _subscription(
        self, op_id: str, document: Any, variables: Optional[dict], name: Optional[str]
    ) -> None:
        executor = Executor.build(
            schema()._schema,
            document,
            context_value=self.caller,
            raw_variable_values=variables,
            operation_name=name,
        )
        if isinstance(executor, list):
            await self._next(op_id, ExecutionResult(None, executor))
            return
        stream = create_source_event_stream(executor)
        if inspect.isawaitable(stream):
            stream = await stream
        if isinstance(stream, ExecutionResult):
            await self._next(op_id, stream)
            return
        try:
            async with aclosing(stream) as payloads:  # type: ignore[type-var]
                async for payload in payloads:
                    result = execute_subscription_event(executor.build_per_event_executor(payload))
                    if inspect.isawaitable(result):
                        result = await result
                    await self._next(op_id, result)
        except GraphQLError as exc:
            await self._next(op_id, ExecutionResult(None, [exc]))
        except Exception as exc:  # noqa: BLE001 - the stream's failure is its client's answer
            _status, code, message = http_failure(exc)
            error = GraphQLError(message, extensions={"code": code})
            await self._next(op_id, ExecutionResult(None, [error]))

    async def _follow(
        self, library: Optional[str], prefixes: tuple[str, ...], after: Optional[int]
    ) -> AsyncIterator[dict[str, Any]]:
        """The ``events`` subscription's source: the HTTP server's feed of the library (the
        SSE stream's), from ``after`` (None: from now) on."""
        library_id = await anyio.to_thread.run_sync(self.host.find_id, library)
        feed = self.api.feed(library_id)
        path = self.host.data.library(library_id).events
        if after is None:
            after = await anyio.to_thread.run_sync(read_head, path)
        follow = events.follow(
            feed, path, after, prefixes, self.api.stopping, anyio.to_thread.run_sync
        )
        async with aclosing(follow) as items:
            async for item in items:
                if item is not None:
                    yield json.loads(item[1])

    async def _init_deadline(self) -> None:
        with trio.move_on_after(INIT_WAIT_S):
            await self._init_seen.wait()
            return
        await self._close(4408, "Connection initialisation timeout")

    async def _stop_with_node(self) -> None:
        await self.api.stopping.wait()
        # The streams end by themselves (their feed stops): give them a moment to say so.
        with trio.move_on_after(0.5):
            while self.running:
                await trio.sleep(0.02)
        await self._close(1001, "the node is stopping")

    async def _next(self, op_id: str, result: ExecutionResult) -> None:
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        await self._send({"id": op_id, "type": "next", "payload": body})

    async def _send_error(self, op_id: str, errors: list[GraphQLError]) -> None:
        await self._send({"id": op_id, "type": "error", "payload": [e.formatted for e in errors]})

    async def _send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            if self.ws.application_state != WebSocketState.CONNECTED:
                raise _Closed
            try:
                await self.ws.send_text(dumps(message))
            except Exception as exc:  # noqa: BLE001 - the client went away
                raise _Closed from exc

    async def _close(self, code: int, reason: str) -> None:
        """Close the socket and end everything this connection runs."""
        async with self._send_lock:
            if self.ws.application_state == WebSocketState.CONNECTED:
                log.info("graphql_ws_closed", code=code, reason=reason)
                try:
                    await self.ws.close(code, reason)
                except Exception:  # noqa: BLE001 - already gone
                    pass
        raise _Closed
