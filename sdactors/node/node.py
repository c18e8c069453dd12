"""A node: a data directory, this device's key, and the actors that serve its libraries.

The CLI opens a node for the length of one command; ``sd node run`` keeps one open. Either
way commands run on it the same way (:meth:`Node.execute`): those that change a library
through the ActionManager, which audits them; reads directly.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any, Callable, Protocol, TypeVar

import pykka

from events.keys import DeviceKey
from sdactors.agent.manager import AgentManager, Attach, Detach, Followed
from sdactors.library.config import LibraryConfig, find_library
from sdactors.library.handle import REPLY_TIMEOUT_S, Library
from sdactors.library.journal import DeviceInfo
from sdactors.node.library_manager import (
    CloseAll,
    CloseLibrary,
    CreateLibrary,
    DiscardLibrary,
    LibraryManager,
    ListLibraries,
    OpenLibraries,
    OpenLibrary,
)
from sdactors.ops.action_manager import ActionManager, RunAction
from sdactors.ops.agents import AgentPorts
from sdactors.ops.base import Op, checked_result, run_command
from sdactors.ops.context import CallContext, ProgressSink
from sdactors.runtime.config import NodeConfig, load_node_config
from sdactors.runtime.errors import NodeNotRunning
from sdactors.runtime.identity import load_device_key
from sdactors.runtime.paths import DataDir
from sdactors.runtime.progress import ProgressChannels
from sdactors.runtime.supervisor import Supervisor
from sdactors.volumes.manager import VolumeManager

if TYPE_CHECKING:
    from sdactors.ops.context import Network


class NodeService(Protocol):
    """What ``sd node run`` adds to the node it holds: the network, its status, and serving
    the libraries created meanwhile."""

    net: Network | None
    net_error: str | None

    def status(self) -> dict[str, Any]: ...

    def serve_created(self, library_id: str, name: str) -> None: ...

    def closed_for(self, library_id: str, work: Callable[[], T]) -> T: ...


T = TypeVar("T")


class Node:
    """The host commands run on (``sdactors.ops.context.Host``), in ``sd node run`` or in
    one command's process."""

    def __init__(self, data_dir: str | os.PathLike[str], serving: bool = False) -> None:
        """``serving``: the node of ``sd node run`` (its jobs outlive a stop, to resume)."""
        self.data = DataDir(data_dir)
        self.config: NodeConfig = load_node_config(self.data)
        self.key: DeviceKey = load_device_key(self.data)
        device = DeviceInfo(self.config.device_name, self.config.hostname, self.config.os)
        # What ``sd node run`` adds, once it holds this node (it sets itself).
        self.service: NodeService | None = None
        # The libraries open here: the LibraryManager opens them, commands use them.
        self._open = OpenLibraries()
        self.supervisor = Supervisor("node")
        self.supervisor.start(
            "libraries",
            lambda hook: LibraryManager.start(
                self.data, self.key, device, self._open, hook, serving
            ),
        )
        self.supervisor.start("volumes", lambda hook: VolumeManager.start(on_crash=hook))
        # Where the actions' progress goes to those waiting on them (channels by id).
        self.progress = ProgressChannels()
        # The ActionManager gets this node's ports (a context of no command), not the node.
        ports = CallContext(self)
        self.supervisor.start(
            "actions", lambda hook: ActionManager.start(ports, self.progress, hook)
        )
        # The libraries whose agents run here: a serving node's (one command's node runs
        # none; ``sd agent run`` sweeps in the command itself).
        self._agents = Followed()
        if serving:
            agent_ports = AgentPorts(ports)
            self.supervisor.start(
                "agents", lambda hook: AgentManager.start(agent_ports, self._agents, hook)
            )

    @property
    def device(self) -> bytes:
        return self.key.public

    @property
    def serving(self) -> bool:
        """Whether this is ``sd node run``'s node (long-lived), not one command's."""
        return self.service is not None

    @property
    def network(self) -> Network | None:
        return self.service.net if self.service is not None else None

    @property
    def network_error(self) -> str | None:
        return self.service.net_error if self.service is not None else None

    def status(self) -> dict[str, Any]:
        if self.service is None:
            raise NodeNotRunning(str(self.data.root))
        return self.service.status()

    # -- commands ---------------------------------------------------------------------------

    def execute(self, command: Op, progress: ProgressSink | None = None) -> Any:
        """Run a command here: through the ActionManager if it changes a library."""
        report = progress.put if progress is not None else None
        if not command.writes:
            return run_command(command, CallContext(self, report))
        actions = self.supervisor.live_ref("actions")
        message = RunAction(command.op_name, command.arguments())
        if report is None:
            return checked_result(command, actions.ask(message, timeout=None))
        with self.progress.open() as channel:
            reply = actions.ask(dataclasses.replace(message, progress=channel.id), block=False)
            return checked_result(command, channel.follow(reply, report, None))

    # -- agents -----------------------------------------------------------------------------

    def follow_agents(self, library_id: str) -> None:
        """Run the agents of a library this node now serves."""
        self._agents.libraries.add(library_id)
        self.supervisor.live_ref("agents").tell(Attach(library_id))

    def unfollow_agents(self, library_id: str) -> None:
        """Stop its agents (waiting for a run in progress) before the library closes."""
        if library_id in self._agents.libraries:
            self._agents.libraries.discard(library_id)
            self.supervisor.live_ref("agents").ask(Detach(library_id), timeout=REPLY_TIMEOUT_S)

    def find(self, wanted: str | None) -> LibraryConfig:
        return find_library(self.data, wanted)

    def read_library(self, wanted: str | None) -> Library:
        lib = self.open_library(self.find(wanted).id)
        lib.catch_up()
        return lib

    def write_library(self, wanted: str | None) -> Library:
        return self.open_library(self.find(wanted).id)

    def volumes(self, message: object) -> Any:
        return self.supervisor.live_ref("volumes").ask(message, timeout=REPLY_TIMEOUT_S)

    def _ask(self, message: object) -> Any:
        try:
            return self.supervisor.live_ref("libraries").ask(message, timeout=REPLY_TIMEOUT_S)
        except pykka.ActorDeadError:
            return self.supervisor.live_ref("libraries").ask(message, timeout=REPLY_TIMEOUT_S)

    def libraries(self) -> list[LibraryConfig]:
        return self._ask(ListLibraries())

    def create_library(
        self, name: str, library_id: str | None = None, empty: bool = False
    ) -> Library:
        return self._open.get(self._ask(CreateLibrary(name, library_id, empty)))

    def serve_new(self, config: LibraryConfig) -> None:
        if self.service is not None:
            self.service.serve_created(config.id, config.name)

    def open_library(
        self, wanted: str | None, lock_wait: float | None = None, rebuild: str | None = None
    ) -> Library:
        """``rebuild``: if this opens it, its index is folded anew from the log (why)."""
        return self._open.get(self._ask(OpenLibrary(wanted, lock_wait, rebuild)))

    def close_library(self, library_id: str) -> None:
        """Close it here (its actors stop, its lock is let go), if it is open."""
        self._ask(CloseLibrary(library_id))

    def closed_for(self, library_id: str, work: Callable[[], T]) -> T:
        """Run ``work`` with the library not open in this node, and serve it again after,
        its index rebuilt (``sd node run``'s node); else just run it."""
        if self.service is None:
            return work()
        return self.service.closed_for(library_id, work)

    def discard_library(self, library_id: str) -> None:
        self._ask(DiscardLibrary(library_id))

    def close(self) -> None:
        try:
            for library_id in list(self._agents.libraries):
                self.unfollow_agents(library_id)
            self._ask(CloseAll())
        finally:
            self.supervisor.stop_all()

    def __enter__(self) -> "Node":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
