"""What an agent is, and what it sees: the contract between the AgentManager and its plugins.

An agent is a plugin that reads the library's read models and returns proposals: the exact
commands it would run, each with one line saying why. It never runs them and never writes
anything; the AgentManager writes its proposals (``agent.proposed``), and a person decides.

An agent is asked to propose when events of the types it ``follows`` were committed since
its position (``events``: those events, oldest first), and on demand with no events (a sweep
of everything in its grant). It may return a proposal it returned before: a proposal's id
is a hash of its agent and its commands, so the same conclusion is written once, and one a
person rejected stays rejected.

It sees the library only through an :class:`AgentView`, limited to its grant: the places
(locations, folders in them) and tags an admin granted it. The manager drops any item that
names a path outside the grant before it writes a proposal, and the ActionManager refuses
such an item again when a proposal is accepted, so a plugin's mistake cannot reach outside.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, ClassVar, ContextManager, Iterable, Protocol, Sequence

from events.domain.agents import proposal_id
from events.envelope import Event


@dataclass(frozen=True, slots=True)
class Item:
    """One command a proposal would run: why (one line), the command's registered name, and
    its arguments as a client sends them (host paths as bytes)."""

    reason: str
    op: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Proposal:
    agent: str
    # One line for the list of proposals ("3 zero-byte files in Downloads").
    title: str
    items: tuple[Item, ...]

    @property
    def id(self) -> bytes:
        return proposal_id(self.agent, [(i.op, i.args) for i in self.items])


class AgentView(Protocol):
    """An agent's window on one library of this device (a port: the manager stands behind
    it). Everything it answers is as of the index caught up with the events handed over."""

    # This device (an agent proposes only about this device's files) and the library's id.
    device: bytes
    library: str

    def index(self) -> ContextManager[sqlite3.Connection]:
        """A read-only connection to the library's index (``projections``' read models)."""

    def granted(self, path: bytes) -> bool:
        """Whether the host path ``path`` lies inside the agent's granted places."""

    def granted_folders(self) -> tuple[bytes, ...]:
        """The granted places as host folders of this device: where a sweep looks."""

    def granted_tags(self) -> frozenset[bytes]:
        """The ids of the tags the agent may read and propose to add or remove."""

    def now(self) -> float:
        """The node's clock (seconds since the epoch): tests set it; an agent reads no other."""

    def settings(self) -> dict[str, Any]:
        """The agent's own settings (``[agents.NAME]`` of the library's config), if any."""


class Agent(Protocol):
    """A plugin of the AgentManager (``sdactors.agent.builtin`` lists the built-in ones)."""

    # Its name, as people type it (``sd agent enable duplicates``): ``events.domain.agents.AGENT``.
    name: ClassVar[str]
    # One line for ``sd agent list``.
    summary: ClassVar[str]
    # Event type prefixes that make it look again (``("entries.", "media.")``).
    follows: ClassVar[tuple[str, ...]]
    # The read models it reads (projection names), for ``sd agent list`` and the tests.
    reads: ClassVar[tuple[str, ...]]

    def propose(self, view: AgentView, events: Sequence[Event]) -> Iterable[Proposal]:
        """The proposals this agent makes now. ``events``: the followed events committed
        since it was last asked (empty: look at everything in the grant)."""
