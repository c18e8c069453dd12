"""The CLI's side of the control socket: send one command to the node, await its answer.

No node: :func:`connect` returns None and the CLI runs the command itself. A node that
holds the socket but does not answer is reported as such (its libraries are locked by it),
never silently bypassed.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Callable

from sdactors.node.control.protocol import SOCKET_NAME, frame, length_of, message_of
from sdactors.runtime.errors import NodeNotAnswering, RemoteError

# How long a node may take to accept a connection before it is reported as not answering.
CONNECT_TIMEOUT_S = 5.0


def socket_path(data_dir: Path) -> Path:
    return data_dir / SOCKET_NAME


class NodeClient:
    def __init__(self, sock: socket.socket, path: Path) -> None:
        self._sock = sock
        self._path = path
        self._next_id = 1

    def call(
        self,
        op: str,
        args: dict[str, Any],
        progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> Any:
        """Run a command on the node; progress frames go to ``progress`` as they come."""
        request_id = self._next_id
        self._next_id += 1
        self._sock.settimeout(CONNECT_TIMEOUT_S)
        try:
            self._sock.sendall(frame({"id": request_id, "op": op, "args": args}))
            # The node acknowledges a request at once, whatever it then takes to run.
            self._receive()
        except TimeoutError:
            raise NodeNotAnswering(str(self._path), "no answer within 5 s") from None
        self._sock.settimeout(None)
        while True:
            message = self._receive()
            if "progress" in message:
                if progress is not None:
                    progress(message["progress"])
                continue
            if "error" in message:
                error = message["error"]
                raise RemoteError(str(error.get("message", error)), str(error.get("kind", "")))
            return message.get("result")

    def _receive(self) -> dict[str, Any]:
        length = length_of(self._exactly(4))
        return message_of(self._exactly(length), most=length)

    def _exactly(self, count: int) -> bytes:
        chunks = []
        while count:
            chunk = self._sock.recv(min(count, 1 << 20))
            if not chunk:
                raise NodeNotAnswering(str(self._path), "it closed the connection")
            chunks.append(chunk)
            count -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self._sock.close()


def connect(data_dir: Path) -> NodeClient | None:
    """A connection to the node serving ``data_dir``; None if no node serves it."""
    path = socket_path(data_dir)
    if not path.exists():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT_S)
    try:
        sock.connect(os.fspath(path))
    except (ConnectionRefusedError, FileNotFoundError):
        sock.close()
        return None  # a socket left by a node that is gone
    except OSError as exc:
        sock.close()
        raise NodeNotAnswering(str(path), exc.strerror or str(exc)) from None
    return NodeClient(sock, path)
