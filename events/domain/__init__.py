"""The event types of sdactors, all registered in one catalog.

They live in ``events`` (not beside the actors that write them) because projections must read
them, and projections may import ``events`` only.
"""

from events.domain.catalog import CATALOG
from events.domain import device, library, node, tags, volumes  # noqa: F401 - registers the types

__all__ = ["CATALOG"]
