"""How the log lays events out: *segments*, each one row holding a contiguous run of one
device's events, up to and including a seal.

Python's sqlite3 costs a few microseconds per row whatever the row holds, which alone would
cap appends below 200k events/s; a row per run costs that once per commit. Within a segment
every event keeps its own bytes and its own id (``ids`` is the ids joined, ``data`` a msgpack
array of the events' bytes), so verification still names the exact event that was changed.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import msgpack

from events.codec import unpack
from events.envelope import Event
from events.errors import CodecError

# Longest segment written. Reading one event costs decoding its segment's framing, so keep
# segments about the size of a commit.
SEGMENT_MAX = 1000
# The columns of a segment row, in the order the store reads and writes them.
COLUMNS = "pos, n, dev, seq, ids, data, sig"


def frame(events: Sequence[Event]) -> bytes:
    """A segment's ``data``: its events' bytes."""
    return msgpack.packb([ev[8] for ev in events], use_bin_type=True)


def unframe(blob: bytes) -> tuple[bytes, ...]:
    """The events' bytes of a segment's ``data``."""
    items = unpack(blob, refusal="segment framing is damaged")
    if type(items) is not tuple or any(type(x) is not bytes for x in items):
        raise CodecError("segment framing is damaged")
    return items


def runs(events: Sequence[Event]) -> Iterator[Sequence[Event]]:
    """Split events into segments: one device each, ending at a seal or at SEGMENT_MAX."""
    device = events[0].device if events else None
    sealed_at = [i for i, ev in enumerate(events) if ev[9] is not None or ev[0] != device]
    if sealed_at == [len(events) - 1]:
        # One device, sealed once at the end: what the Journal writes. Slice, do not loop.
        for start in range(0, len(events), SEGMENT_MAX):
            yield events[start : start + SEGMENT_MAX]
        return
    run: list[Event] = []
    for ev in events:
        if run and ev.device != run[-1].device:
            yield run
            run = []
        run.append(ev)
        if ev.sig is not None or len(run) >= SEGMENT_MAX:
            yield run
            run = []
    if run:
        yield run
