"""Who belongs to a library, and whose events are folded: the library's membership.

The rules (log format 3):

- The device that created the library (its id proves it: ``events.domain.library``) is its
  first admin. Only admins pair devices, grant or take the admin role, and revoke; anyone
  else's membership event is ignored, the same way on every device, and ``sd log verify``
  lists it.
- Membership events count in ``(hlc, device, seq)`` order: each counts only if its writer is
  an admin, not revoked, at that point. Of two revocations or demotions that conflict (two
  admins revoking each other), the earlier stands, and the device it revoked or demoted can
  no longer revoke or demote. The last admin can be neither revoked nor demoted.
- A revocation names the last seq of the revoked device its admin held (``upto``): that
  device's events up to there are kept and folded, the rest never are, whatever order they
  arrive in. Since such a later event can be a membership event that came earlier by hlc
  (the revoked device did not know yet), the cut can change what counted before it: the
  rules are applied again without the events past each cut until the cuts stop changing.
- A revoked device that was an admin before its revocation may hold what undoes it: its own
  revocation of its revoker, written earlier while they were apart. Such a revocation is
  *contestable* (``Membership.contestable``: the hlc of the revocation that stands) until
  some event of that device dated after it is held here (an honest device's hlcs grow with
  its seqs, so nothing it writes from then on comes before). Sync still takes what such a
  device sends, and sends it nothing (``sdactors.net.sync_service``): otherwise the order in
  which two conflicting revocations arrive would decide which stands.
- An agent's grants and whether it runs (``agent.granted``, ``agent.grant_revoked``,
  ``agent.enabled``) are membership facts too: each counts only if its writer is an admin,
  not revoked, at that point, in the same order; a grant adds places and tags, a revocation
  takes them away, the last ``agent.enabled`` that counts says whether it runs.
- Events of a device that is no member (never paired by an admin, not the creator) are not
  folded either: a paired device cannot bring in a key of its own making. Until the
  library's creation is held (a device joining, before the creator's events arrive; a log
  made by a test) there is nobody to say who is a member, and every event is folded.

Everything here is a function of the *set* of membership events (their order of arrival
plays no part), which is what lets every device fold the same membership and the same
digest. The raw events are kept in a local table (each device may hold a different set of
events past a cut, which by the rules changes nothing); the digest covers the outcome only.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any, Iterable, NamedTuple, Sequence

import msgpack

from events.domain.agents import AgentEnabled, AgentGranted, AgentGrantRevoked
from events.domain.device import (
    AGENT_MEMBERSHIP_TYPES,
    MEMBERSHIP_TYPES,
    DevicePaired,
    DeviceRevoked,
    DeviceRole,
)
from events.domain.library import LibraryCreated
from projections.base import Folded

# No cut: every event of the device is folded.
NO_CUT = (1 << 63) - 1
# Why a membership event does not count, when it is a device claiming a right it lacks (the
# other reasons come of honest devices acting at the same time).
NOT_ADMIN = "its device is not an admin"


class Act(NamedTuple):
    """One membership event, as the rules need it. ``value``: the name of a pairing, the role
    of a role change, the cut of a revocation; for an agent's grant or its revocation, the
    places and tags packed (``_grant_value``), for ``agent.enabled`` 1 or 0. ``target``:
    the device it is about, or an agent's name (UTF-8)."""

    hlc: int
    device: bytes
    seq: int
    type: str
    target: bytes | None
    value: Any


def act_of(ev: Any, typed: Any) -> Act | None:
    """The :class:`Act` of a folded membership event, None for any other event."""
    kind = type(typed)
    if kind is DevicePaired:
        return Act(ev.hlc, ev.device, ev.seq, "device.paired", typed.device, typed.name)
    if kind is DeviceRole:
        return Act(ev.hlc, ev.device, ev.seq, "device.role", typed.device, typed.role)
    if kind is DeviceRevoked:
        return Act(ev.hlc, ev.device, ev.seq, "device.revoked", typed.device, typed.upto)
    if kind is LibraryCreated:
        return Act(ev.hlc, ev.device, ev.seq, "library.created", None, None)
    if kind is AgentGranted or kind is AgentGrantRevoked:
        value = _grant_value(typed.places, typed.tags)
        return Act(ev.hlc, ev.device, ev.seq, typed.type_name, typed.agent.encode(), value)
    if kind is AgentEnabled:
        return Act(ev.hlc, ev.device, ev.seq, "agent.enabled", typed.agent.encode(), int(typed.on))
    return None


def _grant_value(places: Any, tags: Any) -> bytes:
    """A grant's places and tags as one hashable, storable value."""
    return msgpack.packb(
        [sorted([loc, path] for loc, path in places), sorted(tags)], use_bin_type=True
    )


def act_of_body(ev: Any) -> Act | None:
    """The :class:`Act` of a stored event as read from the log (its body a plain map, not
    yet checked): for reading a whole log without folding it (``sd log verify``)."""
    body = ev.body if type(ev.body) is dict else {}
    if ev.type == "library.created":
        return Act(ev.hlc, ev.device, ev.seq, ev.type, None, None)
    field_of = {"device.paired": "name", "device.role": "role", "device.revoked": "upto"}
    if ev.type in AGENT_MEMBERSHIP_TYPES:
        agent = body.get("agent")
        if type(agent) is not str:
            return None
        if ev.type == "agent.enabled":
            return Act(
                ev.hlc, ev.device, ev.seq, ev.type, agent.encode(), int(bool(body.get("on")))
            )
        try:
            value = _grant_value(body.get("places") or (), body.get("tags") or ())
        except (TypeError, ValueError):
            return None
        return Act(ev.hlc, ev.device, ev.seq, ev.type, agent.encode(), value)
    value_field = field_of.get(ev.type)
    target = body.get("device")
    if value_field is None or type(target) is not bytes:
        return None
    return Act(ev.hlc, ev.device, ev.seq, ev.type, target, body.get(value_field))


@dataclass
class Membership:
    """The outcome of the rules over a set of membership events."""

    creator: bytes | None = None
    admins: set[bytes] = field(default_factory=set)
    # Members, revoked or not, with the name an admin paired them under (None: none given).
    names: dict[bytes, str | None] = field(default_factory=dict)
    # Revoked devices and the last seq of each that is folded.
    cuts: dict[bytes, int] = field(default_factory=dict)
    # Revoked devices that had been admins, each with the hlc of the revocation that stands:
    # a membership event of theirs dated before it (which they may hold alone) could undo it.
    contestable: dict[bytes, int] = field(default_factory=dict)
    # Events that did not count, and why: ``sd log verify`` lists them.
    ignored: list[tuple[Act, str]] = field(default_factory=list)
    # Per agent: the places ``(location, relative folder)`` and tags granted to it.
    places: dict[str, set[tuple[bytes, str]]] = field(default_factory=dict)
    tags: dict[str, set[bytes]] = field(default_factory=dict)
    # Per agent an admin enabled or disabled: whether it runs.
    enabled: dict[str, bool] = field(default_factory=dict)

    def role(self, device: bytes) -> str | None:
        """``admin``, ``member``, ``revoked``, or None for a device that is no member."""
        if device in self.cuts:
            return "revoked"
        if device in self.admins:
            return "admin"
        return "member" if device in self.names else None

    def allowed(self) -> dict[bytes, int] | None:
        """Per device, the last seq whose events are folded (and forwarded); a device not in
        it has none. None: every event (the library's creation is not known yet)."""
        if self.creator is None:
            return None
        out = {device: NO_CUT for device in self.names}
        out.update(self.cuts)
        return out


def membership(acts: Iterable[Act]) -> Membership:
    """Apply the rules (see the module's text) to a set of membership events."""
    ordered = sorted(set(acts), key=lambda a: (a.hlc, a.device, a.seq))
    creators = [a.device for a in ordered if a.type == "library.created"]
    creator = creators[0] if creators else None
    exclude: dict[bytes, int] = {}
    seen: list[dict[bytes, int]] = []
    while True:
        state = _apply(ordered, creator, exclude)
        if state.cuts == exclude or state.cuts in seen:
            # Settled; or (only a hostile admin's cut of the very events that made it an
            # admin does this) going round in circles: stop at a point every device reaches.
            return state
        seen.append(state.cuts)
        exclude = state.cuts


def _apply(ordered: Sequence[Act], creator: bytes | None, exclude: dict[bytes, int]) -> Membership:
    """One pass of the rules in order, leaving out the events past the cuts ``exclude``."""
    state = Membership(creator=creator)
    if creator is None:
        state.ignored = [(a, "the library's creation is not known yet") for a in ordered]
        return state
    state.admins.add(creator)
    state.names[creator] = None
    # Every device that has been an admin so far in the pass.
    were_admins = {creator}
    name_stamp: dict[bytes, tuple[int, bytes]] = {}
    for act in ordered:
        if act.type == "library.created":
            continue
        reason = _refusal(state, act, exclude)
        if reason is not None:
            state.ignored.append((act, reason))
            continue
        target = act.target
        assert target is not None
        if act.type in AGENT_MEMBERSHIP_TYPES:
            _agent_act(state, act)
        elif act.type == "device.paired":
            stamp = (act.hlc, act.device)
            if target not in state.names or stamp > name_stamp.get(target, (-1, b"")):
                state.names[target] = act.value
                name_stamp[target] = stamp
        elif act.type == "device.role":
            if act.value == "admin":
                state.admins.add(target)
                were_admins.add(target)
            else:
                state.admins.discard(target)
        else:
            state.cuts[target] = act.value
            if target in were_admins:
                state.contestable[target] = act.hlc
            state.admins.discard(target)
            state.names.setdefault(target, None)
    return state


def _agent_act(state: Membership, act: Act) -> None:
    """Apply an admin's grant, revocation of a grant, or enabling of an agent."""
    agent = act.target.decode() if act.target is not None else ""
    if act.type == "agent.enabled":
        state.enabled[agent] = bool(act.value)
        return
    places_raw, tags_raw = msgpack.unpackb(act.value)
    places = {(loc, path) for loc, path in places_raw}
    tags = set(tags_raw)
    held_places = state.places.setdefault(agent, set())
    held_tags = state.tags.setdefault(agent, set())
    if act.type == "agent.granted":
        held_places |= places
        held_tags |= tags
    else:
        held_places -= places
        held_tags -= tags


def _refusal(state: Membership, act: Act, exclude: dict[bytes, int]) -> str | None:
    """Why ``act`` does not count at this point of the pass, or None if it does."""
    if act.seq > exclude.get(act.device, NO_CUT):
        return "written after its device's revocation was cut"
    if act.device in state.cuts:
        return "its device was revoked before it"
    if act.device not in state.admins:
        return NOT_ADMIN
    if act.type in AGENT_MEMBERSHIP_TYPES:
        return None
    target = act.target
    if target in state.cuts:
        return "that device is revoked"
    if act.type == "device.role":
        if target not in state.names:
            return "that device is not a member"
        if act.value == "member" and state.admins == {target}:
            return "that device is the last admin"
    elif act.type == "device.revoked":
        if target == act.device:
            return "a device cannot revoke itself"
        if state.admins == {target}:
            return "that device is the last admin"
    return None


class MembershipProjection:
    """Membership as a read model. The runner folds it first in every batch and asks it which
    events the other read models may fold (:meth:`fold` answers the new :meth:`allowed`)."""

    name = "membership"
    version = 3
    types = MEMBERSHIP_TYPES
    gate = True

    def create(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE membership_log (device BLOB NOT NULL, seq INTEGER NOT NULL, "
            "hlc INTEGER NOT NULL, type TEXT NOT NULL, target BLOB, value, "
            "PRIMARY KEY (device, seq))"
        )
        db.execute(
            "CREATE TABLE members (device BLOB PRIMARY KEY, name TEXT, role TEXT NOT NULL, "
            "creator INTEGER NOT NULL, cut INTEGER, contest_before INTEGER)"
        )
        # The agents' grants and switches as the rules leave them (``agent_grants.tag`` set:
        # a tag; else a place, ``path`` relative to the location, "" for all of it).
        db.execute(
            "CREATE TABLE agent_grants (agent TEXT NOT NULL, location BLOB, path TEXT, tag BLOB)"
        )
        db.execute("CREATE INDEX agent_grants_by_agent ON agent_grants (agent)")
        db.execute("CREATE TABLE agent_enabled (agent TEXT PRIMARY KEY, on_ INTEGER NOT NULL)")

    def fold(self, db: sqlite3.Connection, events: Folded) -> None:
        acts = [act for ev, typed in events if (act := act_of(ev, typed)) is not None]
        db.executemany(
            "INSERT OR IGNORE INTO membership_log (hlc, device, seq, type, target, value) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            acts,
        )
        state = membership(self.acts(db))
        db.execute("DELETE FROM members")
        db.executemany(
            "INSERT INTO members (device, name, role, creator, cut, contest_before) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    device,
                    name,
                    state.role(device),
                    device == state.creator,
                    state.cuts.get(device),
                    state.contestable.get(device),
                )
                for device, name in state.names.items()
            ],
        )
        db.execute("DELETE FROM agent_grants")
        db.executemany(
            "INSERT INTO agent_grants (agent, location, path, tag) VALUES (?, ?, ?, NULL)",
            [(a, loc, path) for a, held in state.places.items() for loc, path in held],
        )
        db.executemany(
            "INSERT INTO agent_grants (agent, location, path, tag) VALUES (?, NULL, NULL, ?)",
            [(a, tag) for a, held in state.tags.items() for tag in held],
        )
        db.execute("DELETE FROM agent_enabled")
        db.executemany(
            "INSERT INTO agent_enabled (agent, on_) VALUES (?, ?)", state.enabled.items()
        )

    @staticmethod
    def acts(db: sqlite3.Connection) -> list[Act]:
        return [
            Act(*row)
            for row in db.execute(
                "SELECT hlc, device, seq, type, target, value FROM membership_log"
            )
        ]

    @staticmethod
    def allowed(db: sqlite3.Connection) -> dict[bytes, int] | None:
        """What :meth:`Membership.allowed` said when this index was last folded."""
        rows = db.execute("SELECT device, cut, creator FROM members").fetchall()
        if not any(creator for _d, _c, creator in rows):
            return None
        return {device: NO_CUT if cut is None else cut for device, cut, _creator in rows}

    def digest_rows(self, db: sqlite3.Connection) -> Iterable[Sequence[Any]]:
        yield from db.execute(
            "SELECT device, name, role, creator, cut FROM members ORDER BY device"
        )
        yield from db.execute(
            "SELECT agent, location, path, tag FROM agent_grants "
            "ORDER BY agent, location, path, tag"
        )
        yield from db.execute("SELECT agent, on_ FROM agent_enabled ORDER BY agent")


class Grant(NamedTuple):
    """What an agent may see and touch: places ``(location, relative folder)`` and tags."""

    places: frozenset[tuple[bytes, str]]
    tags: frozenset[bytes]


def agent_grant(db: sqlite3.Connection, agent: str) -> Grant:
    """The current grant of ``agent`` (empty: it may see nothing)."""
    places, tags = set(), set()
    for location, path, tag in db.execute(
        "SELECT location, path, tag FROM agent_grants WHERE agent = ?", (agent,)
    ):
        if tag is not None:
            tags.add(tag)
        else:
            places.add((location, path))
    return Grant(frozenset(places), frozenset(tags))


def agents_enabled(db: sqlite3.Connection) -> dict[str, bool]:
    """Per agent an admin enabled or disabled, whether it runs (others do not)."""
    return {agent: bool(on) for agent, on in db.execute("SELECT agent, on_ FROM agent_enabled")}
