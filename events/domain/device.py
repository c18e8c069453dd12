"""Device facts: those a device writes of itself (who it is, where it listens), and the
library's membership, written by its admins (pairings, roles, revocations).

Membership is folded by ``projections.membership``: in ``(hlc, device)`` order, each event
counting only if its writer was an admin at that point; see there for the rules.
"""

from dataclasses import dataclass
from typing import Annotated

from events.domain.catalog import CATALOG
from events.keys import DEVICE_ID_LEN
from events.shapes import Id, Int, ListOf, OneOf, Text


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


# A seq of the revoked device (0: none of its events is kept).
CUT = Int(0, (1 << 63) - 1)
ROLES = ("admin", "member")
# What an agent may see and touch, and whether it runs (``events.domain.agents``): written by
# admins, so counted by the same rules as the rest of the membership.
AGENT_MEMBERSHIP_TYPES = ("agent.granted", "agent.grant_revoked", "agent.enabled")
MEMBERSHIP_TYPES = (
    "library.created",
    "device.paired",
    "device.role",
    "device.revoked",
    *AGENT_MEMBERSHIP_TYPES,
)


@CATALOG.event("device.paired")
@dataclass(frozen=True, slots=True)
class DevicePaired:
    """``device`` is a member of the library, from now on: written by the admin that let it
    pair. The name it was paired under is last-writer-wins among admins' pairings."""

    device: Annotated[bytes, DEVICE_ID]
    name: Annotated[str, Text(0, 256)]


@CATALOG.event("device.role")
@dataclass(frozen=True, slots=True)
class DeviceRole:
    """An admin grants ``device`` the admin role or takes it back (``member``)."""

    device: Annotated[bytes, DEVICE_ID]
    role: Annotated[str, OneOf(ROLES)]


@CATALOG.event("device.revoked")
@dataclass(frozen=True, slots=True)
class DeviceRevoked:
    """An admin revokes ``device`` for good. ``upto`` is the last seq of ``device`` the admin
    held: every device keeps its events up to there and never folds nor forwards the rest,
    whatever order they arrive in (events it wrote before it learnt of its revocation)."""

    device: Annotated[bytes, DEVICE_ID]
    upto: Annotated[int, CUT]
