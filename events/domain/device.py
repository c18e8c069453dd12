"""Device facts, written only by the device they describe."""

from dataclasses import dataclass

from events.domain.catalog import CATALOG


@CATALOG.event("device.registered")
@dataclass(frozen=True, slots=True)
class DeviceRegistered:
    """Seq 1 of every device in a library: who this key is, in words people recognise."""

    name: str
    hostname: str
    os: str
