"""Commands as data: every user operation is a typed command, a frozen dataclass whose fields
declare their shapes (``events.shapes``), run the same way by a node or by the CLI itself.

A command travels as ``(name, arguments)``: the CLI builds it, sends it to the node over the
control socket (or runs it in its own process when no node serves the data directory), and
renders what it returns. Its arguments are checked against the declared shapes wherever it
is decoded, so bad input from any client is one clear line and writes nothing. Commands
that change a library (``writes``) are run by the ActionManager, which audits them.

What a command returns is plain data (maps, lists, text, numbers, bytes): the same value
whichever process ran it, so ``sd`` prints the same output either way. Each command declares
the shape of what it returns (``result``) as it declares its arguments', so a client (an HTTP
API, its documentation) knows both without running it. A command that streams (a follow)
sends its output as progress frames, each of the shape ``stream`` declares, and ends when its
client goes away.
"""

from __future__ import annotations

import dataclasses
import os
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar, TypeVar

from events.shapes import Check, Shape, compile_check, declared_shape
from sdactors.agent.grants import Touches
from sdactors.ops.context import OpContext
from sdactors.runtime.errors import InvalidArgument, ResultMisshapen

__all__ = ["Op", "OpContext", "op", "encode", "decode", "commands"]


class Op(ABC):
    """Base of every command. ``run`` returns plain data."""

    # The command's name on the wire (``op_name``, not ``name``: a command may have a field
    # called name).
    op_name: ClassVar[str]
    # Changes a library: run by the ActionManager and audited as action.* events.
    writes: ClassVar[bool] = False
    # The shape of what ``run`` returns (every command declares one).
    result: ClassVar[Shape]
    # For a command whose output is its progress frames: the shape of each frame. Such a
    # command ends when its client goes away (a progress frame that cannot be sent raises).
    stream: ClassVar[Shape | None] = None

    @abstractmethod
    def run(self, ctx: OpContext) -> Any:
        """Do it; what it returns is what ``--json`` prints."""

    def validate(self, ctx: OpContext) -> None:  # noqa: B027 - most commands need no check
        """Refuse invalid input before anything is written (raise InvalidArgument)."""

    def audit_library(self, ctx: OpContext) -> str | None:
        """The library the action is recorded in: the one it acts on."""
        return ctx.find(getattr(self, "library", None)).id

    def created_library(self, result: Any) -> str | None:
        """For a command that creates its library: the library, from what it returned."""
        return None

    def touches(self) -> Touches | None:
        """For a command an agent may propose: the host paths and tags it touches, which
        the agent's grant must hold (``sdactors.agent.grants``). None (the default): no
        agent may propose it."""
        return None

    def arguments(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _COMMANDS[self.op_name][1]}

    def audited_arguments(self) -> dict[str, Any]:
        """The arguments as the audit trail records them (a command holding a secret leaves
        it out: the log is replicated to every device of the library)."""
        return self.arguments()


T = TypeVar("T", bound=type)
# name -> (class, field names, compiled check of its arguments)
_COMMANDS: dict[str, tuple[type, tuple[str, ...], Check]] = {}


def op(name: str, *, writes: bool = False) -> Callable[[T], T]:
    """Register a frozen dataclass as the command ``name``."""

    def register(cls: T) -> T:
        if name in _COMMANDS:
            raise ValueError(f"command {name} registered twice")
        if not isinstance(getattr(cls, "result", None), Shape):
            raise TypeError(f"command {name} must declare the shape of its result")
        shape = declared_shape(cls)
        cls.op_name = name  # type: ignore[attr-defined]
        cls.writes = writes  # type: ignore[attr-defined]
        _COMMANDS[name] = (cls, tuple(f for f, _ in shape.fields), compile_check(shape))
        return cls

    return register


def encode(command: Op) -> dict[str, Any]:
    return {"op": command.op_name, "args": command.arguments()}


def decode(name: object, args: object) -> Op:
    """The command a client sent, its arguments checked; InvalidArgument says what is wrong."""
    found = _COMMANDS.get(name) if isinstance(name, str) else None
    if found is None:
        raise InvalidArgument(f"unknown command {name!r}")
    cls, _fields, check = found
    if type(args) is dict:
        args = {k: tuple(v) if type(v) is list else v for k, v in args.items()}
    reason = check(args)
    if reason is not None:
        raise InvalidArgument(f"{name}: {reason}")
    return cls(**args)  # type: ignore[arg-type]


def decode_given(name: str, args: dict[str, Any]) -> Op:
    """:func:`decode`, the arguments ``args`` leaves out taken at their defaults: how a
    proposal names a command (the arguments that matter; the library is the proposal's)."""
    found = _COMMANDS.get(name)
    if found is None:
        raise InvalidArgument(f"unknown command {name!r}")
    full = {
        f.name: f.default
        for f in dataclasses.fields(found[0])
        if f.default is not dataclasses.MISSING
    }
    full.update(args)
    return decode(name, full)


def commands() -> list[str]:
    return sorted(_COMMANDS)


def command_class(name: str) -> type[Op]:
    """The class registered as ``name``: its fields' shapes and its ``result``, ``stream``."""
    return _COMMANDS[name][0]


# Set (to 1) by the tests: every command's result is held to the shape it declares.
CHECK_RESULTS_ENV = "SD_CHECK_RESULTS"
_RESULT_CHECKS: dict[str, Check] = {}


def run_command(command: Op, ctx: OpContext) -> Any:
    """Run a command where it is (every path to ``run`` goes through here, so the check
    below sees every result, whichever process answers)."""
    return checked_result(command, command.run(ctx))


def checked_result(command: Op, result: Any) -> Any:
    """``result``, held to the command's declared shape when the tests ask for it (a
    command whose answer drifted from its declaration fails there, not in a client)."""
    if os.environ.get(CHECK_RESULTS_ENV) != "1":
        return result
    name = command.op_name
    check = _RESULT_CHECKS.get(name)
    if check is None:
        check = _RESULT_CHECKS[name] = type(command).result.checker()
    reason = check(result)
    if reason is not None:
        raise ResultMisshapen(name, reason)
    return result
