"""What a command sees of where it runs: its ports, never the object that hosts it.

A command runs in a node (``sd node run``, or the node the CLI opens for one command that
writes) or in the CLI's own process (a read). Either host gives the same :class:`Host`: the
libraries, creating one, whether this is a serving node, its network, its status. A command
sees its host through an :class:`OpContext`: the host's ports, and where the command's
progress goes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol, TypeVar

if TYPE_CHECKING:
    from sdactors.library.config import LibraryConfig
    from sdactors.library.handle import Library
    from sdactors.library.reader import LibraryReader
    from sdactors.runtime.paths import DataDir


class ProgressSink(Protocol):
    def put(self, info: dict[str, Any]) -> None: ...


T = TypeVar("T")
# Where a command's progress goes, in the thread that runs it.
Report = Callable[[dict[str, Any]], None]


class Network(Protocol):
    """A serving node's network endpoint (pairing, devices, sync, Spacedrop), as commands
    use it: asked a message of the network's, it answers (or raises why not)."""

    def ask(
        self, message: Any, timeout: float | None = ..., report: Report | None = ...
    ) -> Any: ...

    def tell(self, message: Any) -> None: ...


class Host(Protocol):
    """Where commands run: a node, or the CLI's own process."""

    data: DataDir

    @property
    def device(self) -> bytes:
        """This device's id."""

    @property
    def serving(self) -> bool:
        """Whether this is ``sd node run``'s node (long-lived: jobs run in the background)."""

    @property
    def network(self) -> Network | None:
        """The serving node's network; None without one, or when it did not start
        (``network_error`` says why)."""

    @property
    def network_error(self) -> str | None: ...

    def status(self) -> dict[str, Any]:
        """What the serving node is doing (``sd node status``); NodeNotRunning without one."""

    def libraries(self) -> list[LibraryConfig]: ...

    def find(self, wanted: str | None) -> LibraryConfig: ...

    def create_library(
        self, name: str, library_id: str | None = None, empty: bool = False
    ) -> Library:
        """A new library, open here (``library_id`` and ``empty`` for a restore, which
        fills its log). Served by a serving node only once ``serve_new`` says so."""

    def serve_new(self, config: LibraryConfig) -> None:
        """A serving node serves the library created here; nothing otherwise."""

    def discard_library(self, library_id: str) -> None:
        """Close a library created here and delete it (a restore that failed)."""

    def closed_for(self, library_id: str, work: Callable[[], T]) -> T:
        """Run ``work`` with the library closed in a serving node, which serves it again
        after, its index rebuilt; elsewhere just run it."""

    def volumes(self, message: object) -> Any:
        """Ask this host's VolumeManager (``sdactors.volumes.manager``)."""

    def read_library(self, wanted: str | None) -> Library | LibraryReader:
        """A library to read, current with its log."""

    def write_library(self, wanted: str | None) -> Library:
        """A library open for writing (its lock held here)."""


class OpContext(Host, Protocol):
    """What a command sees: its host's ports, the audited action it runs as, and where its
    progress goes."""

    action: bytes | None

    def progress(self, info: dict[str, Any]) -> None:
        """Tell a waiting client how far a long command has come."""


class CallContext:
    """One command's :class:`OpContext`: a host's ports, and where its progress goes (None:
    nobody waits on it)."""

    def __init__(self, host: Host, progress: Report | None = None) -> None:
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
    def serving(self) -> bool:
        return self._host.serving

    @property
    def network(self) -> Network | None:
        return self._host.network

    @property
    def network_error(self) -> str | None:
        return self._host.network_error

    def status(self) -> dict[str, Any]:
        return self._host.status()

    def libraries(self) -> list[LibraryConfig]:
        return self._host.libraries()

    def find(self, wanted: str | None) -> LibraryConfig:
        return self._host.find(wanted)

    def create_library(
        self, name: str, library_id: str | None = None, empty: bool = False
    ) -> Library:
        return self._host.create_library(name, library_id, empty)

    def serve_new(self, config: LibraryConfig) -> None:
        self._host.serve_new(config)

    def discard_library(self, library_id: str) -> None:
        self._host.discard_library(library_id)

    def closed_for(self, library_id: str, work: Callable[[], T]) -> T:
        return self._host.closed_for(library_id, work)

    def read_library(self, wanted: str | None) -> Library | LibraryReader:
        return self._host.read_library(wanted)

    def write_library(self, wanted: str | None) -> Library:
        return self._host.write_library(wanted)

    def volumes(self, message: object) -> Any:
        """Ask this host's VolumeManager (``sdactors.volumes.manager``)."""
        return self._host.volumes(message)

    def progress(self, info: dict[str, Any]) -> None:
        if self._progress is not None:
            self._progress(info)
