"""The :class:`~sdactors.agent.protocol.AgentView` the manager hands a plugin: one library
of this device, read-only, limited to the agent's grant, with the node's clock."""

from __future__ import annotations

import sqlite3
import tomllib
from contextlib import AbstractContextManager
from typing import Any

from events.clock import wall_ms
from sdactors.agent.grants import Grants
from sdactors.library.reader import LibraryReader


def node_now() -> float:
    """The node's clock, seconds since the epoch: the wall clock as the log's clock reads it,
    so a test shifting it (``events.clock.TEST_OFFSET_ENV``) shifts what agents see too."""
    return wall_ms() / 1000


def agent_settings(lib: LibraryReader, agent: str) -> dict[str, Any]:
    """``[agents.NAME]`` of the library's library.toml (empty when absent or unreadable)."""
    try:
        content = tomllib.loads(lib.config.paths.config.read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}
    table = content.get("agents")
    found = table.get(agent) if isinstance(table, dict) else None
    return dict(found) if isinstance(found, dict) else {}


class LibraryView:
    def __init__(self, lib: LibraryReader, device: bytes, agent: str, grants: Grants) -> None:
        self._lib = lib
        self._agent = agent
        self._grants = grants
        self.device = device
        self.library = lib.config.id

    def index(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._lib.index()

    def granted(self, path: bytes) -> bool:
        return self._grants.path_ok(path)

    def granted_tags(self) -> frozenset[bytes]:
        return self._grants.tags

    def granted_folders(self) -> tuple[bytes, ...]:
        """The granted places as host folders of this device (where a sweep looks)."""
        return self._grants.folders

    def now(self) -> float:
        return node_now()

    def settings(self) -> dict[str, Any]:
        return agent_settings(self._lib, self._agent)
