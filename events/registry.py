"""Typed events: frozen dataclasses with a type name and a version, plus upcasters.

A catalog maps ``(type, v)`` to a dataclass. Old versions are upcast on read, one step at a
time, so a fold only ever sees the current shape. A type (or a version) this code does not
know becomes an :class:`UnknownEvent`: folds skip it, while the store and every export keep
its bytes untouched, so a newer peer's events are never lost on their way through an older one.

Every field of a registered type declares its shape (``events.shapes``) in its annotation,
``Annotated[bytes, Id()]``; :meth:`Catalog.check` is the one place a body is checked against
them, before an event is written and on every ingest. :meth:`Catalog.build` checks again, so
a body a fold receives always has its declared shape, even one stored while its type was
unknown to an older version.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, TypeVar

from events.codec import canonical
from events.envelope import Event
from events.errors import UnknownEventType
from events.shapes import (
    Check,
    Struct,
    compile_builder,
    compile_check,
    compile_version_check,
    declared_shape,
)


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """An event whose type or version this code does not know; carried, never folded."""

    type_name: str
    version: int
    body: Any


T = TypeVar("T")
Upcaster = Callable[[dict], dict]


class Catalog:
    """The table of known event types. Filled at import time, read-only afterwards."""

    def __init__(self) -> None:
        self._classes: dict[str, type] = {}
        self._fields: dict[type, tuple[str, ...]] = {}
        self._nested_maps: set[type] = set()
        self._makers: dict[str, Callable[[dict], Any]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        self._shapes: dict[str, Struct] = {}
        self._checks: dict[str, Check] = {}
        self._builders: dict[str, Callable[[int, Any], Any]] = {}
        self._checkers: dict[str, Callable[[int, Any], str | None]] = {}

    def event(self, type_name: str, version: int = 1) -> Callable[[type[T]], type[T]]:
        """Class decorator: register a frozen dataclass as event ``type_name`` at ``version``."""

        def register(cls: type[T]) -> type[T]:
            if type_name in self._classes:
                raise ValueError(f"event type {type_name} registered twice")
            if not dataclasses.is_dataclass(cls):
                raise TypeError(f"{cls.__name__} must be a dataclass")
            cls.type_name = type_name  # type: ignore[attr-defined]
            cls.version = version  # type: ignore[attr-defined]
            self._classes[type_name] = cls
            fields = dataclasses.fields(cls)
            self._fields[cls] = tuple(sorted(f.name for f in fields))
            if any("dict" in str(f.type) for f in fields):
                self._nested_maps.add(cls)
            self._makers[type_name] = _maker(cls, [f.name for f in fields])
            self._shapes[type_name] = declared_shape(cls)
            return cls

        return register

    def upcaster(self, type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register the step that turns a ``from_version`` body into a ``from_version + 1`` one."""

        def register(fn: Upcaster) -> Upcaster:
            self._upcasters[(type_name, from_version)] = fn
            return fn

        return register

    def types(self) -> list[str]:
        return sorted(self._classes)

    def class_for(self, type_name: str) -> type | None:
        return self._classes.get(type_name)

    def shape(self, type_name: str) -> Struct:
        """The declared shape of a known type's body (at its current version)."""
        return self._shapes[type_name]

    def check(self, type_name: str, v: int, body: Any) -> str | None:
        """Why ``body`` is not a valid body of ``type_name`` at version ``v``; None if it is.

        A type or version this code does not know is not checked (it is kept, never folded);
        an older version is checked as it is upcast.
        """
        cls = self._classes.get(type_name)
        if cls is None or v > cls.version:
            return None
        if v < cls.version:
            body = self._upcast(type_name, v, body, cls.version)
            if body is None:
                return None
        return self._check_of(type_name)(body)

    def checker(self, type_name: str) -> Callable[[int, Any], str | None]:
        """:meth:`check` for one type, ``(v, body)``: what every draft and every ingested
        event is checked by. A body of the current version that fits is passed by one
        compiled expression; anything else goes to :meth:`check`, so both answer alike."""
        found = self._checkers.get(type_name)
        if found is None:
            general = partial(self.check, type_name)
            cls = self._classes.get(type_name)
            if cls is None:
                found = general
            else:
                found = compile_version_check(self._shapes[type_name], cls.version, general)  # type: ignore[attr-defined]
            self._checkers[type_name] = found
        return found

    def _check_of(self, type_name: str) -> Check:
        """The compiled check of a type, compiled on first use: a command that reads no
        event of a type pays nothing for it."""
        check = self._checks.get(type_name)
        if check is None:
            check = self._checks[type_name] = compile_check(self._shapes[type_name])
        return check

    def _upcast(self, type_name: str, v: int, body: Any, current: int) -> dict | None:
        """``body`` brought to the current version, or None if no chain of steps leads there."""
        if type(body) is not dict:
            return None
        while v < current:
            step = self._upcasters.get((type_name, v))
            if step is None:
                return None
            try:
                body = step(dict(body))
            except Exception:  # noqa: BLE001 - a hostile body must not crash an upcaster's caller
                return None
            v += 1
        return body

    def body(self, typed: Any) -> tuple[str, int, dict]:
        """``(type, v, body)`` of a typed event, ready for the envelope."""
        cls = type(typed)
        names = self._fields.get(cls)
        if names is None:
            raise UnknownEventType(getattr(cls, "type_name", cls.__name__), 0)
        body = {n: getattr(typed, n) for n in names}
        if cls in self._nested_maps:
            # Only types that declare a mapping field pay for a deep sort of their body.
            body = canonical(body)
        return cls.type_name, cls.version, body

    def typed(self, event: Event) -> Any:
        """The dataclass of ``event`` at the current version, or an :class:`UnknownEvent`."""
        return self.build(event.type, event.v, event.body)

    def builder(self, type_name: str) -> Callable[[int, Any], Any]:
        """:meth:`build` for one type, ``(v, body)``: what a fold calls for each event.

        A body of the current version that fits is checked and made by one compiled
        function (:func:`events.shapes.compile_builder`); anything else goes to
        :meth:`build`, so both answer alike.
        """
        found = self._builders.get(type_name)
        if found is None:
            general = partial(self.build, type_name)
            cls = self._classes.get(type_name)
            slots = getattr(cls, "__slots__", None)
            shape = self._shapes.get(type_name)
            if (
                cls is None
                or shape is None
                or slots is None
                or set(slots) != set(self._fields[cls])
            ):
                found = general
            else:
                found = compile_builder(shape, cls, cls.version, general)  # type: ignore[attr-defined]
            self._builders[type_name] = found
        return found

    def build(self, type_name: str, v: int, body: Any) -> Any:
        """The typed event, or an :class:`UnknownEvent` for anything a fold must not see: an
        unknown type or version, and a body that does not have its declared shape."""
        cls = self._classes.get(type_name)
        if cls is None or v > cls.version:
            return UnknownEvent(type_name, v, body)
        typed_body = body if v == cls.version else self._upcast(type_name, v, body, cls.version)
        if typed_body is None or self._check_of(type_name)(typed_body) is not None:
            return UnknownEvent(type_name, v, body)
        return self._makers[type_name](typed_body)


def _maker(cls: type, names: list[str]) -> Callable[[dict], Any]:
    """A constructor from a body dict, for the fold's hot path.

    ``cls(**body)`` on a frozen dataclass costs about twice this: it unpacks keywords and
    sets each field through ``object.__setattr__``. Here each slot is set through its own
    descriptor. A body with missing or extra keys raises, and the caller falls back.
    """
    slots = getattr(cls, "__slots__", None)
    if slots is None or set(slots) != set(names):
        return lambda body: cls(**body)
    setters = [(name, getattr(cls, name).__set__) for name in names]
    count = len(names)
    new = object.__new__

    def make(body: dict) -> Any:
        if len(body) != count:
            raise KeyError("fields differ")
        obj = new(cls)
        for name, set_ in setters:
            set_(obj, body[name])
        return obj

    return make
