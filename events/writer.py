"""Builds this device's next events: sequence, chain link, clock, id, and the seal."""

from __future__ import annotations

from typing import Any, Sequence

import msgpack

from events.clock import HybridClock
from events.envelope import ZERO_ID, Event, encode_data, event_id
from events.keys import DeviceKey

Draft = tuple[str, int, Any]  # (type, v, body)


class LogWriter:
    """Not thread-safe: the Journal owns the only one for a library.

    ``build`` advances the chain in memory; if the commit that should store the events fails,
    ``rewind`` puts the chain back so the next attempt reuses the same sequence numbers.
    """

    def __init__(
        self,
        key: DeviceKey,
        clock: HybridClock,
        library_key: bytes,
        seq: int = 0,
        prev: bytes = ZERO_ID,
    ):
        """``library_key`` is :func:`events.envelope.library_key` of the library written to."""
        self.key = key
        self.clock = clock
        self.library_key = library_key
        self.seq = seq
        self.prev = prev
        self._packer = msgpack.Packer(use_bin_type=True)

    @property
    def device(self) -> bytes:
        return self.key.public

    def build(self, drafts: Sequence[Draft], first_pos: int | None = None) -> list[Event]:
        """Envelope ``drafts`` as the next events; the last carries the seal. ``first_pos``:
        where the first will be stored (the rest follow it), for a writer that knows."""
        device, seq, prev, lib = self.key.public, self.seq, self.prev, self.library_key
        pack = self._packer.pack
        new = tuple.__new__  # Event's own __new__ is a Python function: too slow here
        hlc = self.clock.reserve(len(drafts)) - 1
        out: list[Event] = []
        append = out.append
        pos = None if first_pos is None else first_pos - 1
        for type_name, v, body in drafts:
            seq += 1
            hlc += 1
            if pos is not None:
                pos += 1
            data = encode_data(device, seq, hlc, type_name, v, body, prev, pack)
            eid = event_id(lib, data)
            append(new(Event, (device, seq, hlc, type_name, v, body, prev, eid, data, None, pos)))
            prev = eid
        if out:
            out[-1] = out[-1].with_sig(self.key.sign(prev))
        self.seq, self.prev = seq, prev
        return out

    def rewind(self, seq: int, prev: bytes) -> None:
        self.seq, self.prev = seq, prev
