"""A node: a data directory, this device's key, and the actors that serve its libraries.

The CLI opens a node for the length of one command; ``sd node run`` keeps one open.
"""

from __future__ import annotations

import os
from typing import Any

import pykka

from events.keys import DeviceKey
from sdactors.actors.journal import DeviceInfo
from sdactors.actors.library_manager import (
    CloseAll,
    CreateLibrary,
    DiscardLibrary,
    LibraryManager,
    ListLibraries,
    OpenLibrary,
)
from sdactors.actors.volume_manager import VolumeManager
from sdactors.config import NodeConfig, load_node_config
from sdactors.identity import load_device_key
from sdactors.libraries import LibraryConfig
from sdactors.library import REPLY_TIMEOUT_S, Library
from sdactors.paths import DataDir
from sdactors.supervisor import Supervisor


class Node:
    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.data = DataDir(data_dir)
        self.config: NodeConfig = load_node_config(self.data)
        self.key: DeviceKey = load_device_key(self.data)
        device = DeviceInfo(self.config.device_name, self.config.hostname, self.config.os)
        self.supervisor = Supervisor("node")
        self.supervisor.start(
            "libraries", lambda hook: LibraryManager.start(self.data, self.key, device, hook)
        )
        self.supervisor.start("volumes", lambda hook: VolumeManager.start(on_crash=hook))

    @property
    def device(self) -> bytes:
        return self.key.public

    def _ask(self, message: object) -> Any:
        try:
            return self.supervisor.ref("libraries").ask(message, timeout=REPLY_TIMEOUT_S)
        except pykka.ActorDeadError:
            return self.supervisor.ref("libraries").ask(message, timeout=REPLY_TIMEOUT_S)

    def libraries(self) -> list[LibraryConfig]:
        return self._ask(ListLibraries())

    def create_library(
        self, name: str, library_id: str | None = None, empty: bool = False
    ) -> Library:
        return self._ask(CreateLibrary(name, library_id, empty))

    def open_library(self, wanted: str | None, lock_wait: float | None = None) -> Library:
        return self._ask(OpenLibrary(wanted, lock_wait))

    def discard_library(self, library_id: str) -> None:
        self._ask(DiscardLibrary(library_id))

    def close(self) -> None:
        try:
            self._ask(CloseAll())
        finally:
            self.supervisor.stop_all()

    def __enter__(self) -> "Node":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
