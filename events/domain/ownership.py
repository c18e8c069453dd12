"""Which facts belong to which device, as the log shows it.

Device-owned facts (a location and its rules and entries, a job) change only through events of
the device that owns them: the device that created them. Folds enforce this by keying those
facts by device, so another device's event on them finds nothing and does nothing. This module
finds such events in a log, so ``sd log verify`` can name them: they are harmless to the read
models, but they say a paired device wrote what it should not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from events.envelope import Event

# type -> (kind of the owned thing, the body field naming it, whether the event creates it)
OWNED: dict[str, tuple[str, str, bool]] = {
    "location.added": ("location", "location", True),
    "location.rules_changed": ("location", "location", False),
    "location.removed": ("location", "location", False),
    "location.volume_seen": ("location", "location", False),
    "location.offline": ("location", "location", False),
    "location.online": ("location", "location", False),
    "entries.indexed": ("location", "location", False),
    "entries.modified": ("location", "location", False),
    "entries.moved": ("location", "location", False),
    "entries.deleted": ("location", "location", False),
    "job.queued": ("job", "job", True),
    "job.started": ("job", "job", True),
    "job.paused": ("job", "job", False),
    "job.resumed": ("job", "job", False),
    "job.cancelled": ("job", "job", False),
    "job.checkpoint": ("job", "job", False),
    "job.completed": ("job", "job", False),
    "job.failed": ("job", "job", False),
    "action.requested": ("action", "action", True),
    "action.completed": ("action", "action", False),
    "action.failed": ("action", "action", False),
}


@dataclass(frozen=True, slots=True)
class Violation:
    """An event of ``device`` on a ``kind`` that only ``owners`` created."""

    pos: int | None
    device: bytes
    seq: int
    type: str
    kind: str
    id: bytes
    owners: tuple[bytes, ...]

    def __str__(self) -> str:
        owners = ", ".join(o.hex()[:10] for o in self.owners)
        return (
            f"pos {self.pos} {self.device.hex()[:10]}#{self.seq}: {self.type} on {self.kind} "
            f"{self.id.hex()[:12]} of device {owners} (ignored by the index)"
        )


def ownership_violations(events: Iterable[Event]) -> list[Violation]:
    """Every event that touches a device-owned thing its device had not created before (in
    its own order), while another device created it; and every creation of a thing another
    device created first (by hlc), which a device writing random ids never does by chance.
    Decided on the whole log, so every device holding the same events reports the same."""
    # (kind, id) -> {device: (seq, hlc) of its first creation of it}
    created: dict[tuple[str, bytes], dict[bytes, tuple[int, int]]] = {}
    seen: list[tuple[Event, tuple[str, bytes], bool]] = []
    for ev in events:
        owned = OWNED.get(ev.type)
        if owned is None or type(ev.body) is not dict:
            continue
        kind, field, creates = owned
        thing = ev.body.get(field)
        if type(thing) is not bytes:
            continue
        if creates:
            first = created.setdefault((kind, thing), {})
            if ev.device not in first or ev.seq < first[ev.device][0]:
                first[ev.device] = (ev.seq, ev.hlc)
        seen.append((ev, (kind, thing), creates))
    found = []
    for ev, key, creates in seen:
        creators = created.get(key)
        if not creators or (len(creators) == 1 and ev.device in creators):
            continue
        if creates:
            owner = min(creators, key=lambda d: (creators[d][1], d))
            if ev.device == owner:
                continue
            owners: tuple[bytes, ...] = (owner,)
        else:
            mine = creators.get(ev.device)
            if mine is not None and mine[0] < ev.seq:
                continue
            owners = tuple(sorted(d for d in creators if d != ev.device))
        found.append(Violation(ev.pos, ev.device, ev.seq, ev.type, key[0], key[1], owners))
    return found
