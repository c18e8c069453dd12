"""The agent that takes a request in words (``sd agent ask "put my 2023 tax PDFs into
Documents/Taxes/2023"``): a language model is given the request, the commands an agent may
propose as tools, and tools to look at the files it may see; its answer is a proposal like
any other agent's, previewed and accepted by a person.

The model never runs anything. Its calls of the *read* tools (search, a folder's listing, a
file's details) are answered here from the index, limited to the agent's grant: a path
outside it is answered as not there, so the model learns nothing of it. Its calls of the
*commands* are collected, each with the reason the model gives, as the proposal's items; a
command that no agent may run, arguments of the wrong shape, or an item the agent's grant
refuses (the manager's own check: a path outside it, a tag not granted) end the request with
one clear line (rather than a proposal silently
missing what was asked). The conversation is bounded: ``rounds`` answers with tool calls,
and the provider's timeout for the whole of it.

The tools' parameters are written from the commands' declared shapes (``events.shapes``):
the same shapes the node checks a command's arguments against, so the model is told what
the node will accept. Host paths, bytes in a command's arguments, are text for the model
(``os.fsdecode``, and back with ``os.fsencode``).
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, ClassVar, Iterable, Sequence

from events.domain.entries import DIR
from events.envelope import Event
from events.shapes import (
    Shape,
    Text,
)
from projections.annotations import annotations_of
from projections.files.query import folder_children, folder_owners, resolve
from projections.files.search import Filters, search
from sdactors.agent import lines
from sdactors.agent.llm import Call, Chat
from sdactors.agent.protocol import AgentView, Item, Proposal
from sdactors.runtime.errors import AskRefused, InvalidArgument
from sdactors.runtime.json_shapes import from_json, json_object

NAME = "ask"
# What a read tool answers at most: a model's context is small.
SEARCH_MOST = 50
LISTING_MOST = 200

SYSTEM = (
    "You organise the user's files by proposing commands; a person reviews and accepts them. "
    "Use the read tools (search, list_folder, file_info) to find the files the request "
    "means, then call a command tool once per command you propose, each with a one-line "
    "reason. Paths are absolute. You only see the places you were granted. When done, "
    "answer in one sentence without tool calls."
)


class Ask:
    """The agent behind ``sd agent ask``: it proposes only when asked in words, so it follows
    no events, a sweep finds nothing to do, and enabling it changes nothing. Its name is what
    a grant names (``sd agent grant ask --location ...``: all it needs) and what its
    proposals carry."""

    name: ClassVar[str] = NAME
    summary: ClassVar[str] = "a request in words, answered by a language model (sd agent ask)"
    follows: ClassVar[tuple[str, ...]] = ()
    reads: ClassVar[tuple[str, ...]] = ("files", "annotations", "tags")

    def propose(self, view: AgentView, events: Sequence[Event]) -> Iterable[Proposal]:
        return ()


@dataclass(frozen=True, slots=True)
class Command:
    """A command the model may propose, as the node declares it: its fields the model fills
    (name, shape, whether it must), and the fields set for it (``fixed``: a removal goes to
    the trash)."""

    op: str
    summary: str
    fields: tuple[tuple[str, Shape, bool], ...]
    fixed: dict[str, Any]

    @property
    def tool(self) -> str:
        """Its name as a tool: function names may not hold dots."""
        return self.op.replace(".", "_")


# The read tools, answered here from the index.
READ_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Files and folders whose name or path matches words (at most 50).",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "minLength": 1, "maxLength": 200},
                    "kind": {
                        "type": "string",
                        "description": "only this kind (document, image, video, audio...)",
                    },
                },
                "required": ["query"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "list_folder",
            "description": "What a folder holds (at most 200 entries).",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string", "description": "an absolute path"}},
                "required": ["path"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "file_info",
            "description": "A file's size, kind, modification date and tags.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string", "description": "an absolute path"}},
                "required": ["path"],
            },
        },
    },
]


def command_tool(command: Command) -> dict[str, Any]:
    """The tool that proposes ``command``: its fields, and the reason it is proposed."""
    reason = ("reason", Text(1, lines.REASON_MAX), True)
    fields = [*command.fields, reason]
    parameters = json_object(
        [(name, shape) for name, shape, required in fields if required],
        [(name, shape) for name, shape, required in fields if not required],
    )
    parameters["properties"]["reason"]["description"] = "why, in one line"
    return {
        "type": "function",
        "function": {
            "name": command.tool,
            "description": command.summary,
            "parameters": parameters,
        },
    }


def _date(mtime_ns: int) -> str:
    return datetime.fromtimestamp(mtime_ns / 1e9, timezone.utc).strftime("%Y-%m-%d")


class _Reads:
    """The read tools' answers, from one look at the index, within the grant."""

    def __init__(self, view: AgentView, db: sqlite3.Connection) -> None:
        self.view, self.db = view, db

    def answer(self, call: Call) -> Any:
        args = call.arguments
        path = args.get("path")
        if call.name == "search":
            query, kind = args.get("query"), args.get("kind")
            if not isinstance(query, str) or not query.strip():
                return {"error": "search needs a query"}
            return self.search(query, kind if isinstance(kind, str) and kind else None)
        if not isinstance(path, str) or not path.startswith("/"):
            return {"error": f"{call.name} needs an absolute path"}
        if call.name == "list_folder":
            return self.list_folder(os.fsencode(path))
        return self.file_info(os.fsencode(path))

    def search(self, query: str, kind: str | None) -> Any:
        hits = search(self.db, query, Filters(kind=kind), SEARCH_MOST * 4)
        owners = folder_owners(self.db, [h.folder for h in hits])
        found = []
        for hit in hits:
            owner = owners.get(hit.folder)
            if owner is None or owner.device != self.view.device:
                continue
            if not self.view.granted(hit.path):
                continue
            found.append(self._entry(hit.path, hit.ftype, hit.kind, hit.size, hit.mtime_ns))
            if len(found) == SEARCH_MOST:
                break
        return {"found": found}

    def _entry(self, path: bytes, ftype: str, kind: str | None, size: int, mtime_ns: int) -> Any:
        out = {"path": os.fsdecode(path), "type": "folder" if ftype == DIR else "file"}
        if ftype != DIR:
            out.update(kind=kind, size=size, modified=_date(mtime_ns))
        return out

    def _resolved(self, path: bytes) -> Any:
        if not self.view.granted(path):
            return None
        return resolve(self.db, path.rstrip(b"/") or b"/", self.view.device)

    def list_folder(self, path: bytes) -> Any:
        found = self._resolved(path)
        folder = None if found is None else found.named_folder
        if folder is None:
            return {"error": f"no folder {os.fsdecode(path)} among the places granted"}
        children = sorted(folder_children(self.db, folder), key=lambda c: c.name)
        return {
            "path": os.fsdecode(path),
            "entries": [
                self._entry(os.path.join(path, c.name), c.ftype, c.kind, c.size, c.mtime_ns)
                for c in children[:LISTING_MOST]
            ],
            "more": max(0, len(children) - LISTING_MOST),
        }

    def file_info(self, path: bytes) -> Any:
        found = self._resolved(path)
        if found is None or found.child is None:
            return {"error": f"no file {os.fsdecode(path)} among the places granted"}
        c = found.child
        out = self._entry(path, c.ftype, c.kind, c.size, c.mtime_ns)
        shown = annotations_of(self.db, [(self.view.device, c.eid, c.cid)])
        tags = shown.get((self.view.device, c.eid))
        out["tags"] = list(tags.tags) if tags is not None else []
        return out


# Why an item may not be proposed for the agent (outside its grant, say), None if it may:
# the check the manager and the ActionManager make (``sdactors.agent.grants.Grants``).
Refusal = Callable[[str, dict[str, Any]], "str | None"]


def ask(
    view: AgentView,
    chat: Chat,
    request: str,
    commands: Sequence[Command],
    rounds: int,
    refusal: Refusal,
) -> tuple[Proposal, str]:
    """The proposal the model makes for ``request``, and its last words."""
    by_tool = {c.tool: c for c in commands}
    tools = [*READ_TOOLS, *(command_tool(c) for c in commands)]
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": request},
    ]
    items: list[Item] = []
    words = ""
    with view.index() as db:
        reads = _Reads(view, db)
        for _ in range(rounds):
            reply = chat.complete(messages, tools)
            words = reply.text.strip() or words
            if not reply.calls:
                break
            messages.append(reply.message)
            for call in reply.calls:
                if call.name in ("search", "list_folder", "file_info"):
                    answer = reads.answer(call)
                else:
                    items.append(_item(by_tool, refusal, call))
                    answer = {"ok": "proposed; a person will review it"}
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": json.dumps(answer)}
                )
        else:
            if not items:
                raise AskRefused(f"the model was still looking after {rounds} rounds")
    if not items:
        said = f": it said {words!r}" if words else ""
        raise AskRefused(f"the model proposed no command{said}")
    return Proposal(NAME, lines.title(f"asked: {request}"), tuple(items)), words


def _item(by_tool: dict[str, Command], refusal: Refusal, call: Call) -> Item:
    """The proposal's item for one command the model called, or why it cannot be one."""
    command = by_tool.get(call.name)
    if command is None:
        known = ", ".join(sorted(by_tool))
        raise AskRefused(f"the model named {call.name!r}, not a command an agent may run ({known})")
    given = dict(call.arguments)
    reason = given.pop("reason", None)
    if not isinstance(reason, str) or not reason.strip():
        raise AskRefused(f"the model gave no reason for {command.op}")
    shapes = {name: (shape, required) for name, shape, required in command.fields}
    extra = sorted(set(given) - set(shapes))
    if extra:
        raise AskRefused(f"{command.op}: the model gave unknown arguments {', '.join(extra)}")
    args: dict[str, Any] = {}
    for name, (shape, required) in shapes.items():
        if name not in given:
            if required:
                raise AskRefused(f"{command.op}: the model left out {name}")
            continue
        try:
            value = from_json(shape, given[name], name)
        except InvalidArgument as exc:
            raise AskRefused(f"{command.op}: {exc}") from None
        why = shape.checker()(value)
        if why is not None:
            raise AskRefused(f"{command.op}: {name}: {why}")
        args[name] = value
    args.update(command.fixed)
    why = refusal(command.op, args)
    if why is not None:
        raise AskRefused(f"{command.op}: {why}")
    return Item(lines.reason(reason), command.op, args)
