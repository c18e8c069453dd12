"""A client of a language-model provider speaking the OpenAI-compatible chat API (what a
local Ollama or llama.cpp server serves at ``/v1/chat/completions``), for ``sd agent ask``.

Only that one endpoint is used, with plain HTTP (httpx): no provider's SDK, so any server
speaking the API will do. A reply is held to the shape the API documents before anything
reads it: a provider that answers something else is one clear error, never a crash deep in
the conversation. The key, when the provider needs one, is read from the environment
variable node.toml names, sent in the request's header and nowhere else (not in a log line,
not in an error, not in the audit).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

import httpx

from sdactors.runtime.config import LlmConfig
from sdactors.runtime.errors import ProviderFailed
from sdactors.runtime.logs import get_logger

log = get_logger(__name__)

# What is shown of a provider's answer in an error: enough to recognise it.
SHOWN = 120


@dataclass(frozen=True, slots=True)
class Call:
    """A tool the model asks to run: the id its answer must carry, the tool, its arguments."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer of the model: its text (may be empty) and the tools it calls (may be none).
    ``message`` is the answer as the API gave it, sent back in the conversation."""

    text: str
    calls: tuple[Call, ...]
    message: dict[str, Any]


def _shown(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


class Chat:
    """Conversations with one provider, each request bounded by what is left of a deadline
    (``LlmConfig.timeout`` for the whole request in words)."""

    def __init__(self, config: LlmConfig, clock: Any = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        self._deadline = clock() + config.timeout
        headers = {"content-type": "application/json"}
        if config.api_key_env is not None:
            key = os.environ.get(config.api_key_env)
            if not key:
                raise ProviderFailed(
                    config.url, f"the environment variable {config.api_key_env} holds no key"
                )
            headers["authorization"] = f"Bearer {key}"
        self._client = httpx.Client(headers=headers, trust_env=False)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "Chat":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Reply:
        """The model's next answer to ``messages``, offered ``tools`` (OpenAI's function
        tools)."""
        url = self.config.url
        left = self._deadline - self._clock()
        if left <= 0:
            raise ProviderFailed(url, f"no answer within {self.config.timeout:g} s")
        body = {"model": self.config.model, "messages": messages, "tools": tools}
        started = time.monotonic()
        try:
            response = self._client.post(f"{url}/chat/completions", json=body, timeout=left)
        except httpx.TimeoutException:
            raise ProviderFailed(url, f"no answer within {self.config.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise ProviderFailed(
                url, f"cannot be reached ({_shown(str(exc)) or type(exc).__name__})"
            ) from None
        log.info(
            "llm_answered",
            status=response.status_code,
            ms=round((time.monotonic() - started) * 1000),
            messages=len(messages),
        )
        if response.status_code != 200:
            raise ProviderFailed(
                url, f"refused the request (HTTP {response.status_code}: {_shown(response.text)})"
            )
        try:
            answer = response.json()
        except ValueError:
            raise ProviderFailed(url, f"answered no JSON ({_shown(response.text)})") from None
        return _reply(url, answer)


def _reply(url: str, answer: Any) -> Reply:
    """The first choice of a chat completion, its tool calls' arguments decoded."""

    def garbage(what: str) -> ProviderFailed:
        return ProviderFailed(url, f"answered something that is not a chat completion ({what})")

    try:
        message = answer["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise garbage(_shown(json.dumps(answer)[:400])) from None
    if not isinstance(message, dict):
        raise garbage("its message is not an object")
    text = message.get("content") or ""
    if not isinstance(text, str):
        raise garbage("its content is not text")
    calls = []
    for raw in message.get("tool_calls") or ():
        try:
            function = raw["function"]
            name, arguments = function["name"], function.get("arguments") or "{}"
            call_id = str(raw.get("id") or f"call_{len(calls)}")
        except (KeyError, TypeError):
            raise garbage(f"a tool call without a function: {_shown(json.dumps(raw))}") from None
        if not isinstance(name, str):
            raise garbage("a tool call's name is not text")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except ValueError:
                raise garbage(
                    f"the arguments of {name} are not JSON: {_shown(arguments)}"
                ) from None
        if not isinstance(arguments, dict):
            raise garbage(f"the arguments of {name} are not an object")
        calls.append(Call(call_id, name, arguments))
    return Reply(text, tuple(calls), message)
