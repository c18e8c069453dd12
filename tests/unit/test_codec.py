"""The canonical codec and the envelope: one byte form per event, and hostile bytes refused."""

from __future__ import annotations

import math
from typing import Any

import blake3
import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import codec
from events.envelope import ID_LEN, decode, encode_data, event_id, library_key
from events.errors import CodecError
from events.keys import DeviceKey
from tests.conftest import examples

INT64 = st.integers(min_value=-(2**63), max_value=2**64 - 1)
scalars = (
    st.none()
    | st.booleans()
    | INT64
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=40)
)
# What an event body may hold: msgpack's own types; maps keyed by strings, as the catalog writes.
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=25,
)
KEY = library_key(b"\x42" * 16)


def decode_any(data: bytes, sig: bytes | None = None) -> object:
    return decode(data, event_id(KEY, data), sig)


SETTINGS = settings(
    max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def as_decoded(value: Any) -> Any:
    """What decoding yields for ``value``: tuples for every sequence."""
    if isinstance(value, (list, tuple)):
        return tuple(as_decoded(v) for v in value)
    if isinstance(value, dict):
        return {k: as_decoded(v) for k, v in value.items()}
    return value


def shuffled_maps(value: Any, reverse: bool) -> Any:
    """The same value with every map built in another key order."""
    if isinstance(value, dict):
        keys = sorted(value, reverse=reverse)
        return {k: shuffled_maps(value[k], reverse) for k in keys}
    if isinstance(value, (list, tuple)):
        return [shuffled_maps(v, reverse) for v in value]
    return value


@SETTINGS
@given(values)
def test_pack_is_canonical_whatever_the_key_order(value: Any) -> None:
    """Two devices holding the same body in different dict orders must hash it the same."""
    forward = codec.pack(shuffled_maps(value, reverse=False))
    backward = codec.pack(shuffled_maps(value, reverse=True))
    assert forward == backward
    decoded = codec.unpack(forward)
    assert decoded == as_decoded(value)
    assert codec.pack(decoded) == forward


@SETTINGS
@given(
    device=st.binary(min_size=32, max_size=32),
    seq=st.integers(min_value=1, max_value=2**63 - 1),
    hlc=st.integers(min_value=0, max_value=2**63 - 1),
    type_name=st.text(min_size=1, max_size=30).filter(str.isprintable),
    v=st.integers(min_value=1, max_value=0xFFFF),
    body=values,
    prev=st.binary(min_size=ID_LEN, max_size=ID_LEN),
)
def test_envelope_round_trip(
    device: bytes, seq: int, hlc: int, type_name: str, v: int, body: Any, prev: bytes
) -> None:
    body = codec.canonical(body)
    data = encode_data(device, seq, hlc, type_name, v, body, prev)
    ev = decode(data, event_id(KEY, data))
    assert (ev.device, ev.seq, ev.hlc, ev.type, ev.v, ev.prev) == (
        device,
        seq,
        hlc,
        type_name,
        v,
        prev,
    )
    assert ev.body == as_decoded(body)
    assert ev.data == data
    assert ev.id == event_id(KEY, data) == blake3.blake3(data, key=KEY).digest()
    # Re-encoding what was decoded gives the very same bytes, so the id is reproducible.
    assert encode_data(ev.device, ev.seq, ev.hlc, ev.type, ev.v, ev.body, ev.prev) == data


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=200))
def test_decode_of_arbitrary_bytes_is_an_event_or_a_codec_error(blob: bytes) -> None:
    """A damaged or hostile blob must never crash a reader with anything but CodecError."""
    try:
        ev = decode_any(blob)
    except CodecError:
        return
    assert len(ev.device) == 32 and ev.seq >= 1 and ev.hlc >= 0 and len(ev.prev) == ID_LEN


@settings(max_examples=examples(200), deadline=None)
@given(values, st.integers(min_value=0, max_value=64), st.integers(min_value=0, max_value=255))
def test_decode_of_a_damaged_envelope_never_crashes(body: Any, at: int, byte: int) -> None:
    data = bytearray(
        encode_data(bytes(32), 1, 5, "tag.created", 1, codec.canonical(body), bytes(32))
    )
    data[at % len(data)] = byte
    try:
        decode_any(bytes(data))
    except CodecError:
        pass


def test_hostile_map_keys_are_a_codec_error() -> None:
    """A map used as a map key cannot be hashed: it is malformed input, not a crash."""
    hostile = b"\x81\x81\xa1a\x01\x02"  # {{"a": 1}: 2}
    with pytest.raises(CodecError):
        codec.unpack(hostile)
    envelope = (
        b"\x97"
        + msgpack.packb(bytes(32))
        + b"\x01\x01\xa1t\x01"
        + hostile
        + msgpack.packb(bytes(32))
    )
    with pytest.raises(CodecError):
        decode_any(envelope)


@pytest.mark.parametrize(
    "fields, why",
    [
        ([bytes(32), 1, 1, "t", 1, {}], "six fields"),
        ([bytes(31), 1, 1, "t", 1, {}, bytes(32)], "short device"),
        ([bytes(32), 0, 1, "t", 1, {}, bytes(32)], "seq 0"),
        ([bytes(32), 1, -1, "t", 1, {}, bytes(32)], "negative hlc"),
        ([bytes(32), 1, 1, b"t", 1, {}, bytes(32)], "type as bytes"),
        ([bytes(32), 1, 1, "t", "1", {}, bytes(32)], "version as text"),
        ([bytes(32), 1, 1, "t", 1, {}, bytes(31)], "short prev"),
        ([bytes(32), 1, 1, "", 1, {}, bytes(32)], "empty type"),
        ([bytes(32), 1, 1, "t" * 65, 1, {}, bytes(32)], "type too long"),
        ([bytes(32), 1, 1, "t\x1b[2J", 1, {}, bytes(32)], "control characters in the type"),
        ([bytes(32), 1, 1, "t", 0, {}, bytes(32)], "version 0"),
        ([bytes(32), 1, 1, "t", 0x10000, {}, bytes(32)], "version too large"),
        ([bytes(32), True, 1, "t", 1, {}, bytes(32)], "seq as bool"),
        # SQLite holds signed 64-bit integers: nothing larger may enter the log.
        ([bytes(32), 2**63, 1, "t", 1, {}, bytes(32)], "seq past int64"),
        ([bytes(32), 1, 2**63, "t", 1, {}, bytes(32)], "hlc past int64"),
        ({"device": bytes(32)}, "a map"),
    ],
)
def test_decode_refuses_malformed_envelopes(fields: Any, why: str) -> None:
    with pytest.raises(CodecError):
        decode_any(msgpack.packb(fields, use_bin_type=True))


def test_decode_refuses_a_signature_of_the_wrong_length() -> None:
    data = encode_data(bytes(32), 1, 1, "t", 1, {}, bytes(32))
    with pytest.raises(CodecError):
        decode_any(data, sig=b"\x01" * 63)
    assert decode_any(data, sig=b"\x01" * 64).sig == b"\x01" * 64


def test_decode_refuses_trailing_bytes() -> None:
    data = encode_data(bytes(32), 1, 1, "t", 1, {}, bytes(32))
    with pytest.raises(CodecError):
        decode_any(data + b"\x00")


def test_floats_keep_their_value_and_nan_its_bytes() -> None:
    data = encode_data(bytes(32), 1, 1, "t", 1, {"x": math.nan, "y": 0.1}, bytes(32))
    ev = decode(data, event_id(KEY, data))
    assert math.isnan(ev.body["x"]) and ev.body["y"] == 0.1
    assert encode_data(*ev[:7]) == data


def test_a_real_device_key_signs_the_id() -> None:
    from events.keys import verify_signature

    key = DeviceKey.generate()
    data = encode_data(key.public, 1, 1, "t", 1, {}, bytes(32))
    sig = key.sign(event_id(KEY, data))
    assert verify_signature(key.public, event_id(KEY, data), sig)
    assert not verify_signature(key.public, event_id(KEY, data + b"x"), sig)
    assert not verify_signature(DeviceKey.generate().public, event_id(KEY, data), sig)
    assert not verify_signature(key.public, event_id(KEY, data), sig[:-1])
    assert not verify_signature(b"\xff" * 32, event_id(KEY, data), sig)


# -- bounded decoding ------------------------------------------------------------------------


def _values(value: Any) -> int:
    if isinstance(value, (list, tuple)):
        return 1 + sum(_values(v) for v in value)
    if isinstance(value, dict):
        return 1 + sum(_values(k) + _values(v) for k, v in value.items())
    return 1


long_values = st.recursive(
    scalars | st.binary(min_size=300, max_size=70_000) | st.text(min_size=40, max_size=300),
    lambda inner: (
        st.lists(inner, max_size=20) | st.dictionaries(st.text(max_size=8), inner, max_size=20)
    ),
    max_leaves=60,
)


@settings(max_examples=examples(300), suppress_health_check=[HealthCheck.too_slow])
@given(value=long_values | st.lists(st.integers(0, 2**16), min_size=16, max_size=70_000))
def test_values_are_counted_without_decoding(value: Any) -> None:
    data = msgpack.packb(value, use_bin_type=True)
    assert codec.values_in(data, 1 << 30) == _values(value)
    assert codec.values_in(data, 3) == min(_values(value), 4)


def test_data_holding_too_many_values_is_refused_before_it_is_decoded() -> None:
    """A megabyte of empty maps would be some seventy of Python dicts: it is counted, and
    refused, and what it would take is never taken."""
    for empty in (b"\x80", b"\x90", b"\xc0"):
        n = 4 << 20
        data = b"\xdd" + n.to_bytes(4, "big") + empty * n
        with pytest.raises(CodecError, match="more than 262,144 values"):
            codec.unpack(data)
        with pytest.raises(CodecError, match="more than 10 values"):
            codec.unpack(data, most=10)
    # Nested as deep and as wide as msgpack allows, just as well.
    nested = b"\x92" * 20 + b"\x90" * 21
    assert codec.values_in(nested, 1 << 20) == 41


def test_the_largest_batch_an_event_may_hold_decodes() -> None:
    """Ten thousand entries, every field as wide as its number may be: an event's bound
    leaves room for it."""
    item = [2**40 - 1, 2**40 - 1, b"n" * 40, "f", 2**63 - 1, -(2**63), 2**63 - 1, "z" * 32,
            b"c" * 32, b"t" * 40]  # fmt: skip
    body = {"location": b"l" * 16, "entries": [item] * 10_000}
    data = codec.pack([b"d" * 32, 2**63 - 1, 2**63 - 1, "entries.indexed", 1, body, b"p" * 32])
    assert len(data) > codec.SCAN_ABOVE
    decoded = codec.unpack(data)
    assert len(decoded[5]["entries"]) == 10_000
