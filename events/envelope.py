"""The event envelope and its canonical encoding.

The stored and transmitted form of an event is ``data``: the canonical msgpack array
``[device, seq, hlc, type, v, body, prev]``. ``id`` is blake3 of ``data`` keyed by its library
(:func:`library_key`), so it is never stored without its bytes and anyone who holds the library
can check it. ``sig`` travels beside ``data``: it signs ``id`` and, through ``prev``, every
earlier event of the device, so only the last event of a commit needs it.

The library is not a field on the wire: it is the key of the hash. So the signature covers it,
and an event replayed into another library gets another id there, which its signature does not
match: it is refused.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import blake3
import msgpack

from events.codec import unpack
from events.errors import CodecError
from events.keys import DEVICE_ID_LEN, SIGNATURE_LEN

ID_LEN = 32
ZERO_ID = bytes(ID_LEN)
LIBRARY_ID_LEN = 16
# Bounds of an event's type name and version, known or not (a newer peer's types included).
MAX_TYPE_LEN = 64
MAX_VERSION = 0xFFFF
# blake3's key derivation context for the key every event id of a library is hashed with.
_ID_CONTEXT = "sdactors 2026-11-30 event id of a library"
# Every integer of the envelope is stored by SQLite somewhere: it must fit a signed 64-bit.
_INT64 = 1 << 63


_new_tuple = tuple.__new__  # NamedTuple's own __new__ and _replace are Python functions: slow


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


class Event(NamedTuple):
    """One immutable, self-describing fact. ``pos`` is local arrival order, not part of it.

    A named tuple rather than a frozen dataclass: millions are built while folding and
    appending, and a tuple is several times cheaper to build.
    """

    device: bytes
    seq: int
    hlc: int
    type: str
    v: int
    body: Any
    prev: bytes
    id: bytes
    data: bytes
    sig: bytes | None = None
    pos: int | None = None

    @property
    def sealed(self) -> bool:
        return self.sig is not None

    def at(self, pos: int) -> "Event":
        """The same event as stored at local position ``pos``."""
        return _new_tuple(Event, (*self[:10], pos))

    def without_body(self) -> "Event":
        """The same event without its decoded body, which its bytes keep: what is held
        until it is written costs its bytes, not many times them."""
        return _new_tuple(Event, (*self[:5], None, *self[6:]))

    def with_sig(self, sig: bytes | None) -> "Event":
        return self._replace(sig=sig)


def encode_data(
    device: bytes,
    seq: int,
    hlc: int,
    type_name: str,
    v: int,
    body: Any,
    prev: bytes,
    pack: Callable[[Any], bytes] = _pack,
) -> bytes:
    """The canonical bytes of an envelope, whose blake3 is the event id.

    ``body`` must already be canonical (:meth:`events.registry.Catalog.body` makes it so);
    re-sorting every body here would cost more than the rest of an append. A writer may pass
    the ``pack`` of its own reused ``msgpack.Packer``.
    """
    return pack([device, seq, hlc, type_name, v, body, prev])


def library_key(library: bytes) -> bytes:
    """The 32-byte key that binds event ids to ``library`` (a 16-byte library id)."""
    if type(library) is not bytes or len(library) != LIBRARY_ID_LEN:
        raise CodecError(f"a library id is {LIBRARY_ID_LEN} bytes")
    return blake3.blake3(library, derive_key_context=_ID_CONTEXT).digest()


def event_id(key: bytes, data: bytes) -> bytes:
    """The id of the event ``data`` in the library whose :func:`library_key` is ``key``."""
    return blake3.blake3(data, key=key).digest()


def decode(data: bytes, id: bytes, sig: bytes | None = None, pos: int | None = None) -> Event:
    """Rebuild an event from its bytes and its id (see :func:`event_id`).

    Structure is checked here, so a damaged or hostile blob becomes a ``CodecError`` and never
    an event with fields of the wrong type.
    """
    fields = unpack(data, refusal="event bytes are not msgpack")
    if type(fields) is not tuple or len(fields) != 7:
        raise CodecError("event bytes are not a 7-field envelope")
    device, seq, hlc, type_name, v, body, prev = fields
    if (
        type(device) is not bytes
        or len(device) != DEVICE_ID_LEN
        or type(seq) is not int
        or not 0 < seq < _INT64
        or type(hlc) is not int
        or not 0 <= hlc < _INT64
        or type(type_name) is not str
        or not 0 < len(type_name) <= MAX_TYPE_LEN
        or not type_name.isprintable()
        or type(v) is not int
        or not 0 < v <= MAX_VERSION
        or type(prev) is not bytes
        or len(prev) != ID_LEN
    ):
        raise CodecError("event envelope has a field of the wrong type")
    if sig is not None and len(sig) != SIGNATURE_LEN:
        raise CodecError("event signature has the wrong length")
    return Event(
        device,
        seq,
        hlc,
        type_name,
        v,
        body,
        prev,
        id,
        data,
        sig,
        pos,
    )
