"""A device's chain, and what breaks it.

Each event of a device follows the one before it: the next seq, and ``prev`` the id of the
event before (``ZERO_ID`` for the first). A seal (a signature of an event's id) covers that
event and, through the links, every event before it. This module says what breaks that, in
the words people see: the store refuses a foreign event on ingest for it, refuses an append
out of its writer's chain for it, and finds a stored event by it when it verifies the log.
"""

from __future__ import annotations

from events.envelope import Event
from events.keys import verify_signature

# An event of another library gets another id here (ids are keyed by the library): its
# signature and the next event's link fail exactly as a forgery's would.
_ELSEWHERE = "(changed, forged, or an event of another library)"
# Why an event whose seal does not sign it is refused.
BAD_SEAL = f"bad signature {_ELSEWHERE}"


def link_problem(ev: Event, seq: int, prev: bytes) -> str | None:
    """Why ``ev`` cannot follow its device's event ``seq``, whose id is ``prev`` (0 and
    ``ZERO_ID`` when none is held); None when it can."""
    if ev.seq != seq + 1:
        return f"gap: expected seq {seq + 1}, got {ev.seq}"
    if ev.prev != prev:
        return f"wrong prev: it does not link to seq {seq} {_ELSEWHERE}"
    return None


def seal_problem(ev: Event) -> str | None:
    """Why ``ev``'s seal does not sign it; None when it does, or when it has none."""
    if ev.sig is not None and not verify_signature(ev.device, ev.id, ev.sig):
        return BAD_SEAL
    return None


def unsealed(after: int = 0) -> str:
    """What is wrong with an event no seal covers, ``after`` more following it unsealed."""
    more = f" or the {after} events after it" if after else ""
    return f"no signature covers it{more}"
