"""Messages are data: every message an actor handles is a frozen dataclass of plain values,
ids and actor refs. No callable, future, generator, open file or live object travels in one:
replies come back through the ask's own future, progress through a channel named by id.

Two checks. The declared one finds every message class in the source (what an actor tests a
message against, and what is told or asked of one) and every command (a command travels in
the ActionManager's message) and checks each field's declared type. The observed one runs a
node through real commands (a write through the ActionManager, an index job with progress,
a rebuild, the volumes) and checks every value of every message the actors were sent.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import types
import typing
from pathlib import Path, PurePath
from typing import Any, Iterator

import pykka
import pytest

import sdactors

ROOT = Path(sdactors.__file__).parent
PLAIN = (type(None), bool, int, float, str, bytes)
CONTAINERS = (tuple, list, dict, set, frozenset)
# Variables a message is tested in (``isinstance(message, X)``) by the actors' handlers.
MESSAGE_NAMES = {"message", "msg"}


def modules() -> Iterator[types.ModuleType]:
    """Every module of sdactors, by its file (a folder without ``__init__`` too)."""
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] in ("__init__", "__main__"):
            parts = parts[:-1]
        if parts[-1:] != ("sdactors",) or len(parts) > 1:
            yield importlib.import_module(".".join(parts))


def _names_in(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Tuple):
        return [n for elt in node.elts for n in _names_in(elt)]
    return []


def message_classes() -> dict[type, str]:
    """Every class an actor tests a message against, or that is told or asked of an actor;
    with where it was seen."""
    found: dict[type, str] = {}
    for module in modules():
        path = Path(module.__file__ or "")
        if path.suffix != ".py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            names: list[str] = []
            func = node.func
            if (
                isinstance(func, ast.Name)
                and func.id == "isinstance"
                and len(node.args) == 2
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id in MESSAGE_NAMES
            ):
                names = _names_in(node.args[1])
            elif isinstance(func, ast.Attribute) and func.attr in ("tell", "ask") and node.args:
                sent = node.args[0]
                if isinstance(sent, ast.Call) and isinstance(sent.func, ast.Name):
                    names = [sent.func.id]
            for name in names:
                cls = getattr(module, name, None)
                if isinstance(cls, type) and cls.__module__.startswith("sdactors."):
                    found.setdefault(cls, f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    return found


def commands() -> list[type]:
    from sdactors.ops import registry  # noqa: F401 - every command registered
    from sdactors.ops.base import _COMMANDS

    return [cls for cls, _fields, _check in _COMMANDS.values()]


def _class_named(name: str) -> Any:
    """A name only imported for type checking: the one class of ours so named."""
    found = {
        getattr(m, name)
        for m in modules()
        if isinstance(getattr(m, name, None), type) and getattr(m, name).__name__ == name
    }
    if len(found) != 1:
        raise NameError(name)
    return found.pop()


def field_types(cls: type) -> dict[str, Any]:
    """The declared type of each field (of a dataclass, or a named tuple)."""
    fallback: dict[str, Any] = {}
    for _ in range(20):
        try:
            hints = typing.get_type_hints(cls, localns=fallback)
            break
        except NameError as exc:
            fallback[exc.name] = _class_named(exc.name)  # type: ignore[index]
    else:
        raise AssertionError(f"cannot resolve the field types of {cls.__qualname__}")
    if dataclasses.is_dataclass(cls):
        names = [f.name for f in dataclasses.fields(cls)]
    else:
        names = list(cls._fields)  # type: ignore[attr-defined]
    return {name: hints[name] for name in names}


def type_problems(tp: Any, where: str, seen: set[Any]) -> list[str]:
    """Why a declared type is not plain data (nothing: it is)."""
    if tp is Any or tp in PLAIN:
        return []
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return [p for arg in typing.get_args(tp) for p in type_problems(arg, where, seen)]
    if origin is typing.Literal:
        return []
    if origin in CONTAINERS:
        return [
            p for arg in typing.get_args(tp) if arg is not Ellipsis
            for p in type_problems(arg, where, seen)
        ]  # fmt: skip
    if origin is not None:
        return [f"{where}: {tp} is not plain data"]
    if not isinstance(tp, type):
        return [f"{where}: {tp!r} is not plain data"]
    if tp in CONTAINERS or issubclass(tp, enum.Enum):
        return []
    if issubclass(tp, pykka.ActorRef):
        return []  # an actor's address
    if issubclass(tp, (BaseException, PurePath)):
        return []  # an error, a path: values
    from sdactors.ops.base import Op

    if (
        tp is Op
        or dataclasses.is_dataclass(tp)
        or (issubclass(tp, tuple) and hasattr(tp, "_fields"))
    ):
        if tp in seen:  # checked already (or being checked: a recursive type)
            return []
        seen.add(tp)
        if tp is Op:  # any command
            return [p for cls in commands() for p in class_problems(cls, seen)]
        return class_problems(tp, seen)
    return [f"{where}: {tp.__module__}.{tp.__qualname__} is a live object, not data"]


def class_problems(cls: type, seen: set[Any]) -> list[str]:
    problems = []
    if dataclasses.is_dataclass(cls) and not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        problems.append(f"{cls.__qualname__} is not a frozen dataclass")
    elif not dataclasses.is_dataclass(cls) and not issubclass(cls, tuple):
        return [f"{cls.__qualname__} is not a dataclass"]
    for name, tp in field_types(cls).items():
        problems.extend(type_problems(tp, f"{cls.__qualname__}.{name}", seen))
    return problems


def value_problems(value: Any, where: str, depth: int = 0) -> list[str]:
    """Why a value sent to an actor is not plain data (nothing: it is)."""
    if depth > 20 or isinstance(value, PLAIN) or isinstance(value, enum.Enum):
        return []
    if isinstance(value, (pykka.ActorRef, BaseException, PurePath)):
        return []
    if isinstance(value, dict):
        return [
            p for k, v in value.items()
            for p in value_problems(k, where, depth + 1) + value_problems(v, where, depth + 1)
        ]  # fmt: skip
    if isinstance(value, CONTAINERS):
        return [p for v in value for p in value_problems(v, where, depth + 1)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if not type(value).__dataclass_params__.frozen:  # type: ignore[attr-defined]
            return [f"{where}: {type(value).__qualname__} is not frozen"]
        return [
            p
            for f in dataclasses.fields(value)
            for p in value_problems(getattr(value, f.name), f"{where}.{f.name}", depth + 1)
        ]
    return [f"{where}: holds {type(value).__module__}.{type(value).__qualname__} {value!r:.60}"]


# -- the declared types -------------------------------------------------------------------------


def test_the_message_finder_finds_the_actors_messages() -> None:
    """The checker itself must see the messages, or every check below would pass on none."""
    found = {cls.__qualname__ for cls in message_classes()}
    for must in ("Append", "Publish", "Submit", "CatchUp", "RunAction",
                 "OpenLibrary", "ListVolumes"):  # fmt: skip
        assert must in found, f"{must} not found among {sorted(found)}"


def test_the_type_check_refuses_what_is_not_data() -> None:
    from concurrent.futures import Future
    from typing import IO, Callable, Iterable

    from sdactors.library.handle import Library

    for wrong in (Callable[[int], None], Future, pykka.Future, Iterable[bytes], IO[bytes], Library):
        assert type_problems(wrong | None, "x", set()), wrong
    assert not type_problems(dict[str, tuple[bytes, int | None]], "x", set())


def test_every_message_class_declares_plain_data() -> None:
    seen: set[Any] = set()
    problems = []
    for cls, where in sorted(message_classes().items(), key=lambda kv: kv[1]):
        problems.extend(f"{p} (used at {where})" for p in class_problems(cls, seen))
    assert not problems, "messages that are not data:\n" + "\n".join(problems)


def test_every_command_declares_plain_data() -> None:
    """A command travels inside RunAction: its fields must be data too."""
    seen: set[Any] = set()
    problems = [p for cls in commands() for p in class_problems(cls, seen)]
    assert not problems, "commands that are not data:\n" + "\n".join(problems)


# -- the values sent while a node runs real commands --------------------------------------------


class _Sink:
    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []

    def put(self, info: dict[str, Any]) -> None:
        self.got.append(info)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every message told or asked of a pykka actor while the test runs."""
    messages: list[Any] = []
    tell, ask = pykka.ActorRef.tell, pykka.ActorRef.ask

    def told(self: pykka.ActorRef, message: Any) -> None:
        messages.append(message)
        return tell(self, message)

    def asked(self: pykka.ActorRef, message: Any, **kw: Any) -> Any:
        messages.append(message)
        return ask(self, message, **kw)

    monkeypatch.setattr(pykka.ActorRef, "tell", told)
    monkeypatch.setattr(pykka.ActorRef, "ask", asked)
    return messages


def test_every_message_a_node_sends_holds_plain_data(tmp_path: Path, sent: list[Any]) -> None:
    from sdactors.node.node import Node
    from sdactors.ops.jobs import JobsList
    from sdactors.ops.libraries import LibraryCreate
    from sdactors.ops.locations import LocationAdd
    from sdactors.ops.projections import RebuildIndex
    from sdactors.ops.tags import TagCreate

    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    for i in range(5):
        (tree / "a" / f"f{i}.txt").write_bytes(b"x" * i)
    with Node(tmp_path / "data") as node:
        node.execute(LibraryCreate("Home"))
        node.execute(TagCreate("Photos"), _Sink())
        sink = _Sink()
        done = node.execute(LocationAdd(str(tree).encode()), sink)
        assert done["files"] == 5 and sink.got, "the index ran and reported its progress"
        assert node.execute(JobsList(all=True))
        assert node.execute(RebuildIndex())["events"] > 0
    pykka_own = ("pykka.",)
    ours = [m for m in sent if not type(m).__module__.startswith(pykka_own)]
    assert len(ours) > 10, "the node's actors were sent messages"
    problems = [
        p for m in ours for p in value_problems(m, type(m).__qualname__)
    ]  # fmt: skip
    assert not problems, "messages that held more than data:\n" + "\n".join(sorted(set(problems)))
