"""Asking a built-in agent for its proposals against a real library (one ``sd location add``
made), through a view of our own: the AgentManager's is the node's, and these tests look at
the plugin's judgement alone. Also what the volumes read model says of a volume's speed and
free space, recorded as the device's own volume events."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from events.domain import CATALOG
from events.domain.agents import AgentProposed
from events.domain.volumes import VolumeObserved, VolumeSpeedMeasured
from projections.files.query import locations
from sdactors.agent.protocol import Agent, Proposal
from sdactors.library.handle import Library
from sdactors.node.node import Node
from tests.conftest import Sd


@dataclass
class View:
    """An ``AgentView`` on a library opened in this process: granted ``places`` (host paths;
    None: everything), a clock the test sets, the agent's settings."""

    lib: Library
    places: Sequence[bytes] | None = None
    clock: float = 0.0
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> bytes:
        return self.lib.device

    @property
    def library(self) -> str:
        return self.lib.config.id

    def index(self) -> Any:
        return self.lib.index()

    def granted(self, path: bytes) -> bool:
        if self.places is None:
            return True
        return any(path == p or path.startswith(p.rstrip(b"/") + b"/") for p in self.places)

    def granted_folders(self) -> tuple[bytes, ...]:
        if self.places is not None:
            return tuple(self.places)
        with self.lib.index() as db:
            return tuple(loc.path for loc in locations(db) if loc.device == self.device)

    def granted_tags(self) -> frozenset[bytes]:
        return frozenset()

    def now(self) -> float:
        return self.clock

    def settings(self) -> dict[str, Any]:
        return self.config


@contextmanager
def agent_view(sd: Sd, **kwargs: Any) -> Iterator[View]:
    """A view on ``sd``'s default library (no node may be running on it)."""
    with Node(sd.data_dir) as node:
        lib = node.write_library(None)
        lib.catch_up()
        yield View(lib, **kwargs)


def proposals(sd: Sd, agent: Agent, **kwargs: Any) -> list[Proposal]:
    """What ``agent`` proposes now (a sweep: no events), each proposal checked against the
    contract: a title and reasons the events accept, commands of the agentable kinds."""
    with agent_view(sd, **kwargs) as view:
        found = list(agent.propose(view, []))
    for p in found:
        assert p.agent == agent.name
        # The event the manager would write: the log must accept its body.
        typed = AgentProposed(
            p.id, p.agent, p.title, tuple((i.reason, i.op, i.args) for i in p.items)
        )
        problem = CATALOG.check(*CATALOG.body(typed))
        assert problem is None, f"{p.title}: {problem}"
        assert all(i.op in ("file.move", "file.remove", "tag.add", "tag.remove") for i in p.items)
        assert all(i.args.get("permanent") is False for i in p.items if i.op == "file.remove")
    return found


def removed(found: Sequence[Proposal]) -> list[set[str]]:
    """Each proposal's trashed paths (as text)."""
    return [{os.fsdecode(i.args["path"]) for i in p.items} for p in found]


def record_volume(
    sd: Sd,
    path: os.PathLike[str] | str,
    speed_mbps: float | None = None,
    free: int | None = None,
    total: int | None = None,
) -> str:
    """Record the volume of the location at ``path`` as its device would: its picture (with
    ``free``/``total`` bytes in place of what the disk says) and a speed test that measured
    ``speed_mbps`` both ways. Tests need volumes of known speeds and sizes: tmpfs mounts
    measure alike and hold a few megabytes. Returns the volume's id."""
    wanted = os.fsencode(os.path.realpath(path))
    with Node(sd.data_dir) as node:
        lib = node.write_library(None)
        lib.catch_up()
        with lib.index() as db:
            [loc] = [loc for loc in locations(db) if loc.path == wanted]
        assert loc.volume is not None, loc
        if free is not None or total is not None:
            total = total if total is not None else 10**12
            lib.append_typed(
                VolumeObserved(
                    loc.volume,
                    "test",
                    loc.mount_point or "/",
                    "test",
                    "tmpfs",
                    "secondary",
                    total,
                    free if free is not None else total,
                    False,
                )
            )
        if speed_mbps is not None:
            us = 1_000_000
            n = int(speed_mbps * us)
            lib.append_typed(VolumeSpeedMeasured(loc.volume, n, us, n, us))
        lib.catch_up()
        return loc.volume
