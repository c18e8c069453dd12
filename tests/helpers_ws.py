"""A websocket client for tests, on trio and wsproto (no client library of its own): what a
GraphQL client does over graphql-transport-ws, message by message."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)


class Closed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed {code}: {reason}")
        self.code = code
        self.reason = reason


class WebSocket:
    def __init__(self, stream: trio.SocketStream, ws: WSConnection) -> None:
        self.stream = stream
        self.ws = ws
        self._events: list[Any] = []
        self.subprotocol: str | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        headers: dict[str, str] | None = None,
        subprotocols: tuple[str, ...] = ("graphql-transport-ws",),
    ) -> WebSocket:
        """Connect; raises Closed (with the HTTP status as its code) if refused."""
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1", url  # loopback only
        stream = await trio.open_tcp_stream(parts.hostname, parts.port or 80)
        ws = WSConnection(ConnectionType.CLIENT)
        extra = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        await stream.send_all(
            ws.send(
                Request(
                    host=parts.netloc,
                    target=parts.path or "/",
                    subprotocols=list(subprotocols),
                    extra_headers=extra,
                )
            )
        )
        client = cls(stream, ws)
        event = await client._event()
        if isinstance(event, AcceptConnection):
            client.subprotocol = event.subprotocol
            return client
        if isinstance(event, RejectConnection):
            raise Closed(event.status_code, "refused")
        if isinstance(event, CloseConnection):
            raise Closed(event.code, event.reason or "")
        raise AssertionError(f"unexpected {event!r}")

    async def _event(self) -> Any:
        while not self._events:
            data = await self.stream.receive_some(65536)
            self.ws.receive_data(data or None)
            for event in self.ws.events():
                if isinstance(event, Ping):
                    await self.stream.send_all(self.ws.send(event.response()))
                else:
                    self._events.append(event)
        return self._events.pop(0)

    async def send(self, message: dict[str, Any]) -> None:
        await self.stream.send_all(self.ws.send(TextMessage(data=json.dumps(message))))

    async def receive(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next message; Closed if the server closed the socket."""
        with trio.fail_after(timeout):
            text = ""
            while True:
                event = await self._event()
                if isinstance(event, CloseConnection):
                    raise Closed(event.code, event.reason or "")
                if isinstance(event, BytesMessage):
                    raise AssertionError("a binary message")
                if isinstance(event, TextMessage):
                    text += event.data
                    if event.message_finished:
                        parsed: dict[str, Any] = json.loads(text)
                        return parsed

    async def close(self) -> None:
        try:
            await self.stream.send_all(self.ws.send(CloseConnection(code=1000)))
        except Exception:  # noqa: BLE001 - already gone
            pass
        await self.stream.aclose()
