"""What every command shares: the data directory, the output mode, and opened libraries.

The CLI's own process is a host commands run on (``sdactors.ops.context.Host``) when no
node serves the data directory. Nothing heavy is imported or started until a command needs
it: a read of an index that is already current opens two SQLite files and starts no actor.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from sdactors.cli.output import Output
from sdactors.runtime.errors import LibraryLocked, LogDamaged, NodeNotRunning
from sdactors.runtime.paths import DataDir

if TYPE_CHECKING:
    from sdactors.library.config import LibraryConfig
    from sdactors.library.handle import Library
    from sdactors.library.reader import LibraryReader
    from sdactors.node.node import Node
    from sdactors.ops.base import Op
    from sdactors.ops.context import Network

T = TypeVar("T")


class _Progress:
    """A progress callback as the sink a command reports to."""

    def __init__(self, callback: Callable[[dict[str, Any]], None]) -> None:
        self.put = callback


class CliContext:
    def __init__(self, data_dir: Path, as_json: bool) -> None:
        self.data = DataDir(data_dir)
        self.out = Output(as_json)
        self._node: Node | None = None
        self._device: bytes | None = None

    @property
    def node(self) -> "Node":
        if self._node is None:
            from sdactors.node.node import Node

            self._node = Node(self.data.root)
        return self._node

    @property
    def device(self) -> bytes:
        """This device's id, without starting a node for it."""
        if self._device is None:
            if self._node is not None:
                self._device = self._node.device
            else:
                from sdactors.runtime.identity import load_device_key

                self._device = load_device_key(self.data).public
        return self._device

    def execute(
        self, command: "Op", progress: Callable[[dict[str, Any]], None] | None = None
    ) -> Any:
        """Run a command: through the node serving the data directory when there is one,
        else here (a command that changes a library through this process's own actors,
        audited the same way). Either way the same plain data comes back."""
        from sdactors.node.control.client import connect

        client = connect(self.data.root)
        if client is not None:
            try:
                return client.call(command.op_name, command.arguments(), progress)
            finally:
                client.close()
        if command.writes:
            return self.node.execute(command, _Progress(progress) if progress else None)
        from sdactors.ops.base import run_command
        from sdactors.ops.context import CallContext

        return run_command(command, CallContext(self, progress))

    def call(
        self,
        name: str,
        progress: Callable[[dict[str, Any]], None] | None = None,
        /,
        **args: Any,
    ) -> Any:
        """``execute`` for commands named rather than built: the client path (a read through
        the node) imports no command module, none of the index's code, only the socket's."""
        from sdactors.node.control.client import connect

        client = connect(self.data.root)
        if client is not None:
            try:
                return client.call(name, args, progress)
            finally:
                client.close()
        from sdactors.ops import registry  # noqa: F401 - every command registered
        from sdactors.ops.base import decode

        return self.execute(decode(name, args), progress)

    def node_serves(self) -> bool:
        """Whether a node answers on this data directory's control socket."""
        from sdactors.node.control.client import connect

        client = connect(self.data.root)
        if client is None:
            return False
        client.close()
        return True

    # -- the host's ports (no node serves here) ----------------------------------------------

    @property
    def serving(self) -> bool:
        return False

    @property
    def network(self) -> "Network | None":
        return None

    @property
    def network_error(self) -> str | None:
        return None

    def status(self) -> dict[str, Any]:
        raise NodeNotRunning(str(self.data.root))

    def libraries(self) -> "list[LibraryConfig]":
        # Through the node (its configuration read, so a broken node.toml is said here too).
        return self.node.libraries()

    def create_library(
        self, name: str, library_id: str | None = None, empty: bool = False
    ) -> "Library":
        return self.node.create_library(name, library_id, empty)

    def serve_new(self, config: "LibraryConfig") -> None:
        pass  # no node serves here

    def discard_library(self, library_id: str) -> None:
        self.node.discard_library(library_id)

    def closed_for(self, library_id: str, work: Callable[[], T]) -> T:
        return work()  # no node holds it open here

    def find(self, wanted: str | None) -> "LibraryConfig":
        from sdactors.library.config import find_library

        return find_library(self.data, wanted)

    def write_library(self, wanted: str | None) -> "Library":
        """Open a library for writing: this process takes its lock and runs its actors."""
        return self.node.open_library(self.find(wanted).id)

    def read_library(self, wanted: str | None) -> "Library | LibraryReader":
        """Open for reading: directly if the index is current, else as ``library_if_free``."""
        from sdactors.library.reader import LibraryReader, index_is_current

        config = self.find(wanted)
        if index_is_current(config):
            return LibraryReader(config, rebuild_through_node)
        return self.library_if_free(wanted)

    def library_if_free(self, wanted: str | None) -> "Library | LibraryReader":
        """Open with this process's actors (caught up) if no other process holds the library;
        read-only if one does (a running node keeps it current)."""
        from sdactors.library.reader import LibraryReader

        config = self.find(wanted)
        try:
            # No waiting: if another process holds it, reading its files as they are is fine.
            lib = self.node.open_library(config.id, lock_wait=0)
        except (LibraryLocked, LogDamaged):
            # Held elsewhere (whoever holds it keeps it current), or not to be written to
            # until restored: either way its files can be read as they are.
            return LibraryReader(config, rebuild_through_node)
        lib.catch_up()
        return lib

    def volumes(self, message: object) -> Any:
        return self.node.volumes(message)

    def close(self) -> None:
        if self._node is not None:
            self._node.close()
            self._node = None


def rebuild_through_node(config: "LibraryConfig", detail: str) -> None:
    """A read of index.db found it damaged while a node holds the library: the node is told
    to rebuild it, and the read ends with the rebuild's progress (no node: with the damage)."""
    from sdactors.node.control.client import connect
    from sdactors.runtime.errors import IndexRebuilding

    client = connect(config.paths.data_dir)
    if client is None:
        return
    try:
        state = client.call(
            "projections.rebuild",
            {"library": config.id, "wait": False, "damaged": detail[:1000]},
        )
    finally:
        client.close()
    raise IndexRebuilding(config.name, int(state.get("percent", 0)))
