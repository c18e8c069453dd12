"""Verifying a stored log: every event's bytes against its id, and its device's chain.

What the log holds was checked when it came in; verification finds what changed since (a
damaged disk, an edited file). Each event is checked by the same chain rule an ingest applies
(``events.chain``), and named by its position and its ``(device, seq)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from events.chain import link_problem, seal_problem, unsealed
from events.envelope import ID_LEN, ZERO_ID, decode, event_id
from events.errors import CodecError
from events.keys import short_device
from events.segments import unframe

# A segment row as the store reads it: pos, n, dev, seq, ids, data, sig.
Segment = tuple[int, int, int, int, bytes, bytes, "bytes | None"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken event (or a damaged file) found by verification."""

    pos: int | None
    device: bytes | None
    seq: int | None
    reason: str

    def __str__(self) -> str:
        where = f"pos {self.pos}" if self.pos is not None else "store"
        who = f" {short_device(self.device)}#{self.seq}" if self.device is not None else ""
        return f"{where}{who}: {self.reason}"


def device_problems(
    library_key: bytes, device: bytes, segments: Iterable[Segment]
) -> Iterator[Problem]:
    """What is wrong with ``device``'s events, given its segments in seq order."""
    seq, prev = 0, ZERO_ID  # the last event checked
    unsealed_at: list[tuple[int, int]] = []
    for pos, n, _dev, first, ids, blob, sig in segments:
        try:
            items = unframe(blob)
        except CodecError as exc:
            yield from (Problem(pos + i, device, first + i, str(exc)) for i in range(n))
            seq, prev = first + n - 1, ids[-ID_LEN:]
            continue
        if len(items) != n or len(ids) != n * ID_LEN:
            yield Problem(pos, device, first, "segment length does not match")
        for i, data in enumerate(items):
            eid = ids[i * ID_LEN : (i + 1) * ID_LEN]
            seal = sig if i == n - 1 else None
            for reason in _event_problems(
                library_key, device, first + i, seq, prev, eid, data, seal
            ):
                yield Problem(pos + i, device, first + i, reason)
            if seal is None:
                unsealed_at.append((pos + i, first + i))
            else:
                unsealed_at.clear()
            seq, prev = first + i, eid
    for pos, at in unsealed_at:
        yield Problem(pos, device, at, unsealed())


def _event_problems(
    library_key: bytes,
    device: bytes,
    row_seq: int,
    seq: int,
    prev: bytes,
    eid: bytes,
    data: bytes,
    sig: bytes | None,
) -> list[str]:
    """What is wrong with the event stored as ``(device, row_seq)`` with id ``eid``, after
    the event ``seq`` whose id is ``prev``."""
    found: list[str] = []
    if event_id(library_key, data) != eid:
        found.append("its bytes do not hash to its id (the event was changed)")
    try:
        ev = decode(data, eid)
    except CodecError as exc:
        return [*found, str(exc)]
    if ev.device != device or ev.seq != row_seq:
        found.append("its envelope names another device or seq than its row")
    for problem in (link_problem(ev, seq, prev), seal_problem(ev.with_sig(sig))):
        if problem is not None:
            found.append(problem)
    return found
