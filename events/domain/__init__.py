"""The event types of sdactors, all registered in one catalog.

They live in ``events`` (not beside the actors that write them) because projections must read
them, and projections may import ``events`` only.
"""

from events.domain import (  # noqa: F401 - importing registers the types
    actions,
    agents,
    annotations,
    device,
    entries,
    jobs,
    library,
    locations,
    media,
    tags,
    volumes,
)
from events.domain.catalog import CATALOG

__all__ = ["CATALOG"]
