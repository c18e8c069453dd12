"""The event catalog: typed events in and out, upcasting, and unknown types carried, not lost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.codec import pack, unpack
from events.domain import CATALOG
from events.errors import UnknownEventType
from events.registry import Catalog, UnknownEvent
from events.shapes import Check, Int, MapOf, Shape, Text
from tests.conftest import examples
from tests.shape_strategies import invalid, valid


@pytest.mark.parametrize("type_name", CATALOG.types())
@settings(max_examples=examples(40), deadline=None)
@given(data=st.data())
def test_every_catalog_type_survives_the_wire(type_name: str, data: st.DataObject) -> None:
    """What a device writes, any device reads back as the same typed event: for any body of
    the type's declared shape."""
    cls = CATALOG.class_for(type_name)
    assert cls is not None
    body = data.draw(valid(CATALOG.shape(type_name)))
    typed = cls(**body)
    name, v, canonical_body = CATALOG.body(typed)
    assert (name, v) == (type_name, cls.version)
    assert list(canonical_body) == sorted(canonical_body)  # canonical: keys sorted
    assert CATALOG.check(name, v, canonical_body) is None
    decoded = unpack(pack(canonical_body))
    assert CATALOG.check(name, v, decoded) is None
    assert CATALOG.build(name, v, decoded) == typed
    # The fold's and the writers' compiled paths answer as the general ones.
    assert CATALOG.checker(name)(v, decoded) is None
    assert CATALOG.builder(name)(v, decoded) == typed
    assert CATALOG.builder(name)(v + 1, decoded) == CATALOG.build(name, v + 1, decoded)
    assert CATALOG.checker(name)(v + 1, decoded) is None  # a newer version: kept, unchecked


@pytest.mark.parametrize("type_name", CATALOG.types())
@settings(max_examples=examples(40), deadline=None)
@given(data=st.data())
def test_a_body_off_its_declared_shape_is_refused_and_never_built(
    type_name: str, data: st.DataObject
) -> None:
    body = data.draw(invalid(CATALOG.shape(type_name)))
    v = CATALOG.class_for(type_name).version  # type: ignore[union-attr]
    reason = CATALOG.check(type_name, v, body)
    assert reason, f"{type_name} accepted {body!r}"
    assert type(CATALOG.build(type_name, v, body)) is UnknownEvent
    assert CATALOG.checker(type_name)(v, body) == reason
    assert type(CATALOG.builder(type_name)(v, body)) is UnknownEvent
    # Decoded from the wire (tuples, maps), it is refused just the same.
    if not isinstance(body, float):
        try:
            wire_body = unpack(pack(body))
        except (TypeError, ValueError, OverflowError):
            return  # not even msgpack: it can never arrive
        assert CATALOG.check(type_name, v, wire_body)


def test_an_unknown_type_is_built_and_checked_alike_either_way() -> None:
    for v in (1, 9):
        assert CATALOG.builder("zzz.future")(v, {"x": 1}) == CATALOG.build(
            "zzz.future", v, {"x": 1}
        )
        assert CATALOG.checker("zzz.future")(v, {"x": 1}) is None


def test_entries_of_version_1_are_read_with_their_volume_unknown() -> None:
    """Version 2 of entries.indexed/modified adds each item's volume (st_dev); an item of
    version 1 reads as on volume 0, not known, and a bad one is still refused."""
    item = (2, 1, b"a.txt", "f", 5, 9, 77, "text", b"c" * 32, None)
    built = CATALOG.build("entries.indexed", 1, {"location": b"L" * 16, "entries": (item,)})
    assert built.entries == ((*item, 0),)
    changed = (2, 1, 6, 10, 77, "text", None)
    built = CATALOG.build("entries.modified", 1, {"location": b"L" * 16, "entries": (changed,)})
    assert built.entries == ((*changed, 0),)
    assert CATALOG.check("entries.indexed", 2, {"location": b"L" * 16, "entries": (item,)})
    bad = {"location": b"L" * 16, "entries": ((*item[:6], -1, *item[7:]),)}
    assert type(CATALOG.build("entries.indexed", 1, bad)) is UnknownEvent


def test_refusals_name_the_place_of_the_bad_value() -> None:
    item = (1, 0, b"..", "f", 0, 0, 1, None, None, None)
    body = {"location": b"L" * 16, "entries": ((2, 0, b"ok", "f", 0, 0, 1, None, None, None), item)}
    reason = CATALOG.check("entries.indexed", 1, body)
    assert reason == "entries[1].name: b'..' is not one path component"
    assert "tag: 17 bytes where 16 are expected" == CATALOG.check(
        "tag.deleted", 1, {"tag": b"x" * 17}
    )
    assert "the keys are" in (CATALOG.check("tag.deleted", 1, {"tag": {"a": 1}, "x": 1}) or "")
    assert CATALOG.check("tag.deleted", 1, {"tag": {"a": 1}}) == "tag: {'a': 1} is not bytes"
    assert CATALOG.check("future.kind", 1, {"anything": object()}) is None  # kept, not folded
    assert CATALOG.check("tag.deleted", 9, {"whatever": 1}) is None  # a newer version


def test_every_field_must_declare_its_shape() -> None:
    catalog = Catalog()
    with pytest.raises(TypeError, match="must declare its shape"):

        @catalog.event("test.undeclared")
        @dataclass(frozen=True, slots=True)
        class Undeclared:
            a: int


class Anything(Shape):
    """A shape for tests of the catalog's plumbing, not of shapes: every value fits."""

    def checker(self) -> Check:
        return lambda value: None


@dataclass(frozen=True, slots=True)
class _Fake:
    a: int


def _catalog() -> tuple[Catalog, type, type]:
    """A private catalog with a type at version 3 (upcast from 1 and 2) and a plain one."""
    catalog = Catalog()

    @catalog.event("test.moved", version=3)
    @dataclass(frozen=True, slots=True)
    class Moved:
        src: Annotated[str, Text()]
        dst: Annotated[str, Text()]
        meta: Annotated[dict, MapOf(Text(), Anything())]

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
        x: Annotated[int, Int()]
        y: Annotated[str, Text()]

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
    ):
        assert CATALOG.class_for(name) is not None, name
