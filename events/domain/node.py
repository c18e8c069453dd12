"""Facts about the node itself, recorded so a log shows what went wrong and when."""

from dataclasses import dataclass
from typing import Annotated

from events.domain.catalog import CATALOG
from events.shapes import Int, Text


@CATALOG.event("node.actor_restarted")
@dataclass(frozen=True, slots=True)
class ActorRestarted:
    actor: Annotated[str, Text(1, 64)]
    error: Annotated[str, Text(0, 1000)]
    restarts: Annotated[int, Int(0, 1 << 31)]
