"""Devices of the library: who each key is. Written only by the device itself."""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable, Sequence

from events.domain.device import DeviceRegistered
from projections.base import Folded


class DevicesProjection:
    name = "devices"
    version = 1
    types = ("device.",)

    def create(self, db: sqlite3.Connection) -> None:
        db.execute(
            "CREATE TABLE devices (device BLOB PRIMARY KEY, name TEXT, hostname TEXT, os TEXT, "
            "registered INTEGER)"
        )

    def fold(self, db: sqlite3.Connection, events: Folded) -> None:
        for ev, typed in events:
            if isinstance(typed, DeviceRegistered):
                # A device's own events are in its own order: the newest registration wins.
                db.execute(
                    "INSERT INTO devices (device, name, hostname, os, registered) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (device) DO UPDATE SET "
                    "name = excluded.name, hostname = excluded.hostname, os = excluded.os, "
                    "registered = excluded.registered WHERE excluded.registered > registered",
                    (ev.device, typed.name, typed.hostname, typed.os, ev.hlc),
                )

    def digest_rows(self, db: sqlite3.Connection) -> Iterable[Sequence[Any]]:
        return db.execute("SELECT device, name, hostname, os FROM devices ORDER BY device")
