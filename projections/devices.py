"""Devices of the library: who each key is, where it listens, and which may sync.

``devices`` and ``reachable`` are written only by the device they describe (in its own
order: the newest wins). ``pairings`` are shared facts: a device is paired once any device
recorded it, revoked once any device revoked it (a set union, the same in every order), and
the name it was paired under is last-writer-wins on ``(hlc, device)``.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable, NamedTuple, Sequence

import msgpack

from events.domain.device import DevicePaired, DeviceReachable, DeviceRegistered, DeviceRevoked
from projections.base import Folded


class DevicesProjection:
    name = "devices"
    version = 2
    types = ("device.",)

    def create(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE devices (device BLOB PRIMARY KEY, name TEXT, hostname TEXT, os TEXT, "
            "registered INTEGER)"
        )
        db.execute(
            "CREATE TABLE pairings (device BLOB PRIMARY KEY, name TEXT, name_hlc INTEGER, "
            "name_dev BLOB, paired INTEGER NOT NULL, revoked INTEGER NOT NULL)"
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
            elif kind is DevicePaired:
                db.execute(
                    "INSERT INTO pairings (device, name, name_hlc, name_dev, paired, revoked) "
                    "VALUES (?, ?, ?, ?, 1, 0) ON CONFLICT (device) DO UPDATE SET paired = 1, "
                    "name = CASE WHEN (excluded.name_hlc, excluded.name_dev) > (name_hlc, name_dev) "
                    "THEN excluded.name ELSE name END, "
                    "name_dev = CASE WHEN (excluded.name_hlc, excluded.name_dev) > "
                    "(name_hlc, name_dev) THEN excluded.name_dev ELSE name_dev END, "
                    "name_hlc = max(name_hlc, excluded.name_hlc)",
                    (typed.device, typed.name, ev.hlc, ev.device),
                )
            elif kind is DeviceRevoked:
                db.execute(
                    "INSERT INTO pairings (device, name, name_hlc, name_dev, paired, revoked) "
                    "VALUES (?, NULL, -1, x'', 0, 1) ON CONFLICT (device) DO UPDATE SET revoked = 1",
                    (typed.device,),
                )

    def digest_rows(self, db: sqlite3.Connection) -> Iterable[Sequence[Any]]:
        yield from db.execute("SELECT device, name, hostname, os FROM devices ORDER BY device")
        yield from db.execute("SELECT device, name, paired, revoked FROM pairings ORDER BY device")
        yield from db.execute("SELECT device, addresses FROM reachable ORDER BY device")


def device_names(db: sqlite3.Connection) -> dict[bytes, str]:
    """Each registered device's name, as people see it in tables."""
    return dict(db.execute("SELECT device, name FROM devices").fetchall())


class Peer(NamedTuple):
    """A device of the library as sync sees it."""

    device: bytes
    name: str | None
    paired: bool
    revoked: bool
    addresses: tuple[str, ...]


def peers(db: sqlite3.Connection) -> list[Peer]:
    """Every device the library knows of (registered, paired or revoked), by id."""
    rows = db.execute(
        "SELECT d.device, coalesce(r.name, p.name), coalesce(p.paired, 0), "
        "coalesce(p.revoked, 0), a.addresses FROM "
        "(SELECT device FROM devices UNION SELECT device FROM pairings) d "
        "LEFT JOIN devices r ON r.device = d.device "
        "LEFT JOIN pairings p ON p.device = d.device "
        "LEFT JOIN reachable a ON a.device = d.device ORDER BY d.device"
    )
    return [
        Peer(dev, name, bool(paired), bool(revoked), tuple(msgpack.unpackb(addrs) if addrs else ()))
        for dev, name, paired, revoked, addrs in rows
    ]
