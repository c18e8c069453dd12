"""A language-model provider for the tests: an HTTP server on 127.0.0.1 speaking the
OpenAI-compatible chat API (``POST /v1/chat/completions``), whose model is a script.

The script is a function of the conversation so far (the request's ``messages``, ``tools``)
returning the next answer: a message with tool calls, or with words only. So a scripted
model reads what the read tools answered (paths found by a search) and proposes commands
about them, as a real model would; or it answers garbage, waits too long, or names a command
it was not offered. Every request is kept (headers and body) for the test to look at.
"""

from __future__ import annotations

import itertools
import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

# The answer to one request: a message (a dict, sent as the first choice's message), or
# (status, raw body) to answer anything at all.
Answer = dict[str, Any] | tuple[int, bytes]
Script = Callable[[list[dict[str, Any]], list[dict[str, Any]]], Answer]

_ids = itertools.count(1)


def calls(*wanted: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """An assistant message calling tools: ``(name, arguments)`` pairs."""
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": f"call_{next(_ids)}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for name, args in wanted
        ],
    }


def says(words: str) -> dict[str, Any]:
    """An assistant message of words only: the model is done."""
    return {"role": "assistant", "content": words}


def tool_answers(messages: list[dict[str, Any]]) -> list[Any]:
    """What the tools answered so far, oldest first (decoded)."""
    return [json.loads(m["content"]) for m in messages if m["role"] == "tool"]


@dataclass
class Request:
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class ScriptedLlm:
    script: Script
    requests: list[Request] = field(default_factory=list)
    url: str = ""

    def answer(self, headers: dict[str, str], raw: bytes) -> tuple[int, bytes]:
        body = json.loads(raw)
        self.requests.append(Request(headers, body))
        found = self.script(body["messages"], body.get("tools") or [])
        if isinstance(found, tuple):
            return found
        reply = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": found,
                    "finish_reason": "tool_calls" if found.get("tool_calls") else "stop",
                }
            ],
        }
        return 200, json.dumps(reply).encode()


def configure(sd: Any, url: str, **more: Any) -> None:
    """node.toml's [agents.llm] of ``sd``'s data directory, as a user writes it."""
    lines = ["", "[agents.llm]", f'url = "{url}"', 'model = "scripted"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in more.items()]
    with open(sd.data_dir / "node.toml", "a") as f:
        f.write("\n".join(lines) + "\n")


@contextmanager
def serve(script: Script) -> Iterator[ScriptedLlm]:
    """A scripted provider serving on 127.0.0.1 for the ``with`` block: its ``url`` is what
    node.toml's ``[agents.llm] url`` names."""
    llm = ScriptedLlm(script)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.path != "/v1/chat/completions":
                status, body = 404, b'{"error": "not found"}'
            else:
                status, body = llm.answer({k.lower(): v for k, v in self.headers.items()}, raw)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    llm.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield llm
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
