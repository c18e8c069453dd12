"""Device facts, written only by the device they describe."""

from dataclasses import dataclass
from typing import Annotated

from events.domain.catalog import CATALOG
from events.keys import DEVICE_ID_LEN
from events.shapes import Id, ListOf, Text


@CATALOG.event("device.registered")
@dataclass(frozen=True, slots=True)
class DeviceRegistered:
    """Seq 1 of every device in a library: who this key is, in words people recognise."""

    name: Annotated[str, Text(0, 256)]
    hostname: Annotated[str, Text(0, 256)]
    os: Annotated[str, Text(0, 256)]


# An ip:port pair as iroh prints it ("192.168.1.4:4919", "[fe80::1]:4919").
ADDRESS = Text(3, 64, pattern=r"\[?[0-9A-Za-z.:%]+\]?:[0-9]{1,5}")
DEVICE_ID = Id(DEVICE_ID_LEN)


@CATALOG.event("device.reachable")
@dataclass(frozen=True, slots=True)
class DeviceReachable:
    """Where this device's node listens: written by the device itself when it changes, so
    every paired device can dial every other, not only the one that invited it."""

    addresses: Annotated[tuple, ListOf(ADDRESS, 0, 32)]


@CATALOG.event("device.paired")
@dataclass(frozen=True, slots=True)
class DevicePaired:
    """A shared fact, written by either side of a pairing: ``device`` may sync this library.

    The set of pairings is a union (a pairing recorded twice is one), so every order of
    these events folds to the same set."""

    device: Annotated[bytes, DEVICE_ID]
    name: Annotated[str, Text(0, 256)]


@CATALOG.event("device.revoked")
@dataclass(frozen=True, slots=True)
class DeviceRevoked:
    """A shared fact: ``device`` may no longer sync this library, whatever else was recorded
    before or after (a revocation is never undone by a later pairing: the same set on every
    device, in any order). Its past events stay."""

    device: Annotated[bytes, DEVICE_ID]
