"""Where ``--at`` points: a position of the log, or the last event at or before a time.

Times compare to the wall-clock part of each event's hybrid logical clock
(``events.clock.hlc_ms``); a time without an offset is UTC. With events from several devices
the log's order need not be time order: "at TIME" is the last position whose event is not
later than TIME.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from events.clock import hlc_ms
from events.codec import unpack
from events.store import EventStore
from sdactors.runtime.errors import BeforeFirstEvent, InvalidArgument, PositionBeyondHead


@dataclass(frozen=True, slots=True)
class Moment:
    """A point of the log: its position and the time of the event there (None at 0)."""

    position: int
    ms: int | None

    def when(self) -> str:
        if self.ms is None:
            return "before the first event"
        return shown_ms(self.ms)


def shown_ms(ms: int) -> str:
    try:
        return f"{datetime.fromtimestamp(ms / 1000, timezone.utc):%Y-%m-%d %H:%M:%S} UTC"
    except (OverflowError, ValueError, OSError):
        return f"{ms} ms"  # a foreign clock beyond any date


def parse_time(text: str) -> int:
    """Milliseconds since the epoch of an ISO time (UTC unless it carries an offset)."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(
            f"--at {text!r} is neither a position nor a time like 2026-11-30T14:05:00"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp() * 1000)


def _event_ms(data: bytes) -> int:
    return hlc_ms(unpack(data)[2])


def moment_at(store: EventStore, text: str) -> Moment:
    """The position ``text`` names (a number, or a time), checked against the log's head."""
    if text.strip().isdigit():
        position = int(text)
        if position > store.head_pos:
            raise PositionBeyondHead(position, store.head_pos)
        return Moment(position, time_of(store, position))
    ms = parse_time(text)
    found: Moment | None = None
    first: int | None = None
    for batch in store.read_data(batch=20_000):
        for pos, data in batch:
            at = _event_ms(data)
            first = at if first is None else min(first, at)
            if at <= ms:
                found = Moment(pos, at)
    if found is None:
        raise BeforeFirstEvent(text, None if first is None else shown_ms(first))
    return found


def time_of(store: EventStore, position: int) -> int | None:
    """The wall-clock ms of the event at ``position`` (None for position 0)."""
    if position == 0:
        return None
    for batch in store.read_data(since=position - 1, until=position, batch=1):
        for _pos, data in batch:
            return _event_ms(data)
    return None
