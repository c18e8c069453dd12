"""One command's context: where it runs (a node, or the CLI's own process) and who waits.

The host (``sdactors.node.node.Node``, or the CLI's context) gives the libraries; the progress
sink, when a client waits on a long command, gets its progress.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sdactors.library.config import LibraryConfig
    from sdactors.library.handle import Library
    from sdactors.library.reader import LibraryReader
    from sdactors.node.node import Node
    from sdactors.runtime.paths import DataDir


class ProgressSink(Protocol):
    def put(self, info: dict[str, Any]) -> None: ...


class Host(Protocol):
    data: DataDir

    @property
    def device(self) -> bytes: ...

    @property
    def node(self) -> Node: ...

    def find(self, wanted: str | None) -> LibraryConfig: ...

    def read_library(self, wanted: str | None) -> Library | LibraryReader: ...

    def write_library(self, wanted: str | None) -> Library: ...

    def volumes(self, message: object) -> Any: ...


class CallContext:
    """A host's libraries, and where one command's progress goes."""

    def __init__(self, host: Host, progress: ProgressSink | None = None) -> None:
        self._host = host
        self._progress = progress
        self.data = host.data
        # The audited action this command runs as (set by the ActionManager): a job it
        # starts carries it, so a run of that job after a crash can end the action.
        self.action: bytes | None = None

    @property
    def device(self) -> bytes:
        return self._host.device

    @property
    def node(self) -> Node:
        return self._host.node

    def find(self, wanted: str | None) -> LibraryConfig:
        return self._host.find(wanted)

    def read_library(self, wanted: str | None) -> Library | LibraryReader:
        return self._host.read_library(wanted)

    def write_library(self, wanted: str | None) -> Library:
        return self._host.write_library(wanted)

    def volumes(self, message: object) -> Any:
        """Ask this host's VolumeManager (``sdactors.volumes.manager``)."""
        return self._host.volumes(message)

    def progress(self, info: dict[str, Any]) -> None:
        if self._progress is not None:
            self._progress.put(info)
