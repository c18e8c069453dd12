"""The event catalog: typed events in and out, upcasting, and unknown types carried, not lost."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pytest

from events.codec import pack, unpack
from events.domain import CATALOG
from events.errors import UnknownEventType
from events.registry import Catalog, UnknownEvent


def sample_value(annotation: Any) -> Any:
    """A value for a field, chosen by its declared type (a string under PEP 563)."""
    text = str(annotation)
    if "None" in text:
        return None
    for name, value in (
        ("bytes", b"\x00\x01"),
        ("bool", True),
        ("int", 7),
        ("float", 1.5),
        ("str", "x"),
        ("dict", {"b": 1, "a": 2}),
        ("tuple", (1, 2)),
        ("list", (1, 2)),
    ):
        if name in text:
            return value
    return "x"


def sample(cls: type) -> Any:
    return cls(**{f.name: sample_value(f.type) for f in dataclasses.fields(cls)})


@pytest.mark.parametrize("type_name", CATALOG.types())
def test_every_catalog_type_survives_the_wire(type_name: str) -> None:
    """What a device writes, any device reads back as the same typed event."""
    cls = CATALOG.class_for(type_name)
    assert cls is not None
    typed = sample(cls)
    name, v, body = CATALOG.body(typed)
    assert (name, v) == (type_name, cls.version)
    assert list(body) == sorted(body)  # canonical: keys sorted
    decoded = unpack(pack(body))
    assert CATALOG.build(name, v, decoded) == typed


@dataclass(frozen=True, slots=True)
class _Fake:
    a: int


def _catalog() -> tuple[Catalog, type, type]:
    """A private catalog with a type at version 3 (upcast from 1 and 2) and a plain one."""
    catalog = Catalog()

    @catalog.event("test.moved", version=3)
    @dataclass(frozen=True, slots=True)
    class Moved:
        src: str
        dst: str
        meta: dict

    @catalog.upcaster("test.moved", 1)
    def one_to_two(body: dict) -> dict:
        body["dst"] = body.pop("to")
        return body

    @catalog.upcaster("test.moved", 2)
    def two_to_three(body: dict) -> dict:
        body.setdefault("meta", {})
        return body

    @catalog.event("test.plain")
    @dataclass(frozen=True)
    class Plain:  # no slots: built through the keyword path
        x: int
        y: str

    return catalog, Moved, Plain


def test_old_versions_are_upcast_step_by_step() -> None:
    catalog, moved, _ = _catalog()
    assert catalog.build("test.moved", 1, {"src": "a", "to": "b"}) == moved("a", "b", {})
    assert catalog.build("test.moved", 2, {"src": "a", "dst": "b"}) == moved("a", "b", {})
    assert catalog.build("test.moved", 3, {"src": "a", "dst": "b", "meta": {"k": 1}}) == moved(
        "a", "b", {"k": 1}
    )


def test_a_missing_upcaster_leaves_the_event_unknown() -> None:
    catalog, _, _ = _catalog()
    assert catalog.build("test.moved", 0, {"src": "a"}) == UnknownEvent(
        "test.moved", 0, {"src": "a"}
    )


@pytest.mark.parametrize(
    "type_name, v, body",
    [
        ("test.unheard_of", 1, {"a": 1}),  # a type from a newer version
        ("test.moved", 4, {"src": "a"}),  # a newer version of a known type
        ("test.plain", 1, {"x": 1}),  # a field missing
        ("test.plain", 1, {"x": 1, "y": "s", "z": 0}),  # a field more
        ("test.plain", 1, {"x": 1, "z": "s"}),  # right count, wrong names
        ("test.moved", 3, {"src": "a", "dst": "b", "mood": {}}),
        ("test.moved", 3, {"src": "a", "dst": "b"}),
        ("test.plain", 1, (1, "s")),  # not a map at all
        ("test.plain", 1, None),
    ],
)
def test_what_this_version_cannot_build_is_carried_as_unknown(
    type_name: str, v: int, body: Any
) -> None:
    catalog, _, _ = _catalog()
    built = catalog.build(type_name, v, body)
    assert built == UnknownEvent(type_name, v, body)


def test_plain_dataclasses_build_too() -> None:
    catalog, _, plain = _catalog()
    assert catalog.build("test.plain", 1, {"y": "s", "x": 1}) == plain(1, "s")


def test_nested_maps_are_made_canonical() -> None:
    catalog, moved, _ = _catalog()
    name, v, body = catalog.body(moved("a", "b", {"z": {"y": 1, "x": 2}, "a": 0}))
    assert (name, v) == ("test.moved", 3)
    assert list(body["meta"]) == ["a", "z"] and list(body["meta"]["z"]) == ["x", "y"]
    assert pack(body) == pack({"src": "a", "meta": {"a": 0, "z": {"x": 2, "y": 1}}, "dst": "b"})


def test_registration_mistakes_are_caught() -> None:
    catalog, _, _ = _catalog()
    with pytest.raises(ValueError):
        catalog.event("test.plain")(
            dataclass(frozen=True)(type("Again", (), {"__annotations__": {}}))
        )
    with pytest.raises(TypeError):
        catalog.event("test.other")(type("NotADataclass", (), {}))
    with pytest.raises(UnknownEventType):
        catalog.body(_Fake(1))


def test_the_catalog_knows_the_types_the_folds_rely_on() -> None:
    for name in (
        "device.registered",
        "library.created",
        "library.renamed",
        "tag.created",
        "tag.renamed",
        "tag.recolored",
        "tag.deleted",
        "node.actor_restarted",
    ):
        assert CATALOG.class_for(name) is not None, name
