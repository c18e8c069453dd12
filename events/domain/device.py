"""Device facts, written only by the device they describe."""

from dataclasses import dataclass
from typing import Annotated

from events.domain.catalog import CATALOG
from events.shapes import Text


@CATALOG.event("device.registered")
@dataclass(frozen=True, slots=True)
class DeviceRegistered:
    """Seq 1 of every device in a library: who this key is, in words people recognise."""

    name: Annotated[str, Text(0, 256)]
    hostname: Annotated[str, Text(0, 256)]
    os: Annotated[str, Text(0, 256)]
