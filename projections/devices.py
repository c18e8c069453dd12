"""Devices of the library: who each key is and where it listens.

``devices`` and ``reachable`` are written only by the device they describe (in its own
order: the newest wins). Who may sync (pairings, roles, revocations) is the membership read
model (``projections.membership``); :func:`peers` joins the two.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable, NamedTuple, Sequence

import msgpack

from events.domain.device import DeviceReachable, DeviceRegistered
from projections.base import Folded


class DevicesProjection:
    name = "devices"
    version = 3
    types = ("device.registered", "device.reachable")

    def create(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE devices (device BLOB PRIMARY KEY, name TEXT, hostname TEXT, os TEXT, "
            "registered INTEGER)"
        )
        db.execute("CREATE TABLE reachable (device BLOB PRIMARY KEY, addresses BLOB, hlc INTEGER)")

    def fold(self, db: sqlite3.Connection, events: Folded) -> None:
        for ev, typed in events:
            kind = type(typed)
            if kind is DeviceRegistered:
                # A device's own events are in its own order: the newest registration wins.
                db.execute(
                    "INSERT INTO devices (device, name, hostname, os, registered) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (device) DO UPDATE SET "
                    "name = excluded.name, hostname = excluded.hostname, os = excluded.os, "
                    "registered = excluded.registered WHERE excluded.registered > registered",
                    (ev.device, typed.name, typed.hostname, typed.os, ev.hlc),
                )
            elif kind is DeviceReachable:
                db.execute(
                    "INSERT INTO reachable (device, addresses, hlc) VALUES (?, ?, ?) "
                    "ON CONFLICT (device) DO UPDATE SET addresses = excluded.addresses, "
                    "hlc = excluded.hlc WHERE excluded.hlc > hlc",
                    (ev.device, msgpack.packb(list(typed.addresses)), ev.hlc),
                )

    def digest_rows(self, db: sqlite3.Connection) -> Iterable[Sequence[Any]]:
        yield from db.execute("SELECT device, name, hostname, os FROM devices ORDER BY device")
        yield from db.execute("SELECT device, addresses FROM reachable ORDER BY device")


def device_names(db: sqlite3.Connection) -> dict[bytes, str]:
    """Each registered device's name, as people see it in tables."""
    return dict(db.execute("SELECT device, name FROM devices").fetchall())


class Peer(NamedTuple):
    """A device of the library as sync sees it."""

    device: bytes
    name: str | None
    # ``admin``, ``member``, ``revoked``; None: not a member (registered, never paired).
    role: str | None
    creator: bool
    # Revoked: the last seq of its events that is kept.
    cut: int | None
    addresses: tuple[str, ...]
    # Revoked once an admin: the hlc before which an event of its own could undo that
    # (``projections.membership.Membership.contestable``).
    contest_before: int | None = None

    @property
    def paired(self) -> bool:
        """A member now or once: paired by an admin (or the creator)."""
        return self.role is not None

    @property
    def revoked(self) -> bool:
        return self.role == "revoked"

    @property
    def member(self) -> bool:
        """May sync the library now."""
        return self.role in ("admin", "member")


def peers(db: sqlite3.Connection) -> list[Peer]:
    """Every device the library knows of (registered or named by membership), by id."""
    rows = db.execute(
        "SELECT d.device, coalesce(r.name, m.name), m.role, coalesce(m.creator, 0), m.cut, "
        "a.addresses, m.contest_before FROM "
        "(SELECT device FROM devices UNION SELECT device FROM members) d "
        "LEFT JOIN devices r ON r.device = d.device "
        "LEFT JOIN members m ON m.device = d.device "
        "LEFT JOIN reachable a ON a.device = d.device ORDER BY d.device"
    )
    return [
        Peer(
            dev,
            name,
            role,
            bool(creator),
            cut,
            tuple(msgpack.unpackb(addrs) if addrs else ()),
            contest,
        )
        for dev, name, role, creator, cut, addrs, contest in rows
    ]
