"""Facts about the node itself, recorded so a log shows what went wrong and when."""

from dataclasses import dataclass

from events.domain.catalog import CATALOG


@CATALOG.event("node.actor_restarted")
@dataclass(frozen=True, slots=True)
class ActorRestarted:
    actor: str
    error: str
    restarts: int
