"""The single catalog every domain module registers into."""

from events.registry import Catalog

CATALOG = Catalog()
