"""What ``/graphql`` needs of the node: the HTTP server's host (``sd node run``'s
``NodeProcess``) gives it."""

from __future__ import annotations

from typing import Any, Optional, Protocol

from sdactors.ops.base import Op


class GraphQLHost(Protocol):
    data: Any

    def execute(self, command: Op, progress: Any = None) -> Any:
        """Run an op as the control socket runs it (it blocks: in a worker thread)."""

    def find_id(self, wanted: Optional[str]) -> str:
        """A library's id, by id or name (None: the only one)."""
